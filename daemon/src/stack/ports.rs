//! What the controller needs of the daemon, and no more: containers, networks, volumes and
//! images as narrow traits ([`Ports`] is all four and the metrics). The daemon implements
//! them over its stores (below); the controller's tests implement them with a fake, so the
//! executor runs without root, namespaces or a registry.

use super::controller::Progress;
use crate::containers::Ctr;
use crate::http::ApiError;
use crate::metrics::Metrics;
use crate::Daemon;
use berth_compose::{
    NetworkDefinition, Project, ReplicaState, LABEL_HASH, LABEL_NUMBER, LABEL_ONEOFF,
    LABEL_PROJECT, LABEL_SERVICE,
};
use berth_engine::container::{ContainerConfig, MountConfig, Status};
use berth_netd::NetworkInfo;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// One container of a project's service, as the controller sees it.
#[derive(Debug, Clone)]
pub struct Replica<H> {
    pub service: String,
    pub number: u32,
    pub name: String,
    pub handle: H,
}

/// The containers a stack is made of.
pub trait ContainerPort: Send + Sync {
    type Handle: Clone + Send + Sync + 'static;
    /// The project's service containers (one-offs excluded), each service's by number.
    fn replicas(&self, project: &str) -> impl Future<Output = Vec<Replica<Self::Handle>>> + Send;
    /// The project's one-off `run` containers (number 0), which only `down --remove-orphans`
    /// takes, as Compose's.
    fn oneoffs(&self, project: &str) -> impl Future<Output = Vec<Replica<Self::Handle>>> + Send;
    /// The container's id.
    fn id(&self, c: &Self::Handle) -> String;
    /// The container's config hash label, state, and the id of the image it was made from.
    fn observe(
        &self,
        c: &Self::Handle,
    ) -> impl Future<Output = (String, ReplicaState, String)> + Send;
    fn create_container(
        &self,
        cfg: ContainerConfig,
    ) -> impl Future<Output = Result<Self::Handle, ApiError>> + Send;
    fn start_container(
        &self,
        c: &Self::Handle,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    fn stop_container(
        &self,
        c: &Self::Handle,
        timeout: Option<u64>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// The image reference the container was created from, as its config names it.
    fn image_ref(&self, c: &Self::Handle) -> impl Future<Output = String> + Send;
    /// Removes the container (forcibly, with its anonymous volumes left to `down -v`).
    fn remove_container(
        &self,
        c: &Self::Handle,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Removes the container and its anonymous volumes (`up -V`), but for those another
    /// container still mounts.
    fn remove_container_and_volumes(
        &self,
        c: &Self::Handle,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// The mounts of the container `reference` names, if it exists (`volumes_from`).
    fn mounts_of(&self, reference: &str) -> impl Future<Output = Option<Vec<MountConfig>>> + Send;
    /// Wires container `id` (if it still exists) to its networks again, keeping the
    /// addresses in `keep` (by network name).
    fn rewire(
        &self,
        id: &str,
        keep: HashMap<String, Ipv4Addr>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Waits for the `depends_on` conditions of `service` (healthy, completed successfully);
    /// returns the warnings of optional dependencies that failed.
    fn wait_dependencies(
        &self,
        p: &Project,
        service: &str,
        progress: &Progress,
    ) -> impl Future<Output = Result<Vec<String>, ApiError>> + Send;
    /// `up --wait`: every selected service running, and healthy when it has a check.
    fn wait_ready(
        &self,
        p: &Project,
        selected: &HashSet<String>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

/// The bridge networks a stack is attached to.
pub trait NetworkPort: Send + Sync {
    fn inspect_network(&self, name: &str) -> impl Future<Output = Option<NetworkInfo>> + Send;
    fn create_network(
        &self,
        def: NetworkDefinition,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    fn detach(
        &self,
        network_id: &str,
        container_id: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Removes a network; its endpoints must all be of the (stopped) containers in `leaving`,
    /// which lose them with it.
    fn remove_network(
        &self,
        id: &str,
        leaving: &HashSet<String>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// The networks labelled as `project`'s.
    fn project_networks(&self, project: &str) -> impl Future<Output = Vec<NetworkInfo>> + Send;
}

/// The named volumes of a stack, and the host directories of a container's volumes.
pub trait VolumePort: Send + Sync {
    fn volume_exists(&self, name: &str) -> impl Future<Output = Result<bool, ApiError>> + Send;
    fn create_volume(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Named and anonymous volumes of `cfg` become host directories (see
    /// `Volumes::resolve_mounts`).
    fn resolve_mounts(
        &self,
        cfg: &mut ContainerConfig,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// The names of the volumes labelled as `project`'s.
    fn project_volumes(
        &self,
        project: &str,
    ) -> impl Future<Output = Result<Vec<String>, ApiError>> + Send;
    fn remove_volume(&self, name: &str) -> impl Future<Output = Result<(), ApiError>> + Send;
}

/// The image store, as far as the controller asks it.
pub trait ImagePort: Send + Sync {
    /// The id of the image `reference` names, if the store has it.
    fn image_id(&self, reference: &str) -> impl Future<Output = Option<String>> + Send;
    /// Whether any container (of any stack, or none) was made from image `id`.
    fn image_in_use(&self, id: &str) -> impl Future<Output = bool> + Send;
    fn remove_image(&self, reference: &str) -> impl Future<Output = Result<(), ApiError>> + Send;
}

/// Everything the controller acts through.
pub trait Ports: ContainerPort + NetworkPort + VolumePort + ImagePort + 'static {
    fn metrics(&self) -> &Metrics;
}

/// The engine's status as the planner sees it.
pub(crate) fn replica_state(status: Status) -> ReplicaState {
    match status {
        Status::Running => ReplicaState::Running,
        Status::Paused => ReplicaState::Paused,
        Status::Restarting => ReplicaState::Restarting,
        _ => ReplicaState::Stopped,
    }
}

/// Containers of `project`'s services (one-offs excluded), by service, as (number, container).
pub(crate) async fn project_containers(
    d: &Daemon,
    project: &str,
) -> HashMap<String, Vec<(u32, Arc<Ctr>)>> {
    containers_of(d, project, false).await
}

/// `project`'s replicas (`oneoff` false) or its one-off `run` containers (true), by service.
async fn containers_of(
    d: &Daemon,
    project: &str,
    oneoff: bool,
) -> HashMap<String, Vec<(u32, Arc<Ctr>)>> {
    let mut out: HashMap<String, Vec<(u32, Arc<Ctr>)>> = HashMap::new();
    for c in d.containers.all().await {
        let r = c.rec.lock().await;
        if r.config.labels.get(LABEL_PROJECT).map(String::as_str) != Some(project)
            || (r.config.labels.get(LABEL_ONEOFF).map(String::as_str) == Some("True")) != oneoff
        {
            continue;
        }
        let svc = r
            .config
            .labels
            .get(LABEL_SERVICE)
            .cloned()
            .unwrap_or_default();
        let n = r
            .config
            .labels
            .get(LABEL_NUMBER)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        drop(r);
        out.entry(svc).or_default().push((n, c));
    }
    for v in out.values_mut() {
        v.sort_by_key(|(n, _)| *n);
    }
    out
}

/// `containers_of`'s map as a list, by service then number.
async fn as_replicas(by_service: HashMap<String, Vec<(u32, Arc<Ctr>)>>) -> Vec<Replica<Arc<Ctr>>> {
    let mut by_service: Vec<_> = by_service.into_iter().collect();
    by_service.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    for (service, list) in by_service {
        for (number, c) in list {
            let name = c.rec.lock().await.config.name.clone();
            out.push(Replica {
                service: service.clone(),
                number,
                name,
                handle: c,
            });
        }
    }
    out
}

impl ContainerPort for Daemon {
    type Handle = Arc<Ctr>;

    async fn replicas(&self, project: &str) -> Vec<Replica<Arc<Ctr>>> {
        as_replicas(containers_of(self, project, false).await).await
    }

    async fn oneoffs(&self, project: &str) -> Vec<Replica<Arc<Ctr>>> {
        as_replicas(containers_of(self, project, true).await).await
    }

    fn id(&self, c: &Arc<Ctr>) -> String {
        c.id.clone()
    }

    async fn observe(&self, c: &Arc<Ctr>) -> (String, ReplicaState, String) {
        let r = c.rec.lock().await;
        let hash = r.config.labels.get(LABEL_HASH).cloned().unwrap_or_default();
        (hash, replica_state(r.state.status), r.image_id.clone())
    }

    async fn create_container(&self, cfg: ContainerConfig) -> Result<Arc<Ctr>, ApiError> {
        self.containers.create(cfg).await
    }

    async fn start_container(&self, c: &Arc<Ctr>) -> Result<(), ApiError> {
        self.containers.start(c, false).await.map(drop)
    }

    async fn stop_container(&self, c: &Arc<Ctr>, timeout: Option<u64>) -> Result<(), ApiError> {
        self.containers.stop(c, timeout, None).await
    }

    async fn image_ref(&self, c: &Arc<Ctr>) -> String {
        c.rec.lock().await.config.image.clone()
    }

    async fn remove_container(&self, c: &Arc<Ctr>) -> Result<(), ApiError> {
        self.containers.remove(c, true).await
    }

    async fn remove_container_and_volumes(&self, c: &Arc<Ctr>) -> Result<(), ApiError> {
        self.containers.remove_with(c, true, true).await
    }

    async fn mounts_of(&self, reference: &str) -> Option<Vec<MountConfig>> {
        let c = self.containers.get(reference).await.ok()?;
        let mounts = c.rec.lock().await.config.mounts.clone();
        Some(mounts)
    }

    async fn rewire(&self, id: &str, keep: HashMap<String, Ipv4Addr>) -> Result<(), ApiError> {
        match self.containers.get(id).await {
            Ok(c) => self.containers.rewire(&c, &keep).await,
            Err(_) => Ok(()),
        }
    }

    async fn wait_dependencies(
        &self,
        p: &Project,
        service: &str,
        progress: &Progress,
    ) -> Result<Vec<String>, ApiError> {
        super::controller::waits::wait_dependencies(self, p, service, progress).await
    }

    async fn wait_ready(&self, p: &Project, selected: &HashSet<String>) -> Result<(), ApiError> {
        super::controller::waits::wait_ready(self, p, selected).await
    }
}

impl NetworkPort for Daemon {
    async fn inspect_network(&self, name: &str) -> Option<NetworkInfo> {
        self.nets.netd.inspect(name).await.ok()
    }

    async fn create_network(&self, def: NetworkDefinition) -> Result<(), ApiError> {
        let spec = berth_netd::NetworkSpec {
            name: def.name,
            subnet: def.subnet,
            gateway: def.gateway,
            ip_range: def.ip_range,
            internal: def.internal,
            mtu: def.mtu,
            labels: def.labels,
        };
        self.nets.create_network(spec).await?;
        Ok(())
    }

    async fn detach(&self, network_id: &str, container_id: &str) -> Result<(), ApiError> {
        self.nets.netd.detach(network_id, container_id).await?;
        self.nets.tell("disconnect", network_id, container_id).await;
        Ok(())
    }

    async fn remove_network(&self, id: &str, leaving: &HashSet<String>) -> Result<(), ApiError> {
        let info = self.nets.netd.inspect(id).await?;
        self.nets.remove_network_evicting(&info, leaving).await
    }

    async fn project_networks(&self, project: &str) -> Vec<NetworkInfo> {
        let mut all = self.nets.netd.list().await;
        all.retain(|n| n.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project));
        all
    }
}

impl VolumePort for Daemon {
    async fn volume_exists(&self, name: &str) -> Result<bool, ApiError> {
        let n = name.to_string();
        self.volumes.with(move |v| Ok(v.get(&n).is_ok())).await
    }

    async fn create_volume(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        self.volumes.create(name, labels).await.map(drop)
    }

    async fn resolve_mounts(&self, cfg: &mut ContainerConfig) -> Result<(), ApiError> {
        self.volumes
            .resolve_mounts(&self.images, cfg)
            .await
            .map(drop)
    }

    async fn project_volumes(&self, project: &str) -> Result<Vec<String>, ApiError> {
        let all = self.volumes.with(|v| Ok(v.list())).await?;
        Ok(all
            .into_iter()
            .filter(|v| v.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project))
            .map(|v| v.name)
            .collect())
    }

    async fn remove_volume(&self, name: &str) -> Result<(), ApiError> {
        self.volumes.remove(name).await.map(drop)
    }
}

impl ImagePort for Daemon {
    async fn image_id(&self, reference: &str) -> Option<String> {
        self.images.resolve(reference).await.ok().map(|i| i.id)
    }

    async fn image_in_use(&self, id: &str) -> bool {
        !self.containers.using_image(id).await.is_empty()
    }

    async fn remove_image(&self, reference: &str) -> Result<(), ApiError> {
        self.images.remove(reference, false).await.map(drop)
    }
}

impl Ports for Daemon {
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}
