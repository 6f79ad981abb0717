//! A build step's image: the parent's (or nothing, for `FROM scratch`) plus at most one layer,
//! with the runtime config the step leaves and one more history entry. The config is kept as
//! JSON, so the fields Docker has beyond the OCI image spec (Healthcheck, OnBuild, Shell)
//! survive from parent to child.

use super::blobs::{sha256_digest, Compression};
use super::{build_manifest, internal, now, tag_reference, ImageError, ImageStore, ImageSummary};
use serde_json::{json, Value};
use std::io::Read;
use std::path::Path;

/// One step of a build, as the store records it.
#[derive(Debug, Clone, Default)]
pub struct Derivation<'a> {
    /// The image the step starts from (an id or reference); None for `scratch`.
    pub parent: Option<&'a str>,
    /// An uncompressed layer tar; None for a step that changes only the config.
    pub layer: Option<&'a Path>,
    /// The same layer's files as the overlay upper dir the tar was written from, on the
    /// store's filesystem: moved into the store as the unpacked layer (see
    /// `LayerStore::adopt`) rather than unpacking the tar again. Gone once adopted.
    pub unpacked: Option<&'a Path>,
    /// The runtime config the image ends with (Docker's `config` object: Env, Cmd, ...).
    pub config: Value,
    /// What made it, for `image history` (`RUN /bin/sh -c make`).
    pub created_by: String,
    /// MAINTAINER.
    pub author: Option<String>,
    /// Remembered so that [`ImageStore::cached`] finds this image again by it.
    pub cache_key: Option<String>,
    /// `NAME[:TAG]` to tag the image with.
    pub reference: Option<&'a str>,
}

impl ImageStore {
    /// Stores the image a build step makes; nothing is kept if a step of that fails.
    pub fn derive(&mut self, step: &Derivation) -> Result<ImageSummary, ImageError> {
        let reference = step.reference.map(tag_reference).transpose()?;
        let (mut config, mut layers, parent_id) = match step.parent {
            Some(p) => {
                let (manifest_digest, _) = self.lookup(p)?;
                let record = self.index.images[&manifest_digest].clone();
                let config: Value =
                    serde_json::from_slice(&self.blobs.read(&record.config)?).map_err(internal)?;
                let mut layers = Vec::new();
                for l in &record.layers {
                    let mut head = [0u8; 4];
                    let n = self
                        .blobs
                        .open(&l.blob)?
                        .read(&mut head)
                        .map_err(internal)?;
                    let size = self.blobs.size(&l.blob)?;
                    layers.push((l.blob.clone(), size, Compression::sniff(&head[..n])));
                }
                (config, layers, Some(record.config))
            }
            None => (
                json!({
                    "architecture": "amd64",
                    "os": "linux",
                    "rootfs": { "type": "layers", "diff_ids": [] },
                    "history": [],
                }),
                Vec::new(),
                None,
            ),
        };
        let mut new_blobs = Vec::new();
        if let Some(path) = step.layer {
            let file = std::fs::File::open(path).map_err(ImageError::ReadArchive)?;
            let (diff_id, size) = self.blobs.put(None, std::io::BufReader::new(file))?;
            if let Some(dir) = step.unpacked {
                // Failing that, store_image unpacks the tar as for any image.
                if let Err(e) = self.layers.adopt(&diff_id, dir) {
                    tracing::warn!(diff_id, error = %e, "cannot adopt a build step's files; unpacking its layer");
                }
            }
            push(&mut config, "/rootfs/diff_ids", json!(diff_id));
            layers.push((diff_id.clone(), size, Compression::None));
            new_blobs.push(diff_id);
        }
        let created = now();
        let obj = config
            .as_object_mut()
            .ok_or_else(|| internal("config is not an object"))?;
        // What described the parent's own build does not describe this one.
        obj.remove("container");
        obj.remove("container_config");
        obj.insert("config".into(), step.config.clone());
        obj.insert("created".into(), json!(created));
        if let Some(a) = &step.author {
            obj.insert("author".into(), json!(a));
        }
        let mut entry = json!({ "created": created, "created_by": step.created_by });
        if step.layer.is_none() {
            entry["empty_layer"] = json!(true);
        }
        // BuildKit marks a Dockerfile step's history entry so (`docker history` shows it).
        if step.cache_key.is_some() {
            entry["comment"] = json!("buildkit.dockerfile.v0");
        }
        push(&mut config, "/history", entry);

        let config_bytes = serde_json::to_vec(&config).map_err(internal)?;
        let (config_digest, config_size) = self.blobs.put(None, config_bytes.as_slice())?;
        new_blobs.push(config_digest.clone());
        let manifest = build_manifest((config_digest.as_str(), config_size), &layers)?;
        let refs: Vec<super::Reference> = reference.into_iter().collect();
        let stored = self.store_image(&manifest, &refs, Some((&parent_id, &step.cache_key)));
        if let Err(e) = stored {
            let layer: Vec<String> = step
                .layer
                .map(|_| new_blobs[0].clone())
                .into_iter()
                .collect();
            self.drop_unreferenced(&new_blobs, &layer);
            return Err(e);
        }
        self.summary(&sha256_digest(&manifest))
    }

    /// The image a build step with `key` made earlier, if the store still has it.
    pub fn cached(&self, key: &str) -> Option<String> {
        let manifest = self.index.build_cache.get(key)?;
        self.index.images.get(manifest).map(|r| r.config.clone())
    }

    /// The image's whole config (Docker's image JSON: `config`, `rootfs`, `history`, ...).
    pub fn config_json(&self, reference: &str) -> Result<Value, ImageError> {
        let (manifest, _) = self.lookup(reference)?;
        let digest = self.index.images[&manifest].config.clone();
        Ok((*self.parsed_config(&digest)?.raw).clone())
    }

    /// `builder prune`: forgets every cached step and removes the intermediate images of
    /// builds (untagged images another was built from) that no container in `in_use` uses.
    pub fn prune_build_cache(
        &mut self,
        in_use: &std::collections::BTreeSet<String>,
    ) -> Result<super::PruneReport, ImageError> {
        let old = std::mem::take(&mut self.index.build_cache);
        if let Err(e) = self.save_index() {
            self.index.build_cache = old;
            return Err(e);
        }
        let mut report = super::PruneReport::default();
        let before = self.usage();
        // Removing a leaf step can make its parent a leaf: repeat until nothing goes.
        loop {
            let victims: Vec<String> = self
                .index
                .images
                .iter()
                .filter(|(m, r)| {
                    // A step has a parent, except the first one of a `FROM scratch` stage:
                    // that one is known by its cache entry.
                    let built = r.parent.is_some() || old.values().any(|c| c == *m);
                    built && self.tags_of(m).is_empty() && !in_use.contains(&r.config)
                })
                .map(|(_, r)| r.config.clone())
                .collect();
            if victims.is_empty() {
                break;
            }
            for id in victims {
                report.images_deleted.extend(self.remove(&id, true)?);
            }
        }
        report.space_reclaimed = before.saturating_sub(self.usage());
        Ok(report)
    }
}

fn push(config: &mut Value, pointer: &str, item: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    let holder = if parent.is_empty() {
        Some(&mut *config)
    } else {
        config.pointer_mut(parent)
    };
    if let Some(obj) = holder.and_then(Value::as_object_mut) {
        let list = obj.entry(key).or_insert_with(|| json!([]));
        if !list.is_array() {
            *list = json!([]);
        }
        if let Some(a) = list.as_array_mut() {
            a.push(item);
        }
    }
}
