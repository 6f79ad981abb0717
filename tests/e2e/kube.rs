//! `berth kube generate | apply | down` as a user runs them: no daemon (none is started),
//! the stack options as every stack command takes them, and apply/down against a fake
//! Kubernetes API server (berth-kube's test double) through a kubeconfig.

#[path = "../../kube/tests/common/fake_api.rs"]
mod fake_api;

use crate::support::{text, BERTH};
use std::path::Path;
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Runs berth with a private run dir and root (where a daemon would put its socket) and no
/// variables of the caller's that stacks interpolate.
fn berth(run: &Path, args: &[&str]) -> Output {
    Command::new(BERTH)
        .args(args)
        .env("BERTH_RUN_DIR", run.join("run"))
        .env("BERTH_ROOT", run.join("root"))
        .env_remove("WEB_PORT")
        .env_remove("KUBECONFIG")
        .env("HOME", run)
        .output()
        .unwrap()
}

fn ok(run: &Path, args: &[&str]) -> (String, String) {
    let out = berth(run, args);
    assert!(
        out.status.success(),
        "berth {args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

#[test]
fn kube_generate_prints_writes_and_warns() {
    let d = tempfile::tempdir().unwrap();
    let quickstart = root().join("examples/quickstart/compose.yaml");
    let qs = quickstart.to_str().unwrap();
    let (yaml, err) = ok(d.path(), &["-f", qs, "kube", "generate"]);
    let golden = std::fs::read_to_string(root().join("kube/tests/golden/quickstart.yaml")).unwrap();
    assert_eq!(yaml, golden, "the CLI prints what the library makes");
    assert!(
        err.contains(
            "WARN[0000] service api: `healthcheck.start_interval` 200ms is rounded up to 1s"
        ),
        "{err}"
    );
    // -o DIR: one file per object, numbered in apply order; -o FILE: one stream
    let dir = d.path().join("out");
    ok(
        d.path(),
        &[
            "-f",
            qs,
            "kube",
            "generate",
            "-n",
            "demo",
            "-o",
            dir.to_str().unwrap(),
        ],
    );
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files.first().map(String::as_str),
        Some("00-serviceaccount-quickstart-wait.yaml")
    );
    assert!(
        files.contains(&"10-deployment-web.yaml".to_string()),
        "{files:?}"
    );
    let web = std::fs::read_to_string(dir.join("10-deployment-web.yaml")).unwrap();
    assert!(web.contains("  namespace: demo\n"), "{web}");
    let file = d.path().join("all.yaml");
    ok(
        d.path(),
        &[
            "-f",
            qs,
            "kube",
            "generate",
            "--expose",
            "nodeport",
            "-o",
            file.to_str().unwrap(),
        ],
    );
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("type: NodePort"));
    // a service named on the command line: its profile is enabled, as `up SERVICE` does
    let profiles = root().join("examples/profiles/compose.yaml");
    let (yaml, _) = ok(
        d.path(),
        &[
            "-f",
            profiles.to_str().unwrap(),
            "kube",
            "generate",
            "debug",
        ],
    );
    assert!(
        yaml.contains("name: debug\n") && !yaml.contains("name: web\n"),
        "{yaml}"
    );
    // errors are clear
    let out = berth(d.path(), &["-f", qs, "kube", "generate", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no such service: nope"),
        "{}",
        text(&out.stderr)
    );
    let out = berth(
        d.path(),
        &["-f", qs, "kube", "generate", "--expose", "ingress"],
    );
    assert!(
        text(&out.stderr).contains("use clusterip, nodeport or loadbalancer"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !d.path().join("run/berth.sock").exists(),
        "no daemon was started"
    );
}

#[test]
fn kube_apply_and_down_talk_to_the_cluster_of_the_kubeconfig() {
    let d = tempfile::tempdir().unwrap();
    let listed = fake_api::Listed::from([
        (
            "/apis/apps/v1/namespaces/team/deployments".to_string(),
            vec!["web", "api"],
        ),
        (
            "/api/v1/namespaces/team/persistentvolumeclaims".to_string(),
            vec!["quickstart-site"],
        ),
    ]);
    let fake = fake_api::serve(listed);
    let cfg = fake_api::kubeconfig(d.path(), &fake.url);
    let (cfg, qs) = (
        cfg.to_str().unwrap(),
        root().join("examples/quickstart/compose.yaml"),
    );
    let qs = qs.to_str().unwrap();
    let (out, _) = ok(
        d.path(),
        &[
            "-f",
            qs,
            "kube",
            "apply",
            "--kubeconfig",
            cfg,
            "--context",
            "fake",
        ],
    );
    assert!(out.contains("deployment/web serverside-applied\n"), "{out}");
    assert!(out.contains("job/seed serverside-applied\n"), "{out}");
    {
        let seen = fake.seen.lock().unwrap();
        assert!(seen
            .iter()
            .all(|s| s.method == "PATCH" && s.path.contains("/namespaces/team/")));
        let rb = seen
            .iter()
            .find(|s| s.path.ends_with("/rolebindings/quickstart-wait"))
            .unwrap();
        assert_eq!(
            rb.body["subjects"][0]["namespace"], "team",
            "the context's namespace, everywhere"
        );
    }
    let (out, _) = ok(
        d.path(),
        &[
            "-f",
            qs,
            "kube",
            "apply",
            "--kubeconfig",
            cfg,
            "--context",
            "fake",
            "--dry-run",
        ],
    );
    assert!(out.contains("(server dry run)"), "{out}");
    let (out, _) = ok(
        d.path(),
        &[
            "-p",
            "quickstart",
            "kube",
            "down",
            "--kubeconfig",
            cfg,
            "--context",
            "fake",
        ],
    );
    assert_eq!(out, "deployment/web deleted\ndeployment/api deleted\n");
    let (out, _) = ok(
        d.path(),
        &[
            "-f",
            qs,
            "kube",
            "down",
            "-v",
            "--kubeconfig",
            cfg,
            "--context",
            "fake",
        ],
    );
    assert!(
        out.contains("persistentvolumeclaim/quickstart-site deleted"),
        "{out}"
    );
    // a cluster that is not there: a clear error, no hang
    let out = berth(
        d.path(),
        &[
            "-f",
            qs,
            "kube",
            "down",
            "--kubeconfig",
            cfg,
            "--context",
            "other",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("listing"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !d.path().join("run/berth.sock").exists(),
        "no daemon was started"
    );
}
