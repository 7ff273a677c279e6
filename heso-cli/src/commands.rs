//! init, demo, show, log list, pending, approve/reject, reveal.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use heso_engine::{ActionRequest, Engine, GateStatus, InitReport, Step, discover, init_project};
use heso_keystore::PassphraseSources;
use heso_receipt::{Decision, Receipt, Verb, verify_receipt};
use serde_json::{Map, Value, json};

use crate::output::{parse_cli_value, short, shown};
use crate::{Failure, Outcome};

pub(crate) fn init(dir: Option<PathBuf>, require_passphrase: bool, nested: bool) -> Outcome {
    let dir = match dir {
        Some(dir) => dir,
        None => std::env::current_dir()
            .map_err(|e| Failure::usage(format!("no working directory: {e}")))?,
    };
    if !nested {
        refuse_nested(&dir)?;
    }
    let sources = PassphraseSources::from_env(require_passphrase).map_err(Failure::usage)?;
    let report = init_project(&dir, require_passphrase, &sources).map_err(Failure::usage)?;
    print_init(&report);
    out!("heso init: project ready at {}", shown(&report.root));
    out!("  next: run `heso demo` to mint and verify your first receipt");
    Ok(0)
}

/// A project inside another one splits the audit trail in two: refuse unless asked.
fn refuse_nested(dir: &Path) -> Result<(), Failure> {
    if dir.join(heso_engine::CONFIG_FILE).exists() {
        return Ok(()); // re-running init in a project keeps it
    }
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let Some(parent) = absolute.parent() else {
        return Ok(());
    };
    let outer = parent
        .ancestors()
        .find(|a| a.join(heso_engine::CONFIG_FILE).is_file());
    match outer {
        Some(outer) => Err(Failure::usage(format!(
            "{} is inside the heso project at {}: its agents already log there. Run heso there, or pass --nested to make a separate project here",
            shown(&absolute),
            shown(outer)
        ))),
        None => Ok(()),
    }
}

fn print_init(report: &InitReport) {
    match &report.bootstrap {
        Step::Wrote(path) => out!("  wrote bootstrap module -> {}", shown(path)),
        Step::Kept(path) => out!("  kept existing bootstrap module -> {}", shown(path)),
    }
    match &report.policy {
        Step::Wrote(path) => out!("  wrote starter policy -> {}", shown(path)),
        Step::Kept(path) => out!("  kept existing policy -> {}", shown(path)),
    }
    if report.operator_pin_added {
        out!("  pinned the operator identity in heso.toml ([identity] operator); commit it");
    }
    if report.gitignore_added {
        out!("  gitignored heso-local-data/");
    }
    if let Some(path) = &report.dev_passphrase {
        out!(
            "  generated dev key passphrase -> {} (dev only — set HESO_KEY_PASSPHRASE in production)",
            shown(path)
        );
    }
    if matches!(report.identity, Step::Kept(_)) {
        out!("  kept existing identity");
    }
    out!(
        "  operator identity ready (pubkey {})",
        report.operator_multibase
    );
}

pub(crate) fn open_engine(dir: Option<&Path>) -> Result<Engine, Failure> {
    let engine = Engine::open(dir).map_err(Failure::usage)?;
    if let Some(repair) = engine.repaired_on_open() {
        err!("heso: repaired a torn log tail: {repair}");
    }
    Ok(engine)
}

pub(crate) fn demo(dir: Option<PathBuf>) -> Outcome {
    let root = match dir {
        Some(dir) => dir,
        None => match discover(None) {
            Ok(paths) => paths.root,
            Err(_) => std::env::current_dir()
                .map_err(|e| Failure::usage(format!("no working directory: {e}")))?,
        },
    };
    if !root.join(heso_engine::CONFIG_FILE).is_file() {
        let sources = PassphraseSources::from_env(false).map_err(Failure::usage)?;
        let report = init_project(&root, false, &sources).map_err(Failure::usage)?;
        print_init(&report);
    }
    let engine = open_engine(Some(&root))?;

    let search = ActionRequest::new(
        Verb::ToolCall,
        "search",
        object(json!({"query": "quarterly revenue, ACME Corp"})),
    );
    let mut fake_key = [0u8; 12];
    getrandom::fill(&mut fake_key).map_err(|e| Failure::usage(format!("OS random source: {e}")))?;
    let fake_key: String = fake_key.iter().map(|b| format!("{b:02x}")).collect();
    let mut partner = ActionRequest::new(
        Verb::ToolCall,
        "call_partner_api",
        object(json!({
            "api_key": format!("sk-demo-{fake_key}"),
            "endpoint": "https://partner.example/v1/quotes",
        })),
    );
    partner.redact = vec!["api_key".into()];

    let pins = engine.pins().map_err(Failure::usage)?;
    let mut all_valid = true;
    let mut first: Option<(String, String)> = None;
    out!("minting your first receipts through the engine:");
    for (label, request) in [("allow", &search), ("redacted", &partner)] {
        let outcome = engine.gate(request).map_err(Failure::usage)?;
        if outcome.status != GateStatus::Allowed {
            return Err(Failure::usage(format!(
                "the policy did not allow the demo's {} call (rule {}: {}); check heso.toml",
                request.tool_name, outcome.rule_id, outcome.rule_display
            )));
        }
        let (_, line) = engine
            .find_receipt(&outcome.action_hash)
            .map_err(Failure::usage)?;
        let verdict = verify_receipt(line.as_bytes(), &pins).verdict;
        all_valid &= verdict.is_valid();
        out!(
            "  {label:<9} {}…  ->  {verdict}",
            short(&outcome.action_hash)
        );
        if first.is_none() {
            first = Some((outcome.action_hash.clone(), line));
        }
    }
    let receipts = engine.paths().receipts();
    let absolute = std::path::absolute(&receipts).unwrap_or(receipts);
    out!("  receipts written to {}", absolute.display());
    let Some((first_hash, first_line)) = first else {
        return Ok(1);
    };
    // The quickstart's next step verifies a receipt file: write the allowed one there.
    let receipt_file = engine.paths().root.join("receipt.json");
    let pretty = serde_json::from_str::<Value>(&first_line)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .map_err(Failure::usage)?;
    heso_fs::write_atomic(
        &receipt_file,
        format!("{pretty}\n").as_bytes(),
        heso_fs::PUBLIC_FILE_MODE,
        heso_fs::Existing::Replace,
    )
    .map_err(|e| Failure::usage(format!("cannot write {}: {e}", shown(&receipt_file))))?;
    out!("  wrote the allowed receipt to {}", shown(&receipt_file));
    out!("  verify either yourself, offline:");
    out!("      heso verify {}", short(&first_hash));
    out!("      heso verify ./receipt.json");
    Ok(if all_valid { 0 } else { 1 })
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

pub(crate) fn show(prefix: &str) -> Outcome {
    let paths = discover(None).map_err(Failure::usage)?;
    let found = heso_chain::find_by_prefix(&paths.receipts(), prefix).map_err(Failure::usage)?;
    let value: Value = serde_json::from_str(&found.line).map_err(|e| {
        Failure::usage(format!(
            "line {} of the log is not JSON: {e}",
            found.line_number
        ))
    })?;
    let text = serde_json::to_string_pretty(&value).map_err(Failure::usage)?;
    out!("{text}");
    Ok(0)
}

pub(crate) fn log_list(
    verb: Option<String>,
    workflow: Option<String>,
    decision: Option<String>,
    limit: usize,
    json: bool,
) -> Outcome {
    if let Some(v) = verb.as_deref().filter(|v| Verb::parse(v).is_none()) {
        return Err(Failure::usage(format!(
            "--verb {v:?} is not a verb (llm_call, tool_call, http_request, payment, data_export, account_change, delete)"
        )));
    }
    let known = |d: &str| Decision::ALL.iter().any(|known| known.as_str() == d);
    if let Some(d) = decision.as_deref().filter(|d| !known(d)) {
        let names: Vec<&str> = Decision::ALL.iter().map(|d| d.as_str()).collect();
        return Err(Failure::usage(format!(
            "--decision {d:?} is not a decision ({})",
            names.join(", ")
        )));
    }
    let paths = discover(None).map_err(Failure::usage)?;
    let file = match std::fs::File::open(paths.receipts()) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            out!("no receipts yet (run `heso demo`)");
            return Ok(0);
        }
        Err(e) => {
            return Err(Failure::usage(format!(
                "cannot read {}: {e}",
                shown(&paths.receipts())
            )));
        }
    };
    let mut kept: std::collections::VecDeque<Receipt> = std::collections::VecDeque::new();
    let mut unreadable = 0u64;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| Failure::usage(format!("cannot read the log: {e}")))?;
        let Ok(receipt) = serde_json::from_str::<Receipt>(&line) else {
            unreadable += 1;
            continue;
        };
        let content = &receipt.content;
        let wanted = verb
            .as_deref()
            .is_none_or(|v| content.action.verb.as_str() == v)
            && workflow
                .as_deref()
                .is_none_or(|w| content.action.workflow == w)
            && decision
                .as_deref()
                .is_none_or(|d| content.policy.decision_path.as_str() == d);
        if wanted {
            kept.push_back(receipt);
            if kept.len() > limit {
                kept.pop_front();
            }
        }
    }
    for receipt in &kept {
        let c = &receipt.content;
        if json {
            out!("{}", receipt.to_json().map_err(Failure::usage)?);
        } else {
            out!(
                "{:>6}  {}  {}  {:<14} {:<24} {:<17} {}",
                c.seq.map(|s| s.to_string()).unwrap_or_default(),
                short(&c.action_hash),
                c.captured_at,
                c.action.verb.as_str(),
                c.action.tool_name,
                heso_receipt::RecordedStatus::of(c).as_str(),
                c.trust_level
            );
        }
    }
    if unreadable > 0 {
        err!(
            "heso: warning: {unreadable} line(s) of the log are not receipts and were not listed; run `heso log verify`"
        );
    }
    Ok(0)
}

pub(crate) fn reveal(prefix: &str, field_path: &str, value: &str, export: bool) -> Outcome {
    let engine = open_engine(None)?;
    let value = parse_cli_value(value);
    let check = engine
        .reveal(prefix, field_path, &value)
        .map_err(Failure::usage)?;
    match (check.matches, check.disclosure) {
        (true, Some(disclosure)) if export => {
            out!(
                "{}",
                serde_json::to_string_pretty(&disclosure).map_err(Failure::usage)?
            );
            Ok(0)
        }
        (true, _) => {
            out!("match: {field_path} held this value (commitment verified with the stored salt)");
            Ok(0)
        }
        (false, _) => {
            out!("no match: {field_path} did not hold this value");
            Ok(1)
        }
    }
}
