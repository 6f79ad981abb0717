//! The exports as a whole: golden files of the quickstart (reviewed by hand), and every stack
//! under examples/, the bench stack and a stack using every mapping checked against the
//! Kubernetes 1.37 schemas by `kubernetes-validate --strict` (offline).
//!
//! BERTH_UPDATE_GOLDEN=1 rewrites the golden files; review the diff before committing it.

mod common;

#[path = "../../tests/programs.rs"]
mod programs;

use berth_kube::{generate, to_yaml_stream, BindAs, Expose, Options};
use std::path::Path;
use std::process::Command;

/// The Kubernetes version the objects are typed for (k8s-openapi's v1_37 feature) and
/// validated against.
const KUBERNETES: &str = "1.37.0";

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("BERTH_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (BERTH_UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        let at = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from the golden file at line {}:\n  golden: {:?}\n  now:    {:?}\n(BERTH_UPDATE_GOLDEN=1 rewrites it; review the diff)",
            at + 1,
            expected.lines().nth(at),
            actual.lines().nth(at)
        );
    }
}

#[test]
fn the_yaml_reads_back_as_the_objects() {
    let mut stacks = common::examples();
    stacks.push((
        "everything".into(),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stacks/everything/compose.yaml"),
    ));
    for (name, file) in stacks {
        let m = generate(&common::load(&file), &Options::default()).unwrap();
        let text = to_yaml_stream(&m.objects).unwrap();
        let docs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| {
                serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"))
            })
            .collect();
        assert_eq!(docs.len(), m.objects.len(), "{name}");
        for (d, o) in docs.iter().zip(&m.objects) {
            assert_eq!(
                *d,
                serde_json::to_value(o).unwrap(),
                "{name}: {} {}",
                o.kind(),
                o.name()
            );
        }
    }
}

#[test]
fn quickstart_golden() {
    let p = common::load(&common::root().join("examples/quickstart/compose.yaml"));
    let m = generate(&p, &Options::default()).unwrap();
    golden("quickstart.yaml", &to_yaml_stream(&m.objects).unwrap());
    let warnings: String = m.warnings.iter().map(|w| format!("{w}\n")).collect();
    golden("quickstart.warnings", &warnings);
    let m = generate(
        &p,
        &Options {
            namespace: Some("demo".into()),
            expose: Expose::NodePort,
            ..Options::default()
        },
    )
    .unwrap();
    golden(
        "quickstart-nodeport.yaml",
        &to_yaml_stream(&m.objects).unwrap(),
    );
}

/// Runs kubernetes-validate --strict on the files, failing with its report.
fn validate(files: &[std::path::PathBuf]) {
    programs::require(&["kubernetes-validate"]);
    let out = programs::found(
        "kubernetes-validate",
        Command::new("kubernetes-validate")
            .args(["--strict", "--quiet", "-k", KUBERNETES])
            .args(files)
            .output(),
    );
    assert!(
        out.status.success(),
        "kubernetes-validate --strict failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks with PyYAML that each stack's YAML loads as the objects' JSON.
fn yaml11_reads_back(dir: &Path, stacks: &[(String, std::path::PathBuf)]) {
    for (name, file) in stacks {
        let m = generate(&common::load(file), &Options::default()).unwrap();
        let yaml = dir.join(format!("{name}.check.yaml"));
        let json = dir.join(format!("{name}.check.json"));
        std::fs::write(&yaml, to_yaml_stream(&m.objects).unwrap()).unwrap();
        std::fs::write(&json, serde_json::to_string(&m.objects).unwrap()).unwrap();
        let script = "import json,sys,yaml\nd=list(yaml.safe_load_all(open(sys.argv[1])))\nj=json.load(open(sys.argv[2]))\nfor a,b in zip(d,j):\n  assert a==b,(a,b)\nassert len(d)==len(j)\n";
        let out = programs::found(
            "python3",
            Command::new("python3")
                .args(["-c", script])
                .arg(&yaml)
                .arg(&json)
                .output(),
        );
        assert!(
            out.status.success(),
            "{name}: PyYAML reads another value:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_export_passes_kubernetes_validate_strict() {
    let dir = tempfile::tempdir().unwrap();
    let mut stacks = common::examples();
    let bench = dir.path().join("bench10");
    std::fs::create_dir(&bench).unwrap();
    std::fs::write(bench.join("compose.yaml"), common::bench_stack(10)).unwrap();
    stacks.push(("bench10".into(), bench.join("compose.yaml")));
    stacks.push((
        "everything".into(),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stacks/everything/compose.yaml"),
    ));
    let variants = [
        ("default", Options::default()),
        (
            "nodeport",
            Options {
                expose: Expose::NodePort,
                namespace: Some("team".into()),
                ..Options::default()
            },
        ),
        (
            "loadbalancer-hostpath",
            Options {
                expose: Expose::LoadBalancer,
                bind_as: BindAs::HostPath,
                ..Options::default()
            },
        ),
    ];
    let mut files = vec![];
    for (name, file) in &stacks {
        let p = common::load(file);
        for (variant, o) in &variants {
            let m = generate(&p, o).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!m.objects.is_empty(), "{name}");
            let f = dir.path().join(format!("{name}-{variant}.yaml"));
            std::fs::write(&f, to_yaml_stream(&m.objects).unwrap()).unwrap();
            files.push(f);
        }
    }
    // PyYAML (a YAML 1.1 reader, as kubernetes-validate's) reads back the same objects.
    yaml11_reads_back(dir.path(), &stacks);
    // One file per object, as `generate -o DIR` writes them, too.
    let p = common::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stacks/everything/compose.yaml"),
    );
    let m = generate(&p, &Options::default()).unwrap();
    let out = dir.path().join("everything-dir");
    let written = berth_kube::write(&m.objects, &out).unwrap();
    assert_eq!(written.len(), m.objects.len());
    files.extend(written);
    validate(&files);
}
