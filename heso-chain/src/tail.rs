//! Reading the end of the log backwards: the last complete line, and any torn bytes.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use serde::Deserialize;

/// The chain fields of one receipt line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TailEntry {
    pub(crate) session_id: String,
    pub(crate) seq: u64,
    pub(crate) action_hash: String,
    pub(crate) prev_receipt_hash: Option<String>,
}

#[derive(Deserialize)]
struct LineShape {
    content: ContentShape,
}

#[derive(Deserialize)]
struct ContentShape {
    session_id: Option<String>,
    seq: Option<u64>,
    action_hash: String,
    prev_receipt_hash: Option<String>,
}

/// The chain fields of a line, if it parses as a receipt that has them.
pub(crate) fn entry_of(line: &[u8]) -> Option<TailEntry> {
    let shape: LineShape = serde_json::from_slice(line).ok()?;
    Some(TailEntry {
        session_id: shape.content.session_id?,
        seq: shape.content.seq?,
        action_hash: shape.content.action_hash,
        prev_receipt_hash: shape.content.prev_receipt_hash,
    })
}

/// What the end of the file looks like.
#[derive(Debug, Default)]
pub(crate) struct TailScan {
    /// Length of the file up to and including the last good line's newline.
    pub(crate) good_len: u64,
    /// Bytes after `good_len`: a last line without its newline, or one that does not
    /// parse as a receipt.
    pub(crate) torn: Vec<u8>,
    /// The newest entry of the session asked for (None: the session has no receipt yet).
    pub(crate) last: Option<TailEntry>,
}

const CHUNK: u64 = 64 * 1024;

/// Offset of the last `\n` in `file[..before]`, reading backwards a chunk at a time.
fn rfind_newline(file: &mut File, before: u64) -> std::io::Result<Option<u64>> {
    let mut end = before;
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let bytes = read_range(file, start, end)?;
        if let Some(at) = bytes.iter().rposition(|b| *b == b'\n') {
            return Ok(Some(start + at as u64));
        }
        end = start;
    }
    Ok(None)
}

/// `file[start..end]`.
pub(crate) fn read_range(file: &mut File, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; usize::try_from(end.saturating_sub(start)).unwrap_or(0)];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Scans `file` (of length `len`) from the end: the torn bytes, then complete lines
/// backwards until one of `session` is found. In the usual case (our session's receipt is
/// last) this reads one chunk, whatever the size of the log.
pub(crate) fn scan(file: &mut File, len: u64, session: &str) -> std::io::Result<TailScan> {
    let mut scan = TailScan {
        good_len: len,
        ..TailScan::default()
    };
    // Bytes after the last newline never were a complete line.
    scan.good_len = rfind_newline(file, len)?.map_or(0, |at| at + 1);
    scan.torn = read_range(file, scan.good_len, len)?;

    let mut end = scan.good_len; // just past a newline, or 0
    let mut newest = true;
    while end > 0 {
        let line_start = rfind_newline(file, end - 1)?.map_or(0, |at| at + 1);
        let line = read_range(file, line_start, end - 1)?;
        match entry_of(&line) {
            Some(entry) if entry.session_id == session => {
                scan.last = Some(entry);
                break;
            }
            Some(_) => {}
            None if newest => {
                // The last complete line does not parse: a torn write that happened to
                // end in a newline. It goes aside with the rest.
                let mut torn = read_range(file, line_start, end)?;
                torn.extend_from_slice(&scan.torn);
                scan.torn = torn;
                scan.good_len = line_start;
            }
            None => {}
        }
        newest = false;
        end = line_start;
    }
    Ok(scan)
}

/// The newest `want` entries of `session` in `file[..good_len]` (complete lines only),
/// newest first, reading backwards; lines of other sessions and lines that do not parse are
/// skipped. Fewer come back when the log holds fewer.
pub(crate) fn last_entries(
    file: &mut File,
    good_len: u64,
    session: &str,
    want: u64,
) -> std::io::Result<Vec<TailEntry>> {
    let mut entries = Vec::new();
    // `buf` holds file[buf_start..good_len], read backwards a chunk at a time.
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_start = good_len;
    // The current line ends just before `end` (where its newline is).
    let mut end = good_len;
    while end > 0 && (entries.len() as u64) < want {
        let line_end = end - 1;
        let line_start = loop {
            // Only bytes before the line's own newline are searched.
            let searched = line_end
                .checked_sub(buf_start)
                .and_then(|n| usize::try_from(n).ok())
                .and_then(|n| buf.get(..n))
                .unwrap_or_default();
            if let Some(at) = searched.iter().rposition(|b| *b == b'\n') {
                break buf_start + at as u64 + 1;
            }
            if buf_start == 0 {
                break 0;
            }
            let start = buf_start.saturating_sub(CHUNK);
            let mut chunk = read_range(file, start, buf_start)?;
            chunk.extend_from_slice(&buf);
            buf = chunk;
            buf_start = start;
        };
        let from = usize::try_from(line_start - buf_start).unwrap_or(0);
        let to = usize::try_from(line_end - buf_start).unwrap_or(0);
        if let Some(entry) = buf
            .get(from..to)
            .and_then(entry_of)
            .filter(|e| e.session_id == session)
        {
            entries.push(entry);
        }
        end = line_start;
    }
    Ok(entries)
}

#[derive(Deserialize)]
struct HashShape {
    content: HashContent,
}

#[derive(Deserialize)]
struct HashContent {
    action_hash: String,
}

/// The action_hash of a receipt line, chained or not.
pub(crate) fn hash_of(line: &[u8]) -> Option<String> {
    serde_json::from_slice::<HashShape>(line)
        .ok()
        .map(|s| s.content.action_hash)
}
