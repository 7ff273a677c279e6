//! `heso fleet verify` of a million receipts, and the fleet benchmarks in the same run:
//! `heso push` against a bare batched INSERT of the same rows, `heso fleet verify` against
//! the local `heso log verify` of the same receipts. Prints the figures (and writes them to
//! `target/fleet-bench.txt`); `HESO_FLEET_RECEIPTS` changes the size (default 1,000,000).
//! With `HESO_FLEET_V1=1` the same log is also pushed, right after, into a store left at
//! schema version 1, for the before/after of schema version 2.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

mod fleet_support;

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fleet_support::{Db, Project, heso_command, migrate, repo_root};

/// CPU time (user + system) process `pid` has used so far, from /proc; None once it is gone.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, from the state (field 3): utime and stime are
    // fields 14 and 15, in USER_HZ ticks (100 a second on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// What one run of a command took.
struct Measured {
    took: Duration,
    code: i32,
    out: String,
    peak_kib: u64,
    /// CPU seconds of the process (its last sample, up to 20 ms short).
    cpu: f64,
    /// CPU seconds of the PostgreSQL backend serving `role`'s connection, when asked.
    backend_cpu: f64,
}

/// Runs `command` to its end: its wall time, exit code, output, peak resident memory
/// (VmHWM) and CPU time, sampled from /proc while it runs; with a database and a role's
/// URL, also the CPU time of the server process serving that role's connection.
fn measured(mut command: Command, server: Option<(&Db, &str)>) -> Measured {
    let mut server = server.map(|(db, url)| {
        let user = url.split_once("://").unwrap().1.split_once('@').unwrap().0;
        (db.client(), user.to_owned(), None::<i32>)
    });
    let started = Instant::now();
    let mut child: Child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let status_path = format!("/proc/{pid}/status");
    let (mut peak_kib, mut cpu, mut backend_cpu) = (0u64, 0f64, 0f64);
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    let stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap());
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kib: u64 = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("0")
                .parse()
                .unwrap_or(0);
            peak_kib = peak_kib.max(kib);
        }
        cpu = cpu_seconds(pid).unwrap_or(cpu);
        if let Some((client, user, backend)) = &mut server {
            if backend.is_none() {
                *backend = client
                    .query_opt(
                        "SELECT pid FROM pg_stat_activity WHERE usename = $1 LIMIT 1",
                        &[&*user],
                    )
                    .unwrap()
                    .map(|row| row.get(0));
            }
            if let Some(backend) = backend {
                backend_cpu = cpu_seconds(backend.unsigned_abs()).unwrap_or(backend_cpu);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let stdout = reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    Measured {
        took,
        code: status.code().unwrap_or(-1),
        out: format!("{stdout}{stderr}"),
        peak_kib,
        cpu,
        backend_cpu,
    }
}

/// The rows of a log, as push reads them, for the bare INSERT.
struct BareRow {
    position: i64,
    action_hash: String,
    prev: Option<String>,
    next_link: String,
    receipt: Vec<u8>,
    captured_at: String,
    verb: String,
    tool: String,
    workflow: String,
    decision: String,
    trust: String,
}

fn bare_rows(lines: &[String]) -> Vec<BareRow> {
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let c = &v["content"];
            let s = |p: &str| {
                c.pointer(p)
                    .and_then(|x| x.as_str())
                    .unwrap_or("")
                    .to_owned()
            };
            BareRow {
                position: i as i64,
                action_hash: s("/action_hash"),
                prev: c["prev_receipt_hash"].as_str().map(str::to_owned),
                next_link: heso_receipt::chain_link(
                    &s("/session_id"),
                    i as u64,
                    &s("/action_hash"),
                ),
                receipt: line.as_bytes().to_vec(),
                captured_at: s("/captured_at"),
                verb: s("/action/verb"),
                tool: s("/action/tool_name"),
                workflow: s("/action/workflow"),
                decision: s("/policy/decision_path"),
                trust: s("/trust_level"),
            }
        })
        .collect()
}

/// The same rows into a table with the same columns, key and indexes but no triggers, by
/// multi-row INSERT statements (1,000 rows each, 5,000 a transaction).
fn bare_insert(url: &str, log_id: &str, rows: &[BareRow]) -> (Duration, f64) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "CREATE TABLE bare_receipts (LIKE heso.receipts INCLUDING DEFAULTS INCLUDING INDEXES)",
        )
        .unwrap();
    let backend: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let cpu_before = cpu_seconds(backend.unsigned_abs()).unwrap();
    let started = Instant::now();
    for transaction in rows.chunks(5_000) {
        let mut tx = client.transaction().unwrap();
        for statement in transaction.chunks(1_000) {
            let mut sql = String::from(
                "INSERT INTO bare_receipts (log_id, position, session_id, seq, action_hash, \
                 prev_receipt_hash, next_link, receipt, captured_at, verb, tool_name, workflow, \
                 decision, trust_level) VALUES ",
            );
            let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = Vec::new();
            for (i, row) in statement.iter().enumerate() {
                let b = i * 12;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${},${},${},${},${},${},${},${},${}::text::timestamptz,${},${},${},${},${})",
                    b + 1,
                    b + 2,
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9,
                    b + 10,
                    b + 11,
                    b + 12
                ));
                params.push(&log_id);
                params.push(&row.position);
                params.push(&row.action_hash);
                params.push(&row.prev);
                params.push(&row.next_link);
                params.push(&row.receipt);
                params.push(&row.captured_at);
                params.push(&row.verb);
                params.push(&row.tool);
                params.push(&row.workflow);
                params.push(&row.decision);
                params.push(&row.trust);
            }
            tx.execute(sql.as_str(), &params).unwrap();
        }
        tx.commit().unwrap();
    }
    let took = started.elapsed();
    (
        took,
        cpu_seconds(backend.unsigned_abs()).unwrap() - cpu_before,
    )
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.sh, or eval \"$(bash scripts/postgres.sh start)\" then --ignored"]
fn fleet_verify_of_a_million_receipts_and_the_fleet_benchmarks() {
    let n: u64 = std::env::var("HESO_FLEET_RECEIPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let load_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let temp = tempfile::tempdir().unwrap();
    let db = Db::new();
    migrate(temp.path(), &db.url);
    let host = db.host_role("host_m");
    let project = Project::new(temp.path(), "m");

    let started = Instant::now();
    let mut done = 0;
    while done < n {
        let chunk = (n - done).min(100_000);
        project.append(chunk);
        done += chunk;
    }
    let generated = started.elapsed();
    let log_bytes = std::fs::metadata(project.log()).unwrap().len();

    let local = measured(heso_command(&project.dir, &["log", "verify"]), None);
    assert_eq!(local.code, 0, "{}", local.out);
    // The bare INSERT below connects without TLS; so does heso here (the test server
    // offers TLS, which `sslmode=prefer` would take), so both send the same bytes.
    let plain = |mut command: Command| {
        command.env("PGSSLMODE", "disable");
        command
    };
    let push = measured(
        plain(heso_command(&project.dir, &["push", &host])),
        Some((&db, &host)),
    );
    assert_eq!(push.code, 0, "{}", push.out);
    assert!(
        push.out.contains(&format!("checkpoint of size {n}")),
        "{}",
        push.out
    );
    let v1_push = std::env::var_os("HESO_FLEET_V1").is_some().then(|| {
        let v1 = Db::new();
        let mut store = heso_store::Store::connect(&v1.url).unwrap();
        heso_store::migrate_to(&mut store, 1).unwrap();
        drop(store);
        let host = v1.host_role("host_m1");
        let push = measured(
            plain(heso_command(&project.dir, &["push", &host])),
            Some((&v1, &host)),
        );
        assert_eq!(push.code, 0, "{}", push.out);
        assert!(
            push.out.contains(&format!("checkpoint of size {n}")),
            "{}",
            push.out
        );
        push
    });
    let fleet = measured(
        plain(heso_command(temp.path(), &["fleet", "verify", &db.url])),
        None,
    );
    assert_eq!(fleet.code, 0, "{}", fleet.out);
    assert!(
        fleet
            .out
            .contains(&format!("{n} receipts in 1 logs, all valid")),
        "{}",
        fleet.out
    );
    assert!(
        fleet.peak_kib < 300 * 1024,
        "fleet verify peaked at {} KiB",
        fleet.peak_kib
    );

    let table_bytes: i64 = db
        .client()
        .query_one("SELECT pg_total_relation_size('heso.receipts')", &[])
        .unwrap()
        .get(0);
    let lines = project.lines();
    let rows = bare_rows(&lines);
    drop(lines);
    let (bare, bare_backend_cpu) = bare_insert(&db.url, &project.log_id, &rows);
    drop(rows);

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let secs = |d: Duration| d.as_secs_f64();
    let v1_line = v1_push.map_or_else(String::new, |v1| {
        format!(
            "heso push into schema v1:     {:.1}s  {:>9.0} receipts/s  push / bare {:.2}  \
             cpu: heso {:.1}s, server {:.1}s\n",
            secs(v1.took),
            rate(v1.took),
            secs(v1.took) / secs(bare),
            v1.cpu,
            v1.backend_cpu,
        )
    });
    let report = format!(
        "fleet benchmarks, {n} receipts ({:.0} MB of log), PostgreSQL {} on this machine\n\
         generate the log (test only): {:.1}s\n\
         heso log verify (local):      {:.1}s  {:>9.0} receipts/s  peak {} MiB\n\
         heso fleet verify:            {:.1}s  {:>9.0} receipts/s  peak {} MiB  ratio to local {:.2}\n\
         heso push (COPY, triggers):   {:.1}s  {:>9.0} receipts/s  peak {} MiB  \
         cpu: heso {:.1}s, server {:.1}s\n\
         bare batched INSERT:          {:.1}s  {:>9.0} receipts/s  push / bare {:.2}  \
         cpu: server {:.1}s\n\
         {v1_line}\
         heso.receipts with its indexes: {:.0} MB, {} bytes a receipt (the log: {} bytes a receipt)\n",
        log_bytes as f64 / 1e6,
        server_version(&db),
        secs(generated),
        secs(local.took),
        rate(local.took),
        local.peak_kib / 1024,
        secs(fleet.took),
        rate(fleet.took),
        fleet.peak_kib / 1024,
        secs(fleet.took) / secs(local.took),
        secs(push.took),
        rate(push.took),
        push.peak_kib / 1024,
        push.cpu,
        push.backend_cpu,
        secs(bare),
        rate(bare),
        secs(push.took) / secs(bare),
        bare_backend_cpu,
        table_bytes as f64 / 1e6,
        table_bytes as u64 / n,
        log_bytes / n,
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let report = format!("{report}load average at the start: {load_start}at the end: {load}");
    eprintln!("{report}");
    let out = repo_root().join("target").join("fleet-bench.txt");
    if let Ok(mut file) = std::fs::File::create(&out) {
        let _ = file.write_all(report.as_bytes());
    }
}

fn server_version(db: &Db) -> String {
    db.client()
        .query_one("SHOW server_version", &[])
        .unwrap()
        .get(0)
}
