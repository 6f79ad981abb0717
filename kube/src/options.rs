//! How to translate: the choices `berth kube generate` leaves to its flags.

use std::str::FromStr;

/// What type of Service carries a service's published ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expose {
    /// Published ports stay inside the cluster, as the service's own (headless) Service.
    #[default]
    ClusterIp,
    /// The Service named after the service is a NodePort Service: published ports in the
    /// node-port range keep their number on every node.
    NodePort,
    /// The Service named after the service is a LoadBalancer Service on the published ports.
    LoadBalancer,
}

impl FromStr for Expose {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "clusterip" => Ok(Expose::ClusterIp),
            "nodeport" => Ok(Expose::NodePort),
            "loadbalancer" => Ok(Expose::LoadBalancer),
            _ => Err(format!(
                "unknown --expose {s:?}: use clusterip, nodeport or loadbalancer"
            )),
        }
    }
}

/// What a bind mount becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindAs {
    /// The file's (or the directory's files') content is copied into a ConfigMap.
    #[default]
    ConfigMap,
    /// A hostPath volume: the path must exist on every node the pod may run on.
    HostPath,
}

impl FromStr for BindAs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "configmap" => Ok(BindAs::ConfigMap),
            "hostpath" => Ok(BindAs::HostPath),
            _ => Err(format!(
                "unknown --bind-as {s:?}: use configmap or hostpath"
            )),
        }
    }
}

/// Everything a translation depends on besides the project.
#[derive(Debug, Clone)]
pub struct Options {
    /// Services to export (with what they depend on); empty means all enabled services.
    pub services: Vec<String>,
    /// Namespace written into every object; None leaves it to the tool that applies them.
    pub namespace: Option<String>,
    pub expose: Expose,
    pub bind_as: BindAs,
    /// Size of a PersistentVolumeClaim whose volume has no `berth.kube/size` label.
    pub volume_size: String,
    /// Image of the init containers that wait for dependencies (it runs `kubectl wait`).
    pub wait_image: String,
}

/// The label on a Compose volume that sizes its PersistentVolumeClaim.
pub const SIZE_LABEL: &str = "berth.kube/size";

impl Default for Options {
    fn default() -> Self {
        Options {
            services: vec![],
            namespace: None,
            expose: Expose::default(),
            bind_as: BindAs::default(),
            volume_size: "1Gi".into(),
            wait_image: "registry.k8s.io/kubectl:v1.33.0".into(),
        }
    }
}
