//! `docker ps -s` and `docker inspect -s`: a container's writable layer (SizeRw) and that
//! plus its image (SizeRootFs), as dockerd counts them.

use super::*;

#[test]
fn docker_ps_and_inspect_show_container_sizes() {
    let d = Docker::new();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "sz",
        "bb:local",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1k count=2048 2>/dev/null; touch /ready; sleep 300",
    ]);
    assert!(d.b.wait_for(Duration::from_secs(10), || d
        .docker(&["exec", "sz", "test", "-e", "/ready"])
        .status
        .success()));
    let image: u64 = d
        .ok(&["image", "inspect", "-f", "{{.Size}}", "bb:local"])
        .trim()
        .parse()
        .unwrap();
    let sizes = d.ok(&["inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "sz"]);
    let (rw, root) = sizes.trim().split_once(' ').unwrap();
    let (rw, root): (u64, u64) = (rw.parse().unwrap(), root.parse().unwrap());
    // The 2 MiB file, and /ready (empty); the image under it.
    assert_eq!(rw, 2 * 1024 * 1024, "{sizes}");
    assert_eq!(root, rw + image, "{sizes} {image}");
    // `docker ps -s` prints them as dockerd's: "2.1MB (virtual 4.08MB)".
    let shown = d.ok(&["ps", "-s", "--format", "{{.Names}} {{.Size}}"]);
    assert!(
        shown.starts_with("sz 2.1MB (virtual ") && shown.trim_end().ends_with("MB)"),
        "{shown}"
    );
    // The command as dockerd lists it: an argument with spaces in single quotes.
    assert_eq!(
        d.ok(&["ps", "--no-trunc", "--format", "{{.Command}}"])
            .trim(),
        "\"sh -c 'dd if=/dev/zero of=/big bs=1k count=2048 2>/dev/null; touch /ready; sleep 300'\""
    );
    let table = d.ok(&["ps", "-s"]);
    assert!(table.lines().next().unwrap().ends_with("SIZE"), "{table}");
    // Without size=1 the fields are absent, as dockerd leaves them out.
    let (code, body) = d.raw("GET", "/v1.41/containers/json", "");
    assert_eq!(code, 200);
    assert!(!body.contains("SizeRw"), "{body}");
    let (_, body) = d.raw("GET", "/v1.41/containers/json?size=1", "");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list[0]["SizeRw"], rw);
    assert_eq!(list[0]["SizeRootFs"], root);
    d.ok(&["rm", "-f", "sz"]);
}
