//! A new image from an existing one plus one layer: `container commit` (the container's
//! writable layer, see [`super::diff`]) and, later, each step of a build. The parent's layers
//! are shared, not copied; the config is the parent's with the changes applied, one more
//! diff id and one more history entry.

use super::blobs::{sha256_digest, Compression};
use super::{
    build_manifest, changes, internal, now, tag_reference, ImageError, ImageStore, ImageSummary,
};
use oci_spec::image::{HistoryBuilder, ImageManifest};
use std::io::Read;

/// What a commit records besides the layer.
#[derive(Debug, Default, Clone)]
pub struct CommitOptions {
    /// `NAME[:TAG]` to tag the new image with.
    pub reference: Option<String>,
    /// Dockerfile instructions applied to the config (`commit -c`): CMD, ENV, EXPOSE, ...
    pub changes: Vec<String>,
    /// The history entry's comment (`commit -m`).
    pub comment: Option<String>,
    /// The image's author (`commit -a`).
    pub author: Option<String>,
    /// What made the layer, for `image history` (the container's command, a RUN line).
    pub created_by: String,
}

impl ImageStore {
    /// Stores `layer` (an uncompressed layer tar) on top of the image `parent` and records
    /// the new image; returns its summary. Nothing is kept if any step fails.
    pub fn commit(
        &mut self,
        parent: &str,
        layer: impl Read,
        opts: &CommitOptions,
    ) -> Result<ImageSummary, ImageError> {
        let reference = opts.reference.as_deref().map(tag_reference).transpose()?;
        let (manifest_digest, _) = self.lookup(parent)?;
        let parent_manifest: ImageManifest =
            serde_json::from_slice(&self.blobs.read(&manifest_digest)?).map_err(|e| {
                ImageError::InvalidManifest {
                    digest: manifest_digest.clone(),
                    reason: e.to_string(),
                }
            })?;
        let mut config = self.read_config(parent_manifest.config().digest().as_ref())?;
        let mut runtime = config.config().clone().unwrap_or_default();
        for change in &opts.changes {
            changes::apply_changes(&mut runtime, std::slice::from_ref(change)).map_err(
                |source| ImageError::Change {
                    change: change.clone(),
                    source,
                },
            )?;
        }
        let (diff_id, layer_size) = self.blobs.put(None, layer)?;
        let stored = self.record_commit(
            &parent_manifest,
            &mut config,
            runtime,
            &diff_id,
            layer_size,
            opts,
            reference,
        );
        if stored.is_err() {
            self.drop_unreferenced(
                std::slice::from_ref(&diff_id),
                std::slice::from_ref(&diff_id),
            );
        }
        stored
    }

    #[allow(clippy::too_many_arguments)]
    fn record_commit(
        &mut self,
        parent: &ImageManifest,
        config: &mut oci_spec::image::ImageConfiguration,
        runtime: oci_spec::image::Config,
        diff_id: &str,
        layer_size: u64,
        opts: &CommitOptions,
        reference: Option<super::Reference>,
    ) -> Result<ImageSummary, ImageError> {
        let created = now();
        config.set_config(Some(runtime));
        config.set_created(Some(created.clone()));
        config.set_author(opts.author.clone());
        config.rootfs_mut().diff_ids_mut().push(diff_id.to_string());
        let mut history = config.history().clone();
        let mut entry = HistoryBuilder::default()
            .created(created)
            .created_by(opts.created_by.clone());
        if let Some(c) = &opts.comment {
            entry = entry.comment(c.clone());
        }
        if let Some(a) = &opts.author {
            entry = entry.author(a.clone());
        }
        history.push(entry.build().map_err(internal)?);
        config.set_history(history);
        let config_bytes = serde_json::to_vec(&config).map_err(internal)?;
        let (config_digest, config_size) = self.blobs.put(None, config_bytes.as_slice())?;
        // The parent's blobs as they are stored; their compression told by their first
        // bytes, as everywhere in the store (media types lie more often).
        let mut layers = Vec::new();
        for d in parent.layers() {
            let digest = d.digest().to_string();
            let mut head = [0u8; 4];
            let n = self
                .blobs
                .open(&digest)?
                .read(&mut head)
                .map_err(internal)?;
            layers.push((digest, d.size(), Compression::sniff(&head[..n])));
        }
        layers.push((diff_id.to_string(), layer_size, Compression::None));
        let manifest = build_manifest((config_digest.as_str(), config_size), &layers)?;
        let refs: Vec<super::Reference> = reference.into_iter().collect();
        let result = self.put_image(&manifest, &refs);
        if result.is_err() {
            self.drop_unreferenced(&[config_digest], &[]);
        }
        result?;
        self.summary(&sha256_digest(&manifest))
    }
}
