//! `heso verify` and `heso log verify`.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use heso_engine::{ProjectPaths, discover, load_config};
use heso_receipt::{
    KeyRole, PinnedLogReport, Receipt, ReceiptReport, SignerPins, Verdict, public_key_from_base64,
    public_key_to_did_key, verify_receipt,
};
use serde_json::json;

use crate::output::shown;
use crate::{Failure, Outcome};

/// Which keys are pinned, and how to say so.
pub(crate) struct Pins {
    pub(crate) pins: SignerPins,
    pub(crate) said: String,
}

/// The project's pins: the operator key `heso.toml` pins (checked against `identity.pub`
/// and the key file; see `heso_engine::operator_identity`), the operator keys it retired
/// (each for receipts up to its retirement) and its approvers. A project whose
/// `heso.toml` pins no operator (made by an older heso) gets a warning saying how to pin
/// it.
fn project_pins(paths: &ProjectPaths) -> Result<Pins, Failure> {
    let config = load_config(&paths.config()).map_err(Failure::usage)?;
    let operator = project_operator(paths, &config)?;
    let mut said = if config.retired_operators.is_empty() {
        "signers pinned to this project's operator and approver keys".to_owned()
    } else {
        format!(
            "signers pinned to this project's operator key {} and approver keys; retired \
             operator keys only for receipts captured up to their retirement: {}",
            public_key_to_did_key(&operator),
            heso_engine::retired_operators_text(&config.retired_operators)
        )
    };
    let retired = heso_engine::retired_approvers_text(&config.policy);
    if !retired.is_empty() {
        said.push_str(&format!(
            "; retired approvers only for decisions before they retired: {retired}"
        ));
    }
    Ok(Pins {
        pins: heso_engine::project_pins(&config.policy, operator, &config.retired_operators),
        said,
    })
}

/// The operator key verification pins in this project (never `identity.pub` alone).
fn project_operator(
    paths: &ProjectPaths,
    config: &heso_engine::Config,
) -> Result<heso_receipt::VerifyingKey, Failure> {
    let identity = heso_engine::operator_identity(paths, config).map_err(Failure::usage)?;
    if let Some(notice) = identity.notice() {
        err!("heso: warning: {notice}");
    }
    Ok(identity.key)
}

fn resolve_pins(signers: &[String], any_signer: bool) -> Result<Pins, Failure> {
    if any_signer && !signers.is_empty() {
        return Err(Failure::usage(
            "--signer and --any-signer cannot be used together",
        ));
    }
    if any_signer {
        return Ok(Pins {
            pins: SignerPins::Any,
            said: "no signer pinned (--any-signer)".into(),
        });
    }
    if !signers.is_empty() {
        let pins = SignerPins::from_keys(signers.iter().map(String::as_str))
            .map_err(|e| Failure::usage(format!("--signer {e}")))?;
        return Ok(Pins {
            pins,
            said: "signers pinned to the --signer keys".into(),
        });
    }
    match discover(None) {
        Ok(paths) => project_pins(&paths),
        Err(_) => Ok(Pins {
            pins: SignerPins::Any,
            said: "no project here, so no signer pinned; pass --signer KEY to pin".into(),
        }),
    }
}

pub(crate) fn verify(target: &str, signers: &[String], any_signer: bool, json: bool) -> Outcome {
    let pins = resolve_pins(signers, any_signer)?;
    if target == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
        // Read as the browser verifier reads pasted text: the same function decides.
        return match heso_receipt::split_pasted(&bytes) {
            heso_receipt::Pasted::Log(lines) => verify_lines(&lines, &pins, json),
            heso_receipt::Pasted::One(_) => verify_document(&bytes, &pins, json),
        };
    }
    let path = Path::new(target);
    if path.is_file() {
        if path.extension().is_some_and(|e| e == "jsonl") {
            return verify_log_file(path, &pins, json);
        }
        let bytes = std::fs::read(path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
        return verify_document(&bytes, &pins, json);
    }
    if path.exists() {
        return Err(Failure::usage(format!("{target} is not a file")));
    }
    // A prefix pasted from heso's own output may carry its ellipsis (`7f3c91ab…`).
    let target = target
        .strip_suffix('…')
        .or_else(|| target.strip_suffix("..."))
        .unwrap_or(target);
    let looks_like_hash = target.len() >= 4 && target.bytes().all(|b| b.is_ascii_hexdigit());
    if !looks_like_hash {
        return Err(Failure::usage(format!(
            "no such file: {target} (give a receipt file, a .jsonl log, `-`, or an action_hash prefix of at least 4 hex digits)"
        )));
    }
    let paths = discover(None).map_err(|e| {
        Failure::usage(format!(
            "{target} is not a file, and there is no project to look it up in: {e}"
        ))
    })?;
    let found = heso_chain::find_by_prefix(&paths.receipts(), target).map_err(Failure::usage)?;
    verify_one(found.line.as_bytes(), &pins, json)
}

fn verify_one(bytes: &[u8], pins: &Pins, json: bool) -> Outcome {
    let checked = verify_receipt(bytes, &pins.pins);
    let receipt = checked.receipt.as_ref();
    let hash = receipt.map(|r| r.content.action_hash.clone());
    if json {
        let report = ReceiptReport::new(&checked, &pins.pins);
        out!(
            "{}",
            serde_json::to_string(&report).map_err(Failure::usage)?
        );
    } else {
        out!("  action {}", hash.as_deref().unwrap_or("(unreadable)"));
        out!("  {}", checked.verdict);
        out!("  (verified offline — re-ran BLAKE3 + Ed25519 locally, zero network)");
        out!("  {}", pins.said);
        print_signers(&checked.verdict, receipt);
    }
    Ok(if checked.verdict.is_valid() { 0 } else { 1 })
}

fn print_signers(verdict: &Verdict, receipt: Option<&Receipt>) {
    if let Some(signers) = verdict.signers() {
        out!("  operator {}", public_key_to_did_key(&signers.operator));
        if let Some((key, decision)) = &signers.approver {
            out!("  approver {} ({decision})", public_key_to_did_key(key));
        }
        return;
    }
    // Not valid: say who the receipt claims signed it, marked as a claim.
    for entry in receipt.map(|r| r.signatures.as_slice()).unwrap_or_default() {
        let role = match entry.key_id {
            KeyRole::Operator => "operator",
            KeyRole::Approver => "approver",
        };
        let key = public_key_from_base64(&entry.public_key)
            .map(|k| public_key_to_did_key(&k))
            .unwrap_or_else(|_| entry.public_key.clone());
        out!("  claimed {role} {key} (not verified)");
    }
}

/// Several receipts from stdin, numbered by their lines in it: each verified, then the
/// chain links per session.
fn verify_lines(lines: &[(u64, &[u8])], pins: &Pins, json: bool) -> Outcome {
    let report = heso_chain::verify_numbered_lines(lines.iter().copied(), &pins.pins);
    print_report(&report, "stdin", pins, json)
}

fn verify_log_file(path: &Path, pins: &Pins, json: bool) -> Outcome {
    let report = run_log_verification(path, pins)?;
    print_report(&report, &shown(path), pins, json)
}

fn run_log_verification(path: &Path, pins: &Pins) -> Result<heso_chain::LogReport, Failure> {
    let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let bar = (std::io::stderr().is_terminal() && total > 4 << 20).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "verifying {bar:40} {bytes}/{total_bytes} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let progress = |done: u64, _total: u64| {
        if let Some(bar) = &bar {
            bar.set_position(done);
        }
    };
    let report = heso_chain::verify_log(path, &pins.pins, Some(&progress))
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(report)
}

pub(crate) fn log_verify(json: bool) -> Outcome {
    let paths = discover(None).map_err(Failure::usage)?;
    let pins = project_pins(&paths)?;
    let log = paths.receipts();
    heso_fs::refuse_symlink(&log)
        .map_err(|e| Failure::usage(format!("cannot verify {}: {e}", shown(&log))))?;
    if !log.is_file() {
        out!("no receipts yet at {} (run `heso demo`)", shown(&log));
        return Ok(0);
    }
    let report = run_log_verification(&log, &pins)?;
    print_report(&report, &shown(&log), &pins, json)
}

fn print_report(report: &heso_chain::LogReport, name: &str, pins: &Pins, json: bool) -> Outcome {
    let ok = report.all_valid();
    if json {
        let report = PinnedLogReport::new(report, &pins.pins);
        out!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(Failure::usage)?
        );
        return Ok(if ok { 0 } else { 1 });
    }
    // The words are heso-receipt's, as the browser verifier prints them; only the last
    // line (how this run pinned) is the CLI's.
    let report = PinnedLogReport::new(report, &pins.pins);
    for line in report.text_lines(name) {
        out!("{line}");
    }
    out!(
        "{} (verified offline — {})",
        report.verdict_words(),
        pins.said
    );
    Ok(if ok { 0 } else { 1 })
}

/// A JSON document given to `heso verify`: an inclusion bundle (`heso prove`) is checked
/// by `checkpoint_cmd`, anything else as one receipt.
fn verify_document(bytes: &[u8], pins: &Pins, json: bool) -> Outcome {
    if crate::disclosure::is_disclosure(bytes) {
        return crate::disclosure::verify_disclosure(bytes, pins, json);
    }
    if heso_tlog::InclusionBundle::looks_like(bytes) {
        return crate::checkpoint_cmd::verify_bundle(bytes, pins, json);
    }
    verify_one(bytes, pins, json)
}

/// `heso log verify --checkpoint FILE… [--witness KEY…]`: the log verified as by `heso log
/// verify`, then each checkpoint checked against it (`checkpoint_cmd::check_log`, from the
/// log file alone); exit 1 unless both hold.
pub(crate) fn log_verify_checkpoints(
    json: bool,
    files: &[std::path::PathBuf],
    witnesses: &[String],
) -> Outcome {
    let paths = discover(None).map_err(Failure::usage)?;
    let pins = project_pins(&paths)?;
    let log = paths.receipts();
    heso_fs::refuse_symlink(&log)
        .map_err(|e| Failure::usage(format!("cannot verify {}: {e}", shown(&log))))?;
    let checks = crate::checkpoint_cmd::check_log(files, witnesses)?;
    let report = if log.is_file() {
        run_log_verification(&log, &pins)?
    } else {
        heso_chain::LogReport::default()
    };
    let contained = checks.iter().all(|c| c.is_valid());
    if json {
        let mut value = serde_json::to_value(PinnedLogReport::new(&report, &pins.pins))
            .map_err(Failure::usage)?;
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "checkpoints".into(),
                checks.iter().map(|c| c.to_json()).collect(),
            );
            let valid = report.all_valid() && contained;
            object.insert("all_valid".into(), json!(valid));
        }
        out!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(Failure::usage)?
        );
        let valid = report.all_valid() && contained;
        return Ok(if valid { 0 } else { 1 });
    }
    let code = print_report(&report, &shown(&log), &pins, false)?;
    for check in &checks {
        out!("{check}");
    }
    out!(
        "{}",
        if contained {
            "the log contains every checkpoint given"
        } else {
            "NOT VALID: the log does not contain every checkpoint given"
        }
    );
    Ok(if code == 0 && contained { 0 } else { 1 })
}
