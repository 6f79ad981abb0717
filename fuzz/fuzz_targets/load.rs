//! bytes -> loader::load: any input must give a project or an error, never a panic.
#![no_main]

use berth_compose::loader::{load, LoadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let dir = std::env::temp_dir().join("berth-fuzz-empty");
    let _ = std::fs::create_dir_all(&dir);
    let opts = LoadOptions {
        files: vec!["-".into()],
        stdin: Some(text),
        cwd: Some(dir),
        ..LoadOptions::default()
    };
    let _ = load(&opts);
});
