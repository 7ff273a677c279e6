//! Shipping a local log to the store: what the store does not hold yet, in order, in
//! batches (binary COPY), then a signed checkpoint of everything pushed. Before anything is
//! sent, the local log must still contain what the store holds of it (its latest
//! checkpoint's tree and its last stored receipt): a log truncated or rewritten after an
//! earlier push is refused with `Truncated` or `RootMismatch`, whatever local checkpoints
//! or sidecars say, because the comparison is with the store.

use std::fmt;
use std::io::{BufRead as _, BufReader, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use heso_receipt::{SigningKey, VerifyingKey, public_key_to_did_key, public_key_to_multibase};
use heso_tlog::{Checkpoint, CompactRange, Hash, SignedCheckpoint};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};

use crate::connect::{DbError, Store};
use crate::migrate::{SchemaError, check_schema};
use crate::rows::Columns;

/// Receipts per COPY batch (one transaction each).
const BATCH_ROWS: usize = 5_000;
/// Bytes of receipts per COPY batch, whichever comes first.
const BATCH_BYTES: usize = 8 << 20;
/// The advisory lock namespace of pushes (`pg_advisory_xact_lock(NS, hashtext(log_id))`).
const PUSH_LOCK_NS: i32 = 0x6865_736f; // "heso"

/// Everything a host ships a log with.
pub struct ShipSource {
    /// The log file (`heso-local-data/receipts.jsonl`).
    pub log_path: PathBuf,
    /// The log id: the log's session id.
    pub log_id: String,
    /// The operator key: the store's checkpoints of this log are checked with its public
    /// half, new ones signed with it.
    pub operator: SigningKey,
    /// The approvers `heso.toml` names, registered with the log.
    pub approvers: Vec<RegisteredApprover>,
    /// The host name the log is registered with (first push only).
    pub host_name: String,
}

impl fmt::Debug for ShipSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShipSource")
            .field("log_path", &self.log_path)
            .field("log_id", &self.log_id)
            .field(
                "operator",
                &public_key_to_did_key(&self.operator.verifying_key()),
            )
            .field("host_name", &self.host_name)
            .finish_non_exhaustive()
    }
}

/// An approver key registered with a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredApprover {
    /// The name in `heso.toml`.
    pub name: String,
    /// The key.
    pub key: VerifyingKey,
    /// RFC 3339 UTC: the approver retired then (their later approvals do not count).
    pub until: Option<String>,
}

/// How the local log compares with what the store holds of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreVerdict {
    /// The local log contains everything the store holds of it.
    Consistent {
        /// Receipts in the local log.
        local: u64,
        /// Receipts the store holds.
        stored: u64,
        /// The store's latest checkpoint size, if any.
        checkpoint: Option<u64>,
    },
    /// The store holds nothing of this log yet.
    Unknown,
    /// The local log has fewer receipts than the store holds or a stored checkpoint covers:
    /// receipts were removed after they were pushed.
    Truncated {
        /// What the store holds (receipts, or the checkpoint's size).
        expected: u64,
        /// What the local log holds.
        local: u64,
        /// Which stored thing says so.
        by: String,
    },
    /// The local log's first receipts are not the ones the store holds: rewritten, or a
    /// fork.
    RootMismatch {
        /// Where it was found.
        detail: String,
    },
    /// The store's checkpoint of this log does not verify with the operator key.
    InvalidSignature {
        /// Which checkpoint, and why.
        detail: String,
    },
    /// The log id is registered in the store with another operator key or origin.
    OperatorMismatch {
        /// What the store registered.
        registered: String,
        /// What this project has.
        ours: String,
    },
}

impl StoreVerdict {
    /// True when the local log is consistent with the store (or the store has nothing).
    pub fn is_consistent(&self) -> bool {
        matches!(
            self,
            StoreVerdict::Consistent { .. } | StoreVerdict::Unknown
        )
    }

    /// The verdict's name (`Consistent`, `Unknown`, `Truncated`, `RootMismatch`,
    /// `InvalidSignature`, `OperatorMismatch`).
    pub fn kind(&self) -> &'static str {
        match self {
            StoreVerdict::Consistent { .. } => "Consistent",
            StoreVerdict::Unknown => "Unknown",
            StoreVerdict::Truncated { .. } => "Truncated",
            StoreVerdict::RootMismatch { .. } => "RootMismatch",
            StoreVerdict::InvalidSignature { .. } => "InvalidSignature",
            StoreVerdict::OperatorMismatch { .. } => "OperatorMismatch",
        }
    }
}

impl fmt::Display for StoreVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreVerdict::Consistent {
                local,
                stored,
                checkpoint,
            } => {
                write!(
                    f,
                    "Consistent: the local log ({local} receipts) contains the {stored} the store holds"
                )?;
                if let Some(size) = checkpoint {
                    write!(f, " and the store's latest checkpoint (size {size})")?;
                }
                Ok(())
            }
            StoreVerdict::Unknown => write!(f, "Unknown: the store holds nothing of this log yet"),
            StoreVerdict::Truncated {
                expected,
                local,
                by,
            } => write!(
                f,
                "Truncated: the local log holds {local} receipts, but {by} holds {expected}: receipts were removed after they were pushed"
            ),
            StoreVerdict::RootMismatch { detail } => write!(
                f,
                "RootMismatch: {detail}: the local log was rewritten after it was pushed (or is a fork)"
            ),
            StoreVerdict::InvalidSignature { detail } => write!(f, "InvalidSignature: {detail}"),
            StoreVerdict::OperatorMismatch { registered, ours } => write!(
                f,
                "OperatorMismatch: the store registered this log id for {registered}, this project's operator is {ours}"
            ),
        }
    }
}

/// Why a push stopped.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The store's schema is missing or of another version.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The store could not be read or written.
    #[error("the store: {0}")]
    Db(#[from] DbError),
    /// The local log could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The log file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A line of the local log is not a receipt of this log at its position.
    #[error("{}:{line}: {reason}", path.display())]
    BadLine {
        /// The log file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The local log does not contain what the store holds of it.
    #[error("{0}")]
    Inconsistent(StoreVerdict),
    /// The store refused a receipt or checkpoint and recorded it as a fork.
    #[error(
        "the store refused {what} and recorded it as a fork: {reason} (see `heso fleet verify`)"
    )]
    Refused {
        /// What was refused.
        what: String,
        /// The store's reason.
        reason: String,
    },
    /// The thread sending batches to the store stopped without an error of its own.
    #[error("{0}")]
    Thread(String),
    /// The log id or origin cannot name a log.
    #[error("the log id {log_id:?} cannot name a log: {reason}")]
    LogId {
        /// The log id.
        log_id: String,
        /// Why.
        reason: String,
    },
}

impl PushError {
    /// True when trying again later may succeed (the store is down or restarting).
    pub fn is_transient(&self) -> bool {
        match self {
            PushError::Schema(e) => e.is_transient(),
            PushError::Db(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// What one push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// Receipts in the local log (complete lines).
    pub log_size: u64,
    /// Receipts this push sent.
    pub sent: u64,
    /// Receipts the store added (less than `sent` when another push of the same log got
    /// there first).
    pub stored: u64,
    /// The size of the checkpoint this push signed and stored, when it signed one.
    pub checkpoint: Option<u64>,
    /// How the log compared with the store before anything was sent.
    pub verdict: StoreVerdict,
}

/// Where the last push left the local log, to resume from without rereading it.
struct Tail {
    /// Bytes of complete lines read.
    offset: u64,
    /// Identity of the file read (device, inode), to notice a replaced file.
    file: (u64, u64),
    /// The tree of every line read.
    tree: CompactRange,
    /// The link the next line must carry.
    next_link: Option<String>,
    /// The size of the store's latest checkpoint of this log, as far as this pusher knows.
    checkpoint: u64,
}

/// The store's view of one log.
struct Held {
    registered: bool,
    stored: u64,
    head_hash: Option<String>,
    checkpoint: Option<(u64, Hash, String)>,
}

/// Ships one local log. Keep it between pushes (`--follow`, the Python shipper): after a
/// first push it reads only what was appended since.
pub struct Pusher {
    source: ShipSource,
    origin: String,
    operator: VerifyingKey,
    tail: Option<Tail>,
    registered: bool,
}

impl fmt::Debug for Pusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pusher")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The origin of a log: its operator key and log id (`heso.dev/log/z6Mk…/<log id>`).
pub fn log_origin(operator: &VerifyingKey, log_id: &str) -> Result<String, PushError> {
    heso_tlog::origin(&public_key_to_multibase(operator), log_id).map_err(|e| PushError::LogId {
        log_id: log_id.to_owned(),
        reason: e.to_string(),
    })
}

impl Pusher {
    /// A pusher for `source`.
    pub fn new(source: ShipSource) -> Result<Self, PushError> {
        let operator = source.operator.verifying_key();
        let origin = log_origin(&operator, &source.log_id)?;
        Ok(Self {
            source,
            origin,
            operator,
            tail: None,
            registered: false,
        })
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Forgets where the last push ended: the next one rereads the whole log and compares
    /// it with the store again.
    pub fn reset(&mut self) {
        self.tail = None;
    }

    /// Pushes what the store does not hold yet, then a checkpoint of the whole log, after
    /// checking the log still contains what the store holds of it. `progress` is called
    /// with the receipts read so far.
    pub fn push(
        &mut self,
        store: &mut Store,
        progress: Option<&dyn Fn(u64)>,
    ) -> Result<PushReport, PushError> {
        check_schema(store)?;
        if !self.registered {
            register(store, &self.source, &self.origin)?;
            self.registered = true;
        }
        let resumed = self.tail.take().and_then(|tail| self.resume(tail));
        let outcome = match resumed {
            Some(tail) => self.push_from(store, tail, progress),
            None => self.push_all(store, progress),
        };
        match outcome {
            Ok((report, tail)) => {
                self.tail = Some(tail);
                Ok(report)
            }
            Err(e) => Err(e),
        }
    }

    /// Keeps `tail` when the file is still the one it describes and has not shrunk.
    fn resume(&self, tail: Tail) -> Option<Tail> {
        let meta = std::fs::metadata(&self.source.log_path).ok()?;
        (file_id(&meta) == tail.file && meta.len() >= tail.offset).then_some(tail)
    }

    /// A whole-log push: compares with the store while reading, sends what it lacks.
    fn push_all(
        &self,
        store: &mut Store,
        progress: Option<&dyn Fn(u64)>,
    ) -> Result<(PushReport, Tail), PushError> {
        let held = held(store, &self.source.log_id, &self.origin, &self.operator)?;
        let scan = Scan::new(&self.source.log_path, &self.source.log_id, held);
        let (verdict, tail, sent, stored) = self.scan_and_send(store, scan, None, progress)?;
        self.finish(store, verdict, tail, sent, stored)
    }

    /// A push of what was appended since `tail`.
    fn push_from(
        &self,
        store: &mut Store,
        tail: Tail,
        progress: Option<&dyn Fn(u64)>,
    ) -> Result<(PushReport, Tail), PushError> {
        let held = Held {
            registered: true,
            stored: tail.tree.size(),
            head_hash: None,
            checkpoint: None,
        };
        let scan = Scan::new(&self.source.log_path, &self.source.log_id, held);
        let checkpoint = tail.checkpoint;
        let (verdict, mut tail, sent, stored) =
            self.scan_and_send(store, scan, Some(tail), progress)?;
        tail.checkpoint = tail.checkpoint.max(checkpoint);
        self.finish(store, verdict, tail, sent, stored)
    }

    /// Reads the log and sends what the store lacks: the batches go to the store from a
    /// thread of their own, so reading and parsing the next batch overlaps the store's work
    /// on the last one.
    fn scan_and_send(
        &self,
        store: &mut Store,
        mut scan: Scan<'_>,
        from: Option<Tail>,
        progress: Option<&dyn Fn(u64)>,
    ) -> Result<(StoreVerdict, Tail, u64, u64), PushError> {
        let log_id = self.source.log_id.as_str();
        let (queue, batches) = mpsc::sync_channel::<Batch>(1);
        std::thread::scope(|scope| {
            let sender = scope.spawn(move || -> Result<(u64, u64), PushError> {
                let (mut sent, mut stored) = (0u64, 0u64);
                for batch in batches {
                    sent += batch.rows.len() as u64;
                    stored += send_batch(store, log_id, &batch)?;
                }
                Ok((sent, stored))
            });
            let mut batch = Batch::default();
            let scanned = scan.run(from, progress, &mut |row| {
                batch.push(row);
                if batch.is_full() && queue.send(std::mem::take(&mut batch)).is_err() {
                    // The sender stopped on an error: it is reported below.
                    return Err(PushError::Thread("the store's sender stopped".into()));
                }
                Ok(())
            });
            if scanned.is_ok() && !batch.rows.is_empty() {
                let _ = queue.send(batch);
            }
            drop(queue);
            let sent = sender
                .join()
                .map_err(|_| PushError::Thread("the store's sender panicked".into()))?;
            // The sender's error first: the scan only stopped because of it.
            let (sent, stored) = sent?;
            let tail = scanned?;
            Ok((scan.verdict(tail.tree.size()), tail, sent, stored))
        })
    }

    fn finish(
        &self,
        store: &mut Store,
        verdict: StoreVerdict,
        mut tail: Tail,
        sent: u64,
        stored: u64,
    ) -> Result<(PushReport, Tail), PushError> {
        let size = tail.tree.size();
        let mut checkpoint = None;
        if size > tail.checkpoint {
            let signed = Checkpoint::new(&self.origin, size, tail.tree.root())
                .map_err(|e| PushError::LogId {
                    log_id: self.source.log_id.clone(),
                    reason: e.to_string(),
                })?
                .sign(&self.source.operator);
            store_checkpoint(store, &self.source.log_id, size, &tail.tree.root(), &signed)?;
            tail.checkpoint = size;
            checkpoint = Some(size);
        }
        Ok((
            PushReport {
                log_size: size,
                sent,
                stored,
                checkpoint,
                verdict,
            },
            tail,
        ))
    }
}

/// Compares the local log with the store, sending nothing: the check of `heso log verify
/// --store` and of every push. `operator` is the key the project pins.
pub fn check_against_store(
    store: &mut Store,
    log_path: &Path,
    log_id: &str,
    operator: &VerifyingKey,
) -> Result<StoreVerdict, PushError> {
    check_schema(store)?;
    let origin = log_origin(operator, log_id)?;
    let held = match held(store, log_id, &origin, operator) {
        Ok(held) => held,
        Err(PushError::Inconsistent(verdict)) => return Ok(verdict),
        Err(e) => return Err(e),
    };
    if !held.registered {
        return Ok(StoreVerdict::Unknown);
    }
    let mut scan = Scan::new(log_path, log_id, held);
    match scan.run(None, None, &mut |_| Ok(())) {
        Ok(tail) => Ok(scan.verdict(tail.tree.size())),
        Err(PushError::Inconsistent(verdict)) => Ok(verdict),
        Err(e) => Err(e),
    }
}

/// Registers the log (first push) and its approvers; refuses a log id registered with
/// another operator key.
fn register(store: &mut Store, source: &ShipSource, origin: &str) -> Result<(), PushError> {
    let operator = public_key_to_did_key(&source.operator.verifying_key());
    let mut tx = store.client.transaction().map_err(DbError::from)?;
    tx.execute(
        "INSERT INTO heso.logs (log_id, origin, operator_key, host_name) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
        &[&source.log_id, &origin, &operator, &source.host_name],
    )
    .map_err(DbError::from)?;
    let row = tx
        .query_opt(
            "SELECT operator_key, origin FROM heso.logs WHERE log_id = $1",
            &[&source.log_id],
        )
        .map_err(DbError::from)?;
    let (registered, registered_origin): (String, String) = match row {
        Some(row) => (row.get(0), row.get(1)),
        None => {
            // Another log holds this origin: impossible for a fresh log id.
            return Err(PushError::Inconsistent(StoreVerdict::OperatorMismatch {
                registered: "another log with this origin".into(),
                ours: operator,
            }));
        }
    };
    if registered != operator || registered_origin != origin {
        return Err(PushError::Inconsistent(StoreVerdict::OperatorMismatch {
            registered,
            ours: operator,
        }));
    }
    for approver in &source.approvers {
        let key = public_key_to_did_key(&approver.key);
        let until = approver.until.clone().unwrap_or_default();
        tx.execute(
            "INSERT INTO heso.approvers (log_id, approver_key, name, until) \
             SELECT $1, $2, $3, $4 WHERE NOT EXISTS ( \
                 SELECT 1 FROM heso.approvers WHERE log_id = $1 AND approver_key = $2 \
                 AND until = $4 AND registered_at = ( \
                     SELECT max(registered_at) FROM heso.approvers \
                     WHERE log_id = $1 AND approver_key = $2)) \
             ON CONFLICT DO NOTHING",
            &[&source.log_id, &key, &approver.name, &until],
        )
        .map_err(DbError::from)?;
    }
    tx.commit().map_err(DbError::from)?;
    Ok(())
}

/// What the store holds of a log: receipts, the last one's hash, the latest checkpoint
/// (verified with `operator`).
fn held(
    store: &mut Store,
    log_id: &str,
    origin: &str,
    operator: &VerifyingKey,
) -> Result<Held, PushError> {
    let client = &mut store.client;
    let registration = client
        .query_opt(
            "SELECT operator_key, origin FROM heso.logs WHERE log_id = $1",
            &[&log_id],
        )
        .map_err(DbError::from)?;
    let Some(registration) = registration else {
        return Ok(Held {
            registered: false,
            stored: 0,
            head_hash: None,
            checkpoint: None,
        });
    };
    let registered: String = registration.get(0);
    let registered_origin: String = registration.get(1);
    let ours = public_key_to_did_key(operator);
    if registered != ours || registered_origin != origin {
        return Err(PushError::Inconsistent(StoreVerdict::OperatorMismatch {
            registered,
            ours,
        }));
    }
    let head = client
        .query_opt(
            "SELECT position, action_hash FROM heso.receipts WHERE log_id = $1 \
             ORDER BY position DESC LIMIT 1",
            &[&log_id],
        )
        .map_err(DbError::from)?;
    let (stored, head_hash) = match head {
        Some(row) => {
            let position: i64 = row.get(0);
            (to_u64(position) + 1, Some(row.get::<_, String>(1)))
        }
        None => (0, None),
    };
    let latest = client
        .query_opt(
            "SELECT size, note FROM heso.checkpoints WHERE log_id = $1 ORDER BY size DESC LIMIT 1",
            &[&log_id],
        )
        .map_err(DbError::from)?;
    let checkpoint = match latest {
        None => None,
        Some(row) => {
            let size = to_u64(row.get::<_, i64>(0));
            let note: String = row.get(1);
            let invalid = |why: String| {
                PushError::Inconsistent(StoreVerdict::InvalidSignature {
                    detail: format!("the store's checkpoint of size {size}: {why}"),
                })
            };
            let signed =
                SignedCheckpoint::parse(note.as_bytes()).map_err(|e| invalid(e.to_string()))?;
            let checked = signed
                .verify(operator)
                .map_err(|e| invalid(e.to_string()))?;
            if checked.origin() != origin || checked.size() != size {
                return Err(invalid(format!(
                    "it names {} size {}, not this log",
                    checked.origin(),
                    checked.size()
                )));
            }
            Some((size, *checked.root(), note))
        }
    };
    Ok(Held {
        registered: true,
        stored,
        head_hash,
        checkpoint,
    })
}

/// One read of the local log, comparing it with what the store holds as it goes.
struct Scan<'a> {
    log_path: &'a Path,
    log_id: &'a str,
    held: Held,
}

impl<'a> Scan<'a> {
    fn new(log_path: &'a Path, log_id: &'a str, held: Held) -> Self {
        Self {
            log_path,
            log_id,
            held,
        }
    }

    /// Reads complete lines from `from` (or the start), checking each is the next receipt
    /// of the log, comparing with the store at its checkpoint and head, and handing lines
    /// the store does not hold to `send`.
    fn run(
        &mut self,
        from: Option<Tail>,
        progress: Option<&dyn Fn(u64)>,
        send: &mut dyn FnMut(Row) -> Result<(), PushError>,
    ) -> Result<Tail, PushError> {
        let path = self.log_path;
        let read_error = |source| PushError::Read {
            path: path.to_owned(),
            source,
        };
        let mut file = match heso_fs::open_no_follow(path, std::fs::OpenOptions::new().read(true)) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && from.is_none() => {
                return self.empty_log();
            }
            Err(e) => return Err(read_error(e)),
        };
        let meta = file.metadata().map_err(read_error)?;
        let mut tail = match from {
            Some(tail) => tail,
            None => Tail {
                offset: 0,
                file: file_id(&meta),
                tree: CompactRange::new(),
                next_link: None,
                checkpoint: self.held.checkpoint.as_ref().map_or(0, |c| c.0),
            },
        };
        file.seek(SeekFrom::Start(tail.offset))
            .map_err(read_error)?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::with_capacity(4096);
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line).map_err(read_error)?;
            if read == 0 || line.last() != Some(&b'\n') {
                // The end, or a torn last line a writer is still writing: not yet.
                break;
            }
            line.pop();
            let position = tail.tree.size();
            let line_no = position + 1;
            let bad = |reason: String| PushError::BadLine {
                path: path.to_owned(),
                line: line_no,
                reason,
            };
            let columns =
                Columns::of_line(&line).map_err(|e| bad(format!("not a receipt: {e}")))?;
            if columns.session_id != self.log_id || columns.seq != position {
                return Err(bad(format!(
                    "the receipt is session {} seq {}, but line {line_no} of log {} is seq {position}",
                    columns.session_id, columns.seq, self.log_id
                )));
            }
            if columns.prev_receipt_hash != tail.next_link {
                return Err(bad(format!(
                    "prev_receipt_hash does not link to seq {} (run `heso log verify`)",
                    position.saturating_sub(1)
                )));
            }
            let leaf = columns.leaf().map_err(bad)?;
            tail.tree.append(leaf).map_err(|e| bad(e.to_string()))?;
            tail.next_link = Some(columns.next_link());
            tail.offset += read as u64;
            let size = tail.tree.size();
            if let Some((checkpoint_size, root, _)) = &self.held.checkpoint
                && size == *checkpoint_size
                && tail.tree.root() != *root
            {
                return Err(PushError::Inconsistent(StoreVerdict::RootMismatch {
                    detail: format!(
                        "the local log's first {size} receipts do not give the root of the store's checkpoint of size {size}"
                    ),
                }));
            }
            if size == self.held.stored
                && let Some(head) = &self.held.head_hash
                && *head != columns.action_hash
            {
                return Err(PushError::Inconsistent(StoreVerdict::RootMismatch {
                    detail: format!(
                        "receipt {position} of the local log is {}, the store holds {head} there",
                        columns.action_hash
                    ),
                }));
            }
            if size > self.held.stored {
                send(Row {
                    position,
                    columns,
                    receipt: line.clone(),
                })?;
            }
            if let Some(progress) = progress
                && size % 4096 == 0
            {
                progress(size);
            }
        }
        let size = tail.tree.size();
        if let Some(progress) = progress {
            progress(size);
        }
        if let Some(verdict) = self.truncated(size) {
            return Err(PushError::Inconsistent(verdict));
        }
        Ok(tail)
    }

    fn empty_log(&self) -> Result<Tail, PushError> {
        if let Some(verdict) = self.truncated(0) {
            return Err(PushError::Inconsistent(verdict));
        }
        Ok(Tail {
            offset: 0,
            file: (0, 0),
            tree: CompactRange::new(),
            next_link: None,
            checkpoint: 0,
        })
    }

    /// `Truncated` when the local log holds fewer receipts than the store does.
    fn truncated(&self, local: u64) -> Option<StoreVerdict> {
        if let Some((size, _, _)) = &self.held.checkpoint
            && local < *size
        {
            return Some(StoreVerdict::Truncated {
                expected: *size,
                local,
                by: format!("the store's checkpoint of size {size}"),
            });
        }
        (local < self.held.stored).then(|| StoreVerdict::Truncated {
            expected: self.held.stored,
            local,
            by: "the store".to_owned(),
        })
    }

    fn verdict(&self, local: u64) -> StoreVerdict {
        if !self.held.registered || (self.held.stored == 0 && self.held.checkpoint.is_none()) {
            return StoreVerdict::Unknown;
        }
        StoreVerdict::Consistent {
            local,
            stored: self.held.stored,
            checkpoint: self.held.checkpoint.as_ref().map(|c| c.0),
        }
    }
}

/// A receipt to send.
struct Row {
    position: u64,
    columns: Columns,
    receipt: Vec<u8>,
}

#[derive(Default)]
struct Batch {
    rows: Vec<Row>,
    bytes: usize,
}

impl Batch {
    fn push(&mut self, row: Row) {
        self.bytes += row.receipt.len();
        self.rows.push(row);
    }

    fn is_full(&self) -> bool {
        self.rows.len() >= BATCH_ROWS || self.bytes >= BATCH_BYTES
    }
}

const COPY_RECEIPTS: &str = "COPY heso.receipts (log_id, position, session_id, seq, action_hash, \
     prev_receipt_hash, next_link, receipt, captured_at, verb, tool_name, workflow, decision, \
     trust_level) FROM STDIN (FORMAT binary)";

const COPY_TYPES: [Type; 14] = [
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BYTEA,
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
];

/// Sends one batch in one transaction, under the log's push lock; returns how many rows the
/// store added. A row the store refused as a fork fails the push (after the fork record
/// is committed).
fn send_batch(store: &mut Store, log_id: &str, batch: &Batch) -> Result<u64, PushError> {
    let mut tx = store.client.transaction().map_err(DbError::from)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&PUSH_LOCK_NS, &log_id],
    )
    .map_err(DbError::from)?;
    let sink = tx.copy_in(COPY_RECEIPTS).map_err(DbError::from)?;
    let mut writer = BinaryCopyInWriter::new(sink, &COPY_TYPES);
    for row in &batch.rows {
        let c = &row.columns;
        let position = to_i64(row.position);
        let seq = to_i64(c.seq);
        let next_link = c.next_link();
        let values: [&(dyn ToSql + Sync); 14] = [
            &log_id,
            &position,
            &c.session_id,
            &seq,
            &c.action_hash,
            &c.prev_receipt_hash,
            &next_link,
            &row.receipt,
            &c.captured_at,
            &c.verb,
            &c.tool_name,
            &c.workflow,
            &c.decision,
            &c.trust_level,
        ];
        writer.write(&values).map_err(DbError::from)?;
    }
    let added = writer.finish().map_err(DbError::from)?;
    if added < batch.rows.len() as u64 {
        let fork = tx
            .query_opt(
                "SELECT position, reason FROM heso.forks WHERE log_id = $1 \
                 AND xact = txid_current() ORDER BY id LIMIT 1",
                &[&log_id],
            )
            .map_err(DbError::from)?;
        if let Some(fork) = fork {
            let position: Option<i64> = fork.get(0);
            let reason: String = fork.get(1);
            tx.commit().map_err(DbError::from)?;
            return Err(PushError::Refused {
                what: format!(
                    "receipt {} of log {log_id}",
                    position.map_or_else(|| "?".to_owned(), |p| p.to_string())
                ),
                reason,
            });
        }
    }
    tx.commit().map_err(DbError::from)?;
    Ok(added)
}

/// Stores a signed checkpoint (a second one of the same size and root is a no-op).
fn store_checkpoint(
    store: &mut Store,
    log_id: &str,
    size: u64,
    root: &Hash,
    signed: &SignedCheckpoint,
) -> Result<(), PushError> {
    let mut tx = store.client.transaction().map_err(DbError::from)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&PUSH_LOCK_NS, &log_id],
    )
    .map_err(DbError::from)?;
    let size_sql = to_i64(size);
    let root_bytes = root.as_bytes().to_vec();
    let note = signed.to_string();
    let added = tx
        .execute(
            "INSERT INTO heso.checkpoints (log_id, size, root, note) VALUES ($1, $2, $3, $4)",
            &[&log_id, &size_sql, &root_bytes, &note],
        )
        .map_err(DbError::from)?;
    if added == 0 {
        let fork = tx
            .query_opt(
                "SELECT reason FROM heso.forks WHERE log_id = $1 AND xact = txid_current() \
                 ORDER BY id LIMIT 1",
                &[&log_id],
            )
            .map_err(DbError::from)?;
        if let Some(fork) = fork {
            let reason: String = fork.get(0);
            tx.commit().map_err(DbError::from)?;
            return Err(PushError::Refused {
                what: format!("the checkpoint of size {size} of log {log_id}"),
                reason,
            });
        }
    }
    tx.commit().map_err(DbError::from)?;
    Ok(())
}

fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        (0, 0)
    }
}

/// Positions are below 2^53 (receipts refuse larger integers), so they fit either way.
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
