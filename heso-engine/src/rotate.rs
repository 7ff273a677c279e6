//! `heso keys rotate`: a new operator key, with the history kept verifiable.
//!
//! The steps, each safe to be interrupted after:
//! 1. the old key is unlocked (the project opened as any gated call opens it), and no
//!    parked action may be waiting (its receipt and sealed arguments are bound to the old
//!    key);
//! 2. the new key is staged as `identity.key.new` (passphrase rules of `heso init`);
//! 3. the old key signs a receipt naming the new one (`account_change`, tool
//!    `heso.keys.rotate`, fields `{new_operator}`), appended under the log's lock, so the
//!    chain goes on;
//! 4. the salts of earlier commitments are copied, sealed under the new key;
//! 5. `heso.toml` pins the new key and keeps the old one in `[identity] retired` with the
//!    time of this step: verification trusts the old key for receipts captured up to it;
//! 6. the new key replaces `identity.key`, and `identity.pub` follows.
//!
//! Before step 5 nothing that is trusted has changed (a rerun starts over, a new staged key
//! replacing the first). After it, opening the project is refused, naming the interrupted
//! rotation, until `heso keys rotate` is run again, which finishes step 6.

use std::path::{Path, PathBuf};

use heso_keystore::{
    CreateError, EnvError, InstallError, PassphraseSources, ReadPublicError,
    install_staged_operator, read_operator_key_header, read_operator_public, read_staged_operator,
    stage_operator_key,
};
use heso_receipt::{
    Action, Decision, Draft, PolicyRecord, Verb, VerifyingKey, public_key_to_did_key,
};
use serde_json::{Map, Value};

use crate::approvals::{ApprovalError, ApprovalState};
use crate::clock::now_rfc3339;
use crate::config::{Config, ConfigError, load_config, shown};
use crate::config_edit::{ConfigEditError, rotate_operator_pin};
use crate::engine::{Engine, OpenError};
use crate::gate::GateError;
use crate::project::{DiscoverError, ProjectPaths, discover};
use crate::salts::{SALTS_KEY_CONTEXT, SaltStoreError};

/// The rotation receipt's tool name.
pub const ROTATION_TOOL: &str = "heso.keys.rotate";

/// The lock one rotation at a time holds, in the data directory.
const ROTATION_LOCK: &str = "rotate.lock";

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The retired key.
    pub old: VerifyingKey,
    /// The key that signs from now on.
    pub new: VerifyingKey,
    /// When the old key retired (`[identity] retired`), RFC 3339 UTC.
    pub retired_at: String,
    /// The action_hash of the receipt the old key signed naming the new one; `None` when
    /// this run only finished a rotation interrupted after `heso.toml` was edited (the
    /// receipt is in the log already).
    pub receipt: Option<String>,
    /// How many salts of earlier commitments were copied under the new key.
    pub salts_resealed: usize,
    /// The dev passphrase file the new key opens with, when it uses one.
    pub dev_passphrase: Option<PathBuf>,
}

/// Why the operator key was not rotated. Unless the message says to run the rotation
/// again, nothing trusted changed: `heso.toml` and the key files are as they were.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RotateError {
    /// No project was found.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// `heso.toml` is broken.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A passphrase variable is unusable.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The project could not be opened with the old key (it must unlock first).
    #[error("{0} (the key was not rotated)")]
    Open(#[from] OpenError),
    /// `heso.toml` pins no operator key (a project made by an older heso).
    #[error(
        "{config} pins no operator key ([identity] operator): run `heso init` to pin the \
         current one, commit it, then rotate (nothing was changed)"
    )]
    NotPinned {
        /// The policy file.
        config: String,
    },
    /// Actions parked for approval would be stranded: their receipts and sealed arguments
    /// are bound to the old key.
    #[error(
        "{} parked action(s) wait for a decision ({}): approve, reject or let them expire \
         first (`heso pending`), then rotate (nothing was changed)",
        ids.len(),
        ids.join(", ")
    )]
    PendingActions {
        /// Their ids.
        ids: Vec<String>,
    },
    /// The parked actions could not be listed.
    #[error("cannot check for parked actions: {0} (nothing was changed)")]
    Approvals(#[source] ApprovalError),
    /// Another `heso keys rotate` holds the lock.
    #[error("cannot lock {}: {source} (is another `heso keys rotate` running?)", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The new key could not be made.
    #[error("cannot make the new operator key: {0} (nothing trusted was changed)")]
    NewKey(#[source] CreateError),
    /// The rotation receipt could not be appended.
    #[error("cannot append the rotation receipt: {0} (nothing trusted was changed)")]
    Receipt(#[source] GateError),
    /// The salts could not be copied under the new key.
    #[error(
        "cannot copy the commitment salts under the new key: {0} (nothing trusted was \
         changed; the log holds a rotation receipt naming a key that was not pinned)"
    )]
    Salts(#[source] SaltStoreError),
    /// `heso.toml` could not be edited.
    #[error(
        "cannot pin the new key in heso.toml: {0} (nothing trusted was changed; the log \
         holds a rotation receipt naming a key that was not pinned)"
    )]
    Pin(#[source] ConfigEditError),
    /// The key files could not be read.
    #[error(transparent)]
    ReadKey(#[from] ReadPublicError),
    /// The new key could not be put in place after `heso.toml` pinned it.
    #[error(
        "heso.toml pins the new key, but it could not be put in place: {0}; run \
         `heso keys rotate` again to finish"
    )]
    Install(#[source] InstallError),
}

/// Rotates the operator key of the project found from `dir` (see [`discover`]), or
/// finishes a rotation interrupted after `heso.toml` was edited. See the module notes for
/// the steps. The old key unlocks, and the new one is sealed, with the passphrase rules of
/// the project (`HESO_KEY_PASSPHRASE`, else the dev passphrase file unless
/// `HESO_ENV=production` or `[identity] require_passphrase` refuse it).
pub fn rotate_operator(dir: Option<&Path>) -> Result<Rotation, RotateError> {
    let paths = discover(dir)?;
    let _lock = lock_rotation(&paths)?;
    let config = load_config(&paths.config())?;
    if let Some(finished) = finish_interrupted(&paths, &config)? {
        return Ok(finished);
    }
    let Some(pinned) = config.operator else {
        return Err(RotateError::NotPinned {
            config: shown(&paths.config()),
        });
    };
    let engine = Engine::open(Some(&paths.root))?;
    // Engine::open checked that the key files agree with heso.toml's pin (`pinned`);
    // rotate_operator_pin checks again that the file still pins this key.
    let old = engine.operator_key();
    let _ = pinned;

    let (items, _) = engine.pending().map_err(RotateError::Approvals)?;
    let waiting: Vec<String> = items
        .into_iter()
        .filter(|a| {
            matches!(
                a.state,
                ApprovalState::Pending | ApprovalState::Approved { .. }
            )
        })
        .map(|a| a.id)
        .collect();
    if !waiting.is_empty() {
        return Err(RotateError::PendingActions { ids: waiting });
    }

    let sources = PassphraseSources::from_env(config.require_passphrase)?;
    let data_dir = paths.data_dir();
    let staged = stage_operator_key(&data_dir, &sources).map_err(RotateError::NewKey)?;
    let new = staged.key.public_key();

    let (placed, _) = engine
        .append_l0(rotation_draft(&new))
        .map_err(RotateError::Receipt)?;

    let salts_resealed = engine
        .salts
        .reseal_under(staged.key.derive_key(SALTS_KEY_CONTEXT).expose_secret())
        .map_err(RotateError::Salts)?;

    // At or after the receipt's captured_at (both whole seconds, taken in this order), so
    // the old key's last receipt stays valid.
    let retired_at = now_rfc3339();
    rotate_operator_pin(&paths.config(), &old, &new, &retired_at).map_err(RotateError::Pin)?;
    drop(engine);
    install_staged_operator(&data_dir, &new).map_err(RotateError::Install)?;
    Ok(Rotation {
        old,
        new,
        retired_at,
        receipt: Some(placed.action_hash),
        salts_resealed,
        dev_passphrase: staged.dev_passphrase_path,
    })
}

/// The receipt the old key signs: an `account_change` naming the new key.
fn rotation_draft(new: &VerifyingKey) -> Draft {
    let mut fields = Map::new();
    fields.insert(
        "new_operator".into(),
        Value::String(public_key_to_did_key(new)),
    );
    Draft {
        captured_at: now_rfc3339(),
        action: Action {
            verb: Verb::AccountChange,
            tool_name: ROTATION_TOOL.into(),
            workflow: "default".into(),
            account: "default".into(),
            fields,
            target_host: None,
            result_hash: None,
            error: None,
        },
        policy: PolicyRecord {
            rule_id: ROTATION_TOOL.into(),
            rule_display: "operator key rotated (`heso keys rotate`): this key retires and \
                           the key in new_operator signs from now on"
                .into(),
            matched_conditions: Vec::new(),
            decision_path: Decision::Allow,
        },
        redaction: None,
        chain: None,
    }
}

/// A rotation interrupted after `heso.toml` was edited, finished: `heso.toml` pins a key
/// that is staged (or already in `identity.key`), and the key files still name a key it
/// lists as retired. `None` when there is nothing to finish.
fn finish_interrupted(
    paths: &ProjectPaths,
    config: &Config,
) -> Result<Option<Rotation>, RotateError> {
    let Some(pinned) = config.operator else {
        return Ok(None);
    };
    let data_dir = paths.data_dir();
    if !heso_keystore::operator_key_exists(&data_dir) {
        return Ok(None);
    }
    let in_key_file = read_operator_key_header(&data_dir)?.2;
    let in_public_file = read_operator_public(&data_dir)?;
    let staged = read_staged_operator(&data_dir)?;
    let retired = |key: &VerifyingKey| config.retired_operators.iter().find(|r| r.key == *key);
    let old = if in_key_file != pinned && staged == Some(pinned) {
        retired(&in_key_file)
    } else if in_key_file == pinned && in_public_file != pinned {
        retired(&in_public_file)
    } else {
        None
    };
    let Some(old) = old else {
        return Ok(None);
    };
    install_staged_operator(&data_dir, &pinned).map_err(RotateError::Install)?;
    Ok(Some(Rotation {
        old: old.key,
        new: pinned,
        retired_at: old.retired_at.clone(),
        receipt: None,
        salts_resealed: 0,
        dev_passphrase: None,
    }))
}

/// Holds the rotation lock until dropped; a second rotation is refused, not queued.
struct RotationLock(std::fs::File);

impl Drop for RotationLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The rotation lock, `None` when there is no data folder to hold it (opening the project
/// then says what is missing).
fn lock_rotation(paths: &ProjectPaths) -> Result<Option<RotationLock>, RotateError> {
    let data_dir = paths.data_dir();
    if std::fs::symlink_metadata(&data_dir).is_err() {
        return Ok(None);
    }
    let path = data_dir.join(ROTATION_LOCK);
    let lock_error = |source| RotateError::Lock {
        path: path.clone(),
        source,
    };
    heso_fs::refuse_symlink(&data_dir).map_err(lock_error)?;
    let file = heso_fs::open_no_follow(
        &path,
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
    )
    .map_err(lock_error)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(RotationLock(file))),
        Err(std::fs::TryLockError::WouldBlock) => Err(lock_error(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            "another process holds it",
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(lock_error(e)),
    }
}
