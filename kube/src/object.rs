//! The Kubernetes objects an export is made of: one enum over the typed k8s-openapi kinds, so
//! everything written is schema-correct by construction and apply/down can dispatch on kind.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

/// Labels every exported object carries: `down` removes exactly the objects that have both.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "berth";
/// Compose's own project label, on every object.
pub const PROJECT_LABEL: &str = berth_compose::LABEL_PROJECT;
/// Compose's service label, on each service's objects and pods (the pods' selector).
pub const SERVICE_LABEL: &str = berth_compose::LABEL_SERVICE;
/// Prefix of the pod labels that say which stack networks a pod is on (the NetworkPolicies'
/// selectors): `berth.kube/net.NETWORK: "true"`.
pub const NETWORK_LABEL_PREFIX: &str = "berth.kube/net.";

macro_rules! objects {
    ($($kind:ident),* $(,)?) => {
        /// One exported object.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Object {
            $($kind(Box<$kind>),)*
        }

        /// The kinds an export may hold, in the order they are applied (what others refer
        /// to first). `down` walks them in reverse.
        pub const KINDS: &[&str] = &[$(stringify!($kind)),*];

        impl Object {
            /// The object's `kind`.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Object::$kind(_) => <$kind as k8s_openapi::Resource>::KIND,)*
                }
            }

            /// The object's metadata.
            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $(Object::$kind(o) => &o.metadata,)*
                }
            }

            /// The object's metadata, to change.
            pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $(Object::$kind(o) => &mut o.metadata,)*
                }
            }

            /// Its place in [`KINDS`].
            pub(crate) fn rank(&self) -> usize {
                KINDS.iter().position(|k| *k == self.kind()).unwrap_or(KINDS.len())
            }
        }

        $(impl From<$kind> for Object {
            fn from(o: $kind) -> Object {
                Object::$kind(Box::new(o))
            }
        })*

        /// The API resource (group, version, plural) of `kind`, one of [`KINDS`].
        #[cfg(feature = "cluster")]
        pub(crate) fn api_resource(kind: &str) -> Option<kube::core::ApiResource> {
            match kind {
                $(stringify!($kind) => Some(kube::core::ApiResource::erase::<$kind>(&())),)*
                _ => None,
            }
        }
    };
}

objects!(
    ServiceAccount,
    Role,
    RoleBinding,
    ConfigMap,
    Secret,
    PersistentVolumeClaim,
    Service,
    NetworkPolicy,
    Job,
    DaemonSet,
    Deployment,
);

impl Object {
    /// The object's name.
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }
}
