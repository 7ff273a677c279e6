//! Any bytes as a key file: a public key or an error that names the file, never a panic.

pub fn check(data: &[u8]) {
    let dir = std::env::temp_dir().join(format!("heso-fuzz-key-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let path = dir.join("input.key");
    if std::fs::write(&path, data).is_ok()
        && let Err(e) = heso_keystore::read_key_file_public(&path)
    {
        let message = e.to_string();
        assert!(message.contains("input.key"), "{message}");
    }
}
