//! `berth config`: print the normalized project model.

use super::GlobalOpts;
use clap::Args;

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Output format: yaml or json
    #[arg(long, default_value = "yaml")]
    pub format: String,
}

pub fn run(_global: &GlobalOpts, _args: &ConfigArgs) -> anyhow::Result<i32> {
    anyhow::bail!("config: the Compose loader is not written yet")
}
