//! A heso project as a host ships it: its log, its log id, its operator key (unlocked to
//! sign checkpoints) and the approvers its `heso.toml` names; and the store URL it uses.

use std::path::{Path, PathBuf};

use heso_engine::{Config, ProjectPaths, discover, load_config, operator_identity};
use heso_keystore::PassphraseSources;
use heso_receipt::{VerifyingKey, public_key_to_did_key};

use crate::push::{RegisteredApprover, ShipSource};

/// The environment variable naming the store, over `[store] url`.
pub const STORE_URL_ENV: &str = "HESO_STORE_URL";

/// Why a project cannot be shipped or checked.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// No project, or a broken `heso.toml`, or key files that disagree.
    #[error("{0}")]
    Project(String),
    /// The operator key could not be unlocked.
    #[error("{0}")]
    Unlock(String),
    /// The project has no log yet (no `session` file): nothing to ship.
    #[error("{} has no log yet (run `heso demo` or a gated call first)", path.display())]
    NoLog {
        /// The data directory.
        path: PathBuf,
    },
    /// The session file is not a log id.
    #[error("{} does not hold a log id: {reason}", path.display())]
    BadLogId {
        /// The session file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No store URL was given.
    #[error(
        "no store: give its URL, set {STORE_URL_ENV}, or add [store] url = \"postgresql://USER@HOST/DB\" to heso.toml"
    )]
    NoStore,
}

/// A project opened for reading its log against the store (no passphrase needed).
#[derive(Debug, Clone)]
pub struct ProjectLog {
    /// The project's files.
    pub paths: ProjectPaths,
    /// `heso.toml`.
    pub config_store_url: Option<String>,
    /// The pinned operator key.
    pub operator: VerifyingKey,
    /// The log id (session id), when the log exists.
    pub log_id: Option<String>,
}

fn project(root: Option<&Path>) -> Result<(ProjectPaths, Config, VerifyingKey), ProjectError> {
    let paths = discover(root).map_err(|e| ProjectError::Project(e.to_string()))?;
    let config = load_config(&paths.config()).map_err(|e| ProjectError::Project(e.to_string()))?;
    let identity =
        operator_identity(&paths, &config).map_err(|e| ProjectError::Project(e.to_string()))?;
    Ok((paths, config, identity.key))
}

/// Opens the project found from `root` (as `heso` finds it) to compare its log with the
/// store: the operator key `heso.toml` pins, and the log id.
pub fn project_log(root: Option<&Path>) -> Result<ProjectLog, ProjectError> {
    let (paths, config, operator) = project(root)?;
    let log_id = read_log_id(&paths)?;
    Ok(ProjectLog {
        paths,
        config_store_url: config.store_url,
        operator,
        log_id,
    })
}

/// The log id of the project's log: its session id (`heso-local-data/session`).
fn read_log_id(paths: &ProjectPaths) -> Result<Option<String>, ProjectError> {
    let path = paths.data_dir().join(heso_chain::SESSION_FILE);
    let bytes = match heso_fs::read_no_follow(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ProjectError::BadLogId {
                path,
                reason: e.to_string(),
            });
        }
    };
    let id = String::from_utf8_lossy(&bytes).trim().to_owned();
    if let Err(e) = heso_tlog::validate_origin(&format!("{}x/{id}", heso_tlog::ORIGIN_PREFIX)) {
        return Err(ProjectError::BadLogId {
            path,
            reason: e.to_string(),
        });
    }
    Ok(Some(id))
}

/// Opens the project found from `root` for shipping: unlocks the operator key with the
/// usual passphrase rules (it signs the checkpoints of what is pushed).
pub fn ship_source(root: Option<&Path>) -> Result<(ShipSource, Option<String>), ProjectError> {
    let (paths, config, pinned) = project(root)?;
    let log_id = read_log_id(&paths)?.ok_or_else(|| ProjectError::NoLog {
        path: paths.data_dir(),
    })?;
    let sources = PassphraseSources::from_env(config.require_passphrase)
        .map_err(|e| ProjectError::Unlock(e.to_string()))?;
    let key = heso_keystore::unlock_operator(&paths.data_dir(), &sources)
        .map_err(|e| ProjectError::Unlock(e.to_string()))?;
    if key.public_key() != pinned {
        return Err(ProjectError::Project(format!(
            "heso.toml pins the operator {}, but the key file holds {}",
            public_key_to_did_key(&pinned),
            key.did_key()
        )));
    }
    let mut approvers: Vec<RegisteredApprover> = config
        .policy
        .approvers()
        .map(|(name, key)| RegisteredApprover {
            name: name.to_owned(),
            key,
            until: None,
        })
        .collect();
    approvers.extend(
        config
            .policy
            .retired_approvers()
            .map(|(name, retired)| RegisteredApprover {
                name: name.to_owned(),
                key: retired.key,
                until: Some(retired.retired_at.clone()),
            }),
    );
    let source = ShipSource {
        log_path: paths.receipts(),
        log_id,
        operator: key.signing_key().clone(),
        approvers,
        host_name: host_name(),
    };
    Ok((source, config.store_url))
}

/// The store URL: the one given, else `HESO_STORE_URL`, else `[store] url`.
pub fn store_url(given: Option<&str>, config_url: Option<&str>) -> Result<String, ProjectError> {
    let from_env = std::env::var(STORE_URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty());
    given
        .filter(|u| !u.trim().is_empty())
        .map(str::to_owned)
        .or(from_env)
        .or_else(|| config_url.map(str::to_owned))
        .ok_or(ProjectError::NoStore)
}

/// This machine's host name (`HESO_HOST_NAME` overrides it).
pub fn host_name() -> String {
    if let Ok(name) = std::env::var("HESO_HOST_NAME")
        && !name.trim().is_empty()
    {
        return name;
    }
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy().into_owned();
    if name.is_empty() {
        "unknown".to_owned()
    } else {
        name
    }
}
