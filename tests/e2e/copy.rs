//! `container cp` out over what an earlier copy left: symlinks at the destination are
//! replaced (never followed to the host), directories merge, and every error names a path.

use crate::support::*;
use std::path::Path;

fn is_symlink(p: &Path) -> bool {
    std::fs::symlink_metadata(p)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false)
}

#[test]
fn cp_out_again_replaces_symlinks_the_first_copy_left_and_names_paths_in_errors() {
    let b = Berth::new();
    let host = b.dir.path().join("cp");
    std::fs::create_dir(&host).unwrap();
    let host_s = host.to_str().unwrap();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "box",
        "bb:local",
        "sh",
        "-c",
        "mkdir -p /data/conf.d /data/sub && echo a > /data/conf.d/a && echo s > /data/sub/s \
         && ln -s conf.d /data/cfg && ln -s /etc/passwd /data/pw && ln -s / /data/root \
         && sleep 300",
    ]);
    assert!(b.wait_for(std::time::Duration::from_secs(5), || b
        .run(&["container", "exec", "box", "test", "-L", "/data/root"])
        .status
        .success()));
    let sh = |script: &str| b.ok(&["container", "exec", "box", "sh", "-c", script]);

    // A directory copied out twice merges, nested directories included; a symlink the first
    // copy left where the container now has a directory is replaced by that directory.
    b.ok(&["container", "cp", "box:/data", host_s]);
    assert!(is_symlink(&host.join("data/cfg")));
    sh("rm /data/cfg && mkdir /data/cfg && echo x > /data/cfg/x && echo b > /data/conf.d/b");
    b.ok(&["container", "cp", "box:/data", host_s]);
    assert!(!is_symlink(&host.join("data/cfg")));
    assert_eq!(
        std::fs::read_to_string(host.join("data/cfg/x")).unwrap(),
        "x\n"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("data/conf.d/a")).unwrap(),
        "a\n"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("data/conf.d/b")).unwrap(),
        "b\n"
    );

    // A symlink at the destination itself is replaced, never written through: the first
    // copy leaves pw -> /etc/passwd (the host's, seen from here) and r -> / (the host's
    // root); copies over them land in this directory.
    let passwd = std::fs::read("/etc/passwd").unwrap();
    let pw = host.join("pw");
    b.ok(&["container", "cp", "box:/data/pw", pw.to_str().unwrap()]);
    assert_eq!(std::fs::read_link(&pw).unwrap(), Path::new("/etc/passwd"));
    sh("rm /data/pw && echo 'not the host passwd' > /data/pw");
    b.ok(&["container", "cp", "box:/data/pw", pw.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&pw).unwrap(),
        "not the host passwd\n"
    );
    assert_eq!(
        std::fs::read("/etc/passwd").unwrap(),
        passwd,
        "the host file is untouched"
    );

    let r = host.join("r");
    b.ok(&["container", "cp", "box:/data/root", r.to_str().unwrap()]);
    assert_eq!(std::fs::read_link(&r).unwrap(), Path::new("/"));
    b.ok(&["container", "cp", "box:/data/root", r.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_link(&r).unwrap(),
        Path::new("/"),
        "a symlink over a symlink"
    );
    b.ok(&["container", "cp", "box:/data/sub", r.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(r.join("s")).unwrap(), "s\n");
    assert!(!is_symlink(&r) && !Path::new("/s").exists() && !Path::new("/sub").exists());
    let strays: Vec<_> = std::fs::read_dir("/")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".berth-cp-"))
        .collect();
    assert!(
        strays.is_empty(),
        "nothing staged in the host's root: {strays:?}"
    );

    // Errors name the path.
    let fails = |args: &[&str]| {
        let out = b.run(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        text(&out.stderr)
    };
    let err = fails(&["container", "cp", "box:/no/such/file", host_s]);
    assert!(err.contains("/no/such/file"), "{err}");
    let err = fails(&["container", "cp", &format!("{host_s}/missing"), "box:/tmp/"]);
    assert!(err.contains(&format!("{host_s}/missing")), "{err}");
    std::fs::write(host.join("file"), "a file\n").unwrap();
    let err = fails(&[
        "container",
        "cp",
        "box:/data/sub",
        host.join("file").to_str().unwrap(),
    ]);
    assert!(
        err.contains(host.join("file").to_str().unwrap()) && err.contains("directory"),
        "{err}"
    );
    let err = fails(&[
        "container",
        "cp",
        "box:/data/pw",
        &format!("{host_s}/nodir/"),
    ]);
    assert!(err.contains("nodir"), "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(&host)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".berth-cp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no staging directory left: {leftovers:?}"
    );
}
