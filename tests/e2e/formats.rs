//! What scripts parse, as Docker and Compose print it (issue 17, items 2-4): `--format` Go
//! templates on every listing and inspect, `table` headers aligned by tabwriter, `json`
//! shapes (Compose's for `ps`, docker ps' for `container ls`), and Compose's `ps`: rows by
//! name, CREATED, quoted commands, no PORTS for stopped containers, `--status`/`--filter`,
//! and `no such service`. Expected texts are Docker's and Compose's outputs for the same
//! containers (docker CLI 20.10 / Compose v2 formatter code and a side-by-side run).

use crate::stacks::{in_dir, ok_in, stack_dir};
use crate::support::*;
use std::time::Duration;

const STACK: &str = r#"
name: fmt
services:
  web:
    image: bb:local
    command: ["httpd", "-f", "-p", "80", "-h", "/"]
    init: true
    ports: ["8080:80"]
  db:
    image: bb:local
    command: ["sh", "-c", "echo \"x\"; sleep 600"]
    init: true
    labels: {tier: data}
  job:
    image: bb:local
    command: ["sh", "-c", "exit 3"]
    restart: "no"
"#;

fn failed(out: &std::process::Output) -> (i32, String) {
    (out.status.code().unwrap_or(-1), text(&out.stderr))
}

#[test]
fn stack_ps_formats_as_compose() {
    let b = Berth::new();
    let dir = stack_dir(&b, STACK);
    ok_in(&b, &dir, &["up", "-d"]);
    assert!(b.wait_for(Duration::from_secs(10), || b.status("fmt-job-1")
        == "exited"));

    // Rows sorted by name; a stopped container only with -a or a status.
    assert_eq!(
        ok_in(&b, &dir, &["ps", "--format", "{{.Name}}"]),
        "fmt-db-1\nfmt-web-1\n"
    );
    assert_eq!(
        ok_in(
            &b,
            &dir,
            &["ps", "-a", "--format", "{{.Name}} {{.State}} {{.ExitCode}}"]
        ),
        "fmt-db-1 running 0\nfmt-job-1 exited 3\nfmt-web-1 running 0\n"
    );
    assert_eq!(
        ok_in(
            &b,
            &dir,
            &["ps", "--status", "exited", "--format", "{{.Service}}"]
        ),
        "job\n"
    );
    assert_eq!(
        ok_in(
            &b,
            &dir,
            &[
                "ps",
                "--filter",
                "status=running",
                "--format",
                "{{.Service}}"
            ]
        ),
        "db\nweb\n"
    );
    assert_eq!(
        ok_in(
            &b,
            &dir,
            &["ps", "--format", "{{.Label \"tier\"}}|{{.Project}}", "db"]
        ),
        "data|fmt\n"
    );
    // `table`: headers from the fields, aligned as Go's tabwriter (min 10, padding 3).
    assert_eq!(
        ok_in(
            &b,
            &dir,
            &["ps", "--format", "table {{.Name}}\\t{{.Service}}"]
        ),
        "NAME        SERVICE\nfmt-db-1    db\nfmt-web-1   web\n"
    );
    // Commands quoted as strconv.Quote, cut at 20 characters unless --no-trunc.
    assert_eq!(
        ok_in(&b, &dir, &["ps", "--format", "{{.Command}}", "db"]),
        "\"sh -c echo \\\"x\\\"; sle…\"\n"
    );
    assert_eq!(
        ok_in(
            &b,
            &dir,
            &["ps", "--no-trunc", "--format", "{{.Command}}", "db"]
        ),
        "\"sh -c echo \\\"x\\\"; sleep 600\"\n"
    );

    // The default table: Compose's columns, and no PORTS for the stopped one.
    let table = ok_in(&b, &dir, &["ps", "-a"]);
    let lines: Vec<&str> = table.lines().collect();
    let cols: Vec<&str> = lines[0]
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cols,
        ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"],
        "{table}"
    );
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[1].starts_with("fmt-db-1 "), "{table}");
    assert!(
        lines[2].starts_with("fmt-job-1 ") && lines[2].contains("Exited (3)"),
        "{table}"
    );
    assert!(
        lines[2].trim_end().ends_with("ago"),
        "no ports for a stopped container: {table}"
    );
    assert!(lines[3].ends_with("0.0.0.0:8080->80/tcp"), "{table}");
    assert!(lines[3].contains(" ago "), "CREATED: {table}");

    // json: Compose's shape, one object a line.
    let json = ok_in(&b, &dir, &["ps", "--format", "json", "web"]);
    assert_eq!(json.lines().count(), 1, "{json}");
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "Command",
            "CreatedAt",
            "ExitCode",
            "Health",
            "ID",
            "Image",
            "Labels",
            "LocalVolumes",
            "Mounts",
            "Name",
            "Names",
            "Networks",
            "Ports",
            "Project",
            "Publishers",
            "RunningFor",
            "Service",
            "Size",
            "State",
            "Status"
        ]
    );
    assert_eq!(v["Name"], "fmt-web-1");
    assert_eq!(v["Service"], "web");
    assert_eq!(v["Project"], "fmt");
    assert_eq!(v["State"], "running");
    assert_eq!(v["ExitCode"], 0);
    assert_eq!(v["Networks"], "fmt_default");
    assert_eq!(v["Ports"], "0.0.0.0:8080->80/tcp");
    assert_eq!(
        v["Publishers"],
        serde_json::json!([{"URL": "0.0.0.0", "TargetPort": 80, "PublishedPort": 8080, "Protocol": "tcp"}])
    );
    assert_eq!(v["ID"].as_str().unwrap().len(), 12);
    assert_eq!(v["Command"], "\"httpd -f -p 80 -h /\"");
    assert!(v["RunningFor"].as_str().unwrap().ends_with(" ago"), "{v}");
    assert!(
        v["CreatedAt"].as_str().unwrap().ends_with(" +0000 UTC"),
        "{v}"
    );

    // Errors a script can rely on.
    let (code, err) = failed(&in_dir(&b, &dir, &["ps", "nosuch"]));
    assert_eq!(code, 1);
    assert!(err.contains("no such service: nosuch"), "{err}");
    let (code, err) = failed(&in_dir(&b, &dir, &["ps", "--format", "{{.Nope}}"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"),
        "{err}"
    );
    let (code, err) = failed(&in_dir(&b, &dir, &["ps", "--filter", "name=x"]));
    assert_eq!(code, 1);
    assert!(err.contains("name filter is not supported"), "{err}");
}

#[test]
fn container_ls_and_inspect_templates_as_docker() {
    let b = Berth::new();
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "alpha",
        "-l",
        "k=v1",
        "bb:local",
        "sleep",
        "600",
    ]);
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "beta",
        "bb:local",
        "sleep",
        "600",
    ]);
    // `container ls` and its `ps` alias; newest first, as docker ps.
    assert_eq!(
        b.ok(&["container", "ls", "--format", "{{.Names}}"]),
        "beta\nalpha\n"
    );
    assert_eq!(
        b.ok(&[
            "container",
            "ps",
            "--format",
            "{{.Names}}:{{.State}}:{{.Label \"k\"}}"
        ]),
        "beta:running:\nalpha:running:v1\n"
    );
    assert_eq!(
        b.ok(&[
            "container",
            "ls",
            "--format",
            "{{.Command}} {{.Labels}} {{.Networks}}"
        ]),
        "\"sleep 600\"  bridge\n\"sleep 600\" k=v1 bridge\n"
    );
    let id = b.inspect("alpha")["Id"].as_str().unwrap().to_string();
    let table = b.ok(&["container", "ls", "--format", "table {{.ID}}\\t{{.Names}}"]);
    assert!(table.starts_with("CONTAINER ID   NAMES\n"), "{table}");
    assert!(
        table.ends_with(&format!("{}   alpha\n", &id[..12])),
        "{table}"
    );
    // json: docker ps' shape (its context's fields, alphabetical).
    let line = b.ok(&["container", "ls", "--format", "json", "--no-trunc"]);
    let v: serde_json::Value = serde_json::from_str(line.lines().nth(1).unwrap()).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "Command",
            "CreatedAt",
            "ID",
            "Image",
            "Labels",
            "LocalVolumes",
            "Mounts",
            "Names",
            "Networks",
            "Ports",
            "RunningFor",
            "Size",
            "State",
            "Status"
        ]
    );
    assert_eq!(v["ID"], id.as_str());
    assert_eq!(v["Names"], "alpha");
    assert_eq!(v["Labels"], "k=v1");

    // inspect -f / --format, over Docker's inspect document.
    assert_eq!(
        b.ok(&[
            "container",
            "inspect",
            "-f",
            "{{.State.Status}}",
            "alpha",
            "beta"
        ]),
        "running\nrunning\n"
    );
    assert_eq!(
        b.ok(&[
            "container",
            "inspect",
            "--format",
            "{{json .State.Running}} {{.Config.Labels.k}} {{.Config.Labels.nope}} {{index .Config.Cmd 0}} {{join .Config.Cmd \",\"}} {{range .Config.Cmd}}[{{.}}]{{end}} {{upper .State.Status}} {{len .Name}}",
            "alpha"
        ]),
        "true v1 <no value> sleep sleep,600 [sleep][600] RUNNING 6\n"
    );
    assert_eq!(
        b.ok(&[
            "container",
            "inspect",
            "-f",
            "{{if .State.Running}}up{{else}}down{{end}} {{.Name | printf \"%q\"}}",
            "beta"
        ]),
        "up \"/beta\"\n"
    );
    assert_eq!(
        b.ok(&[
            "container",
            "inspect",
            "-f",
            "{{json .Config.Labels}}",
            "alpha"
        ]),
        "{\"k\":\"v1\"}\n"
    );
    // An unknown field is an error (exit 1), a template that does not parse exit 64.
    let (code, err) = failed(&b.run(&["container", "inspect", "-f", "{{.Nope}}", "alpha"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("Template parsing error: template: :1:2: executing \"\" at <.Nope>: map has no entry for key \"Nope\""),
        "{err}"
    );
    let (code, err) = failed(&b.run(&["container", "inspect", "-f", "{{.Name", "alpha"]));
    assert_eq!(code, 64);
    assert!(
        err.contains("Template parsing error: template: :1: unclosed action"),
        "{err}"
    );
    let (code, err) = failed(&b.run(&["container", "ls", "--format", "{{nope .Names}}"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("template parsing error: template: :1: function \"nope\" not defined"),
        "{err}"
    );
}

#[test]
fn images_networks_volumes_and_stacks_take_templates() {
    let b = Berth::new();
    assert_eq!(
        b.ok(&[
            "image",
            "ls",
            "--format",
            "{{.Repository}}:{{.Tag}} {{len .ID}}"
        ]),
        "bb:local 12\n"
    );
    let table = b.ok(&["image", "ls"]);
    assert!(
        table.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "docker images' columns: {table}"
    );
    assert_eq!(
        b.ok(&[
            "image",
            "inspect",
            "-f",
            "{{index .RepoTags 0}}",
            "bb:local"
        ]),
        "bb:local\n"
    );

    b.ok(&["network", "create", "--label", "team=a", "front"]);
    assert_eq!(
        b.ok(&[
            "network",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}} {{.Label \"team\"}}"
        ]),
        "front bridge local a\n"
    );
    let table = b.ok(&["network", "ls"]);
    assert!(
        table.starts_with("NETWORK ID     NAME      DRIVER    SCOPE\n"),
        "{table}"
    );

    b.ok(&["volume", "create", "--label", "a=b", "v1"]);
    assert_eq!(
        b.ok(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}}:{{.Driver}}:{{.Labels}}"
        ]),
        "v1:local:a=b\n"
    );
    assert_eq!(
        b.ok(&["volume", "ls", "--format", "table {{.Name}}\\t{{.Driver}}"]),
        "VOLUME NAME   DRIVER\nv1            local\n"
    );
    assert_eq!(
        b.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Labels.a}} {{.Driver}}",
            "v1"
        ]),
        "v1 b local\n"
    );

    let dir = stack_dir(
        &b,
        "name: tiny\nservices:\n  s:\n    image: bb:local\n    command: [sleep, '600']\n",
    );
    ok_in(&b, &dir, &["up", "-d"]);
    assert_eq!(
        b.ok(&["ls", "--format", "{{.Name}} {{.Status}}"]),
        "tiny running(1)\n"
    );
    let (code, err) = failed(&b.run(&["ls", "--format", "{{.Nope}}"]));
    assert_eq!(code, 1);
    assert!(err.contains("can't evaluate field Nope"), "{err}");
}
