//! `heso.toml` as the engine reads it: the policy through heso-policy, and the two tables
//! the engine owns, `[identity]` and `[log]`, parsed strictly.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use heso_chain::Durability;
use heso_policy::Policy;
use serde::Deserialize;

/// Everything `heso.toml` configures.
#[derive(Debug)]
pub struct Config {
    /// The policy.
    pub policy: Policy,
    /// `[identity] require_passphrase`.
    pub require_passphrase: bool,
    /// `[log] durability`.
    pub durability: Durability,
    /// Lowercase hex BLAKE3 of the file's bytes.
    pub policy_hash: String,
}

/// Why `heso.toml` could not be used. The message names file:line:column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// The file is not UTF-8 text; the position is that of the first bad byte.
    #[error("{file}:{line}:{column}: not valid UTF-8; heso.toml must be UTF-8 text")]
    NotUtf8 {
        /// The file name as shown.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The policy tables are wrong (the message has file:line:column).
    #[error("{0}")]
    Policy(String),
    /// `[identity]` or `[log]` is wrong.
    #[error("{file}:{line}:{column}: {message}")]
    Table {
        /// The file name as shown.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize, Default)]
struct EngineTables {
    #[serde(default)]
    identity: Option<IdentityTable>,
    #[serde(default)]
    log: Option<LogTable>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct IdentityTable {
    #[serde(default)]
    require_passphrase: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LogTable {
    #[serde(default)]
    durability: DurabilitySetting,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum DurabilitySetting {
    #[default]
    Fsync,
    Os,
}

/// Parses `heso.toml` text. `shown_name` is how errors name the file.
pub fn parse_config(text: &str, shown_name: &str) -> Result<Config, ConfigError> {
    let policy = Policy::parse(text, shown_name).map_err(|e| ConfigError::Policy(e.to_string()))?;
    let tables: EngineTables = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| line_column(text, s.start))
            .unwrap_or((1, 1));
        ConfigError::Table {
            file: shown_name.to_owned(),
            line,
            column,
            message: e.message().trim().to_owned(),
        }
    })?;
    let durability = match tables.log.unwrap_or_default().durability {
        DurabilitySetting::Fsync => Durability::Fsync,
        DurabilitySetting::Os => Durability::Os,
    };
    Ok(Config {
        policy,
        require_passphrase: tables.identity.unwrap_or_default().require_passphrase,
        durability,
        policy_hash: heso_policy::policy_hash(text.as_bytes()),
    })
}

/// Reads and parses a `heso.toml` file.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(e) => {
            let good = bytes.get(..e.valid_up_to()).unwrap_or(&[]);
            let (line, column) = line_column(&String::from_utf8_lossy(good), good.len());
            return Err(ConfigError::NotUtf8 {
                file: shown(path),
                line,
                column,
            });
        }
    };
    parse_config(text, &shown(path))
}

/// How errors name a config file: relative to the working directory when inside it.
pub(crate) fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A cheap fingerprint of a file (length, modification time, inode) to notice changes
/// without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileStamp {
    pub(crate) fn of(path: &PathBuf) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        })
    }
}
