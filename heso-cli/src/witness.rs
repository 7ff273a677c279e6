//! `heso witness`: a witness that cosigns checkpoints (C2SP `tlog-cosignature` v1) after
//! checking each is consistent with the last one it cosigned for that log.
//!
//! Its folder (`--dir`, else `HESO_WITNESS_DIR`, else `~/.config/heso/witness/`, 0700)
//! holds `witness.key`, the witness's own Ed25519 seed as a plain 0600 file (hex, with the
//! witness's name; not passphrase-encrypted: a witness runs unattended, and its key only
//! ever signs cosignatures, never receipts or checkpoints), and `state.json`, the size and
//! root it last cosigned per origin. Keep the folder away from the agent's machine: a
//! witness the agent can write to witnesses nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use heso_tlog::{
    ConsistencyProof, Hash, SignedCheckpoint, SigningKey, VerifierKey, parse_origin,
    validate_key_name, verify_checkpoint_consistency,
};
use serde::{Deserialize, Serialize};

use crate::checkpoint_cmd::read_checkpoint;
use crate::output::shown;
use crate::{Failure, Outcome};

const KEY_FILE: &str = "witness.key";
const STATE_FILE: &str = "state.json";
/// Held while a cosign reads and rewrites the state, so two at once cannot both cosign
/// forks of one log.
const LOCK_FILE: &str = "state.lock";
/// The witness's name when `heso witness init` is given none.
const DEFAULT_NAME: &str = "heso-witness";

/// The key file: the witness's name and its seed in hex.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    name: String,
    seed_hex: String,
}

/// What the witness last cosigned for one origin.
#[derive(Serialize, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Seen {
    size: u64,
    root: Hash,
    cosigned_at: u64,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct State {
    origins: BTreeMap<String, Seen>,
}

fn refused(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 1,
        message: format!("refused: {message}"),
    }
}

/// The witness's folder.
fn folder(dir: Option<PathBuf>) -> Result<PathBuf, Failure> {
    if let Some(dir) = dir {
        return Ok(dir);
    }
    if let Some(dir) = std::env::var_os("HESO_WITNESS_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })
        .ok_or_else(|| {
            Failure::usage("no HOME or XDG_CONFIG_HOME: give the witness's folder with --dir")
        })?;
    Ok(config.join("heso").join("witness"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *slot = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// The witness's name and key, from its folder.
fn load_key(dir: &Path) -> Result<(String, SigningKey), Failure> {
    let path = dir.join(KEY_FILE);
    let bytes = heso_fs::read_no_follow(&path).map_err(|e| {
        Failure::usage(format!(
            "cannot read the witness key {}: {e} (run `heso witness init` first)",
            shown(&path)
        ))
    })?;
    let file: KeyFile = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::usage(format!("{} is not a witness key file: {e}", shown(&path))))?;
    let seed = unhex32(&file.seed_hex).ok_or_else(|| {
        Failure::usage(format!("{}: seed_hex is not 64 hex digits", shown(&path)))
    })?;
    Ok((file.name, SigningKey::from_bytes(&seed)))
}

fn verifier_key(name: &str, key: &SigningKey) -> Result<VerifierKey, Failure> {
    VerifierKey::cosigner(name, key.verifying_key())
        .map_err(|e| Failure::usage(format!("the witness name {name:?}: {e}")))
}

/// `heso witness init [--name NAME] [--dir DIR]`: makes the witness's key (never replacing
/// one) and prints its verifier key.
pub(crate) fn init(name: Option<String>, dir: Option<PathBuf>) -> Outcome {
    let dir = folder(dir)?;
    let path = dir.join(KEY_FILE);
    if heso_fs::refuse_symlink(&path).is_ok() && path.exists() {
        let (name, key) = load_key(&dir)?;
        out!("a witness key exists already at {}", shown(&path));
        out!("{}", verifier_key(&name, &key)?);
        return Ok(0);
    }
    let name = name.unwrap_or_else(|| DEFAULT_NAME.to_owned());
    validate_key_name(&name)
        .map_err(|e| Failure::usage(format!("the witness name {name:?}: {e}")))?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| Failure::usage(format!("cannot draw a random key: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    let vkey = verifier_key(&name, &key)?;
    let mut text = serde_json::to_string_pretty(&KeyFile {
        name,
        seed_hex: hex(&seed),
    })
    .map_err(Failure::usage)?;
    text.push('\n');
    heso_fs::create_private_dir(&dir)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", shown(&dir))))?;
    heso_fs::write_atomic(
        &path,
        text.as_bytes(),
        heso_fs::SECRET_FILE_MODE,
        heso_fs::Existing::Keep,
    )
    .map_err(|e| Failure::usage(format!("cannot write {}: {e}", shown(&path))))?;
    out!("witness key written to {} (0600)", shown(&path));
    out!("{vkey}");
    err!(
        "give this verifier key to verifiers: heso log verify --checkpoint FILE --witness '{vkey}'"
    );
    Ok(0)
}

fn load_state(dir: &Path) -> Result<State, Failure> {
    let path = dir.join(STATE_FILE);
    match heso_fs::read_no_follow(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Failure::usage(format!(
                "{} is damaged ({e}); the witness will not cosign without what it saw before",
                shown(&path)
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(Failure::usage(format!("cannot read {}: {e}", shown(&path)))),
    }
}

/// `heso witness cosign CHECKPOINT [--proof PROOF] [--dir DIR]`: checks the log's
/// signature (with the key the origin names) and consistency with what this witness last
/// cosigned for the origin, then prints the cosignature line and remembers the new tree.
pub(crate) fn cosign(checkpoint: &Path, proof: Option<&Path>, dir: Option<PathBuf>) -> Outcome {
    let dir = folder(dir)?;
    let (name, key) = load_key(&dir)?;
    let signed: SignedCheckpoint = read_checkpoint(checkpoint)?;
    let claimed = signed.unverified();
    let origin = claimed.origin().to_owned();
    let operator = parse_origin(&origin)
        .and_then(|parts| parts.operator_key())
        .map_err(|e| refused(format!("{}: {e}", shown(checkpoint))))?;
    let body = signed
        .verify(&operator)
        .map_err(|e| refused(format!("{}: the log's signature: {e}", shown(checkpoint))))?
        .clone();
    let lock_path = dir.join(LOCK_FILE);
    let lock = heso_fs::open_no_follow(
        &lock_path,
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
    )
    .and_then(|file| file.lock().map(|()| file))
    .map_err(|e| Failure::usage(format!("cannot lock {}: {e}", shown(&lock_path))))?;
    let mut state = load_state(&dir)?;
    if let Some(seen) = state.origins.get(&origin) {
        check_against(seen, &body, proof)?;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let line = signed
        .cosign(&name, &key, now)
        .map_err(|e| Failure::usage(format!("cannot cosign: {e}")))?;
    state.origins.insert(
        origin,
        Seen {
            size: body.size(),
            root: *body.root(),
            cosigned_at: now,
        },
    );
    let mut text = serde_json::to_string_pretty(&state).map_err(Failure::usage)?;
    text.push('\n');
    let path = dir.join(STATE_FILE);
    heso_fs::write_atomic(
        &path,
        text.as_bytes(),
        heso_fs::SECRET_FILE_MODE,
        heso_fs::Existing::Replace,
    )
    .map_err(|e| Failure::usage(format!("cannot write {}: {e}", shown(&path))))?;
    drop(lock);
    out_part!("{}", line.to_line());
    Ok(0)
}

/// The new checkpoint must extend what was cosigned last: not smaller (a rollback), the
/// same root at the same size, and a consistency proof from the old size otherwise.
fn check_against(
    seen: &Seen,
    body: &heso_tlog::Checkpoint,
    proof: Option<&Path>,
) -> Result<(), Failure> {
    let origin = body.origin();
    if body.size() < seen.size {
        return Err(refused(format!(
            "rollback: this witness cosigned {} receipts of {origin}, the checkpoint has {}",
            seen.size,
            body.size()
        )));
    }
    if body.size() == seen.size {
        if *body.root() != seen.root {
            return Err(refused(format!(
                "fork: this witness cosigned another tree of {} receipts of {origin} (root {})",
                seen.size, seen.root
            )));
        }
        return Ok(());
    }
    if seen.size == 0 {
        return Ok(());
    }
    let Some(proof_path) = proof else {
        return Err(refused(format!(
            "this witness last cosigned {} receipts of {origin}: give --proof, a consistency proof from {} to {} (heso log consistency OLD NEW)",
            seen.size,
            seen.size,
            body.size()
        )));
    };
    let bytes = std::fs::read(proof_path)
        .map_err(|e| Failure::usage(format!("cannot read the proof {}: {e}", shown(proof_path))))?;
    let proof: ConsistencyProof = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::usage(format!(
            "{} is not a consistency proof: {e}",
            shown(proof_path)
        ))
    })?;
    let old = heso_tlog::Checkpoint::new(origin, seen.size, seen.root)
        .map_err(|e| Failure::usage(e.to_string()))?;
    verify_checkpoint_consistency(&old, body, &proof).map_err(|e| {
        refused(format!(
            "the checkpoint is not consistent with the {} receipts this witness cosigned (a fork or a rewrite): {e}",
            seen.size
        ))
    })
}
