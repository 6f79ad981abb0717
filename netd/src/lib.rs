//! berth's network driver: Linux bridges, veth pairs, IPAM, iptables and embedded DNS.
