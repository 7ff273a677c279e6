//! `heso pending`, `heso approve`, `heso reject`: what an approver sees and signs. Every
//! detail shown comes from the parked receipt in the signed log and from `heso.toml`,
//! never from the pending file an agent could edit.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use heso_engine::{ApprovalState, NEW_APPROVER_HINT, PendingAction};
use heso_receipt::{ApprovalOutcome, public_key_to_did_key};
use serde_json::{Value, json};

use crate::commands::open_engine;
use crate::keys::approver_passphrase;
use crate::output::shown;
use crate::{Failure, Outcome};

/// The state in words, with the receipt that decided it.
fn state_text(action: &PendingAction) -> String {
    match &action.state {
        ApprovalState::Pending => "waiting for a decision".into(),
        ApprovalState::Approved { receipt, approver } => {
            format!("approved by {approver} (receipt {receipt}); not run yet")
        }
        ApprovalState::Rejected {
            receipt, approver, ..
        } => format!("rejected by {approver} (receipt {receipt}); it will never run"),
        ApprovalState::Expired => "expired; it will never run".into(),
        ApprovalState::Resumed { receipt, claim } => match claim {
            Some(claim) => format!("approved (receipt {receipt}) and run (claim receipt {claim})"),
            None => format!("approved (receipt {receipt}) and claimed; it will not run again"),
        },
        ApprovalState::Unauthorized { receipt, why } => {
            format!("decision {receipt} does not count ({why}); it will never run")
        }
    }
}

fn approvers_text(action: &PendingAction) -> String {
    if action.approvers.is_empty() {
        if action.named_approvers.is_empty() {
            format!("none named: create one with `{NEW_APPROVER_HINT}`")
        } else {
            format!(
                "none with a current key ({} named): create one with `heso keys new-approver NAME`",
                action.named_approvers.join(", ")
            )
        }
    } else {
        action
            .approvers
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Prints one parked action as an approver needs to see it.
fn print_action(action: &PendingAction) {
    let recorded = action.action();
    let policy = action.policy();
    out!("pending action {}  ({})", action.id, action.state.word());
    out!(
        "  tool       {} ({})",
        recorded.tool_name,
        recorded.verb.as_str()
    );
    out!("  workflow   {}", recorded.workflow);
    out!("  account    {}", recorded.account);
    if let Some(host) = &recorded.target_host {
        out!("  target     {host}");
    }
    out!("  rule       {}: {}", policy.rule_id, policy.rule_display);
    if recorded.fields.is_empty() {
        out!("  fields     (none)");
    } else {
        out!("  fields     (as recorded; redacted values show their commitment)");
        for (name, value) in &recorded.fields {
            out!("    {name} = {value}");
        }
    }
    out!("  approvers  {}", approvers_text(action));
    out!("  expires    {}", action.expires_at);
    out!("  state      {}", state_text(action));
    out!("  parked in  receipt {}", action.parked.content.action_hash);
}

fn action_json(action: &PendingAction) -> Value {
    let recorded = action.action();
    let policy = action.policy();
    json!({
        "id": action.id,
        "state": action.state.word(),
        "state_detail": state_text(action),
        "tool_name": recorded.tool_name,
        "verb": recorded.verb.as_str(),
        "workflow": recorded.workflow,
        "account": recorded.account,
        "target_host": recorded.target_host,
        "rule_id": policy.rule_id,
        "rule_display": policy.rule_display,
        "fields": recorded.fields,
        "redaction": action.parked.content.redaction,
        "approvers": action.approvers.iter().map(|a| json!({
            "name": a.name,
            "key": public_key_to_did_key(&a.key),
        })).collect::<Vec<_>>(),
        "named_approvers": action.named_approvers,
        "expires_at": action.expires_at,
        "parked_receipt": action.parked.content.action_hash,
    })
}

pub(crate) fn pending(json: bool) -> Outcome {
    let engine = open_engine(None)?;
    let (items, problems) = engine.pending().map_err(Failure::usage)?;
    if json {
        let document = json!({
            "pending": items.iter().map(action_json).collect::<Vec<_>>(),
            "problems": problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        });
        out!(
            "{}",
            serde_json::to_string_pretty(&document).map_err(Failure::usage)?
        );
    } else {
        if items.is_empty() && problems.is_empty() {
            out!("no pending actions");
        }
        for (index, item) in items.iter().enumerate() {
            if index > 0 {
                out!();
            }
            print_action(item);
        }
        for problem in &problems {
            err!("heso: warning: {problem}");
        }
    }
    Ok(if problems.is_empty() { 0 } else { 1 })
}

/// The key file to use: the one given, else the one `heso keys new-approver` wrote for
/// an approver of this action, when exactly one such file exists.
fn key_file(action: &PendingAction, given: Option<&Path>) -> Result<PathBuf, Failure> {
    if let Some(path) = given {
        if !path.exists() {
            return Err(Failure::usage(format!(
                "approver key file {} does not exist; create an approver with `heso keys new-approver NAME` (it prints where it wrote the key)",
                shown(path)
            )));
        }
        return Ok(path.to_path_buf());
    }
    if action.approvers.is_empty() {
        return Err(Failure::usage(format!(
            "nobody may decide pending action {}: {}",
            action.id,
            approvers_text(action)
        )));
    }
    let found: Vec<PathBuf> = action
        .approvers
        .iter()
        .filter_map(|a| heso_keystore::default_approver_path(&a.name))
        .filter(|p| p.is_file())
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Failure::usage(format!(
            "no key file of {} found in the default place; give it with --key PATH",
            approvers_text(action)
        ))),
        _ => Err(Failure::usage(format!(
            "several approvers' keys are here ({}); say whose with --key PATH",
            found
                .iter()
                .map(|p| shown(p))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Asks on the terminal; without one, only `--yes` lets the decision through.
fn confirm(outcome: ApprovalOutcome, id: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    let verb = match outcome {
        ApprovalOutcome::Approved => "approve",
        ApprovalOutcome::Rejected | ApprovalOutcome::Escalated => "reject",
    };
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "not on a terminal, so nobody can confirm: run `heso {verb} {id} --yes` to {verb} it without confirmation"
        )));
    }
    out_part!("{verb} this action? [y/N] ");
    std::io::stdout()
        .flush()
        .map_err(|e| Failure::usage(format!("cannot write the question: {e}")))?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::usage(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(Failure::usage(format!("not {verb}d; nothing was signed")))
    }
}

pub(crate) fn decide(
    id: &str,
    key: Option<&Path>,
    reason: &str,
    yes: bool,
    outcome: ApprovalOutcome,
) -> Outcome {
    let engine = open_engine(None)?;
    let action = engine.pending_action(id).map_err(Failure::usage)?;
    print_action(&action);
    if action.state != ApprovalState::Pending {
        return Err(Failure::usage(format!(
            "pending action {} cannot be decided: {}",
            action.id,
            state_text(&action)
        )));
    }
    let key = key_file(&action, key)?;
    confirm(outcome, &action.id, yes)?;
    let passphrase = approver_passphrase()?;
    let approver = heso_keystore::load_approver(&key, &passphrase).map_err(Failure::usage)?;
    let hash = engine
        .decide(&action.id, &approver, outcome, reason)
        .map_err(Failure::usage)?;
    out!("{outcome} {} -> L1 receipt {hash}", action.id);
    out!("signed by approver {} and the operator", approver.did_key());
    if outcome == ApprovalOutcome::Approved {
        out!(
            "the agent runs it with heso.resume({:?}) (in any process of this project that defines {})",
            action.id,
            action.action().tool_name
        );
    }
    Ok(0)
}
