//! The event bus served to one client, for both doors' `GET /events` (berth's, which `berth
//! events` reads, and Docker's): the remembered events from `since` (every one when only
//! `until` is given, as dockerd), then live ones until `until` passes or the client goes.
//! Each door renders an event its own way, or skips it.

use super::events::{Event, EventBus};
use super::http::{self, ApiError, Query, Reply};
use bytes::Bytes;
use std::time::Duration;

/// `since` and `until` as Docker's API takes them: Unix seconds with an optional fraction
/// (`1700000000.123456789`; the CLIs turn `10m` or RFC 3339 into that), in nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl Window {
    pub fn from_query(q: &Query) -> Result<Window, ApiError> {
        Ok(Window {
            since: nanos(q, "since")?,
            until: nanos(q, "until")?,
        })
    }
}

fn nanos(q: &Query, key: &str) -> Result<Option<i64>, ApiError> {
    let Some(v) = q.get(key).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let bad = || ApiError::bad_request(format!("invalid {key}: {v}"));
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if frac.len() > 9 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let frac: i64 = format!("{frac:0<9}").parse().map_err(|_| bad())?;
    Ok(Some(secs * 1_000_000_000 + frac))
}

/// Streams `bus` through the window to a new response of `content_type`; `render` turns an
/// event into its line (None: not for this client).
pub fn serve(
    bus: &EventBus,
    w: Window,
    content_type: &str,
    render: impl Fn(&Event) -> Option<String> + Send + 'static,
) -> Reply {
    let sub = bus.since(w.since.or(w.until.map(|_| 0)));
    let mut rx = sub.live;
    let (tx, reply) = http::channel(content_type);
    tokio::spawn(async move {
        let until = w.until;
        for e in sub
            .past
            .iter()
            .filter(|e| until.is_none_or(|u| e.time_nano <= u))
        {
            if let Some(line) = render(e) {
                if tx.send(Bytes::from(line)).await.is_err() {
                    return;
                }
            }
        }
        let left = until.map(|u| {
            let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
            Duration::from_nanos(u.saturating_sub(now).max(0) as u64)
        });
        if left == Some(Duration::ZERO) {
            return;
        }
        let sleep = tokio::time::sleep(left.unwrap_or(Duration::from_secs(u32::MAX as u64)));
        tokio::pin!(sleep);
        loop {
            // A client that went away ends the subscription now, not at the next event.
            let received = tokio::select! {
                r = rx.recv() => r,
                _ = tx.closed() => return,
                _ = &mut sleep => return,
            };
            let e = match received {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            };
            if let Some(line) = render(&e) {
                if tx.send(Bytes::from(line)).await.is_err() {
                    return;
                }
            }
        }
    });
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_times() {
        let q = |s: &str| Query::parse(Some(s));
        let w = Window::from_query(&q("since=12.5&until=7")).unwrap();
        assert_eq!(
            (w.since, w.until),
            (Some(12_500_000_000), Some(7_000_000_000))
        );
        assert_eq!(Window::from_query(&q("x=1")).unwrap().since, None);
        assert!(Window::from_query(&q("since=abc")).is_err());
        assert!(Window::from_query(&q("until=1.1234567890")).is_err());
    }
}
