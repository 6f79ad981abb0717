//! apply and down against a fake Kubernetes API server in this process: it records every
//! request and answers as the API server would (server-side apply echoes the object; list
//! answers from a fixed set; delete succeeds), so the requests berth sends can be checked
//! without a cluster.

mod common;

use berth_kube::{cluster, generate, Options};
use common::fake_api::{kubeconfig, serve, Listed, Seen};

fn quickstart() -> berth_compose::Project {
    berth_compose::load(&berth_compose::LoadOptions {
        files: vec![concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/quickstart/compose.yaml"
        )
        .into()],
        ..berth_compose::LoadOptions::default()
    })
    .unwrap()
}

#[tokio::test]
async fn apply_sends_every_object_with_server_side_apply() {
    let fake = serve(Listed::new());
    let dir = tempfile::tempdir().unwrap();
    let cfg = kubeconfig(dir.path(), &fake.url);
    let (client, ns) = cluster::connect(Some(&cfg), Some("fake"), None)
        .await
        .unwrap();
    assert_eq!(ns, "team", "the context's namespace");
    let m = generate(
        &quickstart(),
        &Options {
            namespace: Some(ns.clone()),
            ..Options::default()
        },
    )
    .unwrap();
    let (applied, removed) = cluster::apply(&client, &ns, &m.objects, false, false)
        .await
        .unwrap();
    assert_eq!(applied.len(), m.objects.len());
    assert!(removed.is_empty());
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        m.objects.len(),
        "one request per object: {seen:#?}"
    );
    for (s, o) in seen.iter().zip(&m.objects) {
        assert_eq!(s.method, "PATCH");
        assert_eq!(s.content_type, "application/apply-patch+yaml");
        assert!(
            s.query.contains("fieldManager=berth") && s.query.contains("force=true"),
            "{}",
            s.query
        );
        assert!(!s.query.contains("dryRun"));
        assert_eq!(s.body["kind"], o.kind());
        assert_eq!(s.body["metadata"]["name"], o.name());
        assert_eq!(s.body["metadata"]["namespace"], "team");
        assert_eq!(
            s.body["metadata"]["labels"]["com.docker.compose.project"],
            "quickstart"
        );
        assert_eq!(
            s.body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "berth"
        );
    }
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    for p in [
        "/api/v1/namespaces/team/serviceaccounts/quickstart-wait",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings/quickstart-wait",
        "/api/v1/namespaces/team/persistentvolumeclaims/quickstart-site",
        "/api/v1/namespaces/team/services/backend",
        "/apis/networking.k8s.io/v1/namespaces/team/networkpolicies/quickstart-default",
        "/apis/batch/v1/namespaces/team/jobs/seed",
        "/apis/apps/v1/namespaces/team/deployments/web",
    ] {
        assert!(paths.contains(&p), "{p} not in {paths:#?}");
    }
    // what others refer to goes first: the claim before the Job that mounts it
    let at = |p: &str| paths.iter().position(|x| x.ends_with(p)).unwrap();
    assert!(at("persistentvolumeclaims/quickstart-site") < at("jobs/seed"));
    let web = seen
        .iter()
        .find(|s| s.path.ends_with("deployments/web"))
        .unwrap();
    assert_eq!(
        web.body["spec"]["template"]["spec"]["initContainers"][0]["name"],
        "wait-seed"
    );
}

#[tokio::test]
async fn apply_dry_run_asks_the_server_to_persist_nothing() {
    let fake = serve(Listed::new());
    let client = kube::Client::try_from(kube::Config::new(fake.url.parse().unwrap())).unwrap();
    let m = generate(&quickstart(), &Options::default()).unwrap();
    cluster::apply(&client, "ns1", &m.objects, true, false)
        .await
        .unwrap();
    for s in fake.seen.lock().unwrap().iter() {
        assert!(s.query.contains("dryRun=All"), "{}", s.query);
        assert!(s.path.contains("/namespaces/ns1/"), "{}", s.path);
    }
}

#[tokio::test]
async fn down_removes_exactly_the_projects_objects_by_label() {
    let listed = Listed::from([
        (
            "/apis/apps/v1/namespaces/team/deployments".to_string(),
            vec!["web", "api"],
        ),
        ("/api/v1/namespaces/team/services".to_string(), vec!["web"]),
        (
            "/api/v1/namespaces/team/persistentvolumeclaims".to_string(),
            vec!["quickstart-site"],
        ),
    ]);
    let fake = serve(listed);
    let client = kube::Client::try_from(kube::Config::new(fake.url.parse().unwrap())).unwrap();
    let removed = cluster::down(&client, "team", "quickstart", false, false)
        .await
        .unwrap();
    let names: Vec<String> = removed
        .iter()
        .map(|d| format!("{}/{}", d.kind, d.name))
        .collect();
    assert_eq!(names, ["Deployment/web", "Deployment/api", "Service/web"]);
    let seen = fake.seen.lock().unwrap().clone();
    let lists: Vec<&Seen> = seen.iter().filter(|s| s.method == "GET").collect();
    // every kind generate makes but claims, each listed by the project's labels
    assert_eq!(lists.len(), berth_kube::KINDS.len() - 1);
    for l in &lists {
        assert!(!l.path.ends_with("persistentvolumeclaims"));
        assert!(
            l.query.contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dberth%2Ccom.docker.compose.project%3Dquickstart"),
            "{}",
            l.query
        );
    }
    let deletes: Vec<String> = seen
        .iter()
        .filter(|s| s.method == "DELETE")
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(
        deletes,
        [
            "/apis/apps/v1/namespaces/team/deployments/web",
            "/apis/apps/v1/namespaces/team/deployments/api",
            "/api/v1/namespaces/team/services/web",
        ]
    );
    // a Job's pods go with it
    for d in seen.iter().filter(|s| s.method == "DELETE") {
        assert_eq!(d.body["propagationPolicy"], "Background", "{:?}", d.body);
    }
    // -v: the claims too
    let removed = cluster::down(&client, "team", "quickstart", true, false)
        .await
        .unwrap();
    assert!(removed
        .iter()
        .any(|d| d.kind == "PersistentVolumeClaim" && d.name == "quickstart-site"));
}

#[tokio::test]
async fn apply_can_remove_orphans() {
    let listed = Listed::from([(
        "/apis/apps/v1/namespaces/team/deployments".to_string(),
        vec!["web", "old"],
    )]);
    let fake = serve(listed);
    let client = kube::Client::try_from(kube::Config::new(fake.url.parse().unwrap())).unwrap();
    let m = generate(&quickstart(), &Options::default()).unwrap();
    let (_, removed) = cluster::apply(&client, "team", &m.objects, false, true)
        .await
        .unwrap();
    let names: Vec<String> = removed
        .iter()
        .map(|d| format!("{}/{}", d.kind, d.name))
        .collect();
    assert_eq!(names, ["Deployment/old"]);
}

#[tokio::test]
async fn a_missing_context_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = kubeconfig(dir.path(), "http://127.0.0.1:9");
    let Err(e) = cluster::connect(Some(&cfg), Some("nope"), None).await else {
        panic!("connected")
    };
    let e = e.to_string();
    assert!(e.starts_with("kubeconfig: context \"nope\""), "{e}");
}
