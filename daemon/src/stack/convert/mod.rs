//! One service replica of the loaded project -> the engine's container config, with Compose's
//! names and labels. Keys berth does not honour yet come back as warnings, never silently.
//!
//! Rooms: `warnings` (what is not acted on), `mounts`, `networking` (network mode, networks,
//! links), `limits` (resources, ulimits, restart policy); this file assembles them.

use berth_compose::loader::model::{Port, Service};
use berth_compose::loader::Project;
use berth_compose::{
    config_hash, container_name, parse_duration_secs, LABEL_FILES, LABEL_HASH, LABEL_NUMBER,
    LABEL_ONEOFF, LABEL_PROJECT, LABEL_SERVICE, LABEL_WORKDIR,
};
use berth_engine::container::{self as model, ContainerConfig};
use serde_json::Value;
use std::collections::BTreeMap;

mod limits;
mod mounts;
mod networking;
mod warnings;

pub use warnings::{project_warnings, service_warnings};

/// The image a service runs: `image:`, else the name Compose gives a built image
/// (`project-service`), which must have been imported or loaded under that name.
pub fn image_name(p: &Project, name: &str, svc: &Service) -> String {
    svc.image
        .clone()
        .unwrap_or_else(|| format!("{}-{name}", p.name))
}

/// The service's health check with Docker's defaults for what it leaves out.
fn health_config(svc: &Service) -> Option<model::HealthConfig> {
    let h = svc.healthcheck.as_ref()?;
    if h.disable == Some(true) {
        return None;
    }
    let test = model::HealthConfig::test_argv(&h.test)?;
    let ms = |d: &Option<String>, default: u64| {
        d.as_deref()
            .and_then(parse_duration_secs)
            .map(|s| (s * 1000.0) as u64)
            .unwrap_or(default)
    };
    let defaults = model::HealthConfig::default();
    Some(model::HealthConfig {
        test,
        interval_ms: ms(&h.interval, defaults.interval_ms),
        timeout_ms: ms(&h.timeout, defaults.timeout_ms),
        retries: h.retries.map(|r| r as u32).unwrap_or(defaults.retries),
        start_period_ms: ms(&h.start_period, defaults.start_period_ms),
        start_interval_ms: ms(&h.start_interval, defaults.start_interval_ms),
    })
}

fn port_spec(p: &Port) -> String {
    let proto = p.protocol.as_deref().unwrap_or("tcp");
    let mut s = String::new();
    if let Some(ip) = p.host_ip.as_deref().filter(|i| !i.is_empty()) {
        s.push_str(ip);
        s.push(':');
    }
    match p.published.as_deref().filter(|x| !x.is_empty()) {
        Some(host) => s.push_str(&format!("{host}:{}", p.target)),
        None if !s.is_empty() => s.push_str(&format!(":{}", p.target)),
        None => s.push_str(&p.target.to_string()),
    }
    format!("{s}/{proto}")
}

fn bytes_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => model::parse_bytes(s).ok(),
        _ => None,
    }
}

/// The container config for replica `number` of service `name`, and the warnings for keys
/// berth does not act on.
pub fn container_config(
    p: &Project,
    name: &str,
    svc: &Service,
    number: u32,
) -> Result<(ContainerConfig, Vec<String>), String> {
    let mut warn = service_warnings(name, svc);
    if svc.image.is_none() && svc.build.is_none() {
        return Err(format!(
            "service {name} has neither an image nor a build context specified"
        ));
    }
    // Without `image:` Compose builds and runs `project-service` (stack::build makes it
    // before the controller runs; the controller checks it exists before creating anything).
    let image = image_name(p, name, svc);
    let labels = labels(p, name, svc, number);
    let env: Vec<String> = svc
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    let mounts = mounts::mounts(p, name, svc, number, &mut warn)?;
    let (network_mode, networks) = networking::attachments(p, name, svc)?;
    let resources = limits::resources(svc);
    let ulimits = limits::ulimits(svc);
    let restart = limits::restart_policy(name, svc)?;
    warn.extend(logging_warning(name, svc));
    // Compose reads a seccomp profile file relative to the project directory.
    let security_opt =
        berth_engine::security_opt::inline_profiles(&svc.security_opt, &p.working_dir)
            .map_err(|e| format!("service {name}: {e}"))?;
    let security = berth_engine::security_opt::SecurityOptions::parse(&security_opt)
        .map_err(|e| format!("service {name}: {e}"))?;
    warn.extend(
        security
            .warnings
            .iter()
            .map(|w| format!("service {name}: {w}")),
    );
    let cfg = ContainerConfig {
        security_opt,
        name: container_name(&p.name, name, svc, number),
        image,
        cmd: svc.command.clone(),
        entrypoint: svc.entrypoint.clone(),
        env,
        working_dir: svc.working_dir.clone(),
        user: svc.user.clone(),
        hostname: svc.hostname.clone(),
        domainname: svc.domainname.clone(),
        labels,
        tty: svc.tty.unwrap_or(false),
        console_size: None,
        open_stdin: svc.stdin_open.unwrap_or(false),
        mounts,
        read_only: svc.read_only.unwrap_or(false),
        privileged: svc.privileged.unwrap_or(false),
        init: svc.init.unwrap_or(false),
        cap_add: svc.cap_add.clone(),
        cap_drop: svc.cap_drop.clone(),
        resources,
        ulimits,
        stop_signal: svc.stop_signal.clone(),
        stop_timeout: svc
            .stop_grace_period
            .as_deref()
            .and_then(parse_duration_secs)
            .map(|s| s.ceil() as u64),
        restart,
        network_mode,
        networks,
        ports: svc.ports.iter().map(port_spec).collect(),
        publish_all: false,
        dns: svc.dns.clone(),
        dns_search: svc.dns_search.clone(),
        extra_hosts: svc
            .extra_hosts
            .iter()
            .map(|h| h.replacen('=', ":", 1))
            .collect(),
        sysctls: svc
            .sysctls
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        shm_size: svc.shm_size.map(|s| s.0 as u64),
        log_max_size: log_opt(svc, "max-size")
            .and_then(|s| model::parse_bytes(&s).ok())
            .map(|s| s as u64),
        log_max_files: log_opt(svc, "max-file").and_then(|s| s.parse().ok()),
        auto_remove: false,
        ephemeral: false,
        exposed_ports: svc.expose.clone(),
        healthcheck: health_config(svc),
        no_healthcheck: svc.healthcheck.as_ref().is_some_and(|h| {
            h.disable == Some(true) || h.test.first().map(String::as_str) == Some("NONE")
        }),
        links: networking::links(p, svc),
    };
    Ok((cfg, warn))
}

/// The service's own labels and Compose's: project, service, number, config hash, files.
fn labels(p: &Project, name: &str, svc: &Service, number: u32) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = svc
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(LABEL_PROJECT.into(), p.name.clone());
    labels.insert(LABEL_SERVICE.into(), name.into());
    labels.insert(LABEL_NUMBER.into(), number.to_string());
    labels.insert(LABEL_HASH.into(), config_hash(svc));
    labels.insert(LABEL_ONEOFF.into(), "False".into());
    labels.insert(LABEL_WORKDIR.into(), p.working_dir.display().to_string());
    labels.insert(
        LABEL_FILES.into(),
        p.files_read()
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    labels
}

/// A `logging.options` value, as text.
fn log_opt(svc: &Service, key: &str) -> Option<String> {
    svc.logging
        .as_ref()
        .and_then(|l| l.options.get(key))
        .and_then(|v| {
            v.as_str()
                .map(String::from)
                .or_else(|| v.as_i64().map(|n| n.to_string()))
        })
}

/// The logging driver, when it is one berth does not write (it writes json-file).
fn logging_warning(name: &str, svc: &Service) -> Option<String> {
    let driver = svc.logging.as_ref().and_then(|l| l.driver.as_deref())?;
    (driver != "json-file" && driver != "local").then(|| {
        format!("service {name}: logging driver {driver} is not supported; json-file is used")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::container::RestartPolicy;

    /// The project, with its directory (a bind source gets created there).
    fn load(yaml: &str) -> (tempfile::TempDir, Project) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("compose.yaml"), yaml).unwrap();
        let p = berth_compose::loader::load(&berth_compose::loader::LoadOptions {
            cwd: Some(d.path().to_path_buf()),
            interpolate: true,
            ..Default::default()
        })
        .unwrap();
        (d, p)
    }

    #[test]
    fn every_key_not_acted_on_is_named_in_a_warning() {
        let (_dir, p) = load(
            r#"
name: w
services:
  app:
    image: bb:local
    build:
      context: .
      tags: [bb:extra]
      cache_from: [bb:cache]
      ssh: [default]
    secrets: [token]
    ipc: host
    security_opt: [no-new-privileges, "label=disable"]
    devices: ["/dev/fuse:/dev/fuse"]
    mem_reservation: 10m
    x-custom: ignored-by-design
    networks:
      default: {mac_address: "02:42:ac:11:00:99"}
    volumes:
      - type: bind
        source: ./src
        target: /src
        bind: {propagation: rshared, create_host_path: true}
      - data:/data
    logging: {driver: syslog, options: {tag: app}}
    deploy:
      mode: global
      resources:
        limits: {memory: 10m, devices: []}
        reservations: {cpus: "0.1"}
      restart_policy: {condition: on-failure, max_attempts: 2, delay: 5s}
    tmpfs: ["/run:size=1m,noexec"]
secrets:
  token: {file: ./token}
networks:
  default:
    enable_ipv6: true
    driver_opts: {com.docker.network.driver.mtu: "1400", foo: bar}
volumes:
  data: {driver: nfs}
"#,
        );
        let (cfg, warnings) = container_config(&p, "app", &p.services["app"], 1).unwrap();
        let all = warnings.join("\n");
        for key in [
            "`secrets`",
            "`build.cache_from`",
            "`build.ssh`",
            "`ipc`",
            "SELinux label options are ignored",
            "`devices`",
            "`mem_reservation`",
            "`networks.default.mac_address`",
            "`volumes[/src].bind.propagation`",
            "`deploy.mode`",
            "`deploy.resources.limits.devices`",
            "`deploy.resources.reservations`",
            "`deploy.restart_policy.delay`",
            "`logging.options.tag`",
            "logging driver syslog",
            "tmpfs option noexec",
        ] {
            assert!(all.contains(key), "{key} missing in\n{all}");
        }
        assert!(
            !all.contains("x-custom")
                && !all.contains("create_host_path")
                && !all.contains("build.tags"),
            "{all}"
        );
        // What is supported is honoured instead.
        assert_eq!(cfg.restart, RestartPolicy::OnFailure { max_retries: 2 });
        assert_eq!(cfg.mounts.last().unwrap().size, Some(1 << 20));
        let top = project_warnings(&p).join("\n");
        for key in [
            "`enable_ipv6`",
            "`driver_opts.foo`",
            "volume data: `driver`",
        ] {
            assert!(top.contains(key), "{key} missing in\n{top}");
        }
        assert!(!top.contains("mtu"), "{top}");
    }

    #[test]
    fn build_without_image_runs_project_service() {
        let (_dir, p) = load("name: b\nservices:\n  app:\n    build: .\n");
        let (cfg, warnings) = container_config(&p, "app", &p.services["app"], 1).unwrap();
        assert_eq!(cfg.image, "b-app");
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn build_keys_not_acted_on_are_named() {
        let (_dir, p) = load(
            r#"
name: b
services:
  app:
    build:
      context: .
      args: {A: "1"}
      target: t
      tags: [x:1]
      labels: {k: v}
      no_cache: true
      network: none
      shm_size: 64m
      platforms: [linux/amd64]
      cache_from: [type=local,src=/tmp/c]
      ssh: [default]
      additional_contexts: {more: ../more}
  arm:
    build: {context: ., platforms: [linux/arm64]}
"#,
        );
        let (_, warnings) = container_config(&p, "app", &p.services["app"], 1).unwrap();
        let all = warnings.join("\n");
        for key in ["build.cache_from", "build.ssh"] {
            assert!(
                all.contains(&format!("service app: `{key}` is not supported yet")),
                "{all}"
            );
        }
        assert_eq!(warnings.len(), 2, "{all}");
        let (_, warnings) = container_config(&p, "arm", &p.services["arm"], 1).unwrap();
        assert_eq!(
            warnings,
            ["service arm: `build.platforms` is not supported yet and is ignored"]
        );
    }

    #[test]
    fn ports() {
        let p = Port {
            target: 80,
            published: Some("8080".into()),
            host_ip: Some("127.0.0.1".into()),
            protocol: Some("tcp".into()),
            ..Default::default()
        };
        assert_eq!(port_spec(&p), "127.0.0.1:8080:80/tcp");
        let p = Port {
            target: 53,
            protocol: Some("udp".into()),
            ..Default::default()
        };
        assert_eq!(port_spec(&p), "53/udp");
    }
}
