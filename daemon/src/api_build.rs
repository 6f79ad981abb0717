//! POST /build: Docker's build endpoint (query `t`, `dockerfile`, `buildargs`, `target`,
//! `nocache`, `pull`, `labels`, `networkmode`, `extrahosts`, `shmsize`, `q`, `platform`;
//! the body a context tar, or a bare Dockerfile) plus berth's `context_dir`: a directory on
//! this host the daemon reads in place, the body then being an inline Dockerfile if any.
//! The answer streams Docker's JSON messages: `{"stream"}` progress, `{"aux":{"ID"}}`,
//! `{"error","errorDetail"}`. A client that goes away cancels the build.

use super::build::DaemonHost;
use super::http::{self, ApiError, ApiResult, Query};
use super::Daemon;
use berth_build::context::Context;
use berth_build::{BuildOptions, Progress, ProgressMode};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// Where the build reads from: the context directory (kept, or unpacked for this build and
/// removed after) and the Dockerfile's text and name.
pub struct Source {
    pub context: Option<Context>,
    pub unpacked: Option<PathBuf>,
    pub dockerfile: String,
    pub dockerfile_name: String,
}

impl Drop for Source {
    fn drop(&mut self) {
        if let Some(dir) = &self.unpacked {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub async fn build(d: &Arc<Daemon>, q: &Query, req: Request<Incoming>) -> ApiResult {
    let mut opts = options(q)?;
    if let Some(p) = q.get("platform").filter(|p| !p.is_empty()) {
        if p != "linux/amd64" && p != "linux" {
            return Err(ApiError::bad_request(format!(
                "platform {p} is not supported: this host builds linux/amd64 only"
            )));
        }
    }
    let source = source(d, q, req).await?;
    let file = berth_build::dockerfile::parse(&source.dockerfile, &source.dockerfile_name)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    opts.dockerfile_name = source.dockerfile_name.clone();
    let quiet = q.flag("q") || q.get("progress") == Some("quiet");
    let d = d.clone();
    Ok(stream_build(quiet, move |progress, cancel| async move {
        let built = run(&d, &source, &file, &opts, &progress, cancel).await?;
        Ok(json!({ "aux": { "ID": built.image_id } }))
    }))
}

/// Why a build failed, as the stream's last message carries it.
pub struct Failure {
    pub message: String,
    pub code: Option<i32>,
    /// BuildKit's report: the Dockerfile lines around the failing instruction, then the error.
    pub report: String,
}

impl Failure {
    pub fn plain(message: String) -> Failure {
        Failure {
            report: format!("ERROR: {message}\n"),
            message,
            code: None,
        }
    }
}

/// The answer of a build: `{"stream"}` progress messages, then what `work` returns, or
/// `{"error","errorDetail","report"}`. A client that goes away cancels the work.
pub fn stream_build<F, Fut>(quiet: bool, work: F) -> http::Reply
where
    F: FnOnce(Arc<Progress>, watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Value, Failure>> + Send + 'static,
{
    let (tx, reply) = http::channel("application/json");
    let (msg_tx, mut msg_rx) = mpsc::unbounded_channel::<Value>();
    let (cancel_tx, cancel_rx) = watch::channel(false);
    // Forwards messages to the client; a client gone cancels the build.
    // A client that goes away while a step prints nothing (`RUN sleep 30`) is noticed too:
    // hyper drops the response body, and with it the receiver `closed()` waits for.
    tokio::spawn(async move {
        loop {
            let gone = tokio::select! {
                msg = msg_rx.recv() => match msg {
                    Some(msg) => {
                        let line = Bytes::from(msg.to_string() + "\n");
                        tx.send(line).await.is_err()
                    }
                    None => return,
                },
                _ = tx.closed() => true,
            };
            if gone {
                let _ = cancel_tx.send(true);
                // Keep draining so the build never waits on a full channel.
                while msg_rx.recv().await.is_some() {}
                return;
            }
        }
    });
    let sink = msg_tx.clone();
    let progress = Arc::new(Progress::new(
        if quiet {
            ProgressMode::Quiet
        } else {
            ProgressMode::Plain
        },
        move |text| {
            let _ = sink.send(json!({ "stream": text }));
        },
    ));
    tokio::spawn(async move {
        let last = match work(progress, cancel_rx).await {
            Ok(v) => v,
            Err(f) => {
                tracing::warn!(error = %f.message, "build failed");
                json!({
                    "error": f.message,
                    "errorDetail": { "message": f.message, "code": f.code },
                    "report": f.report,
                })
            }
        };
        let _ = msg_tx.send(last);
    });
    reply
}

/// One Dockerfile build on this daemon.
pub async fn run(
    d: &Arc<Daemon>,
    source: &Source,
    file: &berth_build::dockerfile::Dockerfile,
    opts: &BuildOptions,
    progress: &Progress,
    cancel: watch::Receiver<bool>,
) -> Result<berth_build::Built, Failure> {
    let host = DaemonHost::new(d.clone(), cancel)
        .map_err(|e| Failure::plain(format!("preparing the build: {e}")))?;
    match berth_build::build(&host, file, source.context.as_ref(), opts, progress).await {
        Ok(built) => {
            tracing::info!(image = %built.image_id, run = built.steps_run, cached = built.steps_cached, "built image");
            Ok(built)
        }
        Err(e) => Err(Failure {
            report: berth_build::report::error_report(
                &source.dockerfile_name,
                &source.dockerfile,
                &e,
            ),
            message: e.message,
            code: e.exit_code,
        }),
    }
}

fn options(q: &Query) -> Result<BuildOptions, ApiError> {
    let json_map = |key: &str| -> Result<BTreeMap<String, Option<String>>, ApiError> {
        match q.get(key).filter(|s| !s.is_empty()) {
            None => Ok(BTreeMap::new()),
            Some(s) => serde_json::from_str(s)
                .map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}"))),
        }
    };
    let labels = json_map("labels")?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    let shm_size = match q.get("shmsize").filter(|s| !s.is_empty() && *s != "0") {
        Some(s) => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid shmsize {s}")))?,
        ),
        None => None,
    };
    Ok(BuildOptions {
        tags: q.all("t").into_iter().filter(|t| !t.is_empty()).collect(),
        build_args: json_map("buildargs")?,
        target: q.get("target").filter(|t| !t.is_empty()).map(String::from),
        no_cache: q.flag("nocache"),
        pull: q.flag("pull"),
        labels,
        network: q.get("networkmode").filter(|n| !n.is_empty()).map(|n| {
            if n == "bridge" {
                "default".into()
            } else {
                n.to_string()
            }
        }),
        extra_hosts: q
            .get("extrahosts")
            .map(|h| {
                h.split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
        shm_size,
        ..Default::default()
    })
}

async fn source(d: &Arc<Daemon>, q: &Query, req: Request<Incoming>) -> Result<Source, ApiError> {
    let dockerfile_param = q.get("dockerfile").filter(|f| !f.is_empty());
    if let Some(dir) = q.get("context_dir").filter(|c| !c.is_empty()) {
        let dir = PathBuf::from(dir);
        let context = Context::open(&dir).map_err(|e| {
            ApiError::bad_request(format!("unable to prepare context: {}: {e}", dir.display()))
        })?;
        let inline = super::api::read_body(req).await?;
        let (dockerfile, name) = if !inline.is_empty() {
            (
                String::from_utf8_lossy(&inline).into_owned(),
                dockerfile_param.unwrap_or("Dockerfile").to_string(),
            )
        } else {
            read_dockerfile(&dir, dockerfile_param)?
        };
        return Ok(Source {
            context: Some(context),
            unpacked: None,
            dockerfile,
            dockerfile_name: name,
        });
    }
    // A body: a context tar (maybe compressed), or a bare Dockerfile (`build - < Dockerfile`).
    let upload = super::api::spool(d, req).await?;
    let mut head = [0u8; 512];
    let n = std::io::Read::read(
        &mut std::fs::File::open(upload.path()).map_err(|e| ApiError::internal(e.to_string()))?,
        &mut head,
    )
    .unwrap_or(0);
    let is_archive = head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (n >= 262 && &head[257..262] == b"ustar");
    if !is_archive {
        let text = std::fs::read_to_string(upload.path())
            .map_err(|e| ApiError::bad_request(format!("reading the Dockerfile: {e}")))?;
        // As Docker: the context of a Dockerfile sent alone is empty (`COPY . /app` copies
        // nothing, `COPY x /` does not find x).
        let dir = d
            .images
            .tmp
            .join(format!("context-{}", berth_engine::fsutil::new_id()));
        std::fs::create_dir_all(&dir).map_err(|e| ApiError::internal(e.to_string()))?;
        let context = Context::open(&dir).map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            ApiError::internal(e.to_string())
        })?;
        return Ok(Source {
            context: Some(context),
            unpacked: Some(dir),
            dockerfile: text,
            dockerfile_name: dockerfile_param.unwrap_or("Dockerfile").to_string(),
        });
    }
    let dir = d
        .images
        .tmp
        .join(format!("context-{}", berth_engine::fsutil::new_id()));
    let archive = upload.path().to_path_buf();
    let target = dir.clone();
    tokio::task::spawn_blocking(move || unpack_context(&archive, &target))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            ApiError::bad_request(format!("unpacking the build context: {e}"))
        })?;
    let mut source = Source {
        context: None,
        unpacked: Some(dir.clone()),
        dockerfile: String::new(),
        dockerfile_name: String::new(),
    };
    let (text, name) = read_dockerfile(&dir, dockerfile_param)?;
    source.dockerfile = text;
    source.dockerfile_name = name;
    source.context = Some(
        Context::open(&dir)
            .map_err(|e| ApiError::bad_request(format!("the build context: {e}")))?,
    );
    Ok(source)
}

/// The Dockerfile `param` names (relative to the context, or absolute on this host), or the
/// context's `Dockerfile`.
pub fn read_dockerfile(dir: &Path, param: Option<&str>) -> Result<(String, String), ApiError> {
    let name = param.unwrap_or("Dockerfile");
    let path = if Path::new(name).is_absolute() {
        PathBuf::from(name)
    } else {
        dir.join(name)
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ApiError::bad_request(format!(
            "failed to read dockerfile: open {}: {}",
            path.display(),
            berth_engine::fsutil::io_error_text(&e)
        ))
    })?;
    let shown = Path::new(name)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string());
    Ok((text, shown))
}

fn unpack_context(archive: &Path, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = std::io::BufReader::new(std::fs::File::open(archive)?);
    let mut head = [0u8; 4];
    std::io::Read::read(&mut std::fs::File::open(archive)?, &mut head)?;
    let reader: Box<dyn std::io::Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(file))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::new(file)?)
    } else {
        Box::new(file)
    };
    let mut tar = tar::Archive::new(reader);
    tar.set_preserve_permissions(true);
    tar.set_preserve_ownerships(true);
    tar.unpack(dir)
}
