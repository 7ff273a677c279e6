//! `receipts.index`: where each receipt's line is, by action_hash, so a lookup by prefix
//! reads the index (48 bytes a receipt) instead of the whole log.
//!
//! One fixed-size record per complete log line that has an `action_hash` of 32 bytes of
//! hex, in log order: the 32 raw hash bytes, the line's byte offset (u64, little-endian)
//! and its 1-based line number (u64, little-endian). Like the tree's sidecars it is derived
//! data: written under the log's lock after the line and before the log's fsync (never
//! fsynced itself), trimmed with the log when an append is taken back, checked against the
//! log whenever the tail is read afresh (its last record must name the line at its offset)
//! and mended from the lines after it, or rebuilt from the whole log when it disagrees.
//! Readers never trust it over the log: a line found through it is re-read from the log
//! and its action_hash compared, and anything that does not agree sends the lookup back to
//! reading the log itself.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read as _, Seek, SeekFrom};
use std::path::Path;

use crate::fileops::{FileOps, write_all};
use crate::tail::hash_of;

/// The index file's name, next to the log.
pub const INDEX_FILE: &str = "receipts.index";

/// Bytes a record.
pub(crate) const RECORD: u64 = 48;
const HASH: usize = 32;

/// One record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) hash: [u8; HASH],
    pub(crate) offset: u64,
    pub(crate) line: u64,
}

impl Record {
    pub(crate) fn to_bytes(self) -> [u8; RECORD as usize] {
        let mut out = [0u8; RECORD as usize];
        out[..HASH].copy_from_slice(&self.hash);
        out[HASH..HASH + 8].copy_from_slice(&self.offset.to_le_bytes());
        out[HASH + 8..].copy_from_slice(&self.line.to_le_bytes());
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Record> {
        let hash: [u8; HASH] = bytes.get(..HASH)?.try_into().ok()?;
        let offset = u64::from_le_bytes(bytes.get(HASH..HASH + 8)?.try_into().ok()?);
        let line = u64::from_le_bytes(bytes.get(HASH + 8..HASH + 16)?.try_into().ok()?);
        Some(Record { hash, offset, line })
    }

    pub(crate) fn hex(&self) -> String {
        self.hash.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The 32 bytes of a 64-digit hex action_hash (any case).
pub(crate) fn hash_bytes(hex: &str) -> Option<[u8; HASH]> {
    let digits = hex.as_bytes();
    if digits.len() != 2 * HASH {
        return None;
    }
    let mut out = [0u8; HASH];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let high = char::from(*pair.first()?).to_digit(16)?;
        let low = char::from(*pair.get(1)?).to_digit(16)?;
        *byte = u8::try_from(high << 4 | low).ok()?;
    }
    Some(out)
}

/// The index kept by a writer, in step with the log's complete lines.
pub(crate) struct IndexState {
    pub(crate) file: File,
    /// Records in it.
    pub(crate) records: u64,
    /// Complete lines in the log (the next line's number is one more).
    pub(crate) lines: u64,
}

fn read_at(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(not(unix))]
    {
        let mut file = file;
        file.seek(SeekFrom::Start(offset))?;
        file.read(buf)
    }
}

/// The complete line that starts at `offset` of a log of length `len`, without its
/// newline: `None` when `offset` is not the start of a line or no newline ends it before
/// `len`.
pub(crate) fn line_at(log: &File, offset: u64, len: u64) -> io::Result<Option<Vec<u8>>> {
    if offset >= len {
        return Ok(None);
    }
    if offset > 0 {
        let mut before = [0u8; 1];
        if read_at(log, offset - 1, &mut before)? != 1 || before[0] != b'\n' {
            return Ok(None);
        }
    }
    let mut line = Vec::new();
    let mut at = offset;
    let mut chunk = vec![0u8; 4096];
    while at < len {
        let want = usize::try_from((len - at).min(chunk.len() as u64)).unwrap_or(chunk.len());
        let Some(buf) = chunk.get_mut(..want) else {
            return Ok(None);
        };
        let n = read_at(log, at, buf)?;
        if n == 0 {
            return Ok(None);
        }
        let read = buf.get(..n).unwrap_or_default();
        if let Some(end) = read.iter().position(|b| *b == b'\n') {
            line.extend_from_slice(read.get(..end).unwrap_or_default());
            return Ok(Some(line));
        }
        line.extend_from_slice(read);
        at += n as u64;
    }
    Ok(None)
}

/// Whether `record` names the line at its offset in the log (of length `len`); the line's
/// length with its newline when it does.
pub(crate) fn check_record(log: &File, len: u64, record: &Record) -> io::Result<Option<u64>> {
    let Some(line) = line_at(log, record.offset, len)? else {
        return Ok(None);
    };
    let agrees = hash_of(&line).and_then(|h| hash_bytes(&h)) == Some(record.hash);
    Ok(agrees.then_some(line.len() as u64 + 1))
}

/// Checks the index's last record (of `records`) against the log: it must name the line
/// at its offset, and when the record before names the line just before it, its line
/// number must be one more. Where the lines after it start, and its line number.
fn check_tail(index: &File, records: u64, log: &File, len: u64) -> io::Result<Option<(u64, u64)>> {
    let Some(last) = records.checked_sub(1) else {
        return Ok(None);
    };
    let Some(record) = read_record(index, last)? else {
        return Ok(None);
    };
    let Some(line_len) = check_record(log, len, &record)? else {
        return Ok(None);
    };
    if let Some(before) = last.checked_sub(1) {
        let Some(previous) = read_record(index, before)? else {
            return Ok(None);
        };
        let Some(previous_len) = check_record(log, len, &previous)? else {
            return Ok(None);
        };
        let adjacent = previous.offset + previous_len == record.offset;
        if adjacent && previous.line.checked_add(1) != Some(record.line) {
            return Ok(None);
        }
        if previous.line >= record.line || previous.offset >= record.offset {
            return Ok(None);
        }
    } else if record.offset == 0 && record.line != 1 {
        return Ok(None);
    }
    Ok(Some((record.offset + line_len, record.line)))
}

fn open_index(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).read(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    heso_fs::open_no_follow(path, &mut options)
}

fn read_record(file: &File, index: u64) -> io::Result<Option<Record>> {
    let mut buf = [0u8; RECORD as usize];
    let mut filled = 0;
    while filled < buf.len() {
        let n = read_at(
            file,
            index * RECORD + filled as u64,
            buf.get_mut(filled..).unwrap_or_default(),
        )?;
        if n == 0 {
            return Ok(None);
        }
        filled += n;
    }
    Ok(Record::from_bytes(&buf))
}

/// Records past the log's end are dropped one by one up to this many; beyond, the index
/// is rebuilt.
const MAX_DROPPED: u32 = 64;

/// Brings `receipts.index` in step with the log, whose complete lines end at `good_len`.
/// Called under the log's lock. On error: the path that failed, what was done, the error.
pub(crate) fn sync(
    path: &Path,
    log: &mut File,
    good_len: u64,
    ops: &dyn FileOps,
) -> Result<IndexState, (&'static str, io::Error)> {
    let file = open_index(path).map_err(|e| ("cannot open", e))?;
    let len = file.metadata().map_err(|e| ("cannot stat", e))?.len();
    let mut records = len / RECORD;
    // The line after which the index goes on, and its number.
    let mut resume: Option<(u64, u64)> = None;
    let mut dropped = 0;
    while records > 0 && resume.is_none() {
        let Some(last) = read_record(&file, records - 1).map_err(|e| ("cannot read", e))? else {
            records = 0;
            break;
        };
        if last.offset >= good_len && dropped < MAX_DROPPED {
            // An entry of a line taken back off the log (or cut as a torn tail).
            records -= 1;
            dropped += 1;
            continue;
        }
        match check_tail(&file, records, log, good_len)
            .map_err(|e| ("cannot read the log for", e))?
        {
            Some(found) => resume = Some(found),
            // It disagrees with the log: rebuilt from the whole log.
            None => records = 0,
        }
    }
    if records * RECORD != len {
        ops.set_len(&file, records * RECORD)
            .map_err(|e| ("cannot truncate", e))?;
    }
    let (from, lines) = resume.unwrap_or((0, 0));
    let mut state = IndexState {
        file,
        records,
        lines,
    };
    index_lines(&mut state, log, from, good_len, ops)?;
    Ok(state)
}

/// Adds the records of the log's complete lines in `from..good_len` (`from` the start of a
/// line).
fn index_lines(
    state: &mut IndexState,
    log: &mut File,
    from: u64,
    good_len: u64,
    ops: &dyn FileOps,
) -> Result<(), (&'static str, io::Error)> {
    const FLUSH: usize = 64 * 1024;
    if from >= good_len {
        return Ok(());
    }
    log.seek(SeekFrom::Start(from))
        .map_err(|e| ("cannot read the log for", e))?;
    let mut reader = BufReader::with_capacity(1 << 20, (&*log).take(good_len - from));
    let mut out = Vec::with_capacity(FLUSH + RECORD as usize);
    let mut line = Vec::new();
    let mut offset = from;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| ("cannot read the log for", e))?;
        if read == 0 || line.last() != Some(&b'\n') {
            break;
        }
        line.pop();
        state.lines += 1;
        if let Some(hash) = hash_of(&line).and_then(|h| hash_bytes(&h)) {
            let record = Record {
                hash,
                offset,
                line: state.lines,
            };
            out.extend_from_slice(&record.to_bytes());
            state.records += 1;
        }
        offset += read as u64;
        if out.len() >= FLUSH {
            write_all(ops, &mut state.file, &out).map_err(|e| ("cannot write", e))?;
            out.clear();
        }
    }
    write_all(ops, &mut state.file, &out).map_err(|e| ("cannot write", e))?;
    Ok(())
}

/// What a lookup through the index found: `None` when the index cannot be used (missing,
/// empty, or disagreeing with the log), and the log must be read instead.
pub(crate) struct IndexMatches {
    /// Matching records, distinct hashes, first line of each; each re-read and checked.
    pub(crate) found: Vec<(Record, Vec<u8>)>,
}

/// Looks `wanted` (lowercase hex, 4 to 64 digits) up in the index beside `log` (of length
/// `len`), then in the log's lines after the last indexed one.
pub(crate) fn lookup(
    index_path: &Path,
    log: &File,
    len: u64,
    wanted: &str,
) -> io::Result<Option<IndexMatches>> {
    let index = match heso_fs::open_no_follow(index_path, File::options().read(true)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let records = index.metadata()?.len() / RECORD;
    if records == 0 {
        return Ok(None);
    }
    let Some((after_last, last_line)) = check_tail(&index, records, log, len)? else {
        return Ok(None);
    };
    let prefix = Prefix::new(wanted);
    let mut hits: Vec<Record> = Vec::new();
    let mut reader = index.take(records * RECORD);
    let mut buf = vec![0u8; 1024 * RECORD as usize];
    let mut previous: Option<Record> = None;
    let mut left = records;
    while left > 0 {
        let take = left.min(1024);
        let bytes = buf
            .get_mut(..usize::try_from(take * RECORD).unwrap_or(0))
            .unwrap_or_default();
        reader.read_exact(bytes)?;
        for chunk in bytes.chunks_exact(RECORD as usize) {
            let Some(record) = Record::from_bytes(chunk) else {
                return Ok(None);
            };
            // Records are in log order, one a line: anything else is a damaged index.
            if previous.is_some_and(|p| p.offset >= record.offset || p.line >= record.line) {
                return Ok(None);
            }
            previous = Some(record);
            if prefix.matches(&record.hash) && !hits.iter().any(|h| h.hash == record.hash) {
                hits.push(record);
            }
        }
        left -= take;
    }
    let mut found = Vec::with_capacity(hits.len());
    for record in hits {
        match line_at(log, record.offset, len)? {
            Some(line) if hash_of(&line).and_then(|h| hash_bytes(&h)) == Some(record.hash) => {
                found.push((record, line));
            }
            _ => return Ok(None),
        }
    }
    // Lines written after the last indexed one (by a writer that keeps no index, or not
    // yet indexed): read from the log.
    let mut number = last_line;
    let mut offset = after_last;
    if offset < len {
        let mut log = log;
        log.seek(SeekFrom::Start(offset))?;
        let mut reader = BufReader::new(log.take(len - offset));
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line)?;
            if read == 0 || line.last() != Some(&b'\n') {
                break;
            }
            line.pop();
            number += 1;
            if let Some(hash) = hash_of(&line).and_then(|h| hash_bytes(&h))
                && prefix.matches(&hash)
                && !found.iter().any(|(r, _)| r.hash == hash)
            {
                found.push((
                    Record {
                        hash,
                        offset,
                        line: number,
                    },
                    line.clone(),
                ));
            }
            offset += read as u64;
        }
    }
    Ok(Some(IndexMatches { found }))
}

/// A hex prefix as whole bytes and an optional last half byte.
struct Prefix {
    bytes: Vec<u8>,
    half: Option<u8>,
}

impl Prefix {
    fn new(hex: &str) -> Prefix {
        let digits: Vec<u8> = hex
            .chars()
            .filter_map(|c| c.to_digit(16))
            .filter_map(|d| u8::try_from(d).ok())
            .collect();
        let pairs = digits.chunks_exact(2);
        let half = pairs.remainder().first().copied();
        let bytes = pairs
            .map(|p| {
                let (h, l) = (
                    p.first().copied().unwrap_or(0),
                    p.get(1).copied().unwrap_or(0),
                );
                h << 4 | l
            })
            .collect();
        Prefix { bytes, half }
    }

    fn matches(&self, hash: &[u8; HASH]) -> bool {
        let n = self.bytes.len();
        if hash.get(..n) != Some(self.bytes.as_slice()) {
            return false;
        }
        match self.half {
            None => true,
            Some(half) => hash.get(n).is_some_and(|b| b >> 4 == half),
        }
    }
}
