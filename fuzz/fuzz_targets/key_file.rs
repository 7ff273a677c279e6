#![no_main]
//! Any bytes as a key file: a key or a clear error, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("heso-fuzz-key-{}.key", std::process::id()));
    if std::fs::write(&path, data).is_ok() {
        let _ = heso_keystore::read_key_file_public(&path);
    }
});
