//! Checkpoints and proofs: `heso log checkpoint`, `heso log verify --checkpoint`, `heso
//! prove`, `heso log consistency`, and `heso verify` of an inclusion bundle or a
//! consistency proof. The formats and verdicts are heso-tlog's and heso-chain's; this only
//! reads files, picks keys and prints.

use std::path::{Path, PathBuf};

use heso_chain::{CheckpointVerdict, Log, LogOptions, TreeHead, check_checkpoint, tree_of_log};
use heso_engine::{Engine, ProjectPaths, discover, load_config};
use heso_receipt::{
    BundleReport, Included, NotIncluded, VerifyingKey, public_key_to_did_key, verify_receipt,
};
use heso_tlog::{
    BundleLeaf, ConsistencyProof, InclusionBundle, LeafHashes, SignedCheckpoint, VerifierKey,
    operator_multibase, parse_origin, prove_consistency, prove_inclusion, tree_root,
    verify_checkpoint_consistency,
};
use serde_json::json;

use crate::output::shown;
use crate::{Failure, Outcome};

/// A verdict that is not valid: exit 1 with `message` on stderr.
fn refused(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 1,
        message: message.to_string(),
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::usage(format!("cannot read the {what} {}: {e}", shown(path))))
}

/// Reads and parses a signed checkpoint file (verifies nothing).
pub(crate) fn read_checkpoint(path: &Path) -> Result<SignedCheckpoint, Failure> {
    let bytes = read(path, "checkpoint")?;
    SignedCheckpoint::parse(&bytes)
        .map_err(|e| Failure::usage(format!("{} is not a signed checkpoint: {e}", shown(path))))
}

/// Writes `text` to `out` (replacing it), or prints it.
fn emit(text: &str, out: Option<&Path>, what: &str) -> Result<(), Failure> {
    match out {
        Some(path) => {
            heso_fs::write_atomic(
                path,
                text.as_bytes(),
                heso_fs::PUBLIC_FILE_MODE,
                heso_fs::Existing::Replace,
            )
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", shown(path))))?;
            err!("wrote {what} to {}", shown(path));
        }
        None => out_part!("{text}"),
    }
    Ok(())
}

/// The project's log as a verifier sees it: its origin and the operator key `heso.toml`
/// pins (checked against `identity.pub` and the key file).
struct ProjectLog {
    paths: ProjectPaths,
    operator: VerifyingKey,
    origin: String,
    log_id: String,
}

fn project_log() -> Result<ProjectLog, Failure> {
    let paths = discover(None).map_err(Failure::usage)?;
    let config = load_config(&paths.config()).map_err(Failure::usage)?;
    let identity = heso_engine::operator_identity(&paths, &config).map_err(Failure::usage)?;
    if let Some(notice) = identity.notice() {
        err!("heso: warning: {notice}");
    }
    let log_id = heso_chain::read_session(&paths.data_dir())
        .map_err(Failure::usage)?
        .ok_or_else(|| {
            Failure::usage(format!(
                "{} has no log yet (no session file); nothing to check a checkpoint against",
                shown(&paths.data_dir())
            ))
        })?;
    let origin = heso_tlog::origin(&operator_multibase(&identity.key), &log_id)
        .map_err(|e| Failure::usage(format!("this log has no valid origin: {e}")))?;
    Ok(ProjectLog {
        paths,
        operator: identity.key,
        origin,
        log_id,
    })
}

/// Opens the project's log (no key needed) to read its tree sidecars.
fn open_log(paths: &ProjectPaths) -> Result<Log, Failure> {
    heso_fs::refuse_symlink(&paths.data_dir())
        .map_err(|e| Failure::usage(format!("cannot use {}: {e}", shown(&paths.data_dir()))))?;
    Log::open(&paths.data_dir(), LogOptions::default())
        .map(|(log, _)| log)
        .map_err(|e| Failure::usage(format!("cannot open the audit log: {e}")))
}

/// `heso log checkpoint [--out FILE]`.
pub(crate) fn log_checkpoint(out: Option<PathBuf>) -> Outcome {
    let engine = Engine::open(None).map_err(Failure::usage)?;
    let signed = engine.checkpoint().map_err(Failure::usage)?;
    let checkpoint = signed.unverified();
    emit(
        &signed.to_string(),
        out.as_deref(),
        &format!(
            "the checkpoint of {} receipts of {}",
            checkpoint.size(),
            checkpoint.origin()
        ),
    )?;
    if out.is_some() {
        err!(
            "store it where the agent cannot write (a commit, a ticket, a witness): a copy next to the log only catches accidents"
        );
    }
    Ok(0)
}

/// The newest checkpoint the engine kept in `heso-local-data/checkpoints/` (the largest
/// size: file names start with it, zero-padded), if any.
pub(crate) fn newest_local_checkpoint() -> Option<PathBuf> {
    let paths = discover(None).ok()?;
    let dir = paths.data_dir().join(heso_engine::CHECKPOINTS_DIR);
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "checkpoint"))
        .max()
}

/// One checkpoint file checked against the log.
pub(crate) struct CheckpointCheck {
    file: String,
    size: u64,
    origin: String,
    verdict: CheckpointVerdict,
}

impl CheckpointCheck {
    pub(crate) fn is_valid(&self) -> bool {
        self.verdict.is_valid()
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        let cosigned: Vec<_> = match &self.verdict {
            CheckpointVerdict::Contained { cosigned_by, .. } => cosigned_by
                .iter()
                .map(|(witness, time)| json!({"witness": witness, "time": time}))
                .collect(),
            _ => Vec::new(),
        };
        json!({
            "file": self.file,
            "origin": self.origin,
            "size": self.size,
            "valid": self.verdict.is_valid(),
            "verdict": self.verdict.kind(),
            "detail": self.verdict.to_string(),
            "cosigned_by": cosigned,
        })
    }
}

impl std::fmt::Display for CheckpointCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "checkpoint {} ({} receipts): {}",
            self.file, self.size, self.verdict
        )
    }
}

/// Checks every checkpoint file against the project's log, computed from the log file
/// alone (never from its sidecars), requiring the `witnesses`' cosignatures.
pub(crate) fn check_log(
    files: &[PathBuf],
    witnesses: &[String],
) -> Result<Vec<CheckpointCheck>, Failure> {
    let project = project_log()?;
    let witnesses = witnesses
        .iter()
        .map(|text| {
            let key = VerifierKey::parse(text).map_err(|e| {
                Failure::usage(format!(
                    "--witness {text:?}: {e} (give the witness's verifier key, NAME+ID+KEY, as `heso witness init` prints it)"
                ))
            })?;
            if key.signature_type() != heso_tlog::SignatureType::CosignatureV1 {
                return Err(Failure::usage(format!(
                    "--witness {text:?} is a log key (type 0x01), not a witness's cosigning key (type 0x04)"
                )));
            }
            Ok(key)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let checkpoints = files
        .iter()
        .map(|path| Ok((shown(path), read_checkpoint(path)?)))
        .collect::<Result<Vec<_>, Failure>>()?;
    let sizes: Vec<u64> = checkpoints
        .iter()
        .map(|(_, c)| c.unverified().size())
        .collect();
    let log = project.paths.receipts();
    heso_fs::refuse_symlink(&log)
        .map_err(|e| Failure::usage(format!("cannot verify {}: {e}", shown(&log))))?;
    let tree = match tree_of_log(&log, &project.log_id, &sizes) {
        Ok(tree) => tree,
        // No log file: an empty log, which every non-empty checkpoint shows truncated.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => heso_chain::LogTree::default(),
        Err(e) => return Err(Failure::usage(format!("cannot read {}: {e}", shown(&log)))),
    };
    Ok(checkpoints
        .into_iter()
        .map(|(file, signed)| CheckpointCheck {
            size: signed.unverified().size(),
            origin: signed.unverified().origin().to_owned(),
            verdict: check_checkpoint(
                &signed,
                &tree,
                &project.origin,
                &project.operator,
                &witnesses,
            ),
            file,
        })
        .collect())
}

/// The receipt's seq, session and action_hash, read from its JSON.
fn receipt_position(line: &str) -> Result<(u64, String, String), Failure> {
    let value: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| Failure::usage(format!("the receipt does not parse: {e}")))?;
    let field = |name: &str| value.pointer(&format!("/content/{name}"));
    let seq = field("seq")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| Failure::usage("the receipt has no seq: it is not in a log's tree"))?;
    let text = |name: &str| {
        field(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (session, hash) = (text("session_id"), text("action_hash"));
    Ok((seq, session, hash))
}

/// Checks that the log's sidecars give `checkpoint`'s root at its size.
fn require_in_log<S: LeafHashes>(
    source: &S,
    head: &TreeHead,
    checkpoint: &heso_tlog::Checkpoint,
    file: &str,
) -> Result<(), Failure> {
    if checkpoint.size() > head.size {
        return Err(refused(format!(
            "Truncated: {file} covers {} receipts, the log holds {} (heso log verify --checkpoint {file})",
            checkpoint.size(),
            head.size
        )));
    }
    let root = tree_root(source, checkpoint.size())
        .map_err(|e| Failure::usage(format!("cannot read the log's tree: {e}")))?;
    if root != *checkpoint.root() {
        return Err(refused(format!(
            "RootMismatch: the log's first {} receipts do not give the root of {file} (heso log verify --checkpoint {file})",
            checkpoint.size()
        )));
    }
    Ok(())
}

/// A checkpoint file of this project's log, its signature checked with the pinned key.
fn verified_checkpoint(
    project: &ProjectLog,
    path: &Path,
) -> Result<(SignedCheckpoint, heso_tlog::Checkpoint), Failure> {
    let signed = read_checkpoint(path)?;
    let claimed = signed.unverified();
    if claimed.origin() != project.origin {
        return Err(refused(format!(
            "OriginMismatch: {} is a checkpoint of {}, this log is {}",
            shown(path),
            claimed.origin(),
            project.origin
        )));
    }
    let checkpoint = signed
        .verify(&project.operator)
        .map_err(|e| refused(format!("InvalidSignature: {}: {e}", shown(path))))?
        .clone();
    Ok((signed, checkpoint))
}

/// `heso prove PREFIX [--checkpoint FILE] [--out FILE]`.
pub(crate) fn prove(prefix: &str, checkpoint: Option<PathBuf>, out: Option<PathBuf>) -> Outcome {
    let project = project_log()?;
    let found =
        heso_chain::find_by_prefix(&project.paths.receipts(), prefix).map_err(Failure::usage)?;
    let (seq, session, action_hash) = receipt_position(&found.line)?;
    if session != project.log_id {
        return Err(Failure::usage(format!(
            "the receipt is of session {session}, not of this log ({}): it is in no checkpoint of it",
            project.log_id
        )));
    }
    let (signed, size, source) = match checkpoint {
        Some(path) => {
            let (signed, body) = verified_checkpoint(&project, &path)?;
            let log = open_log(&project.paths)?;
            let (head, source) = log.tree_snapshot().map_err(Failure::usage)?;
            require_in_log(&source, &head, &body, &shown(&path))?;
            (signed, body.size(), source)
        }
        None => {
            let engine = Engine::open(None).map_err(Failure::usage)?;
            let signed = engine.checkpoint().map_err(Failure::usage)?;
            let (_, source) = engine.tree_snapshot().map_err(Failure::usage)?;
            let size = signed.unverified().size();
            (signed, size, source)
        }
    };
    if seq >= size {
        return Err(Failure::usage(format!(
            "the receipt is seq {seq}, after the checkpoint's {size} receipts: give a later checkpoint, or none to sign one of the whole log"
        )));
    }
    let proof = prove_inclusion(&source, seq, size)
        .map_err(|e| Failure::usage(format!("cannot make the proof: {e}")))?;
    let bundle = InclusionBundle::new(&found.line, signed, proof).map_err(Failure::usage)?;
    // Check what is handed out, as its reader will.
    bundle
        .verify(
            &project.operator,
            BundleLeaf {
                action_hash: &action_hash,
                session_id: Some(&session),
                seq: Some(seq),
            },
        )
        .map_err(|e| {
            Failure::usage(format!(
                "the log's tree sidecars disagree with the log ({e}); reopen the project to rebuild them"
            ))
        })?;
    let mut text = bundle.to_json();
    text.push('\n');
    emit(
        &text,
        out.as_deref(),
        &format!("the proof that receipt seq {seq} is in the checkpoint of {size} receipts"),
    )?;
    Ok(0)
}

/// `heso log consistency OLD NEW`: the proof that OLD's tree is a prefix of NEW's.
pub(crate) fn log_consistency(old: &Path, new: &Path) -> Outcome {
    let project = project_log()?;
    let (_, old_body) = verified_checkpoint(&project, old)?;
    let (_, new_body) = verified_checkpoint(&project, new)?;
    if old_body.size() > new_body.size() {
        return Err(Failure::usage(format!(
            "{} ({} receipts) is larger than {} ({}): give the older checkpoint first",
            shown(old),
            old_body.size(),
            shown(new),
            new_body.size()
        )));
    }
    let log = open_log(&project.paths)?;
    let (head, source) = log.tree_snapshot().map_err(Failure::usage)?;
    require_in_log(&source, &head, &old_body, &shown(old))?;
    require_in_log(&source, &head, &new_body, &shown(new))?;
    let proof = prove_consistency(&source, old_body.size(), new_body.size())
        .map_err(|e| Failure::usage(format!("cannot make the proof: {e}")))?;
    verify_checkpoint_consistency(&old_body, &new_body, &proof)
        .map_err(|e| Failure::usage(format!("the log's sidecars disagree with the log: {e}")))?;
    out!("{}", serde_json::to_string(&proof).map_err(Failure::usage)?);
    Ok(0)
}

/// The key a checkpoint is checked with: the project's pinned operator inside a project,
/// else the key its origin names (said so in the output).
fn checkpoint_key(checkpoint: &SignedCheckpoint) -> Result<(VerifyingKey, String), Failure> {
    if discover(None).is_ok() {
        let project = project_log()?;
        return Ok((
            project.operator,
            "checked with this project's operator key".into(),
        ));
    }
    let origin = checkpoint.unverified().origin();
    let key = parse_origin(origin)
        .and_then(|parts| parts.operator_key())
        .map_err(|e| refused(format!("OriginMismatch: {e}")))?;
    Ok((
        key,
        format!(
            "no project here: checked with the key the origin names, {}",
            public_key_to_did_key(&key)
        ),
    ))
}

/// `heso verify --consistency PROOF OLD NEW`.
pub(crate) fn verify_consistency(files: &[PathBuf], json: bool) -> Outcome {
    let [proof_path, old_path, new_path] = files else {
        return Err(Failure::usage("--consistency takes PROOF OLD NEW"));
    };
    let proof: ConsistencyProof =
        serde_json::from_slice(&read(proof_path, "proof")?).map_err(|e| {
            Failure::usage(format!(
                "{} is not a consistency proof: {e}",
                shown(proof_path)
            ))
        })?;
    let old = read_checkpoint(old_path)?;
    let new = read_checkpoint(new_path)?;
    let (key, said) = checkpoint_key(&new)?;
    let verdict = (|| {
        let old = old
            .verify(&key)
            .map_err(|e| ("InvalidSignature", format!("{}: {e}", shown(old_path))))?;
        let new = new
            .verify(&key)
            .map_err(|e| ("InvalidSignature", format!("{}: {e}", shown(new_path))))?;
        verify_checkpoint_consistency(old, new, &proof).map_err(|e| {
            let kind = match e {
                heso_tlog::CheckpointConsistencyError::OriginMismatch { .. } => "OriginMismatch",
                heso_tlog::CheckpointConsistencyError::SizeMismatch { .. } => "SizeMismatch",
                heso_tlog::CheckpointConsistencyError::Proof(_) => "NotConsistent",
            };
            (kind, e.to_string())
        })?;
        Ok::<_, (&str, String)>((old.size(), new.size(), old.origin().to_owned()))
    })();
    let valid = verdict.is_ok();
    if json {
        let value = match &verdict {
            Ok((old_size, new_size, origin)) => json!({
                "valid": true, "verdict": "Consistent", "origin": origin,
                "old_size": old_size, "new_size": new_size, "detail": said,
            }),
            Err((kind, detail)) => json!({"valid": false, "verdict": kind, "detail": detail}),
        };
        out!("{value}");
    } else {
        match &verdict {
            Ok((old_size, new_size, origin)) => out!(
                "Consistent: the tree of {old_size} receipts is a prefix of the tree of {new_size} of {origin}"
            ),
            Err((kind, detail)) => out!("{kind}: {detail}"),
        }
        out!("({said})");
    }
    Ok(if valid { 0 } else { 1 })
}

/// `heso verify BUNDLE`: the receipt checked as any receipt is (with `pins`), then the
/// checkpoint signed by the receipt's operator, and the proof leading from the receipt to
/// its root. The report is heso-receipt's [`BundleReport`], as the browser verifier's.
pub(crate) fn verify_bundle(bytes: &[u8], pins: &crate::verify::Pins, json: bool) -> Outcome {
    let bundle = InclusionBundle::parse(bytes).map_err(Failure::usage)?;
    let checked = verify_receipt(bundle.receipt_json().as_bytes(), &pins.pins);
    let report = BundleReport::new(
        &checked,
        bundle.proof().leaf_index,
        &pins.pins,
        |operator, content| {
            let leaf = BundleLeaf {
                action_hash: &content.action_hash,
                session_id: content.session_id.as_deref(),
                seq: content.seq,
            };
            bundle
                .verify(operator, leaf)
                .map(|checkpoint| Included {
                    tree_size: checkpoint.size(),
                    origin: checkpoint.origin().to_owned(),
                })
                .map_err(|e| NotIncluded {
                    kind: e.kind(),
                    detail: e.to_string(),
                })
        },
    );
    if json {
        out!(
            "{}",
            serde_json::to_string(&report).map_err(Failure::usage)?
        );
    } else {
        for line in report.text_lines() {
            out!("{line}");
        }
        out!("(verified offline — {})", pins.said);
    }
    Ok(if report.valid { 0 } else { 1 })
}
