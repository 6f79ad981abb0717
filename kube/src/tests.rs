//! One test (or a few) per mapping, on small stacks written to a temporary directory. The
//! objects are read back as JSON, the shape `kubectl get -o json` shows.
//!
//! Why one long file: it is the translation's test table, a test per mapping, read as one.

use crate::{generate, BindAs, Expose, Manifests, Options};
use serde_json::{json, Value};
use std::path::Path;

fn load_in(dir: &Path, yaml: &str, profiles: &[&str]) -> berth_compose::Project {
    std::fs::write(dir.join("compose.yaml"), yaml).unwrap();
    berth_compose::load(&berth_compose::LoadOptions {
        files: vec![dir.join("compose.yaml").to_string_lossy().into_owned()],
        profiles: profiles.iter().map(|p| p.to_string()).collect(),
        ..berth_compose::LoadOptions::default()
    })
    .unwrap()
}

fn export_with(yaml: &str, o: Options) -> Manifests {
    let d = tempfile::tempdir().unwrap();
    generate(&load_in(d.path(), yaml, &[]), &o).unwrap()
}

fn export(yaml: &str) -> Manifests {
    export_with(yaml, Options::default())
}

fn get(m: &Manifests, kind: &str, name: &str) -> Value {
    let o = m
        .objects
        .iter()
        .find(|o| o.kind() == kind && o.name() == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {:?}", names(m)));
    serde_json::to_value(o).unwrap()
}

fn has(m: &Manifests, kind: &str, name: &str) -> bool {
    m.objects
        .iter()
        .any(|o| o.kind() == kind && o.name() == name)
}

fn names(m: &Manifests) -> Vec<String> {
    m.objects
        .iter()
        .map(|o| format!("{}/{}", o.kind(), o.name()))
        .collect()
}

fn warned(m: &Manifests, scope: &str, key: &str) -> bool {
    m.warnings.iter().any(|w| w.scope == scope && w.key == key)
}

fn container(o: &Value) -> &Value {
    &o["spec"]["template"]["spec"]["containers"][0]
}

fn pod(o: &Value) -> &Value {
    &o["spec"]["template"]["spec"]
}

#[test]
fn every_object_carries_the_project_labels() {
    let m = export("name: p\nservices:\n  web:\n    image: nginx\n    ports: ['8080:80']\n");
    assert!(!m.objects.is_empty());
    for o in &m.objects {
        let l = o.metadata().labels.as_ref().unwrap();
        assert_eq!(l["app.kubernetes.io/managed-by"], "berth", "{}", o.name());
        assert_eq!(l["com.docker.compose.project"], "p");
    }
}

#[test]
fn ports_make_a_headless_service_named_after_the_service() {
    let m = export("name: p\nservices:\n  web:\n    image: nginx\n    ports: ['8080:80', '127.0.0.1:9090:90', '53:53/udp']\n    expose: ['7000-7001']\n");
    let s = get(&m, "Service", "web");
    assert_eq!(s["spec"]["clusterIP"], "None");
    assert_eq!(
        s["spec"]["selector"],
        json!({"com.docker.compose.project": "p", "com.docker.compose.service": "web"})
    );
    let ports: Vec<(i64, &str)> = s["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["port"].as_i64().unwrap(), p["protocol"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ports,
        [
            (80, "TCP"),
            (90, "TCP"),
            (53, "UDP"),
            (7000, "TCP"),
            (7001, "TCP")
        ]
    );
    // clusterip: nothing else is exposed, and nothing is warned about
    assert!(!has(&m, "Service", "web-published"));
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    // published ports admit traffic from anywhere; the loopback one does not
    let np = get(&m, "NetworkPolicy", "web-published");
    let admitted: Vec<i64> = np["spec"]["ingress"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert_eq!(admitted, [80, 53]);
}

#[test]
fn expose_nodeport_and_loadbalancer_publish_the_published_ports() {
    let yaml = "name: p\nservices:\n  web:\n    image: nginx\n    ports: ['30080:80', '8080:8000', '127.0.0.1:9090:90', '443']\n";
    let m = export_with(
        yaml,
        Options {
            expose: Expose::NodePort,
            ..Options::default()
        },
    );
    let s = get(&m, "Service", "web-published");
    assert_eq!(s["spec"]["type"], "NodePort");
    let ports = s["spec"]["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 3, "{ports:?}");
    assert_eq!(ports[0]["port"], 30080);
    assert_eq!(ports[0]["targetPort"], 80);
    assert_eq!(ports[0]["nodePort"], 30080);
    assert_eq!(ports[1]["port"], 8080);
    assert!(ports[1].get("nodePort").is_none());
    assert_eq!(ports[2]["port"], 443);
    assert!(warned(&m, "service web", "ports[1].published"));
    assert!(warned(&m, "service web", "ports[2]"), "{:?}", m.warnings);
    // the name Service stays headless for the stack's own traffic
    assert_eq!(get(&m, "Service", "web")["spec"]["clusterIP"], "None");
    let m = export_with(
        yaml,
        Options {
            expose: Expose::LoadBalancer,
            ..Options::default()
        },
    );
    assert_eq!(
        get(&m, "Service", "web-published")["spec"]["type"],
        "LoadBalancer"
    );
}

#[test]
fn aliases_links_and_container_name_are_more_services() {
    let m = export(concat!(
        "name: p\nservices:\n",
        "  api:\n    image: x\n    expose: ['8000']\n    container_name: api-main\n",
        "    networks:\n      default:\n        aliases: [backend, Bad_Alias, db]\n",
        "  db:\n    image: x\n",
        "  web:\n    image: x\n    links: ['api:legacy']\n",
    ));
    for alias in ["backend", "api-main", "legacy"] {
        let s = get(&m, "Service", alias);
        assert_eq!(
            s["spec"]["selector"]["com.docker.compose.service"], "api",
            "{alias}"
        );
        assert_eq!(s["spec"]["clusterIP"], "None");
        assert_eq!(s["spec"]["ports"][0]["port"], 8000);
    }
    // a name another service owns, and a name that is no DNS label, are warned about
    assert_eq!(
        get(&m, "Service", "db")["spec"]["selector"]["com.docker.compose.service"],
        "db"
    );
    assert!(warned(&m, "service api", "networks.default.aliases"));
    assert_eq!(
        m.warnings
            .iter()
            .filter(|w| w.key == "networks.default.aliases")
            .count(),
        2
    );
}

#[test]
fn named_volumes_become_claims() {
    let m = export(concat!(
        "name: p\nservices:\n",
        "  a:\n    image: x\n    volumes: [data:/data, big:/big, logs:/logs, 'shared:/s:ro']\n",
        "  b:\n    image: x\n    volumes: [shared:/s]\n",
        "volumes:\n  data:\n  big:\n    labels: {berth.kube/size: 20Gi}\n  logs:\n    external: true\n    name: old-logs\n  shared:\n",
    ));
    let data = get(&m, "PersistentVolumeClaim", "p-data");
    assert_eq!(data["spec"]["resources"]["requests"]["storage"], "1Gi");
    assert_eq!(data["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    assert_eq!(
        get(&m, "PersistentVolumeClaim", "p-big")["spec"]["resources"]["requests"]["storage"],
        "20Gi"
    );
    assert_eq!(
        get(&m, "PersistentVolumeClaim", "p-shared")["spec"]["accessModes"],
        json!(["ReadWriteMany"])
    );
    assert!(
        !has(&m, "PersistentVolumeClaim", "old-logs"),
        "external: used, not made"
    );
    let a = get(&m, "Deployment", "a");
    let claims: Vec<&str> = pod(&a)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["persistentVolumeClaim"]["claimName"].as_str().unwrap())
        .collect();
    assert_eq!(claims, ["p-data", "p-big", "old-logs", "p-shared"]);
    assert_eq!(container(&a)["volumeMounts"][3]["readOnly"], true);
    // the flag sizes claims without a label
    let m = export_with(
        "name: p\nservices:\n  a:\n    image: x\n    volumes: [data:/data]\nvolumes:\n  data:\n",
        Options {
            volume_size: "5Gi".into(),
            ..Options::default()
        },
    );
    assert_eq!(
        get(&m, "PersistentVolumeClaim", "p-data")["spec"]["resources"]["requests"]["storage"],
        "5Gi"
    );
}

#[test]
fn binds_tmpfs_and_anonymous_volumes() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("nginx.conf"), "worker_processes 1;\n").unwrap();
    std::fs::create_dir(d.path().join("conf.d")).unwrap();
    std::fs::write(d.path().join("conf.d/a.conf"), "a").unwrap();
    std::fs::write(d.path().join("conf.d/b.bin"), [0xff, 0xfe]).unwrap();
    let yaml = concat!(
        "name: p\nservices:\n  web:\n    image: nginx\n    volumes:\n",
        "      - ./nginx.conf:/etc/nginx/nginx.conf:ro\n",
        "      - ./conf.d:/etc/nginx/conf.d\n",
        "      - type: tmpfs\n        target: /cache\n        tmpfs: {size: 64m}\n",
        "      - /var/lib/anon\n",
        "    tmpfs: ['/run:size=1m']\n    shm_size: 128m\n",
    );
    let p = load_in(d.path(), yaml, &[]);
    let m = generate(&p, &Options::default()).unwrap();
    let cm = get(&m, "ConfigMap", "web-etc-nginx-nginx.conf");
    assert_eq!(cm["data"]["nginx.conf"], "worker_processes 1;\n");
    let dir = get(&m, "ConfigMap", "web-etc-nginx-conf.d");
    assert_eq!(dir["data"]["a.conf"], "a");
    assert_eq!(dir["binaryData"]["b.bin"], "//4=");
    // the directory was read-write: a ConfigMap cannot be
    assert!(warned(&m, "service web", "volumes[/etc/nginx/conf.d]"));
    assert!(!warned(&m, "service web", "volumes[/etc/nginx/nginx.conf]"));
    let w = get(&m, "Deployment", "web");
    let mounts = container(&w)["volumeMounts"].as_array().unwrap();
    let by_path = |p: &str| mounts.iter().find(|m| m["mountPath"] == p).unwrap().clone();
    assert_eq!(by_path("/etc/nginx/nginx.conf")["subPath"], "nginx.conf");
    assert_eq!(by_path("/etc/nginx/conf.d")["readOnly"], true);
    let vols = pod(&w)["volumes"].as_array().unwrap();
    let vol = |m: &Value| {
        vols.iter()
            .find(|v| v["name"] == m["name"])
            .unwrap()
            .clone()
    };
    assert_eq!(
        vol(&by_path("/cache"))["emptyDir"],
        json!({"medium": "Memory", "sizeLimit": "64Mi"})
    );
    assert_eq!(
        vol(&by_path("/run"))["emptyDir"],
        json!({"medium": "Memory", "sizeLimit": "1Mi"})
    );
    assert_eq!(
        vol(&by_path("/dev/shm"))["emptyDir"],
        json!({"medium": "Memory", "sizeLimit": "128Mi"})
    );
    assert_eq!(vol(&by_path("/var/lib/anon"))["emptyDir"], json!({}));
    // hostPath on request
    let m = generate(
        &p,
        &Options {
            bind_as: BindAs::HostPath,
            ..Options::default()
        },
    )
    .unwrap();
    assert!(!m.objects.iter().any(|o| o.kind() == "ConfigMap"));
    let w = get(&m, "Deployment", "web");
    let hp: Vec<Value> = pod(&w)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.get("hostPath").cloned())
        .collect();
    assert_eq!(hp[0]["type"], "File");
    assert!(hp[0]["path"].as_str().unwrap().ends_with("/nginx.conf"));
    assert_eq!(hp[1]["type"], "Directory");
}

#[test]
fn configs_and_secrets() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("app.toml"), "x = 1\n").unwrap();
    let yaml = concat!(
        "name: p\nservices:\n  app:\n    image: x\n",
        "    configs: [{source: app, target: /etc/app.toml, mode: 0440}, inline]\n",
        "    secrets: [token, {source: ext, target: ext.pem, uid: '1'}]\n",
        "configs:\n  app: {file: ./app.toml}\n  inline: {content: hi}\n",
        "secrets:\n  token: {environment: TOKEN}\n  ext: {external: true}\n",
    );
    std::fs::write(d.path().join(".env"), "TOKEN=s3cr3t\n").unwrap();
    let p = load_in(d.path(), yaml, &[]);
    let m = generate(&p, &Options::default()).unwrap();
    assert_eq!(get(&m, "ConfigMap", "p-app")["data"]["app"], "x = 1\n");
    assert_eq!(get(&m, "ConfigMap", "p-inline")["data"]["inline"], "hi");
    assert_eq!(get(&m, "Secret", "p-token")["data"]["token"], "czNjcjN0");
    assert!(!has(&m, "Secret", "ext"));
    let a = get(&m, "Deployment", "app");
    let mounts = container(&a)["volumeMounts"].as_array().unwrap();
    let paths: Vec<&str> = mounts
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/etc/app.toml",
            "/inline",
            "/run/secrets/token",
            "/run/secrets/ext.pem"
        ]
    );
    let vols = pod(&a)["volumes"].as_array().unwrap();
    assert_eq!(
        vols[0]["configMap"]["items"][0],
        json!({"key": "app", "path": "app", "mode": 0o440})
    );
    assert_eq!(vols[2]["secret"]["secretName"], "p-token");
    assert!(warned(&m, "service app", "secrets[1].uid/gid"));
}

#[test]
fn healthcheck_becomes_probes() {
    let m = export(concat!(
        "name: p\nservices:\n",
        "  db:\n    image: x\n    healthcheck:\n      test: ['CMD-SHELL', 'pg_isready -U $$USER']\n",
        "      interval: 5s\n      timeout: 2s\n      retries: 4\n      start_period: 20s\n      start_interval: 500ms\n",
        "  plain:\n    image: x\n    healthcheck:\n      test: ['CMD', 'true']\n",
        "  off:\n    image: x\n    healthcheck:\n      disable: true\n",
    ));
    let c = container(&get(&m, "Deployment", "db")).clone();
    let ready = &c["readinessProbe"];
    assert_eq!(
        ready["exec"]["command"],
        json!(["/bin/sh", "-c", "pg_isready -U $USER"])
    );
    assert_eq!(
        (
            ready["periodSeconds"].as_i64(),
            ready["timeoutSeconds"].as_i64(),
            ready["failureThreshold"].as_i64()
        ),
        (Some(5), Some(2), Some(4))
    );
    assert_eq!(c["livenessProbe"], *ready);
    // 20 s of start period probed every second (500ms rounded up), then the 4 retries
    assert_eq!(c["startupProbe"]["periodSeconds"], 1);
    assert_eq!(c["startupProbe"]["failureThreshold"], 24);
    assert!(warned(&m, "service db", "healthcheck.start_interval"));
    let plain = container(&get(&m, "Deployment", "plain")).clone();
    assert_eq!(plain["readinessProbe"]["exec"]["command"], json!(["true"]));
    assert_eq!(
        plain["readinessProbe"]["periodSeconds"], 30,
        "Docker's default interval"
    );
    assert!(plain.get("startupProbe").is_none());
    let off = container(&get(&m, "Deployment", "off")).clone();
    assert!(off.get("readinessProbe").is_none() && off.get("livenessProbe").is_none());
}

#[test]
fn depends_on_waits_in_init_containers() {
    let m = export_with(
        concat!(
            "name: p\nservices:\n",
            "  migrate:\n    image: x\n",
            "  db:\n    image: x\n    healthcheck: {test: ['CMD', 'true']}\n",
            "  cache:\n    image: x\n    restart: always\n",
            "  app:\n    image: x\n    depends_on:\n",
            "      migrate: {condition: service_completed_successfully}\n",
            "      db: {condition: service_healthy}\n",
            "      cache: {condition: service_started}\n",
        ),
        Options {
            namespace: Some("team".into()),
            ..Options::default()
        },
    );
    assert!(has(&m, "Job", "migrate"), "{:?}", names(&m));
    let app = get(&m, "Deployment", "app");
    let init = pod(&app)["initContainers"].as_array().unwrap();
    assert_eq!(init.len(), 3);
    assert_eq!(init[0]["name"], "wait-migrate");
    assert_eq!(
        init[0]["args"],
        json!([
            "wait",
            "--for=condition=Complete",
            "job/migrate",
            "--timeout=-1s"
        ])
    );
    assert_eq!(
        init[1]["args"][4],
        "com.docker.compose.project=p,com.docker.compose.service=db"
    );
    assert_eq!(init[1]["args"][1], "--for=condition=Ready");
    assert_eq!(init[2]["name"], "wait-cache");
    assert_eq!(init[0]["image"], Options::default().wait_image);
    assert_eq!(pod(&app)["serviceAccountName"], "p-wait");
    let rb = get(&m, "RoleBinding", "p-wait");
    assert_eq!(
        rb["subjects"][0],
        json!({"kind": "ServiceAccount", "name": "p-wait", "namespace": "team"})
    );
    let role = get(&m, "Role", "p-wait");
    assert_eq!(role["rules"][1]["resources"], json!(["jobs"]));
    assert!(has(&m, "ServiceAccount", "p-wait"));
    for o in &m.objects {
        assert_eq!(o.metadata().namespace.as_deref(), Some("team"));
    }
    // services that wait for nothing run as the namespace's default account
    assert!(pod(&get(&m, "Deployment", "db"))
        .get("serviceAccountName")
        .is_none());
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
}

#[test]
fn dependencies_without_the_condition_they_ask_for_are_warned_about() {
    let m = export(concat!(
        "name: p\nservices:\n",
        "  db:\n    image: x\n    ports: ['5432']\n",
        "  app:\n    image: x\n    depends_on:\n      db: {condition: service_healthy, restart: true}\n",
        "  other:\n    image: x\n    depends_on:\n      db: {condition: service_completed_successfully}\n",
    ));
    assert!(warned(&m, "service app", "depends_on.db.condition"));
    assert!(warned(&m, "service app", "depends_on.db.restart"));
    assert!(warned(&m, "service other", "depends_on.db.condition"));
    assert!(
        warned(&m, "project", "depends_on"),
        "no namespace: the RoleBinding names default"
    );
}

#[test]
fn resources_become_requests_and_limits() {
    let m = export(concat!(
        "name: p\nservices:\n",
        "  a:\n    image: x\n    deploy:\n      resources:\n",
        "        limits: {cpus: '1.5', memory: 512m, pids: 10}\n",
        "        reservations: {cpus: '0.25', memory: 128m}\n",
        "  b:\n    image: x\n    mem_limit: 1g\n    cpus: 0.5\n    mem_reservation: 100000\n    cpu_shares: 256\n",
    ));
    let a = container(&get(&m, "Deployment", "a")).clone();
    assert_eq!(
        a["resources"],
        json!({"limits": {"cpu": "1500m", "memory": "512Mi"}, "requests": {"cpu": "250m", "memory": "128Mi"}})
    );
    assert!(warned(&m, "service a", "deploy.resources.limits.pids"));
    let b = container(&get(&m, "Deployment", "b")).clone();
    assert_eq!(
        b["resources"],
        json!({"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "250m", "memory": "100000"}})
    );
}

#[test]
fn profiles_choose_the_services() {
    let yaml =
        "name: p\nservices:\n  web:\n    image: x\n  debug:\n    image: x\n    profiles: [debug]\n";
    let d = tempfile::tempdir().unwrap();
    let m = generate(&load_in(d.path(), yaml, &[]), &Options::default()).unwrap();
    assert!(has(&m, "Deployment", "web") && !has(&m, "Deployment", "debug"));
    let m = generate(&load_in(d.path(), yaml, &["debug"]), &Options::default()).unwrap();
    assert!(has(&m, "Deployment", "debug"));
}

#[test]
fn named_services_bring_their_dependencies() {
    let yaml = "name: p\nservices:\n  web:\n    image: x\n    depends_on: [api]\n  api:\n    image: x\n  other:\n    image: x\n";
    let m = export_with(
        yaml,
        Options {
            services: vec!["web".into()],
            ..Options::default()
        },
    );
    assert!(has(&m, "Deployment", "web") && has(&m, "Deployment", "api"));
    assert!(!has(&m, "Deployment", "other"));
    let d = tempfile::tempdir().unwrap();
    let e = generate(
        &load_in(d.path(), yaml, &[]),
        &Options {
            services: vec!["nope".into()],
            ..Options::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "no such service: nope");
}

#[test]
fn workload_kinds_follow_restart_and_deploy() {
    let m = export(concat!(
        "name: p\nservices:\n",
        "  once:\n    image: x\n    restart: 'no'\n",
        "  flaky:\n    image: x\n    restart: on-failure:3\n",
        "  agent:\n    image: x\n    deploy: {mode: global}\n",
        "  web:\n    image: x\n    restart: 'no'\n    ports: ['80']\n",
        "  many:\n    image: x\n    scale: 3\n",
    ));
    let once = get(&m, "Job", "once");
    assert_eq!(once["spec"]["backoffLimit"], 0);
    assert_eq!(pod(&once)["restartPolicy"], "Never");
    let flaky = get(&m, "Job", "flaky");
    assert_eq!(flaky["spec"]["backoffLimit"], 3);
    assert_eq!(pod(&flaky)["restartPolicy"], "OnFailure");
    assert!(has(&m, "DaemonSet", "agent"));
    assert!(has(&m, "Deployment", "web"));
    assert!(warned(&m, "service web", "restart"));
    assert_eq!(get(&m, "Deployment", "many")["spec"]["replicas"], 3);
    assert_eq!(
        get(&m, "Deployment", "many")["spec"]["strategy"]["type"],
        "Recreate"
    );
}

#[test]
fn container_settings() {
    let m = export(concat!(
        "name: p\nservices:\n  app:\n    image: x\n",
        "    entrypoint: [/bin/app]\n    command: ['--greet', 'echo $$(date) $$$$']\n",
        "    working_dir: /srv\n    user: '1000:2000'\n    cap_add: [NET_ADMIN]\n    cap_drop: [ALL]\n",
        "    read_only: true\n    init: true\n    stop_grace_period: 1m30s\n    tty: true\n",
        "    security_opt: [no-new-privileges]\n    hostname: box\n    extra_hosts: ['db.local:10.0.0.5']\n",
        "    dns: [1.1.1.1]\n    sysctls: {net.core.somaxconn: '1024'}\n    platform: linux/arm64\n",
        "    labels: {tier: back, note: 'has spaces'}\n    pull_policy: always\n",
        "    post_start: [{command: [touch, /tmp/up]}]\n",
    ));
    let d = get(&m, "Deployment", "app");
    let c = container(&d);
    assert_eq!(c["command"], json!(["/bin/app"]));
    assert_eq!(c["args"], json!(["--greet", "echo $$(date) $$$"]));
    assert_eq!(c["workingDir"], "/srv");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(
        c["securityContext"],
        json!({
            "allowPrivilegeEscalation": false,
            "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
            "readOnlyRootFilesystem": true, "runAsGroup": 2000, "runAsUser": 1000,
        })
    );
    assert_eq!(c["tty"], true);
    assert_eq!(
        c["lifecycle"]["postStart"]["exec"]["command"],
        json!(["touch", "/tmp/up"])
    );
    let p = pod(&d);
    assert_eq!(p["shareProcessNamespace"], true);
    assert_eq!(p["terminationGracePeriodSeconds"], 90);
    assert_eq!(p["hostname"], "box");
    assert_eq!(
        p["hostAliases"],
        json!([{"ip": "10.0.0.5", "hostnames": ["db.local"]}])
    );
    assert_eq!(p["dnsConfig"]["nameservers"], json!(["1.1.1.1"]));
    assert_eq!(
        p["securityContext"]["sysctls"],
        json!([{"name": "net.core.somaxconn", "value": "1024"}])
    );
    assert_eq!(
        p["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(
        p["nodeSelector"],
        json!({"kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64"})
    );
    let meta = &d["spec"]["template"]["metadata"];
    assert_eq!(meta["labels"]["tier"], "back");
    assert_eq!(meta["annotations"]["note"], "has spaces");
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
}

#[test]
fn env_files_that_look_secret_go_to_a_secret() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("app.env"), "MODE=prod\n").unwrap();
    std::fs::write(
        d.path().join("db.env"),
        "DB_PASSWORD=hunter2\nDB_USER=app\n",
    )
    .unwrap();
    let yaml = "name: p\nservices:\n  app:\n    image: x\n    env_file: [app.env, db.env]\n    environment:\n      DB_USER: override\n      PLAIN: $$HOME\n";
    let m = generate(&load_in(d.path(), yaml, &[]), &Options::default()).unwrap();
    let s = get(&m, "Secret", "app-db.env");
    assert_eq!(
        s["data"],
        json!({"DB_PASSWORD": "aHVudGVyMg=="}),
        "an inline value wins over the file's"
    );
    let env = container(&get(&m, "Deployment", "app"))["env"].clone();
    assert_eq!(
        env,
        json!([
            {"name": "MODE", "value": "prod"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "app-db.env", "key": "DB_PASSWORD"}}},
            {"name": "DB_USER", "value": "override"},
            {"name": "PLAIN", "value": "$HOME"},
        ])
    );
}

#[test]
fn networks_become_network_policies() {
    let m = export(concat!(
        "name: p\nservices:\n",
        "  web:\n    image: x\n    networks: [front]\n    ports: ['80:80']\n",
        "  api:\n    image: x\n    networks: [front, back]\n",
        "  db:\n    image: x\n    networks: [back]\n    depends_on: [api]\n",
        "  lone:\n    image: x\n    network_mode: none\n",
        "networks:\n  front:\n  back:\n    internal: true\n",
    ));
    let front = get(&m, "NetworkPolicy", "p-front");
    let sel =
        json!({"matchLabels": {"com.docker.compose.project": "p", "berth.kube/net.front": "true"}});
    assert_eq!(front["spec"]["podSelector"], sel);
    assert_eq!(front["spec"]["ingress"][0]["from"][0]["podSelector"], sel);
    assert!(has(&m, "NetworkPolicy", "p-back"));
    let api = get(&m, "Deployment", "api");
    let labels = &api["spec"]["template"]["metadata"]["labels"];
    assert_eq!(
        (
            labels["berth.kube/net.front"].as_str(),
            labels["berth.kube/net.back"].as_str()
        ),
        (Some("true"), Some("true"))
    );
    // db is on an internal network only: it may send to its network (and DNS, and the API
    // for its wait) only
    let internal = get(&m, "NetworkPolicy", "db-internal");
    assert_eq!(internal["spec"]["policyTypes"], json!(["Egress"]));
    assert_eq!(
        internal["spec"]["egress"][0]["to"][0]["podSelector"]["matchLabels"]["berth.kube/net.back"],
        "true"
    );
    assert_eq!(internal["spec"]["egress"][1]["ports"][0]["port"], 53);
    assert!(warned(&m, "service db", "depends_on"));
    assert!(
        !has(&m, "NetworkPolicy", "api-internal"),
        "api also has a way out"
    );
    let lone = get(&m, "NetworkPolicy", "lone-isolated");
    assert_eq!(lone["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert!(!has(&m, "Service", "lone"), "no network, no name");
}

#[test]
fn keys_without_a_mapping_are_named() {
    let m = export(concat!(
        "name: p\nservices:\n  app:\n    image: x\n    build: .\n",
        "    ulimits: {nofile: 1024}\n    stop_signal: SIGINT\n    devices: ['/dev/fuse']\n",
        "    logging: {driver: syslog}\n    x-custom: 1\n    user: postgres\n",
        "    networks:\n      default:\n        ipv4_address: 172.20.0.5\n",
        "    deploy:\n      placement: {constraints: ['node.role==manager']}\n",
        "networks:\n  default:\n    ipam: {config: [{subnet: 172.20.0.0/16}]}\n",
    ));
    for key in [
        "build",
        "ulimits",
        "stop_signal",
        "devices",
        "logging",
        "user",
        "networks.default.ipv4_address",
        "deploy.placement",
    ] {
        assert!(warned(&m, "service app", key), "{key}: {:?}", m.warnings);
    }
    assert!(warned(&m, "network default", "ipam"));
    assert!(!m.warnings.iter().any(|w| w.key.starts_with("x-")));
    let w = m.warnings.iter().find(|w| w.key == "ulimits").unwrap();
    assert_eq!(w.to_string(), "service app: `ulimits` is left out: Kubernetes sets no per-pod rlimits; the node's container runtime defaults apply");
    // build: the image Compose would build, by name
    assert_eq!(container(&get(&m, "Deployment", "app"))["image"], "x");
}

#[test]
fn names_kubernetes_refuses() {
    let m = export("name: p\nservices:\n  My_App:\n    image: x\n");
    assert!(has(&m, "Deployment", "my-app"));
    assert!(warned(&m, "service My_App", "name"));
    let d = tempfile::tempdir().unwrap();
    let p = load_in(d.path(), "name: p\nservices:\n  1app:\n    image: x\n", &[]);
    assert!(generate(&p, &Options::default())
        .unwrap_err()
        .to_string()
        .contains("must start with a letter"));
    let p = load_in(
        d.path(),
        "name: p\nservices:\n  a_b:\n    image: x\n  a-b:\n    image: x\n",
        &[],
    );
    assert!(generate(&p, &Options::default())
        .unwrap_err()
        .to_string()
        .contains("both become"));
}
