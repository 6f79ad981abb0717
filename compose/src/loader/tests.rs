use super::*;

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(p, text).unwrap();
}

fn load_in(dir: &Path, files: &[&str]) -> Result<Project, LoadError> {
    let opts = LoadOptions {
        files: files.iter().map(|s| s.to_string()).collect(),
        cwd: Some(dir.to_path_buf()),
        ..LoadOptions::default()
    };
    load(&opts)
}

#[test]
fn simple_project() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n",
    );
    let p = load_in(d.path(), &[]).unwrap();
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx"));
    assert_eq!(web.ports[0].target, 80);
    assert_eq!(web.ports[0].published.as_deref(), Some("8080"));
    assert!(p.networks.contains_key("default"));
    assert!(p.files_read().iter().any(|f| f.ends_with("compose.yaml")));
}

#[test]
fn unknown_key_suggests() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    imgae: nginx\n",
    );
    let e = load_in(d.path(), &["compose.yaml"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("compose.yaml:3:5"), "{e}");
    assert!(e.contains("did you mean 'image'"), "{e}");
}

#[test]
fn yaml_error_position() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: [nginx\n",
    );
    let e = load_in(d.path(), &["compose.yaml"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("compose.yaml:"), "{e}");
}

#[test]
fn override_and_env() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), ".env", "TAG=1.2\n");
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: nginx:${TAG}\n    environment: [A=1]\n",
    );
    write(
        d.path(),
        "compose.override.yaml",
        "services:\n  web:\n    environment:\n      B: '2'\n",
    );
    let p = load_in(d.path(), &[]).unwrap();
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx:1.2"));
    assert_eq!(web.environment.get("A"), Some(&Some("1".to_string())));
    assert_eq!(web.environment.get("B"), Some(&Some("2".to_string())));
}

#[test]
fn cycle_rejected() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "compose.yaml", "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n");
    let e = load_in(d.path(), &["compose.yaml"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("dependency cycle detected"), "{e}");
}

#[test]
fn required_variable() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  a:\n    image: ${ID:?ID must be set}\n",
    );
    let e = load_in(d.path(), &["compose.yaml"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("required variable ID is missing a value"), "{e}");
}

#[test]
fn garbage_never_panics() {
    let d = tempfile::tempdir().unwrap();
    for text in [
        "",
        "[]",
        "services: 3",
        "services:\n  a: [1]\n",
        "a: *b",
        "services:\n  a:\n    extends: a\n",
        "\u{0}\u{1}",
        "services:\n  a:\n    ports: [':::']\n",
    ] {
        write(d.path(), "compose.yaml", text);
        let _ = load_in(d.path(), &["compose.yaml"]);
    }
}

fn load_with(
    dir: &Path,
    files: &[&str],
    f: impl FnOnce(&mut LoadOptions),
) -> Result<Project, LoadError> {
    let mut opts = LoadOptions {
        files: files.iter().map(|s| s.to_string()).collect(),
        cwd: Some(dir.to_path_buf()),
        ..LoadOptions::default()
    };
    f(&mut opts);
    load(&opts)
}

#[test]
fn reset_override_and_unique_ports() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.yaml", "services:\n  w:\n    image: x\n    ports: ['80:80', '443:443']\n    labels: {a: '1'}\n    volumes: ['./a:/data']\n");
    write(d.path(), "b.yaml", "services:\n  w:\n    ports: !override ['8080:80']\n    labels: !reset {}\n    volumes: ['./b:/data']\n");
    let p = load_in(d.path(), &["a.yaml", "b.yaml"]).unwrap();
    let w = &p.services["w"];
    assert_eq!(w.ports.len(), 1);
    assert_eq!(w.ports[0].published.as_deref(), Some("8080"));
    assert!(w.labels.is_empty());
    assert_eq!(w.volumes.len(), 1);
    assert!(w.volumes[0].source.as_deref().unwrap_or("").ends_with("/b"));
}

#[test]
fn extends_from_other_directory_resolves_paths_there() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "sub/base.yaml", "services:\n  base:\n    image: x\n    volumes: ['./data:/data']\n    env_file: [base.env]\n");
    write(d.path(), "sub/base.env", "FROM_BASE=1\n");
    write(d.path(), "compose.yaml", "services:\n  w:\n    extends: {file: sub/base.yaml, service: base}\n    environment: [OWN=2]\n");
    let p = load_in(d.path(), &["compose.yaml"]).unwrap();
    let w = &p.services["w"];
    let src = w.volumes[0].source.clone().unwrap();
    assert!(src.ends_with("/sub/data"), "{src}");
    assert_eq!(w.environment.get("FROM_BASE"), Some(&Some("1".into())));
    assert_eq!(w.environment.get("OWN"), Some(&Some("2".into())));
    assert!(p.files_read().iter().any(|f| f.ends_with("sub/base.env")));
    assert!(p.files_read().iter().any(|f| f.ends_with("sub/base.yaml")));
}

#[test]
fn extends_cycle_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: x\n    extends: a\n",
    );
    let e = load_in(d.path(), &["compose.yaml"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("circular reference"), "{e}");
}

#[test]
fn include_and_conflict() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "inc/compose.yaml",
        "services:\n  db:\n    image: postgres\n    volumes: ['./pg:/var/lib/postgresql']\n",
    );
    write(
        d.path(),
        "compose.yaml",
        "include: [inc/compose.yaml]\nservices:\n  web:\n    image: x\n    depends_on: [db]\n",
    );
    let p = load_in(d.path(), &["compose.yaml"]).unwrap();
    assert!(p.services.contains_key("db"));
    assert!(p.services["db"].volumes[0]
        .source
        .clone()
        .unwrap()
        .ends_with("/inc/pg"));
    write(
        d.path(),
        "compose.yaml",
        "include: [inc/compose.yaml]\nservices:\n  db:\n    image: other\n",
    );
    let e = load_in(d.path(), &["compose.yaml"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("conflicting"), "{e}");
}

#[test]
fn profiles_and_project_name_rules() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "compose.yaml", "name: FromFile\nservices:\n  a:\n    image: x\n  dbg:\n    image: y\n    profiles: [debug]\n");
    let p = load_in(d.path(), &["compose.yaml"]).unwrap();
    assert_eq!(p.name, "fromfile");
    assert!(!p.services.contains_key("dbg"));
    let p = load_with(d.path(), &["compose.yaml"], |o| {
        o.environment
            .insert("COMPOSE_PROFILES".into(), "debug".into());
        o.environment
            .insert("COMPOSE_PROJECT_NAME".into(), "envname".into());
    })
    .unwrap();
    assert!(p.services.contains_key("dbg"));
    assert_eq!(p.name, "envname");
    let p = load_with(d.path(), &["compose.yaml"], |o| {
        o.project_name = Some("cli".into())
    })
    .unwrap();
    assert_eq!(p.name, "cli");
    assert!(load_with(d.path(), &["compose.yaml"], |o| o.project_name =
        Some("Bad Name".into()))
    .is_err());
}

#[test]
fn process_environment_wins_over_dotenv_and_no_interpolate() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), ".env", "TAG=fromfile\n");
    write(
        d.path(),
        "compose.yaml",
        "services:\n  a:\n    image: x:${TAG}\n",
    );
    let p = load_with(d.path(), &["compose.yaml"], |o| {
        o.environment.insert("TAG".into(), "fromenv".into());
    })
    .unwrap();
    assert_eq!(p.services["a"].image.as_deref(), Some("x:fromenv"));
    let p = load_with(d.path(), &["compose.yaml"], |o| o.interpolate = false).unwrap();
    assert_eq!(p.services["a"].image.as_deref(), Some("x:${TAG}"));
    let p = load_with(d.path(), &["compose.yaml"], |o| {
        o.environment
            .insert("COMPOSE_DISABLE_ENV_FILE".into(), "1".into());
    })
    .unwrap();
    assert_eq!(p.services["a"].image.as_deref(), Some("x:"));
}

#[test]
fn stdin_and_missing_env_file() {
    let d = tempfile::tempdir().unwrap();
    let p = load_with(d.path(), &["-"], |o| {
        o.stdin = Some("services:\n  a:\n    image: x\n".into())
    })
    .unwrap();
    assert_eq!(p.services.len(), 1);
    let e = load_with(d.path(), &["-"], |o| {
        o.stdin = Some("services:\n  a:\n    image: x\n    env_file: nope.env\n".into())
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("nope.env"), "{e}");
    let p = load_with(d.path(), &["-"], |o| {
        o.stdin = Some(
            "services:\n  a:\n    image: x\n    env_file: [{path: nope.env, required: false}]\n"
                .into(),
        )
    });
    assert!(p.is_ok());
}

#[test]
fn service_is_serializable_and_stable() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  a:\n    image: x\n    x-custom: 1\n    security_opt: [no-new-privileges]\n",
    );
    let p = load_in(d.path(), &["compose.yaml"]).unwrap();
    let a = serde_json::to_string(&p.services["a"]).unwrap();
    let b = serde_json::to_string(&load_in(d.path(), &["compose.yaml"]).unwrap().services["a"])
        .unwrap();
    assert_eq!(a, b);
    assert!(a.contains("x-custom") && a.contains("security_opt"), "{a}");
}

/// Inputs kept from fuzzing (fuzz/regressions): each must load or fail, never panic or hang.
#[test]
fn fuzz_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    for e in entries.flatten() {
        let bytes = std::fs::read(e.path()).unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let _ = load_with(d.path(), &["-"], |o| o.stdin = Some(text));
    }
}

#[test]
fn volume_targets_are_cleaned_and_absolute_sources_kept_as_written() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    volumes:\n      - ./data/:/data/\n      - ./a/../b:/x/./y/\n      - /abs//dir/:/z//\n      - {type: bind, source: ./long/, target: /long/}\n",
    );
    let p = load_in(d.path(), &[]).unwrap();
    let vols = &p.to_model()["services"]["web"]["volumes"];
    let pairs: Vec<(String, String)> = vols
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let s = v["source"].as_str().unwrap();
            let s = s.replace(&d.path().to_string_lossy().into_owned(), "D");
            (s, v["target"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("D/data".into(), "/data".into()),
            ("D/b".into(), "/x/y".into()),
            ("/abs//dir/".into(), "/z".into()),
            ("D/long".into(), "/long".into()),
        ]
    );
}

#[test]
fn env_file_sources_name_each_files_variables() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "app.env", "A=1\nB=2\n");
    write(d.path(), "db.secret.env", "PASSWORD=hunter2\n");
    write(
        d.path(),
        "compose.yaml",
        "services:\n  a:\n    image: x\n    env_file: [app.env, db.secret.env]\n    environment: {B: '3'}\n  b:\n    image: x\n",
    );
    let p = load_in(d.path(), &["compose.yaml"]).unwrap();
    let src = &p.env_file_sources["a"];
    assert_eq!(src.len(), 2);
    assert!(src[1].path.ends_with("db.secret.env"));
    assert_eq!(src[1].variables["PASSWORD"], "hunter2");
    assert_eq!(src[0].variables["B"], "2");
    // the inline value still wins in the merged environment
    assert_eq!(p.services["a"].environment["B"].as_deref(), Some("3"));
    assert!(!p.env_file_sources.contains_key("b"));
}
