//! `heso fleet verify`: every receipt of every log in the store, from the stored bytes:
//! signatures pinned to the log's registered operator key and approvers, chain links,
//! positions, the columns the queries read, and every checkpoint (its signature, its root
//! against the stored receipts) and cosignature. Streaming: receipts arrive in chunks from
//! a read-only snapshot while the previous chunk is verified on all cores, so memory stays
//! flat in the number of receipts.

use std::collections::BTreeMap;
use std::sync::mpsc;

use heso_receipt::{
    ChainHead, Checked, PinnedKey, SignerPins, VerifyingKey, check_link, public_key_from_did_key,
    public_key_to_multibase, verify_receipts,
};
use heso_tlog::{CompactRange, Hash, SignedCheckpoint, VerifierKey, leaf_hash_from_hex};
use postgres::IsolationLevel;
use postgres::fallible_iterator::FallibleIterator as _;
use rayon::prelude::*;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::connect::{DbError, Store};
use crate::migrate::{SchemaError, check_schema};
use crate::push::to_u64;
use crate::rows::Columns;

/// Rows fetched from the store at a time.
const CHUNK: i32 = 2048;
/// Failures kept per log (counts cover all of them).
const MAX_FAILURES: usize = 20;

/// What to verify.
#[derive(Default)]
pub struct FleetOptions<'a> {
    /// Only these log ids (all logs when empty).
    pub logs: Vec<String>,
    /// Called after each chunk with (receipts done, receipts in total).
    pub progress: Option<&'a (dyn Fn(u64, u64) + Sync)>,
}

/// Why fleet verification could not run (a verdict is in the report, not here).
#[derive(Debug, thiserror::Error)]
pub enum FleetVerifyError {
    /// The store's schema is missing or of another version.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The store could not be read.
    #[error("the store: {0}")]
    Db(#[from] DbError),
}

/// One receipt or checkpoint that is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetFailure {
    /// The receipt's position (or the checkpoint's size).
    pub position: u64,
    /// The verdict's name: a receipt verdict (`HashMismatch`, `InvalidSignature`,
    /// `UntrustedSigner`, `LinkBroken`, ...), or `PositionGap`, `ColumnMismatch`,
    /// `RootMismatch`, `Truncated`, `InvalidCosignature`, `Fork`.
    pub verdict: String,
    /// What is wrong.
    pub detail: String,
}

/// The outcome for one log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogResult {
    /// The log id.
    pub log_id: String,
    /// Its origin.
    pub origin: String,
    /// The host that registered it.
    pub host_name: String,
    /// The registered operator key (did:key).
    pub operator_key: String,
    /// Receipts stored.
    pub receipts: u64,
    /// Verdict name -> receipts.
    pub counts: BTreeMap<String, u64>,
    /// The first failures of receipts, in position order.
    pub failures: Vec<FleetFailure>,
    /// Checkpoints stored.
    pub checkpoints: u64,
    /// The largest checkpoint that verified and matches the stored receipts.
    pub checkpoint_size: Option<u64>,
    /// Cosignatures stored (all checked).
    pub cosignatures: u64,
    /// Checkpoint, cosignature and fork failures.
    pub log_failures: Vec<FleetFailure>,
    /// Inserts the store refused and recorded as forks.
    pub forks: u64,
    /// The last stored receipt: position and action_hash.
    pub head: Option<(u64, String)>,
}

impl LogResult {
    /// True when every receipt, link, column and checkpoint is valid and no fork was
    /// recorded.
    pub fn all_valid(&self) -> bool {
        self.counts.keys().all(|k| k == "Valid") && self.log_failures.is_empty() && self.forks == 0
    }

    fn fail(&mut self, position: u64, verdict: &str, detail: String) {
        *self.counts.entry(verdict.to_owned()).or_default() += 1;
        if self.failures.len() < MAX_FAILURES {
            self.failures.push(FleetFailure {
                position,
                verdict: verdict.to_owned(),
                detail,
            });
        }
    }

    fn log_fail(&mut self, position: u64, verdict: &str, detail: String) {
        if self.log_failures.len() < MAX_FAILURES {
            self.log_failures.push(FleetFailure {
                position,
                verdict: verdict.to_owned(),
                detail,
            });
        }
    }
}

/// The outcome of `heso fleet verify`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FleetReport {
    /// Every log verified, by log id.
    pub logs: Vec<LogResult>,
    /// Log ids asked for that the store does not hold.
    pub missing: Vec<String>,
}

impl FleetReport {
    /// True when every log is valid and every log asked for was found.
    pub fn all_valid(&self) -> bool {
        self.missing.is_empty() && self.logs.iter().all(LogResult::all_valid)
    }

    /// Receipts verified.
    pub fn receipts(&self) -> u64 {
        self.logs.iter().map(|l| l.receipts).sum()
    }

    /// The report as JSON (the CLI's `--json` schema).
    pub fn to_json(&self) -> Value {
        let failure = |f: &FleetFailure| json!({"position": f.position, "verdict": f.verdict, "detail": f.detail});
        json!({
            "all_valid": self.all_valid(),
            "receipts": self.receipts(),
            "missing": self.missing,
            "logs": self.logs.iter().map(|l| json!({
                "log_id": l.log_id,
                "origin": l.origin,
                "host_name": l.host_name,
                "operator": l.operator_key,
                "all_valid": l.all_valid(),
                "receipts": l.receipts,
                "counts": l.counts,
                "failures": l.failures.iter().map(failure).collect::<Vec<_>>(),
                "checkpoints": l.checkpoints,
                "checkpoint_size": l.checkpoint_size,
                "cosignatures": l.cosignatures,
                "log_failures": l.log_failures.iter().map(failure).collect::<Vec<_>>(),
                "forks": l.forks,
                "head": l.head.as_ref().map(|(p, h)| json!({"position": p, "action_hash": h})),
            })).collect::<Vec<_>>(),
        })
    }
}

/// A stored checkpoint, as far as it was checked before the receipts.
struct StoredCheckpoint {
    size: u64,
    /// The root, when the note verified with the log's key.
    root: Option<Hash>,
}

/// One log while its receipts stream by.
struct LogState {
    result: LogResult,
    pins: SignerPins,
    /// False when the log's registration itself is unusable (then every receipt fails).
    usable: bool,
    expected: u64,
    head: Option<ChainHead>,
    tree: CompactRange,
    /// Verified checkpoints by size, ascending; `next` indexes the next to meet.
    checkpoints: Vec<StoredCheckpoint>,
    next: usize,
}

impl LogState {
    /// Checks one receipt, already verified on its own (with its columns and leaf, see
    /// [`Verified`]), against the log: position, chain, tree, checkpoints.
    fn receipt(&mut self, row: &FetchedRow, verified: Verified) {
        let Verified {
            checked,
            columns,
            leaf,
        } = verified;
        self.result.receipts += 1;
        let position = row.position;
        if position != self.expected {
            self.result.fail(
                position,
                "PositionGap",
                format!(
                    "position {position} follows position {} (receipts are missing)",
                    self.expected.wrapping_sub(1)
                ),
            );
            // Carry on from here; checkpoints past the gap will not match.
            self.expected = position;
        }
        self.expected = position.saturating_add(1);
        let mut verdict: Option<(String, String)> = if !self.usable {
            Some((
                "UnusableRegistration".into(),
                "the log's registration is not usable (see the log failures)".into(),
            ))
        } else if checked.verdict.is_valid() {
            None
        } else {
            Some((
                checked.verdict.kind().to_owned(),
                checked.verdict.detail().to_owned(),
            ))
        };
        if let Some(receipt) = checked.receipt.as_ref() {
            // The chain: the same rule as the local log, head moving to the claimed hash.
            let head = match check_link(self.head.as_ref(), receipt) {
                Ok(head) => head,
                Err(broken) => {
                    if verdict.is_none() {
                        verdict = Some((broken.kind().to_owned(), broken.detail().to_owned()));
                    }
                    ChainHead {
                        session_id: receipt.content.session_id.clone().unwrap_or_default(),
                        seq: receipt.content.seq.unwrap_or(0),
                        action_hash: receipt.content.action_hash.clone(),
                    }
                }
            };
            self.head = Some(head);
            // The columns the queries read must say what the receipt says.
            if verdict.is_none()
                && let Some(diff) = columns
            {
                verdict = Some(("ColumnMismatch".into(), diff));
            }
        }
        match verdict {
            None => *self.result.counts.entry("Valid".into()).or_default() += 1,
            Some((kind, detail)) => self.result.fail(position, &kind, detail),
        }
        match leaf {
            Ok(leaf) => {
                if self.tree.append(leaf).is_err() {
                    self.result
                        .log_fail(position, "Truncated", "the tree is full".into());
                }
            }
            Err(e) => self.result.log_fail(
                position,
                "RootMismatch",
                format!("receipt {position}'s action_hash is not a hash ({e}): no checkpoint past it can match"),
            ),
        }
        self.meet_checkpoints();
        self.result.head = Some((position, row.columns.action_hash.clone()));
    }

    /// Compares the tree with every checkpoint of its size.
    fn meet_checkpoints(&mut self) {
        let size = self.tree.size();
        while let Some(checkpoint) = self.checkpoints.get(self.next) {
            if checkpoint.size > size {
                break;
            }
            if checkpoint.size == size
                && let Some(root) = checkpoint.root
            {
                if root == self.tree.root() {
                    self.result.checkpoint_size = Some(size);
                } else {
                    self.result.log_fail(
                        size,
                        "RootMismatch",
                        format!(
                            "the stored receipts 0..{size} do not give the root of the checkpoint of size {size}: a stored receipt was changed, removed or reordered"
                        ),
                    );
                }
            }
            self.next += 1;
        }
    }

    fn finish(mut self) -> LogResult {
        self.meet_checkpoints();
        let stored = self.tree.size();
        for checkpoint in self.checkpoints.iter().skip(self.next) {
            if checkpoint.root.is_some() && checkpoint.size > stored {
                self.result.log_fail(
                    checkpoint.size,
                    "Truncated",
                    format!(
                        "the checkpoint of size {} covers more receipts than the {stored} stored: receipts were removed from the store",
                        checkpoint.size
                    ),
                );
            }
        }
        self.result
    }
}

/// What of a receipt can be checked on its own, on any thread: its signatures and hash,
/// the stored columns against it, and its leaf hash.
struct Verified {
    checked: Checked,
    /// Where the stored columns differ from the receipt (`None`: they match, or the receipt
    /// did not parse).
    columns: Option<String>,
    /// The leaf hash of the action_hash the receipt claims (or the column, unparsed).
    leaf: Result<Hash, String>,
}

impl Verified {
    fn of(row: &FetchedRow, log_id: &str, checked: Checked) -> Self {
        let (columns, leaf_hex) = match checked.receipt.as_ref() {
            Some(receipt) => {
                let columns = if checked.verdict.is_valid() {
                    match Columns::of_receipt(receipt) {
                        Err(e) => Some(e),
                        Ok(from_bytes) => column_difference(log_id, row, &from_bytes),
                    }
                } else {
                    None
                };
                (columns, receipt.content.action_hash.as_str())
            }
            None => (None, row.columns.action_hash.as_str()),
        };
        let leaf = leaf_hash_from_hex(leaf_hex).map_err(|e| e.to_string());
        Self {
            checked,
            columns,
            leaf,
        }
    }
}

/// Where a stored row's columns differ from what its receipt says, if anywhere (nothing is
/// allocated when they agree).
fn column_difference(log_id: &str, row: &FetchedRow, receipt: &Columns) -> Option<String> {
    let stored = &row.columns;
    let mut diffs = Vec::new();
    let mut check = |name: &str, stored: &str, real: &str| {
        if stored != real {
            diffs.push(format!(
                "{name} is stored as {stored:?}, the receipt says {real:?}"
            ));
        }
    };
    check("session_id", &stored.session_id, &receipt.session_id);
    check("log_id", log_id, &receipt.session_id);
    check("action_hash", &stored.action_hash, &receipt.action_hash);
    check(
        "prev_receipt_hash",
        stored.prev_receipt_hash.as_deref().unwrap_or(""),
        receipt.prev_receipt_hash.as_deref().unwrap_or(""),
    );
    check("next_link", &row.next_link, &receipt.next_link());
    check("verb", &stored.verb, &receipt.verb);
    check("tool_name", &stored.tool_name, &receipt.tool_name);
    check("workflow", &stored.workflow, &receipt.workflow);
    check("decision", &stored.decision, &receipt.decision);
    check("trust_level", &stored.trust_level, &receipt.trust_level);
    if stored.seq != receipt.seq {
        diffs.push(format!(
            "seq is stored as \"{}\", the receipt says \"{}\"",
            stored.seq, receipt.seq
        ));
    }
    if row.position != receipt.seq {
        diffs.push(format!(
            "position is stored as \"{}\", the receipt says \"{}\"",
            row.position, receipt.seq
        ));
    }
    if stored.captured_at != receipt.captured_at {
        diffs.push(format!(
            "captured_at is stored as {}, the receipt says {}",
            stored.captured_at, receipt.captured_at
        ));
    }
    (!diffs.is_empty()).then(|| diffs.join("; "))
}

/// A receipt row as fetched.
struct FetchedRow {
    log: usize,
    position: u64,
    bytes: Vec<u8>,
    next_link: String,
    columns: Columns,
}

/// Verifies the logs `options` selects, streaming their receipts.
pub fn fleet_verify(
    store: &mut Store,
    options: &FleetOptions<'_>,
) -> Result<FleetReport, FleetVerifyError> {
    check_schema(store)?;
    let mut tx = store
        .client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(DbError::from)?;
    let rows = tx
        .query(
            "SELECT log_id, origin, operator_key, host_name FROM heso.logs \
             WHERE cardinality($1::text[]) = 0 OR log_id = ANY($1) ORDER BY log_id",
            &[&options.logs],
        )
        .map_err(DbError::from)?;
    let mut report = FleetReport::default();
    for wanted in &options.logs {
        if !rows.iter().any(|r| r.get::<_, String>(0) == *wanted) {
            report.missing.push(wanted.clone());
        }
    }
    let mut states = Vec::with_capacity(rows.len());
    for row in &rows {
        states.push(log_state(&mut tx, row)?);
    }
    let ids: Vec<String> = states.iter().map(|s| s.result.log_id.clone()).collect();
    let total = match options.progress {
        Some(_) => to_u64(
            tx.query_one(
                "SELECT count(*) FROM heso.receipts WHERE log_id = ANY($1)",
                &[&ids],
            )
            .map_err(DbError::from)?
            .get::<_, i64>(0),
        ),
        None => 0,
    };
    let index: BTreeMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();

    let (sender, receiver) = mpsc::sync_channel::<Result<Vec<FetchedRow>, DbError>>(4);
    let mut done = 0u64;
    let no_pins = SignerPins::Only(Vec::new());
    std::thread::scope(|scope| -> Result<(), FleetVerifyError> {
        let tx = &mut tx;
        let ids = &ids;
        let index = &index;
        scope.spawn(move || {
            let fetched = fetch_all(tx, ids, index, &sender);
            if let Err(e) = fetched {
                let _ = sender.send(Err(e));
            }
        });
        for chunk in receiver {
            let chunk = chunk?;
            // Everything a receipt needs no other receipt for runs on all cores: the
            // signatures by heso-receipt's verify_receipts (each log's run of rows at once,
            // its signer keys decoded once), then the columns and leaf hashes; only the
            // chain, positions and tree are walked in order.
            let mut checked: Vec<Checked> = Vec::with_capacity(chunk.len());
            for run in chunk.chunk_by(|a, b| a.log == b.log) {
                let lines: Vec<&[u8]> = run.iter().map(|row| row.bytes.as_slice()).collect();
                let pins = run
                    .first()
                    .and_then(|row| states.get(row.log))
                    .map_or(&no_pins, |state| &state.pins);
                checked.extend(verify_receipts(&lines, pins));
            }
            let verified: Vec<Verified> = chunk
                .par_iter()
                .zip(checked.into_par_iter())
                .map(|(row, checked)| {
                    let log_id = states.get(row.log).map_or("", |s| s.result.log_id.as_str());
                    Verified::of(row, log_id, checked)
                })
                .collect();
            for (row, verified) in chunk.iter().zip(verified) {
                if let Some(state) = states.get_mut(row.log) {
                    state.receipt(row, verified);
                }
            }
            done += chunk.len() as u64;
            if let Some(progress) = options.progress {
                progress(done, total);
            }
        }
        Ok(())
    })?;
    tx.commit().map_err(DbError::from)?;
    report.logs = states.into_iter().map(LogState::finish).collect();
    Ok(report)
}

/// Streams the receipts of `ids`, by log then position, through a portal.
fn fetch_all(
    tx: &mut postgres::Transaction<'_>,
    ids: &[String],
    index: &BTreeMap<&str, usize>,
    sender: &mpsc::SyncSender<Result<Vec<FetchedRow>, DbError>>,
) -> Result<(), DbError> {
    let portal = tx.bind(
        "SELECT log_id, position, receipt, next_link, session_id, seq, action_hash, \
         prev_receipt_hash, captured_at, verb, tool_name, workflow, decision, trust_level \
         FROM heso.receipts WHERE log_id = ANY($1) ORDER BY log_id, position",
        &[&ids],
    )?;
    loop {
        let mut rows = tx.query_portal_raw(&portal, CHUNK)?;
        let mut chunk = Vec::with_capacity(CHUNK as usize);
        while let Some(row) = rows.next()? {
            let log_id: &str = row.try_get(0)?;
            let position: i64 = row.try_get(1)?;
            let seq: i64 = row.try_get(5)?;
            let captured_at: OffsetDateTime = row.try_get(8)?;
            chunk.push(FetchedRow {
                log: index.get(log_id).copied().unwrap_or(usize::MAX),
                position: to_u64(position),
                bytes: row.try_get(2)?,
                next_link: row.try_get(3)?,
                columns: Columns {
                    session_id: row.try_get(4)?,
                    seq: to_u64(seq),
                    action_hash: row.try_get(6)?,
                    prev_receipt_hash: row.try_get(7)?,
                    captured_at,
                    verb: row.try_get(9)?,
                    tool_name: row.try_get(10)?,
                    workflow: row.try_get(11)?,
                    decision: row.try_get(12)?,
                    trust_level: row.try_get(13)?,
                },
            });
        }
        if chunk.is_empty() {
            return Ok(());
        }
        let last = chunk.len() < CHUNK as usize;
        if sender.send(Ok(chunk)).is_err() || last {
            return Ok(());
        }
    }
}

/// Reads a log's registration, approvers, checkpoints, cosignatures and forks, and checks
/// what can be checked before its receipts.
fn log_state(tx: &mut postgres::Transaction<'_>, row: &postgres::Row) -> Result<LogState, DbError> {
    let log_id: String = row.get(0);
    let origin: String = row.get(1);
    let operator_key: String = row.get(2);
    let mut result = LogResult {
        log_id: log_id.clone(),
        origin: origin.clone(),
        host_name: row.get(3),
        operator_key: operator_key.clone(),
        ..LogResult::default()
    };
    let mut usable = true;
    let operator: Option<VerifyingKey> = match public_key_from_did_key(&operator_key) {
        Ok(key) => Some(key),
        Err(e) => {
            result.log_fail(0, "UnusableRegistration", format!("operator key: {e}"));
            usable = false;
            None
        }
    };
    if let Some(key) = &operator {
        match heso_tlog::origin(&public_key_to_multibase(key), &log_id) {
            Ok(expected) if expected == origin => {}
            Ok(expected) => {
                result.log_fail(
                    0,
                    "OriginMismatch",
                    format!(
                        "the registered origin is {origin}, its key and log id give {expected}"
                    ),
                );
                usable = false;
            }
            Err(e) => {
                result.log_fail(
                    0,
                    "OriginMismatch",
                    format!("the log id cannot name a log: {e}"),
                );
                usable = false;
            }
        }
    }
    let mut pinned = Vec::new();
    if let Some(key) = operator {
        pinned.push(PinnedKey { key, until: None });
    }
    // Each approver key's latest registration says until when it counts.
    let approvers = tx.query(
        "SELECT DISTINCT ON (approver_key) approver_key, until FROM heso.approvers \
         WHERE log_id = $1 ORDER BY approver_key, registered_at DESC",
        &[&log_id],
    )?;
    for approver in approvers {
        let key: String = approver.get(0);
        let until: String = approver.get(1);
        match public_key_from_did_key(&key) {
            Ok(key) => pinned.push(PinnedKey {
                key,
                until: (!until.is_empty()).then_some(until),
            }),
            Err(e) => result.log_fail(0, "UnusableRegistration", format!("approver {key}: {e}")),
        }
    }
    let mut checkpoints = Vec::new();
    let stored = tx.query(
        "SELECT size, root, note FROM heso.checkpoints WHERE log_id = $1 ORDER BY size",
        &[&log_id],
    )?;
    for checkpoint in stored {
        let size = to_u64(checkpoint.get::<_, i64>(0));
        let root: Vec<u8> = checkpoint.get(1);
        let note: String = checkpoint.get(2);
        result.checkpoints += 1;
        let verified = operator
            .as_ref()
            .map(|key| check_note(&note, key, &origin, size, &root));
        let root = match verified {
            Some(Ok(root)) => Some(root),
            Some(Err((kind, detail))) => {
                result.log_fail(size, kind, detail);
                None
            }
            None => None,
        };
        checkpoints.push(StoredCheckpoint { size, root });
    }
    let cosignatures = tx.query(
        "SELECT c.size, c.witness_key, c.signature_line, k.note FROM heso.cosignatures c \
         JOIN heso.checkpoints k USING (log_id, size) WHERE c.log_id = $1 ORDER BY c.size",
        &[&log_id],
    )?;
    for cosignature in cosignatures {
        result.cosignatures += 1;
        let size = to_u64(cosignature.get::<_, i64>(0));
        let witness: String = cosignature.get(1);
        let line: String = cosignature.get(2);
        let note: String = cosignature.get(3);
        if let Err(detail) = check_cosignature(&note, &witness, &line) {
            result.log_fail(size, "InvalidCosignature", detail);
        }
    }
    let forks = tx.query(
        "SELECT count(*) OVER (), kind, position, reason, db_user, recorded_at::text \
         FROM heso.forks WHERE log_id = $1 ORDER BY id LIMIT 5",
        &[&log_id],
    )?;
    for fork in &forks {
        result.forks = to_u64(fork.get::<_, i64>(0));
        let kind: String = fork.get(1);
        let position: Option<i64> = fork.get(2);
        let reason: String = fork.get(3);
        let user: String = fork.get(4);
        let at: String = fork.get(5);
        result.log_fail(
            position.map_or(0, to_u64),
            "Fork",
            format!("a {kind} was refused at {at} (role {user}): {reason}"),
        );
    }
    Ok(LogState {
        result,
        pins: SignerPins::Dated(pinned),
        usable,
        expected: 0,
        head: None,
        tree: CompactRange::new(),
        checkpoints,
        next: 0,
    })
}

/// A stored checkpoint's note, checked with the log's key: its root, or the verdict.
fn check_note(
    note: &str,
    key: &VerifyingKey,
    origin: &str,
    size: u64,
    root: &[u8],
) -> Result<Hash, (&'static str, String)> {
    let signed = SignedCheckpoint::parse(note.as_bytes()).map_err(|e| {
        (
            "InvalidSignature",
            format!("checkpoint of size {size}: {e}"),
        )
    })?;
    let checkpoint = signed.verify(key).map_err(|e| {
        (
            "InvalidSignature",
            format!("checkpoint of size {size}: {e}"),
        )
    })?;
    if checkpoint.origin() != origin {
        return Err((
            "OriginMismatch",
            format!(
                "checkpoint of size {size} names {}, not this log",
                checkpoint.origin()
            ),
        ));
    }
    if checkpoint.size() != size || checkpoint.root().as_bytes().as_slice() != root {
        return Err((
            "ColumnMismatch",
            format!(
                "checkpoint of size {size}: the size or root columns differ from its signed note (size {}, root {})",
                checkpoint.size(),
                checkpoint.root()
            ),
        ));
    }
    Ok(*checkpoint.root())
}

fn check_cosignature(note: &str, witness: &str, line: &str) -> Result<(), String> {
    let key = VerifierKey::parse(witness).map_err(|e| format!("witness key {witness}: {e}"))?;
    let text = format!("{note}{line}\n");
    let signed = SignedCheckpoint::parse(text.as_bytes())
        .map_err(|e| format!("cosignature by {}: {e}", key.name()))?;
    signed
        .verify_cosignature(&key)
        .map(|_| ())
        .map_err(|e| format!("cosignature by {}: {e}", key.name()))
}
