//! Edits of `heso.toml` that commands make for the user (adding and retiring approvers),
//! keeping the file's comments, order and formatting (`toml_edit`). Every edit is checked
//! by parsing the result as the engine would before it replaces the file atomically, so
//! an edit never leaves a broken policy behind.

use std::path::Path;

use heso_fs::{Existing, PUBLIC_FILE_MODE, write_atomic};
use toml_edit::{Array, DocumentMut, Item, Table, value};

use crate::config::{ConfigError, parse_config};

/// Why `heso.toml` could not be edited. The file is unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigEditError {
    /// Reading or writing the file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// read or write.
        action: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML (fix it first).
    #[error("{path} is not valid TOML: {reason}")]
    NotToml {
        /// The file.
        path: String,
        /// The parser's message.
        reason: String,
    },
    /// The file as edited would not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The edit does not apply (a name taken, an approver missing).
    #[error("{0}")]
    Refused(String),
}

fn read(path: &Path) -> Result<DocumentMut, ConfigEditError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigEditError::Io {
        action: "read",
        path: path.display().to_string(),
        source,
    })?;
    text.parse::<DocumentMut>()
        .map_err(|e| ConfigEditError::NotToml {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

fn write(path: &Path, document: &DocumentMut) -> Result<(), ConfigEditError> {
    let text = document.to_string();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "heso.toml".into());
    parse_config(&text, &name)?;
    write_atomic(path, text.as_bytes(), PUBLIC_FILE_MODE, Existing::Replace).map_err(|source| {
        ConfigEditError::Io {
            action: "write",
            path: path.display().to_string(),
            source,
        }
    })
}

/// The `[approvers]` table, created (as a parent of `[approvers.NAME]` tables) if absent.
fn approvers_table(document: &mut DocumentMut) -> Result<&mut Table, ConfigEditError> {
    let item = document.entry("approvers").or_insert_with(|| {
        let mut table = Table::new();
        table.set_implicit(true);
        Item::Table(table)
    });
    item.as_table_mut()
        .ok_or_else(|| ConfigEditError::Refused("`approvers` in heso.toml is not a table".into()))
}

/// Adds `[approvers.NAME]` with `key`, and when `make_default` names them in
/// `[defaults] approvers` too. Refuses a name already there.
pub fn add_approver(
    config: &Path,
    name: &str,
    did_key: &str,
    make_default: bool,
) -> Result<(), ConfigEditError> {
    let mut document = read(config)?;
    let approvers = approvers_table(&mut document)?;
    if approvers.contains_key(name) {
        return Err(ConfigEditError::Refused(format!(
            "heso.toml already has [approvers.{name}]; choose another name, or retire that one first (`heso keys retire-approver {name}`)"
        )));
    }
    let mut entry = Table::new();
    entry.insert("key", value(did_key));
    approvers.insert(name, Item::Table(entry));
    if make_default {
        let defaults = document
            .entry("defaults")
            .or_insert_with(|| Item::Table(Table::new()))
            .as_table_mut()
            .ok_or_else(|| {
                ConfigEditError::Refused("`defaults` in heso.toml is not a table".into())
            })?;
        let list = defaults
            .entry("approvers")
            .or_insert_with(|| value(Array::new()))
            .as_array_mut()
            .ok_or_else(|| {
                ConfigEditError::Refused("[defaults] approvers in heso.toml is not a list".into())
            })?;
        if !list.iter().any(|v| v.as_str() == Some(name)) {
            list.push(name);
        }
    }
    write(config, &document)
}

/// Marks `[approvers.NAME]` retired at `retired_at` (RFC 3339 UTC): they decide nothing
/// from now on, and what they signed before stays verifiable.
pub fn retire_approver(config: &Path, name: &str, retired_at: &str) -> Result<(), ConfigEditError> {
    let mut document = read(config)?;
    let approvers = approvers_table(&mut document)?;
    let entry = approvers
        .get_mut(name)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| ConfigEditError::Refused(format!("heso.toml has no [approvers.{name}]")))?;
    if entry.contains_key("retired_at") {
        return Err(ConfigEditError::Refused(format!(
            "approver {name} is already retired"
        )));
    }
    entry.insert("retired_at", value(retired_at));
    write(config, &document)
}
