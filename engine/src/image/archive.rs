//! `docker save` / `docker load` archives, and OCI image layouts in a tar.
//!
//! Loading streams the tar once: every regular file that is not a small metadata file goes
//! straight into the blob store (verified when its name is `blobs/sha256/<hex>`), so nothing is
//! buffered in memory or in a scratch directory; the metadata then says which blobs form
//! which image, and images go in through [`ImageStore::put_image`] like any pull.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::path::{Component, Path};

use oci_spec::image::ImageIndex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::blobs::{self, Compression};
use super::reference::is_sha256_digest;
use super::{build_manifest, familiar, parse_config, ImageError, ImageStore, Match, Reference};

const DOCKER_MANIFEST: &str = "manifest.json";
const OCI_INDEX: &str = "index.json";
const OCI_LAYOUT: &str = "oci-layout";
const METADATA_FILES: [&str; 4] = [DOCKER_MANIFEST, OCI_INDEX, OCI_LAYOUT, "repositories"];
/// Metadata files are read into memory; anything larger is not one.
const METADATA_LIMIT: u64 = 64 << 20;
/// Annotations naming an image in an OCI layout (containerd's is the full reference).
const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
const MANIFEST_LIST_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// One entry of a `docker save` manifest.json.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// What streaming the tar collected.
#[derive(Default)]
struct Contents {
    /// Archive path -> digest of the blob its content was stored as.
    files: HashMap<String, String>,
    /// Archive path -> archive path it links to (legacy `docker save` dedups layers so).
    links: HashMap<String, String>,
    metadata: HashMap<String, Vec<u8>>,
    /// Blobs this load put in the store (removed again unless an image uses them).
    added: Vec<String>,
}

impl Contents {
    fn digest_of(&self, path: &str) -> Result<String, ImageError> {
        let mut p = clean(path).unwrap_or_default();
        for _ in 0..16 {
            if let Some(d) = self.files.get(&p) {
                return Ok(d.clone());
            }
            match self.links.get(&p) {
                Some(next) => p = next.clone(),
                None => break,
            }
        }
        Err(ImageError::InvalidArchive {
            reason: format!("{path:?} is referenced but not in the archive"),
        })
    }
}

pub(super) fn load(store: &mut ImageStore, tar: impl Read) -> Result<Vec<String>, ImageError> {
    let contents = read_contents(store, tar)?;
    let result = if contents.metadata.contains_key(DOCKER_MANIFEST) {
        load_docker(store, &contents)
    } else if contents.metadata.contains_key(OCI_INDEX) {
        load_oci(store, &contents)
    } else {
        Err(ImageError::InvalidArchive {
            reason: "neither manifest.json nor index.json found".into(),
        })
    };
    let no_layers: Vec<String> = Vec::new();
    store.drop_unreferenced(&contents.added, &no_layers);
    result
}

fn read_contents(store: &ImageStore, tar: impl Read) -> Result<Contents, ImageError> {
    let mut contents = Contents::default();
    let result = read_entries(store, tar, &mut contents);
    if result.is_err() {
        store.drop_unreferenced(&contents.added, &[]);
    }
    result.map(|()| contents)
}

fn read_entries(
    store: &ImageStore,
    tar: impl Read,
    contents: &mut Contents,
) -> Result<(), ImageError> {
    // `docker load` accepts a compressed archive too.
    let mut archive = tar::Archive::new(blobs::decompress(tar).map_err(ImageError::ReadArchive)?);
    for entry in archive.entries().map_err(ImageError::ReadArchive)? {
        let mut entry = entry.map_err(ImageError::ReadArchive)?;
        let raw = entry
            .path()
            .map_err(ImageError::ReadArchive)?
            .to_string_lossy()
            .into_owned();
        let Some(path) = clean(&raw) else {
            tracing::warn!(path = %raw, "skipping archive entry outside the archive root");
            continue;
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if METADATA_FILES.contains(&path.as_str()) {
                    let mut data = Vec::new();
                    (&mut entry)
                        .take(METADATA_LIMIT)
                        .read_to_end(&mut data)
                        .map_err(ImageError::ReadArchive)?;
                    contents.metadata.insert(path, data);
                    continue;
                }
                let expected = path
                    .strip_prefix("blobs/sha256/")
                    .map(|hex| format!("sha256:{hex}"))
                    .filter(|d| is_sha256_digest(d));
                let existed = expected.as_deref().is_some_and(|d| store.blobs.exists(d));
                let (digest, _) = store.blobs.put(expected.as_deref(), &mut entry)?;
                if !existed {
                    contents.added.push(digest.clone());
                }
                contents.files.insert(path, digest);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let Some(target) = entry.link_name().map_err(ImageError::ReadArchive)? else {
                    continue;
                };
                let target = target.to_string_lossy();
                // Symlink targets are relative to the link's directory, hardlink targets to
                // the archive root.
                let joined = if entry.header().entry_type() == tar::EntryType::Symlink {
                    match Path::new(&path).parent() {
                        Some(dir) => format!("{}/{}", dir.display(), target),
                        None => target.to_string(),
                    }
                } else {
                    target.to_string()
                };
                if let Some(t) = clean(&joined) {
                    contents.links.insert(path, t);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The Docker format: manifest.json lists config and layer files by path, and RepoTags.
fn load_docker(store: &mut ImageStore, contents: &Contents) -> Result<Vec<String>, ImageError> {
    let entries: Vec<DockerManifestEntry> =
        serde_json::from_slice(&contents.metadata[DOCKER_MANIFEST]).map_err(|e| {
            ImageError::InvalidArchive {
                reason: format!("manifest.json: {e}"),
            }
        })?;
    let mut loaded = Vec::new();
    for entry in entries {
        let config_digest = contents.digest_of(&entry.config)?;
        let config_size = store.blobs.size(&config_digest)?;
        // Validate early, for an error that names the config.
        parse_config(&config_digest, &store.blobs.read(&config_digest)?)?;
        let mut layers = Vec::new();
        for layer_path in &entry.layers {
            let digest = contents.digest_of(layer_path)?;
            let size = store.blobs.size(&digest)?;
            let mut head = Vec::new();
            store
                .blobs
                .open(&digest)?
                .take(4)
                .read_to_end(&mut head)
                .map_err(ImageError::ReadArchive)?;
            layers.push((digest, size, Compression::sniff(&head)));
        }
        let manifest = build_manifest((&config_digest, config_size), &layers)?;
        let tags = entry
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| super::tag_reference(t))
            .collect::<Result<Vec<Reference>, _>>()?;
        let id = store.put_image(&manifest, &tags)?;
        report(&mut loaded, &tags, id);
    }
    Ok(loaded)
}

/// The OCI image layout: index.json lists manifests (or nested indexes), named by annotations.
fn load_oci(store: &mut ImageStore, contents: &Contents) -> Result<Vec<String>, ImageError> {
    let index: ImageIndex = serde_json::from_slice(&contents.metadata[OCI_INDEX]).map_err(|e| {
        ImageError::InvalidArchive {
            reason: format!("index.json: {e}"),
        }
    })?;
    let mut loaded = Vec::new();
    for desc in index.manifests() {
        if !fits_host(desc.platform().as_ref(), true) {
            tracing::info!(digest = %desc.digest(), "skipping image for another platform");
            continue;
        }
        let annotations = desc.annotations().clone().unwrap_or_default();
        let name = annotations.get(ANNOTATION_CONTAINERD_NAME).or_else(|| {
            annotations
                .get(ANNOTATION_REF_NAME)
                .filter(|n| looks_like_full_reference(n))
        });
        let tags = match name {
            Some(n) => vec![super::tag_reference(n)?],
            None => Vec::new(),
        };
        let Some(manifest) =
            select_manifest(store, desc.digest().as_ref(), desc.media_type().as_ref(), 0)?
        else {
            tracing::warn!(digest = %desc.digest(), "no manifest for this platform in the archive; skipped");
            continue;
        };
        let id = store.put_image(&manifest, &tags)?;
        report(&mut loaded, &tags, id);
    }
    if loaded.is_empty() {
        return Err(ImageError::InvalidArchive {
            reason: "index.json names no image for this platform".into(),
        });
    }
    Ok(loaded)
}

/// Follows image indexes down to the manifest for this platform (linux and this machine's
/// architecture), as `docker load` does.
fn select_manifest(
    store: &ImageStore,
    digest: &str,
    media_type: &str,
    depth: u32,
) -> Result<Option<Vec<u8>>, ImageError> {
    if depth > 4 {
        return Err(ImageError::InvalidArchive {
            reason: "image indexes nested too deeply".into(),
        });
    }
    if !store.blobs.exists(digest) {
        return Ok(None);
    }
    let bytes = store.blobs.read(digest)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| ImageError::InvalidManifest {
        digest: digest.to_string(),
        reason: e.to_string(),
    })?;
    let is_index = MANIFEST_LIST_TYPES.contains(&media_type) || value.get("manifests").is_some();
    if !is_index {
        return Ok(Some(bytes));
    }
    let index: ImageIndex =
        serde_json::from_value(value).map_err(|e| ImageError::InvalidManifest {
            digest: digest.to_string(),
            reason: e.to_string(),
        })?;
    for m in index.manifests() {
        if fits_host(m.platform().as_ref(), index.manifests().len() == 1) {
            if let Some(found) = select_manifest(
                store,
                m.digest().as_ref(),
                m.media_type().as_ref(),
                depth + 1,
            )? {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// Whether a descriptor's platform is this machine's (linux, same architecture); `unknown`
/// decides for descriptors without one.
fn fits_host(platform: Option<&oci_spec::image::Platform>, unknown: bool) -> bool {
    platform.map_or(unknown, |p| {
        *p.os() == oci_spec::image::Os::Linux
            && *p.architecture() == oci_spec::image::Arch::default()
    })
}

/// `ref.name` is, by the OCI spec, often just a tag (`latest`); only a value with a
/// repository part names an image on its own.
fn looks_like_full_reference(name: &str) -> bool {
    name.contains('/') || name.contains(':')
}

fn report(loaded: &mut Vec<String>, tags: &[Reference], id: String) {
    if tags.is_empty() {
        loaded.push(id);
    } else {
        loaded.extend(tags.iter().map(Reference::familiar));
    }
}

/// Cleans an archive path (`./a/b` -> `a/b`); `None` if it climbs out of the root.
fn clean(path: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => {}
        }
    }
    Some(parts.join("/"))
}

pub(super) fn save(
    store: &ImageStore,
    references: &[&str],
    out: impl Write,
) -> Result<(), ImageError> {
    struct Saved {
        manifest: String,
        tags: Vec<String>,
    }
    let mut images: Vec<Saved> = Vec::new();
    for r in references {
        let (manifest, how) = store.lookup(r)?;
        let tag = match how {
            Match::Tag(t) => Some(t),
            _ => None,
        };
        match images.iter_mut().find(|s| s.manifest == manifest) {
            Some(s) => s.tags.extend(tag.filter(|t| !s.tags.contains(t))),
            None => images.push(Saved {
                manifest,
                tags: tag.into_iter().collect(),
            }),
        }
    }
    let mut builder = tar::Builder::new(out);
    let mut written: BTreeMap<String, ()> = BTreeMap::new();
    append_dir(&mut builder, "blobs/")?;
    append_dir(&mut builder, "blobs/sha256/")?;
    let mut docker_manifest = Vec::new();
    let mut oci_manifests = Vec::new();
    for image in &images {
        let record = &store.index.images[&image.manifest];
        let mut blobs = vec![image.manifest.clone(), record.config.clone()];
        blobs.extend(record.layers.iter().map(|l| l.blob.clone()));
        for digest in blobs {
            if written.insert(digest.clone(), ()).is_none() {
                append_blob(store, &mut builder, &digest)?;
            }
        }
        docker_manifest.push(DockerManifestEntry {
            config: blob_path(&record.config),
            repo_tags: Some(image.tags.iter().map(|t| familiar(t)).collect()),
            layers: record.layers.iter().map(|l| blob_path(&l.blob)).collect(),
        });
        let manifest_size = store.blobs.size(&image.manifest)?;
        let descriptor = |annotations: Option<Value>| {
            let mut d = json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": image.manifest,
                "size": manifest_size,
            });
            if let Some(a) = annotations {
                d["annotations"] = a;
            }
            d
        };
        if image.tags.is_empty() {
            oci_manifests.push(descriptor(None));
        }
        for t in &image.tags {
            let tag = Reference::parse(t)
                .ok()
                .and_then(|r| r.tag().map(str::to_string))
                .unwrap_or_default();
            oci_manifests.push(descriptor(Some(json!({
                ANNOTATION_CONTAINERD_NAME: t,
                ANNOTATION_REF_NAME: tag,
            }))));
        }
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": oci_manifests,
    });
    append_json(&mut builder, OCI_INDEX, &index)?;
    append_json(&mut builder, DOCKER_MANIFEST, &docker_manifest)?;
    append_json(
        &mut builder,
        OCI_LAYOUT,
        &json!({ "imageLayoutVersion": "1.0.0" }),
    )?;
    builder
        .into_inner()
        .and_then(|mut w| w.flush())
        .map_err(ImageError::WriteArchive)?;
    Ok(())
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn append_dir<W: Write>(b: &mut tar::Builder<W>, path: &str) -> Result<(), ImageError> {
    let mut h = header(tar::EntryType::Directory, 0, 0o755);
    b.append_data(&mut h, path, io::empty())
        .map_err(ImageError::WriteArchive)
}

fn append_blob<W: Write>(
    store: &ImageStore,
    b: &mut tar::Builder<W>,
    digest: &str,
) -> Result<(), ImageError> {
    let size = store.blobs.size(digest)?;
    let file = store.blobs.open(digest)?;
    let mut h = header(tar::EntryType::Regular, size, 0o644);
    b.append_data(&mut h, blob_path(digest), file)
        .map_err(ImageError::WriteArchive)
}

fn append_json<W: Write, T: Serialize>(
    b: &mut tar::Builder<W>,
    path: &str,
    value: &T,
) -> Result<(), ImageError> {
    let data = serde_json::to_vec(value).map_err(super::internal)?;
    let mut h = header(tar::EntryType::Regular, data.len() as u64, 0o644);
    b.append_data(&mut h, path, data.as_slice())
        .map_err(ImageError::WriteArchive)
}
