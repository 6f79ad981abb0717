//! `USER[:GROUP]` resolved against the container's own /etc/passwd and /etc/group, as Docker
//! does: names must exist there, numbers need not.

use std::fs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6).then_some(())?;
            Some(PasswdEntry {
                name: f[0].into(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].into(),
            })
        })
        .collect()
}

/// (name, gid, members)
fn parse_group(text: &str) -> Vec<(String, u32, Vec<String>)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 3).then_some(())?;
            let members = f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            Some((f[0].to_string(), f[2].parse().ok()?, members))
        })
        .collect()
}

/// Resolves `spec` with the given file contents (empty when the image has no such file).
pub fn resolve_with(spec: &str, passwd: &str, group: &str) -> Result<ResolvedUser, String> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let users = parse_passwd(passwd);
    let groups = parse_group(group);
    let user = if user.is_empty() { "0" } else { user };
    let entry = match user.parse::<u32>() {
        Ok(uid) => users.iter().find(|e| e.uid == uid),
        Err(_) => Some(users.iter().find(|e| e.name == user).ok_or_else(|| {
            format!("unable to find user {user}: no matching entries in passwd file")
        })?),
    };
    let uid = entry
        .map(|e| e.uid)
        .unwrap_or_else(|| user.parse().unwrap_or(0));
    let mut gid = entry.map(|e| e.gid).unwrap_or(0);
    if let Some(g) = grp {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|(name, _, _)| name == g)
                .map(|(_, id, _)| *id)
                .ok_or_else(|| {
                    format!("unable to find group {g}: no matching entries in group file")
                })?,
        };
    }
    let additional_gids = match (entry, grp) {
        // An explicit group replaces the supplementary list, as Docker does.
        (Some(e), None) => groups
            .iter()
            .filter(|(_, id, m)| *id != gid && m.contains(&e.name))
            .map(|(_, id, _)| *id)
            .collect(),
        _ => Vec::new(),
    };
    let home = entry.map(|e| e.home.clone()).unwrap_or_else(|| "/".into());
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

/// Resolves `spec` against the current root's /etc files (call after pivot_root).
pub fn resolve(spec: &str) -> Result<ResolvedUser, String> {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = fs::read_to_string("/etc/group").unwrap_or_default();
    resolve_with(spec, &passwd, &group)
}

#[cfg(test)]
mod tests {
    use super::*;
    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nweb:x:1000:1000::/srv:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nweb:x:1000:\nwheel:x:10:web\n";

    #[test]
    fn names_numbers_and_groups() {
        let r = resolve_with("web", PASSWD, GROUP).unwrap();
        assert_eq!(
            (r.uid, r.gid, r.additional_gids.clone(), r.home.as_str()),
            (1000, 1000, vec![10], "/srv")
        );
        let r = resolve_with("nobody:wheel", PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid), (65534, 10));
        let r = resolve_with("4242:4343", PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (4242, 4343, "/"));
        assert_eq!(resolve_with("", PASSWD, GROUP).unwrap().uid, 0);
        assert!(resolve_with("ghost", PASSWD, GROUP)
            .unwrap_err()
            .contains("unable to find user ghost"));
        assert!(resolve_with("web:ghosts", PASSWD, GROUP).is_err());
    }
}
