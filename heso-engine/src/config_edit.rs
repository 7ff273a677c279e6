//! Edits of `heso.toml` that commands make for the user (adding and retiring approvers,
//! pinning a rotated operator key),
//! keeping the file's comments, order and formatting (`toml_edit`). Every edit is checked
//! by parsing the result as the engine would before it replaces the file atomically, so
//! an edit never leaves a broken policy behind.

use std::path::Path;

use heso_fs::{Existing, PUBLIC_FILE_MODE, write_atomic};
use heso_receipt::{VerifyingKey, public_key_to_did_key};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, value};

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
    #[error("{path} is not valid TOML: {source}")]
    NotToml {
        /// The file.
        path: String,
        /// The parser's error (its message names the line and column).
        #[source]
        source: toml_edit::TomlError,
    },
    /// The file as edited would not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `approvers` is there but is not a table of `[approvers.NAME]` tables.
    #[error("`approvers` in heso.toml is not a table")]
    ApproversNotTable,
    /// `[approvers.NAME]` is there already.
    #[error(
        "heso.toml already has [approvers.{name}]; choose another name, or retire that one first (`heso keys retire-approver {name}`)"
    )]
    ApproverExists {
        /// The approver's name.
        name: String,
    },
    /// `defaults` is there but is not a table.
    #[error("`defaults` in heso.toml is not a table")]
    DefaultsNotTable,
    /// `[defaults] approvers` is there but is not a list of names.
    #[error("[defaults] approvers in heso.toml is not a list")]
    DefaultApproversNotList,
    /// No `[approvers.NAME]` to retire.
    #[error("heso.toml has no [approvers.{name}]")]
    NoSuchApprover {
        /// The approver's name.
        name: String,
    },
    /// `[approvers.NAME]` has a `retired_at` already.
    #[error("approver {name} is already retired")]
    AlreadyRetired {
        /// The approver's name.
        name: String,
    },
    /// No `[identity]` table, so no operator is pinned to rotate.
    #[error("heso.toml has no [identity] table pinning the operator; run `heso init` first")]
    NoIdentity,
    /// `[identity]` has no `operator`, so the key being rotated is not the one pinned.
    #[error(
        "heso.toml pins the operator (no [identity] operator), not the key being rotated ({rotating}); nothing was changed"
    )]
    OperatorNotPinned {
        /// The key being rotated, did:key.
        rotating: String,
    },
    /// `[identity] operator` pins another key than the one being rotated.
    #[error(
        "heso.toml pins the operator {pinned}, not the key being rotated ({rotating}); nothing was changed"
    )]
    OtherOperatorPinned {
        /// What `[identity] operator` holds (trimmed).
        pinned: String,
        /// The key being rotated, did:key.
        rotating: String,
    },
    /// `[identity] retired` is there but is not a list.
    #[error("[identity] retired in heso.toml is not a list")]
    RetiredNotList,
}

fn read(path: &Path) -> Result<DocumentMut, ConfigEditError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigEditError::Io {
        action: "read",
        path: path.display().to_string(),
        source,
    })?;
    text.parse::<DocumentMut>()
        .map_err(|source| ConfigEditError::NotToml {
            path: path.display().to_string(),
            source,
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
        .ok_or(ConfigEditError::ApproversNotTable)
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
        return Err(ConfigEditError::ApproverExists {
            name: name.to_owned(),
        });
    }
    let mut entry = Table::new();
    entry.insert("key", value(did_key));
    approvers.insert(name, Item::Table(entry));
    if make_default {
        let defaults = document
            .entry("defaults")
            .or_insert_with(|| Item::Table(Table::new()))
            .as_table_mut()
            .ok_or(ConfigEditError::DefaultsNotTable)?;
        let list = defaults
            .entry("approvers")
            .or_insert_with(|| value(Array::new()))
            .as_array_mut()
            .ok_or(ConfigEditError::DefaultApproversNotList)?;
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
        .ok_or_else(|| ConfigEditError::NoSuchApprover {
            name: name.to_owned(),
        })?;
    if entry.contains_key("retired_at") {
        return Err(ConfigEditError::AlreadyRetired {
            name: name.to_owned(),
        });
    }
    entry.insert("retired_at", value(retired_at));
    write(config, &document)
}

/// The comment written above `[identity] retired` when the edit creates it.
const RETIRED_COMMENT: &str = "# Former operator keys (`heso keys rotate`): each is trusted only for receipts\n\
# captured up to its retired_at.\n";

/// Pins `new` as the operator in `[identity] operator` and keeps `old` in
/// `[identity] retired` with `retired_at` (RFC 3339 UTC), in one write: verification then
/// trusts `old` for receipts captured up to `retired_at`, and `new` from now on. Refuses
/// unless the file pins `old` now.
pub fn rotate_operator_pin(
    config: &Path,
    old: &VerifyingKey,
    new: &VerifyingKey,
    retired_at: &str,
) -> Result<(), ConfigEditError> {
    let mut document = read(config)?;
    let (old_did, new_did) = (public_key_to_did_key(old), public_key_to_did_key(new));
    let identity = document
        .get_mut("identity")
        .and_then(Item::as_table_like_mut)
        .ok_or(ConfigEditError::NoIdentity)?;
    let pinned = identity
        .get("operator")
        .and_then(Item::as_str)
        .map(str::trim);
    match pinned {
        Some(pinned) if pinned == old_did => {}
        Some(pinned) => {
            return Err(ConfigEditError::OtherOperatorPinned {
                pinned: pinned.to_owned(),
                rotating: old_did,
            });
        }
        None => return Err(ConfigEditError::OperatorNotPinned { rotating: old_did }),
    }
    let mut entry = InlineTable::new();
    entry.insert("key", old_did.as_str().into());
    entry.insert("retired_at", retired_at.into());
    let created = !identity.contains_key("retired");
    let retired = identity
        .entry("retired")
        .or_insert_with(|| value(Array::new()))
        .as_array_mut()
        .ok_or(ConfigEditError::RetiredNotList)?;
    retired.push(entry);
    if let Some(mut key) = identity.key_mut("retired").filter(|_| created) {
        key.leaf_decor_mut().set_prefix(RETIRED_COMMENT);
    }
    match identity.get_mut("operator").and_then(Item::as_value_mut) {
        Some(operator) => {
            // The new value where the old one was, spacing and comments kept.
            let decor = operator.decor().clone();
            *operator = new_did.as_str().into();
            *operator.decor_mut() = decor;
        }
        None => {
            identity.insert("operator", value(new_did.as_str()));
        }
    }
    write(config, &document)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> VerifyingKey {
        heso_receipt::SigningKey::from_bytes(&[seed; 32]).verifying_key()
    }

    /// `edit` on a file holding `text`: its error, the file left as it was.
    fn refused(
        text: &str,
        edit: impl FnOnce(&Path) -> Result<(), ConfigEditError>,
    ) -> ConfigEditError {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("heso.toml");
        std::fs::write(&path, text).unwrap();
        let error = edit(&path).unwrap_err();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "{error}");
        error
    }

    #[test]
    fn each_refused_edit_is_its_own_error_naming_what_is_wrong() {
        use std::error::Error as _;

        let alice = public_key_to_did_key(&key(9));
        let add = |name: &'static str, default: bool| {
            let alice = alice.clone();
            move |path: &Path| add_approver(path, name, &alice, default)
        };
        let retire = |name: &'static str| {
            move |path: &Path| retire_approver(path, name, "2026-12-02T13:00:00Z")
        };
        let rotate =
            |path: &Path| rotate_operator_pin(path, &key(1), &key(2), "2026-12-02T13:00:00Z");
        let did1 = public_key_to_did_key(&key(1));
        let did3 = public_key_to_did_key(&key(3));
        let not_pinned = format!(
            "heso.toml pins the operator (no [identity] operator), not the key being rotated ({did1}); nothing was changed"
        );
        let other_pinned = format!(
            "heso.toml pins the operator {did3}, not the key being rotated ({did1}); nothing was changed"
        );
        let cases: Vec<(ConfigEditError, &str)> = vec![
            (
                refused("approvers = 1\n", add("alice", false)),
                "`approvers` in heso.toml is not a table",
            ),
            (
                refused(
                    &format!("[approvers.alice]\nkey = \"{alice}\"\n"),
                    add("alice", false),
                ),
                "heso.toml already has [approvers.alice]; choose another name, or retire that one first (`heso keys retire-approver alice`)",
            ),
            (
                refused("defaults = 1\n", add("alice", true)),
                "`defaults` in heso.toml is not a table",
            ),
            (
                refused("[defaults]\napprovers = \"alice\"\n", add("alice", true)),
                "[defaults] approvers in heso.toml is not a list",
            ),
            (
                refused("[approvers]\n", retire("bob")),
                "heso.toml has no [approvers.bob]",
            ),
            (
                refused(
                    &format!(
                        "[approvers.bob]\nkey = \"{alice}\"\nretired_at = \"2026-01-01T00:00:00Z\"\n"
                    ),
                    retire("bob"),
                ),
                "approver bob is already retired",
            ),
            (
                refused("[defaults]\n", rotate),
                "heso.toml has no [identity] table pinning the operator; run `heso init` first",
            ),
            (refused("[identity]\n", rotate), &not_pinned),
            (
                refused(&format!("[identity]\noperator = \"{did3}\"\n"), rotate),
                &other_pinned,
            ),
            (
                refused(
                    &format!("[identity]\noperator = \"{did1}\"\nretired = 1\n"),
                    rotate,
                ),
                "[identity] retired in heso.toml is not a list",
            ),
        ];
        for (error, message) in &cases {
            assert_eq!(error.to_string(), *message, "{error:?}");
            assert!(error.source().is_none(), "{error:?}");
        }
        let kinds: Vec<_> = cases
            .iter()
            .map(|(e, _)| std::mem::discriminant(e))
            .collect();
        for (i, kind) in kinds.iter().enumerate() {
            assert!(
                !kinds[..i].contains(kind),
                "{:?}: one variant per cause",
                cases[i].0
            );
        }
        assert!(matches!(&cases[1].0, ConfigEditError::ApproverExists { name } if name == "alice"));
        assert!(matches!(&cases[4].0, ConfigEditError::NoSuchApprover { name } if name == "bob"));
        assert!(matches!(&cases[5].0, ConfigEditError::AlreadyRetired { name } if name == "bob"));
        assert!(matches!(
            &cases[7].0,
            ConfigEditError::OperatorNotPinned { rotating } if *rotating == did1
        ));
        assert!(matches!(
            &cases[8].0,
            ConfigEditError::OtherOperatorPinned { pinned, rotating } if *pinned == did3 && *rotating == did1
        ));
    }

    #[test]
    fn a_file_that_cannot_be_read_or_parsed_keeps_the_lower_error() {
        use std::error::Error as _;

        let error = refused("[approvers\n", |path| retire_approver(path, "bob", "x"));
        assert!(
            matches!(error, ConfigEditError::NotToml { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("is not valid TOML: "), "{error}");
        let source = error
            .source()
            .and_then(|s| s.downcast_ref::<toml_edit::TomlError>());
        assert!(source.is_some_and(|s| s.span().is_some()), "{error:?}");

        let temp = tempfile::tempdir().unwrap();
        let error = retire_approver(&temp.path().join("missing.toml"), "bob", "x").unwrap_err();
        let source = error
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(
            source.map(std::io::Error::kind),
            Some(std::io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn a_rotation_pins_the_new_key_and_retires_the_old_one_keeping_the_file() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("heso.toml");
        let (k1, k2, k3) = (key(1), key(2), key(3));
        let text = crate::templates::starter_policy(&k1, false);
        std::fs::write(&path, &text).unwrap();

        rotate_operator_pin(&path, &k1, &k2, "2026-12-02T13:00:00Z").unwrap();
        let edited = std::fs::read_to_string(&path).unwrap();
        let config = parse_config(&edited, "heso.toml").unwrap();
        assert_eq!(config.operator, Some(k2));
        assert_eq!(config.retired_operators.len(), 1);
        assert_eq!(config.retired_operators[0].key, k1);
        assert_eq!(
            config.retired_operators[0].retired_at,
            "2026-12-02T13:00:00Z"
        );
        // The rest of the file as it was: the comments, and every other line.
        assert!(
            edited.contains(crate::templates::OPERATOR_COMMENT),
            "{edited}"
        );
        assert!(edited.contains(RETIRED_COMMENT), "{edited}");
        let did2 = public_key_to_did_key(&k2);
        assert!(
            edited.contains(&format!("operator = \"{did2}\"\n")),
            "{edited}"
        );
        for line in text.lines().filter(|l| !l.starts_with("operator = ")) {
            assert!(edited.contains(line), "{line:?} lost:\n{edited}");
        }

        // Again: the list grows; the key being rotated must be the one pinned.
        rotate_operator_pin(&path, &k2, &k3, "2026-12-03T13:00:00Z").unwrap();
        let config = parse_config(&std::fs::read_to_string(&path).unwrap(), "x").unwrap();
        assert_eq!(config.operator, Some(k3));
        let retired: Vec<_> = config.retired_operators.iter().map(|r| r.key).collect();
        assert_eq!(retired, vec![k1, k2]);
        let before = std::fs::read(&path).unwrap();
        let error = rotate_operator_pin(&path, &k1, &k2, "2026-12-04T13:00:00Z").unwrap_err();
        assert!(
            error.to_string().contains("not the key being rotated"),
            "{error}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
