//! The keystore on real files: round trips, passphrase rules, modes, secrecy, damage.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ed25519_dalek::Signer as _;
use heso_keystore::{
    CreateError, DEV_PASSPHRASE_FILE, DEV_WORK_FACTOR, HUMAN_WORK_FACTOR, KEY_FILE, OldPassphrase,
    PUBLIC_FILE, PassphraseSource, PassphraseSources, ReencryptError, RefusalReason, Role,
    SecretString, UnlockError, create_approver, create_operator, load_approver,
    read_key_file_public, read_operator_public, reencrypt_operator, unlock_operator,
};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn dev_sources() -> PassphraseSources {
    PassphraseSources::default()
}

fn env_sources(passphrase: &str) -> PassphraseSources {
    PassphraseSources {
        key_passphrase: Some(SecretString::from(passphrase)),
        ..PassphraseSources::default()
    }
}

fn data_dir(root: &tempfile::TempDir) -> PathBuf {
    root.path().join("project").join("heso-local-data")
}

/// Every encoding of the seed a careless writer might use.
fn seed_forms(seed: &[u8; 32]) -> Vec<Vec<u8>> {
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        seed.to_vec(),
        hex.clone().into_bytes(),
        hex.to_uppercase().into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(seed)
            .into_bytes(),
        base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(seed)
            .into_bytes(),
        format!("{seed:?}").into_bytes(),
    ]
}

/// The scrypt work factor in the key file's age header (`-> scrypt SALT LOG_N`).
fn scrypt_work_factor(path: &Path) -> u8 {
    let text = fs::read_to_string(path).unwrap();
    let armor: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let binary = base64::engine::general_purpose::STANDARD
        .decode(armor)
        .unwrap();
    let header = String::from_utf8_lossy(&binary);
    let stanza = header
        .lines()
        .find(|l| l.starts_with("-> scrypt "))
        .unwrap();
    stanza.rsplit(' ').next().unwrap().parse().unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn dev_key_round_trip() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    let created = create_operator(&dir, &dev_sources()).unwrap();
    assert_eq!(created.key.role(), Role::Operator);
    let dev = created.dev_passphrase_path.clone().unwrap();
    assert_eq!(dev, dir.join(DEV_PASSPHRASE_FILE));
    assert_eq!(scrypt_work_factor(&dir.join(KEY_FILE)), DEV_WORK_FACTOR);
    let dev_text = fs::read_to_string(&dev).unwrap();
    assert_eq!(dev_text.trim().len(), 64, "256 bits as hex");
    assert!(dev_text.trim().bytes().all(|b| b.is_ascii_hexdigit()));

    let unlocked = unlock_operator(&dir, &dev_sources()).unwrap();
    assert_eq!(unlocked.public_key(), created.key.public_key());
    assert_eq!(
        unlocked.signing_key().to_bytes(),
        created.key.signing_key().to_bytes()
    );
    // It signs, and the signature verifies under the public key read without a passphrase.
    let public = read_operator_public(&dir).unwrap();
    assert_eq!(public, unlocked.public_key());
    let signature = unlocked.signing_key().sign(b"message");
    public.verify_strict(b"message", &signature).unwrap();
    assert_eq!(
        fs::read_to_string(dir.join(PUBLIC_FILE)).unwrap().trim(),
        unlocked.did_key()
    );
    assert!(unlocked.did_key().starts_with("did:key:z6Mk"));
    let (role, name, header_key) = read_key_file_public(&dir.join(KEY_FILE)).unwrap();
    assert_eq!(
        (role, name.as_str(), header_key),
        (Role::Operator, "operator", public)
    );

    // identity.pub gone: the key file's clear header still gives the public key.
    fs::remove_file(dir.join(PUBLIC_FILE)).unwrap();
    assert_eq!(read_operator_public(&dir).unwrap(), public);
}

#[test]
fn derived_keys_are_stable_and_separate() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    let created = create_operator(&dir, &dev_sources()).unwrap();
    let again = unlock_operator(&dir, &dev_sources()).unwrap();
    let a = created.key.derive_key("heso test salts v1");
    assert_eq!(a, again.derive_key("heso test salts v1"));
    assert_ne!(a, again.derive_key("heso test other v1"));
    assert_ne!(a.expose_secret(), &created.key.signing_key().to_bytes());
    let expected = blake3::derive_key("heso test salts v1", &created.key.signing_key().to_bytes());
    assert_eq!(a.expose_secret(), &expected);
}

#[test]
fn env_passphrase_round_trip_writes_no_dev_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    let created = create_operator(&dir, &env_sources("correct horse battery")).unwrap();
    assert!(created.dev_passphrase_path.is_none());
    assert!(!dir.join(DEV_PASSPHRASE_FILE).exists());
    assert_eq!(scrypt_work_factor(&dir.join(KEY_FILE)), HUMAN_WORK_FACTOR);
    // The env passphrase works in production and under require_passphrase too.
    let strict = PassphraseSources {
        key_passphrase: Some(SecretString::from("correct horse battery")),
        production: true,
        require_passphrase: true,
    };
    let unlocked = unlock_operator(&dir, &strict).unwrap();
    assert_eq!(unlocked.public_key(), created.key.public_key());

    // Wrong passphrase: a clear error naming the key file and the variable.
    let err = unlock_operator(&dir, &env_sources("wrong horse")).unwrap_err();
    assert!(
        matches!(&err, UnlockError::WrongPassphrase { tried: PassphraseSource::EnvVar, path } if path == &dir.join(KEY_FILE)),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("HESO_KEY_PASSPHRASE"), "{text}");
    assert!(
        text.contains(&dir.join(KEY_FILE).display().to_string()),
        "{text}"
    );
    // No dev file to fall back on: never silently tried.
    let err = unlock_operator(&dir, &dev_sources()).unwrap_err();
    assert!(matches!(err, UnlockError::NoPassphrase { .. }), "{err:?}");
    assert!(err.to_string().contains("set HESO_KEY_PASSPHRASE"));
}

#[test]
fn wrong_dev_passphrase_names_the_dev_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    create_operator(&dir, &dev_sources()).unwrap();
    fs::write(
        dir.join(DEV_PASSPHRASE_FILE),
        format!("{}\n", "ab".repeat(32)),
    )
    .unwrap();
    let err = unlock_operator(&dir, &dev_sources()).unwrap_err();
    assert!(
        matches!(&err, UnlockError::WrongPassphrase { tried: PassphraseSource::DevFile(p), .. } if p == &dir.join(DEV_PASSPHRASE_FILE)),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("dev passphrase file"), "{text}");
    assert!(text.contains(KEY_FILE), "{text}");
}

#[test]
fn production_refuses_the_dev_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    create_operator(&dir, &dev_sources()).unwrap();
    let production = PassphraseSources {
        production: true,
        ..PassphraseSources::default()
    };
    let err = unlock_operator(&dir, &production).unwrap_err();
    assert!(
        matches!(
            err,
            UnlockError::DevFileRefused {
                reason: RefusalReason::Production,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("set HESO_KEY_PASSPHRASE"), "{text}");
    assert!(text.contains("HESO_ENV=production"), "{text}");

    // Creating in production without a passphrase is refused, and writes nothing.
    let other = root.path().join("fresh");
    let err = create_operator(&other, &production).unwrap_err();
    assert!(
        matches!(err, CreateError::PassphraseRequired { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("set HESO_KEY_PASSPHRASE"));
    assert!(!other.exists());
}

#[test]
fn require_passphrase_refuses_the_dev_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    create_operator(&dir, &dev_sources()).unwrap();
    let required = PassphraseSources {
        require_passphrase: true,
        ..PassphraseSources::default()
    };
    let err = unlock_operator(&dir, &required).unwrap_err();
    assert!(
        matches!(
            err,
            UnlockError::DevFileRefused {
                reason: RefusalReason::RequirePassphrase,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("set HESO_KEY_PASSPHRASE"), "{text}");
    assert!(text.contains("require_passphrase"), "{text}");
    let err = create_operator(&root.path().join("fresh"), &required).unwrap_err();
    assert!(matches!(
        err,
        CreateError::PassphraseRequired {
            reason: RefusalReason::RequirePassphrase
        }
    ));
}

#[test]
fn an_existing_key_is_never_replaced() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    create_operator(&dir, &dev_sources()).unwrap();
    let before = fs::read(dir.join(KEY_FILE)).unwrap();
    let dev_before = fs::read(dir.join(DEV_PASSPHRASE_FILE)).unwrap();
    // Even with the dev file gone (passphrase unavailable), a second create keeps the key.
    fs::remove_file(dir.join(DEV_PASSPHRASE_FILE)).unwrap();
    let err = create_operator(&dir, &dev_sources()).unwrap_err();
    assert!(matches!(err, CreateError::Exists { .. }), "{err:?}");
    let err = create_operator(&dir, &env_sources("another one")).unwrap_err();
    assert!(matches!(err, CreateError::Exists { .. }), "{err:?}");
    assert_eq!(fs::read(dir.join(KEY_FILE)).unwrap(), before);
    assert!(!dir.join(DEV_PASSPHRASE_FILE).exists());
    fs::write(dir.join(DEV_PASSPHRASE_FILE), dev_before).unwrap();
    unlock_operator(&dir, &dev_sources()).unwrap();
}

#[test]
fn file_and_directory_modes() {
    let root = tempfile::tempdir().unwrap();
    // A missing directory (and its missing parent) is created 0700.
    let dir = data_dir(&root);
    create_operator(&dir, &dev_sources()).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(dir.parent().unwrap()), 0o700);
    assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
    assert_eq!(mode(&dir.join(DEV_PASSPHRASE_FILE)), 0o600);
    // No temp files left behind.
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [DEV_PASSPHRASE_FILE, KEY_FILE, PUBLIC_FILE]);

    // An existing directory keeps its mode.
    let existing = root.path().join("existing");
    fs::create_dir(&existing).unwrap();
    fs::set_permissions(&existing, fs::Permissions::from_mode(0o751)).unwrap();
    create_operator(&existing, &dev_sources()).unwrap();
    assert_eq!(mode(&existing), 0o751);
    assert_eq!(mode(&existing.join(KEY_FILE)), 0o600);
}

#[test]
fn the_seed_never_appears_in_files() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    let created = create_operator(&dir, &dev_sources()).unwrap();
    let seed = created.key.signing_key().to_bytes();
    for name in [KEY_FILE, PUBLIC_FILE, DEV_PASSPHRASE_FILE] {
        let bytes = fs::read(dir.join(name)).unwrap();
        for form in seed_forms(&seed) {
            assert!(!contains(&bytes, &form), "seed found in {name}");
        }
    }
}

#[test]
fn debug_of_secret_types_shows_no_secret() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    let created = create_operator(&dir, &dev_sources()).unwrap();
    let seed = created.key.signing_key().to_bytes();
    let dev = fs::read_to_string(dir.join(DEV_PASSPHRASE_FILE)).unwrap();
    let dev = dev.trim();
    let derived = created.key.derive_key("heso test v1");
    let derived_bytes = *derived.expose_secret();
    let passphrase = "hunter2-very-secret";
    let sources = PassphraseSources {
        key_passphrase: Some(SecretString::from(passphrase)),
        production: false,
        require_passphrase: false,
    };
    let texts = [
        format!("{created:?}"),
        format!("{:?}", created.key),
        format!("{derived:?}"),
        format!("{sources:?}"),
        format!("{:?}", OldPassphrase::Given(SecretString::from(passphrase))),
        format!(
            "{:?}",
            OldPassphrase::OldEnvVar(SecretString::from(passphrase))
        ),
        format!("{:?}", unlock_operator(&dir, &sources).unwrap_err()),
        format!("{}", unlock_operator(&dir, &sources).unwrap_err()),
        format!("{:?}", SecretString::from(dev.to_owned())),
    ];
    for text in &texts {
        for form in seed_forms(&seed)
            .into_iter()
            .chain(seed_forms(&derived_bytes))
        {
            assert!(!contains(text.as_bytes(), &form), "secret in {text}");
        }
        assert!(!text.contains(dev), "dev passphrase in {text}");
        assert!(!text.contains(passphrase), "passphrase in {text}");
    }
    // Debug still says something useful.
    assert!(texts[1].contains(&created.key.did_key()));
}

#[test]
fn damaged_key_files_give_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    create_operator(&dir, &dev_sources()).unwrap();
    let key_path = dir.join(KEY_FILE);
    let good = fs::read(&key_path).unwrap();
    let path_text = key_path.display().to_string();

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("garbage", (0u8..=255).cycle().take(700).collect()),
        ("text garbage", b"hello, this is not a key\n".to_vec()),
        (
            "header only",
            good[..good.windows(5).position(|w| w == b"-----").unwrap()].to_vec(),
        ),
        ("truncated half", good[..good.len() / 2].to_vec()),
        ("truncated end", good[..good.len() - 40].to_vec()),
        ("one byte flipped in the armor", {
            let mut bytes = good.clone();
            let at = bytes.len() - 60;
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            bytes
        }),
    ];
    for (name, bytes) in cases {
        fs::write(&key_path, &bytes).unwrap();
        let err = unlock_operator(&dir, &dev_sources()).unwrap_err();
        assert!(
            matches!(
                err,
                UnlockError::Malformed { .. } | UnlockError::Damaged { .. }
            ),
            "{name}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(&path_text), "{name}: {text}");
        assert!(text.len() < 400, "{name}: {text}");
    }

    // A header whose public key was swapped for another key's: caught after decrypting.
    let other = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]).verifying_key();
    let text = String::from_utf8(good.clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("public-key: "))
        .unwrap();
    let swapped = text.replace(
        line,
        &format!(
            "public-key: {}",
            heso_receipt::public_key_to_did_key(&other)
        ),
    );
    fs::write(&key_path, swapped).unwrap();
    let err = unlock_operator(&dir, &dev_sources()).unwrap_err();
    assert!(matches!(err, UnlockError::Damaged { .. }), "{err:?}");

    // Missing key file.
    fs::remove_file(&key_path).unwrap();
    let err = unlock_operator(&dir, &dev_sources()).unwrap_err();
    assert!(matches!(err, UnlockError::NoKey { .. }));
    assert!(err.to_string().contains("heso init"));
}

#[test]
fn reencrypt_dev_to_production() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    let created = create_operator(&dir, &dev_sources()).unwrap();
    let old_bytes = fs::read(dir.join(KEY_FILE)).unwrap();

    // A wrong old passphrase changes nothing.
    let err = reencrypt_operator(
        &dir,
        OldPassphrase::Given(SecretString::from("nope")),
        &SecretString::from("new production passphrase"),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            ReencryptError::Open(UnlockError::WrongPassphrase {
                tried: PassphraseSource::Given,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(fs::read(dir.join(KEY_FILE)).unwrap(), old_bytes);
    assert!(dir.join(DEV_PASSPHRASE_FILE).exists());

    let done = reencrypt_operator(
        &dir,
        OldPassphrase::DevFile,
        &SecretString::from("new production passphrase"),
    )
    .unwrap();
    assert!(done.dev_file_removed);
    assert_eq!(done.public_key, created.key.public_key());
    assert!(!dir.join(DEV_PASSPHRASE_FILE).exists());
    let production = PassphraseSources {
        key_passphrase: Some(SecretString::from("new production passphrase")),
        production: true,
        require_passphrase: false,
    };
    let unlocked = unlock_operator(&dir, &production).unwrap();
    assert_eq!(unlocked.public_key(), created.key.public_key());

    // Re-encrypting keeps 0600 and leaves the directory's mode alone.
    assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(scrypt_work_factor(&dir.join(KEY_FILE)), HUMAN_WORK_FACTOR);

    let err =
        reencrypt_operator(&dir, OldPassphrase::DevFile, &SecretString::from("x")).unwrap_err();
    assert!(matches!(err, ReencryptError::NoDevFile { .. }));
    assert!(err.to_string().contains("HESO_OLD_KEY_PASSPHRASE"));
    let err =
        reencrypt_operator(&dir, OldPassphrase::DevFile, &SecretString::from("")).unwrap_err();
    assert!(matches!(err, ReencryptError::EmptyPassphrase));

    // The old passphrase as HESO_OLD_KEY_PASSPHRASE gives it (here: a dev key's).
    let other = root.path().join("other");
    create_operator(&other, &dev_sources()).unwrap();
    let dev = fs::read_to_string(other.join(DEV_PASSPHRASE_FILE)).unwrap();
    let again = reencrypt_operator(
        &other,
        OldPassphrase::OldEnvVar(SecretString::from(dev.trim())),
        &SecretString::from("third"),
    )
    .unwrap();
    assert!(again.dev_file_removed);
    assert!(!other.join(DEV_PASSPHRASE_FILE).exists());
}

#[test]
fn approver_keys() {
    let root = tempfile::tempdir().unwrap();
    let path = root
        .path()
        .join("config")
        .join("approvers")
        .join("alice.key");
    let pass = SecretString::from("alice's own passphrase");
    let created = create_approver(&path, "alice", &pass).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let bytes = fs::read(&path).unwrap();
    for form in seed_forms(&created.key.signing_key().to_bytes()) {
        assert!(!contains(&bytes, &form), "approver seed in its key file");
    }
    let loaded = load_approver(&path, &pass).unwrap();
    assert_eq!(loaded.public_key(), created.key.public_key());
    assert_eq!((loaded.role(), loaded.name()), (Role::Approver, "alice"));
    let (role, name, key) = read_key_file_public(&path).unwrap();
    assert_eq!(
        (role, name.as_str(), key),
        (Role::Approver, "alice", loaded.public_key())
    );

    let err = load_approver(&path, &SecretString::from("wrong")).unwrap_err();
    assert!(
        matches!(err, UnlockError::WrongPassphrase { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("alice.key"));
    let err = create_approver(&path, "alice", &pass).unwrap_err();
    assert!(matches!(err, CreateError::Exists { .. }));
    let err = create_approver(&root.path().join("x.key"), "../evil", &pass).unwrap_err();
    assert!(matches!(err, CreateError::BadName { .. }));
    let err =
        create_approver(&root.path().join("y.key"), "bob", &SecretString::from("")).unwrap_err();
    assert!(matches!(err, CreateError::EmptyPassphrase));

    // An operator key is not an approver key.
    let dir = data_dir(&root);
    create_operator(&dir, &dev_sources()).unwrap();
    let err = load_approver(&dir.join(KEY_FILE), &SecretString::from("op pass")).unwrap_err();
    assert!(matches!(
        err,
        UnlockError::RoleMismatch {
            expected: Role::Approver,
            found: Role::Operator,
            ..
        }
    ));
}

#[test]
fn racing_creates_leave_one_key_that_unlocks() {
    for round in 0..20 {
        let root = tempfile::tempdir().unwrap();
        let dir = data_dir(&root);
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| scope.spawn(|| create_operator(&dir, &dev_sources())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(CreateError::Exists { .. }))),
            "round {round}: {results:?}"
        );
        let unlocked = unlock_operator(&dir, &dev_sources()).unwrap();
        assert_eq!(unlocked.public_key(), winners[0].key.public_key());
        assert_eq!(read_operator_public(&dir).unwrap(), unlocked.public_key());
    }
}
