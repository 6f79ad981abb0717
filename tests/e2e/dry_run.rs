//! `up --dry-run`: the steps `up` would take, with their reasons, and nothing changed.

use crate::stacks::{ok_in, stack_dir};
use crate::support::*;

const STACK: &str = r#"
name: plan
services:
  web:
    image: bb:local
    command: ["sleep", "600"]
    init: true
    volumes: ["data:/data"]
  worker:
    image: bb:local
    command: ["sleep", "600"]
    init: true
    deploy:
      replicas: 2
    depends_on: [web]
volumes:
  data: {}
"#;

/// The plan's line for `subject` (e.g. "Container plan-web-1"), squeezed to single spaces.
fn line(plan: &str, subject: &str) -> String {
    plan.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .find(|l| l.contains(&format!("{subject} ")))
        .unwrap_or_else(|| panic!("no step for {subject}:\n{plan}"))
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let b = Berth::new();
    let dir = stack_dir(&b, STACK);
    let fresh = ok_in(&b, &dir, &["up", "--dry-run"]);
    assert!(line(&fresh, "Network plan_default").contains("Create does not exist"));
    assert!(line(&fresh, "Volume plan_data").contains("Create does not exist"));
    assert!(line(&fresh, "Container plan-worker-2").contains("Create does not exist"));
    // Dependencies first: web's steps come before the workers'.
    let web = fresh.find("plan-web-1").unwrap();
    assert!(web < fresh.find("plan-worker-1").unwrap(), "{fresh}");
    assert_eq!(
        b.ok(&["container", "ls", "-aq"]),
        "",
        "a dry run creates nothing"
    );
    assert!(!b.ok(&["network", "ls"]).contains("plan_default"));

    ok_in(&b, &dir, &["up", "-d", "--no-watch"]);
    let id = b.inspect("plan-web-1")["Id"].clone();
    let steady = ok_in(&b, &dir, &["up", "--dry-run"]);
    assert!(line(&steady, "Container plan-web-1").contains("Keep up to date"));
    assert!(
        !steady.contains("Network") && !steady.contains("Volume"),
        "{steady}"
    );
    let scaled = ok_in(&b, &dir, &["up", "--dry-run", "--scale", "worker=1"]);
    assert!(line(&scaled, "Container plan-worker-2").contains("Remove scaled down to 1"));
    let forced = ok_in(&b, &dir, &["up", "--dry-run", "--force-recreate", "web"]);
    assert!(line(&forced, "Container plan-web-1").contains("Recreate --force-recreate"));
    assert_eq!(
        b.inspect("plan-web-1")["Id"],
        id,
        "a dry run recreates nothing"
    );
    assert_eq!(b.ok(&["container", "ls", "-q"]).lines().count(), 3);

    // (Checked before the periodic resync could apply the edit: the plan only.)

    std::fs::write(dir.join("compose.yaml"), STACK.replace("600", "700")).unwrap();
    let edited = ok_in(&b, &dir, &["up", "--dry-run"]);
    assert!(line(&edited, "Container plan-web-1").contains("Recreate its configuration changed"));
    ok_in(&b, &dir, &["down", "-v"]);
}
