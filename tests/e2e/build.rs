//! `berth build`: Dockerfiles in the forms Docker documents, built on berth's own engine from
//! the busybox test image `bb:local`, then run and inspected as a user would; the cache; and
//! bad input that fails clearly and changes nothing.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

/// A build context under the test's directory: `files` are (path, content) pairs.
fn context(b: &Berth, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = b.dir.path().join(name);
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `berth build ARGS... CONTEXT` (stderr holds the progress).
fn build(b: &Berth, args: &[&str], ctx: &Path) -> Output {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    all.push(s(ctx));
    b.run(&all)
}

fn build_ok(b: &Berth, args: &[&str], ctx: &Path) -> String {
    let out = build(b, args, ctx);
    assert!(
        out.status.success(),
        "build {args:?} failed:\n{}",
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// `container run --rm IMAGE sh -c SCRIPT`'s output.
fn sh_in(b: &Berth, image: &str, script: &str) -> String {
    b.ok(&["container", "run", "--rm", image, "sh", "-c", script])
}

fn image_config(b: &Berth, image: &str) -> Value {
    let v: Value = serde_json::from_str(&b.ok(&["image", "inspect", image])).unwrap();
    v[0]["Config"].clone()
}

fn image_id(b: &Berth, image: &str) -> String {
    let v: Value = serde_json::from_str(&b.ok(&["image", "inspect", image])).unwrap();
    v[0]["Id"].as_str().unwrap().to_string()
}

/// Nothing of a build is left: no containers, no scratch files, no mounts of this root.
fn assert_clean(b: &Berth) {
    let scratch = || -> Vec<PathBuf> {
        std::fs::read_dir(b.root.join("images/tmp"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    // A cancelled build tidies up moments after its client went.
    b.wait_for(Duration::from_secs(5), || {
        b.ok(&["container", "ls", "-aq"]).trim().is_empty()
            && scratch().is_empty()
            && host_mounts_with(s(&b.root)).is_empty()
    });
    assert_eq!(b.ok(&["container", "ls", "-aq"]), "", "containers left");
    assert_eq!(scratch(), Vec::<PathBuf>::new(), "scratch files left");
    assert_eq!(
        host_mounts_with(s(&b.root)),
        Vec::<String>::new(),
        "mounts left"
    );
}

#[test]
fn tutorial_app_builds_and_serves() {
    let b = Berth::new();
    let ctx = context(
        &b,
        "app",
        &[
            (
                "Dockerfile",
                "# The classic tutorial, on busybox\n\
                 FROM bb:local\n\
                 WORKDIR /app\n\
                 ADD . /app\n\
                 ENV NAME=World PORT=8080\n\
                 EXPOSE 8080\n\
                 CMD [\"sh\", \"-c\", \"echo \\\"<p>Hello $NAME</p>\\\" >> /app/index.html && exec httpd -f -p $PORT -h /app\"]\n",
            ),
            ("index.html", "<h1>tutorial</h1>\n"),
        ],
    );
    let progress = build_ok(&b, &["-t", "helloworld"], &ctx);
    assert!(progress.contains("#2 [2/3] WORKDIR /app"), "{progress}");
    assert!(progress.contains("[3/3] ADD . /app"), "{progress}");
    assert!(
        progress.contains("naming to docker.io/library/helloworld:latest done"),
        "{progress}"
    );
    let cfg = image_config(&b, "helloworld");
    assert_eq!(cfg["WorkingDir"], "/app");
    assert_eq!(cfg["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert!(cfg["Env"].to_string().contains("NAME=World"), "{cfg}");

    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "18080:8080",
        "helloworld",
    ]);
    let mut page = String::new();
    let up = b.wait_for(Duration::from_secs(10), || {
        page = text(
            &b.host(&["busybox", "wget", "-qO-", "http://127.0.0.1:18080/"])
                .stdout,
        );
        page.contains("Hello World")
    });
    assert!(up, "page: {page}");
    assert!(page.contains("<h1>tutorial</h1>"), "{page}");
    assert_eq!(
        b.ok(&["container", "exec", "web", "sh", "-c", "pwd; ls /app"]),
        "/app\nDockerfile\nindex.html\n"
    );
    b.ok(&["container", "rm", "-f", "web"]);

    // A history entry per instruction, newest first.
    let history = b.ok(&["image", "history", "helloworld"]);
    let rows: Vec<&str> = history.lines().skip(1).collect();
    for (row, want) in rows.iter().zip([
        "CMD [\"sh\",\"-c\"",
        "EXPOSE 8080/tcp",
        "ENV NAME=World PORT=8080",
        "ADD . /app",
        "WORKDIR /app",
    ]) {
        assert!(row.contains(want), "{row:?} lacks {want:?}:\n{history}");
    }

    // -q prints the id (the cache answers); image ls hides the steps, -a shows them.
    let out = build(&b, &["-q", "-t", "helloworld"], &ctx);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), image_id(&b, "helloworld"));
    let ls = b.ok(&["image", "ls"]);
    assert!(!ls.contains("<none>"), "{ls}");
    let all = b.ok(&["image", "ls", "-a"]);
    assert!(all.matches("<none>").count() >= 4, "{all}");
    assert_clean(&b);
}

#[test]
fn multi_stage_targets_and_build_args() {
    let b = Berth::new();
    let ctx = context(
        &b,
        "ms",
        &[
            ("a.txt", "source\n"),
            (
                "Dockerfile",
                "ARG BASE=bb:local\n\
                 ARG VER=1\n\
                 FROM ${BASE} AS builder\n\
                 ARG VER\n\
                 ARG FLAVOR=plain\n\
                 RUN mkdir -p /out && echo \"built v$VER $FLAVOR\" > /out/app.txt\n\
                 COPY a.txt /out/\n\
                 \n\
                 FROM builder AS tester\n\
                 RUN cat /out/app.txt > /out/tested\n\
                 \n\
                 FROM $BASE\n\
                 COPY --from=builder /out /srv\n\
                 COPY --from=bb:local /etc/passwd /copied-passwd\n\
                 COPY --from=0 /out/app.txt /app0.txt\n\
                 CMD [\"cat\", \"/srv/app.txt\"]\n",
            ),
        ],
    );
    let progress = build_ok(
        &b,
        &[
            "-t",
            "ms:1",
            "--build-arg",
            "VER=7",
            "--build-arg",
            "UNUSED=1",
        ],
        &ctx,
    );
    assert!(
        progress.contains("One or more build-args [UNUSED] were not consumed"),
        "{progress}"
    );
    // The tester stage is not needed by the last one: not built.
    assert!(!progress.contains("tester"), "{progress}");
    assert_eq!(
        b.ok(&["container", "run", "--rm", "ms:1"]),
        "built v7 plain\n"
    );
    assert_eq!(
        sh_in(&b, "ms:1", "ls /srv; head -1 /copied-passwd; cat /app0.txt"),
        "a.txt\napp.txt\nroot:x:0:0:root:/root:/bin/sh\nbuilt v7 plain\n"
    );
    // --target builds a stage FROM an earlier one; the ARG default applies.
    build_ok(&b, &["-t", "ms:test", "--target", "tester"], &ctx);
    assert_eq!(
        sh_in(&b, "ms:test", "cat /out/tested; cat /out/a.txt"),
        "built v1 plain\nsource\n"
    );
    // ARG before FROM chooses the base.
    build_ok(&b, &["-t", "ms:other", "--build-arg", "BASE=ms:test"], &ctx);
    assert_eq!(sh_in(&b, "ms:other", "cat /out/tested"), "built v1 plain\n");
    assert_clean(&b);
}

#[test]
fn substitution_shells_heredocs_and_copy_semantics() {
    let b = Berth::new();
    let ctx = context(
        &b,
        "sub",
        &[
            ("dir/f1", "1\n"),
            ("dir/inner/f2", "2\n"),
            ("one.txt", "one\n"),
            ("two.txt", "two\n"),
            ("other.md", "md\n"),
            (
                "Dockerfile",
                "FROM bb:local\n\
                 ARG D\n\
                 ENV BASE=/opt V2=${D:-dflt} ALT=${D:+set}\n\
                 WORKDIR ${BASE}/${D:-w}\n\
                 COPY one.txt ${BASE}/${D:-fallback}/\n\
                 LABEL lab=${V2} alt=${ALT:+yes}\n\
                 COPY dir /copied-dir\n\
                 COPY dir/ /copied-dir2/\n\
                 COPY one.txt /renamed.txt\n\
                 COPY one.txt /intodir/\n\
                 COPY one.txt rel.txt\n\
                 COPY *.txt /globbed/\n\
                 COPY [\"one.txt\", \"two.txt\", \"/multi/\"]\n\
                 RUN echo shell-form $V2 > /shell.txt\n\
                 RUN [\"/bin/sh\", \"-c\", \"echo exec-form $HOME > /exec.txt\"]\n\
                 SHELL [\"/bin/sh\", \"-x\", \"-c\"]\n\
                 RUN echo with-shell\n\
                 RUN <<EOF\n\
                 echo heredoc line1 > /hd.txt\n\
                 echo heredoc line2 >> /hd.txt\n\
                 EOF\n\
                 COPY <<EOT /hdfile.txt\n\
                 hello ${V2}\n\
                 EOT\n\
                 RUN echo a \\\n\
                 \x20   b \\\n\
                 # a comment inside a continuation\n\
                 \x20 c > /cont.txt\n",
            ),
        ],
    );
    let progress = build_ok(&b, &["-t", "sub:1"], &ctx);
    assert!(
        progress.contains("+ echo with-shell"),
        "SHELL -x: {progress}"
    );
    let listing = "find /opt /copied-dir /copied-dir2 /renamed.txt /intodir /globbed /multi | sort";
    let files = "cat /shell.txt /exec.txt /hd.txt /hdfile.txt /cont.txt";
    assert_eq!(
        sh_in(
            &b,
            "sub:1",
            &format!("pwd; {listing}; {files}; echo $V2 ${{ALT}}.")
        ),
        "/opt/w\n\
         /copied-dir\n/copied-dir/f1\n/copied-dir/inner\n/copied-dir/inner/f2\n\
         /copied-dir2\n/copied-dir2/f1\n/copied-dir2/inner\n/copied-dir2/inner/f2\n\
         /globbed\n/globbed/one.txt\n/globbed/two.txt\n\
         /intodir\n/intodir/one.txt\n\
         /multi\n/multi/one.txt\n/multi/two.txt\n\
         /opt\n/opt/fallback\n/opt/fallback/one.txt\n/opt/w\n/opt/w/rel.txt\n\
         /renamed.txt\n\
         shell-form dflt\nexec-form /root\nheredoc line1\nheredoc line2\nhello dflt\na b c\n\
         dflt .\n"
    );
    assert_eq!(
        image_config(&b, "sub:1")["Labels"],
        serde_json::json!({"lab": "dflt", "alt": ""})
    );
    build_ok(&b, &["-t", "sub:2", "--build-arg", "D=dd"], &ctx);
    assert_eq!(
        sh_in(&b, "sub:2", "pwd; ls /opt/dd; cat /hdfile.txt; echo $ALT"),
        "/opt/dd\none.txt\nrel.txt\nhello dd\nset\n"
    );
    assert_eq!(
        image_config(&b, "sub:2")["Labels"],
        serde_json::json!({"lab": "dd", "alt": "yes"})
    );

    // Several sources need a directory destination ending in /.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb:local\nCOPY one.txt two.txt /nodir\n",
    )
    .unwrap();
    let out = build(&b, &[], &ctx);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the destination must be a directory and end with a /"),
        "{}",
        text(&out.stderr)
    );

    // `# escape=` makes the backtick the line continuation (and leaves \ alone).
    std::fs::write(
        ctx.join("Dockerfile"),
        "# escape=`\nFROM bb:local\nRUN printf '%s %s\\n' 'c:\\path' `\n  more > /esc.txt\n",
    )
    .unwrap();
    build_ok(&b, &["-t", "esc"], &ctx);
    assert_eq!(sh_in(&b, "esc", "cat /esc.txt"), "c:\\path more\n");
    assert_clean(&b);
}

#[test]
fn users_owners_archives_and_dockerignore() {
    let b = Berth::new();
    let ctx = context(
        &b,
        "usr",
        &[
            ("secret.sh", "s\n"),
            ("keep/k", "k\n"),
            ("node_modules/x/a", "n\n"),
            ("logs/a.log", "l\n"),
            ("logs/keep.log", "k\n"),
            ("src/deep/b.log", "b\n"),
            ("src/main.c", "c\n"),
            (
                ".dockerignore",
                "node_modules\n**/*.log\n!logs/keep.log\nDockerfile\n",
            ),
            (
                "Dockerfile",
                "FROM bb:local\n\
                 COPY --chown=web:web --chmod=0750 secret.sh /srv/secret.sh\n\
                 COPY --chown=1000 keep /k/\n\
                 ADD plain.tar /x/\n\
                 ADD comp.tar.gz /y\n\
                 COPY plain.tar /w/\n\
                 COPY . /ctx\n\
                 USER web\n\
                 RUN id -un > /tmp/id.txt && touch /tmp/made-by-web\n",
            ),
        ],
    );
    let pkg = b.dir.path().join("pkg");
    std::fs::create_dir_all(pkg.join("pkg")).unwrap();
    std::fs::write(pkg.join("pkg/file"), "in-tar\n").unwrap();
    sh(&[
        "tar",
        "-C",
        s(&pkg),
        "-cf",
        s(&ctx.join("plain.tar")),
        "pkg",
    ]);
    sh(&[
        "tar",
        "-C",
        s(&pkg),
        "-czf",
        s(&ctx.join("comp.tar.gz")),
        "pkg",
    ]);
    build_ok(&b, &["-t", "usr"], &ctx);
    assert_eq!(
        sh_in(
            &b,
            "usr",
            "stat -c '%a %U:%G' /srv/secret.sh /k/k; cat /x/pkg/file /y/pkg/file; ls /w; \
             cd /ctx && find . | sort; cat /tmp/id.txt; stat -c %U /tmp/made-by-web"
        ),
        "750 web:web\n644 web:web\nin-tar\nin-tar\nplain.tar\n\
         .\n./.dockerignore\n./comp.tar.gz\n./keep\n./keep/k\n./logs\n./logs/keep.log\n\
         ./plain.tar\n./secret.sh\n./src\n./src/deep\n./src/main.c\n\
         web\nweb\n"
    );
    assert_eq!(image_config(&b, "usr")["User"], "web");

    // ADD of a URL is refused: this host builds offline.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb:local\nADD https://example.com/a.txt /a\n",
    )
    .unwrap();
    let out = build(&b, &[], &ctx);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("Dockerfile:2") && err.contains("does not download"),
        "{err}"
    );
    assert_clean(&b);
}

#[test]
fn config_instructions_entrypoint_and_onbuild() {
    let b = Berth::new();
    let ctx = context(
        &b,
        "cfg",
        &[(
            "Dockerfile",
            "FROM bb:local\n\
             LABEL org.example.title=\"x y\" b=2\n\
             HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD wget -qO- http://localhost/ || exit 1\n\
             STOPSIGNAL SIGQUIT\n\
             VOLUME [\"/data\", \"/logs\"]\n\
             EXPOSE 80 53/udp\n\
             ONBUILD RUN echo triggered > /tmp/onbuild.txt\n\
             USER web\n\
             ENTRYPOINT [\"echo\", \"ep\"]\n\
             CMD [\"c1\"]\n",
        )],
    );
    build_ok(&b, &["-t", "cfg"], &ctx);
    let cfg = image_config(&b, "cfg");
    assert_eq!(
        cfg["Labels"],
        serde_json::json!({"org.example.title": "x y", "b": "2"})
    );
    assert_eq!(
        cfg["Healthcheck"],
        serde_json::json!({
            "Test": ["CMD-SHELL", "wget -qO- http://localhost/ || exit 1"],
            "Interval": 5_000_000_000i64, "Timeout": 2_000_000_000i64, "Retries": 4
        })
    );
    assert_eq!(cfg["StopSignal"], "SIGQUIT");
    assert_eq!(
        cfg["Volumes"],
        serde_json::json!({"/data": {}, "/logs": {}})
    );
    assert_eq!(
        cfg["ExposedPorts"],
        serde_json::json!({"80/tcp": {}, "53/udp": {}})
    );
    assert_eq!(
        cfg["OnBuild"],
        serde_json::json!(["RUN echo triggered > /tmp/onbuild.txt"])
    );
    // ENTRYPOINT + CMD: CMD is the default argument list, run arguments replace it.
    assert_eq!(b.ok(&["container", "run", "--rm", "cfg"]), "ep c1\n");
    assert_eq!(
        b.ok(&["container", "run", "--rm", "cfg", "x", "y"]),
        "ep x y\n"
    );

    // A child build runs the trigger first (as USER web), and does not inherit it;
    // an ENTRYPOINT given in the child drops the inherited CMD; HEALTHCHECK NONE.
    let child = context(
        &b,
        "child",
        &[(
            "Dockerfile",
            "FROM cfg\n\
             HEALTHCHECK NONE\n\
             ENTRYPOINT [\"sh\", \"-c\", \"cat /tmp/onbuild.txt; stat -c %U /tmp/onbuild.txt; echo args:$0\"]\n",
        )],
    );
    let progress = build_ok(&b, &["-t", "child"], &child);
    assert!(progress.contains("RUN echo triggered"), "{progress}");
    let cfg = image_config(&b, "child");
    assert_eq!(cfg["Healthcheck"], serde_json::json!({"Test": ["NONE"]}));
    assert_eq!(cfg["OnBuild"], Value::Null);
    assert_eq!(cfg["Cmd"], Value::Null);
    assert_eq!(
        b.ok(&["container", "run", "--rm", "child"]),
        "triggered\nweb\nargs:sh\n"
    );
    // Shell-form ENTRYPOINT ignores run arguments; CMD in the same file comes after it.
    std::fs::write(
        child.join("Dockerfile"),
        "FROM bb:local\nENTRYPOINT echo shell-ep\nCMD [\"ignored\"]\n",
    )
    .unwrap();
    build_ok(&b, &["-t", "child2"], &child);
    assert_eq!(
        image_config(&b, "child2")["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c", "echo shell-ep"])
    );
    assert_eq!(
        b.ok(&["container", "run", "--rm", "child2", "arg"]),
        "shell-ep\n"
    );
    assert_clean(&b);
}

#[test]
fn dockerfile_elsewhere_and_contexts_on_stdin() {
    let b = Berth::new();
    let ctx = context(&b, "ctx", &[("hello.txt", "from the context\n")]);
    let df = b.dir.path().join("elsewhere/build.Dockerfile");
    std::fs::create_dir_all(df.parent().unwrap()).unwrap();
    std::fs::write(
        &df,
        "FROM bb:local\nCOPY hello.txt /\nCMD [\"cat\", \"/hello.txt\"]\n",
    )
    .unwrap();
    build_ok(&b, &["-t", "f", "-f", s(&df)], &ctx);
    assert_eq!(
        b.ok(&["container", "run", "--rm", "f"]),
        "from the context\n"
    );

    // `-`: a tar context on standard input (gzip too), its Dockerfile inside.
    std::fs::write(ctx.join("Dockerfile"), "FROM bb:local\nCOPY . /in/\n").unwrap();
    let tar = b.dir.path().join("ctx.tar.gz");
    sh(&["tar", "-C", s(&ctx), "-czf", s(&tar), "."]);
    let out = b
        .cmd(&["build", "-q", "-t", "fromtar", "-"])
        .stdin(std::fs::File::open(&tar).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).trim().starts_with("sha256:"));
    assert_eq!(sh_in(&b, "fromtar", "ls /in"), "Dockerfile\nhello.txt\n");

    // A bare Dockerfile on standard input: no context, so nothing to copy.
    let bare = b.dir.path().join("bare.Dockerfile");
    std::fs::write(&bare, "FROM bb:local\nRUN echo bare > /bare.txt\n").unwrap();
    let out = b
        .cmd(&["build", "-t", "bare", "-"])
        .stdin(std::fs::File::open(&bare).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(sh_in(&b, "bare", "cat /bare.txt"), "bare\n");
    std::fs::write(&bare, "FROM bb:local\nCOPY hello.txt /\n").unwrap();
    let out = b
        .cmd(&["build", "-t", "bare", "-"])
        .stdin(std::fs::File::open(&bare).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not found"),
        "{}",
        text(&out.stderr)
    );
    assert_clean(&b);
}

#[test]
fn cache_skips_unchanged_steps_and_reruns_from_a_changed_copy() {
    let b = Berth::new();
    let ctx = context(
        &b,
        "cache",
        &[
            ("a.txt", "a1\n"),
            ("b.txt", "b1\n"),
            (
                "Dockerfile",
                "FROM bb:local\n\
                 RUN echo first >> /log\n\
                 COPY a.txt /a.txt\n\
                 RUN echo after-a >> /log\n\
                 COPY b.txt /b.txt\n\
                 RUN echo after-b >> /log\n\
                 ENV DONE=1\n",
            ),
        ],
    );
    let first = build_ok(&b, &["-t", "c"], &ctx);
    assert!(!first.contains("CACHED"), "{first}");
    let id = image_id(&b, "c");

    // Unchanged: every step cached, nothing run, the same image.
    let again = build_ok(&b, &["-t", "c"], &ctx);
    assert_eq!(again.matches("CACHED").count(), 5, "{again}");
    // Only FROM and the export are DONE: no step ran.
    assert_eq!(again.matches(" DONE ").count(), 2, "{again}");
    assert_eq!(image_id(&b, "c"), id);

    // b.txt changed: its COPY and what follows rerun, what precedes is cached.
    std::fs::write(ctx.join("b.txt"), "b2\n").unwrap();
    let changed = build_ok(&b, &["-t", "c"], &ctx);
    assert_eq!(changed.matches("CACHED").count(), 3, "{changed}");
    let step = |p: &str, name: &str| {
        let n = p
            .lines()
            .find(|l| l.ends_with(name))
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_string();
        p.contains(&format!("{n} CACHED"))
    };
    assert!(step(&changed, "COPY a.txt /a.txt"));
    assert!(!step(&changed, "COPY b.txt /b.txt"));
    assert!(!step(&changed, "RUN echo after-b >> /log"));
    assert_ne!(image_id(&b, "c"), id);
    assert_eq!(
        sh_in(&b, "c", "cat /log /b.txt"),
        "first\nafter-a\nafter-b\nb2\n"
    );

    // --no-cache runs everything again.
    let nocache = build_ok(&b, &["--no-cache", "-t", "c"], &ctx);
    assert!(!nocache.contains("CACHED"), "{nocache}");
    assert_eq!(sh_in(&b, "c", "cat /log"), "first\nafter-a\nafter-b\n");
    assert_clean(&b);
}

#[test]
fn bad_input_fails_clearly_and_changes_nothing() {
    let b = Berth::new();
    let ctx = context(
        &b,
        "bad",
        &[("Dockerfile", "FROM bb:local\nCMD [\"echo\", \"good\"]\n")],
    );
    std::fs::write(b.dir.path().join("outside"), "x").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", ctx.join("link")).unwrap();
    std::os::unix::fs::symlink("../outside", ctx.join("rel-link")).unwrap();
    build_ok(&b, &["-t", "app"], &ctx);
    let good = image_id(&b, "app");
    let images = b.ok(&["image", "ls", "-a", "-q"]);

    let fails = |args: &[&str], dir: &Path, wants: &[&str]| {
        let out = build(&b, args, dir);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        for w in wants {
            assert!(err.contains(w), "{args:?}: {err:?} lacks {w:?}");
        }
        assert_eq!(image_id(&b, "app"), good, "{args:?} moved the tag");
        assert_clean(&b);
    };
    let dockerfile = |text: &str| std::fs::write(ctx.join("Dockerfile"), text).unwrap();

    fails(
        &["-t", "app"],
        &b.dir.path().join("nope"),
        &["unable to prepare context"],
    );
    fails(
        &["-t", "app", "-f", "missing.Dockerfile"],
        &ctx,
        &["failed to read dockerfile", "missing.Dockerfile"],
    );
    dockerfile("FROM bb:local\nFROBNICATE x\n");
    fails(
        &["-t", "app"],
        &ctx,
        &["Dockerfile:2", "unknown instruction: FROBNICATE"],
    );
    dockerfile("FROM bb:local\nRUN true\nCOPY ../outside /x\n");
    fails(
        &["-t", "app"],
        &ctx,
        &["Dockerfile:3", "outside the build context"],
    );
    dockerfile("FROM bb:local\nCOPY link /x\n");
    fails(
        &["-t", "app"],
        &ctx,
        &["Dockerfile:2", "outside the build context"],
    );
    dockerfile("FROM bb:local\nCOPY rel-link /x\n");
    fails(
        &["-t", "app"],
        &ctx,
        &["Dockerfile:2", "outside the build context"],
    );
    dockerfile("FROM bb:local AS one\nFROM bb:local\nCOPY --from=nosuch /x /x\n");
    fails(
        &["-t", "app"],
        &ctx,
        &["Dockerfile:3", "no build stage named \"nosuch\""],
    );
    fails(
        &["-t", "app", "--target", "two"],
        &ctx,
        &["target stage \"two\" could not be found"],
    );
    // Flags that would make a different image are refused before anything runs.
    dockerfile("FROM bb:local\nRUN echo first\nRUN --mount=type=secret,id=t cat /run/secrets/t\n");
    fails(
        &["-t", "app"],
        &ctx,
        &[
            "Dockerfile:3",
            "RUN --mount=type=secret is not supported yet",
        ],
    );
    dockerfile("FROM bb:local\nCOPY --parents a/b /c/\n");
    fails(
        &["-t", "app"],
        &ctx,
        &["Dockerfile:2", "COPY --parents is not supported yet"],
    );
    dockerfile("FROM bb:local\nRUN echo made > /made\nRUN echo some output; exit 3\nCMD x\n");
    fails(
        &["-t", "app"],
        &ctx,
        &[
            "some output",
            "Dockerfile:3",
            ">>> RUN echo some output; exit 3",
            "ERROR: failed to solve: process \"/bin/sh -c echo some output; exit 3\" did not complete successfully: exit code: 3",
        ],
    );
    dockerfile("FROM bb:local\nRUN [\"sh\", \"-c\", \"exit 3\"]\n");
    fails(
        &["-t", "app"],
        &ctx,
        &["ERROR: failed to solve: process \"sh -c exit 3\" did not complete successfully: exit code: 3"],
    );
    // Only the successful steps of the failed builds were added (as Docker's cache keeps
    // them); the tag still runs the good image.
    assert_eq!(b.ok(&["container", "run", "--rm", "app"]), "good\n");
    let after = b.ok(&["image", "ls", "-a", "-q"]);
    assert!(
        after.lines().count() <= images.lines().count() + 2,
        "{after}"
    );

    // A cache mount only makes a RUN faster: it runs without, with a warning.
    dockerfile("FROM bb:local\nRUN --mount=type=cache,target=/cache echo ran > /ran\n");
    let progress = build_ok(&b, &["-t", "cm"], &ctx);
    assert!(
        progress.contains("[Warning] Dockerfile:2: RUN --mount=type=cache is not supported yet"),
        "{progress}"
    );
    assert_eq!(sh_in(&b, "cm", "cat /ran"), "ran\n");
}

/// `RUN sleep 30` and the client killed with `signal`: the build's container goes within
/// moments, nothing of the build stays.
fn cancel_with(signal: nix::sys::signal::Signal) {
    let b = Berth::new();
    let ctx = context(
        &b,
        "cancel",
        &[("Dockerfile", "FROM bb:local\nRUN echo started; sleep 30\n")],
    );
    let images = b.ok(&["image", "ls", "-a", "-q"]);
    let layers = || {
        std::fs::read_dir(b.root.join("images/layers"))
            .unwrap()
            .count()
    };
    let layers_before = layers();
    let mut child = b
        .cmd(&["build", "-t", "slow", s(&ctx)])
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = b.wait_for(Duration::from_secs(20), || {
        !b.ok(&["container", "ls", "-q"]).trim().is_empty()
    });
    assert!(started, "the RUN container never started");
    // The CLI runs under nsenter, which execs it: the child's pid is the CLI's.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let _ = child.wait();
    assert_clean(&b);
    let out = b.run(&["image", "inspect", "slow"]);
    assert!(!out.status.success(), "a cancelled build tagged its image");
    assert_eq!(
        b.ok(&["image", "ls", "-a", "-q"]),
        images,
        "a cancelled build added images"
    );
    assert_eq!(layers(), layers_before, "a cancelled build added layers");
}

#[test]
fn build_cancelled_by_sigint_leaves_nothing() {
    cancel_with(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn build_cancelled_by_sigkill_leaves_nothing() {
    cancel_with(nix::sys::signal::Signal::SIGKILL);
}

#[test]
fn scratch_stages_args_not_persisted_and_builder_prune() {
    let b = Berth::new();
    let ctx = context(
        &b,
        "scratch",
        &[(
            "Dockerfile",
            "# syntax=docker/dockerfile:1\n\
             ARG TOOLS=bb:local\n\
             FROM ${TOOLS} AS tools\n\
             ARG SECRET=s1\n\
             ENV KEPT=yes\n\
             RUN echo \"$SECRET\" > /s && echo \"${HTTP_PROXY:-none}\" > /proxy\n\
             FROM scratch\n\
             COPY --from=tools /bin/busybox /bin/busybox\n\
             COPY --from=tools /s /proxy /\n\
             ENTRYPOINT [\"/bin/busybox\"]\n\
             CMD [\"cat\", \"/s\", \"/proxy\"]\n",
        )],
    );
    // A proxy variable needs no ARG (no "not consumed" warning) and stays out of history.
    let progress = build_ok(
        &b,
        &[
            "-t",
            "sc",
            "--build-arg",
            "HTTP_PROXY=http://proxy.invalid:3128",
        ],
        &ctx,
    );
    assert!(!progress.contains("not consumed"), "{progress}");
    assert!(
        progress.contains("[stage-1 1/3] FROM scratch"),
        "{progress}"
    );
    assert_eq!(
        b.ok(&["container", "run", "--rm", "sc"]),
        "s1\nhttp://proxy.invalid:3128\n"
    );
    let v: Value = serde_json::from_str(&b.ok(&["image", "inspect", "sc"])).unwrap();
    let sc = &v[0];
    assert_eq!(sc["RootFS"]["Layers"].as_array().unwrap().len(), 2, "{sc}");
    assert_eq!(
        sc["Config"]["Env"],
        Value::Null,
        "the tools stage's ENV stays there"
    );
    assert_eq!(
        sc["Config"]["Entrypoint"],
        serde_json::json!(["/bin/busybox"])
    );
    assert_eq!(
        (sc["Os"].as_str(), sc["Architecture"].as_str()),
        (Some("linux"), Some("amd64"))
    );
    assert_eq!(sc["Comment"], "buildkit.dockerfile.v0");

    // `image build` is the same command; the tools stage keeps its ENV, never its ARG, and
    // its history shows the ARG the RUN used but not the proxy.
    let out = b.run(&[
        "image",
        "build",
        "-t",
        "tools",
        "--target",
        "tools",
        s(&ctx),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        sh_in(&b, "tools", "echo ${SECRET:-unset} $KEPT; cat /s"),
        "unset yes\ns1\n"
    );
    assert!(!image_config(&b, "tools")["Env"]
        .to_string()
        .contains("SECRET"));
    let history = b.ok(&["image", "history", "--no-trunc", "tools"]);
    assert!(
        history.contains("RUN |1 SECRET=s1 /bin/sh -c echo \"$SECRET\" > /s"),
        "{history}"
    );
    assert!(history.contains("ENV KEPT=yes"), "{history}");
    assert!(history.contains("buildkit.dockerfile.v0"), "{history}");
    assert!(history.contains("ago"), "CREATED is relative: {history}");
    assert!(!history.contains("proxy.invalid"), "{history}");
    let short = b.ok(&["image", "history", "tools"]);
    assert!(
        short.lines().all(|l| l.chars().count() < 130) && short.contains('…'),
        "CREATED BY is cut: {short}"
    );

    // builder prune: the steps' images (a scratch stage's first one too) and the cache
    // go; the tagged images stay and run; the next build runs every step again.
    let all = b.ok(&["image", "ls", "-a", "-q"]);
    assert!(all.lines().count() > 3, "{all}");
    let out = b.ok(&["builder", "prune", "-f"]);
    assert!(
        out.starts_with("Deleted build cache objects:\n")
            && out.contains("Total reclaimed space: "),
        "{out}"
    );
    let left: Vec<String> = b
        .ok(&["image", "ls", "-a", "-q"])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(left.len(), 3, "bb:local, sc and tools only: {left:?}");
    assert_eq!(
        b.ok(&["container", "run", "--rm", "sc"]),
        "s1\nhttp://proxy.invalid:3128\n"
    );
    let again = build_ok(&b, &["-t", "sc"], &ctx);
    assert!(!again.contains("CACHED"), "{again}");
    assert_eq!(b.ok(&["container", "run", "--rm", "sc"]), "s1\nnone\n");
    let out = b.ok(&["builder", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert_clean(&b);
}

#[test]
fn progress_plain_tty_and_quiet() {
    let b = Berth::new();
    let ctx = context(
        &b,
        "pg",
        &[(
            "Dockerfile",
            "FROM bb:local\nRUN echo out1 && echo err1 >&2\nCOPY Dockerfile /\n",
        )],
    );
    // BuildKit's plain progress: numbered steps, the step's output with its time, DONE.
    let plain = build_ok(&b, &["--progress=plain", "-t", "pg"], &ctx);
    let lines: Vec<&str> = plain.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0], "#1 [1/3] FROM docker.io/library/bb:local",
        "{plain}"
    );
    assert_eq!(lines[1], "#1 DONE 0.0s", "{plain}");
    assert_eq!(
        lines[2], "#2 [2/3] RUN echo out1 && echo err1 >&2",
        "{plain}"
    );
    for (line, want) in lines[3..5].iter().zip(["out1", "err1"]) {
        let mut f = line.split(' ');
        assert_eq!(f.next(), Some("#2"), "{plain}");
        assert!(f.next().unwrap().parse::<f64>().is_ok(), "{plain}");
        assert_eq!(f.next(), Some(want), "{plain}");
    }
    assert!(
        lines[5].starts_with("#2 DONE ") && lines[5].ends_with('s'),
        "{plain}"
    );
    assert_eq!(lines[6], "#3 [3/3] COPY Dockerfile /", "{plain}");
    assert_eq!(lines[8], "#4 exporting to image", "{plain}");
    assert!(lines[9].starts_with("#4 writing image sha256:") && lines[9].ends_with(" done"));
    assert_eq!(
        lines[10], "#4 naming to docker.io/library/pg:latest done",
        "{plain}"
    );
    // There is no live display: tty (and auto on a terminal) renders as plain.
    let tty = build_ok(&b, &["--progress=tty", "--no-cache", "-t", "pg"], &ctx);
    assert!(
        tty.contains("#2 [2/3] RUN echo out1 && echo err1 >&2\n#2 0."),
        "{tty}"
    );
    assert!(!tty.contains('\x1b'), "{tty:?}");
    // quiet: nothing at all; -q: the image id on stdout, nothing on stderr.
    let out = build(&b, &["--progress=quiet", "-t", "pg"], &ctx);
    assert!(out.status.success());
    assert_eq!(
        (text(&out.stdout), text(&out.stderr)),
        (String::new(), String::new())
    );
    let out = build(&b, &["-q", "-t", "pg"], &ctx);
    assert_eq!(text(&out.stdout).trim(), image_id(&b, "pg"));
    assert_eq!(text(&out.stderr), "");
    let out = build(&b, &["--progress=fancy"], &ctx);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("invalid progress mode \"fancy\""));
    assert_clean(&b);
}
