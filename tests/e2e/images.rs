//! Image commands through the daemon: import with changes, save/load round trip, tag, rm,
//! history, and hostile archives refused without writing outside the store.

use crate::support::*;

#[test]
fn import_changes_save_load_tag_rm() {
    let b = Berth::new();
    let tar = b.busybox_tar();
    b.ok(&[
        "image",
        "import",
        "-c",
        "ENTRYPOINT [\"echo\"]",
        "-c",
        "CMD [\"default\"]",
        "-c",
        "ENV GREETING=hey",
        "-c",
        "WORKDIR /tmp",
        "-c",
        "USER web",
        tar.to_str().unwrap(),
        "echoer:1",
    ]);
    assert_eq!(
        b.ok(&["container", "run", "--rm", "echoer:1"]).trim(),
        "default"
    );
    assert_eq!(
        b.ok(&[
            "container",
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            "echoer:1",
            "-c",
            "echo $GREETING $PWD $(id -un)"
        ])
        .trim(),
        "hey /tmp web"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&b.ok(&["image", "inspect", "echoer:1"])).unwrap();
    assert!(
        inspect[0]["Config"]["Env"]
            .to_string()
            .contains("GREETING=hey"),
        "{inspect}"
    );
    b.ok(&["image", "tag", "echoer:1", "echoer:copy"]);
    let saved = b.dir.path().join("saved.tar");
    b.ok(&["image", "save", "-o", saved.to_str().unwrap(), "echoer:1"]);
    b.ok(&["image", "rm", "echoer:1"]);
    b.ok(&["image", "rm", "echoer:copy"]);
    assert!(!b.ok(&["image", "ls"]).contains("echoer"));
    let loaded = b.ok(&["image", "load", "-i", saved.to_str().unwrap()]);
    assert!(loaded.contains("echoer:1"), "{loaded}");
    assert_eq!(
        b.ok(&["container", "run", "--rm", "echoer:1", "again"])
            .trim(),
        "again"
    );
    assert!(b.ok(&["image", "history", "echoer:1"]).lines().count() >= 2);
    // An image a container uses is not removed without force.
    b.ok(&["container", "create", "--name", "user", "echoer:1"]);
    let out = b.run(&["image", "rm", "echoer:1"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("is using"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn import_from_stdin() {
    let b = Berth::new();
    let tar = b.busybox_tar();
    let out = b
        .cmd(&["image", "import", "-", "piped:latest"])
        .stdin(std::fs::File::open(&tar).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        b.ok(&["container", "run", "--rm", "piped", "echo", "ok"])
            .trim(),
        "ok"
    );
}

#[test]
fn hostile_layers_write_nothing_outside_the_store() {
    let b = Berth::new();
    let victim = b.dir.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    let path = b.dir.path().join("evil.tar");
    {
        let mut t = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let mut add = |kind: tar::EntryType, name: &str, link: Option<&str>, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(0o755);
            h.set_size(data.len() as u64);
            // Raw names: the tar crate's helpers refuse `..`, a hostile archive does not.
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
            h.set_cksum();
            t.append(&h, data).unwrap();
        };
        let escape = format!("../../../../../../../..{}/dotdot", victim.display());
        add(tar::EntryType::Regular, &escape, None, b"x");
        add(tar::EntryType::Symlink, "rootlink", Some("/"), b"");
        let through = format!("rootlink{}/through-symlink", victim.display());
        add(tar::EntryType::Regular, &through, None, b"x");
    }
    let out = b.run(&["image", "import", path.to_str().unwrap(), "evil:1"]);
    assert!(
        !out.status.success(),
        "a layer escaping its directory is refused"
    );
    assert_eq!(
        std::fs::read_dir(&victim).unwrap().count(),
        0,
        "nothing was written outside"
    );
    assert!(!b.ok(&["image", "ls"]).contains("evil"));
}

/// An OCI layout tar holding one image named `name` whose single layer is `rootfs`
/// gzipped; returns the tar's path and the bytes of its blobs (layer, config, manifest).
fn gzip_layout(b: &Berth, name: &str, rootfs: &[u8]) -> (std::path::PathBuf, u64) {
    use sha2::Digest;
    use std::io::Write;
    let sha = |d: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(d)));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(rootfs).unwrap();
    let layer = gz.finish().unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(rootfs)]},
        "history": [],
    })
    .to_string();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(config.as_bytes()), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha(&layer), "size": layer.len()}],
    })
    .to_string();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": sha(manifest.as_bytes()), "size": manifest.len(),
                       "annotations": {"io.containerd.image.name": name}}],
    })
    .to_string();
    let path = b.dir.path().join("gzip-layout.tar");
    let mut t = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut put = |p: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        t.append_data(&mut h, p, data).unwrap();
    };
    for blob in [&layer[..], config.as_bytes(), manifest.as_bytes()] {
        put(&format!("blobs/sha256/{}", &sha(blob)[7..]), blob);
    }
    put("index.json", index.as_bytes());
    put("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    t.finish().unwrap();
    (path, (layer.len() + config.len() + manifest.len()) as u64)
}

#[test]
fn image_prune_counts_the_blobs_it_removes() {
    let b = Berth::new();
    // The same rootfs as bb:local, as a registry serves it (gzip): its unpacked layer is
    // bb:local's, shared; its blobs are its own.
    let rootfs = std::fs::read(b.busybox_tar()).unwrap();
    let (tar, blob_bytes) = gzip_layout(&b, "gz:1", &rootfs);
    b.ok(&["image", "load", "-i", tar.to_str().unwrap()]);
    b.ok(&["container", "create", "--name", "keep", "bb:local"]);
    let out = b.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: gz:1"), "{out}");
    let reclaimed = out
        .lines()
        .find_map(|l| l.strip_prefix("Total reclaimed space: "))
        .unwrap_or_else(|| panic!("{out}"));
    // Docker's units: kB and MB of 1000, three significant digits (go-units' HumanSize).
    let (number, unit) = reclaimed.split_at(reclaimed.find(|c: char| c.is_alphabetic()).unwrap());
    let scale = match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        other => panic!("unit {other} in {out}"),
    };
    let bytes = number.parse::<f64>().unwrap() * scale;
    let decimals = number.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
    let last_digit = scale * 10f64.powi(-decimals);
    assert!(
        (bytes - blob_bytes as f64).abs() <= last_digit / 2.0,
        "reclaimed {reclaimed}, the removed blobs hold {blob_bytes} bytes"
    );
    assert_eq!(
        b.ok(&["image", "ls", "-q"]).lines().count(),
        1,
        "bb:local stays"
    );
}

/// `container diff` lists what a container changed as Docker does, and `container commit`
/// makes an image of it: the parent's layers plus one, with -c changes, -m and -a recorded;
/// the running container is paused only while its layer is read.
#[test]
fn commit_and_diff_a_running_container() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "box",
        "bb:local",
        "sh",
        "-c",
        "echo v2 > /etc/version; rm /var/www/index.html; mkdir /app; echo hi > /app/run; sleep 300",
    ]);
    assert!(b.wait_for(std::time::Duration::from_secs(5), || {
        b.run(&["container", "exec", "box", "test", "-e", "/app/run"])
            .status
            .success()
    }));
    let diff = b.ok(&["container", "diff", "box"]);
    let lines: Vec<&str> = diff.lines().collect();
    // Exactly Docker's list, sorted by path: the runtime's mount points (/proc, /etc/hosts,
    // ...) live in the init layer, not in the container's own.
    assert_eq!(
        lines,
        [
            "A /app",
            "A /app/run",
            "C /etc",
            "A /etc/version",
            "C /var",
            "C /var/www",
            "D /var/www/index.html",
        ],
        "{diff}"
    );

    let id = b.ok(&[
        "container",
        "commit",
        "-m",
        "first cut",
        "-a",
        "Berth Tests <t@example.com>",
        "-c",
        r#"CMD ["cat", "/app/run"]"#,
        "-c",
        "ENV MODE=prod",
        "box",
        "app:1",
    ]);
    assert!(
        id.trim().starts_with("sha256:") && id.trim().len() == 71,
        "{id}"
    );
    assert_eq!(b.status("box"), "running", "unpaused after the commit");
    assert_eq!(b.ok(&["container", "run", "--rm", "app:1"]), "hi\n");
    assert_eq!(
        b.ok(&["container", "run", "--rm", "app:1", "cat", "/etc/version"]),
        "v2\n"
    );
    assert_eq!(
        b.ok(&[
            "container",
            "run",
            "--rm",
            "app:1",
            "sh",
            "-c",
            "echo $MODE"
        ]),
        "prod\n"
    );
    let gone = b.run(&[
        "container",
        "run",
        "--rm",
        "app:1",
        "test",
        "-e",
        "/var/www/index.html",
    ]);
    assert_eq!(
        gone.status.code(),
        Some(1),
        "a deletion is a whiteout in the new layer"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&b.ok(&["image", "inspect", "app:1"])).unwrap();
    assert_eq!(inspect[0]["Id"].as_str(), Some(id.trim()));
    assert_eq!(inspect[0]["Author"], "Berth Tests <t@example.com>");
    assert_eq!(inspect[0]["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    let history = b.ok(&["image", "history", "app:1"]);
    assert!(history.contains("first cut"), "{history}");

    // A stopped container commits too; an unknown one is Docker's error.
    b.ok(&["container", "stop", "-t", "0", "box"]);
    b.ok(&["container", "commit", "box", "app:2"]);
    assert_eq!(
        b.ok(&["container", "run", "--rm", "app:2", "cat", "/app/run"]),
        "hi\n"
    );
    let out = b.run(&["container", "commit", "nosuch", "x:1"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr)
            .to_lowercase()
            .contains("no such container: nosuch"),
        "{}",
        text(&out.stderr)
    );
}
