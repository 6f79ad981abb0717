//! `berth logs`: the project's containers' logs, each line prefixed with the container's name
//! in a colour of its service, as Compose prints them. With -f every container is followed at
//! once, a thread per container over `GET /containers/{id}/logs?follow=1`; `up` (attached)
//! uses the same followers.

use super::log_window::LogWindow;
use super::stack_select::{ServiceContainer, Target};
use super::GlobalOpts;
use crate::client::Client;
use berth_engine::runtime::logs::LogEntry;
use clap::Args;
use serde::de::DeserializeOwned;
use std::io::Write;
use std::marker::PhantomData;
use std::sync::{mpsc, Arc, Mutex};

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
    #[arg(long, allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for
    /// 42 minutes)
    #[arg(long, allow_hyphen_values = true)]
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
    /// The names of the containers that have printed so far. Compose registers a container
    /// at its first line and pads every prefix to the longest name registered plus one
    /// (computeWidth), so the `|` column moves right when a longer name first speaks.
    seen: Arc<Mutex<Vec<String>>>,
}

impl LogStyle {
    pub fn new(no_prefix: bool, no_color: bool) -> LogStyle {
        LogStyle {
            prefix: !no_prefix,
            // Colour only for a terminal: escape codes in a pipe or file are noise (Compose's
            // --ansi auto).
            color: !no_color && nix::unistd::isatty(1).unwrap_or(false),
            timestamps: false,
            seen: Arc::default(),
        }
    }

    /// Registers `name` (once) and returns the prefix width: the longest name so far plus one.
    fn register(&self, name: &str) -> usize {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if !seen.iter().any(|n| n == name) {
            seen.push(name.to_string());
        }
        seen.iter().map(String::len).max().unwrap_or(0) + 1
    }

    /// `web-1  | `: the name padded to the width, then ` | `, the whole in the service's
    /// colour on a terminal.
    fn prefix_of(&self, c: &ServiceContainer) -> String {
        if !self.prefix {
            return String::new();
        }
        let width = self.register(c.display_name());
        self.paint(&c.service, &format!("{:<width$} | ", c.display_name()))
    }

    /// Compose's Status line (`web-1 exited with code 0`): the name unpadded, the line in
    /// the container's colour. (Compose also writes a reset-line escape before it, even into
    /// a pipe; berth does not.)
    pub fn status(&self, c: &ServiceContainer, message: &str) -> String {
        self.register(c.display_name());
        self.paint(&c.service, &format!("{} {message}\n", c.display_name()))
    }

    /// `text` in the service's colour when colouring.
    fn paint(&self, service: &str, text: &str) -> String {
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
                // The prefix is made at each line: the width grows as containers first speak.
                let mut out = JsonLines::new(|e: LogEntry| {
                    let line = log_line(&style.prefix_of(&c), style.timestamps, &e);
                    // As Compose: the container's stderr lines go to stderr.
                    if e.stream == "stderr" {
                        let _ = std::io::stderr().lock().write_all(line.as_bytes());
                        return None;
                    }
                    Some(line)
                });
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
fn log_line(prefix: &str, timestamps: bool, e: &LogEntry) -> String {
    let stamp = if timestamps {
        format!("{} ", e.time)
    } else {
        String::new()
    };
    let newline = if e.log.ends_with('\n') { "" } else { "\n" };
    format!("{prefix}{stamp}{}{newline}", e.log)
}

pub fn logs(g: &GlobalOpts, a: &LogsArgs) -> anyhow::Result<i32> {
    let index = a.index.filter(|&i| i > 0);
    if index.is_some() && a.services.len() != 1 {
        anyhow::bail!("--index requires one service to be selected");
    }
    let target = Target::resolve(g)?;
    target.check_services(&a.services)?;
    let window = LogWindow::new(&a.tail, a.since.as_deref(), a.until.as_deref())?;
    // As Compose: with the stack's files and no service named, the services the files
    // define, less those with `attach: false`.
    let services = match &target.project {
        Some(p) if a.services.is_empty() => p
            .services
            .iter()
            .filter(|(_, s)| s.attach != Some(false))
            .map(|(name, _)| name.clone())
            .collect(),
        _ => a.services.clone(),
    };
    let c = Client::connect(g)?;
    let mut containers = target.containers(&c, &services, false)?;
    if let Some(i) = index {
        containers.retain(|x| x.number == i);
        if containers.is_empty() {
            anyhow::bail!("service {:?} is not running container #{i}", a.services[0]);
        }
    }
    let mut style = LogStyle::new(a.no_log_prefix, a.no_color);
    style.timestamps = a.timestamps;
    if a.follow {
        let wanted = |x: &ServiceContainer| {
            (services.is_empty() || services.contains(&x.service))
                && index.is_none_or(|i| x.number == i)
        };
        super::log_follow::follow(g, &target, &c, &containers, wanted, &window, &style)?;
        return Ok(0);
    }
    let (done, ended) = mpsc::channel();
    stream_all(g, &containers, false, &window, &style, &done, |c| c);
    // Each container's stream ends on its own.
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

    fn entry(log: &str) -> LogEntry {
        serde_json::from_value(
            serde_json::json!({"log": log, "stream": "stdout", "time": "2026-01-01T00:00:00Z"}),
        )
        .unwrap()
    }

    #[test]
    fn prefixes_are_padded_to_the_longest_name_so_far_and_coloured_by_service() {
        let all = [
            ctr("p-web-1", "web"),
            ctr("p-worker-1", "worker"),
            ctr("solo", "x"),
        ];
        let mut style = LogStyle::new(false, true);
        // Compose's `%-{longest+1}s | `, over the containers that have printed so far.
        assert_eq!(style.prefix_of(&all[0]), "web-1  | ");
        assert_eq!(style.prefix_of(&all[1]), "worker-1  | ");
        assert_eq!(style.prefix_of(&all[0]), "web-1     | ");
        // A `container_name` shows whole; the status line is unpadded.
        assert_eq!(style.prefix_of(&all[2]), "solo      | ");
        assert_eq!(
            style.status(&all[0], "exited with code 0"),
            "web-1 exited with code 0\n"
        );
        style.color = true;
        let coloured = style.prefix_of(&all[0]);
        assert!(coloured.starts_with(&format!("\x1b[{}m", service_color("web"))));
        assert!(coloured.ends_with(" | \x1b[0m"));
        assert_eq!(service_color("web"), service_color("web"));
        let bare = LogStyle::new(true, true);
        assert_eq!(bare.prefix_of(&all[1]), "");
    }

    #[test]
    fn log_lines_end_with_one_newline_and_carry_the_timestamp_when_asked() {
        assert_eq!(log_line("a | ", false, &entry("hi\n")), "a | hi\n");
        assert_eq!(log_line("", false, &entry("partial")), "partial\n");
        assert_eq!(
            log_line("", true, &entry("x\n")),
            "2026-01-01T00:00:00Z x\n"
        );
    }
}
