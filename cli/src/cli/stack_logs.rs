//! `berth logs`: the project's containers' logs, each line prefixed with the container's name
//! in a colour of its service, as Compose prints them. With -f every container is followed at
//! once, a thread per container over `GET /containers/{id}/logs?follow=1`; `up` (attached)
//! uses the same followers.

use super::stack_select::{ServiceContainer, Target};
use super::GlobalOpts;
use crate::client::{q, Client};
use berth_engine::runtime::logs::LogEntry;
use clap::Args;
use serde::de::DeserializeOwned;
use std::io::Write;
use std::marker::PhantomData;
use std::sync::mpsc;

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42
    /// minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for
    /// 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    /// index of the container if service has multiple replicas
    #[arg(long)]
    pub index: Option<u32>,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    pub services: Vec<String>,
}

/// How each log line is dressed, as Compose's log consumer (cmd/formatter/logs.go).
#[derive(Debug, Clone)]
pub struct LogStyle {
    pub prefix: bool,
    pub color: bool,
    pub timestamps: bool,
    /// Compose pads names to the longest plus one, so the `|` columns line up.
    pub width: usize,
}

impl LogStyle {
    pub fn new(containers: &[ServiceContainer], no_prefix: bool, no_color: bool) -> LogStyle {
        LogStyle {
            prefix: !no_prefix,
            // Colour only for a terminal: escape codes in a pipe or file are noise (Compose's
            // --ansi auto).
            color: !no_color && nix::unistd::isatty(1).unwrap_or(false),
            timestamps: false,
            width: containers
                .iter()
                .map(|c| c.display_name().len())
                .max()
                .unwrap_or(0)
                + 1,
        }
    }

    /// `web-1  | `: the name padded to the width, then ` | `, the whole in the service's
    /// colour on a terminal.
    fn prefix_of(&self, c: &ServiceContainer) -> String {
        if !self.prefix {
            return String::new();
        }
        self.paint(
            &c.service,
            &format!("{:<w$} | ", c.display_name(), w = self.width),
        )
    }

    /// `text` in the service's colour when colouring.
    pub fn paint(&self, service: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{}m{text}\x1b[0m", service_color(service))
        } else {
            text.to_string()
        }
    }
}

/// A stable colour per service from Compose's palette. Compose hands its palette out in the
/// order containers first log, so a service's colour changes from run to run; berth hashes
/// the service name instead, so a service keeps its colour.
fn service_color(service: &str) -> &'static str {
    const PALETTE: [&str; 10] = [
        "36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1",
    ];
    let h = service
        .bytes()
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    PALETTE[h as usize % PALETTE.len()]
}

/// Which part of the logs a command wants: `tail`, and Docker's `since`/`until` query
/// values (see [`docker_timestamp`]).
#[derive(Debug, Clone, Default)]
pub struct LogWindow {
    pub tail: String,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl LogWindow {
    pub fn new(tail: &str, since: Option<&str>, until: Option<&str>) -> anyhow::Result<Self> {
        let now = chrono::Local::now();
        Ok(LogWindow {
            tail: tail.to_string(),
            since: since.map(|s| docker_timestamp(s, now)).transpose()?,
            until: until.map(|s| docker_timestamp(s, now)).transpose()?,
        })
    }

    pub fn query(&self, follow: bool) -> String {
        let mut query = format!("follow={}&tail={}", follow as u8, q(&self.tail));
        for (k, v) in [("since", &self.since), ("until", &self.until)] {
            if let Some(v) = v {
                query.push_str(&format!("&{k}={}", q(v)));
            }
        }
        query
    }
}

/// The docker CLI's `GetTimestamp` (api/types/time): a Go duration (`10m`, `1h30m`) is that
/// long before now, in whole seconds; an RFC 3339 time, or a date or time without a zone
/// (taken in local time), becomes `SECONDS.NANOSECONDS`; a Unix time passes as it is.
pub fn docker_timestamp(value: &str, now: chrono::DateTime<chrono::Local>) -> anyhow::Result<String> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone};
    if value != "0" {
        if let Some(d) = go_duration(value) {
            return Ok((now.timestamp() as f64 - d).floor().to_string());
        }
    }
    let in_local = !value.contains(['z', 'Z', '+']) && value.matches('-').count() != 3;
    let parsed: Option<chrono::DateTime<chrono::FixedOffset>> = if in_local {
        let naive = if value.contains('T') {
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"]
                .iter()
                .find_map(|f| {
                    NaiveDateTime::parse_from_str(value, f).ok().or_else(|| {
                        // chrono wants minutes: `2006-01-02T15` is an hour.
                        NaiveDateTime::parse_from_str(&format!("{value}:00"), "%Y-%m-%dT%H:%M").ok()
                    })
                })
        } else {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        };
        naive.and_then(|n| now.offset().from_local_datetime(&n).single())
    } else {
        chrono::DateTime::parse_from_rfc3339(value).ok().or_else(|| {
            NaiveDate::parse_from_str(&value[..value.len().min(10)], "%Y-%m-%d")
                .ok()
                .filter(|_| value.len() > 10 && !value.contains('T'))
                .and_then(|d| {
                    let zone = &value[10..];
                    let z = if zone.eq_ignore_ascii_case("z") { "+00:00" } else { zone };
                    chrono::DateTime::parse_from_rfc3339(&format!("{d}T00:00:00{z}")).ok()
                })
        })
    };
    match parsed {
        Some(t) => Ok(format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos())),
        None if value.contains('-') => {
            anyhow::bail!("parsing time {value:?}: cannot parse as a date and time")
        }
        None => {
            let (secs, frac) = value.split_once('.').unwrap_or((value, "0"));
            anyhow::ensure!(
                secs.parse::<i64>().is_ok() && frac.parse::<u64>().is_ok(),
                "failed to parse value as time or duration: {value:?}"
            );
            Ok(value.to_string())
        }
    }
}

/// Go's `time.ParseDuration` in seconds: `[-]` then numbers with units ns, us, µs, ms, s,
/// m, h (`1h30m`, `1.5h`, `300ms`).
fn go_duration(s: &str) -> Option<f64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += num * scale;
        rest = &rest[u..];
    }
    Some(if neg { -total } else { total })
}

/// Streams the logs of each container on its own thread; `on_end` gets each container when
/// its stream ends (with `follow`, when it stops running).
pub fn stream_all<T: Send + 'static>(
    g: &GlobalOpts,
    containers: &[ServiceContainer],
    follow: bool,
    window: &LogWindow,
    style: &LogStyle,
    done: &mpsc::Sender<T>,
    on_end: fn(ServiceContainer) -> T,
) {
    for c in containers {
        let (g, c, style, done) = (g.clone(), c.clone(), style.clone(), done.clone());
        let path = format!("/containers/{}/logs?{}", c.id, window.query(follow));
        std::thread::spawn(move || {
            // A client per thread: each drives its own connection.
            let result = Client::connect(&g).and_then(|client| {
                let prefix = style.prefix_of(&c);
                let mut out =
                    JsonLines::new(|e: LogEntry| Some(log_line(&prefix, style.timestamps, e)));
                client.download(&path, &mut out)
            });
            if let Err(e) = result {
                eprintln!("berth: logs of {}: {e:#}", c.name);
            }
            let _ = done.send(on_end(c));
        });
    }
}

/// A download sink for the daemon's JSON-lines streams: each complete line is parsed as `T`
/// and what `render` makes of it goes to stdout whole, so concurrent streams never
/// interleave within a line.
pub struct JsonLines<T, F: FnMut(T) -> Option<String>> {
    render: F,
    pending: Vec<u8>,
    _line: PhantomData<fn(T)>,
}

impl<T, F: FnMut(T) -> Option<String>> JsonLines<T, F> {
    pub fn new(render: F) -> Self {
        JsonLines {
            render,
            pending: Vec::new(),
            _line: PhantomData,
        }
    }
}

impl<T: DeserializeOwned, F: FnMut(T) -> Option<String>> Write for JsonLines<T, F> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let Some(text) = serde_json::from_slice(&line)
                .ok()
                .and_then(&mut self.render)
            else {
                continue;
            };
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes())?;
            o.flush()?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

/// One log entry as a line: prefix, optional timestamp, text.
fn log_line(prefix: &str, timestamps: bool, e: LogEntry) -> String {
    let stamp = if timestamps {
        format!("{} ", e.time)
    } else {
        String::new()
    };
    let newline = if e.log.ends_with('\n') { "" } else { "\n" };
    format!("{prefix}{stamp}{}{newline}", e.log)
}

pub fn logs(g: &GlobalOpts, a: &LogsArgs) -> anyhow::Result<i32> {
    let target = Target::resolve(g)?;
    target.check_services(&a.services)?;
    let window = LogWindow::new(&a.tail, a.since.as_deref(), a.until.as_deref())?;
    let c = Client::connect(g)?;
    let containers: Vec<ServiceContainer> = target
        .containers(&c, &a.services, false)?
        .into_iter()
        .filter(|x| a.index.is_none_or(|i| x.number == i))
        .collect();
    let mut style = LogStyle::new(&containers, a.no_log_prefix, a.no_color);
    style.timestamps = a.timestamps;
    let (done, ended) = mpsc::channel();
    stream_all(g, &containers, a.follow, &window, &style, &done, |c| c);
    // Each container's stream ends on its own (-f: when it stops); Ctrl-C ends them all.
    for _ in 0..containers.len() {
        let _ = ended.recv();
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctr(name: &str, service: &str) -> ServiceContainer {
        ServiceContainer {
            id: "0".into(),
            name: name.into(),
            service: service.into(),
            number: 1,
            oneoff: false,
            state: "running".into(),
            raw: serde_json::json!({"Labels": {berth_compose::LABEL_PROJECT: "p"}}),
        }
    }

    #[test]
    fn timestamps_as_docker_reads_them() {
        use chrono::TimeZone;
        let now = chrono::Local.timestamp_opt(1_700_000_000, 0).unwrap();
        assert_eq!(docker_timestamp("10m", now).unwrap(), "1699999400");
        assert_eq!(docker_timestamp("1h30m", now).unwrap(), "1699994600");
        assert_eq!(docker_timestamp("1700000000", now).unwrap(), "1700000000");
        assert_eq!(docker_timestamp("1700000000.5", now).unwrap(), "1700000000.5");
        assert_eq!(
            docker_timestamp("2023-11-14T22:13:20Z", now).unwrap(),
            "1700000000.000000000"
        );
        assert_eq!(
            docker_timestamp("2023-11-14T23:13:20.25+01:00", now).unwrap(),
            "1700000000.250000000"
        );
        assert_eq!(docker_timestamp("2023-11-14Z", now).unwrap(), "1699920000.000000000");
        assert!(docker_timestamp("yesterday", now).is_err());
        assert!(docker_timestamp("2023-13-45T00:00:00Z", now).is_err());
    }

    fn entry(log: &str) -> LogEntry {
        serde_json::from_value(
            serde_json::json!({"log": log, "stream": "stdout", "time": "2026-01-01T00:00:00Z"}),
        )
        .unwrap()
    }

    #[test]
    fn prefixes_are_padded_to_the_longest_name_and_coloured_by_service() {
        let all = [ctr("p-web-1", "web"), ctr("p-worker-1", "worker")];
        let mut style = LogStyle::new(&all, false, true);
        // Compose's `%-{longest+1}s | `.
        assert_eq!(style.prefix_of(&all[0]), "web-1     | ");
        assert_eq!(style.prefix_of(&all[1]), "worker-1  | ");
        style.color = true;
        let coloured = style.prefix_of(&all[0]);
        assert!(coloured.starts_with(&format!("\x1b[{}m", service_color("web"))));
        assert!(coloured.ends_with(" | \x1b[0m"));
        assert_eq!(service_color("web"), service_color("web"));
        let bare = LogStyle::new(&all, true, true);
        assert_eq!(bare.prefix_of(&all[1]), "");
    }

    #[test]
    fn log_lines_end_with_one_newline_and_carry_the_timestamp_when_asked() {
        assert_eq!(log_line("a | ", false, entry("hi\n")), "a | hi\n");
        assert_eq!(log_line("", false, entry("partial")), "partial\n");
        assert_eq!(log_line("", true, entry("x\n")), "2026-01-01T00:00:00Z x\n");
    }
}
