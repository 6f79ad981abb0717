//! Compose's labels: what marks a container, network or volume as a stack's, so that Compose,
//! `docker ps --filter label=...` and berth all recognise the same objects.

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_HASH: &str = "com.docker.compose.config-hash";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
pub const LABEL_WORKDIR: &str = "com.docker.compose.project.working_dir";
pub const LABEL_FILES: &str = "com.docker.compose.project.config_files";
pub const LABEL_NETWORK: &str = "com.docker.compose.network";
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";
/// Docker's label on anonymous volumes (Engine 23+): `rm -v` and `down -v` remove those.
pub const LABEL_ANONYMOUS: &str = "com.docker.volume.anonymous";
