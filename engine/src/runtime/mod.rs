//! The container runtime: what the shim's cloned child does to become a container.
