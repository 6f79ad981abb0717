//! The small HTTP vocabulary the API server speaks: JSON bodies, errors with a status, streamed
//! bodies fed from a channel.

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use serde::Serialize;
use std::collections::HashMap;
use tokio::sync::mpsc;

pub type Body = BoxBody<Bytes, std::io::Error>;
pub type Reply = Response<Body>;

/// An error the API reports: a status and a message the CLI prints as it is.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

/// A stack file that does not load is the caller's to fix: 400 with the loader's message
/// (file, line and column).
impl From<berth_compose::LoadError> for ApiError {
    fn from(e: berth_compose::LoadError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::internal(e.to_string())
    }
}

pub type ApiResult = Result<Reply, ApiError>;

pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn json<T: Serialize>(value: &T) -> ApiResult {
    let data = serde_json::to_vec(value).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(full(data))
        .expect("valid response"))
}

pub fn empty() -> ApiResult {
    Ok(Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(full(Bytes::new()))
        .expect("valid response"))
}

pub fn error_reply(e: ApiError) -> Reply {
    let body = serde_json::json!({ "message": e.message }).to_string();
    Response::builder()
        .status(e.status)
        .header("content-type", "application/json")
        .body(full(body))
        .expect("valid response")
}

/// A streamed body: the returned sender feeds it; dropping the sender ends it.
pub fn channel(content_type: &str) -> (mpsc::Sender<Bytes>, Reply) {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok(Frame::data(b)), rx))
    });
    let body = StreamBody::new(stream).boxed();
    (
        tx,
        Response::builder()
            .header("content-type", content_type)
            .body(body)
            .expect("valid response"),
    )
}

/// Query parameters; repeated keys keep every value.
#[derive(Debug, Default)]
pub struct Query(pub HashMap<String, Vec<String>>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.entry(decode(k)).or_default().push(decode(v));
        }
        Query(map)
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).and_then(|v| v.first()).map(String::as_str)
    }
    pub fn all(&self, k: &str) -> Vec<String> {
        self.0.get(k).cloned().unwrap_or_default()
    }
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("1") | Some("true"))
    }
}

/// Percent-decoding for query strings (`+` is a space, as HTML forms and Docker's client send).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encoding of a query value (the CLI's client has its own; this one is for tests).
#[cfg(test)]
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trip() {
        let v = "CMD [\"echo\", \"a b\"]&x=%";
        let q = Query::parse(Some(&format!("change={}&change=two&f=1", encode(v))));
        assert_eq!(q.all("change"), vec![v.to_string(), "two".to_string()]);
        assert!(q.flag("f"));
        assert_eq!(decode("a%2"), "a%2");
    }
}
