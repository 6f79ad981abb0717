//! `docker events` and docker-py's `events()` replaying the past: network, volume, image and
//! container events between `--since` and `--until`, in Docker's shape, with its filters.

use super::*;

/// Now, as the CLI and the API take `--since`/`--until`: unix seconds with nanoseconds.
pub(super) fn now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

/// `docker events --since SINCE --until UNTIL --filter F... --format FORMAT`: the replay.
pub(super) fn replay(
    d: &Docker,
    since: &str,
    until: &str,
    filters: &[&str],
    format: &str,
) -> String {
    let mut args = vec!["events", "--since", since, "--until", until];
    for f in filters {
        args.extend(["--filter", f]);
    }
    args.extend(["--format", format]);
    d.ok(&args)
}

const PY_EVENTS: &str = r#"
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
for kind in ["network", "volume", "image"]:
    got = c.events(since=float(sys.argv[2]), until=float(sys.argv[3]), decode=True,
                   filters={"type": kind})
    print(kind, " ".join(e["Action"] for e in got))
"#;

#[test]
fn docker_events_replay_networks_volumes_images_with_filters() {
    let d = Docker::new();
    let since = now();
    d.ok(&["network", "create", "evnet"]);
    d.ok(&["volume", "create", "evvol"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ev",
        "--network",
        "evnet",
        "-v",
        "evvol:/data",
        "bb:local",
        "sleep",
        "300",
    ]);
    // sleep as pid 1 ignores SIGTERM: the grace period ends in SIGKILL.
    d.ok(&["stop", "-t", "1", "ev"]);
    d.ok(&["rm", "ev"]);
    d.ok(&["network", "rm", "evnet"]);
    d.ok(&["volume", "rm", "evvol"]);
    d.ok(&["tag", "bb:local", "bb:ev"]);
    d.ok(&["rmi", "bb:ev"]);
    let tar = d.b.dir.path().join("ev.tar");
    d.ok(&["save", "-o", tar.to_str().unwrap(), "bb:local"]);
    d.ok(&["load", "-i", tar.to_str().unwrap()]);
    let rootfs = d.b.busybox_tar();
    let imported = d.ok(&["import", rootfs.to_str().unwrap(), "bb:imp"]);
    let imported = imported.trim();
    let until = now();
    let events = |filters: &[&str], format: &str| replay(&d, &since, &until, filters, format);
    let short = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}";
    assert_eq!(
        events(&["type=network"], short),
        "network create evnet\nnetwork connect evnet\nnetwork disconnect evnet\nnetwork destroy evnet\n"
    );
    let ev_id = events(&["type=container", "event=create"], "{{.Actor.ID}}");
    let ev_id = ev_id.trim();
    assert_eq!(ev_id.len(), 64, "{ev_id}");
    assert_eq!(
        events(&["type=volume"], "{{.Action}} {{.Actor.ID}} {{json .Actor.Attributes}}"),
        format!(
            "create evvol {{\"driver\":\"local\"}}\n\
             mount evvol {{\"container\":\"{ev_id}\",\"destination\":\"/data\",\"driver\":\"local\",\"propagation\":\"\",\"read/write\":\"true\"}}\n\
             unmount evvol {{\"container\":\"{ev_id}\",\"driver\":\"local\"}}\n\
             destroy evvol {{\"driver\":\"local\"}}\n"
        )
    );
    assert_eq!(
        events(
            &["type=container"],
            "{{.Action}} {{index .Actor.Attributes \"signal\"}}{{index .Actor.Attributes \"exitCode\"}}"
        ),
        "create \nstart \nkill 15\nkill 9\ndie 137\nstop \ndestroy \n"
    );
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", "bb:local"]);
    let id = id.trim();
    assert_eq!(
        events(
            &["type=image"],
            "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}"
        ),
        format!(
            "tag {id} bb:ev\nuntag {id} {id}\nsave {id} {id}\nload {id} {id}\n\
             tag {imported} bb:imp\nimport {imported} {imported}\n"
        )
    );
    // Filters as dockerd's: an actor by name or id prefix, AND across keys, OR within one.
    assert_eq!(
        events(&["network=evn", "event=connect"], short),
        "network connect evnet\n"
    );
    assert_eq!(
        events(
            &["volume=evvol", "event=mount", "event=destroy"],
            "{{.Action}}"
        ),
        "mount\ndestroy\n"
    );
    assert_eq!(events(&["network=evnet", "volume=evvol"], short), "");
    assert_eq!(
        events(&["container=ev", "event=die"], short),
        "container die ev\n"
    );
    assert_eq!(events(&["image=bb:ev"], "{{.Action}}"), "tag\n");
    // The legacy fields dockerd fills for containers and images only.
    let raw = events(&["type=network", "event=create"], "{{json .}}");
    let v: serde_json::Value = serde_json::from_str(raw.trim()).unwrap();
    assert_eq!(v["scope"], "local");
    assert!(v.get("status").is_none(), "{raw}");
    assert!(v["timeNano"].as_i64().unwrap() / 1_000_000_000 == v["time"].as_i64().unwrap());
    // docker-py reads the same replay.
    assert_eq!(
        d.py(PY_EVENTS, &[&since, &until]),
        "network create connect disconnect destroy\nvolume create mount unmount destroy\nimage tag untag save load tag import\n"
    );
    // An `until` alone replays from the first remembered event, and ends the stream.
    assert_eq!(
        d.ok(&[
            "events",
            "--until",
            &until,
            "--filter",
            "type=volume",
            "--format",
            "{{.Action}}"
        ]),
        "create
mount
unmount
destroy
"
    );
}

/// `berth events --since --until` reads the same remembered stream as `docker events`: a
/// stack's container events replayed, in the same order, then the command ends.
#[test]
fn berth_events_replay_what_docker_events_shows() {
    let d = Docker::new();
    let dir = d.b.dir.path().join("evstack");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  web:\n    image: bb:local\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.1; done\"]\n",
    )
    .unwrap();
    let berth = |args: &[&str]| {
        let out = d.b.cmd(args).current_dir(&dir).output().unwrap();
        assert!(
            out.status.success(),
            "berth {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    berth(&["up", "-d"]);
    let since = now();
    berth(&["stop", "-t", "5", "web"]);
    berth(&["start", "web"]);
    let until = now();
    let ours: Vec<String> = berth(&["events", "--json", "--since", &since, "--until", &until])
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["service"], "web", "{l}");
            v["action"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ours, ["kill", "die", "stop", "start"]);
    let docker = replay(
        &d,
        &since,
        &until,
        &["type=container", "label=com.docker.compose.project=evstack"],
        "{{.Action}}",
    );
    assert_eq!(docker, ours.join("\n") + "\n");
    berth(&["down"]);
}
