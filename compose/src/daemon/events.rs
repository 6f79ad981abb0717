//! The daemon's event bus: container lifecycle events (create, start, die, stop, pause,
//! unpause, destroy) broadcast to every `GET /events` subscriber, as Docker's event stream.
//! A slow subscriber loses the oldest events rather than slowing the containers down.

use berth_engine::container::ContainerRecord;
use serde::Serialize;
use std::collections::BTreeMap;
use tokio::sync::broadcast;

#[derive(Debug, Clone, Serialize)]
pub struct ContainerEvent {
    pub time: String,
    pub action: String,
    pub id: String,
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct EventBus(broadcast::Sender<ContainerEvent>);

impl Default for EventBus {
    fn default() -> Self {
        EventBus(broadcast::channel(256).0)
    }
}

impl EventBus {
    /// Publishes `action` for the container of `rec`; nobody listening is fine.
    pub fn emit(&self, action: &str, rec: &ContainerRecord) {
        let _ = self.0.send(ContainerEvent {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            action: action.into(),
            id: rec.id.clone(),
            name: rec.config.name.clone(),
            image: rec.config.image.clone(),
            labels: rec.config.labels.clone(),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ContainerEvent> {
        self.0.subscribe()
    }
}
