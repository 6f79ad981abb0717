//! `berth network ...`: create, ls, inspect, rm, prune, connect, disconnect.

use super::GlobalOpts;
use crate::client::{q, Client};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct NetworkArgs {
    #[command(subcommand)]
    pub cmd: NetworkCmd,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum NetworkCmd {
    /// Create a bridge network
    Create {
        /// Subnet in CIDR format
        #[arg(long)]
        subnet: Option<String>,
        /// Gateway for the subnet
        #[arg(long)]
        gateway: Option<String>,
        /// Allocate container addresses from a sub-range
        #[arg(long)]
        ip_range: Option<String>,
        /// Restrict external access to the network
        #[arg(long)]
        internal: bool,
        /// Driver options (mtu=N)
        #[arg(short = 'o', long = "opt")]
        opts: Vec<String>,
        /// Metadata on the network
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Driver (only bridge)
        #[arg(short, long, default_value = "bridge")]
        driver: String,
        name: String,
    },
    /// List networks
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go
        /// template
        #[arg(long)]
        format: Option<String>,
        /// Do not truncate the output
        #[arg(long)]
        no_trunc: bool,
    },
    /// Display detailed information on networks
    Inspect {
        /// Format output using a custom template: 'json' or a Go template
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove networks
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove all unused networks
    Prune {
        #[arg(short, long)]
        force: bool,
    },
    /// Connect a container to a network
    Connect {
        #[arg(long)]
        ip: Option<String>,
        #[arg(long = "alias")]
        aliases: Vec<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network
    Disconnect {
        #[arg(short, long)]
        force: bool,
        network: String,
        container: String,
    },
}

pub fn run(g: &GlobalOpts, args: &NetworkArgs) -> anyhow::Result<i32> {
    let c = Client::connect(g)?;
    match &args.cmd {
        NetworkCmd::Create {
            subnet,
            gateway,
            ip_range,
            internal,
            opts,
            labels,
            driver,
            name,
        } => {
            anyhow::ensure!(
                driver == "bridge",
                "network driver {driver} is not supported (only bridge)"
            );
            let mut mtu = None;
            for o in opts {
                match o.split_once('=') {
                    Some(("mtu", v)) | Some(("com.docker.network.driver.mtu", v)) => {
                        mtu = Some(
                            v.parse::<u32>()
                                .map_err(|_| anyhow::anyhow!("invalid mtu {v}"))?,
                        )
                    }
                    _ => anyhow::bail!("unsupported network option {o} (supported: mtu=N)"),
                }
            }
            let labels: serde_json::Map<String, Value> = labels
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
                    (k.to_string(), Value::String(v.to_string()))
                })
                .collect();
            let body = json!({ "Name": name, "Subnet": subnet, "Gateway": gateway, "IPRange": ip_range, "Internal": internal, "MTU": mtu, "Labels": labels });
            let v = c.post("/networks", Some(&body))?;
            println!("{}", v["id"].as_str().unwrap_or(""));
        }
        NetworkCmd::Ls {
            quiet,
            format,
            no_trunc,
        } => {
            let list: Vec<Value> = c.get("/networks")?;
            let format = match (quiet, format.as_deref()) {
                (true, None) => Some("{{.ID}}"),
                (_, f) => f,
            };
            // Docker's columns (NETWORK ID, NAME, DRIVER, SCOPE); a network's subnet is in
            // `network inspect`, or `--format '{{.Name}}'`-style templates.
            let f = crate::format::Formatter::new(format, super::listing::NETWORK_TABLE)?;
            let rows: Vec<_> = list
                .iter()
                .map(|n| super::listing::network(n, !no_trunc))
                .collect();
            f.print(&rows, &super::listing::network_header())?;
        }
        NetworkCmd::Inspect { format, networks } => {
            let mut out = Vec::new();
            for n in networks {
                out.push(c.get::<Value>(&format!("/networks/{}", q(n)))?);
            }
            if let Some(f) = format.as_deref().filter(|f| *f != "json") {
                return super::listing::print_inspect(f, &out, false);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        NetworkCmd::Rm { networks } => {
            let mut code = 0;
            for n in networks {
                match c.delete(&format!("/networks/{}", q(n))) {
                    Ok(_) => println!("{n}"),
                    Err(e) => {
                        eprintln!("berth: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        NetworkCmd::Prune { force } => {
            if !force && nix::unistd::isatty(0).unwrap_or(false) {
                eprint!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !answer.trim().eq_ignore_ascii_case("y") {
                    return Ok(0);
                }
            }
            let v = c.post("/networks/prune", None)?;
            let removed: Vec<&str> = v
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str())
                .collect();
            if !removed.is_empty() {
                println!("Deleted Networks:\n{}", removed.join("\n"));
            }
        }
        NetworkCmd::Connect {
            ip,
            aliases,
            network,
            container,
        } => {
            c.post(
                &format!("/networks/{}/connect", q(network)),
                Some(&json!({ "Container": container, "IPv4Address": ip, "Aliases": aliases })),
            )?;
        }
        NetworkCmd::Disconnect {
            force,
            network,
            container,
        } => {
            c.post(
                &format!("/networks/{}/disconnect", q(network)),
                Some(&json!({ "Container": container, "Force": force })),
            )?;
        }
    }
    Ok(0)
}
