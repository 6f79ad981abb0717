//! `berth system df` (`-v`, `--format`) and `berth system prune` (`-a`, `--volumes`, `-f`,
//! `--filter`): the expected outputs are those of `docker system df|prune` (Docker 28.2) on
//! the same steps, side by side; only the image's size differs (the host's busybox).

use crate::support::*;

fn df_rows(b: &Berth) -> Vec<Vec<String>> {
    b.ok(&["system", "df"])
        .lines()
        .skip(1)
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

#[test]
fn system_df_and_prune_as_docker() {
    let b = Berth::new();
    let out = b.ok(&["system", "df"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE"
    );
    let rows = df_rows(&b);
    let size = rows[0][3].clone();
    assert_eq!(
        rows[0],
        ["Images", "1", "0", &size, &format!("{size} (100%)")]
    );
    assert_eq!(lines[2], "Containers      0         0         0B        0B");
    assert_eq!(lines[3], "Local Volumes   0         0         0B        0B");
    assert_eq!(lines[4], "Build Cache     0         0         0B        0B");

    // A stopped container that wrote 3 bytes to a volume, a running one, a spare network.
    b.ok(&["volume", "create", "v1"]);
    b.ok(&[
        "container",
        "run",
        "--name",
        "stopped",
        "-v",
        "v1:/data",
        "bb:local",
        "sh",
        "-c",
        "echo hi > /data/x",
    ]);
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "runner",
        "bb:local",
        "sleep",
        "1000",
    ]);
    b.ok(&["network", "create", "spare"]);
    let json = b.ok(&["system", "df", "--format", "json"]);
    assert_eq!(
        json,
        format!(
            r#"{{"Active":"1","Reclaimable":"0B (0%)","Size":"{size}","TotalCount":"1","Type":"Images"}}
{{"Active":"1","Reclaimable":"0B","Size":"0B","TotalCount":"2","Type":"Containers"}}
{{"Active":"1","Reclaimable":"0B (0%)","Size":"3B","TotalCount":"1","Type":"Local Volumes"}}
{{"Active":"0","Reclaimable":"0B","Size":"0B","TotalCount":"0","Type":"Build Cache"}}
"#
        )
    );
    assert_eq!(
        b.ok(&["system", "df", "--format", "{{.Type}}={{.TotalCount}}"]),
        "Images=1\nContainers=2\nLocal Volumes=1\nBuild Cache=0\n"
    );
    let v = b.ok(&["system", "df", "-v"]);
    let vl: Vec<&str> = v.lines().collect();
    assert_eq!(vl[0], "Images space usage:");
    // CREATED's width follows the age ("3 seconds ago", "Less than a second ago").
    assert!(
        vl[2].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED   ")
            && vl[2].ends_with("   SIZE      SHARED SIZE   UNIQUE SIZE   CONTAINERS"),
        "{v}"
    );
    assert!(vl[3].starts_with("bb           local     "), "{v}");
    assert!(
        vl[3].ends_with(&format!("0B            {size}       2")),
        "{v}"
    );
    assert_eq!(vl[5], "Containers space usage:");
    assert!(
        vl[7].starts_with("CONTAINER ID   IMAGE      COMMAND "),
        "{v}"
    );
    assert!(vl[8].contains("   bb:local   \"sleep 1000\" "), "{v}");
    assert!(vl[8].ends_with("runner"), "{v}");
    assert!(
        vl[9].contains("Exited (0)") && vl[9].ends_with("stopped"),
        "{v}"
    );
    let tail = vl[10..].join("\n");
    assert_eq!(
        tail,
        "\nLocal Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\nv1            1         3B\n\nBuild cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED"
    );

    // Filters the CLI checks itself, and one the daemon refuses.
    let out = b.run(&[
        "system",
        "prune",
        "-a",
        "--volumes",
        "--filter",
        "until=1h",
        "-f",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "berth: ERROR: The \"until\" filter is not supported with \"--volumes\"\n"
    );
    let out = b.run(&["system", "prune", "--filter", "bogus=1", "-f"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "berth: invalid filter 'bogus'\n");
    // A label nothing has: nothing goes.
    assert_eq!(
        b.ok(&["system", "prune", "-f", "--filter", "label=x"]),
        "Total reclaimed space: 0B\n"
    );
    // Answering no changes nothing; the question is Docker's.
    let mut c = b.cmd(&["system", "prune", "--filter", "label=a=b"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        text(&out.stderr),
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n\n  Items to be pruned will be filtered with:\n  - label=a=b\n\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(text(&out.stdout), "");

    let stopped = b.ok(&["container", "inspect", "-f", "{{.Id}}", "stopped"]);
    assert_eq!(
        b.ok(&["system", "prune", "-f"]),
        format!(
            "Deleted Containers:\n{}\n\nDeleted Networks:\nspare\n\nTotal reclaimed space: 0B\n",
            stopped.trim()
        )
    );
    assert_eq!(
        b.ok(&["system", "prune", "-f", "--volumes", "-a"]),
        "Deleted Volumes:\nv1\n\nTotal reclaimed space: 3B\n"
    );
    let rows = df_rows(&b);
    assert_eq!(rows[1], ["Containers", "1", "1", "0B", "0B"]);
    assert_eq!(rows[2], ["Local Volumes", "0", "0", "0B", "0B"]);

    // Once nothing uses it, -a takes the image too.
    b.ok(&["container", "rm", "-f", "runner"]);
    let out = b.ok(&["system", "prune", "-af", "--volumes"]);
    assert!(
        out.starts_with("Deleted Containers:\n") || out.starts_with("Deleted Images:\n"),
        "{out}"
    );
    assert!(
        out.contains("Deleted Images:\nuntagged: bb:local\ndeleted: sha256:"),
        "{out}"
    );
    // berth counts the image's blob and its unpacked layer: more than Docker's figure.
    assert!(out.contains("\n\nTotal reclaimed space: "), "{out}");
    assert!(!out.ends_with("space: 0B\n"), "{out}");
    assert_eq!(b.ok(&["image", "ls", "-q"]), "");
}
