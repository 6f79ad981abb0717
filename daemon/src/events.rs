//! The daemon's one event source: container lifecycle events (create, start, die, stop, kill,
//! pause, unpause, rename, update, destroy), network events (create, connect, disconnect,
//! destroy), volume events (create, mount, unmount, destroy), image events (pull, push, tag,
//! untag, delete, load, save, import) and stack events (a stack file that stopped loading, and
//! its recovery; a replica removed by hand that the stack recreates), broadcast to every
//! subscriber: berth's own `GET /events` (`berth events`) and
//! the Docker door's (`docker events`) both read this bus, so both see the same events.
//!
//! The last [`HISTORY`] events are kept in memory for `since`/`until` replay, as dockerd keeps
//! a bounded log of its own (moby daemon/events: `loadBufferedEvents`). A slow subscriber loses
//! the oldest events rather than slowing the containers down.

use berth_engine::container::ContainerRecord;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// How many past events `since` can replay.
pub const HISTORY: usize = 1024;

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// "container", "network", "volume", "image", or "stack" for the reconcile loop's events.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// RFC 3339 with nanoseconds, UTC.
    pub time: String,
    /// Nanoseconds since the epoch (the same instant as `time`), for `since`/`until`.
    #[serde(skip)]
    pub time_nano: i64,
    pub action: String,
    /// The actor: a container's or network's id, a volume's name, an image's id or reference.
    pub id: String,
    pub name: String,
    /// A container's image.
    pub image: String,
    /// The actor's labels (a network's and volume's too, so a project's events find them).
    pub labels: BTreeMap<String, String>,
    /// Docker's further actor attributes: `exitCode`, `signal`, `container`, `type`,
    /// `driver`, `destination`...
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl Event {
    fn new(kind: &'static str, action: &str, id: &str, name: &str) -> Event {
        let now = chrono::Utc::now();
        Event {
            kind,
            time: now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            time_nano: now.timestamp_nanos_opt().unwrap_or(0),
            action: action.into(),
            id: id.into(),
            name: name.into(),
            image: String::new(),
            labels: BTreeMap::new(),
            attributes: BTreeMap::new(),
        }
    }

    /// Adds Docker's attribute `k` (builder style).
    pub fn attr(mut self, k: &str, v: impl Into<String>) -> Event {
        self.attributes.insert(k.into(), v.into());
        self
    }

    pub fn labels(mut self, labels: &BTreeMap<String, String>) -> Event {
        self.labels = labels.clone();
        self
    }
}

/// A past event replay and the live stream after it, without a gap or a repeat between them.
pub struct Subscription {
    pub past: Vec<Event>,
    pub live: broadcast::Receiver<Event>,
}

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    /// Also the lock that orders publishing against subscribing (see [`EventBus::since`]).
    history: Arc<Mutex<VecDeque<Event>>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            tx: broadcast::channel(256).0,
            history: Default::default(),
        }
    }
}

impl EventBus {
    /// Publishes `e` and remembers it; nobody listening is fine.
    pub fn publish(&self, e: Event) {
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if h.len() == HISTORY {
            h.pop_front();
        }
        h.push_back(e.clone());
        let _ = self.tx.send(e);
    }

    /// Publishes `action` for the container of `rec` (a `die` carries its exit code).
    pub fn emit(&self, action: &str, rec: &ContainerRecord) {
        let mut e =
            Event::new("container", action, &rec.id, &rec.config.name).labels(&rec.config.labels);
        e.image = rec.config.image.clone();
        if action == "die" {
            e = e.attr("exitCode", rec.state.exit_code.to_string());
        }
        self.publish(e);
    }

    /// A `kill` with the signal sent, as Docker's `signal` attribute.
    pub fn emit_kill(&self, rec: &ContainerRecord, signal: i32) {
        let mut e = Event::new("container", "kill", &rec.id, &rec.config.name)
            .labels(&rec.config.labels)
            .attr("signal", signal.to_string());
        e.image = rec.config.image.clone();
        self.publish(e);
    }

    /// A network event: `create` and `destroy`, or `connect`/`disconnect` of `container`.
    pub fn network(
        &self,
        action: &str,
        id: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
        container: Option<&str>,
    ) {
        let mut e = Event::new("network", action, id, name)
            .labels(labels)
            .attr("type", "bridge");
        if let Some(c) = container {
            e = e.attr("container", c);
        }
        self.publish(e);
    }

    /// A volume event (`create`, `destroy`; `mount` and `unmount` pass the container's
    /// attributes in `attrs`). Docker's actor id is the volume's name.
    pub fn volume(
        &self,
        action: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
        attrs: &[(&str, String)],
    ) {
        let mut e = Event::new("volume", action, name, "")
            .labels(labels)
            .attr("driver", "local");
        for (k, v) in attrs {
            e = e.attr(k, v.clone());
        }
        self.publish(e);
    }

    /// An image event. As dockerd: `pull` and `push` name the reference both as actor and
    /// `name` (familiar form); `tag` has the image id as actor and the new tag as `name`;
    /// `untag`, `delete`, `load`, `save` and `import` the image id as both.
    pub fn image(&self, action: &str, id: &str, name: &str) {
        self.publish(Event::new("image", action, id, name));
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
        self.publish(Event::new("stack", action, "", project).labels(&labels));
    }

    /// Live events only.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// The remembered events at or after `since_nano` (none when None), then the live ones.
    pub fn since(&self, since_nano: Option<i64>) -> Subscription {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        // Subscribing under the history lock: every event is either in `past` or in `live`.
        let live = self.tx.subscribe();
        let past = match since_nano {
            Some(s) => h.iter().filter(|e| e.time_nano >= s).cloned().collect(),
            None => Vec::new(),
        };
        Subscription { past, live }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_bounded_and_replays_from_since() {
        let bus = EventBus::default();
        for i in 0..HISTORY + 5 {
            bus.image("tag", &format!("sha256:{i}"), "x:1");
        }
        let all = bus.since(Some(0));
        assert_eq!(all.past.len(), HISTORY);
        assert_eq!(all.past[0].id, "sha256:5");
        let cut = all.past[10].time_nano;
        let mut sub = bus.since(Some(cut));
        assert!(sub.past.iter().all(|e| e.time_nano >= cut));
        assert!(bus.since(None).past.is_empty());
        bus.network("create", "n1", "front", &BTreeMap::new(), None);
        let live = sub.live.try_recv().unwrap();
        assert_eq!((live.kind, live.id.as_str()), ("network", "n1"));
        assert_eq!(live.attributes["type"], "bridge");
    }
}
