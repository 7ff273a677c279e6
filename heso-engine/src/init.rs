//! `heso init`: a project folder with a policy, an identity and a gitignored data folder.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use heso_keystore::{CreateError, PassphraseSources, ReadPublicError};
use heso_receipt::public_key_to_multibase;

use crate::project::{CONFIG_FILE, DATA_DIR, ProjectPaths};
use crate::templates::{BOOTSTRAP, GITIGNORE_LINE, STARTER_POLICY};
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
    /// `heso.toml`.
    pub policy: Step,
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
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// Creating the key failed.
    #[error(transparent)]
    Key(#[from] CreateError),
    /// The existing key's public half could not be read.
    #[error(transparent)]
    ReadPublic(#[from] ReadPublicError),
}

fn write_error(path: &Path, e: impl std::fmt::Display) -> InitError {
    InitError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Initialises (or re-checks) a project in `dir`. An existing key and policy are kept.
pub fn init_project(
    dir: &Path,
    require_passphrase: bool,
    sources: &PassphraseSources,
) -> Result<InitReport, InitError> {
    let paths = ProjectPaths::at(dir);
    let data_dir = paths.data_dir();
    let key_exists = heso_keystore::operator_key_exists(&data_dir);
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
    let policy_text = if require_passphrase {
        STARTER_POLICY.replace("require_passphrase = false", "require_passphrase = true")
    } else {
        STARTER_POLICY.to_owned()
    };
    let policy = write_if_missing(&dir.join(CONFIG_FILE), &policy_text)?;
    let gitignore_added = add_gitignore_line(&dir.join(".gitignore"))?;
    create_private_dir(&data_dir).map_err(|e| write_error(&data_dir, e))?;

    let key_path = data_dir.join(heso_keystore::KEY_FILE);
    let (identity, dev_passphrase, public) = if key_exists {
        let public = heso_keystore::read_operator_public(&data_dir)?;
        (Step::Kept(key_path), None, public)
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
    Ok(InitReport {
        root: dir.to_path_buf(),
        bootstrap,
        policy,
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
