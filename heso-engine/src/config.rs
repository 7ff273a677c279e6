//! `heso.toml` as the engine reads it: the policy through heso-policy, and the two tables
//! the engine owns, `[identity]` and `[log]`, parsed strictly.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use heso_chain::Durability;
use heso_policy::Policy;
use heso_receipt::{VerifyingKey, public_key_from_did_key};
use serde::Deserialize;

/// Everything `heso.toml` configures.
#[derive(Debug)]
pub struct Config {
    /// The policy.
    pub policy: Policy,
    /// `[identity] operator`: the operator key that verification inside the project pins,
    /// written by `heso init`. `None` in a project made by a heso that did not pin it (then
    /// the project's key files are used, and `heso init` adds the line).
    pub operator: Option<VerifyingKey>,
    /// `[identity] retired`: former operator keys (`heso keys rotate`), each trusted only
    /// for receipts captured no later than its `retired_at`.
    pub retired_operators: Vec<RetiredOperator>,
    /// `[identity] require_passphrase`.
    pub require_passphrase: bool,
    /// `[log] durability`.
    pub durability: Durability,
    /// `[enforcement] mode = "observe"`: every refusal is recorded as observed and not
    /// enforced, as if each call were `blocking = false` (the delete floor still suspends).
    pub observe: bool,
    /// `[store] url`: the fleet store (`heso push`), never with a password in it.
    pub store_url: Option<String>,
    /// Lowercase hex BLAKE3 of the file's bytes.
    pub policy_hash: String,
}

/// A former operator key, from `[identity] retired` in `heso.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredOperator {
    /// The key.
    pub key: VerifyingKey,
    /// RFC 3339 UTC, whole seconds (`2026-12-02T13:00:00Z`): receipts it signed (by their
    /// `captured_at`) up to this second stay valid; later ones are not.
    pub retired_at: String,
}

/// Why `heso.toml` could not be used. The message names file:line:column.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
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
    /// The policy tables are wrong (file:line:column and the rule, kept typed).
    #[error(transparent)]
    Policy(#[from] heso_policy::PolicyError),
    /// `[identity] operator` now pins another key than the one this process signs with
    /// (the file was edited while the project was open).
    #[error(
        "{file}: [identity] operator now pins {pinned}, but this process signs with \
         {signing}; gated calls are refused until they agree: undo the edit, or restart \
         the process if the key was rotated (`heso keys rotate`)"
    )]
    OperatorChanged {
        /// The file name as shown.
        file: String,
        /// The key the file pins, as did:key.
        pinned: String,
        /// The key this process holds, as did:key.
        signing: String,
    },
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
    #[serde(default)]
    enforcement: Option<EnforcementTable>,
    #[serde(default)]
    store: Option<StoreTable>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StoreTable {
    #[serde(default)]
    url: Option<toml::Spanned<String>>,
}

/// True when a PostgreSQL connection string carries a password: `user:password@` in a URL,
/// a `password` parameter, or a `password=` key in the `key=value` form.
fn has_password(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    if let Some(rest) = lower
        .strip_prefix("postgresql://")
        .or_else(|| lower.strip_prefix("postgres://"))
    {
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        let userinfo = authority.rsplit_once('@').map(|(u, _)| u);
        let query = rest.split_once('?').map_or("", |(_, q)| q);
        return userinfo.is_some_and(|u| u.contains(':'))
            || query.split('&').any(|p| p.trim().starts_with("password="));
    }
    lower
        .split_whitespace()
        .any(|pair| pair.trim_start().starts_with("password"))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct IdentityTable {
    #[serde(default)]
    operator: Option<toml::Spanned<String>>,
    #[serde(default)]
    retired: Vec<toml::Spanned<RetiredEntry>>,
    #[serde(default)]
    require_passphrase: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetiredEntry {
    key: toml::Spanned<String>,
    retired_at: toml::Spanned<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LogTable {
    #[serde(default)]
    durability: DurabilitySetting,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EnforcementTable {
    #[serde(default)]
    mode: EnforcementMode,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum EnforcementMode {
    #[default]
    Enforce,
    Observe,
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
    let policy = Policy::parse(text, shown_name)?;
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
    let store_url = match tables.store.and_then(|t| t.url) {
        None => None,
        Some(url) if has_password(url.get_ref()) => {
            let (line, column) = line_column(text, url.span().start);
            return Err(ConfigError::Table {
                file: shown_name.to_owned(),
                line,
                column,
                message: "[store] url must not hold a password (heso.toml is committed): \
                          remove it and use PGPASSWORD, ~/.pgpass or a client certificate"
                    .into(),
            });
        }
        Some(url) => Some(url.into_inner()),
    };
    let identity = tables.identity.unwrap_or_default();
    let operator = match identity.operator {
        None => None,
        Some(spanned) => {
            let key = public_key_from_did_key(spanned.get_ref().trim()).map_err(|e| {
                let (line, column) = line_column(text, spanned.span().start);
                ConfigError::Table {
                    file: shown_name.to_owned(),
                    line,
                    column,
                    message: format!(
                        "[identity] operator must be the operator's did:key (did:key:z6Mk…), \
                         as `heso init` writes it: {e}"
                    ),
                }
            })?;
            Some(key)
        }
    };
    let table_error = |span: std::ops::Range<usize>, message: String| {
        let (line, column) = line_column(text, span.start);
        ConfigError::Table {
            file: shown_name.to_owned(),
            line,
            column,
            message,
        }
    };
    let mut retired_operators: Vec<RetiredOperator> = Vec::new();
    for entry in &identity.retired {
        let entry = entry.get_ref();
        let key = public_key_from_did_key(entry.key.get_ref().trim()).map_err(|e| {
            table_error(
                entry.key.span(),
                format!("[identity] retired: key must be a former operator's did:key: {e}"),
            )
        })?;
        let at = entry.retired_at.get_ref();
        let canonical = crate::clock::parse_rfc3339(at)
            .filter(|t| t.offset().is_utc())
            .map(crate::clock::format_rfc3339);
        if canonical.as_ref() != Some(at) {
            return Err(table_error(
                entry.retired_at.span(),
                format!(
                    "[identity] retired: retired_at must be an RFC 3339 UTC time in whole \
                     seconds such as \"2026-12-02T13:00:00Z\", not {at:?}"
                ),
            ));
        }
        if Some(key) == operator {
            return Err(table_error(
                entry.key.span(),
                "[identity] retired names the current operator key; a key is either the \
                 operator or retired, not both"
                    .into(),
            ));
        }
        if retired_operators.iter().any(|r| r.key == key) {
            return Err(table_error(
                entry.key.span(),
                "[identity] retired names this key twice; keep one entry".into(),
            ));
        }
        retired_operators.push(RetiredOperator {
            key,
            retired_at: at.clone(),
        });
    }
    Ok(Config {
        policy,
        operator,
        retired_operators,
        require_passphrase: identity.require_passphrase,
        durability,
        observe: tables.enforcement.unwrap_or_default().mode == EnforcementMode::Observe,
        store_url,
        policy_hash: heso_policy::policy_hash(text.as_bytes()),
    })
}

/// Reads and parses a `heso.toml` file.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    config_from_bytes(&bytes, path)
}

/// A config file as read, kept open: its stamp can then be taken with `fstat` (no path to
/// walk), and is the stamp of the very bytes parsed.
pub(crate) struct OpenedConfig {
    pub(crate) config: Config,
    pub(crate) file: File,
    pub(crate) stamp: Option<FileStamp>,
    /// The path was a symbolic link: where it leads can change without the file changing,
    /// so its stamp is taken through the path.
    pub(crate) through_link: bool,
}

/// [`load_config`], keeping the file open (see [`OpenedConfig`]).
pub(crate) fn open_config(path: &Path) -> Result<OpenedConfig, ConfigError> {
    let read = |source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    };
    let through_link = std::fs::symlink_metadata(path)
        .map_err(read)?
        .file_type()
        .is_symlink();
    let mut file = File::open(path).map_err(read)?;
    let stamp = FileStamp::of_file(&file);
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(read)?;
    Ok(OpenedConfig {
        config: config_from_bytes(&bytes, path)?,
        file,
        stamp,
        through_link,
    })
}

fn config_from_bytes(bytes: &[u8], path: &Path) -> Result<Config, ConfigError> {
    let text = match std::str::from_utf8(bytes) {
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

/// How far apart two writes must be for a file system to give them different timestamps,
/// with margin: ext4 and tmpfs stamp with the kernel's coarse clock (a few milliseconds),
/// ext3, HFS+ and many network file systems keep whole seconds, FAT two seconds.
pub(crate) const TIMESTAMP_GRANULARITY: Duration = Duration::from_secs(2);

/// A cheap fingerprint of a file (length, modification and change times, links, inode,
/// device) to notice changes without reading it.
///
/// Every write changes the change time (ctime), which no user call can set back, so an edit
/// that keeps the size and puts the modification time back still changes the stamp, unless
/// it lands within the same timestamp tick as the version read before. [`Self::is_settled`]
/// says when that can no longer happen; until then the caller compares content.
///
/// Taken from an open file, it also tells when the path no longer leads to that file: a
/// rename over it, a removal or a rename of it changes its links or its change time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    changed: Option<SystemTime>,
    links: u64,
    inode: u64,
    device: u64,
}

impl FileStamp {
    /// The stamp of an open file, by `fstat`.
    pub(crate) fn of_file(file: &File) -> Option<Self> {
        Self::of_meta(&file.metadata().ok()?)
    }

    /// The stamp of the file `path` leads to now, by `stat` (following links).
    pub(crate) fn of_path(path: &Path) -> Option<Self> {
        Self::of_meta(&std::fs::metadata(path).ok()?)
    }

    /// False once the file has no name left (removed, or replaced by a rename).
    pub(crate) fn is_linked(&self) -> bool {
        self.links > 0
    }

    fn of_meta(meta: &std::fs::Metadata) -> Option<Self> {
        #[cfg(unix)]
        let (inode, device, changed, links) = {
            use std::os::unix::fs::MetadataExt as _;
            let changed = u64::try_from(meta.ctime())
                .ok()
                .zip(u32::try_from(meta.ctime_nsec()).ok())
                .and_then(|(secs, nanos)| {
                    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
                });
            (meta.ino(), meta.dev(), changed, meta.nlink())
        };
        // Elsewhere no change time: never settled, so the content is compared every time.
        #[cfg(not(unix))]
        let (inode, device, changed, links) = (0, 0, None, 1);
        Some(Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            changed,
            links,
            inode,
            device,
        })
    }

    /// True when no later edit can leave this stamp unchanged: the file's newest timestamp
    /// is at least [`TIMESTAMP_GRANULARITY`] older than `confirmed_at`, a moment at which
    /// its content was known (read at or after it). A later write gets a change time at
    /// or after `confirmed_at`, in a tick of its own. A timestamp that is unknown or in the
    /// future (a clock set back, a network file system's clock) is never settled.
    pub(crate) fn is_settled(&self, confirmed_at: SystemTime) -> bool {
        let (Some(modified), Some(changed)) = (self.modified, self.changed) else {
            return false;
        };
        let newest = modified.max(changed);
        confirmed_at
            .duration_since(newest)
            .is_ok_and(|age| age >= TIMESTAMP_GRANULARITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(modified: SystemTime, changed: SystemTime) -> FileStamp {
        FileStamp {
            len: 1,
            modified: Some(modified),
            changed: Some(changed),
            links: 1,
            inode: 1,
            device: 1,
        }
    }

    fn old_did() -> String {
        let key = heso_receipt::SigningKey::from_bytes(&[9; 32]).verifying_key();
        heso_receipt::public_key_to_did_key(&key)
    }

    fn with_identity(lines: &str) -> String {
        let key = heso_receipt::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let operator = heso_receipt::public_key_to_did_key(&key);
        format!("[identity]\noperator = \"{operator}\"\n{lines}\n")
    }

    #[test]
    fn retired_operator_keys_parse_with_their_retirement_time() {
        let old = old_did();
        let text = with_identity(&format!(
            "retired = [{{ key = \"{old}\", retired_at = \"2026-12-02T13:00:00Z\" }}]"
        ));
        let config = parse_config(&text, "heso.toml").unwrap();
        assert_eq!(config.retired_operators.len(), 1);
        assert_eq!(
            heso_receipt::public_key_to_did_key(&config.retired_operators[0].key),
            old
        );
        assert_eq!(
            config.retired_operators[0].retired_at,
            "2026-12-02T13:00:00Z"
        );
        assert!(
            parse_config("", "heso.toml")
                .unwrap()
                .retired_operators
                .is_empty()
        );
    }

    #[test]
    fn a_wrong_retired_entry_is_an_error_naming_line_and_column() {
        let key = heso_receipt::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let current = heso_receipt::public_key_to_did_key(&key);
        let old = old_did();
        for (entry, needle) in [
            (
                format!("{{ key = \"{old}\", retired_at = \"2026-12-02 13:00\" }}"),
                "RFC 3339 UTC",
            ),
            (
                format!("{{ key = \"{old}\", retired_at = \"2026-12-02T13:00:00.5Z\" }}"),
                "whole",
            ),
            (
                format!("{{ key = \"{old}\", retired_at = \"2026-12-02T14:00:00+01:00\" }}"),
                "UTC",
            ),
            (
                "{ key = \"z6Mk-not-a-key\", retired_at = \"2026-12-02T13:00:00Z\" }".into(),
                "did:key",
            ),
            (
                format!(
                    "{{ key = \"{old}\", retired_at = \"2026-12-02T13:00:00Z\", why = \"x\" }}"
                ),
                "why",
            ),
            (format!("{{ key = \"{old}\" }}"), "retired_at"),
            (
                format!("{{ key = \"{current}\", retired_at = \"2026-12-02T13:00:00Z\" }}"),
                "current operator",
            ),
            (
                format!(
                    "{{ key = \"{old}\", retired_at = \"2026-12-02T13:00:00Z\" }}, \
                     {{ key = \"{old}\", retired_at = \"2026-12-03T13:00:00Z\" }}"
                ),
                "twice",
            ),
        ] {
            let text = with_identity(&format!("retired = [{entry}]"));
            let error = parse_config(&text, "heso.toml").unwrap_err();
            let shown = error.to_string();
            assert!(
                matches!(error, ConfigError::Table { line: 3, .. }),
                "{entry}: {shown}"
            );
            assert!(shown.contains(needle), "{entry}: {shown}");
        }
    }

    #[test]
    fn store_url_is_read_and_a_password_in_it_is_refused_naming_the_line() {
        let config = parse_config(
            "[store]\nurl = \"postgresql://host-a@db.example:5432/heso\"\n",
            "heso.toml",
        )
        .unwrap();
        assert_eq!(
            config.store_url.as_deref(),
            Some("postgresql://host-a@db.example:5432/heso")
        );
        for url in [
            "postgresql://host-a:secret@db.example/heso",
            "postgres://db.example/heso?user=a&password=secret",
            "host=db.example user=a password=secret",
        ] {
            let text = format!("\n[store]\nurl = \"{url}\"\n");
            let error = parse_config(&text, "heso.toml").unwrap_err();
            assert!(
                matches!(error, ConfigError::Table { line: 3, .. }),
                "{url}: {error}"
            );
            assert!(error.to_string().contains("password"), "{url}: {error}");
        }
        let error = parse_config("[store]\nuri = \"x\"\n", "heso.toml").unwrap_err();
        assert!(error.to_string().contains("uri"), "{error}");
    }

    #[test]
    fn a_stamp_settles_only_once_its_newest_time_is_a_tick_older_than_the_read() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let tick = TIMESTAMP_GRANULARITY;
        // Read right after the write: an edit in the same tick could keep the stamp.
        assert!(!stamp(t, t).is_settled(t));
        assert!(!stamp(t, t).is_settled(t + tick - Duration::from_millis(1)));
        assert!(stamp(t, t).is_settled(t + tick));
        // The change time counts even when the modification time was set back.
        let old = t - Duration::from_secs(3600);
        assert!(!stamp(old, t).is_settled(t + Duration::from_millis(5)));
        // A modification time in the future (set forward) is never settled before it.
        assert!(!stamp(t + Duration::from_secs(3600), t).is_settled(t + tick));
        // Unknown times never settle.
        let unknown = FileStamp {
            changed: None,
            ..stamp(t, t)
        };
        assert!(!unknown.is_settled(t + Duration::from_secs(3600)));
    }
}
