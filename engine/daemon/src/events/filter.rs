//! `GET /events?filters=…`: which events a subscriber wants, matched as Docker matches them.
//! Different keys must all match; the values of one key are alternatives.

use std::collections::HashMap;

use super::Event;
use crate::filters::Filters;

/// The keys Docker accepts for events; any other is refused.
const ACCEPTED: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// Keys that name the object an event is about, matched against its ID or `name`
/// attribute, exactly or as a prefix. Each applies to every event: `container=x` keeps only
/// events whose actor is x, whatever their type.
const NAME_KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "network",
    "node",
    "plugin",
    "secret",
    "service",
    "volume",
];

/// Events whose filter matches by prefix (`exec_start: sh -c …` matches `exec_start`).
const PREFIX_ACTIONS: &[&str] = &["exec_create", "exec_start", "health_status"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("invalid filter '{0}'")]
    UnknownKey(String),
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    values: HashMap<String, Vec<String>>,
}

impl EventFilter {
    pub fn parse(filters: &Filters) -> Result<EventFilter, FilterError> {
        let mut values = HashMap::new();
        for key in filters.keys() {
            if !ACCEPTED.contains(&key) {
                return Err(FilterError::UnknownKey(key.to_string()));
            }
            values.insert(key.to_string(), filters.get(key).to_vec());
        }
        Ok(EventFilter { values })
    }

    fn get(&self, key: &str) -> &[String] {
        self.values.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// True when the key is unset or one of its values equals `value`.
    fn exact(&self, key: &str, value: &str) -> bool {
        let wanted = self.get(key);
        wanted.is_empty() || wanted.iter().any(|w| w == value)
    }

    fn prefix(&self, key: &str, value: &str) -> bool {
        let wanted = self.get(key);
        wanted.is_empty() || wanted.iter().any(|w| value.starts_with(w.as_str()))
    }

    pub fn matches(&self, event: &Event) -> bool {
        let name = event.attributes.get("name").map_or("", String::as_str);
        let action_matches = if self
            .get("event")
            .iter()
            .any(|e| PREFIX_ACTIONS.contains(&e.as_str()))
        {
            self.prefix("event", &event.action)
        } else {
            self.exact("event", &event.action)
        };
        action_matches
            && self.exact("type", event.object.as_str())
            && self.exact("scope", "local")
            && NAME_KEYS
                .iter()
                .all(|key| self.prefix(key, &event.id) || self.prefix(key, name))
            && self.image_matches(event)
            && self.labels_match(event)
    }

    fn image_matches(&self, event: &Event) -> bool {
        let name_attribute = match event.object {
            super::ObjectType::Image => "name",
            super::ObjectType::Container
            | super::ObjectType::Network
            | super::ObjectType::Volume => "image",
        };
        let image = event
            .attributes
            .get(name_attribute)
            .map_or("", String::as_str);
        [event.id.as_str(), image].into_iter().any(|candidate| {
            self.exact("image", candidate) || self.exact("image", strip_tag(candidate))
        })
    }

    /// Every `label=key` or `label=key=value` must hold.
    fn labels_match(&self, event: &Event) -> bool {
        self.get("label")
            .iter()
            .all(|wanted| match wanted.split_once('=') {
                Some((key, value)) => event.attributes.get(key).is_some_and(|v| v == value),
                None => event.attributes.contains_key(wanted.as_str()),
            })
    }
}

/// `busybox:latest` → `busybox`; a registry port (`host:5000/x`) is not a tag.
fn strip_tag(reference: &str) -> &str {
    match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => &reference[..i],
        _ => reference,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ObjectType;

    fn filter(json: &str) -> EventFilter {
        EventFilter::parse(&Filters::parse(json).unwrap()).unwrap()
    }

    fn die() -> Event {
        Event::new(ObjectType::Container, "die", "0123abcd")
            .with("name", "web")
            .with("image", "busybox:latest")
            .with("exitCode", "0")
            .with("tier", "front")
    }

    #[test]
    fn keys_are_anded_and_values_ored() {
        assert!(filter("").matches(&die()));
        assert!(filter(r#"{"event":["start","die"]}"#).matches(&die()));
        assert!(!filter(r#"{"event":["start"]}"#).matches(&die()));
        assert!(filter(r#"{"type":["container"],"event":["die"]}"#).matches(&die()));
        assert!(!filter(r#"{"type":["image"],"event":["die"]}"#).matches(&die()));
    }

    #[test]
    fn containers_match_by_name_or_id_prefix() {
        assert!(filter(r#"{"container":["web"]}"#).matches(&die()));
        assert!(filter(r#"{"container":["0123"]}"#).matches(&die()));
        assert!(!filter(r#"{"container":["db"]}"#).matches(&die()));
        assert!(!filter(r#"{"volume":["v"]}"#).matches(&die()));
    }

    #[test]
    fn images_labels_and_scope() {
        assert!(filter(r#"{"image":["busybox"]}"#).matches(&die()));
        assert!(filter(r#"{"image":["busybox:latest"]}"#).matches(&die()));
        assert!(!filter(r#"{"image":["alpine"]}"#).matches(&die()));
        assert!(filter(r#"{"label":["tier"]}"#).matches(&die()));
        assert!(filter(r#"{"label":["tier=front"]}"#).matches(&die()));
        assert!(!filter(r#"{"label":["tier=back"]}"#).matches(&die()));
        assert!(filter(r#"{"scope":["local"]}"#).matches(&die()));
        assert!(!filter(r#"{"scope":["swarm"]}"#).matches(&die()));
        assert_eq!(strip_tag("host:5000/x"), "host:5000/x");
    }

    #[test]
    fn exec_events_match_by_prefix() {
        let exec = Event::new(ObjectType::Container, "exec_start: sh -c true", "0123");
        assert!(filter(r#"{"event":["exec_start"]}"#).matches(&exec));
        assert!(!filter(r#"{"event":["exec_create"]}"#).matches(&exec));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = EventFilter::parse(&Filters::parse(r#"{"colour":["red"]}"#).unwrap());
        assert_eq!(
            err.unwrap_err().to_string(),
            "invalid filter 'colour'".to_string()
        );
    }
}
