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
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    pub services: Vec<String>,
}

/// How each log line is dressed.
#[derive(Debug, Clone)]
pub struct LogStyle {
    pub prefix: bool,
    pub color: bool,
    pub timestamps: bool,
    /// Names are padded to the longest, so the `|` columns line up.
    pub width: usize,
}

impl LogStyle {
    pub fn new(containers: &[ServiceContainer], no_prefix: bool, no_color: bool) -> LogStyle {
        LogStyle {
            prefix: !no_prefix,
            // Colour only for a terminal: escape codes in a pipe or file are noise.
            color: !no_color && nix::unistd::isatty(1).unwrap_or(false),
            timestamps: false,
            width: containers.iter().map(|c| c.name.len()).max().unwrap_or(0),
        }
    }

    fn prefix_of(&self, c: &ServiceContainer) -> String {
        if !self.prefix {
            return String::new();
        }
        let padded = format!("{:<w$} |", c.name, w = self.width);
        if self.color {
            format!("\x1b[{}m{padded}\x1b[0m ", service_color(&c.service))
        } else {
            format!("{padded} ")
        }
    }
}

/// A stable colour per service: a hash of its name into Compose's palette, so a service keeps
/// its colour from one run to the next.
fn service_color(service: &str) -> &'static str {
    const PALETTE: [&str; 10] = [
        "36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1",
    ];
    let h = service
        .bytes()
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    PALETTE[h as usize % PALETTE.len()]
}

/// Streams the logs of each container on its own thread; `on_end` gets each container when
/// its stream ends (with `follow`, when it stops running).
pub fn stream_all<T: Send + 'static>(
    g: &GlobalOpts,
    containers: &[ServiceContainer],
    follow: bool,
    tail: &str,
    style: &LogStyle,
    done: &mpsc::Sender<T>,
    on_end: fn(ServiceContainer) -> T,
) {
    for c in containers {
        let (g, c, style, done) = (g.clone(), c.clone(), style.clone(), done.clone());
        let path = format!(
            "/containers/{}/logs?follow={}&tail={}",
            c.id,
            follow as u8,
            q(tail)
        );
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
    let c = Client::connect(g)?;
    let containers = target.containers(&c, &a.services, false)?;
    let mut style = LogStyle::new(&containers, a.no_log_prefix, a.no_color);
    style.timestamps = a.timestamps;
    let (done, ended) = mpsc::channel();
    stream_all(g, &containers, a.follow, &a.tail, &style, &done, |c| c);
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
            raw: serde_json::Value::Null,
        }
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
        assert_eq!(style.prefix_of(&all[0]), "p-web-1    | ");
        style.color = true;
        let coloured = style.prefix_of(&all[0]);
        assert!(coloured.starts_with(&format!("\x1b[{}m", service_color("web"))));
        assert!(coloured.ends_with("\x1b[0m "));
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
