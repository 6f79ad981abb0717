//! `push`: every blob the registry lacks (HEAD to ask, then a monolithic upload: POST to open
//! an upload session, PUT the whole blob with its digest), then the manifest under the tag.
//! The registry verifies each digest itself; the manifest goes last so that a tag never
//! points at missing content.

use std::sync::Mutex;

use super::transport::{authorized, check_status, header, Session};
use super::{Progress, ProgressSink, RegistryError};
use crate::image::{ImageStore, Reference};

pub(crate) fn push(
    s: &Session,
    store: &Mutex<ImageStore>,
    local: &str,
    target: &Reference,
    progress: ProgressSink,
) -> Result<String, RegistryError> {
    let tag = target.tag().ok_or_else(|| RegistryError::Protocol {
        reference: target.familiar(),
        reason: "push needs a tag, not a digest".into(),
    })?;
    let (source, sink) = {
        let guard = store.lock().unwrap_or_else(|p| p.into_inner());
        (guard.push_source(local)?, guard.blob_sink())
    };
    progress(Progress::image(format!(
        "The push refers to repository [{}]",
        target.name()
    )));
    for (digest, size) in &source.blobs {
        let url = s.url(&format!("blobs/{digest}"));
        let head = s.send(&|auth| authorized(s.agent().head(&url), auth).call())?;
        if head.status().is_success() {
            progress(Progress::layer(digest, "Layer already exists"));
            continue;
        }
        progress(Progress::layer(digest, "Pushing"));
        let start_url = s.url("blobs/uploads/");
        let start = s.send(&|auth| authorized(s.agent().post(&start_url), auth).send_empty())?;
        let start = check_status(&s.registry, "starting blob upload", start)?;
        let location = header(&start, "location");
        if location.is_empty() {
            return Err(RegistryError::Protocol {
                reference: target.familiar(),
                reason: "upload session without a Location".into(),
            });
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let put_url = format!("{}{sep}digest={digest}", s.absolute(&location));
        let path = sink.path(digest)?;
        let put = s.send(&|auth| {
            let file = std::fs::File::open(&path)?;
            authorized(s.agent().put(&put_url), auth)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Length", &size.to_string())
                .send(file)
        })?;
        check_status(&s.registry, &format!("uploading blob {digest}"), put)?;
        progress(Progress::layer(digest, "Pushed"));
    }
    let url = s.url(&format!("manifests/{tag}"));
    let put = s.send(&|auth| {
        authorized(s.agent().put(&url), auth)
            .header("Content-Type", &source.media_type)
            .send(&source.manifest[..])
    })?;
    check_status(&s.registry, "uploading manifest", put)?;
    progress(Progress::image(format!(
        "{tag}: digest: {} size: {}",
        source.digest,
        source.manifest.len()
    )));
    tracing::info!(image = local, target = %target, digest = %source.digest, "pushed image");
    Ok(source.digest)
}
