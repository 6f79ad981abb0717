//! The client side of attaching to a container's shim: output frames to our stdout/stderr,
//! our stdin and terminal size to the container, signals forwarded (Docker's sig-proxy).

use crate::client::Client;
use berth_engine::runtime::{attach, terminal};
use nix::sys::signal::{SigSet, Signal};
use std::io::Write;
use std::os::unix::net::UnixStream;

pub fn attach(
    c: &Client,
    id: &str,
    sock: &str,
    stdin_open: bool,
    tty: bool,
) -> anyhow::Result<i32> {
    let mut stream =
        UnixStream::connect(sock).map_err(|e| anyhow::anyhow!("attaching to {sock}: {e}"))?;
    // Block the signals we forward before any thread exists, so only the signal thread sees them.
    let mut sigs = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGWINCH,
    ] {
        sigs.add(s);
    }
    sigs.thread_block()?;
    let interactive_tty = tty && nix::unistd::isatty(0).unwrap_or(false);
    let raw = if interactive_tty {
        terminal::RawMode::enable(0)
    } else {
        None
    };
    if tty {
        if let Some((rows, cols)) = terminal::size(1).or_else(|| terminal::size(0)) {
            let _ = attach::write_frame(&mut stream, attach::RESIZE, &resize_payload(rows, cols));
        }
    }
    {
        let mut s = stream.try_clone()?;
        let cid = id.to_string();
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
    if stdin_open {
        let mut s = stream.try_clone()?;
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            let stdin = std::io::stdin();
            loop {
                match std::io::Read::read(&mut stdin.lock(), &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if attach::write_frame(&mut s, attach::STDIN, &buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = attach::write_frame(&mut s, attach::CLOSE_STDIN, &[]);
        });
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
                return Ok(c.parse().unwrap_or(126));
            }
            _ => {}
        }
    }
    drop(raw);
    match code {
        Some(c) => Ok(c),
        None => {
            // The shim went away without a word (killed?): ask the daemon how it ended.
            let v = c.post(&format!("/containers/{id}/wait"), None)?;
            Ok(v["StatusCode"].as_i64().unwrap_or(255) as i32)
        }
    }
}

fn resize_payload(rows: u16, cols: u16) -> [u8; 4] {
    let (r, c) = (rows.to_be_bytes(), cols.to_be_bytes());
    [r[0], r[1], c[0], c[1]]
}
