//! Prints a stack file's Kubernetes manifests, with nothing else of berth:
//! `cargo run -p berth-kube --example generate -- FILE [SERVICE...]`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let file = args.next().ok_or("usage: generate FILE [SERVICE...]")?;
    let project = berth_compose::load(&berth_compose::LoadOptions {
        files: vec![file],
        environment: std::env::vars().collect(),
        ..berth_compose::LoadOptions::default()
    })?;
    let options = berth_kube::Options {
        services: args.collect(),
        ..berth_kube::Options::default()
    };
    let m = berth_kube::generate(&project, &options)?;
    for w in &m.warnings {
        eprintln!("WARN {w}");
    }
    print!("{}", berth_kube::to_yaml_stream(&m.objects)?);
    Ok(())
}
