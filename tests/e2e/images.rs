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
