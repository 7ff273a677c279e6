//! `heso init`: a project folder with a policy, an identity and a gitignored data folder.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use heso_keystore::{CreateError, KEY_FILE, PassphraseSources, ReadPublicError};
use heso_receipt::{VerifyingKey, public_key_to_did_key, public_key_to_multibase};

use crate::config::{Config, ConfigError, load_config, parse_config, shown};
use crate::identity::{IdentityError, check_operator};
use crate::project::{DATA_DIR, ProjectPaths};
use crate::templates::{BOOTSTRAP, GITIGNORE_LINE, OPERATOR_COMMENT, starter_policy};
use heso_fs::{Existing, PUBLIC_FILE_MODE, create_private_dir, write_atomic};

/// The bootstrap module's file name.
pub const BOOTSTRAP_FILE: &str = "heso_bootstrap.py";

/// What `init` did to one file: wrote it, or found it and kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Written now.
    Wrote(PathBuf),
    /// Already there, left unchanged.
    Kept(PathBuf),
}

/// What `init` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    /// The project folder.
    pub root: PathBuf,
    /// `heso_bootstrap.py`.
    pub bootstrap: Step,
    /// `heso.toml` (a new one pins the operator key in `[identity] operator`).
    pub policy: Step,
    /// True when `[identity] operator` was added now to an existing `heso.toml` that had
    /// none (a project made by a heso that did not pin the operator key).
    pub operator_pin_added: bool,
    /// True when the `.gitignore` line was added now.
    pub gitignore_added: bool,
    /// `heso-local-data/identity.key`.
    pub identity: Step,
    /// The dev passphrase file, when one was written now.
    pub dev_passphrase: Option<PathBuf>,
    /// The operator's public key, bare multibase (`z6Mk…`).
    pub operator_multibase: String,
}

/// Why `init` failed. Nothing was written when it refuses for lack of a passphrase.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// Production or `--require-passphrase` without `HESO_KEY_PASSPHRASE`.
    #[error(
        "{why}: set HESO_KEY_PASSPHRASE to the operator key's passphrase and run `heso init` again (nothing was written)"
    )]
    PassphraseRequired {
        /// Which rule asked for it.
        why: &'static str,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Creating the key failed.
    #[error(transparent)]
    Key(#[from] CreateError),
    /// The existing key's public half could not be read.
    #[error(transparent)]
    ReadPublic(#[from] ReadPublicError),
    /// The existing `heso.toml` is broken: init cannot tell which identity it pins.
    #[error("{0} (heso init reads heso.toml to check the identity it pins; nothing was written)")]
    Config(#[source] ConfigError),
    /// The project's identity files disagree.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// `heso.toml` pins an operator identity, but its key is not in `heso-local-data/`.
    #[error(
        "{config} pins the operator identity {operator} ([identity] operator), but there is no \
         key at {key_path}; refusing to make a new identity (nothing was written). Restore \
         heso-local-data/ from a backup if you can; to replace that key afterwards, run \
         `heso keys rotate` (the old key signs the change, and what it signed stays valid). \
         If the old key is lost for good, retire it by hand: in {config}, under [identity], \
         replace the `operator` line with `retired = [{{ key = \"{operator}\", retired_at = \
         \"YYYY-MM-DDTHH:MM:SSZ\" }}]` (the UTC time it was lost; add to the list if there \
         is one), then run `heso init` again: receipts the old key signed up to retired_at \
         stay this project's, later ones do not"
    )]
    PinnedIdentityMissing {
        /// The policy file.
        config: String,
        /// The pinned key, as did:key.
        operator: String,
        /// Where the key file should be.
        key_path: String,
    },
    /// `[identity] operator` could not be added to an existing `heso.toml`.
    #[error(
        "cannot add the operator identity to {path}: {reason}; add these lines under \
         [identity] yourself:\n{OPERATOR_COMMENT}\noperator = \"{operator}\""
    )]
    PinNotAdded {
        /// The policy file.
        path: String,
        /// The operator key, as did:key.
        operator: String,
        /// What went wrong.
        reason: String,
    },
}

fn write_error(path: &Path, source: std::io::Error) -> InitError {
    InitError::Write {
        path: path.display().to_string(),
        source,
    }
}

/// Initialises (or re-checks) a project in `dir`. An existing key and policy are kept; a
/// new `heso.toml` pins the operator key (`[identity] operator`), and an existing one that
/// pins none gets the line added. Refuses to make a new key where `heso.toml` pins one
/// ([`InitError::PinnedIdentityMissing`]), and when the identity files disagree.
pub fn init_project(
    dir: &Path,
    require_passphrase: bool,
    sources: &PassphraseSources,
) -> Result<InitReport, InitError> {
    let paths = ProjectPaths::at(dir);
    let data_dir = paths.data_dir();
    let config_path = paths.config();
    let key_exists = heso_keystore::operator_key_exists(&data_dir);
    let existing: Option<Config> = if config_path.exists() {
        Some(load_config(&config_path).map_err(InitError::Config)?)
    } else {
        None
    };
    let pinned = existing.as_ref().and_then(|c| c.operator);
    if let (Some(pinned), false) = (pinned, key_exists) {
        return Err(InitError::PinnedIdentityMissing {
            config: shown(&config_path),
            operator: public_key_to_did_key(&pinned),
            key_path: shown(&data_dir.join(KEY_FILE)),
        });
    }
    if !key_exists && sources.key_passphrase.is_none() {
        if sources.production {
            return Err(InitError::PassphraseRequired {
                why: "HESO_ENV=production refuses a dev passphrase",
            });
        }
        if require_passphrase || sources.require_passphrase {
            return Err(InitError::PassphraseRequired {
                why: "--require-passphrase refuses a dev passphrase",
            });
        }
    }

    fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
    let bootstrap = write_if_missing(&dir.join(BOOTSTRAP_FILE), BOOTSTRAP)?;
    let gitignore_added = add_gitignore_line(&dir.join(".gitignore"))?;
    create_private_dir(&data_dir).map_err(|e| write_error(&data_dir, e))?;

    let key_path = data_dir.join(KEY_FILE);
    let (identity, dev_passphrase, public) = if key_exists {
        let retired = existing
            .as_ref()
            .map_or(&[][..], |c| c.retired_operators.as_slice());
        let identity = check_operator(&paths, pinned, retired)?;
        (Step::Kept(key_path), None, identity.key)
    } else {
        let sources = PassphraseSources {
            key_passphrase: sources.key_passphrase.clone(),
            production: sources.production,
            require_passphrase: require_passphrase || sources.require_passphrase,
        };
        let created = heso_keystore::create_operator(&data_dir, &sources)?;
        (
            Step::Wrote(created.key_path),
            created.dev_passphrase_path,
            created.key.public_key(),
        )
    };
    let (policy, operator_pin_added) = match &existing {
        None => (
            write_if_missing(&config_path, &starter_policy(&public, require_passphrase))?,
            false,
        ),
        Some(config) if config.operator.is_some() => (Step::Kept(config_path), false),
        Some(_) => {
            add_operator_pin(&config_path, &public)?;
            (Step::Kept(config_path), true)
        }
    };
    Ok(InitReport {
        root: dir.to_path_buf(),
        bootstrap,
        policy,
        operator_pin_added,
        gitignore_added,
        identity,
        dev_passphrase,
        operator_multibase: public_key_to_multibase(&public),
    })
}

fn write_if_missing(path: &Path, text: &str) -> Result<Step, InitError> {
    // The policy and bootstrap are meant to be read and committed: not private. An
    // existing file (the user's own policy) is never replaced.
    match write_atomic(path, text.as_bytes(), PUBLIC_FILE_MODE, Existing::Keep) {
        Ok(()) => Ok(Step::Wrote(path.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(Step::Kept(path.to_path_buf()))
        }
        Err(e) => Err(write_error(path, e)),
    }
}

/// Adds `[identity] operator = "did:key:…"` (with its comment) to an existing `heso.toml`
/// that pins no operator: under its `[identity]` header, or in a new `[identity]` table at
/// the end. Everything else is kept byte for byte; the result must load and pin `key`
/// before it replaces the file (atomically, with the file's own mode).
fn add_operator_pin(path: &Path, key: &VerifyingKey) -> Result<(), InitError> {
    let did = public_key_to_did_key(key);
    let refused = |reason: String| InitError::PinNotAdded {
        path: shown(path),
        operator: did.clone(),
        reason,
    };
    let text = fs::read_to_string(path).map_err(|e| refused(e.to_string()))?;
    let block = format!("{OPERATOR_COMMENT}\noperator = \"{did}\"\n");
    let mut edited = String::with_capacity(text.len() + block.len() + 16);
    let mut added = false;
    for line in text.split_inclusive('\n') {
        edited.push_str(line);
        if !added && is_identity_header(line) {
            if !line.ends_with('\n') {
                edited.push('\n');
            }
            edited.push_str(&block);
            added = true;
        }
    }
    if !added {
        if !edited.is_empty() && !edited.ends_with('\n') {
            edited.push('\n');
        }
        edited.push_str("\n[identity]\n");
        edited.push_str(&block);
    }
    match parse_config(&edited, &shown(path)) {
        Ok(config) if config.operator == Some(*key) => {}
        Ok(_) => return Err(refused("the edited file does not pin the key".into())),
        Err(e) => return Err(refused(format!("the edited file would not load: {e}"))),
    }
    let mode = file_mode(path);
    write_atomic(path, edited.as_bytes(), mode, Existing::Replace)
        .map_err(|e| refused(e.to_string()))
}

/// True for the line that opens the `[identity]` table (spaces and a comment allowed).
fn is_identity_header(line: &str) -> bool {
    let code = line.split('#').next().unwrap_or_default();
    code.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        == "[identity]"
}

/// The permission bits of an existing file (the public mode when they cannot be read).
fn file_mode(path: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(PUBLIC_FILE_MODE)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        PUBLIC_FILE_MODE
    }
}

/// Adds `heso-local-data/` to `.gitignore` once (creating the file if needed).
fn add_gitignore_line(path: &Path) -> Result<bool, InitError> {
    let existing = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(write_error(path, e)),
    };
    let present = existing.lines().any(|l| {
        let l = l.trim().trim_start_matches('/');
        l == GITIGNORE_LINE || l == DATA_DIR
    });
    if present {
        return Ok(false);
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| write_error(path, e))?;
    let separator = if existing.is_empty() || existing.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    file.write_all(format!("{separator}{GITIGNORE_LINE}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| write_error(path, e))?;
    Ok(true)
}
