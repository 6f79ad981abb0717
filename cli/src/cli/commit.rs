//! `berth container commit` and `berth container diff`, as Docker's.

use crate::client::{q, Client};
use clap::Args;
use serde_json::Value;

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

/// Prints the new image's id, as `docker commit` does.
pub fn commit(c: &Client, a: &CommitArgs) -> anyhow::Result<i32> {
    let mut query = vec![format!("pause={}", a.pause)];
    if let Some(r) = &a.reference {
        // The tag is what follows the last colon after the last slash (a registry port is not one).
        let (repo, tag) = match r.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, tag),
            _ => (r.as_str(), ""),
        };
        query.push(format!("repo={}", q(repo)));
        if !tag.is_empty() {
            query.push(format!("tag={}", q(tag)));
        }
    }
    for (key, value) in [("comment", &a.message), ("author", &a.author)] {
        if let Some(v) = value {
            query.push(format!("{key}={}", q(v)));
        }
    }
    for change in &a.change {
        query.push(format!("changes={}", q(change)));
    }
    let path = format!("/containers/{}/commit?{}", q(&a.container), query.join("&"));
    let out = c.post(&path, None)?;
    println!("{}", out["Id"].as_str().unwrap_or_default());
    Ok(0)
}

/// `C /etc`, `A /etc/new`, `D /etc/gone`: one line a change, as `docker diff`.
pub fn diff(c: &Client, container: &str) -> anyhow::Result<i32> {
    let changes: Vec<Value> = c.get(&format!("/containers/{}/changes", q(container)))?;
    for ch in changes {
        let letter = match ch["Kind"].as_u64() {
            Some(1) => 'A',
            Some(2) => 'D',
            _ => 'C',
        };
        println!("{letter} {}", ch["Path"].as_str().unwrap_or_default());
    }
    Ok(0)
}
