//! What a container tells the rest of the daemon about itself: its events, with the
//! attributes Docker gives them (the container's labels, `image` as the user named it, and
//! `name`).

use crate::events::{Event, ObjectType};

use super::record::ContainerRecord;

pub fn event(record: &ContainerRecord, action: &str) -> Event {
    let mut event = Event::new(ObjectType::Container, action, &record.id);
    for (key, value) in record.config.labels.iter().flatten() {
        event = event.with(key, value.clone());
    }
    if let Some(image) = record.config.image.as_deref().filter(|i| !i.is_empty()) {
        event = event.with("image", image);
    }
    event.with("name", record.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_carry_labels_image_and_name() {
        let record: ContainerRecord = serde_json::from_value(serde_json::json!({
            "id": "0123456789ab0123456789ab0123456789ab0123456789ab0123456789abcdef",
            "name": "web",
            "created": "2026-01-01T00:00:00Z",
            "image_id": "sha256:aa",
            "config": {"Image": "busybox", "Labels": {"tier": "front", "name": "label wins not"}},
            "host_config": {},
            "layers": [],
            "state": {"status": "created", "pid": 0, "exit_code": 0, "error": "", "oom_killed": false,
                      "started_at": null, "finished_at": null, "stopped_by_user": false, "restart_count": 0}
        }))
        .unwrap();
        let event = event(&record, "start");
        assert_eq!(event.attributes["tier"], "front");
        assert_eq!(event.attributes["image"], "busybox");
        assert_eq!(
            event.attributes["name"], "web",
            "the name overrides a label"
        );
    }
}
