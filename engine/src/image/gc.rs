//! Space: what `image prune` removes, and the blobs and unpacked layers no image uses any
//! more (after a remove, a failed pull, or a crash while writing).

use super::*;

impl ImageStore {
    /// `docker image prune`: removes untagged (dangling) images, or with `all` every image
    /// whose id is not in `in_use` (the images containers were created from).
    pub fn prune(
        &mut self,
        all: bool,
        in_use: &BTreeSet<String>,
    ) -> Result<PruneReport, ImageError> {
        // What goes is every blob (manifests, configs, layer tars as pulled or loaded) and
        // every unpacked layer no image uses any more: a pulled layer's compressed blob can
        // be far larger than nothing when its unpacked layer is shared with another image.
        let before = self.usage();
        let victims: Vec<String> = self
            .index
            .images
            .iter()
            .filter(|(m, r)| {
                !in_use.contains(&r.config)
                    && (all || (self.tags_of(m).is_empty() && !self.has_children(&r.config)))
            })
            .map(|(_, r)| r.config.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut report = PruneReport::default();
        for id in victims {
            // By id with force: every tag and digest of it goes, as Docker's prune does.
            match self.remove(&id, true) {
                Ok(lines) => report.images_deleted.extend(lines),
                Err(ImageError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        report.space_reclaimed = before.saturating_sub(self.usage());
        Ok(report)
    }

    /// Removes those of `blobs` and layers `diff_ids` no image uses: what a failed pull had
    /// already fetched and unpacked, so that a refused pull leaves the store as it was.
    pub fn discard(&self, blobs: &[String], diff_ids: &[String]) {
        self.drop_unreferenced(blobs, diff_ids);
    }

    /// Bytes of every blob and unpacked layer some image uses.
    pub(super) fn usage(&self) -> u64 {
        let (blobs, layers) = self.referenced();
        let blob_bytes: u64 = blobs.iter().map(|b| self.blobs.size(b).unwrap_or(0)).sum();
        blob_bytes + layers.iter().map(|d| self.layers.size(d)).sum::<u64>()
    }

    /// Blobs and unpacked layers some image in the index uses.
    pub(super) fn referenced(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut blobs = BTreeSet::new();
        let mut diff_ids = BTreeSet::new();
        for (manifest, rec) in &self.index.images {
            blobs.insert(manifest.clone());
            blobs.insert(rec.config.clone());
            for l in &rec.layers {
                blobs.insert(l.blob.clone());
                diff_ids.insert(l.diff_id.clone());
            }
        }
        (blobs, diff_ids)
    }

    /// Deletes those of `blobs` and `diff_ids` no image uses (and only those: a pull may be
    /// putting other blobs meanwhile).
    pub(super) fn drop_unreferenced(&self, blobs: &[String], diff_ids: &[String]) {
        let (used_blobs, used_layers) = self.referenced();
        for b in blobs.iter().filter(|b| !used_blobs.contains(*b)) {
            self.blobs.remove(b);
            self.lock_configs().remove(b);
        }
        for d in diff_ids.iter().filter(|d| !used_layers.contains(*d)) {
            self.layers.remove(d);
        }
    }

    /// Removes every blob and layer no image uses; only safe when no write is under way,
    /// which is the case in `open`.
    pub(super) fn collect_garbage(&self) {
        let (used_blobs, used_layers) = self.referenced();
        for b in self
            .blobs
            .list()
            .into_iter()
            .filter(|b| !used_blobs.contains(b))
        {
            tracing::info!(digest = %b, "removing unreferenced blob");
            self.blobs.remove(&b);
        }
        for d in self
            .layers
            .scan_and_clean()
            .into_iter()
            .filter(|d| !used_layers.contains(d))
        {
            tracing::info!(diff_id = %d, "removing unreferenced layer");
            self.layers.remove(&d);
        }
    }
}
