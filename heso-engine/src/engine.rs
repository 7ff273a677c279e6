//! The engine: one open project, its operator key unlocked once, its policy cached.

use std::path::Path;
use std::sync::{Arc, RwLock};

use heso_chain::{Log, LogOptions};
use heso_keystore::{EnvError, PassphraseSources, UnlockError, UnlockedKey};
use heso_receipt::{SignerPins, VerifyingKey};

use crate::config::{Config, ConfigError, FileStamp, load_config};
use crate::project::{DiscoverError, ProjectPaths, discover};
use crate::salts::{SALTS_KEY_CONTEXT, SaltStore};

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
    /// The log could not be opened.
    #[error("cannot open the audit log: {0}")]
    Log(String),
}

/// The policy as last loaded, with the stamp of the file it came from.
pub(crate) struct LoadedConfig {
    pub(crate) config: Config,
    stamp: Option<FileStamp>,
}

/// An open project: everything a gated call needs, prepared once per process.
pub struct Engine {
    pub(crate) paths: ProjectPaths,
    pub(crate) operator: UnlockedKey,
    pub(crate) log: Log,
    pub(crate) salts: SaltStore,
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
    pub fn open(dir: Option<&Path>) -> Result<Self, OpenError> {
        let paths = discover(dir)?;
        let stamp = FileStamp::of(&paths.config());
        let config = load_config(&paths.config())?;
        let sources = PassphraseSources::from_env(config.require_passphrase)?;
        let operator = heso_keystore::unlock_operator(&paths.data_dir(), &sources)?;
        let (log, repaired) = Log::open(
            &paths.data_dir(),
            LogOptions {
                durability: config.durability,
            },
        )
        .map_err(|e| OpenError::Log(e.to_string()))?;
        let salts_key = operator.derive_key(SALTS_KEY_CONTEXT);
        let salts = SaltStore::new(&paths.salts(), salts_key.expose_secret());
        Ok(Self {
            paths,
            operator,
            log,
            salts,
            config: RwLock::new(Arc::new(LoadedConfig { config, stamp })),
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

    /// The keys verification pins inside this project: the operator and the approvers.
    pub fn pins(&self) -> Result<SignerPins, ConfigError> {
        let loaded = self.config()?;
        let mut keys = vec![self.operator.public_key()];
        keys.extend(loaded.config.policy.approvers().map(|(_, key)| key));
        Ok(SignerPins::Only(keys))
    }

    /// The current configuration, reloaded when `heso.toml` changed (checked with one
    /// `stat`, never by re-reading an unchanged file). A broken edit fails closed: gated
    /// calls are refused with the error until the file is fixed.
    pub(crate) fn config(&self) -> Result<Arc<LoadedConfig>, ConfigError> {
        let stamp = FileStamp::of(&self.paths.config());
        {
            let current = self.config.read().unwrap_or_else(|p| p.into_inner());
            if current.stamp == stamp {
                return Ok(Arc::clone(&current));
            }
        }
        let config = load_config(&self.paths.config())?;
        let loaded = Arc::new(LoadedConfig { config, stamp });
        let mut current = self.config.write().unwrap_or_else(|p| p.into_inner());
        *current = Arc::clone(&loaded);
        Ok(loaded)
    }
}
