//! The client side of attaching to a container's shim: output frames to our stdout/stderr,
//! our stdin and terminal size to the container, signals forwarded (Docker's sig-proxy), and
//! the detach keys (ctrl-p ctrl-q) that leave the container running.

use crate::client::Client;
use berth_engine::runtime::{attach, terminal};
use nix::sys::signal::{SigSet, Signal};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Docker's default detach keys: ctrl-p, ctrl-q.
pub const DEFAULT_DETACH_KEYS: [u8; 2] = [0x10, 0x11];

/// How a client attaches.
pub struct Session<'a> {
    pub id: &'a str,
    /// The shim's attach socket.
    pub sock: &'a str,
    /// Our stdin goes to the container (it has one: `-i`).
    pub stdin: bool,
    pub tty: bool,
    /// Our end of input closes the container's stdin: `run -i` and `start -ai` (Docker's
    /// StdinOnce). A later `attach` leaves it open for the next client, as Docker does.
    pub close_stdin: bool,
    /// Signals we get go to the container (`--sig-proxy`).
    pub sig_proxy: bool,
    /// The key sequence that detaches. Docker reads it from the input of a terminal
    /// container only (a non-tty container's stdin is data, passed on untouched).
    pub detach_keys: Vec<u8>,
}

/// How an attachment ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The container exited with this code (or failed to start: 125-127).
    Exited(i32),
    /// The detach keys were typed; the container runs on.
    Detached,
}

/// Attaches as `run` and `start -a` do: the container's exit code, 0 when detached (Docker's
/// `run -it` and `start -ai` end quietly on the detach keys).
pub fn attach(
    c: &Client,
    id: &str,
    sock: &str,
    stdin_open: bool,
    tty: bool,
) -> anyhow::Result<i32> {
    let session = Session {
        id,
        sock,
        stdin: stdin_open,
        tty,
        close_stdin: true,
        sig_proxy: true,
        detach_keys: DEFAULT_DETACH_KEYS.to_vec(),
    };
    Ok(match session.run(c)? {
        Ended::Exited(code) => code,
        Ended::Detached => 0,
    })
}

impl Session<'_> {
    pub fn run(&self, c: &Client) -> anyhow::Result<Ended> {
        let mut stream = UnixStream::connect(self.sock)
            .map_err(|e| anyhow::anyhow!("attaching to {}: {e}", self.sock))?;
        // Block the signals we handle before any thread exists, so only the signal thread
        // sees them. Without sig-proxy, SIGINT and the rest keep their default: they end this
        // client and leave the container running.
        let mut sigs = SigSet::empty();
        sigs.add(Signal::SIGWINCH);
        if self.sig_proxy {
            for s in [
                Signal::SIGINT,
                Signal::SIGTERM,
                Signal::SIGHUP,
                Signal::SIGQUIT,
                Signal::SIGUSR1,
                Signal::SIGUSR2,
            ] {
                sigs.add(s);
            }
        }
        sigs.thread_block()?;
        let raw = if self.tty && nix::unistd::isatty(0).unwrap_or(false) {
            terminal::RawMode::enable(0)
        } else {
            None
        };
        if self.tty {
            if let Some((rows, cols)) = terminal::size(1).or_else(|| terminal::size(0)) {
                let _ =
                    attach::write_frame(&mut stream, attach::RESIZE, &resize_payload(rows, cols));
            }
        }
        self.forward_signals(stream.try_clone()?, sigs);
        let detached = Arc::new(AtomicBool::new(false));
        if self.stdin {
            let keys = if self.tty {
                self.detach_keys.clone()
            } else {
                Vec::new()
            };
            forward_stdin(
                stream.try_clone()?,
                EscapeProxy::new(keys),
                self.close_stdin,
                detached.clone(),
            );
        }
        let mut code = None;
        while let Ok(Some((kind, payload))) = attach::read_frame(&mut stream) {
            match kind {
                attach::STDOUT => {
                    let mut o = std::io::stdout().lock();
                    let _ = o.write_all(&payload);
                    let _ = o.flush();
                }
                attach::STDERR => {
                    let _ = std::io::stderr().lock().write_all(&payload);
                }
                attach::EXIT => {
                    code = String::from_utf8_lossy(&payload).parse().ok();
                    break;
                }
                attach::ERROR => {
                    let text = String::from_utf8_lossy(&payload).into_owned();
                    let (c, msg) = text.split_once(' ').unwrap_or(("126", &text));
                    drop(raw);
                    eprintln!("berth: failed to start container: {msg}");
                    return Ok(Ended::Exited(c.parse().unwrap_or(126)));
                }
                _ => {}
            }
        }
        drop(raw);
        if detached.load(Ordering::SeqCst) {
            return Ok(Ended::Detached);
        }
        match code {
            Some(c) => Ok(Ended::Exited(c)),
            None => {
                // The shim went away without a word (killed?): ask the daemon how it ended.
                let v = c.post(&format!("/containers/{}/wait", self.id), None)?;
                Ok(Ended::Exited(v["StatusCode"].as_i64().unwrap_or(255) as i32))
            }
        }
    }

    /// A thread that passes terminal size changes on, and with sig-proxy, the signals we
    /// get to the container through the daemon.
    fn forward_signals(&self, mut s: UnixStream, sigs: SigSet) {
        let cid = self.id.to_string();
        let global = crate::cli::current_global();
        std::thread::spawn(move || loop {
            let Ok(sig) = sigs.wait() else { continue };
            if sig == Signal::SIGWINCH {
                if let Some((rows, cols)) = terminal::size(1) {
                    let _ =
                        attach::write_frame(&mut s, attach::RESIZE, &resize_payload(rows, cols));
                }
                continue;
            }
            // The client is not shared across threads; a second connection is cheap.
            if let Ok(c) = Client::connect(&global) {
                let _ = c.post(
                    &format!("/containers/{cid}/kill?signal={}", sig as i32),
                    None,
                );
            }
        });
    }
}

/// A thread that sends our stdin to the container until it ends or the detach keys come;
/// then it shuts the connection down, which ends the output loop.
fn forward_stdin(
    mut s: UnixStream,
    mut escape: EscapeProxy,
    close_stdin: bool,
    detached: Arc<AtomicBool>,
) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        let stdin = std::io::stdin();
        loop {
            let n = match std::io::Read::read(&mut stdin.lock(), &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let (pass, detach) = escape.feed(&buf[..n]);
            if !pass.is_empty() && attach::write_frame(&mut s, attach::STDIN, &pass).is_err() {
                return;
            }
            if detach {
                detached.store(true, Ordering::SeqCst);
                let _ = s.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
        if close_stdin {
            let _ = attach::write_frame(&mut s, attach::CLOSE_STDIN, &[]);
        }
    });
}

/// moby/term's EscapeProxy: input passes through, except that a prefix of the detach
/// sequence is held back until it either completes (detach; nothing of it is sent) or stops
/// matching (the held keys go on, in order).
pub struct EscapeProxy {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeProxy {
    pub fn new(keys: Vec<u8>) -> EscapeProxy {
        EscapeProxy { keys, matched: 0 }
    }

    /// The bytes to send for `input`, and whether the sequence completed (what followed it
    /// in the same read is dropped, as Docker drops it).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b != self.keys[self.matched] && self.matched > 0 {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// Docker's `--detach-keys` (moby/term ToBytes): comma-separated keys, each a single
/// character or `ctrl-a`..`ctrl-z`, `ctrl-@`, `ctrl-[`, `ctrl-\`, `ctrl-]`, `ctrl-^`,
/// `ctrl-_`.
pub fn parse_detach_keys(spec: &str) -> anyhow::Result<Vec<u8>> {
    spec.split(',')
        .map(|key| {
            if key.len() == 1 {
                return Ok(key.as_bytes()[0]);
            }
            let code = key.strip_prefix("ctrl-").and_then(|k| match k.as_bytes() {
                [c @ b'a'..=b'z'] => Some(c - b'a' + 1),
                [b'@'] => Some(0),
                [c @ (b'[' | b'\\' | b']' | b'^' | b'_')] => Some(c - b'[' + 27),
                _ => None,
            });
            code.ok_or_else(|| anyhow::anyhow!("Unknown character: '{key}'"))
        })
        .collect()
}

fn resize_payload(rows: u16, cols: u16) -> [u8; 4] {
    let (r, c) = (rows.to_be_bytes(), cols.to_be_bytes());
    [r[0], r[1], c[0], c[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_as_docker_spells_them() {
        assert_eq!(
            parse_detach_keys("ctrl-p,ctrl-q").unwrap(),
            DEFAULT_DETACH_KEYS
        );
        assert_eq!(
            parse_detach_keys("ctrl-@,ctrl-[,ctrl-_,x").unwrap(),
            [0, 27, 31, b'x']
        );
        assert_eq!(
            parse_detach_keys("bogus").unwrap_err().to_string(),
            "Unknown character: 'bogus'"
        );
        assert!(parse_detach_keys("ctrl-P").is_err());
    }

    #[test]
    fn the_escape_proxy_holds_a_prefix_and_detaches_on_the_whole_sequence() {
        let mut p = EscapeProxy::new(DEFAULT_DETACH_KEYS.to_vec());
        assert_eq!(p.feed(b"ls\n"), (b"ls\n".to_vec(), false));
        // ctrl-p alone is held, then passed on with what broke the sequence.
        assert_eq!(p.feed(&[0x10]), (vec![], false));
        assert_eq!(p.feed(b"x"), (vec![0x10, b'x'], false));
        // ctrl-p ctrl-p: the first goes, the second may still start the sequence.
        assert_eq!(p.feed(&[0x10, 0x10]), (vec![0x10], false));
        assert_eq!(p.feed(&[0x11, b'z']), (vec![], true));
        assert_eq!(p.feed(b"a\x10\x11"), (b"a".to_vec(), true));
        let mut none = EscapeProxy::new(vec![]);
        assert_eq!(none.feed(&[0x10, 0x11]), (vec![0x10, 0x11], false));
    }
}
