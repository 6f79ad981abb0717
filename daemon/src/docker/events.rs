//! `GET /events` in Docker's dialect: the daemon's one event bus (`super::super::events`)
//! rendered as Docker's messages (Type, Action, Actor{ID, Attributes}, scope, time, timeNano
//! and the legacy status/id/from), with dockerd's filters (moby daemon/events/filter.go) and
//! its `since`/`until` replay of remembered events.

use super::super::event_feed::{self, Window};
use super::super::events::Event;
use super::super::http::{ApiResult, Query};
use super::filters::Filters;
use super::Door;
use serde_json::{json, Value};
use std::sync::Arc;

const KNOWN: &[&str] = &[
    "type",
    "event",
    "container",
    "label",
    "image",
    "scope",
    "network",
    "volume",
    "daemon",
];

/// dockerd's attributes of the actor: a container's and an image's labels, `name` and
/// `image` where they apply, then the event's own (exitCode, signal, container, type, driver...).
fn attributes(e: &Event) -> serde_json::Map<String, Value> {
    let mut a = serde_json::Map::new();
    if matches!(e.kind, "container" | "image") {
        a.extend(e.labels.iter().map(|(k, v)| (k.clone(), json!(v))));
    }
    if !e.image.is_empty() {
        a.insert("image".into(), json!(e.image));
    }
    if !e.name.is_empty() {
        a.insert("name".into(), json!(e.name));
    }
    a.extend(e.attributes.iter().map(|(k, v)| (k.clone(), json!(v))));
    a
}

/// The event as dockerd writes it (the deprecated status/id/from only for containers and
/// images, as dockerd fills them).
fn message(e: &Event) -> Value {
    let mut m = json!({
        "Type": e.kind,
        "Action": e.action,
        "Actor": { "ID": e.id, "Attributes": attributes(e) },
        "scope": "local",
        "time": e.time_nano.div_euclid(1_000_000_000),
        "timeNano": e.time_nano,
    });
    if matches!(e.kind, "container" | "image") {
        m["status"] = json!(e.action);
        m["id"] = json!(e.id);
    }
    if e.kind == "container" {
        m["from"] = json!(e.image);
    }
    m
}

/// dockerd's `Filter.Include`: every filter key given must hold.
fn include(f: &Filters, e: &Event) -> bool {
    let attrs = attributes(e);
    let attr = |k: &str| attrs.get(k).and_then(Value::as_str).unwrap_or("");
    // FuzzyMatch: the actor's id or name, whole or as a prefix.
    let fuzzy = |key: &str, kind: &str| {
        let vals = f.values(key);
        vals.is_empty()
            || vals.iter().any(|v| {
                e.kind == kind
                    && (e.id.starts_with(v.as_str()) || attr("name").starts_with(v.as_str()))
            })
    };
    let image = || {
        let vals = f.values("image");
        let name = attr(if e.kind == "image" { "name" } else { "image" });
        let strip = |s: &str| match s.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => r.to_string(),
            _ => s.to_string(),
        };
        vals.is_empty()
            || vals
                .iter()
                .any(|v| [e.id.clone(), name.to_string(), strip(&e.id), strip(name)].contains(v))
    };
    let exact = |key: &str, have: &str| {
        let vals = f.values(key);
        vals.is_empty() || vals.iter().any(|v| v == have)
    };
    // `event` matches the action, or its head for `exec_start: sh` and the like.
    let action_head = e.action.split(':').next().unwrap_or("");
    (exact("event", &e.action) || exact("event", action_head))
        && exact("type", e.kind)
        && exact("scope", "local")
        && fuzzy("container", "container")
        && fuzzy("network", "network")
        && fuzzy("volume", "volume")
        && image()
        && f.labels_match(
            &attrs
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect(),
        )
}

/// `docker events`: the bus through the `since`/`until` window (see `event_feed`), in
/// dockerd's shape and filters; the reconcile loop's stack events are berth's own.
pub async fn events(door: &Arc<Door>, q: &Query) -> ApiResult {
    let f = Filters::parse(q, KNOWN)?;
    let w = Window::from_query(q)?;
    Ok(event_feed::serve(
        &door.d.containers.events,
        w,
        "application/json",
        move |e| (e.kind != "stack" && include(&f, e)).then(|| message(e).to_string() + "\n"),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::super::events::EventBus;
    use super::*;
    use std::collections::BTreeMap;

    fn filters(raw: &str) -> Filters {
        Filters::from_json(raw, KNOWN).unwrap()
    }

    #[test]
    fn docker_shapes_and_filters() {
        let bus = EventBus::default();
        bus.network("connect", "n1d", "front", &BTreeMap::new(), Some("c1"));
        bus.volume(
            "mount",
            "data",
            &BTreeMap::new(),
            &[("container", "c1".into())],
        );
        bus.image("tag", "sha256:ab", "app:1");
        let past = bus.since(Some(0)).past;
        let m = message(&past[0]);
        assert_eq!(m["Type"], "network");
        assert_eq!(m["Actor"]["Attributes"]["container"], "c1");
        assert_eq!(m["Actor"]["Attributes"]["name"], "front");
        assert_eq!(m["Actor"]["Attributes"]["type"], "bridge");
        assert!(m.get("status").is_none());
        let t = |raw: &str| -> Vec<&str> {
            let f = filters(raw);
            past.iter()
                .filter(|e| include(&f, e))
                .map(|e| e.kind)
                .collect()
        };
        assert_eq!(t(r#"{"type":["network"]}"#), ["network"]);
        assert_eq!(t(r#"{"network":["fro"]}"#), ["network"]);
        assert_eq!(t(r#"{"volume":["data"]}"#), ["volume"]);
        assert_eq!(t(r#"{"image":["app"]}"#), ["image"]);
        assert_eq!(t(r#"{"event":["mount","tag"]}"#), ["volume", "image"]);
        assert!(t(r#"{"container":["c1"]}"#).is_empty());
        assert_eq!(t("{}").len(), 3);
    }
}
