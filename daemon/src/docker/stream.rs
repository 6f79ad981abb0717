//! The two ways Docker streams a container's bytes, shared by attach, logs and exec:
//!
//! - the multiplexed framing used when the process has no terminal: each chunk is prefixed
//!   by 8 bytes, `[stream, 0, 0, 0, size as u32 big-endian]`, stream 1 stdout and 2 stderr
//!   (moby's stdcopy); with a terminal the bytes go raw.
//! - the hijacked connection of attach and exec start: the client asks to upgrade
//!   (`Connection: Upgrade`, `Upgrade: tcp`), the answer is `101 UPGRADED`, and from then on
//!   the socket carries the output one way and the client's stdin the other. A client that
//!   does not ask to upgrade gets the output as a plain streamed body instead (dockerd
//!   hijacks the connection either way; curl users see the same bytes).

use super::super::http::{self, Reply};
use bytes::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// One frame of the multiplexed stream.
pub fn frame(stream: u8, data: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&[stream, 0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    Bytes::from(v)
}

/// The content type Docker names each framing with.
pub fn content_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

pub type Input = Pin<Box<dyn AsyncRead + Send>>;
pub type Output = Pin<Box<dyn AsyncWrite + Send>>;

/// A hijacked connection: the client's input (None when it did not upgrade) and where the
/// output goes.
pub struct Conn {
    pub input: Option<Input>,
    pub output: Output,
}

impl Conn {
    /// Writes `data` as `stream` (framed unless `tty`); false once the client is gone.
    pub async fn send(&mut self, tty: bool, stream: u8, data: &[u8]) -> bool {
        let ok = if tty {
            self.output.write_all(data).await
        } else {
            self.output.write_all(&frame(stream, data)).await
        };
        ok.is_ok() && self.output.flush().await.is_ok()
    }

    /// Ends the output (the client sees end of stream).
    pub async fn close(mut self) {
        let _ = self.output.shutdown().await;
    }
}

/// Answers `req` by hijacking its connection. Returns the reply to send, and a future that
/// yields the connection once the reply is on its way (None if the client went away).
pub fn hijack<B: Send + 'static>(
    req: Request<B>,
    tty: bool,
) -> (
    Reply,
    Pin<Box<dyn std::future::Future<Output = Option<Conn>> + Send>>,
) {
    let upgrade = req
        .headers()
        .get(hyper::header::UPGRADE)
        .is_some_and(|v| !v.is_empty());
    if upgrade {
        let reply = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(hyper::header::CONNECTION, "Upgrade")
            .header(hyper::header::UPGRADE, "tcp")
            .header(hyper::header::CONTENT_TYPE, content_type(tty))
            .body(http::full(Bytes::new()))
            .expect("valid response");
        let fut = async move {
            let upgraded = hyper::upgrade::on(req).await.ok()?;
            let (r, w) = tokio::io::split(TokioIo::new(upgraded));
            Some(Conn {
                input: Some(Box::pin(r) as Input),
                output: Box::pin(w) as Output,
            })
        };
        return (reply, Box::pin(fut));
    }
    // No upgrade asked for: the output as the response body, through an in-memory pipe.
    let (tx, mut reply) = http::channel(content_type(tty));
    let (writer, mut reader) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    *reply.status_mut() = StatusCode::OK;
    drop(req);
    let fut = async move {
        Some(Conn {
            input: None,
            output: Box::pin(writer) as Output,
        })
    };
    (reply, Box::pin(fut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_as_stdcopy() {
        assert_eq!(
            &frame(STDERR, b"hi")[..],
            &[2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']
        );
    }
}
