//! The executor against a fake daemon: no root, no namespaces, no image store. Each test
//! seeds what exists, runs `up` and asserts the actions the fake saw, in order.

use super::*;
use crate::metrics::Metrics;
use crate::stack::ports::{ImagePort, NetworkPort, VolumePort};
use berth_compose::{NetworkDefinition, ReplicaState, LABEL_HASH, LABEL_PROJECT};
use berth_engine::container::{ContainerConfig, MountConfig};
use berth_netd::NetworkInfo;
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

#[derive(Debug, Clone)]
struct FakeCtr {
    id: String,
    service: String,
    number: u32,
    name: String,
    hash: String,
    state: ReplicaState,
}

#[derive(Default)]
struct World {
    containers: Vec<FakeCtr>,
    networks: Vec<NetworkInfo>,
    volumes: BTreeSet<String>,
    /// Whether some container outside the stack uses every image (`down --rmi` keeps them).
    images_in_use: bool,
    /// The last container config the executor created.
    last_config: Option<ContainerConfig>,
    /// What the executor did, in order: `verb name`.
    actions: Vec<String>,
}

struct Fake {
    world: Mutex<World>,
    metrics: Metrics,
}

impl Fake {
    fn new(world: World) -> Arc<Fake> {
        Arc::new(Fake {
            world: Mutex::new(world),
            metrics: Metrics::new("berth-test"),
        })
    }

    fn did(&self, action: String) {
        self.world.lock().unwrap().actions.push(action);
    }

    fn actions(&self) -> Vec<String> {
        self.world.lock().unwrap().actions.clone()
    }
}

impl ContainerPort for Fake {
    type Handle = String;

    fn id(&self, c: &String) -> String {
        c.clone()
    }

    async fn replicas(&self, project: &str) -> Vec<Replica<String>> {
        let w = self.world.lock().unwrap();
        let mut out: Vec<Replica<String>> = w
            .containers
            .iter()
            .filter(|c| c.name.starts_with(&format!("{project}-")))
            .map(|c| Replica {
                service: c.service.clone(),
                number: c.number,
                name: c.name.clone(),
                handle: c.id.clone(),
            })
            .collect();
        out.sort_by(|a, b| (&a.service, a.number).cmp(&(&b.service, b.number)));
        out
    }

    async fn oneoffs(&self, _project: &str) -> Vec<Replica<String>> {
        Vec::new()
    }

    async fn observe(&self, id: &String) -> (String, ReplicaState, String) {
        let w = self.world.lock().unwrap();
        let c = w.containers.iter().find(|c| &c.id == id).unwrap();
        (c.hash.clone(), c.state, "sha256:fake".into())
    }

    async fn create_container(&self, cfg: ContainerConfig) -> Result<String, ApiError> {
        self.did(format!("create {}", cfg.name));
        let mut w = self.world.lock().unwrap();
        let id = format!("id-{}", w.actions.len());
        w.containers.push(FakeCtr {
            id: id.clone(),
            service: cfg.labels[berth_compose::LABEL_SERVICE].clone(),
            // One-offs have no number.
            number: cfg
                .labels
                .get(berth_compose::LABEL_NUMBER)
                .map_or(0, |n| n.parse().unwrap()),
            name: cfg.name.clone(),
            hash: cfg.labels[LABEL_HASH].clone(),
            state: ReplicaState::Stopped,
        });
        w.last_config = Some(cfg);
        Ok(id)
    }

    async fn start_container(&self, id: &String) -> Result<(), ApiError> {
        let mut w = self.world.lock().unwrap();
        let c = w.containers.iter_mut().find(|c| &c.id == id).unwrap();
        c.state = ReplicaState::Running;
        let name = c.name.clone();
        w.actions.push(format!("start {name}"));
        Ok(())
    }

    async fn stop_container(&self, id: &String, _: Option<u64>) -> Result<(), ApiError> {
        // A stop takes time: whatever was set going before it runs first.
        tokio::task::yield_now().await;
        let mut w = self.world.lock().unwrap();
        let c = w.containers.iter_mut().find(|c| &c.id == id).unwrap();
        c.state = ReplicaState::Stopped;
        let name = c.name.clone();
        w.actions.push(format!("stop {name}"));
        Ok(())
    }

    async fn image_ref(&self, id: &String) -> String {
        let w = self.world.lock().unwrap();
        let c = w.containers.iter().find(|c| &c.id == id).unwrap();
        format!("s-{}", c.service)
    }

    async fn remove_container(&self, id: &String) -> Result<(), ApiError> {
        let mut w = self.world.lock().unwrap();
        let i = w.containers.iter().position(|c| &c.id == id).unwrap();
        let c = w.containers.remove(i);
        w.actions.push(format!("remove {}", c.name));
        Ok(())
    }

    async fn remove_container_and_volumes(&self, id: &String) -> Result<(), ApiError> {
        self.remove_container(id).await?;
        self.did("and its anonymous volumes".into());
        Ok(())
    }

    async fn mounts_of(&self, _: &str) -> Option<Vec<MountConfig>> {
        None
    }

    async fn rewire(&self, id: &str, keep: HashMap<String, Ipv4Addr>) -> Result<(), ApiError> {
        let mut keep: Vec<_> = keep.into_iter().collect();
        keep.sort();
        self.did(format!("rewire {id} {keep:?}"));
        Ok(())
    }

    async fn wait_dependencies(
        &self,
        _: &Project,
        _: &str,
        _: &Progress,
    ) -> Result<Vec<String>, ApiError> {
        Ok(Vec::new())
    }

    async fn wait_ready(&self, _: &Project, _: &HashSet<String>) -> Result<(), ApiError> {
        Ok(())
    }
}

impl NetworkPort for Fake {
    async fn inspect_network(&self, name: &str) -> Option<NetworkInfo> {
        let w = self.world.lock().unwrap();
        w.networks.iter().find(|n| n.name == name).cloned()
    }

    async fn create_network(&self, def: NetworkDefinition) -> Result<(), ApiError> {
        self.did(format!("create network {}", def.name));
        let mut w = self.world.lock().unwrap();
        let info = network(&def.name, def.labels);
        w.networks.push(info);
        Ok(())
    }

    async fn detach(&self, network_id: &str, container_id: &str) -> Result<(), ApiError> {
        self.did(format!("detach {container_id} from {network_id}"));
        let mut w = self.world.lock().unwrap();
        for n in w.networks.iter_mut().filter(|n| n.id == network_id) {
            n.endpoints.retain(|e| e.container_id != container_id);
        }
        Ok(())
    }

    async fn remove_network(&self, id: &str, leaving: &HashSet<String>) -> Result<(), ApiError> {
        self.did(format!("remove network {id}"));
        let w = self.world.lock().unwrap();
        let n = w.networks.iter().find(|n| n.id == id);
        let staying = n.into_iter().flat_map(|n| &n.endpoints);
        if let Some(ep) = staying
            .into_iter()
            .find(|e| !leaving.contains(&e.container_id))
        {
            return Err(ApiError::conflict(format!(
                "network {id} is in use by {}",
                ep.container_id
            )));
        }
        drop(w);
        self.world.lock().unwrap().networks.retain(|n| n.id != id);
        Ok(())
    }

    async fn project_networks(&self, project: &str) -> Vec<NetworkInfo> {
        let w = self.world.lock().unwrap();
        w.networks
            .iter()
            .filter(|n| n.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project))
            .cloned()
            .collect()
    }
}

impl VolumePort for Fake {
    async fn volume_exists(&self, name: &str) -> Result<bool, ApiError> {
        Ok(self.world.lock().unwrap().volumes.contains(name))
    }

    async fn create_volume(&self, name: &str, _: BTreeMap<String, String>) -> Result<(), ApiError> {
        self.did(format!("create volume {name}"));
        self.world.lock().unwrap().volumes.insert(name.into());
        Ok(())
    }

    async fn resolve_mounts(&self, _: &mut ContainerConfig) -> Result<(), ApiError> {
        Ok(())
    }

    async fn project_volumes(&self, project: &str) -> Result<Vec<String>, ApiError> {
        let w = self.world.lock().unwrap();
        let prefix = format!("{project}_");
        Ok(w.volumes
            .iter()
            .filter(|v| v.starts_with(&prefix))
            .cloned()
            .collect())
    }

    async fn remove_volume(&self, name: &str) -> Result<(), ApiError> {
        self.did(format!("remove volume {name}"));
        self.world.lock().unwrap().volumes.remove(name);
        Ok(())
    }
}

impl ImagePort for Fake {
    async fn image_id(&self, reference: &str) -> Option<String> {
        (reference != "missing:latest").then(|| "sha256:fake".into())
    }

    async fn image_in_use(&self, _: &str) -> bool {
        self.world.lock().unwrap().images_in_use
    }

    async fn remove_image(&self, reference: &str) -> Result<(), ApiError> {
        self.did(format!("remove image {reference}"));
        Ok(())
    }
}

impl Ports for Fake {
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

fn network(name: &str, labels: BTreeMap<String, String>) -> NetworkInfo {
    NetworkInfo {
        id: format!("net-{name}"),
        name: name.into(),
        bridge: "br-test".into(),
        subnet: "10.99.0.0/24".parse().unwrap(),
        gateway: Ipv4Addr::new(10, 99, 0, 1),
        ip_range: None,
        internal: false,
        mtu: 1500,
        labels,
        created: 0,
        endpoints: Vec::new(),
    }
}

fn project(yaml: &str) -> Project {
    berth_compose::load(&berth_compose::LoadOptions {
        files: vec!["-".into()],
        stdin: Some(yaml.into()),
        cwd: Some(std::env::temp_dir()),
        ..Default::default()
    })
    .unwrap()
}

fn ctr(p: &Project, service: &str, number: u32, hash: &str, state: ReplicaState) -> FakeCtr {
    let svc = p.services.get(service);
    FakeCtr {
        id: format!("old-{service}-{number}"),
        service: service.into(),
        number,
        name: match svc {
            Some(svc) => berth_compose::container_name(&p.name, service, svc, number),
            None => format!("{}-{service}-{number}", p.name),
        },
        hash: hash.into(),
        state,
    }
}

async fn run_up(fake: &Arc<Fake>, p: &Project, o: UpOptions) -> Outcome {
    up(fake, p, &o).await.unwrap()
}

const APP: &str = r#"name: s
services:
  db: {image: "db:1", volumes: ["data:/data"]}
  web: {image: web:1, depends_on: [db]}
  cache: {image: cache:1}
volumes:
  data: {}
"#;

#[tokio::test]
async fn a_fresh_up_creates_networks_volumes_then_services_in_dependency_order() {
    let p = project(APP);
    let fake = Fake::new(World::default());
    let out = run_up(&fake, &p, UpOptions::default()).await;
    let actions = fake.actions();
    assert_eq!(
        actions[..2],
        ["create network s_default", "create volume s_data"]
    );
    let at = |a: &str| {
        actions
            .iter()
            .position(|x| x == a)
            .unwrap_or_else(|| panic!("{a}: {actions:?}"))
    };
    assert!(at("create s-db-1") < at("start s-db-1"));
    assert!(at("start s-db-1") < at("create s-web-1"), "{actions:?}");
    assert!(at("create s-cache-1") < at("create s-web-1"), "{actions:?}");
    assert_eq!(actions.len(), 2 + 6, "{actions:?}");
    let created: Vec<_> = out
        .events
        .iter()
        .filter(|e| e.action == "Created")
        .collect();
    assert_eq!(created.len(), 5);
}

#[tokio::test]
async fn only_changed_replicas_are_recreated_and_stopped_ones_started() {
    let p = project(APP);
    let hash = |s: &str| berth_compose::config_hash(&p.services[s]);
    let fake = Fake::new(World {
        containers: vec![
            ctr(&p, "db", 1, &hash("db"), ReplicaState::Running),
            ctr(&p, "web", 1, "stale", ReplicaState::Running),
            ctr(&p, "cache", 1, &hash("cache"), ReplicaState::Stopped),
        ],
        networks: vec![network("s_default", BTreeMap::new())],
        volumes: BTreeSet::from(["s_data".to_string()]),
        ..World::default()
    });
    let out = run_up(&fake, &p, UpOptions::default()).await;
    let mut actions = fake.actions();
    actions.sort();
    assert_eq!(
        actions,
        [
            "create s-web-1",
            "remove s-web-1",
            "start s-cache-1",
            "start s-web-1",
            "stop s-web-1",
        ]
    );
    let db: Vec<_> = out.events.iter().filter(|e| e.name == "s-db-1").collect();
    assert_eq!(db.len(), 1);
    assert_eq!(db[0].action, "Running");
}

#[tokio::test]
async fn orphans_and_extra_replicas_go_only_when_asked() {
    let p = project(APP);
    let hash = |s: &str| berth_compose::config_hash(&p.services[s]);
    let world = || World {
        containers: vec![
            ctr(&p, "db", 1, &hash("db"), ReplicaState::Running),
            ctr(&p, "web", 1, &hash("web"), ReplicaState::Running),
            ctr(&p, "web", 2, &hash("web"), ReplicaState::Running),
            ctr(&p, "cache", 1, &hash("cache"), ReplicaState::Running),
            ctr(&p, "gone", 1, "x", ReplicaState::Running),
        ],
        networks: vec![network("s_default", BTreeMap::new())],
        volumes: BTreeSet::from(["s_data".to_string()]),
        ..World::default()
    };
    let fake = Fake::new(world());
    let out = run_up(&fake, &p, UpOptions::default()).await;
    // web is scaled to its file's 1: the highest number goes; the orphan stays, with a warning.
    assert_eq!(fake.actions(), ["stop s-web-2", "remove s-web-2"]);
    assert!(
        out.warnings.iter().any(|w| w
            .starts_with("Found orphan containers ([s-gone-1]) for this project")
            && w.contains("--remove-orphans")),
        "{:?}",
        out.warnings
    );

    let fake = Fake::new(world());
    let o = UpOptions {
        remove_orphans: true,
        scale: BTreeMap::from([("web".to_string(), 2)]),
        ..UpOptions::default()
    };
    run_up(&fake, &p, o).await;
    assert_eq!(fake.actions(), ["stop s-gone-1", "remove s-gone-1"]);
}

#[tokio::test]
async fn a_changed_network_is_made_again_and_its_containers_rewired() {
    let p = project("name: s\nservices:\n  a: {image: a:1}\nnetworks:\n  default: {driver_opts: {mtu: \"1400\"}}\n");
    let mut labels = BTreeMap::from([
        (LABEL_PROJECT.to_string(), "s".to_string()),
        (LABEL_HASH.to_string(), "before".to_string()),
    ]);
    let mut net = network("s_default", labels.clone());
    net.endpoints.push(berth_netd::EndpointInfo {
        container_id: "old-a-1".into(),
        ifname: "eth0".into(),
        host_ifname: "veth0".into(),
        ip: Ipv4Addr::new(10, 99, 0, 7),
        mac: String::new(),
        dns_names: Vec::new(),
    });
    let hash = berth_compose::config_hash(&p.services["a"]);
    let world = |net: NetworkInfo| World {
        containers: vec![ctr(&p, "a", 1, &hash, ReplicaState::Running)],
        networks: vec![net],
        ..World::default()
    };
    let fake = Fake::new(world(net.clone()));
    run_up(&fake, &p, UpOptions::default()).await;
    assert_eq!(
        fake.actions(),
        [
            "detach old-a-1 from net-s_default",
            "remove network net-s_default",
            "create network s_default",
            "rewire old-a-1 [(\"s_default\", 10.99.0.7)]",
        ]
    );
    // The dry run says the same, and a one-off's pass leaves the network as it runs.
    let fake = Fake::new(world(net.clone()));
    let steps = plan(&fake, &p, &UpOptions::default()).await.unwrap();
    assert_eq!((steps[0].kind, steps[0].action), ("Network", "Recreate"));
    let as_running = UpOptions {
        as_running: true,
        ..UpOptions::default()
    };
    run_up(&fake, &p, as_running).await;
    assert!(fake.actions().is_empty(), "{:?}", fake.actions());
    // A network of another stack is never touched.
    labels.insert(LABEL_PROJECT.into(), "other".into());
    net.labels = labels;
    let fake = Fake::new(world(net));
    run_up(&fake, &p, UpOptions::default()).await;
    assert!(fake.actions().is_empty(), "{:?}", fake.actions());
}

#[tokio::test]
async fn a_missing_image_fails_before_anything_is_made() {
    let p = project("name: s\nservices:\n  a: {image: \"missing:latest\"}\n");
    let fake = Fake::new(World::default());
    let err = up(&fake, &p, &UpOptions::default()).await.unwrap_err();
    assert!(err.message.contains("no such image"), "{}", err.message);
    assert!(fake.actions().is_empty());
}

/// APP's db and web, running as their files say.
fn app_running(p: &Project) -> Vec<FakeCtr> {
    let hash = |s: &str| berth_compose::config_hash(&p.services[s]);
    vec![
        ctr(p, "db", 1, &hash("db"), ReplicaState::Running),
        ctr(p, "web", 1, &hash("web"), ReplicaState::Running),
    ]
}

fn stack_labels(project: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(LABEL_PROJECT.to_string(), project.to_string())])
}

#[tokio::test]
async fn down_removes_dependents_first_then_networks_and_only_on_request_volumes_and_images() {
    let p = project(APP);
    let world = || World {
        containers: app_running(&p),
        networks: vec![
            attached(
                network("s_default", stack_labels("s")),
                &["old-db-1", "old-web-1"],
            ),
            network("other_default", stack_labels("other")),
        ],
        volumes: BTreeSet::from(["s_data".to_string(), "other_data".to_string()]),
        ..World::default()
    };
    let fake = Fake::new(world());
    let out = down(&fake, "s", Some(&p), &DownOptions::default())
        .await
        .unwrap();
    assert_eq!(
        fake.actions(),
        [
            "stop s-web-1",
            "remove s-web-1",
            "stop s-db-1",
            "remove s-db-1",
            "remove network net-s_default",
        ]
    );
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);

    // -v takes the stack's volumes, --rmi all every service's image.
    let fake = Fake::new(world());
    let o = DownOptions {
        volumes: true,
        rmi: Some("all".into()),
        ..DownOptions::default()
    };
    down(&fake, "s", Some(&p), &o).await.unwrap();
    let actions = fake.actions();
    assert_eq!(
        actions[5..],
        [
            "remove volume s_data",
            "remove image cache:1",
            "remove image db:1",
            "remove image web:1",
        ]
    );
    assert!(fake.world.lock().unwrap().volumes.contains("other_data"));

    // An image another container still uses is kept, with a warning; a bad --rmi changes nothing.
    let fake = Fake::new(World {
        images_in_use: true,
        ..world()
    });
    let o = DownOptions {
        rmi: Some("local".into()),
        ..DownOptions::default()
    };
    let out = down(&fake, "s", None, &o).await.unwrap();
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("image s-db is still in use")),
        "{:?}",
        out.warnings
    );
    let fake = Fake::new(world());
    let o = DownOptions {
        rmi: Some("some".into()),
        ..DownOptions::default()
    };
    let err = down(&fake, "s", Some(&p), &o).await.unwrap_err();
    assert!(err.message.contains("invalid --rmi"), "{}", err.message);
    assert!(fake.actions().is_empty());
}

/// `net` with an endpoint for each of `containers`.
fn attached(mut net: NetworkInfo, containers: &[&str]) -> NetworkInfo {
    for (i, c) in containers.iter().enumerate() {
        net.endpoints.push(berth_netd::EndpointInfo {
            container_id: c.to_string(),
            ifname: "eth0".into(),
            host_ifname: format!("veth{i}"),
            ip: Ipv4Addr::new(10, 99, 0, 2 + i as u8),
            mac: String::new(),
            dns_names: Vec::new(),
        });
    }
    net
}

#[tokio::test]
async fn down_removes_a_network_once_its_containers_are_done_with_it() {
    let p = project(APP);
    let world = || World {
        containers: app_running(&p),
        networks: vec![
            // Only web is on it: it goes once web has stopped, before db is stopped.
            attached(network("s_front", stack_labels("s")), &["old-web-1"]),
            // A container of another stack is on it: kept, with a warning.
            attached(network("s_shared", stack_labels("s")), &["old-db-1", "x-1"]),
            // Nobody is on it: it goes at once.
            network("s_empty", stack_labels("s")),
        ],
        ..World::default()
    };
    let fake = Fake::new(world());
    let out = down(&fake, "s", Some(&p), &DownOptions::default())
        .await
        .unwrap();
    let actions = fake.actions();
    let at = |a: &str| {
        actions
            .iter()
            .position(|x| x == a)
            .unwrap_or_else(|| panic!("{a} in {actions:?}"))
    };
    assert_eq!(at("remove network net-s_empty"), 0, "{actions:?}");
    assert!(
        at("stop s-web-1") < at("remove network net-s_front"),
        "{actions:?}"
    );
    assert!(
        at("remove network net-s_front") < at("stop s-db-1"),
        "{actions:?}"
    );
    assert!(!actions.contains(&"remove network net-s_shared".to_string()));
    assert_eq!(
        out.warnings,
        ["network s_shared is still in use by other containers"]
    );
    let removed: Vec<_> = out
        .events
        .iter()
        .filter(|e| e.kind == "Network")
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(removed, ["s_empty", "s_front"]);

    // Without a grace period a container is done with its networks as its stop begins.
    let fake = Fake::new(world());
    let o = DownOptions {
        timeout: Some(0),
        ..DownOptions::default()
    };
    down(&fake, "s", Some(&p), &o).await.unwrap();
    let actions = fake.actions();
    let at = |a: &str| actions.iter().position(|x| x == a).unwrap();
    assert!(
        at("remove network net-s_front") < at("stop s-web-1"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_one_off_runs_once_unpublished_under_its_own_name() {
    let p = project(
        "name: s\nservices:\n  web:\n    image: web:1\n    ports: [\"8080:80\"]\n    restart: always\n    networks: {default: {aliases: [www]}}\n",
    );
    let fake = Fake::new(World::default());
    let o = RunOptions {
        command: Some(vec!["true".into()]),
        env: vec!["A=1".into()],
        rm: true,
        ..RunOptions::default()
    };
    create_oneoff(&fake, &p, "web", &o).await.unwrap();
    let actions = fake.actions();
    assert_eq!(actions[0], "create network s_default");
    assert!(actions[1].starts_with("create s-web-run-"), "{actions:?}");
    let cfg = fake.world.lock().unwrap().last_config.clone().unwrap();
    assert!(cfg.ports.is_empty());
    assert_eq!(cfg.restart, berth_engine::container::RestartPolicy::No);
    assert!(cfg.auto_remove);
    assert_eq!(cfg.cmd, Some(vec!["true".to_string()]));
    assert!(cfg.env.contains(&"A=1".to_string()));
    assert!(cfg.networks.iter().all(|n| n.aliases.is_empty()));
    assert_eq!(cfg.labels[berth_compose::LABEL_ONEOFF], "True");

    let err = create_oneoff(&fake, &p, "nosuch", &o).await.unwrap_err();
    assert_eq!(err.message, "no such service: nosuch");
}
