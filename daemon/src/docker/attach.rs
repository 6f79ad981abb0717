//! Attaching to a container's process, and starting one with clients attached.
//!
//! The shim holds the process's stdio and serves it on its attach socket with berth's own
//! framing (`berth_engine::runtime::attach`); this room relays that to a hijacked Docker
//! connection: output as the multiplexed stream (raw with a terminal), the client's bytes as
//! stdin. `docker run` attaches *before* it starts the container, so an attach to a
//! container that is not running waits here until the start, which then asks the shim to
//! hold the process until it is attached (`wait_attach`): not a byte of output is lost.

use super::super::containers::Ctr;
use super::super::http::{ApiError, ApiResult, Query};
use super::stream::{self, Conn, STDERR, STDOUT};
use super::{flag, Door};
use berth_engine::container::Status;
use berth_engine::runtime::attach as frames;
use hyper::body::Incoming;
use hyper::Request;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;

/// Attach requests waiting for their container's start: container id -> where to hand the
/// shim connection.
#[derive(Default)]
pub struct Pending(Mutex<HashMap<String, Vec<oneshot::Sender<UnixStream>>>>);

impl Pending {
    fn add(&self, id: &str) -> oneshot::Receiver<UnixStream> {
        let (tx, rx) = oneshot::channel();
        let mut map = self.0.lock().expect("attach map");
        // Clients that went away meanwhile, for this container and for any never started.
        map.retain(|_, list| {
            list.retain(|t| !t.is_closed());
            !list.is_empty()
        });
        map.entry(id.to_string()).or_default().push(tx);
        rx
    }

    fn take(&self, id: &str) -> Vec<oneshot::Sender<UnixStream>> {
        let mut list = self
            .0
            .lock()
            .expect("attach map")
            .remove(id)
            .unwrap_or_default();
        list.retain(|t| !t.is_closed());
        list
    }
}

/// Starts the container; attach requests waiting for it get their connections first.
pub async fn start(door: &Door, ctr: &Arc<Ctr>) -> Result<(), ApiError> {
    let waiting = door.attaches.take(&ctr.id);
    let started = door.d.containers.start(ctr, !waiting.is_empty()).await?;
    for tx in waiting {
        match UnixStream::connect(&started.attach_socket).await {
            Ok(s) => {
                let _ = tx.send(s);
            }
            Err(e) => tracing::warn!(container = %ctr.id, error = %e, "attaching a waiting client"),
        }
    }
    Ok(())
}

/// `POST /containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1&logs=1`.
pub async fn attach(
    door: &Arc<Door>,
    ctr: &Arc<Ctr>,
    q: &Query,
    req: Request<Incoming>,
) -> ApiResult {
    let (tty, open_stdin, status) = {
        let r = ctr.rec.lock().await;
        (r.config.tty, r.config.open_stdin, r.state.status)
    };
    let want_stream = flag(q, "stream");
    let (want_out, want_err) = (flag(q, "stdout"), flag(q, "stderr"));
    let want_in = flag(q, "stdin") && open_stdin;
    let logs = flag(q, "logs");
    if !want_stream && !logs {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let (reply, conn) = stream::hijack(req, tty);
    let door = door.clone();
    let ctr = ctr.clone();
    // Registered now, before the client can send its start.
    let shim = if want_stream && !matches!(status, Status::Running | Status::Paused) {
        Some(door.attaches.add(&ctr.id))
    } else {
        None
    };
    tokio::spawn(async move {
        let Some(mut conn) = conn.await else { return };
        if logs {
            let path = door.d.containers.layout(&ctr.id).log();
            let entries = tokio::task::spawn_blocking(move || {
                berth_engine::runtime::logs::read_all(&path, None)
            })
            .await
            .unwrap_or_default();
            for e in entries {
                let s = if e.stream == "stderr" { STDERR } else { STDOUT };
                if (s == STDOUT && want_out) || (s == STDERR && want_err) {
                    conn.send(tty, s, e.log.as_bytes()).await;
                }
            }
        }
        if !want_stream {
            conn.close().await;
            return;
        }
        let socket = match shim {
            Some(rx) => match rx.await {
                Ok(s) => s,
                Err(_) => return conn.close().await,
            },
            None => {
                let path = door.d.containers.layout(&ctr.id).attach_socket();
                match UnixStream::connect(&path).await {
                    Ok(s) => s,
                    Err(_) => return conn.close().await,
                }
            }
        };
        relay(conn, socket, tty, want_in, want_out, want_err).await;
    });
    Ok(reply)
}

/// Copies between a hijacked client and the shim's attach socket until the process ends or
/// the client goes.
async fn relay(mut conn: Conn, socket: UnixStream, tty: bool, stdin: bool, out: bool, err: bool) {
    let (mut from_shim, mut to_shim) = socket.into_split();
    let input = conn.input.take();
    let pump_in = async move {
        let Some(mut input) = input.filter(|_| stdin) else {
            // Keep the task alive without input: the output side decides when to end.
            std::future::pending::<()>().await;
            return;
        };
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match input.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_shim
                        .write_all(&frames::encode(frames::STDIN, &buf[..n]))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        // The client closed its side (end of its stdin): so does the container's.
        let _ = to_shim
            .write_all(&frames::encode(frames::CLOSE_STDIN, &[]))
            .await;
        std::future::pending::<()>().await;
    };
    let pump_out = async {
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 32 * 1024];
        loop {
            let n = match from_shim.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            for (kind, payload) in frames::split_frames(&mut buf) {
                match kind {
                    frames::STDOUT | frames::STDERR => {
                        let (wanted, s) = match kind {
                            frames::STDOUT => (out, STDOUT),
                            _ => (err, STDERR),
                        };
                        if wanted && !conn.send(tty, s, &payload).await {
                            return;
                        }
                    }
                    frames::EXIT => return,
                    frames::ERROR => {
                        let text = String::from_utf8_lossy(&payload);
                        let msg = text.split_once(' ').map_or(&*text, |(_, m)| m);
                        conn.send(tty, STDERR, format!("{msg}\n").as_bytes()).await;
                        return;
                    }
                    _ => {}
                }
            }
        }
    };
    tokio::select! {
        _ = pump_in => {}
        _ = pump_out => {}
    }
    conn.close().await;
}

/// `POST /containers/{id}/resize`: the terminal's new size, through the shim.
pub async fn resize(door: &Door, ctr: &Ctr, h: u16, w: u16) -> Result<(), ApiError> {
    let status = ctr.rec.lock().await.state.status;
    if !matches!(status, Status::Running | Status::Paused) {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            ctr.id
        )));
    }
    let path = door.d.containers.layout(&ctr.id).attach_socket();
    let mut s = UnixStream::connect(&path)
        .await
        .map_err(|e| ApiError::internal(format!("reaching the container's terminal: {e}")))?;
    let (hb, wb) = (h.to_be_bytes(), w.to_be_bytes());
    s.write_all(&frames::encode(
        frames::RESIZE,
        &[hb[0], hb[1], wb[0], wb[1]],
    ))
    .await
    .map_err(|e| ApiError::internal(format!("resizing the container's terminal: {e}")))?;
    let _ = s.shutdown().await;
    Ok(())
}
