//! `heso push [--follow]` and `heso log verify --store`: the project's log against the
//! fleet store (heso-store).

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use heso_store::{
    PushError, PushReport, Pusher, Store, StoreVerdict, check_against_store, project_log,
    ship_source, store_url,
};
use serde_json::json;

use crate::{Failure, Outcome};

/// A follow loop re-reads the whole log and compares it with the store this often (between
/// these, it reads only what was appended).
const FULL_CHECK_EVERY: Duration = Duration::from_secs(600);
/// The longest wait between two tries while the store is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

fn push_failure(e: PushError) -> Failure {
    let code = match &e {
        PushError::Inconsistent(_) | PushError::Refused { .. } => 1,
        _ => 2,
    };
    Failure {
        code,
        message: e.to_string(),
    }
}

fn say(report: &PushReport, origin: &str, target: &str) {
    let mut line = format!(
        "pushed {} receipt(s) of {origin} to {target}: the store holds {} of {}",
        report.stored, report.log_size, report.log_size
    );
    if report.sent > report.stored {
        line.push_str(&format!(
            " ({} sent were already there)",
            report.sent - report.stored
        ));
    }
    match report.checkpoint {
        Some(size) => line.push_str(&format!("; signed checkpoint of size {size} stored")),
        None => line.push_str("; its latest checkpoint already covers the log"),
    }
    out!("{line}");
}

/// `heso push [URL] [--follow] [--interval SECONDS]`.
pub(crate) fn push(url: Option<String>, follow: bool, interval: f64) -> Outcome {
    if !(interval.is_finite() && interval > 0.0 && interval <= 3600.0) {
        return Err(Failure::usage(format!(
            "--interval {interval} must be a number of seconds above 0 and at most 3600"
        )));
    }
    let (source, config_url) = ship_source(None).map_err(Failure::usage)?;
    let url = store_url(url.as_deref(), config_url.as_deref()).map_err(Failure::usage)?;
    let mut pusher = Pusher::new(source).map_err(push_failure)?;
    if !follow {
        let mut store = Store::connect(&url).map_err(Failure::usage)?;
        let bar = progress_bar();
        let progress = |n: u64| {
            if let Some(bar) = &bar {
                bar.set_position(n);
            }
        };
        let report = pusher
            .push(&mut store, Some(&progress))
            .map_err(push_failure);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let report = report?;
        say(&report, pusher.origin(), store.target());
        return Ok(0);
    }
    follow_loop(&url, &mut pusher, Duration::from_secs_f64(interval))
}

fn progress_bar() -> Option<indicatif::ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("pushing: {pos} receipts read {spinner}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    })
}

/// Ships forever: what was appended, every `interval`; through store outages (each
/// reported once, with its end), reconnecting with a backoff of at most [`MAX_BACKOFF`].
fn follow_loop(url: &str, pusher: &mut Pusher, interval: Duration) -> Outcome {
    let mut store: Option<Store> = None;
    let mut last_full = Instant::now();
    let mut backoff = Duration::from_millis(200);
    let mut outage: Option<Instant> = None;
    out!("following {} (every {interval:?})", pusher.origin());
    loop {
        if store.as_ref().is_none_or(Store::is_closed) {
            match Store::connect(url) {
                Ok(connected) => store = Some(connected),
                Err(e) if e.is_transient() => {
                    if outage.is_none() {
                        err!("heso: the store is unreachable, retrying: {e}");
                        outage = Some(Instant::now());
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
                Err(e) => return Err(Failure::usage(e)),
            }
        }
        let Some(connected) = store.as_mut() else {
            continue;
        };
        if last_full.elapsed() >= FULL_CHECK_EVERY {
            pusher.reset();
            last_full = Instant::now();
        }
        match pusher.push(connected, None) {
            Ok(report) => {
                if let Some(since) = outage.take() {
                    err!(
                        "heso: the store is back after {:.1}s",
                        since.elapsed().as_secs_f64()
                    );
                }
                backoff = Duration::from_millis(200);
                if report.stored > 0 || report.checkpoint.is_some() {
                    say(&report, pusher.origin(), connected.target());
                }
                std::thread::sleep(interval);
            }
            Err(e) if e.is_transient() => {
                if outage.is_none() {
                    err!("heso: the store is unreachable, retrying: {e}");
                    outage = Some(Instant::now());
                }
                store = None;
                // What this pusher knew may be stale after an outage: compare again.
                pusher.reset();
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(push_failure(e)),
        }
    }
}

/// `heso log verify --store [URL]`: the local log (as `heso log verify`), then the store's
/// word on it: `Truncated` or `RootMismatch` when it lost or changed what was pushed.
pub(crate) fn log_verify_store(json: bool, url: &str) -> Outcome {
    let project = project_log(None).map_err(Failure::usage)?;
    let given = (!url.is_empty()).then_some(url);
    let url = store_url(given, project.config_store_url.as_deref()).map_err(Failure::usage)?;
    let mut store = Store::connect(&url).map_err(Failure::usage)?;
    let verdict = match &project.log_id {
        None => StoreVerdict::Unknown,
        Some(log_id) => check_against_store(
            &mut store,
            &project.paths.receipts(),
            log_id,
            &project.operator,
        )
        .map_err(push_failure)?,
    };
    let store_ok = verdict.is_consistent();
    if json {
        let local = local_report(&project)?;
        let local_ok = local.as_ref().is_none_or(|(report, _)| report.all_valid());
        let document = json!({
            "all_valid": local_ok && store_ok,
            "log": local.map(|(report, pins)| heso_receipt::PinnedLogReport::new(&report, &pins)),
            "store": {
                "target": store.target(),
                "log_id": project.log_id,
                "verdict": verdict.kind(),
                "consistent": store_ok,
                "detail": verdict.to_string(),
            },
        });
        out!(
            "{}",
            serde_json::to_string_pretty(&document).map_err(Failure::usage)?
        );
        return Ok(if local_ok && store_ok { 0 } else { 1 });
    }
    let local_code = crate::verify::log_verify(false)?;
    out!("store {}: {verdict}", store.target());
    Ok(if store_ok { local_code } else { 1 })
}

/// The local log's report, pinned as `heso log verify` pins it, and those pins.
fn local_report(
    project: &heso_store::ProjectLog,
) -> Result<Option<(heso_chain::LogReport, heso_receipt::SignerPins)>, Failure> {
    let log = project.paths.receipts();
    heso_fs::refuse_symlink(&log).map_err(Failure::usage)?;
    if !log.is_file() {
        return Ok(None);
    }
    let config = heso_engine::load_config(&project.paths.config()).map_err(Failure::usage)?;
    let pins =
        heso_engine::project_pins(&config.policy, project.operator, &config.retired_operators);
    heso_chain::verify_log(&log, &pins, None)
        .map(|report| Some((report, pins)))
        .map_err(|e| Failure::usage(format!("cannot read the log: {e}")))
}
