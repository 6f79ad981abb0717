//! Stacks that build their images: `up` builds the services with `build:` (named by `image:`
//! or PROJECT-SERVICE, as Compose), rebuilds what changed and recreates only what got a new
//! image, `--no-build` builds nothing (nor does the stack's loop), and a watched stack
//! rebuilds when its Dockerfile is saved.

use crate::stacks::{in_dir, progress_in, stack_dir};
use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const STACK: &str = r#"
name: sb
services:
  web:
    build: ./web
    ports: ["18081:8080"]
    init: true
  tool:
    image: custom/tool:1
    build:
      context: ./web
      dockerfile: ../tool.Dockerfile
      target: final
      args: {GREETING: from-args}
      labels: {org.example.built-by: compose}
      tags: ["sb-tool:extra"]
    command: [sleep, "1000"]
    init: true
  inline:
    build:
      context: ./web
      dockerfile_inline: |
        FROM bb:local
        COPY index.html /inline.html
    command: [sleep, "1000"]
    init: true
"#;

const WEB: &str = "FROM bb:local\n\
                   COPY index.html /www/\n\
                   EXPOSE 8080\n\
                   CMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n";

const TOOL: &str = "FROM bb:local AS base\n\
                    ARG GREETING=default\n\
                    RUN echo \"$GREETING\" > /greeting\n\
                    FROM base AS final\n\
                    CMD [\"cat\", \"/greeting\"]\n";

/// The container's id, "" while it does not exist (a recreate is under way).
fn id(b: &Berth, name: &str) -> String {
    let out = b.run(&["container", "inspect", name]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v[0]["Id"].as_str().unwrap_or("").to_string()
}

fn page(b: &Berth, path: &str) -> String {
    let url = format!("http://127.0.0.1:18081/{path}");
    text(&b.host(&["busybox", "wget", "-qO-", &url]).stdout)
}

fn exec(b: &Berth, container: &str, script: &str) -> String {
    let out = b.run(&["container", "exec", container, "sh", "-c", script]);
    text(&out.stdout)
}

fn stack_error(b: &Berth, name: &str) -> String {
    let v: Value = serde_json::from_str(&b.ok(&["ls", "--format", "json"])).unwrap();
    v.as_array()
        .into_iter()
        .flatten()
        .find(|s| s["Name"] == name)
        .and_then(|s| s["Error"].as_str())
        .unwrap_or("")
        .to_string()
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

#[test]
fn up_builds_services_and_rebuilds_what_changed() {
    let b = Berth::new();
    let dir = stack_dir(&b, STACK);
    std::fs::create_dir_all(dir.join("web")).unwrap();
    write(&dir, "web/Dockerfile", WEB);
    write(&dir, "web/index.html", "v1\n");
    write(&dir, "tool.Dockerfile", TOOL);

    // 1. up builds each service's image under Compose's names, then runs it.
    let err = progress_in(&b, &dir, &["up", "-d"]);
    for want in [
        "[web 2/2] COPY index.html /www/",
        "naming to docker.io/library/sb-web:latest done",
        "[tool base 2/2] RUN echo \"$GREETING\" > /greeting",
        "naming to docker.io/custom/tool:1 done",
        "naming to docker.io/library/sb-tool:extra done",
        "naming to docker.io/library/sb-inline:latest done",
        "Container sb-web-1  Started",
    ] {
        assert!(err.contains(want), "{want:?} missing in\n{err}");
    }
    let mut shown = String::new();
    let served = b.wait_for(Duration::from_secs(10), || {
        shown = page(&b, "");
        shown == "v1\n"
    });
    assert!(served, "the built web app does not answer: {shown:?}");
    assert_eq!(exec(&b, "sb-tool-1", "cat /greeting"), "from-args\n");
    assert_eq!(exec(&b, "sb-inline-1", "cat /inline.html"), "v1\n");
    let tool: Value = serde_json::from_str(&b.ok(&["image", "inspect", "sb-tool:extra"])).unwrap();
    assert_eq!(
        tool[0]["Config"]["Labels"]["org.example.built-by"], "compose",
        "{tool}"
    );
    assert!(b.inspect("sb-tool-1")["Config"]["Image"] == "custom/tool:1");
    let ids = |b: &Berth| ["sb-web-1", "sb-tool-1", "sb-inline-1"].map(|c| id(b, c));
    let first = ids(&b);

    // 2. Unchanged: every step cached, nothing recreated.
    let err = progress_in(&b, &dir, &["up", "-d"]);
    assert_eq!(err.matches("CACHED").count(), 3, "{err}");
    assert!(!err.contains("Recreate"), "{err}");
    assert_eq!(ids(&b), first);

    // 3. A changed file of the context: the services that copy it get a new image and a new
    //    container; tool, whose steps do not read it, keeps both.
    write(&dir, "web/index.html", "v2\n");
    progress_in(&b, &dir, &["up", "-d"]);
    let now = ids(&b);
    assert_ne!(now[0], first[0], "web was not recreated");
    assert_eq!(now[1], first[1], "tool was recreated");
    assert_ne!(now[2], first[2], "inline was not recreated");
    assert_eq!(exec(&b, "sb-inline-1", "cat /inline.html"), "v2\n");
    assert!(b.wait_for(Duration::from_secs(10), || page(&b, "") == "v2\n"));

    // 4. Watched: saving a Dockerfile rebuilds and recreates with no command, the one
    //    outside the context (tool's ../tool.Dockerfile) too. (Well within the loop's 30 s
    //    resync, which rebuilds too: the save itself must wake it.)
    write(
        &dir,
        "tool.Dockerfile",
        &TOOL.replace("\"$GREETING\"", "\"$GREETING again\""),
    );
    let rebuilt = b.wait_for(Duration::from_secs(10), || {
        exec(&b, "sb-tool-1", "cat /greeting") == "from-args again\n"
    });
    assert!(rebuilt, "{:?}", stack_error(&b, "sb"));
    write(
        &dir,
        "web/Dockerfile",
        &WEB.replace("EXPOSE", "RUN echo watched > /www/watched.html\nEXPOSE"),
    );
    let rebuilt = b.wait_for(Duration::from_secs(10), || {
        page(&b, "watched.html") == "watched\n"
    });
    assert!(rebuilt, "{:?}", stack_error(&b, "sb"));
    let watched = ids(&b);
    assert_eq!(watched[2], now[2], "inline's image did not change");

    // 5. --build rebuilds every service, all from the cache: nothing is recreated.
    let err = progress_in(&b, &dir, &["up", "-d", "--build"]);
    for service in ["web", "tool", "inline"] {
        assert!(
            err.contains(&format!("[{service} ")),
            "{service} not built:\n{err}"
        );
    }
    assert!(!err.contains("Recreate"), "{err}");
    assert_eq!(ids(&b), watched);

    // 6. down --rmi local removes the images named after the project, not `image:`'s.
    let err = progress_in(&b, &dir, &["down", "-t", "1", "--rmi", "local"]);
    assert!(err.contains("Image sb-web  Removed"), "{err}");
    for (image, kept) in [
        ("sb-web", false),
        ("sb-inline", false),
        ("custom/tool:1", true),
    ] {
        assert_eq!(
            b.run(&["image", "inspect", image]).status.success(),
            kept,
            "{image}"
        );
    }
}

#[test]
fn no_build_dry_run_and_failed_builds_create_nothing() {
    let b = Berth::new();
    let dir = stack_dir(
        &b,
        "name: nb\nservices:\n  app:\n    build: .\n    command: [sleep, \"1000\"]\n    init: true\n",
    );
    write(
        &dir,
        "Dockerfile",
        "FROM bb:local\nRUN echo built > /built\n",
    );
    let exists = |image: &str| b.run(&["image", "inspect", image]).status.success();

    // The dry run plans and builds nothing.
    let out = in_dir(&b, &dir, &["up", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!exists("nb-app"), "the dry run built");

    // --no-build with the image missing: an error that says how to build it.
    let out = in_dir(&b, &dir, &["up", "-d", "--no-build"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("service app: image nb-app has not been built")
            && err.contains("berth up --build"),
        "{err}"
    );
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "");
    // Nor does the stack's loop build it: a saved edit wakes a pass, which reports the
    // missing image instead.
    std::fs::write(
        dir.join("compose.yaml"),
        "# edited\nname: nb\nservices:\n  app:\n    build: .\n    command: [sleep, \"1000\"]\n    init: true\n",
    )
    .unwrap();
    let reported = b.wait_for(Duration::from_secs(10), || {
        stack_error(&b, "nb").contains("has not been built")
    });
    assert!(reported, "{:?}", stack_error(&b, "nb"));
    assert!(!exists("nb-app"), "the loop built despite --no-build");
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "");

    // `berth build` (Compose's form: no context) builds the stack's services.
    let out = in_dir(&b, &dir, &["build"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("naming to docker.io/library/nb-app:latest done"),
        "{}",
        text(&out.stderr)
    );
    let out = in_dir(&b, &dir, &["build", "nosuch"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("nosuch"),
        "{}",
        text(&out.stderr)
    );
    progress_in(&b, &dir, &["up", "-d", "--no-build"]);
    assert_eq!(exec(&b, "nb-app-1", "cat /built"), "built\n");
    let before = id(&b, "nb-app-1");
    progress_in(&b, &dir, &["down", "-t", "0"]);

    // A failing build stops `up` with the step's report; the old image stays, nothing runs.
    let image = b.ok(&["image", "inspect", "-f", "{{.Id}}", "nb-app"]);
    write(
        &dir,
        "Dockerfile",
        "FROM bb:local\nRUN echo failing; exit 7\n",
    );
    let out = in_dir(&b, &dir, &["up", "-d"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    for want in [
        "failing",
        "Dockerfile:2",
        "#2 [app 2/2] RUN echo failing; exit 7",
        "ERROR: failed to solve: process \"/bin/sh -c echo failing; exit 7\" did not complete successfully: exit code: 7",
    ] {
        assert!(err.contains(want), "{want:?} missing in\n{err}");
    }
    assert_eq!(
        b.ok(&["image", "inspect", "-f", "{{.Id}}", "nb-app"]),
        image
    );
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "");
    assert!(!before.is_empty());
    progress_in(&b, &dir, &["down"]);
}

/// `additional_contexts`: a directory that `COPY --from=NAME` copies from, an image
/// (`docker-image://`) that `FROM NAME` starts from; other forms are refused by name.
#[test]
fn additional_contexts_name_directories_and_images() {
    let b = Berth::new();
    let stack = "name: ac\nservices:\n  app:\n    build:\n      context: ./app\n      additional_contexts:\n        assets: ./assets\n        base: docker-image://bb:local\n    command: [sleep, '1000']\n    init: true\n";
    let dir = stack_dir(&b, stack);
    for sub in ["app", "assets"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    write(
        &dir,
        "app/Dockerfile",
        "FROM base\nCOPY --from=assets hello.txt /hello.txt\n",
    );
    write(&dir, "assets/hello.txt", "from the assets context\n");
    let err = progress_in(&b, &dir, &["up", "-d", "--no-watch"]);
    assert!(!err.contains("additional_contexts"), "no warning: {err}");
    assert_eq!(
        exec(&b, "ac-app-1", "cat /hello.txt"),
        "from the assets context\n"
    );
    in_dir(&b, &dir, &["down", "-t", "0"]);
    let refused = stack.replace("./assets", "service:other");
    std::fs::write(dir.join("compose.yaml"), refused).unwrap();
    let out = in_dir(&b, &dir, &["up", "-d", "--no-watch", "--build"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("build.additional_contexts.assets (service:other)"),
        "{}",
        text(&out.stderr)
    );
}
