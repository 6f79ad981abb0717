//! Content-addressed blobs under `blobs/sha256/<hex>`, each written to a temp file while its
//! digest is computed, fsynced, and renamed into place only when the digest is right.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::reference::is_sha256_digest;
use super::ImageError;
use crate::fsutil;

/// The blob directory and the scratch directory temp files are written in (same filesystem,
/// so the final rename is atomic).
#[derive(Clone)]
pub(crate) struct BlobStore {
    dir: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    pub(crate) fn new(dir: PathBuf, tmp: PathBuf) -> BlobStore {
        BlobStore { dir, tmp }
    }

    pub(crate) fn path(&self, digest: &str) -> Result<PathBuf, ImageError> {
        if !is_sha256_digest(digest) {
            return Err(ImageError::InvalidDigest {
                digest: digest.to_string(),
            });
        }
        Ok(self.dir.join(&digest["sha256:".len()..]))
    }

    pub(crate) fn exists(&self, digest: &str) -> bool {
        self.path(digest).is_ok_and(|p| p.is_file())
    }

    /// Streams `reader` into the store. With `expected`, the content must hash to it (the
    /// blob never becomes visible otherwise); without, the digest is computed. Returns the
    /// digest and size.
    pub(crate) fn put(
        &self,
        expected: Option<&str>,
        reader: impl Read,
    ) -> Result<(String, u64), ImageError> {
        if let Some(d) = expected {
            self.path(d)?;
        }
        let tmp = self.tmp.join(format!("blob-{}", fsutil::new_id()));
        let result = self.write_verified(&tmp, expected, reader);
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn write_verified(
        &self,
        tmp: &Path,
        expected: Option<&str>,
        reader: impl Read,
    ) -> Result<(String, u64), ImageError> {
        let io_tmp = |source| ImageError::Io {
            path: tmp.to_path_buf(),
            source,
        };
        let mut file = File::create(tmp).map_err(io_tmp)?;
        let mut hashing = HashingReader::new(reader);
        let size = io::copy(&mut hashing, &mut file).map_err(|source| ImageError::Io {
            path: tmp.to_path_buf(),
            source,
        })?;
        let digest = hashing.digest();
        if let Some(want) = expected {
            if want != digest {
                return Err(ImageError::DigestMismatch {
                    expected: want.to_string(),
                    actual: digest,
                });
            }
        }
        file.sync_all().map_err(io_tmp)?;
        drop(file);
        let dest = self.path(&digest)?;
        fs::rename(tmp, &dest).map_err(|source| ImageError::Io {
            path: dest.clone(),
            source,
        })?;
        sync_dir(&self.dir);
        tracing::debug!(digest = %digest, size, "stored blob");
        Ok((digest, size))
    }

    pub(crate) fn read(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        let p = self.path(digest)?;
        fs::read(&p).map_err(|source| not_found_or_io(digest, p, source))
    }

    pub(crate) fn open(&self, digest: &str) -> Result<File, ImageError> {
        let p = self.path(digest)?;
        File::open(&p).map_err(|source| not_found_or_io(digest, p, source))
    }

    pub(crate) fn size(&self, digest: &str) -> Result<u64, ImageError> {
        let p = self.path(digest)?;
        fs::metadata(&p)
            .map(|m| m.len())
            .map_err(|source| not_found_or_io(digest, p, source))
    }

    pub(crate) fn remove(&self, digest: &str) {
        if let Ok(p) = self.path(digest) {
            if let Err(e) = fs::remove_file(&p) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(digest, error = %e, "cannot remove blob");
                }
            }
        }
    }

    /// Every digest in the store.
    pub(crate) fn list(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(|n| format!("sha256:{n}")))
            .filter(|d| is_sha256_digest(d))
            .collect()
    }
}

fn not_found_or_io(digest: &str, path: PathBuf, source: io::Error) -> ImageError {
    if source.kind() == io::ErrorKind::NotFound {
        ImageError::BlobNotFound {
            digest: digest.to_string(),
        }
    } else {
        ImageError::Io { path, source }
    }
}

/// Makes a rename or unlink in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The sha256 digest (`sha256:<hex>`) of `data`.
pub(crate) fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A reader that hashes what passes through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    pub(crate) fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.clone().finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// How a layer tar is compressed, told by its first bytes (media types lie more often).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub(crate) fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    pub(crate) fn media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// Wraps `reader` in the decompressor its magic bytes call for.
pub(crate) fn decompress<'a, R: Read + 'a>(mut reader: R) -> io::Result<Box<dyn Read + 'a>> {
    // take(4).read_to_end loops until 4 bytes or EOF, so a short first read cannot hide a magic.
    let mut head = Vec::with_capacity(4);
    (&mut reader).take(4).read_to_end(&mut head)?;
    let kind = Compression::sniff(&head);
    let whole = BufReader::with_capacity(64 * 1024, io::Cursor::new(head).chain(reader));
    Ok(match kind {
        // MultiGzDecoder: some tools write layers as several concatenated gzip members.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(whole)?),
        Compression::None => Box::new(whole),
    })
}
