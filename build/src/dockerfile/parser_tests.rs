//! Parser tests, mostly from the examples of docs.docker.com/reference/dockerfile.

use super::parse;
use crate::dockerfile::{ArgDecl, Command, CopySpec, Dockerfile, Heredoc, Instruction};

fn ok(text: &str) -> Dockerfile {
    parse(text, "Dockerfile").unwrap_or_else(|e| panic!("{e}"))
}

/// The instructions of the only (last) stage.
fn body(text: &str) -> Vec<Instruction> {
    let df = ok(text);
    let stage = df.stages.last().expect("a stage");
    stage.instructions.iter().map(|l| l.value.clone()).collect()
}

fn one(text: &str) -> Instruction {
    let mut all = body(&format!("FROM scratch\n{text}"));
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn err(text: &str) -> String {
    parse(text, "Dockerfile").unwrap_err().to_string()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn kv(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn shell(cmd: &str) -> Command {
    Command::Shell(cmd.into())
}

#[test]
fn tutorial_dockerfile() {
    let df = ok("FROM busybox\nWORKDIR /app\nADD . /app\nENV NAME=World\nEXPOSE 80\nCMD [\"python\", \"app.py\"]\n");
    assert_eq!(df.escape, '\\');
    assert_eq!(df.stages.len(), 1);
    let stage = &df.stages[0];
    assert_eq!(stage.from.value.image, "busybox");
    assert_eq!(stage.from.line, 1);
    let lines: Vec<usize> = stage.instructions.iter().map(|l| l.line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6]);
    assert_eq!(stage.instructions[1].text, "ADD . /app");
    assert_eq!(
        stage.instructions[4].value,
        Instruction::Cmd(Command::Exec(s(&["python", "app.py"])))
    );
}

#[test]
fn keywords_are_case_insensitive() {
    assert_eq!(body("from alpine\nrun echo hi\nRuN echo ho").len(), 2);
    assert_eq!(one("workdir /x"), Instruction::Workdir("/x".into()));
}

#[test]
fn from_forms() {
    let df = ok("ARG  CODE_VERSION=latest\nFROM --platform=linux/amd64 base:${CODE_VERSION} AS Build\nCMD  /code/run-app\n\nFROM extras:${CODE_VERSION}\nCMD  /code/run-extras\n");
    assert_eq!(
        df.global_args[0].value,
        vec![ArgDecl {
            name: "CODE_VERSION".into(),
            default: Some("latest".into())
        }]
    );
    let from = &df.stages[0].from.value;
    assert_eq!(from.image, "base:${CODE_VERSION}");
    assert_eq!(from.name.as_deref(), Some("build"));
    assert_eq!(from.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(df.stages[1].from.line, 5);
    assert_eq!(df.stages[1].from.value.name, None);
    assert_eq!(
        df.stages[1].instructions[0].value,
        Instruction::Cmd(shell("/code/run-extras"))
    );
    assert_eq!(
        ok("FROM a as b-1.x_y").stages[0].from.value.name.as_deref(),
        Some("b-1.x_y")
    );
}

#[test]
fn exec_and_shell_forms() {
    assert_eq!(
        one(r#"ENTRYPOINT ["top", "-b"]"#),
        Instruction::Entrypoint(Command::Exec(s(&["top", "-b"])))
    );
    assert_eq!(
        one("CMD echo \"hi there\""),
        Instruction::Cmd(shell("echo \"hi there\""))
    );
    // Not JSON (single quotes): shell form, as Docker.
    assert_eq!(one("CMD ['a', 'b']"), Instruction::Cmd(shell("['a', 'b']")));
    assert_eq!(
        one("ENTRYPOINT []"),
        Instruction::Entrypoint(Command::Exec(vec![]))
    );
    assert_eq!(
        one(r#"RUN ["/bin/bash", "-c", "echo hello"]"#),
        Instruction::Run {
            command: Command::Exec(s(&["/bin/bash", "-c", "echo hello"])),
            mounts: vec![],
            network: None,
            security: None,
            heredocs: vec![],
        }
    );
}

#[test]
fn run_flags() {
    let Instruction::Run { command, mounts, network, security, .. } = one(
        "RUN --mount=type=cache,target=/root/.cache --mount=type=bind,source=x,target=/x --network=none --security=insecure pip install x",
    ) else {
        panic!()
    };
    assert_eq!(command, shell("pip install x"));
    assert_eq!(
        mounts,
        s(&[
            "type=cache,target=/root/.cache",
            "type=bind,source=x,target=/x"
        ])
    );
    assert_eq!(network.as_deref(), Some("none"));
    assert_eq!(security.as_deref(), Some("insecure"));
}

#[test]
fn continuations_and_comments() {
    let df = ok("FROM debian\nRUN apt-get update && \\\n    # a comment inside\n\n    apt-get install -y \\  \n      vim\nUSER me\n");
    let run = &df.stages[0].instructions[0];
    assert_eq!(run.line, 2);
    assert_eq!(
        run.text,
        "RUN apt-get update &&     apt-get install -y       vim"
    );
    assert_eq!(df.stages[0].instructions[1].line, 7);
    // Comments with leading blanks, blank lines, CRLF.
    assert_eq!(
        body("FROM a\r\n   # indented comment\r\n\r\nUSER x\r\n"),
        [Instruction::User("x".into())]
    );
}

#[test]
fn env_forms() {
    // docs: ENV
    assert_eq!(
        one("ENV MY_NAME=\"John Doe\" MY_DOG=Rex\\ The\\ Dog \\\n    MY_CAT=fluffy"),
        Instruction::Env(kv(&[
            ("MY_NAME", "\"John Doe\""),
            ("MY_DOG", "Rex\\ The\\ Dog"),
            ("MY_CAT", "fluffy")
        ]))
    );
    assert_eq!(
        one("ENV MY_VAR my-value"),
        Instruction::Env(kv(&[("MY_VAR", "my-value")]))
    );
    // Legacy form: everything after the first name is the value.
    assert_eq!(
        one("ENV ONE TWO= THREE=world"),
        Instruction::Env(kv(&[("ONE", "TWO= THREE=world")]))
    );
    assert_eq!(one("ENV EMPTY="), Instruction::Env(kv(&[("EMPTY", "")])));
    assert_eq!(
        one("LABEL \"com.example.vendor\"=\"ACME Incorporated\" version=1.0 multi.label1=\"value1\""),
        Instruction::Label(kv(&[
            ("\"com.example.vendor\"", "\"ACME Incorporated\""),
            ("version", "1.0"),
            ("multi.label1", "\"value1\""),
        ]))
    );
}

#[test]
fn arg_forms() {
    assert_eq!(
        one("ARG user1 buildno=1 empty= q=\"a b\""),
        Instruction::Arg(vec![
            ArgDecl {
                name: "user1".into(),
                default: None
            },
            ArgDecl {
                name: "buildno".into(),
                default: Some("1".into())
            },
            ArgDecl {
                name: "empty".into(),
                default: Some("".into())
            },
            ArgDecl {
                name: "q".into(),
                default: Some("\"a b\"".into())
            },
        ])
    );
}

#[test]
fn copy_and_add() {
    assert_eq!(
        one("COPY --from=build --chown=55:mygroup --chmod=644 --link --exclude=*.txt --exclude=*.md files* /somedir/"),
        Instruction::Copy(CopySpec {
            sources: s(&["files*"]),
            dest: "/somedir/".into(),
            from: Some("build".into()),
            chown: Some("55:mygroup".into()),
            chmod: Some("644".into()),
            link: true,
            exclude: s(&["*.txt", "*.md"]),
            ..CopySpec::default()
        })
    );
    let Instruction::Copy(spec) = one("COPY --parents a/b /c/") else {
        panic!("not a COPY")
    };
    assert!(spec.parents);
    assert_eq!(
        one(r#"ADD --checksum=sha256:24454f830 --keep-git-dir=true ["a b", "/c d/"]"#),
        Instruction::Add(CopySpec {
            sources: s(&["a b"]),
            dest: "/c d/".into(),
            checksum: Some("sha256:24454f830".into()),
            keep_git_dir: true,
            ..CopySpec::default()
        })
    );
    assert_eq!(
        one("COPY --link=false a b c/"),
        Instruction::Copy(CopySpec {
            sources: s(&["a", "b"]),
            dest: "c/".into(),
            ..CopySpec::default()
        })
    );
}

#[test]
fn other_instructions() {
    assert_eq!(
        one("EXPOSE 80/tcp 80/udp $PORT"),
        Instruction::Expose(s(&["80/tcp", "80/udp", "$PORT"]))
    );
    assert_eq!(
        one("VOLUME /myvol /other"),
        Instruction::Volume(s(&["/myvol", "/other"]))
    );
    assert_eq!(
        one(r#"VOLUME ["/data"]"#),
        Instruction::Volume(s(&["/data"]))
    );
    assert_eq!(
        one(r#"SHELL ["powershell", "-command"]"#),
        Instruction::Shell(s(&["powershell", "-command"]))
    );
    assert_eq!(
        one("USER patrick:staff"),
        Instruction::User("patrick:staff".into())
    );
    assert_eq!(
        one("WORKDIR /path with space"),
        Instruction::Workdir("/path with space".into())
    );
    assert_eq!(
        one("STOPSIGNAL SIGKILL"),
        Instruction::Stopsignal("SIGKILL".into())
    );
    assert_eq!(
        one("MAINTAINER Jane <j@x>"),
        Instruction::Maintainer("Jane <j@x>".into())
    );
}

#[test]
fn healthchecks() {
    assert_eq!(one("HEALTHCHECK NONE"), Instruction::Healthcheck(None));
    let Instruction::Healthcheck(Some(h)) = one(
        "HEALTHCHECK --interval=5m --timeout=3s --start-period=1s --start-interval=2s --retries=3 \\\n  CMD curl -f http://localhost/ || exit 1",
    ) else {
        panic!()
    };
    assert_eq!(h.test, shell("curl -f http://localhost/ || exit 1"));
    assert_eq!(h.interval.as_deref(), Some("5m"));
    assert_eq!(h.timeout.as_deref(), Some("3s"));
    assert_eq!(h.start_period.as_deref(), Some("1s"));
    assert_eq!(h.start_interval.as_deref(), Some("2s"));
    assert_eq!(h.retries.as_deref(), Some("3"));
    let Instruction::Healthcheck(Some(h)) = one(r#"HEALTHCHECK cmd ["/bin/check", "-q"]"#) else {
        panic!()
    };
    assert_eq!(h.test, Command::Exec(s(&["/bin/check", "-q"])));
}

#[test]
fn onbuild_triggers() {
    assert_eq!(
        one("ONBUILD ADD . /app/src"),
        Instruction::Onbuild("ADD . /app/src".into())
    );
    assert_eq!(
        one("onbuild RUN <<EOF\necho hi\nEOF"),
        Instruction::Onbuild("RUN <<EOF\necho hi\nEOF".into())
    );
    assert_eq!(
        err("FROM a\nONBUILD ONBUILD RUN x"),
        "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        err("FROM a\nONBUILD from b"),
        "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("FROM a\nONBUILD MAINTAINER me"),
        "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("FROM a\nONBUILD FOO x"),
        "Dockerfile:2: unknown instruction: FOO"
    );
}

fn doc(name: &str, content: &str, expand: bool) -> Heredoc {
    Heredoc {
        name: name.into(),
        content: content.into(),
        expand,
    }
}

#[test]
fn heredocs() {
    let text = "# syntax=docker/dockerfile:1\nFROM debian\nRUN <<EOT bash\n  set -ex\n  apt-get update\nEOT\nRUN python3 <<EOF\nprint(\"Hello\")\nEOF\nRUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2\nCOPY <<-\"EOT\" /script.sh\n\t\techo \"hello ${FOO}\"\n\tEOT\nUSER me\n";
    let df = ok(text);
    assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
    let ins = &df.stages[0].instructions;
    let Instruction::Run {
        command, heredocs, ..
    } = &ins[0].value
    else {
        panic!()
    };
    assert_eq!(*command, shell("<<EOT bash"));
    assert_eq!(
        *heredocs,
        [doc("EOT", "  set -ex\n  apt-get update\n", true)]
    );
    assert_eq!(ins[0].text, "RUN <<EOT bash");
    let Instruction::Run {
        command, heredocs, ..
    } = &ins[1].value
    else {
        panic!()
    };
    assert_eq!(*command, shell("python3 <<EOF"));
    assert_eq!(*heredocs, [doc("EOF", "print(\"Hello\")\n", true)]);
    let Instruction::Run { heredocs, .. } = &ins[2].value else {
        panic!()
    };
    assert_eq!(
        *heredocs,
        [
            doc("FILE1", "I am\nfirst\n", true),
            doc("FILE2", "I am\nsecond\n", true)
        ]
    );
    let Instruction::Copy(spec) = &ins[3].value else {
        panic!()
    };
    assert_eq!(spec.sources, s(&["EOT"]));
    assert_eq!(spec.dest, "/script.sh");
    assert_eq!(
        spec.heredocs,
        [doc("EOT", "echo \"hello ${FOO}\"\n", false)]
    );
    assert!(spec.heredoc("EOT").is_some());
    assert_eq!(ins[3].line, 17);
    assert_eq!(
        (ins[4].line, &ins[4].value),
        (20, &Instruction::User("me".into()))
    );
}

#[test]
fn directives() {
    let df = ok("# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n");
    assert_eq!(df.escape, '`');
    let ins =
        body("# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n");
    assert_eq!(
        ins[0],
        Instruction::Copy(CopySpec {
            sources: s(&["testfile.txt"]),
            dest: "c:\\".into(),
            ..CopySpec::default()
        })
    );
    assert_eq!(
        ins[1],
        Instruction::Run {
            command: shell("dir c:\\"),
            mounts: vec![],
            network: None,
            security: None,
            heredocs: vec![]
        }
    );
    // Without the directive the backslashes continue the lines.
    let ins = body("FROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n");
    assert_eq!(ins.len(), 1);
    let Instruction::Copy(spec) = &ins[0] else {
        panic!()
    };
    assert_eq!(
        (spec.sources.clone(), spec.dest.as_str()),
        (s(&["testfile.txt", "c:RUN", "dir"]), "c:")
    );
    // Backtick continuation.
    assert_eq!(body("# escape=`\nFROM a\nRUN a `\n  b").len(), 1);
    // Whitespace and case variations.
    for d in [
        "#escape=`",
        "# escape =`",
        "#\tescape= `",
        "# escape = `",
        "#\t  eScApE=`",
    ] {
        assert_eq!(ok(&format!("{d}\nFROM a")).escape, '`', "{d}");
    }
    // An unknown directive, a comment, a blank line or an instruction ends the directives.
    for t in [
        "# unknowndirective=value\n# escape=`\nFROM a",
        "# about my dockerfile\n# escape=`\nFROM a",
        "\n# escape=`\nFROM a",
        "FROM a\n# escape=`",
    ] {
        assert_eq!(ok(t).escape, '\\', "{t}");
    }
    assert_eq!(
        ok("# syntax=x\n# check=skip=all\n# escape=`\nFROM a").escape,
        '`'
    );
}

#[test]
fn directive_errors() {
    assert_eq!(
        err("# escape=\\\n# ESCAPE=`\nFROM a"),
        "Dockerfile:2: only one escape parser directive can be used"
    );
    assert_eq!(
        err("# escape=x\nFROM a"),
        "Dockerfile:1: invalid escape token 'x' does not match ` or \\"
    );
    // docs: "Invalid due to line continuation": the comment does not continue.
    assert_eq!(
        err("# direc \\\ntive=value\nFROM a"),
        "Dockerfile:2: unknown instruction: tive=value"
    );
}

#[test]
fn errors_name_file_and_line() {
    let cases = [
        ("FROM a\n\nFOO bar", "Dockerfile:3: unknown instruction: FOO"),
        ("FROM a\nRUNN x", "Dockerfile:2: unknown instruction: RUNN"),
        ("RUN x\nFROM a", "Dockerfile:1: no build stage in current context (RUN before the first FROM)"),
        ("ARG x", "Dockerfile:1: no build stage in current context (no FROM)"),
        ("", "Dockerfile:1: file with no instructions"),
        ("# only\n\n# comments\n", "Dockerfile:3: file with no instructions"),
        ("FROM", "Dockerfile:1: FROM requires either one or three arguments"),
        ("FROM a b", "Dockerfile:1: FROM requires either one or three arguments"),
        ("FROM a AS 1st", "Dockerfile:1: invalid name for build stage: \"1st\", name can't start with a number or contain symbols"),
        ("FROM a AS b$c", "Dockerfile:1: invalid name for build stage: \"b$c\", name can't start with a number or contain symbols"),
        ("FROM a\nENV", "Dockerfile:2: ENV requires at least one argument"),
        ("FROM a\nENV x", "Dockerfile:2: ENV must have two arguments"),
        ("FROM a\nENV a=b c", "Dockerfile:2: Syntax error - can't find = in \"c\". Must be of the form: name=value"),
        ("FROM a\nENV =b", "Dockerfile:2: ENV names can not be blank"),
        ("FROM a\nLABEL", "Dockerfile:2: LABEL requires at least one argument"),
        ("FROM a\nARG", "Dockerfile:2: ARG requires at least one argument"),
        ("FROM a\nRUN", "Dockerfile:2: RUN requires at least one argument"),
        ("FROM a\nEXPOSE", "Dockerfile:2: EXPOSE requires at least one argument"),
        ("FROM a\nVOLUME", "Dockerfile:2: VOLUME requires at least one argument"),
        ("FROM a\nVOLUME [\"\"]", "Dockerfile:2: VOLUME specified can not be an empty string"),
        ("FROM a\nWORKDIR", "Dockerfile:2: WORKDIR requires exactly one argument"),
        ("FROM a\nUSER", "Dockerfile:2: USER requires exactly one argument"),
        ("FROM a\nSTOPSIGNAL", "Dockerfile:2: STOPSIGNAL requires exactly one argument"),
        ("FROM a\nCOPY a", "Dockerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be determined."),
        ("FROM a\nADD", "Dockerfile:2: ADD requires at least two arguments, but only one was provided. Destination could not be determined."),
        ("FROM a\nCOPY a <<EOF\nx\nEOF", "Dockerfile:2: COPY cannot accept a heredoc as a destination"),
        ("FROM a\nSHELL /bin/sh -c", "Dockerfile:2: SHELL requires the arguments to be in JSON form"),
        ("FROM a\nSHELL [\"/bin/sh\", 1]", "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only"),
        ("FROM a\nSHELL", "Dockerfile:2: SHELL requires at least one argument"),
        ("FROM a\nCMD [1]", "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only"),
        ("FROM a\nRUN <<EOF\necho\n", "Dockerfile:2: unterminated heredoc"),
        ("FROM a\nRUN <<A <<B\na\nA\nb\n", "Dockerfile:2: unterminated heredoc"),
        ("FROM a\nHEALTHCHECK", "Dockerfile:2: HEALTHCHECK requires at least one argument"),
        ("FROM a\nHEALTHCHECK NONE x", "Dockerfile:2: HEALTHCHECK NONE takes no arguments"),
        ("FROM a\nHEALTHCHECK CMD", "Dockerfile:2: Missing command after HEALTHCHECK CMD"),
        ("FROM a\nHEALTHCHECK RUN x", "Dockerfile:2: Unknown type \"RUN\" in HEALTHCHECK (try CMD)"),
        ("FROM a\nONBUILD", "Dockerfile:2: ONBUILD requires at least one argument"),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), want, "{text:?}");
    }
}

#[test]
fn flag_errors() {
    let cases = [
        (
            "FROM a\nCOPY --foo=x a b",
            "Dockerfile:2: unknown flag: --foo",
        ),
        (
            "FROM a\nADD --from=x a b",
            "Dockerfile:2: unknown flag: --from",
        ),
        ("FROM a\nENV --x=1", "Dockerfile:2: unknown flag: --x"),
        ("FROM --pull a", "Dockerfile:1: unknown flag: --pull"),
        (
            "FROM a\nRUN --network=host --network=none x",
            "Dockerfile:2: duplicate flag specified: --network",
        ),
        (
            "FROM a\nRUN --network x",
            "Dockerfile:2: missing a value on flag: --network",
        ),
        (
            "FROM a\nCOPY --link=maybe a b",
            "Dockerfile:2: expecting boolean value for flag --link, not: maybe",
        ),
        (
            "FROM a\nCOPY --link= a b",
            "Dockerfile:2: missing a value on flag: --link",
        ),
        (
            "FROM a\nHEALTHCHECK --interval=1s --tries=3 CMD x",
            "Dockerfile:2: unknown flag: --tries",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), want, "{text:?}");
    }
}

#[test]
fn bom_and_missing_final_newline() {
    assert_eq!(ok("\u{feff}FROM a\nUSER b").stages[0].instructions.len(), 1);
}
