//! `heso fleet migrate|verify|list|show URL`: the fleet store (heso-store), for the people
//! who run it and the auditors who read it.

use std::io::IsTerminal as _;

use heso_receipt::{Decision, Verb};
use heso_store::{FleetOptions, ListFilter, Store, fleet_verify, list, migrate, show};
use serde_json::{Value, json};

use crate::{Failure, Outcome};

fn connect(url: &str) -> Result<Store, Failure> {
    Store::connect(url).map_err(Failure::usage)
}

/// `heso fleet migrate URL`.
pub(crate) fn migrate_cmd(url: &str) -> Outcome {
    let mut store = connect(url)?;
    let report = migrate(&mut store).map_err(Failure::usage)?;
    if report.applied.is_empty() {
        out!(
            "{}: the schema is already at version {}; nothing to do",
            store.target(),
            report.to
        );
        return Ok(0);
    }
    for (version, name) in &report.applied {
        out!("applied schema version {version}: {name}");
    }
    out!(
        "{}: schema version {} -> {}",
        store.target(),
        report.from,
        report.to
    );
    out!(
        "each host logs in as its own role in heso_host (INSERT and SELECT only), e.g. \
         CREATE ROLE host_a LOGIN IN ROLE heso_host; auditors as heso_reader (SELECT only)"
    );
    Ok(0)
}

/// `heso fleet verify URL [--log ID]… [--json]`.
pub(crate) fn verify(url: &str, logs: Vec<String>, json: bool) -> Outcome {
    let mut store = connect(url)?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "verifying {bar:40} {pos}/{len} receipts {per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let progress = |done: u64, total: u64| {
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let options = FleetOptions {
        logs,
        progress: bar
            .as_ref()
            .map(|_| &progress as &(dyn Fn(u64, u64) + Sync)),
    };
    let report = fleet_verify(&mut store, &options);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = report.map_err(Failure::usage)?;
    let ok = report.all_valid();
    if json {
        out!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).map_err(Failure::usage)?
        );
        return Ok(if ok { 0 } else { 1 });
    }
    for log in &report.logs {
        out!(
            "log {} (host {}, operator {}): {} receipts, {} checkpoint(s){}",
            log.log_id,
            log.host_name,
            log.operator_key,
            log.receipts,
            log.checkpoints,
            log.checkpoint_size
                .map(|s| format!(", the latest matching covers {s}"))
                .unwrap_or_default()
        );
        for (kind, count) in &log.counts {
            out!("  {kind}: {count}");
        }
        for failure in log.failures.iter().chain(&log.log_failures) {
            out!(
                "  {} at {}: {}",
                failure.verdict,
                failure.position,
                failure.detail
            );
        }
        if log.forks > 0 {
            out!("  {} insert(s) refused and recorded as forks", log.forks);
        }
        if let Some((position, hash)) = &log.head {
            let stored_past_checkpoint = log
                .checkpoint_size
                .map_or(position + 1, |size| (position + 1).saturating_sub(size));
            if stored_past_checkpoint > 0 {
                out!(
                    "  {stored_past_checkpoint} receipt(s) after the latest checkpoint (head {position} {hash})"
                );
            }
        }
    }
    for missing in &report.missing {
        out!("log {missing}: not in the store");
    }
    out!(
        "{}: {} receipts in {} logs, {}",
        store.target(),
        report.receipts(),
        report.logs.len(),
        if ok {
            "all valid: signatures pinned to each log's registered keys, chains, positions and checkpoints"
        } else {
            "NOT VALID"
        }
    );
    Ok(if ok { 0 } else { 1 })
}

/// The filters of `heso fleet list`, as given.
pub(crate) struct ListArgs {
    pub(crate) host: Option<String>,
    pub(crate) verb: Option<String>,
    pub(crate) tool: Option<String>,
    pub(crate) decision: Option<String>,
    pub(crate) workflow: Option<String>,
    pub(crate) since: Option<String>,
    pub(crate) until: Option<String>,
    pub(crate) limit: u32,
    pub(crate) json: bool,
}

/// `heso fleet list URL [filters] [--json]`.
pub(crate) fn list_cmd(url: &str, args: ListArgs) -> Outcome {
    if let Some(v) = args.verb.as_deref().filter(|v| Verb::parse(v).is_none()) {
        return Err(Failure::usage(format!(
            "--verb {v:?} is not a verb (llm_call, tool_call, http_request, payment, data_export, account_change, delete)"
        )));
    }
    if let Some(d) = args
        .decision
        .as_deref()
        .filter(|d| !Decision::ALL.iter().any(|known| known.as_str() == *d))
    {
        let names: Vec<&str> = Decision::ALL.iter().map(|d| d.as_str()).collect();
        return Err(Failure::usage(format!(
            "--decision {d:?} is not a decision ({})",
            names.join(", ")
        )));
    }
    let mut store = connect(url)?;
    let filter = ListFilter {
        host: args.host,
        verb: args.verb,
        tool: args.tool,
        decision: args.decision,
        workflow: args.workflow,
        since: args.since,
        until: args.until,
        log: None,
        limit: args.limit,
    };
    let rows = list(&mut store, &filter).map_err(Failure::usage)?;
    for row in &rows {
        if args.json {
            out!("{}", listed_json(row));
        } else {
            out!(
                "{:<16} {:>6}  {}  {}  {:<14} {:<24} {:<17} {}",
                row.host_name,
                row.position,
                row.action_hash.get(..12).unwrap_or(&row.action_hash),
                row.captured_at,
                row.verb,
                row.tool_name,
                row.decision,
                row.trust_level
            );
        }
    }
    Ok(0)
}

fn listed_json(row: &heso_store::Listed) -> Value {
    json!({
        "host_name": row.host_name,
        "log_id": row.log_id,
        "position": row.position,
        "action_hash": row.action_hash,
        "captured_at": row.captured_at,
        "received_at": row.received_at,
        "verb": row.verb,
        "tool_name": row.tool_name,
        "workflow": row.workflow,
        "decision": row.decision,
        "trust_level": row.trust_level,
    })
}

/// `heso fleet show URL HASH`: the stored receipt as pretty JSON; where it is on stderr.
pub(crate) fn show_cmd(url: &str, prefix: &str) -> Outcome {
    let mut store = connect(url)?;
    let shown = show(&mut store, prefix).map_err(Failure::usage)?;
    let value: Value = serde_json::from_slice(&shown.receipt).map_err(|e| {
        Failure::usage(format!(
            "the stored receipt {} is not JSON: {e} (run `heso fleet verify`)",
            shown.listed.action_hash
        ))
    })?;
    let l = &shown.listed;
    err!(
        "log {} position {} (host {}), received {}; unverified here: run `heso fleet verify` or `heso verify -`",
        l.log_id,
        l.position,
        l.host_name,
        l.received_at
    );
    out!(
        "{}",
        serde_json::to_string_pretty(&value).map_err(Failure::usage)?
    );
    Ok(0)
}
