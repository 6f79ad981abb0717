//! Content of a container's /etc/resolv.conf and /etc/hosts (the engine writes the files).
//!
//! Door: [`render_resolv_conf`], [`render_hosts`].

use std::net::Ipv4Addr;

/// resolv.conf pointing at the embedded DNS servers (the gateways of the container's
/// networks, priority network first). glibc reads at most 3 nameservers (resolv.conf(5),
/// MAXNS), so extra ones are dropped rather than silently ignored by the resolver.
pub fn render_resolv_conf(
    nameservers: &[Ipv4Addr],
    search: &[String],
    options: &[String],
) -> String {
    let mut s = String::new();
    let mut seen = Vec::new();
    for ns in nameservers {
        if !seen.contains(ns) && seen.len() < 3 {
            seen.push(*ns);
            s.push_str(&format!("nameserver {ns}\n"));
        }
    }
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

/// /etc/hosts as Docker writes it: localhost lines, then the container's own addresses with
/// its hostname (and any extra_hosts entries the caller passes).
pub fn render_hosts(entries: &[(Ipv4Addr, Vec<String>)]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (ip, names) in entries {
        if !names.is_empty() {
            s.push_str(&format!("{ip}\t{}\n", names.join(" ")));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf() {
        let g: Vec<Ipv4Addr> = ["10.0.0.1", "10.0.1.1", "10.0.0.1", "10.0.2.1", "10.0.3.1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let s = render_resolv_conf(&g, &[], &["ndots:0".into()]);
        assert_eq!(
            s,
            "nameserver 10.0.0.1\nnameserver 10.0.1.1\nnameserver 10.0.2.1\noptions ndots:0\n"
        );
    }

    #[test]
    fn hosts() {
        let s = render_hosts(&[(
            "10.0.0.2".parse().unwrap(),
            vec!["abc123".into(), "web".into()],
        )]);
        assert!(s.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(s.ends_with("10.0.0.2\tabc123 web\n"));
    }
}
