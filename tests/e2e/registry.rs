//! Images from registries: each test runs its own reference registry (Debian's
//! `docker-registry`) on 127.0.0.1 inside its berth's network namespace, fills it with
//! `skopeo copy` from an OCI layout built here from busybox-static (a gzip, a zstd and a gzip
//! layer; a second platform for the index), and drives `berth pull|push|login|up` against it.
//! Long: one registry fixture shared by every registry scenario.

use crate::stacks::{in_dir, ok_in, stack_dir};
use crate::support::*;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PORT: u16 = 5000;
const HELLO: &str = "hello from the registry";

/// A `docker-registry` process in a berth's network namespace, killed on drop.
pub struct Registry {
    child: Child,
    pub storage: PathBuf,
    pub log: PathBuf,
    pub port: u16,
}

impl Registry {
    /// Starts a registry on 127.0.0.1:`port` in `b`'s netns; `htpasswd` turns on basic auth.
    pub fn start(b: &Berth, name: &str, port: u16, htpasswd: Option<&Path>) -> Registry {
        let dir = b.dir.path().join(format!("registry-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let storage = dir.join("storage");
        let log = dir.join("registry.log");
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        if let Some(h) = htpasswd {
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                h.display()
            ));
        }
        let cfg_path = dir.join("config.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", b.netns))
            .args(["docker-registry", "serve"])
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("docker-registry is required (apt-get install docker-registry)");
        let r = Registry {
            child,
            storage,
            log,
            port,
        };
        let url = format!("http://127.0.0.1:{port}/v2/");
        assert!(
            b.wait_for(Duration::from_secs(15), || b
                .host(&["curl", "-s", "-o", "/dev/null", &url])
                .status
                .success()),
            "registry did not start: {}",
            std::fs::read_to_string(&r.log).unwrap_or_default()
        );
        r
    }

    /// `skopeo copy` of the layout's `tag` to `repo:tag` here (`all`: every platform).
    pub fn put(&self, b: &Berth, layout: &Path, tag: &str, repo: &str, creds: Option<&str>) {
        let mut args = vec![
            "skopeo".to_string(),
            "copy".into(),
            "--quiet".into(),
            "--all".into(),
            "--dest-tls-verify=false".into(),
        ];
        if let Some(c) = creds {
            args.push(format!("--dest-creds={c}"));
        }
        args.push(format!("oci:{}:{tag}", layout.display()));
        args.push(format!("docker://127.0.0.1:{}/{repo}:{tag}", self.port));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = b.host(&args);
        assert!(out.status.success(), "skopeo: {}", text(&out.stderr));
    }

    /// How many blob GETs the registry served so far.
    pub fn blob_gets(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"GET /v2/") && l.contains("/blobs/sha256:"))
            .count()
    }

    pub fn manifest_gets(&self, repo_tag: &str) -> usize {
        let needle = format!("\"GET /v2/{repo_tag} ");
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&needle))
            .count()
    }

    /// The registry's file for a blob.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What [`build_layout`] made.
pub struct Layout {
    pub dir: PathBuf,
    /// The linux/amd64 manifest's digest (tag `1`, and inside the `multi` index).
    pub manifest: String,
    /// The three layer blobs, bottom first.
    pub layers: Vec<String>,
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut t = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        t.append_data(&mut h, path, content.as_bytes()).unwrap();
    }
    t.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// An OCI image layout: tag `1` = a linux/amd64 image of three layers (busybox gzip, a zstd
/// layer with /msg.txt, a gzip layer with /etc/motd) whose command prints /msg.txt; tag
/// `multi` = an index of a linux/arm64 image (listed first, printing "wrong platform") and
/// that amd64 image.
pub fn build_layout(b: &Berth) -> Layout {
    let dir = b.dir.path().join("layout");
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| -> (String, usize) {
        let d = sha(data);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), data).unwrap();
        (d, data.len())
    };
    let rootfs = std::fs::read(b.busybox_tar()).unwrap();
    let msg = tar_of(&[("msg.txt", &format!("{HELLO}\n"))]);
    let motd = tar_of(&[("etc/motd", "third layer\n")]);
    let diff_ids = [sha(&rootfs), sha(&msg), sha(&motd)];
    let layers = [
        (
            put(&gzip(&rootfs)),
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        (
            put(&zstd::encode_all(&msg[..], 3).unwrap()),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        (
            put(&gzip(&motd)),
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
    ];
    let image = |arch: &str, cmd: serde_json::Value| -> (String, usize) {
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [],
        });
        let (cd, cs) = put(config.to_string().as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
            "layers": layers.iter().map(|((d, s), mt)| serde_json::json!({"mediaType": mt, "digest": d, "size": s})).collect::<Vec<_>>(),
        });
        put(manifest.to_string().as_bytes())
    };
    let amd64 = image("amd64", serde_json::json!(["cat", "/msg.txt"]));
    let arm64 = image("arm64", serde_json::json!(["echo", "wrong platform"]));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm64.0, "size": arm64.1,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd64.0, "size": amd64.1,
             "platform": {"os": "linux", "architecture": "amd64"}},
        ],
    });
    let index = put(index.to_string().as_bytes());
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd64.0, "size": amd64.1,
             "annotations": {"org.opencontainers.image.ref.name": "1"}},
            {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index.0, "size": index.1,
             "annotations": {"org.opencontainers.image.ref.name": "multi"}},
        ],
    });
    std::fs::write(dir.join("index.json"), top.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    Layout {
        dir,
        manifest: amd64.0,
        layers: layers.iter().map(|((d, _), _)| d.clone()).collect(),
    }
}

/// A berth with a registry holding `bb:1` and `bb:multi`.
fn setup() -> (Berth, Registry, Layout) {
    let b = Berth::new();
    let r = Registry::start(&b, "plain", PORT, None);
    let layout = build_layout(&b);
    r.put(&b, &layout.dir, "1", "bb", None);
    r.put(&b, &layout.dir, "multi", "bb", None);
    (b, r, layout)
}

fn fails(b: &Berth, args: &[&str]) -> String {
    let out = b.run(args);
    assert!(
        !out.status.success(),
        "berth {args:?} should fail: {}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

fn store_entries(b: &Berth, sub: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(b.root.join("images").join(sub))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn pull_by_tag_runs_and_a_second_pull_fetches_no_blob_then_by_digest() {
    let (b, r, layout) = setup();
    let out = b.ok(&["pull", "127.0.0.1:5000/bb:1"]);
    assert!(out.contains("Pull complete"), "{out}");
    assert!(
        out.contains("Status: Downloaded newer image for 127.0.0.1:5000/bb:1"),
        "{out}"
    );
    // The config and the three layers.
    assert_eq!(r.blob_gets(), 4);
    let run = b.ok(&["container", "run", "--rm", "127.0.0.1:5000/bb:1"]);
    assert_eq!(run.trim(), HELLO);
    // The third (gzip) layer over the zstd one over busybox: all three are in the rootfs.
    let motd = b.ok(&[
        "container",
        "run",
        "--rm",
        "127.0.0.1:5000/bb:1",
        "cat",
        "/etc/motd",
    ]);
    assert_eq!(motd.trim(), "third layer");

    let again = b.ok(&["pull", "127.0.0.1:5000/bb:1"]);
    assert!(again.contains("Image is up to date"), "{again}");
    assert_eq!(r.blob_gets(), 4, "a second pull fetched blobs");

    let by_digest = format!("127.0.0.1:5000/bb@{}", layout.manifest);
    b.ok(&["image", "pull", &by_digest]);
    assert_eq!(r.blob_gets(), 4);
    let run = b.ok(&["container", "run", "--rm", &by_digest]);
    assert_eq!(run.trim(), HELLO);
    let inspect: serde_json::Value =
        serde_json::from_str(&b.ok(&["image", "inspect", "127.0.0.1:5000/bb:1"])).unwrap();
    assert!(
        inspect[0]["RepoDigests"]
            .to_string()
            .contains(&layout.manifest),
        "{inspect}"
    );

    let missing = fails(&b, &["pull", "127.0.0.1:5000/bb:nope"]);
    assert!(missing.contains("not found"), "{missing}");
}

#[test]
fn a_multi_platform_index_selects_linux_amd64_or_the_asked_platform() {
    let (b, _r, _layout) = setup();
    b.ok(&["pull", "127.0.0.1:5000/bb:multi"]);
    let run = b.ok(&["container", "run", "--rm", "127.0.0.1:5000/bb:multi"]);
    assert_eq!(run.trim(), HELLO, "the arm64 image was selected");

    b.ok(&[
        "pull",
        "--platform",
        "linux/arm64",
        "127.0.0.1:5000/bb:multi",
    ]);
    let inspect: serde_json::Value =
        serde_json::from_str(&b.ok(&["image", "inspect", "127.0.0.1:5000/bb:multi"])).unwrap();
    assert_eq!(inspect[0]["Architecture"], "arm64", "{inspect}");

    let err = fails(
        &b,
        &[
            "pull",
            "--platform",
            "linux/s390x",
            "127.0.0.1:5000/bb:multi",
        ],
    );
    assert!(
        err.contains("no matching manifest for linux/s390x"),
        "{err}"
    );
}

#[test]
fn a_corrupted_blob_is_refused_and_the_store_is_unchanged() {
    let (b, r, layout) = setup();
    // Flip one byte in the middle of the busybox layer the registry serves.
    let file = r.blob_file(&layout.layers[0]);
    let mut data = std::fs::read(&file).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&file, &data).unwrap();

    let images_before = b.ok(&["image", "ls", "-q"]);
    let blobs_before = store_entries(&b, "blobs/sha256");
    let layers_before = store_entries(&b, "layers");
    let err = fails(&b, &["pull", "127.0.0.1:5000/bb:1"]);
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(err.contains(&layout.layers[0]), "{err}");
    assert_eq!(b.ok(&["image", "ls", "-q"]), images_before);
    assert_eq!(
        store_entries(&b, "blobs/sha256"),
        blobs_before,
        "a refused pull stored blobs"
    );
    assert_eq!(
        store_entries(&b, "layers"),
        layers_before,
        "a refused pull left unpacked layers"
    );
    let tmp: Vec<_> = std::fs::read_dir(b.root.join("images/tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "temp files left: {tmp:?}");
    let run = b.run(&["container", "run", "--rm", "127.0.0.1:5000/bb:1"]);
    assert!(!run.status.success());
}

/// A TCP proxy in `b`'s netns from 127.0.0.1:`listen` to 127.0.0.1:`to` that cuts the first
/// blob response after `cut_after` bytes. Returns whether it has cut.
fn cutting_proxy(b: &Berth, listen: u16, to: u16, cut_after: u64) -> Arc<AtomicBool> {
    let cut = Arc::new(AtomicBool::new(false));
    let ns = std::fs::File::open(format!("/run/netns/{}", b.netns)).unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let cut2 = cut.clone();
    // setns changes only this thread's namespace; the threads it starts inherit it.
    std::thread::spawn(move || {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let listener = TcpListener::bind(("127.0.0.1", listen)).unwrap();
        ready_tx.send(()).unwrap();
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", to)) else {
                continue;
            };
            let is_blob = Arc::new(AtomicBool::new(false));
            let sent = Arc::new(AtomicU64::new(0));
            let (mut c_in, mut u_out) =
                (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            let (flag, count) = (is_blob.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = c_in.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let req = String::from_utf8_lossy(&buf[..n]);
                    if req.starts_with("GET ") {
                        flag.store(req.contains("/blobs/sha256:"), Ordering::SeqCst);
                        count.store(0, Ordering::SeqCst);
                    }
                    if u_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = u_out.shutdown(Shutdown::Write);
            });
            let (mut u_in, mut c_out) = (upstream, client);
            let cut = cut2.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = u_in.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if c_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    let total = sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                    if is_blob.load(Ordering::SeqCst)
                        && total >= cut_after
                        && !cut.swap(true, Ordering::SeqCst)
                    {
                        let _ = c_out.shutdown(Shutdown::Both);
                        let _ = u_in.shutdown(Shutdown::Both);
                        return;
                    }
                }
                let _ = c_out.shutdown(Shutdown::Write);
            });
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    cut
}

#[test]
fn a_connection_dropped_mid_layer_is_resumed() {
    let (b, r, _layout) = setup();
    let cut = cutting_proxy(&b, 5001, PORT, 200_000);
    let out = b.ok(&["pull", "127.0.0.1:5001/bb:1"]);
    assert!(cut.load(Ordering::SeqCst), "the proxy never cut a transfer");
    assert!(out.contains("Pull complete"), "{out}");
    let log = std::fs::read_to_string(&r.log).unwrap();
    assert!(
        log.contains("\" 206 "),
        "no Range request resumed the blob:\n{log}"
    );
    let run = b.ok(&["container", "run", "--rm", "127.0.0.1:5001/bb:1"]);
    assert_eq!(run.trim(), HELLO);
}

#[test]
fn basic_auth_login_then_pull_and_a_wrong_password_is_refused() {
    let b = Berth::new();
    let htpasswd = b.dir.path().join("htpasswd");
    let out = sh(&["htpasswd", "-Bbn", "alice", "s3cret"]);
    std::fs::write(&htpasswd, &out.stdout).unwrap();
    let r = Registry::start(&b, "auth", PORT, Some(&htpasswd));
    let layout = build_layout(&b);
    r.put(&b, &layout.dir, "1", "bb", Some("alice:s3cret"));

    let err = fails(&b, &["pull", "127.0.0.1:5000/bb:1"]);
    assert!(err.contains("authentication required"), "{err}");

    let login = |password: &str| {
        let mut c = b.cmd(&["login", "-u", "alice", "--password-stdin", "127.0.0.1:5000"]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let wrong = login("nope");
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("incorrect username or password"),
        "{}",
        text(&wrong.stderr)
    );
    assert!(
        !b.root.join("credentials.json").exists()
            || !std::fs::read_to_string(b.root.join("credentials.json"))
                .unwrap()
                .contains("127.0.0.1")
    );

    let right = login("s3cret");
    assert!(right.status.success(), "{}", text(&right.stderr));
    assert!(text(&right.stdout).contains("Login Succeeded"));
    let meta = std::fs::metadata(b.root.join("credentials.json")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    b.ok(&["pull", "127.0.0.1:5000/bb:1"]);
    let run = b.ok(&["container", "run", "--rm", "127.0.0.1:5000/bb:1"]);
    assert_eq!(run.trim(), HELLO);

    let out = b.ok(&["logout", "127.0.0.1:5000"]);
    assert!(out.contains("Removing login credentials"), "{out}");
    let err = fails(&b, &["pull", "127.0.0.1:5000/bb:multi"]);
    assert!(err.contains("authentication required"), "{err}");
}

#[test]
fn push_then_pull_round_trip_and_image_prune() {
    let b = Berth::new();
    let r = Registry::start(&b, "push", PORT, None);
    b.ok(&["image", "tag", "bb:local", "127.0.0.1:5000/pushed:v1"]);
    let out = b.ok(&["push", "127.0.0.1:5000/pushed:v1"]);
    assert!(out.contains("Pushed"), "{out}");
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    let again = b.ok(&["image", "push", "127.0.0.1:5000/pushed:v1"]);
    assert!(again.contains("Layer already exists"), "{again}");

    b.ok(&["image", "rm", "127.0.0.1:5000/pushed:v1", "bb:local"]);
    assert_eq!(b.ok(&["image", "ls", "-q"]).trim(), "");
    let before = r.blob_gets();
    b.ok(&["pull", "127.0.0.1:5000/pushed:v1"]);
    assert!(r.blob_gets() > before);
    let run = b.ok(&[
        "container",
        "run",
        "--rm",
        "127.0.0.1:5000/pushed:v1",
        "echo",
        "round trip",
    ]);
    assert_eq!(run.trim(), "round trip");

    // Dangling only: a tagged image stays; a moved tag leaves a dangling one, which goes.
    b.ok(&["image", "prune", "-f"]);
    assert_eq!(b.ok(&["image", "ls", "-q"]).lines().count(), 1);
    let tar = b.busybox_tar();
    b.ok(&[
        "image",
        "import",
        "-c",
        "CMD [\"true\"]",
        tar.to_str().unwrap(),
        "127.0.0.1:5000/pushed:v1",
    ]);
    assert_eq!(b.ok(&["image", "ls", "-q"]).lines().count(), 2);
    let pruned = b.ok(&["image", "prune", "-f"]);
    assert!(pruned.contains("deleted: sha256:"), "{pruned}");
    assert_eq!(b.ok(&["image", "ls", "-q"]).lines().count(), 1);
    // -a: everything no container uses; an image a container uses stays.
    b.ok(&[
        "container",
        "create",
        "--name",
        "keep",
        "127.0.0.1:5000/pushed:v1",
    ]);
    b.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(b.ok(&["image", "ls", "-q"]).lines().count(), 1);
    b.ok(&["container", "rm", "keep"]);
    b.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(b.ok(&["image", "ls", "-q"]).trim(), "");
}

#[test]
fn up_pulls_what_is_missing_and_honours_pull_policy() {
    let (b, r, _layout) = setup();
    let dir = stack_dir(
        &b,
        r#"
name: pulls
services:
  web:
    image: 127.0.0.1:5000/bb:1
    command: ["sh", "-c", "cat /msg.txt; sleep 300"]
    init: true
"#,
    );
    let out = ok_in(&b, &dir, &["up", "-d"]);
    assert!(
        out.contains("Pull complete") || out.contains("Pulled"),
        "{out}"
    );
    assert!(b.wait_for(Duration::from_secs(10), || {
        text(&in_dir(&b, &dir, &["logs", "web"]).stdout).contains(HELLO)
    }));
    let gets = r.manifest_gets("bb/manifests/1");
    // missing (the default): present now, so no request at all.
    ok_in(&b, &dir, &["up", "-d"]);
    assert_eq!(r.manifest_gets("bb/manifests/1"), gets);
    // --pull always asks the registry again (and fetches no blob it has).
    let blobs = r.blob_gets();
    ok_in(&b, &dir, &["up", "-d", "--pull", "always"]);
    assert_eq!(r.manifest_gets("bb/manifests/1"), gets + 1);
    assert_eq!(r.blob_gets(), blobs);
    ok_in(&b, &dir, &["down"]);

    let never = stack_dir(
        &b,
        r#"
name: never
services:
  web:
    image: 127.0.0.1:5000/bb:multi
    pull_policy: never
"#,
    );
    let out = in_dir(&b, &never, &["up", "-d"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("pull_policy is never"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(r.manifest_gets("bb/manifests/multi"), 0);

    let always = stack_dir(
        &b,
        r#"
name: always
services:
  web:
    image: 127.0.0.1:5000/bb:1
    pull_policy: always
    command: ["true"]
"#,
    );
    let gets = r.manifest_gets("bb/manifests/1");
    ok_in(&b, &always, &["up", "-d"]);
    assert_eq!(r.manifest_gets("bb/manifests/1"), gets + 1);
    // `berth pull` of the stack pulls every service's image.
    let out = ok_in(&b, &always, &["pull"]);
    assert!(out.contains("Image is up to date"), "{out}");
    ok_in(&b, &always, &["down"]);
}
