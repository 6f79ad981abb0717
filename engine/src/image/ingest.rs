//! Images coming in: a manifest whose blobs were stored (pull, load, build), and a root
//! filesystem tar made a one-layer image (`image import`).

use super::*;

impl ImageStore {
    /// Records the image whose manifest is `manifest` (an OCI or Docker v2 schema 2 image
    /// manifest; its config and layer blobs must be stored already), unpacking its layers.
    /// Each reference with a tag becomes a tag; each with only a digest (which must be the
    /// manifest's) is recorded as a RepoDigest. Returns the image id (config digest).
    pub fn put_image(
        &mut self,
        manifest: &[u8],
        references: &[Reference],
    ) -> Result<String, ImageError> {
        self.store_image(manifest, references, None)
    }

    /// [`ImageStore::put_image`], recording what a build step made the image from and, when
    /// given, the step's cache key (both in the same index write).
    pub(super) fn store_image(
        &mut self,
        manifest: &[u8],
        references: &[Reference],
        built: Option<(&Option<String>, &Option<String>)>,
    ) -> Result<String, ImageError> {
        let manifest_digest = sha256_digest(manifest);
        let bad = |reason: String| ImageError::InvalidManifest {
            digest: manifest_digest.clone(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(manifest).map_err(|e| bad(e.to_string()))?;
        if value.get("manifests").is_some() {
            return Err(bad(
                "is an image index, not an image manifest: select a platform first".into(),
            ));
        }
        let parsed: ImageManifest =
            serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        let config_digest = parsed.config().digest().to_string();
        let config = self.read_config(&config_digest)?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != parsed.layers().len() {
            return Err(bad(format!(
                "{} layers but the config lists {} diff ids",
                parsed.layers().len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        let mut unpacked_now = Vec::new();
        for (desc, diff_id) in parsed.layers().iter().zip(diff_ids) {
            let blob = desc.digest().to_string();
            if !self.layers.exists(diff_id) {
                let unpacked = self
                    .blobs
                    .open(&blob)
                    .and_then(|f| self.layers.unpack(diff_id, io::BufReader::new(f)));
                if let Err(e) = unpacked {
                    // Lower layers unpacked for this image are of no use without it.
                    self.drop_unreferenced(&[], &unpacked_now);
                    return Err(e);
                }
                unpacked_now.push(diff_id.clone());
            }
            layers.push(LayerRef {
                blob,
                diff_id: diff_id.clone(),
            });
        }
        if !self.blobs.exists(&manifest_digest) {
            self.blobs.put(Some(&manifest_digest), manifest)?;
        }
        let mut record = self
            .index
            .images
            .get(&manifest_digest)
            .cloned()
            .unwrap_or(ImageRecord {
                config: config_digest.clone(),
                layers,
                repo_digests: Vec::new(),
                last_tag_time: None,
                parent: None,
            });
        let mut tags = Vec::new();
        for r in references {
            match (r.tag(), r.digest()) {
                (Some(tag), _) => tags.push(r.with_tag(tag)?),
                (None, Some(d)) if d == manifest_digest => {
                    let s = r.to_string();
                    if !record.repo_digests.contains(&s) {
                        record.repo_digests.push(s);
                    }
                }
                (None, Some(d)) => {
                    return Err(ImageError::DigestMismatch {
                        expected: d.to_string(),
                        actual: manifest_digest.clone(),
                    })
                }
                (None, None) => {}
            }
        }
        if !tags.is_empty() {
            record.last_tag_time = Some(now());
        }
        let old_cache = self.index.build_cache.clone();
        if let Some((parent, cache_key)) = built {
            record.parent.clone_from(parent);
            if let Some(key) = cache_key {
                self.index
                    .build_cache
                    .insert(key.clone(), manifest_digest.clone());
            }
        }
        let previous = self.index.images.insert(manifest_digest.clone(), record);
        let old_tags = self.index.tags.clone();
        for t in &tags {
            // A tag that pointed elsewhere moves; the old image stays, untagged, as in Docker.
            self.index
                .tags
                .insert(t.to_string(), manifest_digest.clone());
        }
        if let Err(e) = self.save_index() {
            // Keep memory and disk in agreement.
            self.index.tags = old_tags;
            self.index.build_cache = old_cache;
            match previous {
                Some(p) => self.index.images.insert(manifest_digest.clone(), p),
                None => self.index.images.remove(&manifest_digest),
            };
            return Err(e);
        }
        tracing::info!(image = %config_digest, manifest = %manifest_digest, tags = ?tags.iter().map(|t| t.familiar()).collect::<Vec<_>>(), "stored image");
        Ok(config_digest)
    }

    /// Imports a root filesystem tar (plain, gzip or zstd) as a one-layer image, like
    /// `docker import`; `changes` are Dockerfile lines (CMD, ENTRYPOINT, ENV, ...).
    pub fn import(
        &mut self,
        tar: impl Read,
        reference: Option<&str>,
        changes: &[String],
    ) -> Result<ImageSummary, ImageError> {
        let reference = match reference {
            Some(r) => Some(tag_reference(r)?),
            None => None,
        };
        let mut config = Config::default();
        for change in changes {
            changes::apply_changes(&mut config, std::slice::from_ref(change)).map_err(
                |source| ImageError::Change {
                    change: change.clone(),
                    source,
                },
            )?;
        }
        let decompressed = blobs::decompress(tar).map_err(ImageError::ReadArchive)?;
        let (diff_id, layer_size) = self.blobs.put(None, decompressed)?;
        let result = self.import_with_layer(&diff_id, layer_size, config, reference);
        if result.is_err() {
            self.drop_unreferenced(
                std::slice::from_ref(&diff_id),
                std::slice::from_ref(&diff_id),
            );
        }
        result
    }

    pub(super) fn import_with_layer(
        &mut self,
        diff_id: &str,
        layer_size: u64,
        config: Config,
        reference: Option<Reference>,
    ) -> Result<ImageSummary, ImageError> {
        let created = now();
        let image_config = ImageConfigurationBuilder::default()
            .created(created.clone())
            .architecture(Arch::default())
            .os(Os::Linux)
            .config(config)
            .rootfs(
                RootFsBuilder::default()
                    .typ("layers")
                    .diff_ids(vec![diff_id.to_string()])
                    .build()
                    .map_err(internal)?,
            )
            .history(vec![HistoryBuilder::default()
                .created(created)
                .created_by("berth import")
                .comment("Imported from -")
                .build()
                .map_err(internal)?])
            .build()
            .map_err(internal)?;
        let config_bytes = serde_json::to_vec(&image_config).map_err(internal)?;
        let (config_digest, config_size) = self.blobs.put(None, config_bytes.as_slice())?;
        let manifest = build_manifest(
            (config_digest.as_str(), config_size),
            &[(diff_id.to_string(), layer_size, Compression::None)],
        )?;
        let refs: Vec<Reference> = reference.into_iter().collect();
        let result = self.put_image(&manifest, &refs);
        if result.is_err() {
            self.drop_unreferenced(&[config_digest], &[]);
        }
        result?;
        self.summary(&sha256_digest(&manifest))
    }
}

/// An OCI image manifest for a config and layers (digest, size, compression), as bytes.
pub(super) fn build_manifest(
    config: (&str, u64),
    layers: &[(String, u64, Compression)],
) -> Result<Vec<u8>, ImageError> {
    let digest = |d: &str| {
        Digest::from_str(d).map_err(|_| ImageError::InvalidDigest {
            digest: d.to_string(),
        })
    };
    let layer_descs = layers
        .iter()
        .map(|(d, size, c)| {
            Ok(Descriptor::new(
                MediaType::from(c.media_type()),
                *size,
                digest(d)?,
            ))
        })
        .collect::<Result<Vec<_>, ImageError>>()?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config.1,
            digest(config.0)?,
        ))
        .layers(layer_descs)
        .build()
        .map_err(internal)?;
    serde_json::to_vec(&manifest).map_err(internal)
}
