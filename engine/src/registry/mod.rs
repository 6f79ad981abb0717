//! Images from registries: pull, push and login over the OCI distribution API v2.
//!
//! The door is [`Registries`]: it knows which registries may be spoken to over plain HTTP and
//! where credentials live, and runs [`Registries::pull`], [`Registries::push`] and
//! [`Registries::login`]. Everything is blocking (ureq): the image store is synchronous, and
//! the daemon runs these on its blocking pool, one thread per concurrent layer download.
//!
//! - `transport`: endpoints (HTTPS, or plain HTTP for loopback and `--insecure-registry`),
//!   the 401 challenge and its answer (bearer token or basic auth).
//! - `auth`: berth's credential file (0600) and Docker's `~/.docker/config.json`.
//! - `platform`: choosing one manifest of an image index.
//! - `pull`, `push`: the flows.

mod auth;
mod platform;
mod pull;
mod push;
mod transport;

use std::path::PathBuf;
use std::sync::Mutex;

pub use auth::Credential;
pub use platform::Platform;
pub use pull::PullOutcome;

use crate::image::{ImageError, ImageStore, Reference};

/// Errors of registry operations; each names the registry, repository or digest concerned.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("{registry}: {reason}")]
    Connect { registry: String, reason: String },
    #[error("{registry}: unauthorized: {hint}")]
    Unauthorized { registry: String, hint: String },
    #[error("{registry}: access denied to {repository}")]
    Denied {
        registry: String,
        repository: String,
    },
    #[error("manifest for {reference} not found: manifest unknown")]
    ManifestUnknown { reference: String },
    #[error("{registry}: {what}: unexpected status {status}: {body}")]
    Status {
        registry: String,
        what: String,
        status: u16,
        body: String,
    },
    #[error("{reference}: {reason}")]
    Protocol { reference: String, reason: String },
    #[error("no matching manifest for {platform} in the manifest list of {reference}")]
    NoPlatform { reference: String, platform: String },
    #[error("invalid platform {platform:?}: expected os/arch[/variant]")]
    InvalidPlatform { platform: String },
    #[error("blob {digest}: {reason}")]
    Blob { digest: String, reason: String },
    #[error("credentials file {}: {reason}", path.display())]
    Credentials { path: PathBuf, reason: String },
}

/// One progress event of a pull or push, per layer (`id` = short digest) or for the whole
/// image (`id` empty), in the shape `docker pull`'s JSON stream uses.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Progress {
    pub id: String,
    pub status: String,
    /// Bytes done and total while downloading or uploading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl Progress {
    pub(crate) fn layer(digest: &str, status: &str) -> Progress {
        Progress {
            id: short(digest),
            status: status.to_string(),
            current: None,
            total: None,
        }
    }

    pub(crate) fn image(status: String) -> Progress {
        Progress {
            id: String::new(),
            status,
            current: None,
            total: None,
        }
    }
}

/// Where progress goes; shared by the download threads.
pub type ProgressSink<'a> = &'a (dyn Fn(Progress) + Sync);

/// Settings of the registry client.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Registries (`host` or `host:port`) spoken to over plain HTTP although not loopback.
    pub insecure: Vec<String>,
    /// berth's own credential file (written by `login`, mode 0600).
    pub credentials: PathBuf,
    /// Docker's config file, read for `auths` (default `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json`).
    pub docker_config: Option<PathBuf>,
    /// Concurrent layer downloads (Docker's default is 3).
    pub max_concurrent: usize,
}

/// The registry client: see the module documentation.
pub struct Registries {
    opts: RegistryOptions,
    transport: transport::Transport,
}

impl Registries {
    pub fn new(mut opts: RegistryOptions) -> Registries {
        if opts.max_concurrent == 0 {
            opts.max_concurrent = 3;
        }
        if opts.docker_config.is_none() {
            opts.docker_config = auth::default_docker_config();
        }
        let transport = transport::Transport::new(&opts.insecure);
        Registries { opts, transport }
    }

    /// Pulls `reference` for `platform` into `store`: manifests and blobs verified by digest,
    /// layers the store has already never fetched again, up to `max_concurrent` layers at a
    /// time. The store's lock is only held to record the image, not while downloading.
    pub fn pull(
        &self,
        store: &Mutex<ImageStore>,
        reference: &Reference,
        platform: &Platform,
        progress: ProgressSink,
    ) -> Result<PullOutcome, RegistryError> {
        self.pull_as(store, reference, platform, None, progress)
    }

    /// [`Registries::pull`] with `credential` instead of the stored one when given (a
    /// Docker client's `X-Registry-Auth`: the caller's credential, for this pull only).
    pub fn pull_as(
        &self,
        store: &Mutex<ImageStore>,
        reference: &Reference,
        platform: &Platform,
        credential: Option<Credential>,
        progress: ProgressSink,
    ) -> Result<PullOutcome, RegistryError> {
        let session = self.session(reference, &["pull"], credential)?;
        pull::pull(
            &session,
            store,
            reference,
            platform,
            self.opts.max_concurrent,
            progress,
        )
    }

    /// Pushes the image `local` names to `target`'s repository and tag: blobs the registry
    /// lacks (monolithic uploads), then the manifest. Returns the manifest digest.
    pub fn push(
        &self,
        store: &Mutex<ImageStore>,
        local: &str,
        target: &Reference,
        progress: ProgressSink,
    ) -> Result<String, RegistryError> {
        self.push_as(store, local, target, None, progress)
    }

    /// [`Registries::push`] with `credential` instead of the stored one when given.
    pub fn push_as(
        &self,
        store: &Mutex<ImageStore>,
        local: &str,
        target: &Reference,
        credential: Option<Credential>,
        progress: ProgressSink,
    ) -> Result<String, RegistryError> {
        let session = self.session(target, &["pull", "push"], credential)?;
        push::push(&session, store, local, target, progress)
    }

    /// Checks `credential` against `registry` without storing it (Docker's `POST /auth`:
    /// the Docker client keeps its credentials itself and sends them with each pull).
    pub fn check_login(
        &self,
        registry: &str,
        credential: &Credential,
    ) -> Result<(), RegistryError> {
        self.transport
            .check_login(&auth::normalize_registry(registry), credential)
    }

    /// Checks `credential` against `registry` (as `docker login`) and stores it.
    pub fn login(&self, registry: &str, credential: Credential) -> Result<(), RegistryError> {
        let registry = auth::normalize_registry(registry);
        self.transport.check_login(&registry, &credential)?;
        auth::store(&self.opts.credentials, &registry, Some(&credential))
    }

    /// Forgets berth's stored credential for `registry`; false if there was none.
    pub fn logout(&self, registry: &str) -> Result<bool, RegistryError> {
        let registry = auth::normalize_registry(registry);
        let had = auth::load_berth(&self.opts.credentials)?.contains_key(&registry);
        if had {
            auth::store(&self.opts.credentials, &registry, None)?;
        }
        Ok(had)
    }

    fn session(
        &self,
        reference: &Reference,
        actions: &[&str],
        given: Option<Credential>,
    ) -> Result<transport::Session<'_>, RegistryError> {
        let credential = match given {
            Some(c) => Some(c),
            None => auth::lookup(
                &self.opts.credentials,
                self.opts.docker_config.as_deref(),
                reference.domain(),
            )?,
        };
        Ok(self
            .transport
            .session(reference.domain(), reference.path(), actions, credential))
    }
}

/// The first 12 hex digits of a digest, as Docker's progress ids.
pub(crate) fn short(digest: &str) -> String {
    digest
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect()
}
