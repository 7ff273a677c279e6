//! Finding a receipt by action_hash prefix.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

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
