//! The daemon's event bus: container lifecycle events (create, start, die, stop, pause,
//! unpause, destroy) and stack events (a stack file that stopped loading, and its recovery;
//! a replica removed by hand that the stack recreates)
//! broadcast to every `GET /events` subscriber, as Docker's event stream.
//! A slow subscriber loses the oldest events rather than slowing the containers down.

use berth_engine::container::ContainerRecord;
use serde::Serialize;
use std::collections::BTreeMap;
use tokio::sync::broadcast;

#[derive(Debug, Clone, Serialize)]
pub struct ContainerEvent {
    /// "container", or "stack" for the reconcile loop's events.
    #[serde(rename = "type")]
    pub kind: &'static str,
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
            kind: "container",
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            action: action.into(),
            id: rec.id.clone(),
            name: rec.config.name.clone(),
            image: rec.config.image.clone(),
            labels: rec.config.labels.clone(),
        });
    }

    /// Publishes a stack event: `error` (with the reason, e.g. the file and line that no
    /// longer load) or `reconciled` once the stack converges again.
    pub fn emit_stack(&self, action: &str, project: &str, error: &str) {
        let error = (!error.is_empty()).then_some(("error", error));
        self.emit_stack_with(action, project, error);
    }

    /// Publishes a stack event with more labels (`recreate`: the service, the container
    /// and why).
    pub fn emit_stack_with<'a>(
        &self,
        action: &str,
        project: &str,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        let mut labels: BTreeMap<String, String> = labels
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.insert(
            berth_compose::LABEL_PROJECT.to_string(),
            project.to_string(),
        );
        let _ = self.0.send(ContainerEvent {
            kind: "stack",
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            action: action.into(),
            id: String::new(),
            name: project.into(),
            image: String::new(),
            labels,
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ContainerEvent> {
        self.0.subscribe()
    }
}
