//! Loads a Compose file and prints what `up` would do on a host where nothing of it exists
//! yet: berth-compose alone, no daemon, no root.
//!
//! Run: `cargo run -p berth-compose --example plan -- examples/quickstart/compose.yaml`

use berth_compose::{load, plan_up, LoadOptions, Observed, UpPlanOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let project = load(&LoadOptions {
        files,
        environment: std::env::vars().collect(),
        ..LoadOptions::default()
    })?;
    let options = UpPlanOptions {
        selected: project.services.keys().cloned().collect(),
        ..UpPlanOptions::default()
    };
    for step in plan_up(&project, &options, &Observed::default())? {
        println!(
            "{} {}: {} ({})",
            step.kind, step.name, step.action, step.reason
        );
    }
    Ok(())
}
