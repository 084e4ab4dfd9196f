//! The daemon's event stream (`GET /events`): one bus actor that stamps each event, keeps
//! the most recent ones for `since`, and hands them to every subscriber whose filter
//! matches. Container actors publish to it; nothing waits on it.

pub mod filter;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use actix::prelude::*;
use serde::Serialize;
use tokio::sync::mpsc;

pub use filter::EventFilter;

/// How many past events are kept for `since` (Docker keeps 256).
const HISTORY: usize = 1024;

/// How far a subscriber may fall behind. One that does is dropped, which ends its stream,
/// rather than letting it grow the daemon's memory or silently lose events.
const SUBSCRIBER_BACKLOG: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectType {
    Container,
    Image,
    Network,
    Volume,
}

impl ObjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Container => "container",
            ObjectType::Image => "image",
            ObjectType::Network => "network",
            ObjectType::Volume => "volume",
        }
    }
}

/// One event, in Docker's shape once serialized.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub object: ObjectType,
    pub action: String,
    pub id: String,
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the epoch; set by the bus when the event is published.
    pub time_nano: i64,
}

impl Event {
    pub fn new(object: ObjectType, action: &str, id: &str) -> Event {
        Event {
            object,
            action: action.to_string(),
            id: id.to_string(),
            attributes: BTreeMap::new(),
            time_nano: 0,
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Event {
        self.attributes.insert(key.to_string(), value.into());
        self
    }
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Actor<'a> {
            #[serde(rename = "ID")]
            id: &'a str,
            #[serde(rename = "Attributes")]
            attributes: &'a BTreeMap<String, String>,
        }
        /// Docker still fills the pre-1.22 fields `status`, `id` and `from` for containers
        /// and images; older clients (and docker-py) read them.
        #[derive(Serialize)]
        struct Message<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            status: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            from: Option<&'a str>,
            #[serde(rename = "Type")]
            object: &'a str,
            #[serde(rename = "Action")]
            action: &'a str,
            #[serde(rename = "Actor")]
            actor: Actor<'a>,
            scope: &'a str,
            time: i64,
            #[serde(rename = "timeNano")]
            time_nano: i64,
        }
        let from = match self.object {
            ObjectType::Container => self.attributes.get("image").map(String::as_str),
            ObjectType::Image | ObjectType::Network | ObjectType::Volume => None,
        };
        Message {
            status: Some(&self.action),
            id: Some(&self.id),
            from,
            object: self.object.as_str(),
            action: &self.action,
            actor: Actor {
                id: &self.id,
                attributes: &self.attributes,
            },
            scope: "local",
            time: self.time_nano.div_euclid(1_000_000_000),
            time_nano: self.time_nano,
        }
        .serialize(serializer)
    }
}

struct Subscriber {
    filter: EventFilter,
    until: Option<i64>,
    tx: mpsc::Sender<Arc<Event>>,
}

#[derive(Default)]
pub struct EventBus {
    history: VecDeque<Arc<Event>>,
    subscribers: Vec<Subscriber>,
}

impl Actor for EventBus {
    type Context = Context<Self>;
}

/// Publishes an event; the bus stamps its time, so the history stays in order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Event);

impl Handler<Publish> for EventBus {
    type Result = ();

    fn handle(&mut self, Publish(mut event): Publish, _: &mut Context<Self>) {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        // Never earlier than the previous event, so `since` cuts cleanly.
        let last = self.history.back().map_or(0, |e| e.time_nano);
        event.time_nano = now.max(last);
        let event = Arc::new(event);
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(event.clone());
        self.subscribers.retain(|subscriber| {
            if subscriber.until.is_some_and(|until| event.time_nano > until) {
                return false;
            }
            if !subscriber.filter.matches(&event) {
                return !subscriber.tx.is_closed();
            }
            match subscriber.tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Closed(_)) => false,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(
                        "an events subscriber fell {SUBSCRIBER_BACKLOG} events behind; ending its stream"
                    );
                    false
                }
            }
        });
    }
}

/// Subscribes to events. The past events between `since` and `until` (as Docker does, only
/// when one of them is given) come back at once, the later ones through the receiver, with
/// nothing lost or repeated between the two.
#[derive(Message)]
#[rtype(result = "Subscription")]
pub struct Subscribe {
    pub filter: EventFilter,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

pub struct Subscription {
    pub past: Vec<Arc<Event>>,
    /// `None` when `until` has already passed: there is nothing live to wait for.
    pub live: Option<mpsc::Receiver<Arc<Event>>>,
}

impl Handler<Subscribe> for EventBus {
    type Result = MessageResult<Subscribe>;

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) -> Self::Result {
        let past = if msg.since.is_some() || msg.until.is_some() {
            let since = msg.since.unwrap_or(i64::MIN);
            let until = msg.until.unwrap_or(i64::MAX);
            self.history
                .iter()
                .filter(|e| e.time_nano >= since && e.time_nano <= until)
                .filter(|e| msg.filter.matches(e))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        let live = if msg.until.is_some_and(|until| until < now) {
            None
        } else {
            let (tx, rx) = mpsc::channel(SUBSCRIBER_BACKLOG);
            self.subscribers.push(Subscriber {
                filter: msg.filter,
                until: msg.until,
                tx,
            });
            Some(rx)
        };
        MessageResult(Subscription { past, live })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_events_serialize_in_dockers_shape() {
        let mut event = Event::new(ObjectType::Container, "die", "abc")
            .with("name", "web")
            .with("image", "busybox")
            .with("exitCode", "3");
        event.time_nano = 1_700_000_000_123_456_789;
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"status":"die","id":"abc","from":"busybox","Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"3","image":"busybox","name":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}"#
        );
    }

    fn all() -> EventFilter {
        EventFilter::parse(&Default::default()).unwrap()
    }

    #[actix_rt::test]
    async fn history_and_live_events_neither_overlap_nor_miss() {
        let bus = EventBus::default().start();
        bus.send(Publish(Event::new(ObjectType::Container, "create", "a")))
            .await
            .unwrap();
        let sub = bus
            .send(Subscribe {
                filter: all(),
                since: Some(0),
                until: None,
            })
            .await
            .unwrap();
        bus.send(Publish(Event::new(ObjectType::Container, "start", "a")))
            .await
            .unwrap();
        assert_eq!(sub.past.len(), 1);
        assert_eq!(sub.past[0].action, "create");
        let mut live = sub.live.unwrap();
        assert_eq!(live.recv().await.unwrap().action, "start");
        assert!(live.try_recv().is_err());
    }

    #[actix_rt::test]
    async fn without_since_no_history_and_a_past_until_has_no_live_part() {
        let bus = EventBus::default().start();
        bus.send(Publish(Event::new(ObjectType::Container, "create", "a")))
            .await
            .unwrap();
        let fresh = bus
            .send(Subscribe {
                filter: all(),
                since: None,
                until: None,
            })
            .await
            .unwrap();
        assert!(fresh.past.is_empty());
        assert!(fresh.live.is_some());
        let past = bus
            .send(Subscribe {
                filter: all(),
                since: None,
                until: Some(1),
            })
            .await
            .unwrap();
        assert!(past.live.is_none());
    }
}
