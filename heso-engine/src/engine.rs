//! The engine: one open project, its operator key unlocked once, its policy cached.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use heso_chain::{Log, LogOptions};
use heso_keystore::{EnvError, PassphraseSources, UnlockError, UnlockedKey};
use heso_receipt::{SignerPins, VerifyingKey, public_key_to_did_key};
use heso_tlog::SignedCheckpoint;

use crate::checkpoints::{CHECKPOINT_EVERY, CheckpointError, Checkpointer};
use crate::config::{Config, ConfigError, FileStamp, OpenedConfig, open_config, shown};
use crate::identity::{IdentityError, operator_identity};
use crate::project::{DiscoverError, ProjectPaths, discover};
use crate::salts::{SALTS_KEY_CONTEXT, SaltStore};
use crate::sealed_call::{CallSealer, FINGERPRINT_KEY_CONTEXT, SEAL_KEY_CONTEXT};

/// Why a project could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// No project was found.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// `heso.toml` is broken.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A passphrase variable is set to something unusable (not UTF-8).
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The operator key could not be unlocked.
    #[error(transparent)]
    Unlock(#[from] UnlockError),
    /// `heso.toml`, `identity.pub` and the key file do not agree on the operator key.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A file or folder of `heso-local-data/` cannot be used (it is a symbolic link).
    #[error("cannot use {}: {source}", path.display())]
    Files {
        /// The file or folder.
        path: PathBuf,
        /// The refusal to follow a link, or the OS error.
        #[source]
        source: std::io::Error,
    },
    /// The log could not be opened.
    #[error("cannot open the audit log: {0}")]
    Log(#[source] heso_chain::OpenError),
}

/// The policy as last loaded, with the file it came from (kept open) and its stamp.
pub(crate) struct LoadedConfig {
    pub(crate) config: Config,
    file: File,
    stamp: Option<FileStamp>,
    /// `heso.toml` was a symbolic link: stamped through the path (see [`OpenedConfig`]).
    through_link: bool,
    /// A moment at or before which the file was read and found to hold this content.
    confirmed_at: Mutex<SystemTime>,
}

impl LoadedConfig {
    fn new(opened: OpenedConfig, confirmed_at: SystemTime) -> Self {
        Self {
            config: opened.config,
            file: opened.file,
            stamp: opened.stamp,
            through_link: opened.through_link,
            confirmed_at: Mutex::new(confirmed_at),
        }
    }

    /// True when the file at `path` still holds this content. The stamp of the open file,
    /// taken now (after `now`), must be the one it had when read, and the file must still
    /// have its name (a rename over it or a removal leaves it with none, or changes its
    /// change time); then the stamp alone decides once it is settled (see
    /// [`FileStamp::is_settled`]), else the content's hash.
    fn still_current(&self, path: &Path, now: SystemTime) -> bool {
        let stamp = if self.through_link {
            FileStamp::of_path(path)
        } else {
            FileStamp::of_file(&self.file)
        };
        if self.stamp != stamp {
            return false;
        }
        let Some(stamp) = stamp else {
            return false;
        };
        if !stamp.is_linked() {
            return false;
        }
        let mut confirmed = self.confirmed_at.lock().unwrap_or_else(|p| p.into_inner());
        if stamp.is_settled(*confirmed) {
            return true;
        }
        // Written within a timestamp tick of the last read: an edit could keep the stamp.
        match std::fs::read(path) {
            Ok(bytes) if heso_policy::policy_hash(&bytes) == self.config.policy_hash => {
                *confirmed = now;
                true
            }
            _ => false,
        }
    }
}

/// An open project: everything a gated call needs, prepared once per process.
pub struct Engine {
    pub(crate) paths: ProjectPaths,
    pub(crate) operator: Arc<UnlockedKey>,
    pub(crate) log: Log,
    /// Signs the log's checkpoints and keeps them in `heso-local-data/checkpoints/`.
    checkpointer: Arc<Checkpointer>,
    pub(crate) salts: SaltStore,
    /// Seals parked calls' arguments and fingerprints them.
    pub(crate) sealer: CallSealer,
    config: RwLock<Arc<LoadedConfig>>,
    /// A torn tail the log repaired when it was opened, to be reported once.
    pub(crate) repaired_on_open: Option<String>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("root", &self.paths.root)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the project found from `dir` (see [`discover`]), unlocking the operator key
    /// with the passphrase rules (`HESO_KEY_PASSPHRASE`, else the dev file unless
    /// production or `[identity] require_passphrase` refuse it).
    ///
    /// Refuses a project whose `heso-local-data/`, `pending/`, `salts.jsonl` or
    /// `receipts.jsonl` is a symbolic link, and one whose `heso.toml`, `identity.pub` and
    /// key file name different operator keys ([`OpenError::Identity`]).
    pub fn open(dir: Option<&Path>) -> Result<Self, OpenError> {
        let paths = discover(dir)?;
        for path in [
            paths.data_dir(),
            paths.pending_dir(),
            paths.salts(),
            paths.receipts(),
        ] {
            heso_fs::refuse_symlink(&path).map_err(|source| OpenError::Files { path, source })?;
        }
        let now = SystemTime::now();
        let opened = open_config(&paths.config())?;
        let config = &opened.config;
        let sources = PassphraseSources::from_env(config.require_passphrase)?;
        let operator = heso_keystore::unlock_operator(&paths.data_dir(), &sources)?;
        let identity = operator_identity(&paths, config)?;
        if identity.key != operator.public_key() {
            return Err(OpenError::Identity(IdentityError::Mismatch {
                first: "the operator identity files".into(),
                first_key: public_key_to_did_key(&identity.key),
                disagreeing: vec![(
                    format!("the decrypted {}", shown(operator.path())),
                    operator.did_key(),
                )],
                advice: "restore heso-local-data/ from a backup",
            }));
        }
        let (mut log, repaired) = Log::open(
            &paths.data_dir(),
            LogOptions {
                durability: config.durability,
            },
        )
        .map_err(OpenError::Log)?;
        let operator = Arc::new(operator);
        // The log id is the store's session id; a checkpoint every CHECKPOINT_EVERY
        // receipts, signed after the appending call's lock is released.
        let checkpointer = Arc::new(Checkpointer::new(
            &paths,
            Arc::clone(&operator),
            log.session_id(),
        ));
        let hook = Arc::clone(&checkpointer);
        if let Some(every) = std::num::NonZeroU64::new(CHECKPOINT_EVERY) {
            log.set_tree_hook(every, move |head| hook.keep_quietly(head));
        }
        let salts_key = operator.derive_key(SALTS_KEY_CONTEXT);
        let salts = SaltStore::new(&paths.salts(), salts_key.expose_secret());
        let sealer = CallSealer::new(
            operator.derive_key(SEAL_KEY_CONTEXT).expose_secret(),
            operator.derive_key(FINGERPRINT_KEY_CONTEXT).expose_secret(),
        );
        Ok(Self {
            paths,
            operator,
            log,
            checkpointer,
            salts,
            sealer,
            config: RwLock::new(Arc::new(LoadedConfig::new(opened, now))),
            repaired_on_open: repaired.map(|r| r.to_string()),
        })
    }

    /// The project's files.
    pub fn paths(&self) -> &ProjectPaths {
        &self.paths
    }

    /// The operator's public key.
    pub fn operator_key(&self) -> VerifyingKey {
        self.operator.public_key()
    }

    /// A torn log tail repaired when the project was opened, if any.
    pub fn repaired_on_open(&self) -> Option<&str> {
        self.repaired_on_open.as_deref()
    }

    /// The keys verification pins inside this project: the operator, the operator keys
    /// `heso.toml` retired (each for receipts up to its retirement) and the approvers.
    pub fn pins(&self) -> Result<SignerPins, ConfigError> {
        let loaded = self.config()?;
        Ok(crate::pins::project_pins(
            &loaded.config.policy,
            self.operator.public_key(),
            &loaded.config.retired_operators,
        ))
    }

    /// The current configuration, reloaded when `heso.toml` changed: one `fstat` per call
    /// of the file last read, kept open (size, modification and change times, links), plus
    /// a read and hash of the file while it was written less than a timestamp tick before
    /// it was last read, when an edit could leave the stamp as it was. An `fstat` walks no
    /// path: it cost half a `stat` of the file's path here. A broken edit fails closed:
    /// gated calls are refused with the error until the file is fixed; so is an edit that
    /// pins another operator key than the one this process signs with.
    pub(crate) fn config(&self) -> Result<Arc<LoadedConfig>, ConfigError> {
        let path = self.paths.config();
        let now = SystemTime::now();
        {
            let current = self.config.read().unwrap_or_else(|p| p.into_inner());
            if current.still_current(&path, now) {
                return Ok(Arc::clone(&current));
            }
        }
        let opened = open_config(&path)?;
        let config = &opened.config;
        if let Some(pinned) = config.operator
            && pinned != self.operator.public_key()
        {
            return Err(ConfigError::OperatorChanged {
                file: shown(&path),
                pinned: public_key_to_did_key(&pinned),
                signing: self.operator.did_key(),
            });
        }
        let loaded = Arc::new(LoadedConfig::new(opened, now));
        let mut current = self.config.write().unwrap_or_else(|p| p.into_inner());
        *current = Arc::clone(&loaded);
        Ok(loaded)
    }
}

impl Engine {
    /// The log's origin: `heso.dev/log/<operator z6Mk…>/<log id>`, the log id being the
    /// store's session id.
    pub fn origin(&self) -> Result<&str, CheckpointError> {
        self.checkpointer.origin()
    }

    /// A checkpoint of the whole log as it is now, signed by the operator key, and kept in
    /// `heso-local-data/checkpoints/` (unless that tree head is kept there already).
    /// O(log n): the log keeps its tree's right edge.
    pub fn checkpoint(&self) -> Result<SignedCheckpoint, CheckpointError> {
        let head = self.log.tree_head()?;
        let signed = self.checkpointer.sign(&head)?;
        let path = self.checkpointer.file_of(&head);
        if !path.is_file() {
            self.checkpointer.store(&signed, &path)?;
        }
        Ok(signed)
    }

    /// The log's tree head now and a source of its leaf hashes (the log's sidecars), for
    /// inclusion and consistency proofs of any tree up to that size.
    pub fn tree_snapshot(
        &self,
    ) -> Result<(heso_chain::TreeHead, heso_chain::LeafSource), heso_chain::TreeError> {
        self.log.tree_snapshot()
    }
}

/// Closing the project keeps a checkpoint of the log as it is (unless one of that tree
/// head is kept already, or the log is empty), best effort: a failure is one line on
/// stderr, never a panic. A log whose receipts do not form a tree (`heso log verify`
/// reports it) gets no checkpoint and no warning here.
impl Drop for Engine {
    fn drop(&mut self) {
        match self.log.tree_head() {
            Ok(head) if head.size > 0 => {
                if let Err(e) = self.checkpointer.keep(&head) {
                    crate::checkpoints::warn(&format!(
                        "could not keep a checkpoint of the log when closing the project: {e}"
                    ));
                }
            }
            Ok(_)
            | Err(heso_chain::TreeError::Damaged { .. } | heso_chain::TreeError::Disabled) => {}
            Err(e) => crate::checkpoints::warn(&format!(
                "could not keep a checkpoint of the log when closing the project: {e}"
            )),
        }
    }
}
