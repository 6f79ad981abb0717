//! Image store: content-addressed OCI blobs, an index of name:tag -> manifest, and unpacked layers.
//!
//! Layout under the store root:
//!
//! ```text
//! blobs/sha256/<hex>        manifests, configs and layer tars, named by their digest
//! layers/<diff-id hex>/     one unpacked layer, shared by every image using it
//!     diff/                 the overlayfs lower dir
//!     layer.json            its unpacked size
//! tmp/                      blobs being written (emptied on open)
//! index.json                references -> manifest digests, and one record per image
//! ```
//!
//! Every write goes to a temp name, is fsynced and renamed into place, and the index is written
//! last: a crash at any point leaves only unreferenced blobs, layers or temp files, which
//! [`ImageStore::open`] removes. Writers take `&mut self`; the daemon serializes them.
//!
//! Why one long file: the store's invariants (write, fsync, rename, index last; the recovery in
//! `open`) hold across all its operations, so they are read together; tests live in tests.rs.
//!
//! Why one long file: the index and every lookup over it (resolve, tag, remove, list) keep
//! its invariants together; what comes in (ingest.rs), goes (gc.rs), is derived, committed
//! or archived lives next door.

mod archive;
mod blobs;
mod changes;
mod commit;
mod derive;
pub mod diff;
mod extract;
mod gc;
mod ingest;
mod inspect;
mod layers;
pub mod reference;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use oci_spec::image::{
    Arch, Config, Descriptor, Digest, HistoryBuilder, ImageConfiguration,
    ImageConfigurationBuilder, ImageManifest, ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};
use serde::{Deserialize, Serialize};

pub use changes::ChangeError;
pub use commit::CommitOptions;
pub use derive::Derivation;
pub use extract::{extract_layer, ExtractError};
pub use inspect::HistoryEntry;
pub use reference::{Reference, ReferenceError};

use blobs::{sha256_digest, BlobStore, Compression};
use ingest::build_manifest;
use layers::LayerStore;

use crate::fsutil;

const INDEX_FILE: &str = "index.json";
const INDEX_VERSION: u32 = 1;

/// Errors of the image store; each names the image, digest or path concerned.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("no such image: {reference}")]
    NotFound { reference: String },
    #[error("image reference {reference:?} is ambiguous: it matches several images")]
    Ambiguous { reference: String },
    #[error("conflict: unable to delete {id} (must be forced) - image is referenced in multiple repositories")]
    Conflict { id: String },
    #[error("invalid tag {reference:?}: {reason}")]
    InvalidTag {
        reference: String,
        reason: &'static str,
    },
    #[error("invalid digest {digest:?}")]
    InvalidDigest { digest: String },
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("blob {digest} not found")]
    BlobNotFound { digest: String },
    #[error("layer {diff_id} of image is not unpacked")]
    LayerMissing { diff_id: String },
    #[error("layer {diff_id}: {source}")]
    Layer {
        diff_id: String,
        #[source]
        source: ExtractError,
    },
    #[error("invalid manifest {digest}: {reason}")]
    InvalidManifest { digest: String, reason: String },
    #[error("invalid image config {digest}: {reason}")]
    InvalidConfig { digest: String, reason: String },
    #[error("invalid image archive: {reason}")]
    InvalidArchive { reason: String },
    #[error("invalid change {change:?}: {source}")]
    Change {
        change: String,
        #[source]
        source: ChangeError,
    },
    #[error("encoding image metadata: {reason}")]
    Encode { reason: String },
    #[error("reading image archive: {}", fsutil::io_error_text(.0))]
    ReadArchive(#[source] io::Error),
    #[error("writing image archive: {}", fsutil::io_error_text(.0))]
    WriteArchive(#[source] io::Error),
    #[error("{}: {}", path.display(), fsutil::io_error_text(source))]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// One image as `docker image ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    /// The config digest, `sha256:<hex>` (Docker's image id).
    pub id: String,
    /// The manifest digest.
    pub digest: String,
    /// Short names, e.g. `busybox:latest`.
    pub repo_tags: Vec<String>,
    /// Short `name@sha256:...` forms.
    pub repo_digests: Vec<String>,
    /// RFC 3339 creation time from the image config, if it has one.
    pub created: Option<String>,
    /// Bytes of file content over all layers.
    pub size: u64,
    /// The image a build step made this one from, if any (Docker's ParentId).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Untagged, and the parent of another image: a build's intermediate step, which
    /// `image ls` shows only with `-a`.
    pub intermediate: bool,
}

/// What the runtime needs to build a container's rootfs and process.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The config digest, `sha256:<hex>`.
    pub id: String,
    /// The reference it was resolved from, normalized (or the id when resolved by id).
    pub reference: String,
    pub config: ImageConfiguration,
    /// The config as stored, for what oci-spec's type has no field for (Docker's
    /// `config.Healthcheck`).
    pub raw_config: Arc<serde_json::Value>,
    /// Unpacked layer directories, bottom layer first (overlayfs wants the reverse order in
    /// `lowerdir=`: top first). Each directory occurs once: a layer repeated in the image is
    /// kept at its topmost position only, which gives the same merged view.
    pub layers: Vec<PathBuf>,
}

/// The persisted index: tags and per-image records. Written atomically, always last.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    version: u32,
    /// Full reference (`docker.io/library/busybox:latest`) -> manifest digest.
    tags: BTreeMap<String, String>,
    /// Manifest digest -> image.
    images: BTreeMap<String, ImageRecord>,
    /// Build cache: a step's key (see berth-build) -> the manifest digest of its result.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    build_cache: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImageRecord {
    /// Config digest: the image id.
    config: String,
    layers: Vec<LayerRef>,
    /// Full `name@sha256:<manifest>` references the image is known by.
    #[serde(default)]
    repo_digests: Vec<String>,
    /// When a tag last pointed here (Docker's Metadata.LastTagTime).
    #[serde(default)]
    last_tag_time: Option<String>,
    /// The image a build step made this one from (Docker's Parent): untagged parents are the
    /// build's intermediate images, hidden from `image ls` and kept by `image prune`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LayerRef {
    /// Digest of the (possibly compressed) blob.
    blob: String,
    /// Digest of the uncompressed tar.
    diff_id: String,
}

/// A handle on the store's content (blobs and unpacked layers) that writes without the
/// store's lock, so that a pull downloads and unpacks several layers at once while other image
/// commands go on. What is put here and not yet used by an image is garbage the next
/// [`ImageStore::open`] collects (or [`ImageStore::discard`] removes at once).
#[derive(Clone)]
pub struct BlobSink {
    blobs: BlobStore,
    layers: LayerStore,
}

impl BlobSink {
    pub fn exists(&self, digest: &str) -> bool {
        self.blobs.exists(digest)
    }

    /// Streams `reader` into the store; it must hash to `digest` or nothing is stored.
    pub fn put(&self, digest: &str, reader: impl Read) -> Result<u64, ImageError> {
        Ok(self.blobs.put(Some(digest), reader)?.1)
    }

    /// Where the blob lives (for uploads that stream it from disk).
    pub fn path(&self, digest: &str) -> Result<PathBuf, ImageError> {
        self.blobs.path(digest)
    }

    pub fn read(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        self.blobs.read(digest)
    }

    /// Unpacks the stored layer blob `blob` as `diff_id` (verified) unless it is unpacked
    /// already; [`ImageStore::put_image`] then finds it done.
    pub fn unpack_layer(&self, blob: &str, diff_id: &str) -> Result<(), ImageError> {
        if self.layers.exists(diff_id) {
            return Ok(());
        }
        let file = self.blobs.open(blob)?;
        self.layers.unpack(diff_id, io::BufReader::new(file))
    }

    pub fn has_layer(&self, diff_id: &str) -> bool {
        self.layers.exists(diff_id)
    }
}

/// What `push` sends: the manifest as stored, and every blob it names with its size.
#[derive(Debug, Clone)]
pub struct PushSource {
    pub digest: String,
    pub manifest: Vec<u8>,
    pub media_type: String,
    /// Config first, then layers, each once.
    pub blobs: Vec<(String, u64)>,
}

/// What `image prune` removed.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PruneReport {
    /// Docker's `Untagged:` / `Deleted:` lines.
    pub images_deleted: Vec<String>,
    /// Bytes of the blobs and unpacked layers removed because no image uses them any more.
    pub space_reclaimed: u64,
}

/// How a user's string matched an image.
#[derive(Debug, Clone)]
enum Match {
    Tag(String),
    RepoDigest(String),
    Id,
}

/// The image store. See the module documentation for the layout and crash-safety rules.
pub struct ImageStore {
    root: PathBuf,
    blobs: BlobStore,
    layers: LayerStore,
    index: Index,
    /// Configs parsed before, by digest: a blob never changes under its digest, so an entry
    /// never goes stale. Every container start resolves its image; this keeps the file read
    /// and the parse off that path (see [`ImageStore::resolve_if_cached`]).
    configs: Mutex<HashMap<String, ParsedConfig>>,
}

/// An image config as oci-spec's type and as stored.
#[derive(Clone)]
struct ParsedConfig {
    config: ImageConfiguration,
    raw: Arc<serde_json::Value>,
}

impl ImageStore {
    /// Opens (creating if needed) the store under `root`, removing what interrupted writes
    /// left behind: temp files, half-unpacked layers, and blobs or layers no image uses.
    pub fn open(root: &Path) -> Result<ImageStore, ImageError> {
        let blob_dir = root.join("blobs").join("sha256");
        let layer_dir = root.join("layers");
        let tmp_dir = root.join("tmp");
        for dir in [root, &blob_dir, &layer_dir, &tmp_dir] {
            fs::create_dir_all(dir).map_err(|source| ImageError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        clean_dir(&tmp_dir, |_| true);
        // fsutil::atomic_write's temp files for the index.
        clean_dir(root, |name| {
            name.starts_with(&format!(".{INDEX_FILE}.tmp-"))
        });
        let index_path = root.join(INDEX_FILE);
        let index = match fsutil::read_json::<Index>(&index_path) {
            Ok(index) => index,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Index {
                version: INDEX_VERSION,
                ..Index::default()
            },
            Err(source) => {
                return Err(ImageError::Io {
                    path: index_path,
                    source,
                })
            }
        };
        let store = ImageStore {
            root: root.to_path_buf(),
            blobs: BlobStore::new(blob_dir, tmp_dir),
            layers: LayerStore::new(layer_dir),
            index,
            configs: Mutex::default(),
        };
        store.collect_garbage();
        Ok(store)
    }

    /// A lock-free writer of verified blobs (see [`BlobSink`]).
    pub fn blob_sink(&self) -> BlobSink {
        BlobSink {
            blobs: self.blobs.clone(),
            layers: self.layers.clone(),
        }
    }

    /// The manifest digest a tag or `name@digest` reference points at, if the store has it.
    pub fn manifest_of(&self, reference: &str) -> Option<String> {
        match self.lookup(reference) {
            Ok((m, Match::Tag(_) | Match::RepoDigest(_))) => Some(m),
            _ => None,
        }
    }

    /// When the tag `reference` was last set (by a pull, load, import or tag), RFC 3339: a
    /// `pull_policy: daily` pulls again once this is a day old.
    pub fn last_tagged(&self, reference: &str) -> Option<String> {
        let manifest = self.manifest_of(reference)?;
        self.index.images.get(&manifest)?.last_tag_time.clone()
    }

    /// The manifest and blobs of the image `reference` names, for a push.
    pub fn push_source(&self, reference: &str) -> Result<PushSource, ImageError> {
        let (digest, _) = self.lookup(reference)?;
        let record = &self.index.images[&digest];
        let manifest = self.blobs.read(&digest)?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&manifest)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(String::from))
            .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into());
        let mut blobs: Vec<(String, u64)> = Vec::new();
        for d in std::iter::once(&record.config).chain(record.layers.iter().map(|l| &l.blob)) {
            if !blobs.iter().any(|(b, _)| b == d) {
                blobs.push((d.clone(), self.blobs.size(d)?));
            }
        }
        Ok(PushSource {
            digest,
            manifest,
            media_type,
            blobs,
        })
    }

    /// True if the store holds the blob `digest` (`sha256:<hex>`); a pull skips those.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blobs.exists(digest)
    }

    /// Stores a blob, verifying while streaming that it hashes to `digest`; nothing becomes
    /// visible on mismatch. Returns its size. Blobs no image references by the next
    /// [`ImageStore::open`] are removed then.
    pub fn put_blob(&self, digest: &str, reader: impl Read) -> Result<u64, ImageError> {
        let (_, size) = self.blobs.put(Some(digest), reader)?;
        Ok(size)
    }

    /// Loads a `docker save` tar or an OCI image-layout tar (optionally compressed); returns
    /// the short names of the tagged images loaded, or the ids of untagged ones.
    pub fn load(&mut self, tar: impl Read) -> Result<Vec<String>, ImageError> {
        archive::load(self, tar)
    }

    /// Writes the images to `out` as a tar that `docker load` (and [`ImageStore::load`])
    /// accepts: `manifest.json` plus an OCI image layout, as Docker 25+ writes.
    pub fn save(&self, references: &[&str], out: impl Write) -> Result<(), ImageError> {
        archive::save(self, references, out)
    }

    /// Every image, newest first.
    pub fn list(&self) -> Result<Vec<ImageSummary>, ImageError> {
        let mut all = Vec::new();
        for digest in self.index.images.keys() {
            // One unreadable image must not hide the others from `image ls`.
            match self.summary(digest) {
                Ok(s) => all.push(s),
                Err(e) => tracing::warn!(manifest = %digest, error = %e, "cannot summarize image"),
            }
        }
        all.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    /// Points the tag `target` at the image `source` names (moving it if it pointed elsewhere).
    pub fn tag(&mut self, source: &str, target: &str) -> Result<(), ImageError> {
        let (manifest, _) = self.lookup(source)?;
        let target = tag_reference(target)?;
        let old = self.index.tags.insert(target.to_string(), manifest.clone());
        let old_time = self
            .index
            .images
            .get(&manifest)
            .and_then(|r| r.last_tag_time.clone());
        if let Some(r) = self.index.images.get_mut(&manifest) {
            r.last_tag_time = Some(now());
        }
        if let Err(e) = self.save_index() {
            match old {
                Some(o) => self.index.tags.insert(target.to_string(), o),
                None => self.index.tags.remove(&target.to_string()),
            };
            if let Some(r) = self.index.images.get_mut(&manifest) {
                r.last_tag_time = old_time;
            }
            return Err(e);
        }
        tracing::info!(source, target = %target, "tagged image");
        Ok(())
    }

    /// `docker rmi`: removes the tag `reference` names, and the image itself when no tag is
    /// left. Removing by id removes every tag, which needs `force` when there are several.
    /// Blobs and layers no remaining image uses are deleted. Returns Docker's report lines
    /// (`Untagged: busybox:latest`, `Deleted: sha256:...`). The caller checks containers.
    pub fn remove(&mut self, reference: &str, force: bool) -> Result<Vec<String>, ImageError> {
        let (manifest, how) = self.lookup(reference)?;
        let id = self.index.images[&manifest].config.clone();
        // By id, every manifest of that config is the image (the same image loaded from
        // differently compressed archives has several).
        let manifests: BTreeSet<String> = match how {
            Match::Id => self
                .index
                .images
                .iter()
                .filter(|(_, r)| r.config == id)
                .map(|(m, _)| m.clone())
                .collect(),
            _ => BTreeSet::from([manifest.clone()]),
        };
        let tags: Vec<String> = self
            .index
            .tags
            .iter()
            .filter(|(_, m)| manifests.contains(*m))
            .map(|(t, _)| t.clone())
            .collect();
        let digests: Vec<String> = manifests
            .iter()
            .flat_map(|m| self.index.images[m].repo_digests.clone())
            .collect();
        let (untag, mut drop_digests) = match &how {
            Match::Tag(t) => (vec![t.clone()], Vec::new()),
            Match::RepoDigest(d) => (Vec::new(), vec![d.clone()]),
            Match::Id if tags.len() > 1 && !force => {
                return Err(ImageError::Conflict { id: short_id(&id) })
            }
            Match::Id => (tags.clone(), digests.clone()),
        };
        let tags_left = tags.iter().filter(|t| !untag.contains(t)).count();
        let digests_left = digests.iter().filter(|d| !drop_digests.contains(d)).count();
        // As Docker: the image goes with its last tag (its digests with it), or with its last
        // digest when it had no tag, or when removed by id.
        let delete =
            tags_left == 0 && (matches!(how, Match::Id) || !untag.is_empty() || digests_left == 0);
        if delete {
            drop_digests = digests;
        }

        let mut new_tags = self.index.tags.clone();
        let mut new_images = self.index.images.clone();
        let mut report = Vec::new();
        for t in &untag {
            new_tags.remove(t);
            report.push(format!("Untagged: {}", familiar(t)));
        }
        for d in &drop_digests {
            report.push(format!("Untagged: {}", familiar(d)));
        }
        for m in &manifests {
            if delete {
                new_images.remove(m);
            } else if let Some(r) = new_images.get_mut(m) {
                r.repo_digests.retain(|d| !drop_digests.contains(d));
            }
        }
        if delete {
            report.push(format!("Deleted: {id}"));
        }
        let old_tags = std::mem::replace(&mut self.index.tags, new_tags);
        let old_images = std::mem::replace(&mut self.index.images, new_images);
        if let Err(e) = self.save_index() {
            self.index.tags = old_tags;
            self.index.images = old_images;
            return Err(e);
        }
        if delete {
            // The index no longer names them: from here a crash only leaves garbage.
            let mut blobs = Vec::new();
            let mut diff_ids = Vec::new();
            for m in &manifests {
                let record = &old_images[m];
                blobs.push(m.clone());
                blobs.push(record.config.clone());
                blobs.extend(record.layers.iter().map(|l| l.blob.clone()));
                diff_ids.extend(record.layers.iter().map(|l| l.diff_id.clone()));
            }
            self.drop_unreferenced(&blobs, &diff_ids);
            tracing::info!(image = %id, "removed image");
        }
        Ok(report)
    }

    /// The image as `docker image inspect` shows it.
    pub fn inspect(&self, reference: &str) -> Result<serde_json::Value, ImageError> {
        let (manifest, _) = self.lookup(reference)?;
        inspect::inspect(self, &manifest)
    }

    /// The image's history, newest first, as `docker history`.
    pub fn history(&self, reference: &str) -> Result<Vec<HistoryEntry>, ImageError> {
        let (manifest, _) = self.lookup(reference)?;
        inspect::history(self, &manifest)
    }

    /// Everything the runtime needs to run the image `reference` (a name, `name@digest`, or
    /// an id or unique id prefix).
    pub fn resolve(&self, reference: &str) -> Result<ResolvedImage, ImageError> {
        let read = |digest: &str| self.parsed_config(digest).map(Some);
        let resolved = self.resolve_with(reference, read)?;
        resolved.ok_or_else(|| ImageError::NotFound {
            reference: reference.to_string(),
        })
    }

    /// [`ImageStore::resolve`] if it reads no file (the image's config was parsed before):
    /// the daemon's async workers can ask that themselves. None when it would read one.
    pub fn resolve_if_cached(&self, reference: &str) -> Option<Result<ResolvedImage, ImageError>> {
        let cached = |digest: &str| Ok(self.lock_configs().get(digest).cloned());
        self.resolve_with(reference, cached).transpose()
    }

    fn resolve_with(
        &self,
        reference: &str,
        config_of: impl FnOnce(&str) -> Result<Option<ParsedConfig>, ImageError>,
    ) -> Result<Option<ResolvedImage>, ImageError> {
        let (manifest, how) = self.lookup(reference)?;
        let record = &self.index.images[&manifest];
        let Some(parsed) = config_of(&record.config)? else {
            return Ok(None);
        };
        let mut layers = Vec::new();
        for l in &record.layers {
            if !self.layers.exists(&l.diff_id) {
                return Err(ImageError::LayerMissing {
                    diff_id: l.diff_id.clone(),
                });
            }
            let path = self.layers.content_path(&l.diff_id)?;
            // The same layer can occur twice in one image (the empty layer
            // sha256:5f70bf18... often does), and overlayfs refuses a lower dir given twice.
            // Keeping only the topmost occurrence gives the same merged view: everything the
            // lower copy provides or hides, the upper copy provides or hides too.
            layers.retain(|p| p != &path);
            layers.push(path);
        }
        let reference = match how {
            Match::Tag(t) | Match::RepoDigest(t) => t,
            Match::Id => record.config.clone(),
        };
        Ok(Some(ResolvedImage {
            id: record.config.clone(),
            reference,
            config: parsed.config,
            raw_config: parsed.raw,
            layers,
        }))
    }

    /// Finds the manifest digest of the image `s` names: a reference (tag or digest), then an
    /// image id or id prefix, as Docker does.
    fn lookup(&self, s: &str) -> Result<(String, Match), ImageError> {
        let not_found = || ImageError::NotFound {
            reference: s.to_string(),
        };
        if let Ok(r) = Reference::parse(s) {
            if let Some(d) = r.digest() {
                let wanted = format!("{}@{}", r.name(), d);
                if let Some(rec) = self.index.images.get(d) {
                    let name_matches = rec.repo_digests.contains(&wanted)
                        || self.index.tags.iter().any(|(t, m)| {
                            m == d && t.rsplit_once(':').is_some_and(|(n, _)| n == r.name())
                        });
                    if name_matches {
                        return Ok((d.to_string(), Match::RepoDigest(wanted)));
                    }
                }
            } else if let Some(m) = self.index.tags.get(&r.to_string()) {
                return Ok((m.clone(), Match::Tag(r.to_string())));
            }
        }
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        let full = s.starts_with("sha256:");
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) || (!full && hex.len() < 4)
        {
            return Err(not_found());
        }
        let hex = hex.to_ascii_lowercase();
        let found: BTreeSet<&String> = self
            .index
            .images
            .iter()
            .filter(|(_, rec)| rec.config["sha256:".len()..].starts_with(&hex))
            .map(|(m, _)| m)
            .collect();
        // Several manifests can share one config (same image, differently compressed): any
        // of them is that image; prefer one that is tagged.
        let configs: BTreeSet<&String> = found
            .iter()
            .map(|m| &self.index.images[*m].config)
            .collect();
        match configs.len() {
            0 => Err(not_found()),
            1 => {
                let best = found
                    .iter()
                    .find(|m| self.index.tags.values().any(|t| t == **m))
                    .or(found.iter().next())
                    .map(|m| (*m).clone())
                    .ok_or_else(not_found)?;
                Ok((best, Match::Id))
            }
            _ => Err(ImageError::Ambiguous {
                reference: s.to_string(),
            }),
        }
    }

    fn summary(&self, manifest: &str) -> Result<ImageSummary, ImageError> {
        let record = self
            .index
            .images
            .get(manifest)
            .ok_or_else(|| ImageError::NotFound {
                reference: manifest.to_string(),
            })?;
        let config = self.read_config(&record.config)?;
        let repo_tags: Vec<String> = self.tags_of(manifest).iter().map(|t| familiar(t)).collect();
        Ok(ImageSummary {
            id: record.config.clone(),
            digest: manifest.to_string(),
            intermediate: repo_tags.is_empty() && self.has_children(&record.config),
            parent: record.parent.clone(),
            repo_tags,
            repo_digests: record.repo_digests.iter().map(|d| familiar(d)).collect(),
            created: config.created().clone(),
            size: record
                .layers
                .iter()
                .map(|l| self.layers.size(&l.diff_id))
                .sum(),
        })
    }

    /// True when a build step made another image from the image `id`.
    fn has_children(&self, id: &str) -> bool {
        self.index
            .images
            .values()
            .any(|r| r.parent.as_deref() == Some(id))
    }

    /// Full tags pointing at `manifest`, sorted.
    fn tags_of(&self, manifest: &str) -> Vec<String> {
        self.index
            .tags
            .iter()
            .filter(|(_, m)| *m == manifest)
            .map(|(t, _)| t.clone())
            .collect()
    }

    fn read_config(&self, digest: &str) -> Result<ImageConfiguration, ImageError> {
        Ok(self.parsed_config(digest)?.config)
    }

    fn parsed_config(&self, digest: &str) -> Result<ParsedConfig, ImageError> {
        if let Some(p) = self.lock_configs().get(digest) {
            return Ok(p.clone());
        }
        let bytes = self.blobs.read(digest)?;
        let parsed = parse_config(digest, &bytes)?;
        self.lock_configs()
            .insert(digest.to_string(), parsed.clone());
        Ok(parsed)
    }

    fn lock_configs(&self) -> std::sync::MutexGuard<'_, HashMap<String, ParsedConfig>> {
        self.configs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save_index(&self) -> Result<(), ImageError> {
        let path = self.root.join(INDEX_FILE);
        fsutil::write_json(&path, &self.index).map_err(|source| ImageError::Io { path, source })
    }
}

/// Parses an image config, tolerating what real configs omit (`history`, `rootfs` of
/// configs written by some tools) where oci-spec requires it.
fn parse_config(digest: &str, bytes: &[u8]) -> Result<ParsedConfig, ImageError> {
    let bad = |reason: String| ImageError::InvalidConfig {
        digest: digest.to_string(),
        reason,
    };
    let raw: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let mut value = raw.clone();
    let obj = value
        .as_object_mut()
        .ok_or_else(|| bad("not a json object".into()))?;
    if matches!(obj.get("history"), None | Some(serde_json::Value::Null)) {
        obj.insert("history".into(), serde_json::json!([]));
    }
    if matches!(obj.get("rootfs"), None | Some(serde_json::Value::Null)) {
        return Err(bad("missing rootfs".into()));
    }
    Ok(ParsedConfig {
        config: serde_json::from_value(value).map_err(|e| bad(e.to_string()))?,
        raw: Arc::new(raw),
    })
}

/// Parses a reference meant as a tag: it must not pin a digest.
fn tag_reference(s: &str) -> Result<Reference, ImageError> {
    let r = Reference::parse(s)?;
    if r.digest().is_some() {
        return Err(ImageError::InvalidTag {
            reference: s.to_string(),
            reason: "a tag cannot carry a digest",
        });
    }
    Ok(r)
}

/// The short form of a full reference we stored.
fn familiar(full: &str) -> String {
    Reference::parse(full)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| full.to_string())
}

fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn internal(e: impl std::fmt::Display) -> ImageError {
    ImageError::Encode {
        reason: e.to_string(),
    }
}

/// Removes the entries of `dir` whose names `pick` selects (files or trees).
fn clean_dir(dir: &Path, pick: impl Fn(&str) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !pick(&name) {
            continue;
        }
        let path = entry.path();
        tracing::info!(path = %path.display(), "removing leftover temp file");
        let result = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove leftover");
        }
    }
}

#[cfg(test)]
mod tests;
