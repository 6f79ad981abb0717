//! `logs -f` of a stack goes on with the containers that start after it began (a `scale` up,
//! a recreate, a restart), as Compose's watchContainers does: the project's start events
//! bring each one in; the command ends once it follows nothing and nothing starts for a
//! moment (a recreate stops the old container before it starts the new one).

use super::log_window::LogWindow;
use super::stack_logs::{stream_all, JsonLines, LogStyle};
use super::stack_select::{ServiceContainer, Target};
use super::GlobalOpts;
use crate::client::{q, Client};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::time::Duration;

/// How long `logs -f` waits for a start once every followed container has stopped.
const GRACE: Duration = Duration::from_secs(2);

enum Seen {
    Ended(ServiceContainer),
    Started(String),
}

/// Sends the id of each container of `project` that starts from now on.
fn watch_starts(g: &GlobalOpts, project: &str, tx: mpsc::Sender<Seen>) {
    let (g, path) = (g.clone(), format!("/events?project={}", q(project)));
    std::thread::spawn(move || {
        let Ok(c) = Client::connect(&g) else { return };
        let mut out = JsonLines::new(|e: Value| {
            if e["type"] == "container" && e["action"] == "start" {
                let _ = tx.send(Seen::Started(e["id"].as_str().unwrap_or("").to_string()));
            }
            None
        });
        let _ = c.download(&path, &mut out);
    });
}

/// Follows `initial`, then every container `wanted` accepts as it starts: a new one from its
/// first line, one followed before from where its last stream ended.
pub fn follow(
    g: &GlobalOpts,
    target: &Target,
    c: &Client,
    initial: &[ServiceContainer],
    wanted: impl Fn(&ServiceContainer) -> bool,
    window: &LogWindow,
    style: &LogStyle,
) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel();
    watch_starts(g, &target.name, tx.clone());
    stream_all(g, initial, true, window, style, &tx, Seen::Ended);
    let mut following: HashSet<String> = initial.iter().map(|x| x.id.clone()).collect();
    // When each container's stream ended: where a restarted one's logs resume.
    let mut ended: HashMap<String, String> = HashMap::new();
    loop {
        let seen = if following.is_empty() {
            match rx.recv_timeout(GRACE) {
                Ok(s) => s,
                Err(_) => return Ok(()),
            }
        } else {
            rx.recv()?
        };
        match seen {
            Seen::Ended(x) => {
                following.remove(&x.id);
                // As Compose: `db-1 exited with code 143` for one that stopped while followed
                // (not for one that was stopped already, nor one removed meanwhile).
                if x.running() {
                    if let Ok(v) = c.post(&format!("/containers/{}/wait", x.id), None) {
                        let code = v["StatusCode"].as_i64().unwrap_or(0);
                        print!("{}", style.status(&x, &format!("exited with code {code}")));
                    }
                }
                let now = chrono::Utc::now();
                ended.insert(
                    x.id,
                    format!("{}.{:09}", now.timestamp(), now.timestamp_subsec_nanos()),
                );
            }
            Seen::Started(id) if !following.contains(&id) => {
                let Some(x) = target
                    .containers(c, &[], false)?
                    .into_iter()
                    .find(|x| x.id == id)
                else {
                    continue;
                };
                if !wanted(&x) {
                    continue;
                }
                let w = LogWindow {
                    tail: "all".into(),
                    since: ended.get(&id).cloned(),
                    until: window.until.clone(),
                };
                following.insert(id);
                stream_all(g, &[x], true, &w, style, &tx, Seen::Ended);
            }
            Seen::Started(_) => {}
        }
    }
}
