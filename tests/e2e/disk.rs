//! A full disk: the state root on a small tmpfs. A failed upload leaves nothing behind, the
//! CLI and the daemon's log say why, and the next container runs.

use crate::support::*;
use std::path::Path;

const MIB: u64 = 1024 * 1024;

/// A rootfs tar holding one incompressible file of `size` bytes.
fn tar_of_random(path: &Path, size: u64) {
    let mut random = std::fs::File::open("/dev/urandom").unwrap();
    let mut t = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    t.append_data(&mut h, "blob.bin", std::io::Read::take(&mut random, size))
        .unwrap();
    t.finish().unwrap();
}

fn free_bytes(path: &Path) -> u64 {
    let st = nix::sys::statvfs::statvfs(path).unwrap();
    st.blocks_available() * st.fragment_size()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_full_disk_fails_an_import_cleanly_and_the_next_run_works() {
    let b = Berth::with_root_on_tmpfs(20 * MIB);
    let images = b.root.join("images");
    let (blobs, layers) = (
        entries(&images.join("blobs/sha256")),
        entries(&images.join("layers")),
    );
    let free = free_bytes(&b.root);
    // Too large to even receive (the scratch copy fills the disk), then one that is received
    // but does not fit in the store beside its scratch copy.
    for (what, size) in [("upload", free + 8 * MIB), ("store", free * 3 / 5)] {
        let tar = b.dir.path().join(format!("{what}.tar"));
        tar_of_random(&tar, size);
        let out = b.run(&["image", "import", tar.to_str().unwrap(), "big:1"]);
        let err = text(&out.stderr);
        assert!(
            !out.status.success(),
            "{what}: the import of {size} bytes succeeded"
        );
        assert!(
            err.contains("no space left on device"),
            "{what}: the CLI says why: {err}"
        );
        std::fs::remove_file(&tar).unwrap();
        assert_eq!(
            entries(&images.join("tmp")),
            Vec::<String>::new(),
            "{what}: no scratch file"
        );
        assert_eq!(
            entries(&b.root.join("tmp")),
            Vec::<String>::new(),
            "{what}: no upload left"
        );
        assert_eq!(
            entries(&images.join("blobs/sha256")),
            blobs,
            "{what}: no blob left"
        );
        assert_eq!(
            entries(&images.join("layers")),
            layers,
            "{what}: no partial layer left"
        );
        assert!(
            free_bytes(&b.root) + MIB / 2 >= free,
            "{what}: the space is back ({} of {free} bytes free)",
            free_bytes(&b.root)
        );
    }
    let log = std::fs::read_to_string(b.run_dir.join("daemon.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("writing an upload to disk")
                && l.contains("no space left on device")),
        "the daemon logs the full disk:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("storing an uploaded image")
                && l.contains("no space left on device")),
        "the daemon logs the store's failure:\n{log}"
    );
    // No daemon restart needed: containers run.
    assert_eq!(
        b.ok(&["container", "run", "--rm", "bb:local", "echo", "still room"]),
        "still room\n"
    );
    b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "after",
        "bb:local",
        "sleep",
        "30",
    ]);
    assert_eq!(b.status("after"), "running");
}
