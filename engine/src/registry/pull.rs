//! `pull`: manifest (through an index when there is one), config and layers, each verified by
//! digest while it streams into the blob store, then the image recorded in one step.
//!
//! Blobs go through [`BlobSink`], which writes a temp file and renames it only when the digest
//! matches: a corrupted or truncated blob stores nothing, and the index is written last, so a
//! crash mid-pull leaves only garbage the next open of the store removes.

use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use ureq::BodyReader;

use super::platform::{self, Platform};
use super::transport::{authorized, check_status, connect_error, header, Session};
use super::{short, Progress, ProgressSink, RegistryError};
use crate::image::{BlobSink, ImageError, ImageStore, Reference};

/// Manifests are small; a registry sending more is broken or hostile.
const MANIFEST_LIMIT: u64 = 4 << 20;
/// Whole-blob attempts on a broken connection (each may also resume with Range requests).
const BLOB_ATTEMPTS: u32 = 3;
/// Range resumes within one attempt.
const RESUMES: u32 = 3;

pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

/// What a pull did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PullOutcome {
    /// The image id (config digest).
    pub id: String,
    /// The digest of the manifest (or index) the reference resolved to.
    pub digest: String,
    /// Blobs fetched over the network (0 when everything was present).
    pub fetched: usize,
    /// False when the tag already pointed at this manifest.
    pub updated: bool,
}

pub(crate) fn pull(
    s: &Session,
    store: &Mutex<ImageStore>,
    reference: &Reference,
    platform: &Platform,
    max_concurrent: usize,
    progress: ProgressSink,
) -> Result<PullOutcome, RegistryError> {
    let want = reference
        .digest()
        .or(reference.tag())
        .unwrap_or("latest")
        .to_string();
    let (top_bytes, top_digest) = fetch_manifest(s, reference, &want)?;
    let top: Value = parse_json(reference, &top_bytes)?;
    let (manifest_bytes, manifest_digest) = if is_index(&top) {
        let d = platform::select(&top, platform).ok_or_else(|| RegistryError::NoPlatform {
            reference: reference.familiar(),
            platform: platform.to_string(),
        })?;
        fetch_manifest(s, reference, &d)?
    } else {
        (top_bytes, top_digest.clone())
    };
    let manifest: Value = parse_json(reference, &manifest_bytes)?;
    if manifest["schemaVersion"].as_u64() != Some(2) {
        return Err(RegistryError::Protocol {
            reference: reference.familiar(),
            reason: "only schema 2 manifests (OCI or Docker v2) are supported".into(),
        });
    }
    let descriptor = |v: &Value| -> Result<(String, Option<u64>), RegistryError> {
        let digest = v["digest"]
            .as_str()
            .filter(|d| crate::image::reference::is_sha256_digest(d))
            .ok_or_else(|| RegistryError::Protocol {
                reference: reference.familiar(),
                reason: format!("manifest {manifest_digest}: descriptor without a sha256 digest"),
            })?;
        Ok((digest.to_string(), v["size"].as_u64()))
    };
    let config = descriptor(&manifest["config"])?;
    let layers = manifest["layers"]
        .as_array()
        .map(|l| l.iter().map(descriptor).collect::<Result<Vec<_>, _>>())
        .transpose()?
        .unwrap_or_default();

    let (sink, already) = {
        let guard = store.lock().unwrap_or_else(|p| p.into_inner());
        let tag_ref = reference.tag().map(|_| reference.to_string());
        let already =
            tag_ref.is_some_and(|t| guard.manifest_of(&t).as_deref() == Some(&manifest_digest));
        (guard.blob_sink(), already)
    };

    let mut refs = Vec::new();
    if reference.tag().is_some() {
        refs.push(reference.clone());
    }
    refs.push(
        reference
            .with_digest(&manifest_digest)
            .map_err(ImageError::from)?,
    );

    // The config first: it names each layer's diff id, so that every layer can be unpacked
    // as soon as it is downloaded, in parallel with the other downloads (the unpacking is
    // the larger part of a pull's work, and skopeo-like tools do none of it).
    let mut plan = Plan::default();
    let result = fetch_and_record(
        s,
        store,
        &sink,
        (&config, &layers),
        (&manifest_bytes, &refs),
        max_concurrent,
        progress,
        &mut plan,
    );
    let id = match result {
        Ok(id) => id,
        Err(e) => {
            // What this pull fetched and unpacked goes too: a refused pull leaves the store
            // as it was.
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .discard(&plan.fetched, &plan.unpacked);
            return Err(e);
        }
    };
    for l in plan.tasks.iter().filter(|t| t.download) {
        progress(Progress::layer(&l.blob, "Pull complete"));
    }
    progress(Progress::image(format!("Digest: {top_digest}")));
    let fetched = plan.fetched.len();
    let updated = !already || fetched > 0;
    progress(Progress::image(if updated {
        format!(
            "Status: Downloaded newer image for {}",
            reference.familiar()
        )
    } else {
        format!("Status: Image is up to date for {}", reference.familiar())
    }));
    tracing::info!(reference = %reference, manifest = %manifest_digest, fetched, "pulled image");
    Ok(PullOutcome {
        id,
        digest: top_digest,
        fetched,
        updated,
    })
}

/// One layer's work: download its blob (unless stored), unpack it (unless unpacked).
struct Task {
    blob: String,
    size: Option<u64>,
    diff_id: String,
    download: bool,
}

/// What a pull did so far, to undo on failure.
#[derive(Default)]
struct Plan {
    tasks: Vec<Task>,
    /// Blobs downloaded (or being downloaded) by this pull.
    fetched: Vec<String>,
    /// Layers this pull unpacks (none existed before).
    unpacked: Vec<String>,
}

type Descriptor = (String, Option<u64>);

#[allow(clippy::too_many_arguments)]
fn fetch_and_record(
    s: &Session,
    store: &Mutex<ImageStore>,
    sink: &BlobSink,
    (config, layers): (&Descriptor, &[Descriptor]),
    (manifest, refs): (&[u8], &[Reference]),
    max_concurrent: usize,
    progress: ProgressSink,
    plan: &mut Plan,
) -> Result<String, RegistryError> {
    if !sink.exists(&config.0) {
        plan.fetched.push(config.0.clone());
        download(s, sink, &config.0, config.1, progress)?;
    }
    let config_bytes = sink.read(&config.0)?;
    let diff_ids: Vec<String> = serde_json::from_slice::<Value>(&config_bytes)
        .ok()
        .and_then(|v| {
            v["rootfs"]["diff_ids"].as_array().map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(String::from))
                    .collect()
            })
        })
        .unwrap_or_default();
    if diff_ids.len() != layers.len() {
        return Err(RegistryError::Protocol {
            reference: s.repo.clone(),
            reason: format!(
                "config {} lists {} diff ids for {} layers",
                config.0,
                diff_ids.len(),
                layers.len()
            ),
        });
    }
    for ((blob, size), diff_id) in layers.iter().zip(diff_ids) {
        if plan
            .tasks
            .iter()
            .any(|t| &t.blob == blob || t.diff_id == diff_id)
        {
            continue;
        }
        let download = !sink.exists(blob);
        if download {
            progress(Progress::layer(blob, "Pulling fs layer"));
            plan.fetched.push(blob.clone());
        } else {
            progress(Progress::layer(blob, "Already exists"));
        }
        if !sink.has_layer(&diff_id) {
            plan.unpacked.push(diff_id.clone());
        }
        plan.tasks.push(Task {
            blob: blob.clone(),
            size: *size,
            diff_id,
            download,
        });
    }
    run_tasks(s, sink, &plan.tasks, max_concurrent, progress)?;
    let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
    Ok(guard.put_image(manifest, refs)?)
}

fn parse_json(reference: &Reference, bytes: &[u8]) -> Result<Value, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Protocol {
        reference: reference.familiar(),
        reason: format!("invalid manifest: {e}"),
    })
}

fn is_index(v: &Value) -> bool {
    matches!(
        v["mediaType"].as_str(),
        Some("application/vnd.oci.image.index.v1+json")
            | Some("application/vnd.docker.distribution.manifest.list.v2+json")
    ) || (v.get("manifests").is_some() && v.get("layers").is_none())
}

/// GETs a manifest by tag or digest; returns its bytes and digest. By digest, the content
/// must hash to it; by tag, the registry's `Docker-Content-Digest` must agree with the bytes.
fn fetch_manifest(
    s: &Session,
    reference: &Reference,
    tag_or_digest: &str,
) -> Result<(Vec<u8>, String), RegistryError> {
    let url = s.url(&format!("manifests/{tag_or_digest}"));
    let reply = s.send(&|auth| {
        authorized(s.agent().get(&url), auth)
            .header("Accept", MANIFEST_ACCEPT)
            .call()
    })?;
    if reply.status().as_u16() == 404 {
        return Err(RegistryError::ManifestUnknown {
            reference: format!("{}:{}", reference.familiar_name(), tag_or_digest)
                .replace(":sha256:", "@sha256:"),
        });
    }
    let reply = check_status(&s.registry, "manifest", reply)?;
    let announced = header(&reply, "docker-content-digest");
    let bytes = reply
        .into_body()
        .with_config()
        .limit(MANIFEST_LIMIT)
        .read_to_vec()
        .map_err(|e| connect_error(&s.registry, e))?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    let expected = if tag_or_digest.starts_with("sha256:") {
        Some(tag_or_digest.to_string())
    } else if announced.starts_with("sha256:") {
        Some(announced)
    } else {
        None
    };
    if let Some(e) = expected {
        if e != digest {
            return Err(RegistryError::Image(ImageError::DigestMismatch {
                expected: e,
                actual: digest,
            }));
        }
    }
    Ok((bytes, digest))
}

/// Runs the layer tasks with at most `max` at a time. The first error stops new tasks and is
/// returned once the running ones end.
fn run_tasks(
    s: &Session,
    sink: &BlobSink,
    tasks: &[Task],
    max: usize,
    progress: ProgressSink,
) -> Result<(), RegistryError> {
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<RegistryError>> = Mutex::new(None);
    let run = |t: &Task| -> Result<(), RegistryError> {
        if t.download {
            download(s, sink, &t.blob, t.size, progress)?;
        }
        if !sink.has_layer(&t.diff_id) {
            progress(Progress::layer(&t.blob, "Extracting"));
            sink.unpack_layer(&t.blob, &t.diff_id)?;
        }
        Ok(())
    };
    std::thread::scope(|scope| {
        for _ in 0..max.min(tasks.len()) {
            scope.spawn(|| loop {
                if failed.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(task) = tasks.get(i) else {
                    return;
                };
                if let Err(e) = run(task) {
                    failed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                }
            });
        }
    });
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One blob, retried from the start when the connection breaks in a way a Range request
/// could not mend; a digest mismatch is never retried (the registry would send it again).
fn download(
    s: &Session,
    sink: &BlobSink,
    digest: &str,
    size: Option<u64>,
    progress: ProgressSink,
) -> Result<(), RegistryError> {
    let mut attempt = 1;
    loop {
        let result = download_once(s, sink, digest, size, progress);
        match result {
            Err(RegistryError::Image(ImageError::Io { source, .. })) if attempt < BLOB_ATTEMPTS => {
                tracing::warn!(digest, attempt, error = %source, "blob download broke, restarting it");
                progress(Progress::layer(digest, "Retrying"));
            }
            Err(RegistryError::Connect { reason, .. }) if attempt < BLOB_ATTEMPTS => {
                tracing::warn!(digest, attempt, error = %reason, "blob download failed, retrying");
                progress(Progress::layer(digest, "Retrying"));
            }
            Err(RegistryError::Image(ImageError::Io { source, .. })) => {
                return Err(RegistryError::Blob {
                    digest: digest.to_string(),
                    reason: format!("download failed after {attempt} attempts: {source}"),
                })
            }
            Err(RegistryError::Image(ImageError::DigestMismatch { expected, actual })) => {
                return Err(RegistryError::Blob {
                    digest: digest.to_string(),
                    reason: format!(
                        "content digest mismatch (expected {expected}, got {actual}): refused, nothing stored"
                    ),
                })
            }
            other => return other,
        }
        attempt += 1;
        std::thread::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)));
    }
}

fn download_once(
    s: &Session,
    sink: &BlobSink,
    digest: &str,
    size: Option<u64>,
    progress: ProgressSink,
) -> Result<(), RegistryError> {
    let url = s.url(&format!("blobs/{digest}"));
    let body = open_blob(s, &url, 0)?.ok_or_else(|| RegistryError::Blob {
        digest: digest.to_string(),
        reason: "the registry does not have it (blob unknown)".into(),
    })?;
    let reader = Resuming {
        s,
        url: &url,
        digest,
        body: body.0,
        offset: 0,
        total: size.or(body.1),
        resumes: 0,
        reported: 0,
        progress,
    };
    let stored = sink.put(digest, reader)?;
    if let Some(want) = size {
        if want != stored {
            // Cannot happen with a matching digest unless the manifest lies about the size.
            tracing::warn!(
                digest,
                want,
                stored,
                "blob size differs from its descriptor"
            );
        }
    }
    progress(Progress::layer(digest, "Download complete"));
    Ok(())
}

/// GETs a blob from `offset` (a Range request past 0). None on 404. With a Range, Ok only if
/// the registry answered 206 from exactly there.
fn open_blob(
    s: &Session,
    url: &str,
    offset: u64,
) -> Result<Option<(BodyReader<'static>, Option<u64>)>, RegistryError> {
    let reply = s.send(&|auth| {
        let mut r = authorized(s.agent().get(url), auth);
        if offset > 0 {
            r = r.header("Range", &format!("bytes={offset}-"));
        }
        r.call()
    })?;
    let status = reply.status().as_u16();
    if status == 404 {
        return Ok(None);
    }
    if offset > 0 {
        let range = header(&reply, "content-range");
        let starts_here = range
            .strip_prefix("bytes ")
            .and_then(|r| r.split('-').next())
            .and_then(|n| n.parse::<u64>().ok())
            == Some(offset);
        if status != 206 || !starts_here {
            return Err(RegistryError::Connect {
                registry: s.registry.clone(),
                reason: format!("cannot resume at byte {offset} (status {status})"),
            });
        }
    }
    let reply = check_status(&s.registry, "blob", reply)?;
    let length = header(&reply, "content-length").parse::<u64>().ok();
    Ok(Some((reply.into_body().into_reader(), length)))
}

/// A blob body that, when the connection breaks, asks again from where it stopped (HTTP
/// Range) so a big layer is not fetched twice; it also reports progress.
struct Resuming<'a> {
    s: &'a Session<'a>,
    url: &'a str,
    digest: &'a str,
    body: BodyReader<'static>,
    offset: u64,
    total: Option<u64>,
    resumes: u32,
    reported: u64,
    progress: ProgressSink<'a>,
}

impl Resuming<'_> {
    fn resume(&mut self, cause: io::Error) -> io::Result<()> {
        if self.resumes >= RESUMES {
            return Err(cause);
        }
        self.resumes += 1;
        tracing::warn!(digest = self.digest, offset = self.offset, error = %cause, "blob transfer broke, resuming");
        match open_blob(self.s, self.url, self.offset) {
            Ok(Some((body, _))) => {
                self.body = body;
                Ok(())
            }
            // The registry cannot resume: the caller restarts the blob.
            _ => Err(cause),
        }
    }
}

impl Read for Resuming<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.body.read(buf) {
                Ok(0) if self.total.is_some_and(|t| self.offset < t) => {
                    let e = io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed early");
                    self.resume(e)?;
                }
                Ok(n) => {
                    self.offset += n as u64;
                    if self.offset - self.reported >= 1 << 20 {
                        self.reported = self.offset;
                        (self.progress)(Progress {
                            id: short(self.digest),
                            status: "Downloading".into(),
                            current: Some(self.offset),
                            total: self.total,
                        });
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.resume(e)?,
            }
        }
    }
}
