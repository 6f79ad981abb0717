//! Named volumes outside stacks, as Docker's: `container run -v NAME:/path` and `--mount
//! type=volume` make (or reuse) the volume and fill a fresh one from the image; `berth volume
//! create|ls|inspect|rm|prune` manage the one store that stack volumes live in too.

use crate::stacks::{ok_in, stack_dir};
use crate::support::*;
use serde_json::Value;

/// The failed command's stderr (asserting exit 1).
fn fails(b: &Berth, args: &[&str]) -> String {
    let out = b.run(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "berth {args:?}: {}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

fn names(b: &Berth, args: &[&str]) -> Vec<String> {
    let mut all = vec!["volume", "ls", "-q"];
    all.extend_from_slice(args);
    b.ok(&all).lines().map(String::from).collect()
}

#[test]
fn named_volume_keeps_data_between_runs_and_copies_up_from_the_image() {
    let b = Berth::new();
    // Made by the first run (it did not exist), filled from the image's /var/www.
    let out = b.ok(&[
        "container",
        "run",
        "--rm",
        "-v",
        "site:/var/www",
        "bb:local",
        "sh",
        "-c",
        "cat /var/www/index.html && echo added > /var/www/new",
    ]);
    assert_eq!(out, "hello from berth\n");
    // Reused by the second: what the first wrote is there; --mount names it too.
    let out = b.ok(&[
        "container",
        "run",
        "--rm",
        "--mount",
        "type=volume,source=site,target=/data,readonly",
        "bb:local",
        "sh",
        "-c",
        "cat /data/new /data/index.html; touch /data/x 2>/dev/null || echo read-only",
    ]);
    assert_eq!(out, "added\nhello from berth\nread-only\n");
    // A fresh volume mounted with volume-nocopy stays empty.
    let out = b.ok(&[
        "container",
        "run",
        "--rm",
        "--mount",
        "type=volume,source=bare,target=/var/www,volume-nocopy",
        "bb:local",
        "ls",
        "-A",
        "/var/www",
    ]);
    assert_eq!(out, "");
    assert_eq!(names(&b, &[]), ["bare", "site"]);
    // Named volumes outlive `--rm` containers, as Docker's.
    b.ok(&["volume", "rm", "site", "bare"]);
}

#[test]
fn fresh_volume_takes_owner_and_mode_of_the_image_directory() {
    let b = Berth::new();
    let tar = b.busybox_tar_with("own.tar", &[("srv/app", 1000, 1000, 0o750)]);
    b.ok(&["image", "import", tar.to_str().unwrap(), "own:1"]);
    let out = b.ok(&[
        "container",
        "run",
        "--rm",
        "-u",
        "web",
        "-v",
        "appdata:/srv/app",
        "own:1",
        "sh",
        "-c",
        "touch /srv/app/ok && stat -c '%u:%g %a' /srv/app",
    ]);
    assert_eq!(out, "1000:1000 750\n");
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_with_rm() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "anon",
        "-v",
        "/var/www",
        "bb:local",
        "sleep",
        "100",
    ]);
    let anon = names(&b, &[]);
    assert_eq!(anon.len(), 1, "{anon:?}");
    assert_eq!(anon[0].len(), 64, "{anon:?}");
    assert!(anon[0].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        b.ok(&["container", "exec", "anon", "cat", "/var/www/index.html"]),
        "hello from berth\n"
    );
    let v: Value = serde_json::from_str(&b.ok(&["volume", "inspect", &anon[0]])).unwrap();
    assert_eq!(v[0]["Labels"]["com.docker.volume.anonymous"], "");
    // rm without -v keeps it (as Docker's); with -v it goes.
    b.ok(&[
        "container",
        "create",
        "--name",
        "keep",
        "-v",
        "/data",
        "bb:local",
    ]);
    b.ok(&["container", "rm", "keep"]);
    let kept: Vec<String> = names(&b, &[])
        .into_iter()
        .filter(|n| *n != anon[0])
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    b.ok(&["volume", "rm", &kept[0]]);
    b.ok(&["container", "rm", "-f", "-v", "anon"]);
    assert!(names(&b, &[]).is_empty());
    // --rm takes the anonymous volumes with the container, never the named ones.
    b.ok(&[
        "container",
        "run",
        "--rm",
        "-v",
        "/tmp/a",
        "-v",
        "named:/tmp/n",
        "bb:local",
        "true",
    ]);
    assert_eq!(names(&b, &[]), ["named"]);
    b.ok(&["volume", "rm", "named"]);
}

#[test]
fn volume_commands_as_docker() {
    let b = Berth::new();
    assert_eq!(
        b.ok(&["volume", "create", "--label", "tier=db", "data"]),
        "data\n"
    );
    // Creating an existing volume hands it back.
    assert_eq!(b.ok(&["volume", "create", "data"]), "data\n");
    let anon = b.ok(&["volume", "create"]);
    let anon = anon.trim();
    assert_eq!(anon.len(), 64);
    // Sorted by name, as Docker's.
    let mut rows = [format!("local     {anon}"), "local     data".to_string()];
    rows.sort();
    assert_eq!(
        b.ok(&["volume", "ls"]),
        format!("DRIVER    VOLUME NAME\n{}\n", rows.join("\n"))
    );
    assert_eq!(names(&b, &["--filter", "label=tier=db"]), ["data"]);
    assert_eq!(names(&b, &["--filter", "name=dat"]), ["data"]);
    assert_eq!(names(&b, &["--filter", "dangling=true"]).len(), 2);

    let v: Value = serde_json::from_str(&b.ok(&["volume", "inspect", "data"])).unwrap();
    let v = &v[0];
    assert_eq!(v["Name"], "data");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"]["tier"], "db");
    assert_eq!(v["Options"], serde_json::json!({}));
    let mountpoint = v["Mountpoint"].as_str().unwrap();
    assert_eq!(
        mountpoint,
        b.root.join("volumes/data/_data").to_str().unwrap()
    );
    assert!(v["CreatedAt"].as_str().unwrap().ends_with('Z'));
    // Errors: Docker's words, exit 1; inspect still prints what it found.
    let out = b.run(&["volume", "inspect", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "[]\n");
    assert!(
        text(&out.stderr).contains("get nosuch: no such volume"),
        "{}",
        text(&out.stderr)
    );
    assert!(fails(&b, &["volume", "rm", "nosuch"]).contains("get nosuch: no such volume"));
    assert_eq!(b.ok(&["volume", "rm", "-f", "nosuch"]), "nosuch\n");
    assert!(fails(&b, &["volume", "create", "a/b"])
        .contains("includes invalid characters for a local volume name"));
    assert!(fails(&b, &["volume", "create", "-d", "nfs", "x"]).contains("plugin \"nfs\" not found"));

    // In use (even by a stopped container): refused, with the container's id.
    b.ok(&[
        "container",
        "create",
        "--name",
        "user",
        "-v",
        "data:/data",
        "bb:local",
    ]);
    let inspect = b.inspect("user");
    let id = inspect["Id"].as_str().unwrap().to_string();
    assert_eq!(inspect["Mounts"][0]["Type"], "volume");
    assert_eq!(inspect["Mounts"][0]["Name"], "data");
    assert_eq!(inspect["Mounts"][0]["Destination"], "/data");
    let err = fails(&b, &["volume", "rm", "data"]);
    assert!(
        err.contains(&format!("remove data: volume is in use - [{id}]")),
        "{err}"
    );
    assert!(fails(&b, &["volume", "rm", "-f", "data"]).contains("volume is in use"));
    assert_eq!(names(&b, &["--filter", "dangling=false"]), ["data"]);
    // Prune takes only unused anonymous volumes; -a takes the unused named ones too.
    b.ok(&["volume", "create", "spare"]);
    std::fs::write(b.root.join("volumes/spare/_data/f"), "12345").unwrap();
    assert_eq!(
        b.ok(&["volume", "prune", "-f"]),
        format!("Deleted Volumes:\n{anon}\n\nTotal reclaimed space: 0B\n")
    );
    assert_eq!(
        b.ok(&["volume", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    assert_eq!(
        b.ok(&["volume", "prune", "-f", "-a"]),
        "Deleted Volumes:\nspare\n\nTotal reclaimed space: 5B\n"
    );
    assert_eq!(names(&b, &[]), ["data"]);
    b.ok(&["container", "rm", "user"]);
    assert_eq!(b.ok(&["volume", "rm", "data"]), "data\n");
    assert!(names(&b, &[]).is_empty());
}

#[test]
fn bad_volume_flags_are_refused_before_anything_is_made() {
    let b = Berth::new();
    let out = b.run(&[
        "container",
        "run",
        "--rm",
        "-v",
        "a b:/x",
        "bb:local",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("includes invalid characters for a local volume name"));
    let out = b.run(&[
        "container",
        "run",
        "--rm",
        "--mount",
        "type=volume,source=v",
        "bb:local",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("field Target must not be empty"),
        "{}",
        text(&out.stderr)
    );
    // A create that fails (no such image; a bad container name, found after the volumes
    // were made) takes back the volumes it made, and leaves an existing one alone.
    let out = b.run(&["container", "run", "--rm", "-v", "v:/x", "nosuch:1", "true"]);
    assert_eq!(out.status.code(), Some(125));
    b.ok(&["volume", "create", "kept"]);
    let out = b.run(&[
        "container",
        "create",
        "--name",
        "a b",
        "-v",
        "v:/x",
        "-v",
        "kept:/y",
        "-v",
        "/z",
        "bb:local",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    assert_eq!(names(&b, &[]), ["kept"]);
}

#[test]
fn stack_volumes_are_listed_and_down_v_removes_them() {
    let b = Berth::new();
    let dir = stack_dir(
        &b,
        r#"
name: vs
services:
  web:
    image: bb:local
    command: ["sleep", "100"]
    init: true
    volumes: [content:/var/www]
volumes:
  content:
"#,
    );
    ok_in(&b, &dir, &["up", "-d"]);
    assert_eq!(names(&b, &[]), ["vs_content"]);
    assert_eq!(
        names(&b, &["--filter", "label=com.docker.compose.project=vs"]),
        ["vs_content"]
    );
    let err = fails(&b, &["volume", "rm", "vs_content"]);
    assert!(err.contains("remove vs_content: volume is in use"), "{err}");
    ok_in(&b, &dir, &["down", "-t", "0", "-v"]);
    assert!(names(&b, &[]).is_empty());
}
