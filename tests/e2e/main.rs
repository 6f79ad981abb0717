//! End-to-end tests: drive the `berth` binary on a real kernel.
