//! `GET /containers/{id}/logs`: the json-file log the shim writes, as Docker serves it: the
//! multiplexed stream (raw for a terminal), `since`/`until` (unix seconds, fractions
//! allowed), `tail`, `timestamps`, and `follow` until the container stops.

use super::super::containers::Ctr;
use super::super::http::{self, ApiError, ApiResult, Query};
use super::stream::{self, STDERR, STDOUT};
use super::{flag, Door};
use berth_engine::container::Status;
use berth_engine::runtime::logs::{self, LogEntry, LogFollower};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// A time parameter in unix seconds (`1700000000.5`); 0 or absent is no bound.
fn seconds(q: &Query, k: &str) -> Result<Option<f64>, ApiError> {
    match q.get(k).filter(|v| !v.is_empty() && *v != "0") {
        None => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .map(Some)
            .or_else(|_| super::containers::parse_until(v).map(|s| Some(s as f64)))
            .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v}"))),
    }
}

fn time_of(e: &LogEntry) -> f64 {
    chrono::DateTime::parse_from_rfc3339(&e.time)
        .map(|t| t.timestamp() as f64 + t.timestamp_subsec_nanos() as f64 / 1e9)
        .unwrap_or(0.0)
}

pub async fn logs(door: &Arc<Door>, ctr: &Arc<Ctr>, q: &Query) -> ApiResult {
    let (want_out, want_err) = (flag(q, "stdout"), flag(q, "stderr"));
    if !want_out && !want_err {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match q.get("tail").filter(|t| !t.is_empty() && *t != "all") {
        None => None,
        Some(t) => match t.parse::<i64>() {
            Ok(n) if n < 0 => None,
            Ok(n) => Some(n as usize),
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "invalid value for tail: {t}"
                )))
            }
        },
    };
    let (since, until) = (seconds(q, "since")?, seconds(q, "until")?);
    let (follow, timestamps) = (flag(q, "follow"), flag(q, "timestamps"));
    let tty = ctr.rec.lock().await.config.tty;
    let path = door.d.containers.layout(&ctr.id).log();
    let (tx, reply) = http::channel(stream::content_type(tty));
    let ctr = ctr.clone();
    tokio::spawn(async move {
        let render = |e: &LogEntry| -> Option<Bytes> {
            let s = if e.stream == "stderr" { STDERR } else { STDOUT };
            if (s == STDOUT && !want_out) || (s == STDERR && !want_err) {
                return None;
            }
            let t = time_of(e);
            if since.is_some_and(|x| t < x) || until.is_some_and(|x| t > x) {
                return None;
            }
            let mut line = Vec::new();
            if timestamps {
                line.extend_from_slice(e.time.as_bytes());
                line.push(b' ');
            }
            line.extend_from_slice(e.log.as_bytes());
            Some(if tty {
                Bytes::from(line)
            } else {
                stream::frame(s, &line)
            })
        };
        let mut follower = LogFollower::at_end(&path);
        let p = path.clone();
        // The tail applies to what the filters let through, as Docker's.
        let existing = tokio::task::spawn_blocking(move || logs::read_all(&p, None))
            .await
            .unwrap_or_default();
        let mut chunks: Vec<Bytes> = existing.iter().filter_map(render).collect();
        if let Some(n) = tail {
            let skip = chunks.len().saturating_sub(n);
            chunks.drain(..skip);
        }
        for c in chunks {
            if tx.send(c).await.is_err() {
                return;
            }
        }
        if !follow || until.is_some() {
            return;
        }
        let mut rx = ctr.status.subscribe();
        loop {
            let running = matches!(
                *rx.borrow_and_update(),
                Status::Running | Status::Paused | Status::Restarting
            );
            for e in follower.poll() {
                if let Some(c) = render(&e) {
                    if tx.send(c).await.is_err() {
                        return;
                    }
                }
            }
            if !running {
                return;
            }
            tokio::select! {
                _ = tokio::time::timeout(Duration::from_millis(100), rx.changed()) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(reply)
}
