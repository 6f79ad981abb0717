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
