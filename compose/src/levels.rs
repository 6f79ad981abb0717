//! The order services start in: `depends_on` as levels, each level depending only on the
//! levels before it, so a level can start in parallel and `down` walks them backwards.

use crate::loader::Project;
use std::collections::{HashMap, HashSet};

/// Services grouped in dependency levels: level 0 depends on nothing selected.
pub fn levels(p: &Project, selected: &HashSet<String>) -> Vec<Vec<String>> {
    let mut depth: HashMap<String, usize> = HashMap::new();
    fn visit(p: &Project, s: &str, depth: &mut HashMap<String, usize>, guard: usize) -> usize {
        if let Some(d) = depth.get(s) {
            return *d;
        }
        let deps: Vec<String> = p
            .services
            .get(s)
            .map(|svc| svc.depends_on.keys().cloned().collect())
            .unwrap_or_default();
        // The loader rejects cycles; the guard only keeps a malformed project from recursing forever.
        let d = if guard > 1000 {
            0
        } else {
            deps.iter()
                .filter(|x| p.services.contains_key(*x))
                .map(|x| visit(p, x, depth, guard + 1) + 1)
                .max()
                .unwrap_or(0)
        };
        depth.insert(s.to_string(), d);
        d
    }
    let mut out: Vec<Vec<String>> = Vec::new();
    for s in p.services.keys() {
        if !selected.contains(s) {
            continue;
        }
        let d = visit(p, s, &mut depth, 0);
        if out.len() <= d {
            out.resize(d + 1, Vec::new());
        }
        out[d].push(s.clone());
    }
    out.retain(|l| !l.is_empty());
    out
}
