//! Compose's `build:` through the Docker door with no DOCKER_BUILDKIT in the environment:
//! Compose v2.40 takes the classic builder (`POST /build`) that berth serves, rather than
//! booting a BuildKit container it would have to pull.

use super::*;

#[test]
fn docker_compose_builds_with_the_classic_builder() {
    let d = Docker::new();
    let dir = d.b.dir.path().join("cbuild");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM bb:local\nARG GREETING=hi\nRUN echo \"$GREETING from the classic builder\" > /msg\nCMD [\"sh\", \"-c\", \"cat /msg; sleep 300\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  app:\n    build:\n      context: .\n      args:\n        GREETING: hello\n    image: cbuild-app:1\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = d
            .cmd(DOCKER)
            .arg("compose")
            .args(args)
            .current_dir(&dir)
            .env_remove("DOCKER_BUILDKIT")
            .env_remove("COMPOSE_BAKE")
            .output()
            .unwrap();
        let all = text(&out.stdout) + &text(&out.stderr);
        assert!(out.status.success(), "docker compose {args:?}: {all}");
        all
    };
    let built = run(&["build"]);
    // Not buildx's docker-container driver booting a BuildKit container: berth's /build.
    assert!(
        !built.contains("booting buildkit") && built.contains("Sending build context"),
        "{built}"
    );
    assert!(
        built.contains("Service app  Built") || built.contains("app  Built"),
        "{built}"
    );
    assert_eq!(
        d.ok(&["run", "--rm", "--entrypoint", "cat", "cbuild-app:1", "/msg"]),
        "hello from the classic builder\n"
    );
    // up --build builds again (a changed Dockerfile) and runs the result.
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM bb:local\nRUN echo rebuilt > /msg\nCMD [\"sh\", \"-c\", \"cat /msg; sleep 300\"]\n",
    )
    .unwrap();
    run(&["up", "-d", "--build"]);
    assert!(d.b.wait_for(Duration::from_secs(10), || d
        .compose(&dir, &["logs", "--no-color", "app"])
        .contains("rebuilt")));
    // Compose's other use of the ping's OSType, `stats` (docker/cli's RunStats), still
    // shows Linux columns: it reads the OS from each stats answer, which says linux.
    let stats = d.compose(&dir, &["stats", "--no-stream"]);
    assert!(
        stats.contains("MEM USAGE / LIMIT") && !stats.contains("PRIV WORKING SET"),
        "{stats}"
    );
    run(&["down", "--rmi", "all"]);
    assert_eq!(d.b.ok(&["container", "ls", "-aq"]), "");
    // Everyone else is told the truth: a Linux engine.
    let info = d.ok(&["version", "--format", "{{.Server.Os}}"]);
    assert_eq!(info.trim(), "linux");
}
