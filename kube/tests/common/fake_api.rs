//! A fake Kubernetes API server for tests: it records every request and answers as the API
//! server would (server-side apply echoes the object; list answers from a fixed set; delete
//! succeeds). It runs on a thread of its own, so sync and async tests can use it.

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

/// Objects the fake server lists, by URL path of the collection.
pub type Listed = HashMap<String, Vec<&'static str>>;

pub struct Fake {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

pub fn serve(listed: Listed) -> Fake {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", std_listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(vec![]));
    let (log, listed) = (seen.clone(), Arc::new(listed));
    // Its own thread and runtime: it outlives no test process, and serves sync tests too.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(serve_on(std_listener, log, listed));
    });
    Fake { url, seen }
}

async fn serve_on(
    std_listener: std::net::TcpListener,
    log: Arc<Mutex<Vec<Seen>>>,
    listed: Arc<Listed>,
) {
    let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
    {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (log, listed) = (log.clone(), listed.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (log, listed) = (log.clone(), listed.clone());
                    async move {
                        let method = req.method().to_string();
                        let path = req.uri().path().to_string();
                        let query = req.uri().query().unwrap_or_default().to_string();
                        let content_type = req
                            .headers()
                            .get("content-type")
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default();
                        let raw = req.into_body().collect().await.unwrap().to_bytes();
                        let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                        log.lock().unwrap().push(Seen {
                            method: method.clone(),
                            path: path.clone(),
                            query,
                            content_type,
                            body: body.clone(),
                        });
                        let answer = match method.as_str() {
                            "PATCH" => body,
                            "GET" => {
                                let items: Vec<Value> = listed
                                    .get(&path)
                                    .into_iter()
                                    .flatten()
                                    .map(|n| json!({"metadata": {"name": n, "namespace": "team"}}))
                                    .collect();
                                json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items})
                            }
                            _ => {
                                json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Success"})
                            }
                        };
                        Ok::<_, hyper::Error>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(answer.to_string())))
                                .unwrap(),
                        )
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    }
}

/// A kubeconfig whose context `fake` points at the fake server with namespace `team`.
pub fn kubeconfig(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let p = dir.join("config");
    std::fs::write(
        &p,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: other\nclusters:\n- name: fake\n  cluster: {{server: '{url}'}}\n- name: other\n  cluster: {{server: 'http://127.0.0.1:9'}}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: me, namespace: team}}\n- name: other\n  context: {{cluster: other, user: me}}\nusers:\n- name: me\n  user: {{token: t0ken}}\n"
        ),
    )
    .unwrap();
    p
}
