//! Compose's progress display, on stderr as Compose writes it: one line per network, volume,
//! container and image with its state and the time it took. On a terminal the block is redrawn
//! in place as events arrive (`[+] Running 2/3`, a spinner on what is under way, a tick on what
//! is done); otherwise every event is one plain line (` Container p-web-1  Started`), which is
//! what logs and scripts want.

use std::io::Write;
use std::time::Instant;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

struct Line {
    kind: String,
    name: String,
    action: String,
    since: Instant,
    /// How long the finished step took, as the daemon measured it.
    took_ms: Option<u64>,
}

pub struct Display {
    tty: bool,
    lines: Vec<Line>,
    /// Rows drawn last time: the cursor goes back up that many to redraw.
    drawn: usize,
    frame: usize,
}

/// Whether `action` is a step still under way ("Starting") rather than a state reached
/// ("Started"; "Running" is the state of a container `up` left alone).
fn in_progress(action: &str) -> bool {
    (action.ends_with("ing") && action != "Running") || action == "Recreate"
}

impl Display {
    /// A display on stderr: live when stderr is a terminal.
    pub fn new() -> Display {
        Self::with_tty(nix::unistd::isatty(2).unwrap_or(false))
    }

    fn with_tty(tty: bool) -> Display {
        Display {
            tty,
            lines: Vec::new(),
            drawn: 0,
            frame: 0,
        }
    }

    /// One step of one object: a new line, or the object's line updated.
    pub fn event(&mut self, kind: &str, name: &str, action: &str, millis: Option<u64>) {
        if !self.tty {
            // One write per line (stderr is unbuffered: eprintln! writes each piece).
            let line = format!(" {kind} {name}  {action}\n");
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
            return;
        }
        let took_ms = if in_progress(action) { None } else { millis };
        match self
            .lines
            .iter_mut()
            .find(|l| l.kind == kind && l.name == name)
        {
            Some(l) => {
                if in_progress(action) && !in_progress(&l.action) {
                    l.since = Instant::now();
                }
                l.action = action.to_string();
                l.took_ms = took_ms.or_else(|| {
                    (!in_progress(action)).then(|| l.since.elapsed().as_millis() as u64)
                });
            }
            None => self.lines.push(Line {
                kind: kind.to_string(),
                name: name.to_string(),
                action: action.to_string(),
                since: Instant::now(),
                took_ms,
            }),
        }
        self.draw();
    }

    /// Redraws the clocks of the steps under way (a terminal only).
    pub fn tick(&mut self) {
        if self.tty && !self.lines.is_empty() {
            self.frame += 1;
            self.draw();
        }
    }

    /// The last drawing: steps still under way are marked failed when the work failed.
    pub fn finish(&mut self, failed: bool) {
        if self.tty && !self.lines.is_empty() {
            if failed {
                for l in self.lines.iter_mut().filter(|l| in_progress(&l.action)) {
                    l.action = "Error".into();
                    l.took_ms = Some(l.since.elapsed().as_millis() as u64);
                }
            }
            self.draw();
        }
    }

    fn render(&self, width: usize) -> Vec<String> {
        let done = self
            .lines
            .iter()
            .filter(|l| !in_progress(&l.action))
            .count();
        let mut rows = vec![format!("[+] Running {done}/{}", self.lines.len())];
        let label_width = self
            .lines
            .iter()
            .map(|l| l.kind.len() + 1 + l.name.len())
            .max()
            .unwrap_or(0);
        for l in &self.lines {
            let (mark, secs) = match (l.action.as_str(), l.took_ms) {
                ("Error", Some(ms)) => ("\x1b[31m✘\x1b[0m".to_string(), ms),
                (_, Some(ms)) if !in_progress(&l.action) => ("\x1b[32m✔\x1b[0m".to_string(), ms),
                _ => (
                    SPINNER[self.frame % SPINNER.len()].to_string(),
                    l.since.elapsed().as_millis() as u64,
                ),
            };
            let label = format!("{} {}", l.kind, l.name);
            let left = format!(" {mark} {label:<label_width$}  {:<10}", l.action);
            let time = format!("{:.1}s", secs as f64 / 1000.0);
            // The mark's colour codes take no room on screen.
            let visible = left.chars().count() - if mark.len() > 3 { 9 } else { 0 };
            let pad = width.saturating_sub(visible + time.len() + 1).max(1);
            rows.push(format!("{left}{}{time}", " ".repeat(pad)));
        }
        rows
    }

    fn draw(&mut self) {
        let (width, height) = terminal_size();
        let mut rows = self.render(width);
        // The cursor cannot go up past the top of the screen: a block taller than the
        // terminal shows its title and its last lines.
        if rows.len() >= height {
            let keep = height.saturating_sub(2).max(1);
            rows.drain(1..rows.len() - keep);
        }
        let mut out = String::new();
        // The cursor stays visible: hidden, a Ctrl-C would leave the user's terminal without it.
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for r in &rows {
            out.push_str("\x1b[2K");
            out.push_str(r);
            out.push('\n');
        }
        self.drawn = rows.len();
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }
}

/// The terminal's columns and rows (80x24 when it does not say).
fn terminal_size() -> (usize, usize) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we own; fd 2 may be anything, and a
    // failure leaves it zeroed.
    let ok = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut ws) } == 0;
    let cols = if ok && ws.ws_col > 20 { ws.ws_col } else { 80 };
    let rows = if ok && ws.ws_row > 3 { ws.ws_row } else { 24 };
    (cols as usize, rows as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_under_way_and_done() {
        assert!(in_progress("Starting") && in_progress("Recreate") && in_progress("Waiting"));
        assert!(!in_progress("Running") && !in_progress("Started") && !in_progress("Healthy"));
        let mut d = Display::with_tty(false);
        d.tty = true;
        d.lines.push(Line {
            kind: "Network".into(),
            name: "p_default".into(),
            action: "Created".into(),
            since: Instant::now(),
            took_ms: Some(100),
        });
        d.lines.push(Line {
            kind: "Container".into(),
            name: "p-web-1".into(),
            action: "Starting".into(),
            since: Instant::now(),
            took_ms: None,
        });
        let rows = d.render(60);
        assert_eq!(rows[0], "[+] Running 1/2");
        assert!(rows[1].contains("✔") && rows[1].contains("Network p_default  Created"));
        assert!(rows[1].ends_with("0.1s"), "{:?}", rows[1]);
        assert!(
            rows[2].contains("⠋ Container p-web-1  Starting"),
            "{:?}",
            rows[2]
        );
    }
}
