// Link the `berth` binary as a non-PIE executable. Every shim is this binary: in a PIE, the
// dynamic loader relocates .data.rel.ro and the GOT at start, which turns ~300 KiB of
// read-only data into private copy-on-write pages in every shim. Linked at a fixed address,
// those pages stay clean file pages shared by all shims (the per-shim Pss budget is 0.5 MiB).
fn main() {
    println!("cargo:rustc-link-arg-bin=berth=-no-pie");
    println!("cargo:rerun-if-changed=build.rs");
}
