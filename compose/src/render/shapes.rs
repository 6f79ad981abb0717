//! The shapes of Compose's model as Docker Compose v2.40.3 writes it: compose-go v2.9.1's
//! types, field by field in their declaration order, with their `yaml` tags' omitempty and
//! the kind of value that decides emptiness. Generated from those types' tags; types that
//! marshal themselves (durations, byte sizes, ulimits, extra_hosts) are leaves.

use super::{Field, Omit, Shape};

pub static LEAF: Shape = Shape::Leaf;
/// A ulimit: a number, or soft and hard (compose-go marshals an untagged struct of the two).
pub static ULIMIT: Shape = Shape::Struct(&[
    Field::new("soft", Omit::Never, &LEAF),
    Field::new("hard", Omit::Never, &LEAF),
]);
pub static MAP_ULIMIT: Shape = Shape::Map(&ULIMIT);
pub static SEQ_LEAF: Shape = Shape::Seq(&LEAF);
pub static MAP_LEAF: Shape = Shape::Map(&LEAF);
pub static FILE_REFERENCE_CONFIG: Shape = Shape::Struct(&[
    Field::new("source", Omit::IfZero, &LEAF),
    Field::new("target", Omit::IfZero, &LEAF),
    Field::new("uid", Omit::IfZero, &LEAF),
    Field::new("gid", Omit::IfZero, &LEAF),
    Field::new("mode", Omit::IfNil, &LEAF),
    Field::inline(),
]);
pub static SEQ_FILE_REFERENCE_CONFIG: Shape = Shape::Seq(&FILE_REFERENCE_CONFIG);
pub static BUILD_CONFIG: Shape = Shape::Struct(&[
    Field::new("context", Omit::IfZero, &LEAF),
    Field::new("dockerfile", Omit::IfZero, &LEAF),
    Field::new("dockerfile_inline", Omit::IfZero, &LEAF),
    Field::new("entitlements", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("args", Omit::IfEmpty, &MAP_LEAF),
    Field::new("provenance", Omit::IfZero, &LEAF),
    Field::new("sbom", Omit::IfZero, &LEAF),
    Field::new("ssh", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("labels", Omit::IfEmpty, &MAP_LEAF),
    Field::new("cache_from", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("cache_to", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("no_cache", Omit::IfZero, &LEAF),
    Field::new("additional_contexts", Omit::IfEmpty, &MAP_LEAF),
    Field::new("pull", Omit::IfZero, &LEAF),
    Field::new("extra_hosts", Omit::IfEmpty, &LEAF),
    Field::new("isolation", Omit::IfZero, &LEAF),
    Field::new("network", Omit::IfZero, &LEAF),
    Field::new("target", Omit::IfZero, &LEAF),
    Field::new("secrets", Omit::IfEmpty, &SEQ_FILE_REFERENCE_CONFIG),
    Field::new("shm_size", Omit::IfZero, &LEAF),
    Field::new("tags", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("ulimits", Omit::IfEmpty, &MAP_ULIMIT),
    Field::new("platforms", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("privileged", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static SERVICE_HOOK: Shape = Shape::Struct(&[
    Field::new("command", Omit::IfNil, &SEQ_LEAF),
    Field::new("user", Omit::IfZero, &LEAF),
    Field::new("privileged", Omit::IfZero, &LEAF),
    Field::new("working_dir", Omit::IfZero, &LEAF),
    Field::new("environment", Omit::IfEmpty, &MAP_LEAF),
    Field::inline(),
]);
pub static TRIGGER: Shape = Shape::Struct(&[
    Field::new("path", Omit::Never, &LEAF),
    Field::new("action", Omit::Never, &LEAF),
    Field::new("target", Omit::IfZero, &LEAF),
    Field::new("exec", Omit::IfZeroStruct, &SERVICE_HOOK),
    Field::new("include", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("ignore", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("initial_sync", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static SEQ_TRIGGER: Shape = Shape::Seq(&TRIGGER);
pub static DEVELOP_CONFIG: Shape = Shape::Struct(&[
    Field::new("watch", Omit::IfEmpty, &SEQ_TRIGGER),
    Field::inline(),
]);
pub static WEIGHT_DEVICE: Shape = Shape::Struct(&[Field::inline()]);
pub static SEQ_WEIGHT_DEVICE: Shape = Shape::Seq(&WEIGHT_DEVICE);
pub static THROTTLE_DEVICE: Shape = Shape::Struct(&[Field::inline()]);
pub static SEQ_THROTTLE_DEVICE: Shape = Shape::Seq(&THROTTLE_DEVICE);
pub static BLKIO_CONFIG: Shape = Shape::Struct(&[
    Field::new("weight", Omit::IfZero, &LEAF),
    Field::new("weight_device", Omit::IfEmpty, &SEQ_WEIGHT_DEVICE),
    Field::new("device_read_bps", Omit::IfEmpty, &SEQ_THROTTLE_DEVICE),
    Field::new("device_read_iops", Omit::IfEmpty, &SEQ_THROTTLE_DEVICE),
    Field::new("device_write_bps", Omit::IfEmpty, &SEQ_THROTTLE_DEVICE),
    Field::new("device_write_iops", Omit::IfEmpty, &SEQ_THROTTLE_DEVICE),
    Field::inline(),
]);
pub static CREDENTIAL_SPEC_CONFIG: Shape = Shape::Struct(&[
    Field::new("config", Omit::IfZero, &LEAF),
    Field::new("file", Omit::IfZero, &LEAF),
    Field::new("registry", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static SERVICE_DEPENDENCY: Shape = Shape::Struct(&[
    Field::new("condition", Omit::IfZero, &LEAF),
    Field::new("restart", Omit::IfZero, &LEAF),
    Field::inline(),
    Field::new("required", Omit::Never, &LEAF),
]);
pub static MAP_SERVICE_DEPENDENCY: Shape = Shape::Map(&SERVICE_DEPENDENCY);
pub static UPDATE_CONFIG: Shape = Shape::Struct(&[
    Field::new("parallelism", Omit::IfNil, &LEAF),
    Field::new("delay", Omit::IfZero, &LEAF),
    Field::new("failure_action", Omit::IfZero, &LEAF),
    Field::new("monitor", Omit::IfZero, &LEAF),
    Field::new("max_failure_ratio", Omit::IfZero, &LEAF),
    Field::new("order", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static DEVICE_REQUEST: Shape = Shape::Struct(&[
    Field::new("capabilities", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("driver", Omit::IfZero, &LEAF),
    Field::new("count", Omit::IfZero, &LEAF),
    Field::new("device_ids", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("options", Omit::IfEmpty, &MAP_LEAF),
]);
pub static SEQ_DEVICE_REQUEST: Shape = Shape::Seq(&DEVICE_REQUEST);
pub static DISCRETE_GENERIC_RESOURCE: Shape = Shape::Struct(&[Field::inline()]);
pub static GENERIC_RESOURCE: Shape = Shape::Struct(&[
    Field::new(
        "discrete_resource_spec",
        Omit::IfNil,
        &DISCRETE_GENERIC_RESOURCE,
    ),
    Field::inline(),
]);
pub static SEQ_GENERIC_RESOURCE: Shape = Shape::Seq(&GENERIC_RESOURCE);
pub static RESOURCE: Shape = Shape::Struct(&[
    Field::new("cpus", Omit::IfZero, &LEAF),
    Field::new("memory", Omit::IfZero, &LEAF),
    Field::new("pids", Omit::IfZero, &LEAF),
    Field::new("devices", Omit::IfEmpty, &SEQ_DEVICE_REQUEST),
    Field::new("generic_resources", Omit::IfEmpty, &SEQ_GENERIC_RESOURCE),
    Field::inline(),
]);
pub static RESOURCES: Shape = Shape::Struct(&[
    Field::new("limits", Omit::IfNil, &RESOURCE),
    Field::new("reservations", Omit::IfNil, &RESOURCE),
    Field::inline(),
]);
pub static RESTART_POLICY: Shape = Shape::Struct(&[
    Field::new("condition", Omit::IfZero, &LEAF),
    Field::new("delay", Omit::IfNil, &LEAF),
    Field::new("max_attempts", Omit::IfNil, &LEAF),
    Field::new("window", Omit::IfNil, &LEAF),
    Field::inline(),
]);
pub static PLACEMENT_PREFERENCES: Shape =
    Shape::Struct(&[Field::new("spread", Omit::IfZero, &LEAF), Field::inline()]);
pub static SEQ_PLACEMENT_PREFERENCES: Shape = Shape::Seq(&PLACEMENT_PREFERENCES);
pub static PLACEMENT: Shape = Shape::Struct(&[
    Field::new("constraints", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("preferences", Omit::IfEmpty, &SEQ_PLACEMENT_PREFERENCES),
    Field::new("max_replicas_per_node", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static DEPLOY_CONFIG: Shape = Shape::Struct(&[
    Field::new("mode", Omit::IfZero, &LEAF),
    Field::new("replicas", Omit::IfNil, &LEAF),
    Field::new("labels", Omit::IfEmpty, &MAP_LEAF),
    Field::new("update_config", Omit::IfNil, &UPDATE_CONFIG),
    Field::new("rollback_config", Omit::IfNil, &UPDATE_CONFIG),
    Field::new("resources", Omit::IfZeroStruct, &RESOURCES),
    Field::new("restart_policy", Omit::IfNil, &RESTART_POLICY),
    Field::new("placement", Omit::IfZeroStruct, &PLACEMENT),
    Field::new("endpoint_mode", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static DEVICE_MAPPING: Shape = Shape::Struct(&[
    Field::new("source", Omit::IfZero, &LEAF),
    Field::new("target", Omit::IfZero, &LEAF),
    Field::new("permissions", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static SEQ_DEVICE_MAPPING: Shape = Shape::Seq(&DEVICE_MAPPING);
pub static MAP_SEQ_LEAF: Shape = Shape::Map(&SEQ_LEAF);
pub static SERVICE_PROVIDER_CONFIG: Shape = Shape::Struct(&[
    Field::new("type", Omit::IfZero, &LEAF),
    Field::new("options", Omit::IfEmpty, &MAP_SEQ_LEAF),
    Field::inline(),
]);
pub static ENV_FILE: Shape = Shape::Struct(&[
    Field::new("path", Omit::IfZero, &LEAF),
    Field::new("required", Omit::Never, &LEAF),
    Field::new("format", Omit::IfZero, &LEAF),
]);
pub static SEQ_ENV_FILE: Shape = Shape::Seq(&ENV_FILE);
pub static EXTENDS_CONFIG: Shape = Shape::Struct(&[
    Field::new("file", Omit::IfZero, &LEAF),
    Field::new("service", Omit::IfZero, &LEAF),
]);
pub static HEALTH_CHECK_CONFIG: Shape = Shape::Struct(&[
    Field::new("test", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("timeout", Omit::IfNil, &LEAF),
    Field::new("interval", Omit::IfNil, &LEAF),
    Field::new("retries", Omit::IfNil, &LEAF),
    Field::new("start_period", Omit::IfNil, &LEAF),
    Field::new("start_interval", Omit::IfNil, &LEAF),
    Field::new("disable", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static LOGGING_CONFIG: Shape = Shape::Struct(&[
    Field::new("driver", Omit::IfZero, &LEAF),
    Field::new("options", Omit::IfEmpty, &MAP_LEAF),
    Field::inline(),
]);
pub static SERVICE_MODEL_CONFIG: Shape = Shape::Struct(&[
    Field::new("endpoint_var", Omit::IfZero, &LEAF),
    Field::new("model_var", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static MAP_SERVICE_MODEL_CONFIG: Shape = Shape::Map(&SERVICE_MODEL_CONFIG);
pub static SERVICE_NETWORK_CONFIG: Shape = Shape::Struct(&[
    Field::new("aliases", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("driver_opts", Omit::IfEmpty, &MAP_LEAF),
    Field::new("gw_priority", Omit::IfZero, &LEAF),
    Field::new("interface_name", Omit::IfZero, &LEAF),
    Field::new("ipv4_address", Omit::IfZero, &LEAF),
    Field::new("ipv6_address", Omit::IfZero, &LEAF),
    Field::new("link_local_ips", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("mac_address", Omit::IfZero, &LEAF),
    Field::new("priority", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static MAP_SERVICE_NETWORK_CONFIG: Shape = Shape::Map(&SERVICE_NETWORK_CONFIG);
pub static SERVICE_PORT_CONFIG: Shape = Shape::Struct(&[
    Field::new("name", Omit::IfZero, &LEAF),
    Field::new("mode", Omit::IfZero, &LEAF),
    Field::new("host_ip", Omit::IfZero, &LEAF),
    Field::new("target", Omit::IfZero, &LEAF),
    Field::new("published", Omit::IfZero, &LEAF),
    Field::new("protocol", Omit::IfZero, &LEAF),
    Field::new("app_protocol", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static SEQ_SERVICE_PORT_CONFIG: Shape = Shape::Seq(&SERVICE_PORT_CONFIG);
pub static SERVICE_VOLUME_BIND: Shape = Shape::Struct(&[
    Field::new("selinux", Omit::IfZero, &LEAF),
    Field::new("propagation", Omit::IfZero, &LEAF),
    Field::new("create_host_path", Omit::IfZero, &LEAF),
    Field::new("recursive", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static SERVICE_VOLUME_VOLUME: Shape = Shape::Struct(&[
    Field::new("labels", Omit::IfEmpty, &MAP_LEAF),
    Field::new("nocopy", Omit::IfZero, &LEAF),
    Field::new("subpath", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static SERVICE_VOLUME_TMPFS: Shape = Shape::Struct(&[
    Field::new("size", Omit::IfZero, &LEAF),
    Field::new("mode", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static SERVICE_VOLUME_IMAGE: Shape =
    Shape::Struct(&[Field::new("subpath", Omit::IfZero, &LEAF), Field::inline()]);
pub static SERVICE_VOLUME_CONFIG: Shape = Shape::Struct(&[
    Field::new("type", Omit::IfZero, &LEAF),
    Field::new("source", Omit::IfZero, &LEAF),
    Field::new("target", Omit::IfZero, &LEAF),
    Field::new("read_only", Omit::IfZero, &LEAF),
    Field::new("consistency", Omit::IfZero, &LEAF),
    Field::new("bind", Omit::IfNil, &SERVICE_VOLUME_BIND),
    Field::new("volume", Omit::IfNil, &SERVICE_VOLUME_VOLUME),
    Field::new("tmpfs", Omit::IfNil, &SERVICE_VOLUME_TMPFS),
    Field::new("image", Omit::IfNil, &SERVICE_VOLUME_IMAGE),
    Field::inline(),
]);
pub static SEQ_SERVICE_VOLUME_CONFIG: Shape = Shape::Seq(&SERVICE_VOLUME_CONFIG);
pub static SEQ_SERVICE_HOOK: Shape = Shape::Seq(&SERVICE_HOOK);
pub static SERVICE_CONFIG: Shape = Shape::Struct(&[
    Field::new("name", Omit::IfZero, &LEAF),
    Field::new("profiles", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("annotations", Omit::IfEmpty, &MAP_LEAF),
    Field::new("attach", Omit::IfNil, &LEAF),
    Field::new("build", Omit::IfNil, &BUILD_CONFIG),
    Field::new("develop", Omit::IfNil, &DEVELOP_CONFIG),
    Field::new("blkio_config", Omit::IfNil, &BLKIO_CONFIG),
    Field::new("cap_add", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("cap_drop", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("cgroup_parent", Omit::IfZero, &LEAF),
    Field::new("cgroup", Omit::IfZero, &LEAF),
    Field::new("cpu_count", Omit::IfZero, &LEAF),
    Field::new("cpu_percent", Omit::IfZero, &LEAF),
    Field::new("cpu_period", Omit::IfZero, &LEAF),
    Field::new("cpu_quota", Omit::IfZero, &LEAF),
    Field::new("cpu_rt_period", Omit::IfZero, &LEAF),
    Field::new("cpu_rt_runtime", Omit::IfZero, &LEAF),
    Field::new("cpus", Omit::IfZero, &LEAF),
    Field::new("cpuset", Omit::IfZero, &LEAF),
    Field::new("cpu_shares", Omit::IfZero, &LEAF),
    Field::new("command", Omit::IfNil, &SEQ_LEAF),
    Field::new("configs", Omit::IfEmpty, &SEQ_FILE_REFERENCE_CONFIG),
    Field::new("container_name", Omit::IfZero, &LEAF),
    Field::new("credential_spec", Omit::IfNil, &CREDENTIAL_SPEC_CONFIG),
    Field::new("depends_on", Omit::IfEmpty, &MAP_SERVICE_DEPENDENCY),
    Field::new("deploy", Omit::IfNil, &DEPLOY_CONFIG),
    Field::new("device_cgroup_rules", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("devices", Omit::IfEmpty, &SEQ_DEVICE_MAPPING),
    Field::new("dns", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("dns_opt", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("dns_search", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("dockerfile", Omit::IfZero, &LEAF),
    Field::new("domainname", Omit::IfZero, &LEAF),
    Field::new("entrypoint", Omit::IfNil, &SEQ_LEAF),
    Field::new("provider", Omit::IfNil, &SERVICE_PROVIDER_CONFIG),
    Field::new("environment", Omit::IfEmpty, &MAP_LEAF),
    Field::new("env_file", Omit::IfEmpty, &SEQ_ENV_FILE),
    Field::new("expose", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("extends", Omit::IfNil, &EXTENDS_CONFIG),
    Field::new("external_links", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("extra_hosts", Omit::IfEmpty, &LEAF),
    Field::new("group_add", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("gpus", Omit::IfEmpty, &SEQ_DEVICE_REQUEST),
    Field::new("hostname", Omit::IfZero, &LEAF),
    Field::new("healthcheck", Omit::IfNil, &HEALTH_CHECK_CONFIG),
    Field::new("image", Omit::IfZero, &LEAF),
    Field::new("init", Omit::IfNil, &LEAF),
    Field::new("ipc", Omit::IfZero, &LEAF),
    Field::new("isolation", Omit::IfZero, &LEAF),
    Field::new("labels", Omit::IfEmpty, &MAP_LEAF),
    Field::new("label_file", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("links", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("logging", Omit::IfNil, &LOGGING_CONFIG),
    Field::new("log_driver", Omit::IfZero, &LEAF),
    Field::new("log_opt", Omit::IfEmpty, &MAP_LEAF),
    Field::new("mem_limit", Omit::IfZero, &LEAF),
    Field::new("mem_reservation", Omit::IfZero, &LEAF),
    Field::new("memswap_limit", Omit::IfZero, &LEAF),
    Field::new("mem_swappiness", Omit::IfZero, &LEAF),
    Field::new("mac_address", Omit::IfZero, &LEAF),
    Field::new("models", Omit::IfEmpty, &MAP_SERVICE_MODEL_CONFIG),
    Field::new("net", Omit::IfZero, &LEAF),
    Field::new("network_mode", Omit::IfZero, &LEAF),
    Field::new("networks", Omit::IfEmpty, &MAP_SERVICE_NETWORK_CONFIG),
    Field::new("oom_kill_disable", Omit::IfZero, &LEAF),
    Field::new("oom_score_adj", Omit::IfZero, &LEAF),
    Field::new("pid", Omit::IfZero, &LEAF),
    Field::new("pids_limit", Omit::IfZero, &LEAF),
    Field::new("platform", Omit::IfZero, &LEAF),
    Field::new("ports", Omit::IfEmpty, &SEQ_SERVICE_PORT_CONFIG),
    Field::new("privileged", Omit::IfZero, &LEAF),
    Field::new("pull_policy", Omit::IfZero, &LEAF),
    Field::new("read_only", Omit::IfZero, &LEAF),
    Field::new("restart", Omit::IfZero, &LEAF),
    Field::new("runtime", Omit::IfZero, &LEAF),
    Field::new("scale", Omit::IfNil, &LEAF),
    Field::new("secrets", Omit::IfEmpty, &SEQ_FILE_REFERENCE_CONFIG),
    Field::new("security_opt", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("shm_size", Omit::IfZero, &LEAF),
    Field::new("stdin_open", Omit::IfZero, &LEAF),
    Field::new("stop_grace_period", Omit::IfNil, &LEAF),
    Field::new("stop_signal", Omit::IfZero, &LEAF),
    Field::new("storage_opt", Omit::IfEmpty, &MAP_LEAF),
    Field::new("sysctls", Omit::IfEmpty, &MAP_LEAF),
    Field::new("tmpfs", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("tty", Omit::IfZero, &LEAF),
    Field::new("ulimits", Omit::IfEmpty, &MAP_ULIMIT),
    Field::new("use_api_socket", Omit::IfZero, &LEAF),
    Field::new("user", Omit::IfZero, &LEAF),
    Field::new("userns_mode", Omit::IfZero, &LEAF),
    Field::new("uts", Omit::IfZero, &LEAF),
    Field::new("volume_driver", Omit::IfZero, &LEAF),
    Field::new("volumes", Omit::IfEmpty, &SEQ_SERVICE_VOLUME_CONFIG),
    Field::new("volumes_from", Omit::IfEmpty, &SEQ_LEAF),
    Field::new("working_dir", Omit::IfZero, &LEAF),
    Field::new("post_start", Omit::IfEmpty, &SEQ_SERVICE_HOOK),
    Field::new("pre_stop", Omit::IfEmpty, &SEQ_SERVICE_HOOK),
    Field::inline(),
]);
pub static MAP_SERVICE_CONFIG: Shape = Shape::Map(&SERVICE_CONFIG);
pub static I_P_A_M_POOL: Shape = Shape::Struct(&[
    Field::new("subnet", Omit::IfZero, &LEAF),
    Field::new("gateway", Omit::IfZero, &LEAF),
    Field::new("ip_range", Omit::IfZero, &LEAF),
    Field::new("aux_addresses", Omit::IfEmpty, &MAP_LEAF),
    Field::inline(),
]);
pub static SEQ_I_P_A_M_POOL: Shape = Shape::Seq(&I_P_A_M_POOL);
pub static I_P_A_M_CONFIG: Shape = Shape::Struct(&[
    Field::new("driver", Omit::IfZero, &LEAF),
    Field::new("config", Omit::IfEmpty, &SEQ_I_P_A_M_POOL),
    Field::inline(),
]);
pub static NETWORK_CONFIG: Shape = Shape::Struct(&[
    Field::new("name", Omit::IfZero, &LEAF),
    Field::new("driver", Omit::IfZero, &LEAF),
    Field::new("driver_opts", Omit::IfEmpty, &MAP_LEAF),
    Field::new("ipam", Omit::IfZeroStruct, &I_P_A_M_CONFIG),
    Field::new("external", Omit::IfZero, &LEAF),
    Field::new("internal", Omit::IfZero, &LEAF),
    Field::new("attachable", Omit::IfZero, &LEAF),
    Field::new("labels", Omit::IfEmpty, &MAP_LEAF),
    Field::new("enable_ipv4", Omit::IfNil, &LEAF),
    Field::new("enable_ipv6", Omit::IfNil, &LEAF),
    Field::inline(),
]);
pub static MAP_NETWORK_CONFIG: Shape = Shape::Map(&NETWORK_CONFIG);
pub static VOLUME_CONFIG: Shape = Shape::Struct(&[
    Field::new("name", Omit::IfZero, &LEAF),
    Field::new("driver", Omit::IfZero, &LEAF),
    Field::new("driver_opts", Omit::IfEmpty, &MAP_LEAF),
    Field::new("external", Omit::IfZero, &LEAF),
    Field::new("labels", Omit::IfEmpty, &MAP_LEAF),
    Field::inline(),
]);
pub static MAP_VOLUME_CONFIG: Shape = Shape::Map(&VOLUME_CONFIG);
pub static FILE_OBJECT_CONFIG: Shape = Shape::Struct(&[
    Field::new("name", Omit::IfZero, &LEAF),
    Field::new("file", Omit::IfZero, &LEAF),
    Field::new("environment", Omit::IfZero, &LEAF),
    Field::new("content", Omit::IfZero, &LEAF),
    Field::new("external", Omit::IfZero, &LEAF),
    Field::new("labels", Omit::IfEmpty, &MAP_LEAF),
    Field::new("driver", Omit::IfZero, &LEAF),
    Field::new("driver_opts", Omit::IfEmpty, &MAP_LEAF),
    Field::new("template_driver", Omit::IfZero, &LEAF),
    Field::inline(),
]);
pub static MAP_FILE_OBJECT_CONFIG: Shape = Shape::Map(&FILE_OBJECT_CONFIG);
pub static MODEL_CONFIG: Shape = Shape::Struct(&[
    Field::new("name", Omit::IfZero, &LEAF),
    Field::new("model", Omit::IfZero, &LEAF),
    Field::new("context_size", Omit::IfZero, &LEAF),
    Field::new("runtime_flags", Omit::IfEmpty, &SEQ_LEAF),
    Field::inline(),
]);
pub static MAP_MODEL_CONFIG: Shape = Shape::Map(&MODEL_CONFIG);
pub static PROJECT: Shape = Shape::Struct(&[
    Field::new("name", Omit::IfZero, &LEAF),
    Field::new("services", Omit::Never, &MAP_SERVICE_CONFIG),
    Field::new("networks", Omit::IfEmpty, &MAP_NETWORK_CONFIG),
    Field::new("volumes", Omit::IfEmpty, &MAP_VOLUME_CONFIG),
    Field::new("secrets", Omit::IfEmpty, &MAP_FILE_OBJECT_CONFIG),
    Field::new("configs", Omit::IfEmpty, &MAP_FILE_OBJECT_CONFIG),
    Field::new("models", Omit::IfEmpty, &MAP_MODEL_CONFIG),
    Field::inline(),
]);
