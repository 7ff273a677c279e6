//! Finding a receipt by action_hash prefix.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::index::{self, INDEX_FILE};
use crate::tail::hash_of;

/// A receipt found in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// 1-based line number.
    pub line_number: u64,
    /// The receipt's line, without its newline.
    pub line: String,
}

/// Why a lookup found nothing usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// Fewer than 4 hex digits, or not hex.
    #[error("{0:?} is not an action_hash prefix: give at least 4 hex digits")]
    BadPrefix(String),
    /// No receipt's action_hash starts with the prefix.
    #[error("no receipt with an action_hash starting {prefix:?} in {log}")]
    NotFound {
        /// The prefix.
        prefix: String,
        /// The log searched.
        log: String,
    },
    /// Several receipts match.
    #[error("{prefix:?} matches {} receipts ({}); give more digits", candidates.len(), candidates.join(", "))]
    Ambiguous {
        /// The prefix.
        prefix: String,
        /// The matching action_hashes.
        candidates: Vec<String>,
    },
    /// The log could not be read.
    #[error("cannot read {log}: {source}")]
    Read {
        /// The log.
        log: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Finds the receipt whose action_hash starts with `prefix` (at least 4 hex digits, any
/// case). A log that does not exist holds no receipt; a log that is a symbolic link is
/// refused ([`LookupError::Read`]), never followed.
///
/// For a log named `receipts.jsonl`, the index beside it (`receipts.index`, kept by
/// [`crate::Log`]) is read instead of the log: the line it points to is re-read from the
/// log and its action_hash checked, and the lines after the last indexed one are read from
/// the log. When the index is missing, empty or disagrees with the log anywhere the lookup
/// looks, or holds no match, the whole log is read as before. A found line's number comes
/// from the index.
pub fn find_by_prefix(log: &Path, prefix: &str) -> Result<Found, LookupError> {
    let wanted = prefix.trim().to_ascii_lowercase();
    if wanted.len() < 4 || wanted.len() > 64 || !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(LookupError::BadPrefix(prefix.to_owned()));
    }
    let shown = log.display().to_string();
    let file = match heso_fs::open_no_follow(log, File::options().read(true)) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LookupError::NotFound {
                prefix: wanted,
                log: shown,
            });
        }
        Err(source) => return Err(LookupError::Read { log: shown, source }),
    };
    if let Some(found) = through_index(log, &file, &wanted, &shown)? {
        return found;
    }
    let mut matches: Vec<Found> = Vec::new();
    let mut hashes: Vec<String> = Vec::new();
    for (index, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|source| LookupError::Read {
            log: shown.clone(),
            source,
        })?;
        // A cheap test before parsing: the prefix must appear in the line.
        if !line.windows(wanted.len()).any(|w| w == wanted.as_bytes()) {
            continue;
        }
        let Some(hash) = hash_of(&line) else {
            continue;
        };
        if hash.starts_with(&wanted) && !hashes.contains(&hash) {
            hashes.push(hash);
            matches.push(Found {
                line_number: index as u64 + 1,
                line: String::from_utf8_lossy(&line).into_owned(),
            });
        }
    }
    match matches.len() {
        0 => Err(LookupError::NotFound {
            prefix: wanted,
            log: shown,
        }),
        1 => matches.pop().ok_or(LookupError::NotFound {
            prefix: String::new(),
            log: String::new(),
        }),
        _ => Err(LookupError::Ambiguous {
            prefix: wanted,
            candidates: hashes,
        }),
    }
}

/// The lookup through the index, when the log has one that agrees with it: `None` to read
/// the log instead.
fn through_index(
    log: &Path,
    file: &File,
    wanted: &str,
    shown: &str,
) -> Result<Option<Result<Found, LookupError>>, LookupError> {
    if log.file_name() != Some(std::ffi::OsStr::new(crate::LOG_FILE)) {
        return Ok(None);
    }
    let read = |source| LookupError::Read {
        log: shown.to_owned(),
        source,
    };
    let len = file.metadata().map_err(read)?.len();
    let Some(matches) = index::lookup(&heso_fs::parent_of(log).join(INDEX_FILE), file, len, wanted)
        .map_err(read)?
    else {
        return Ok(None);
    };
    let mut found = matches.found;
    Ok(Some(match found.len() {
        // A damaged index may have lost the record: only the log can say it is not there.
        0 => return Ok(None),
        1 => match found.pop() {
            Some((record, line)) => Ok(Found {
                line_number: record.line,
                line: String::from_utf8_lossy(&line).into_owned(),
            }),
            None => return Ok(None),
        },
        _ => Err(LookupError::Ambiguous {
            prefix: wanted.to_owned(),
            candidates: found.iter().map(|(r, _)| r.hex()).collect(),
        }),
    }))
}
