//! `heso policy check` and `heso policy explain`.

use std::path::{Path, PathBuf};

use heso_engine::{Config, discover, load_config};
use heso_policy::ActionInput;
use heso_receipt::{Verb, VerifyingKey, public_key_to_did_key};
use serde_json::Map;

use crate::output::{counted, parse_cli_value, shown};
use crate::{Failure, Outcome};

fn policy_file(file: Option<PathBuf>) -> Result<PathBuf, Failure> {
    match file {
        Some(file) if file.is_file() => Ok(file),
        Some(file) => Err(Failure::usage(format!("no such file: {}", file.display()))),
        None => Ok(discover(None).map_err(Failure::usage)?.config()),
    }
}

pub(crate) fn check(file: Option<PathBuf>, json: bool) -> Outcome {
    let path = policy_file(file)?;
    let config = load_config(&path).map_err(Failure::usage)?;
    let warnings = match operator_for(&path, &config)? {
        Some(operator) => config.policy.lint_with_operator(&operator),
        None => config.policy.lint(),
    };
    if json {
        let document = serde_json::json!({
            "file": shown(&path),
            "ok": true,
            "rules": config.policy.rules().len(),
            "warnings": warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
            "policy_hash": config.policy_hash,
        });
        out!("{document}");
        return Ok(0);
    }
    for warning in &warnings {
        out!("warning: {warning}");
    }
    out!(
        "{}: ok ({}, {})",
        shown(&path),
        counted(config.policy.rules().len(), "rule", "rules"),
        counted(warnings.len(), "warning", "warnings")
    );
    out!("policy hash {}", config.policy_hash);
    Ok(0)
}

/// The operator key the lint compares the approvers with: for the project's own
/// `heso.toml`, the project's operator (checked against `identity.pub` and the key file,
/// as verification checks it); for another file, the operator it pins, if any.
fn operator_for(path: &Path, config: &Config) -> Result<Option<VerifyingKey>, Failure> {
    let project = discover(None)
        .ok()
        .filter(|paths| same_file(&paths.config(), path));
    match project {
        Some(paths) => {
            let identity =
                heso_engine::operator_identity(&paths, config).map_err(Failure::usage)?;
            if let Some(notice) = identity.notice() {
                err!("heso: warning: {notice}");
            }
            Ok(Some(identity.key))
        }
        None => Ok(config.operator),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub(crate) fn explain(
    verb: &str,
    tool: &str,
    workflow: &str,
    account: &str,
    host: Option<&str>,
    fields: &[String],
    json: bool,
) -> Outcome {
    let verb = Verb::parse(verb).ok_or_else(|| {
        Failure::usage(format!(
            "--verb {verb:?} is not a verb (llm_call, tool_call, http_request, payment, data_export, account_change, delete)"
        ))
    })?;
    let mut map = Map::new();
    for field in fields {
        let Some((key, value)) = field.split_once('=') else {
            return Err(Failure::usage(format!(
                "--field {field:?}: expected KEY=VALUE"
            )));
        };
        map.insert(key.to_owned(), parse_cli_value(value));
    }
    let path = policy_file(None)?;
    let config = load_config(&path).map_err(Failure::usage)?;
    let evaluation = config.policy.evaluate(&ActionInput {
        verb,
        tool_name: tool,
        workflow,
        account,
        target_host: host,
        fields: &map,
    });
    if json {
        let document = serde_json::json!({
            "decision": evaluation.decision.as_str(),
            "rule_id": evaluation.rule_id,
            "rule_display": evaluation.rule_display,
            "matched_conditions": evaluation.matched_conditions,
            "floor_applied": evaluation.floor_applied,
            "redact": evaluation.redact,
            "redact_mode": evaluation.redact_mode.as_str(),
            "approvers": evaluation.approvers.iter().map(|a| serde_json::json!({
                "name": a.name,
                "key": public_key_to_did_key(&a.key),
            })).collect::<Vec<_>>(),
            "sla_minutes": evaluation.sla_minutes,
        });
        out!("{document}");
        return Ok(0);
    }
    out!("decision: {}", evaluation.decision);
    out!("rule: {} ({})", evaluation.rule_id, evaluation.rule_display);
    for condition in &evaluation.matched_conditions {
        out!(
            "  condition: {} {} {}",
            condition.field,
            condition.op,
            condition.value
        );
    }
    if evaluation.floor_applied {
        out!("the delete floor applied: a delete never runs without a person's approval");
    }
    if !evaluation.redact.is_empty() {
        out!(
            "redacts: {} ({})",
            evaluation.redact.join(", "),
            evaluation.redact_mode.as_str()
        );
    }
    if evaluation.decision == heso_receipt::Decision::RequireApproval {
        if evaluation.approvers.is_empty() {
            out!(
                "approvers: none named (add [approvers.NAME] and name it in the rule or [defaults])"
            );
        }
        for approver in &evaluation.approvers {
            out!(
                "approver: {} {}",
                approver.name,
                public_key_to_did_key(&approver.key)
            );
        }
        out!(
            "expires after {} minutes without a decision",
            evaluation.sla_minutes
        );
    }
    Ok(0)
}
