//! The fleet store with a real PostgreSQL server (scripts/postgres.sh; each test has a
//! database of its own): migrations, push (twice, concurrently, killed mid-batch), the
//! store catching a truncated or rewritten host log, the append-only rules for hosts and
//! for a superuser's edits, refused forks, fleet verify, list and show. Real `heso`
//! processes in temporary folders.
//!
//! Ignored by a plain `cargo test`: run with `-- --ignored` after
//! `eval "$(bash scripts/postgres.sh start)"`, as scripts/test.sh does.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

mod fleet_support;

use std::time::{Duration, Instant};

use fleet_support::{Db, Project, heso, heso_command, migrate, receipts, run, wait_for};

const NEEDS_PG: &str = "needs PostgreSQL";

/// A host's own INSERT of one receipt row, as a client other than heso could send it.
fn insert_sql(
    log_id: &str,
    position: i64,
    receipt: &[u8],
    prev: Option<&str>,
    hash: &str,
) -> String {
    format!(
        "INSERT INTO heso.receipts (log_id, position, session_id, seq, action_hash, \
         prev_receipt_hash, next_link, receipt, captured_at, verb, tool_name, workflow, \
         decision, trust_level) VALUES ('{log_id}', {position}, '{log_id}', {position}, \
         '{hash}', {prev}, 'x', '\\x{bytes}', now(), 'tool_call', 't', 'w', 'allow', 'L0')",
        prev = prev.map_or("NULL".to_owned(), |p| format!("'{p}'")),
        bytes = receipt
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    )
}

/// `sql` (an UPDATE, DELETE or TRUNCATE) fails for the host role (no privilege, or the
/// trigger) and for the owner too: the triggers refuse it for every role.
fn assert_refused_for_host_and_owner(
    as_host: &mut postgres::Client,
    as_owner: &mut postgres::Client,
    sql: &str,
) {
    let error = as_host.batch_execute(sql).unwrap_err();
    let text = format!("{error:?}");
    assert!(
        text.contains("permission denied") || text.contains("append-only"),
        "host: {sql}: {text}"
    );
    let error = as_owner.batch_execute(sql).unwrap_err();
    assert!(
        format!("{error:?}").contains("append-only"),
        "owner: {sql}: {error:?}"
    );
}

fn stored(db: &Db, log_id: &str) -> i64 {
    db.count(&format!(
        "SELECT count(*) FROM heso.receipts WHERE log_id = '{log_id}'"
    ))
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.sh, or eval \"$(bash scripts/postgres.sh start)\" then --ignored"]
fn migrate_is_versioned_and_runs_once() {
    let _ = NEEDS_PG;
    let temp = tempfile::tempdir().unwrap();
    let db = Db::new();
    let first = heso(temp.path(), &["fleet", "migrate", &db.url]);
    assert_eq!(first.code, 0, "{}", first.all());
    assert!(
        first.stdout.contains(&format!(
            "schema version 0 -> {}",
            heso_store::SCHEMA_VERSION
        )),
        "{}",
        first.stdout
    );
    let again = heso(temp.path(), &["fleet", "migrate", &db.url]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert_eq!(
        db.count("SELECT count(*) FROM heso.schema_migrations"),
        i64::from(heso_store::SCHEMA_VERSION)
    );
    // Before a migration, the other commands say what to run.
    let bare = Db::new();
    let verify = heso(temp.path(), &["fleet", "verify", &bare.url]);
    assert_eq!(verify.code, 2, "{}", verify.all());
    assert!(
        verify.stderr.contains("heso fleet migrate"),
        "{}",
        verify.stderr
    );
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.sh, or eval \"$(bash scripts/postgres.sh start)\" then --ignored"]
fn pushing_twice_stores_each_receipt_once_and_a_new_checkpoint_only_for_new_receipts() {
    let temp = tempfile::tempdir().unwrap();
    let db = Db::new();
    migrate(temp.path(), &db.url);
    let host = db.host_role("host_a");
    let project = Project::new(temp.path(), "a");
    project.append(120);

    let first = project.heso(&["push", &host]);
    assert_eq!(first.code, 0, "{}", first.all());
    assert!(
        first.stdout.contains("pushed 120 receipt(s)"),
        "{}",
        first.stdout
    );
    assert!(
        first.stdout.contains("checkpoint of size 120"),
        "{}",
        first.stdout
    );
    let again = project.heso(&["push", &host]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(
        again.stdout.contains("pushed 0 receipt(s)"),
        "{}",
        again.stdout
    );
    assert!(again.stdout.contains("already covers"), "{}", again.stdout);
    assert_eq!(stored(&db, &project.log_id), 120);
    assert_eq!(db.count("SELECT count(*) FROM heso.checkpoints"), 1);

    project.append(30);
    let more = project.heso(&["push", &host]);
    assert_eq!(more.code, 0, "{}", more.all());
    assert!(
        more.stdout.contains("pushed 30 receipt(s)"),
        "{}",
        more.stdout
    );
    assert_eq!(stored(&db, &project.log_id), 150);
    assert_eq!(db.count("SELECT count(*) FROM heso.checkpoints"), 2);
    // Exact bytes.
    let line: Vec<u8> = db
        .client()
        .query_one(
            "SELECT receipt FROM heso.receipts WHERE position = 149",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(line, project.lines()[149].as_bytes());

    let verify = heso(temp.path(), &["fleet", "verify", &db.url]);
    assert_eq!(verify.code, 0, "{}", verify.all());
    assert!(
        verify.stdout.contains("150 receipts in 1 logs, all valid"),
        "{}",
        verify.stdout
    );
    assert!(
        verify.stdout.contains("the latest matching covers 150"),
        "{}",
        verify.stdout
    );
    let json = heso(temp.path(), &["fleet", "verify", &db.url, "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["all_valid"], true);
    assert_eq!(doc["logs"][0]["counts"]["Valid"], 150);

    // Queries.
    let list = heso(
        temp.path(),
        &[
            "fleet", "list", &db.url, "--verb", "delete", "--limit", "5", "--json",
        ],
    );
    assert_eq!(list.code, 0, "{}", list.all());
    let rows: Vec<serde_json::Value> = list
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 5);
    assert!(
        rows.iter()
            .all(|r| r["verb"] == "delete" && r["decision"] == "require_approval")
    );
    let host_name = rows[0]["host_name"].as_str().unwrap().to_owned();
    let by_host = heso(
        temp.path(),
        &["fleet", "list", &db.url, "--host", &host_name],
    );
    assert_eq!(by_host.stdout.lines().count(), 20, "{}", by_host.all());
    let none = heso(
        temp.path(),
        &["fleet", "list", &db.url, "--host", "no-such-host"],
    );
    assert_eq!(none.stdout, "");
    let since = heso(
        temp.path(),
        &[
            "fleet",
            "list",
            &db.url,
            "--since",
            "2026-12-01T00:02:00Z",
            "--limit",
            "1000",
        ],
    );
    assert_eq!(since.stdout.lines().count(), 30, "{}", since.all());
    let bad = heso(
        temp.path(),
        &["fleet", "list", &db.url, "--since", "yesterday"],
    );
    assert_eq!(bad.code, 2, "{}", bad.all());
    let hash = rows[0]["action_hash"].as_str().unwrap();
    let show = heso(temp.path(), &["fleet", "show", &db.url, &hash[..10]]);
    assert_eq!(show.code, 0, "{}", show.all());
    let shown: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(shown["content"]["action_hash"], hash);
    let missing = heso(temp.path(), &["fleet", "show", &db.url, "0000000000"]);
    assert_eq!(missing.code, 2, "{}", missing.all());
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.sh, or eval \"$(bash scripts/postgres.sh start)\" then --ignored"]
fn two_hosts_push_concurrently_each_into_its_own_log() {
    let temp = tempfile::tempdir().unwrap();
    let db = Db::new();
    migrate(temp.path(), &db.url);
    let hosts = [("host_a", "a"), ("host_b", "b")].map(|(role, name)| {
        let url = db.host_role(role);
        let project = Project::new(temp.path(), name);
        project.append(12_000);
        (url, project)
    });
    let children: Vec<_> = hosts
        .iter()
        .map(|(url, project)| {
            let mut command = heso_command(&project.dir, &["push", url]);
            command.env(
                "HESO_HOST_NAME",
                format!("machine-{}", &project.log_id[..4]),
            );
            command.spawn().unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    for (_, project) in &hosts {
        assert_eq!(stored(&db, &project.log_id), 12_000);
    }
    let verify = heso(temp.path(), &["fleet", "verify", &db.url]);
    assert_eq!(verify.code, 0, "{}", verify.all());
    assert!(
        verify
            .stdout
            .contains("24000 receipts in 2 logs, all valid"),
        "{}",
        verify.stdout
    );
    // One log only.
    let one = heso(
        temp.path(),
        &[
            "fleet",
            "verify",
            &db.url,
            "--log",
            &hosts[0].1.log_id,
            "--log",
            "nope",
        ],
    );
    assert_eq!(one.code, 1, "{}", one.all());
    assert!(
        one.stdout.contains("12000 receipts in 1 logs"),
        "{}",
        one.stdout
    );
    assert!(
        one.stdout.contains("log nope: not in the store"),
        "{}",
        one.stdout
    );

    // Host B cannot add to host A's log, even a well-formed successor of its head.
    let (url_b, _) = &hosts[1];
    let (_, project_a) = &hosts[0];
    let mut client = postgres::Client::connect(url_b, postgres::NoTls).unwrap();
    let error = client
        .execute(
            "INSERT INTO heso.receipts (log_id, position, session_id, seq, action_hash, \
             prev_receipt_hash, next_link, receipt, captured_at, verb, tool_name, workflow, \
             decision, trust_level) \
             SELECT log_id, 12000, session_id, 12000, action_hash, next_link, next_link, \
             receipt, captured_at, verb, tool_name, workflow, decision, trust_level \
             FROM heso.receipts WHERE log_id = $1 AND position = 11999",
            &[&project_a.log_id],
        )
        .unwrap_err();
    assert!(
        format!("{error:?}").contains("may not add to log"),
        "{error:?}"
    );
    let error = client
        .execute(
            "INSERT INTO heso.approvers (log_id, approver_key, name) VALUES ($1, $2, 'mallory')",
            &[
                &project_a.log_id,
                &"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
            ],
        )
        .unwrap_err();
    assert!(
        format!("{error:?}").contains("may not add to log"),
        "{error:?}"
    );
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.sh, or eval \"$(bash scripts/postgres.sh start)\" then --ignored"]
fn a_push_killed_mid_batch_leaves_whole_batches_and_the_next_push_stores_the_rest_once() {
    let temp = tempfile::tempdir().unwrap();
    let db = Db::new();
    migrate(temp.path(), &db.url);
    let host = db.host_role("host_k");
    let project = Project::new(temp.path(), "k");
    project.append(40_000);

    let mut child = heso_command(&project.dir, &["push", &host])
        .spawn()
        .unwrap();
    // Kill it while a COPY batch is being written.
    let mut watcher = db.client();
    wait_for(60, "a COPY of the push in progress", || {
        let copying: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'heso' \
                 AND state = 'active' AND query LIKE 'COPY heso.receipts%'",
                &[],
            )
            .unwrap()
            .get(0);
        copying > 0
    });
    rustix_kill(child.id());
    let status = child.wait().unwrap();
    assert!(!status.success());
    let after_kill = stored(&db, &project.log_id);
    assert!(after_kill < 40_000, "the push finished before the kill");
    assert_eq!(after_kill % 5_000, 0, "a torn batch was kept: {after_kill}");
    assert_eq!(db.count("SELECT count(*) FROM heso.forks"), 0);

    let resumed = project.heso(&["push", &host]);
    assert_eq!(resumed.code, 0, "{}", resumed.all());
    assert_eq!(stored(&db, &project.log_id), 40_000);
    let verify = heso(temp.path(), &["fleet", "verify", &db.url]);
    assert_eq!(verify.code, 0, "{}", verify.all());
}

fn rustix_kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.sh, or eval \"$(bash scripts/postgres.sh start)\" then --ignored"]
fn a_log_truncated_or_rewritten_after_a_push_is_refused_even_without_local_checkpoints() {
    let temp = tempfile::tempdir().unwrap();
    let db = Db::new();
    migrate(temp.path(), &db.url);
    let host = db.host_role("host_t");
    let project = Project::new(temp.path(), "t");
    project.append(50);
    assert_eq!(project.heso(&["push", &host]).code, 0);
    project.append(10);
    // The store holds 60 receipts now, its latest checkpoint covers 60.
    assert_eq!(project.heso(&["push", &host]).code, 0);
    let ok = project.heso(&["log", "verify", "--store", &host]);
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(ok.stdout.contains("Consistent"), "{}", ok.stdout);

    let data = project.dir.join("heso-local-data");
    let original = std::fs::read_to_string(project.log()).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let remove_local_proofs = || {
        let _ = std::fs::remove_dir_all(data.join("checkpoints"));
        let _ = std::fs::remove_file(data.join("receipts.leaves"));
        let _ = std::fs::remove_file(data.join("receipts.tail"));
    };
    // Truncated to every kind of shorter log: a valid chain locally, caught by the store.
    for keep in [59usize, 30, 1, 0] {
        std::fs::write(
            project.log(),
            lines[..keep]
                .iter()
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
        )
        .unwrap();
        remove_local_proofs();
        let push = project.heso(&["push", &host]);
        assert_eq!(push.code, 1, "keep {keep}: {}", push.all());
        assert!(
            push.stderr.contains("Truncated"),
            "keep {keep}: {}",
            push.stderr
        );
        let verify = project.heso(&["log", "verify", "--store", &host]);
        assert_eq!(verify.code, 1, "keep {keep}: {}", verify.all());
        assert!(
            verify.stdout.contains("Truncated"),
            "keep {keep}: {}",
            verify.stdout
        );
    }
    // The log deleted outright.
    std::fs::remove_file(project.log()).unwrap();
    let gone = project.heso(&["push", &host]);
    assert_eq!(gone.code, 1, "{}", gone.all());
    assert!(gone.stderr.contains("Truncated"), "{}", gone.stderr);

    // Rewritten: the same length, other receipts, signed with the operator key.
    let forged = receipts(&project.operator, &project.log_id, 0, None, 60, "forged");
    std::fs::write(project.log(), &forged).unwrap();
    remove_local_proofs();
    let local = project.heso(&["log", "verify"]);
    assert_eq!(
        local.code,
        0,
        "the forgery is a valid chain locally: {}",
        local.all()
    );
    let push = project.heso(&["push", &host]);
    assert_eq!(push.code, 1, "{}", push.all());
    assert!(push.stderr.contains("RootMismatch"), "{}", push.stderr);
    let json = project.heso(&["log", "verify", "--store", &host, "--json"]);
    assert_eq!(json.code, 1, "{}", json.all());
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["store"]["verdict"], "RootMismatch");
    assert_eq!(doc["log"]["all_valid"], true);
    // Nothing of the forgery reached the store.
    assert_eq!(stored(&db, &project.log_id), 60);
    assert_eq!(db.count("SELECT count(*) FROM heso.forks"), 0);

    // Restored: consistent again, and longer logs push on.
    std::fs::write(project.log(), &original).unwrap();
    project.append(5);
    let push = project.heso(&["push", &host]);
    assert_eq!(push.code, 0, "{}", push.all());
    assert_eq!(stored(&db, &project.log_id), 65);
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.sh, or eval \"$(bash scripts/postgres.sh start)\" then --ignored"]
fn the_store_url_comes_from_the_environment_or_heso_toml_never_with_a_password() {
    let temp = tempfile::tempdir().unwrap();
    let db = Db::new();
    migrate(temp.path(), &db.url);
    let host = db.host_role("host_u");
    let project = Project::new(temp.path(), "u");
    project.append(3);
    let none = project.heso(&["push"]);
    assert_eq!(none.code, 2, "{}", none.all());
    assert!(none.stderr.contains("HESO_STORE_URL"), "{}", none.stderr);
    let mut with_env = heso_command(&project.dir, &["push"]);
    with_env.env("HESO_STORE_URL", &host);
    let pushed = run(with_env);
    assert_eq!(pushed.code, 0, "{}", pushed.all());

    let config = project.dir.join("heso.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[store]\nurl = \"{host}\"\n")).unwrap();
    project.append(2);
    let from_toml = project.heso(&["push"]);
    assert_eq!(from_toml.code, 0, "{}", from_toml.all());
    assert!(
        from_toml.stdout.contains("pushed 2 receipt(s)"),
        "{}",
        from_toml.stdout
    );
    let verify = project.heso(&["log", "verify", "--store"]);
    assert_eq!(verify.code, 0, "{}", verify.all());

    let with_password = host.replacen("@", ":hunter2@", 1);
    std::fs::write(
        &config,
        format!("{text}\n[store]\nurl = \"{with_password}\"\n"),
    )
    .unwrap();
    let refused = project.heso(&["push"]);
    assert_eq!(refused.code, 2, "{}", refused.all());
    assert!(
        refused.stderr.contains("must not hold a password"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("hunter2"), "{}", refused.stderr);
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.sh, or eval \"$(bash scripts/postgres.sh start)\" then --ignored"]
fn hosts_cannot_update_or_delete_and_triggers_refuse_it_for_every_role() {
    let temp = tempfile::tempdir().unwrap();
    let db = Db::new();
    migrate(temp.path(), &db.url);
    let host = db.host_role("host_r");
    let project = Project::new(temp.path(), "r");
    project.append(10);
    assert_eq!(project.heso(&["push", &host]).code, 0);

    let mut as_host = postgres::Client::connect(&host, postgres::NoTls).unwrap();
    let mut as_superuser = db.client();
    for sql in [
        "UPDATE heso.receipts SET verb = 'tool_call' WHERE position = 3",
        "DELETE FROM heso.receipts WHERE position = 9",
        "TRUNCATE heso.receipts",
        "UPDATE heso.checkpoints SET size = 5",
        "DELETE FROM heso.checkpoints",
        "DELETE FROM heso.logs",
        "UPDATE heso.forks SET reason = ''",
    ] {
        assert_refused_for_host_and_owner(&mut as_host, &mut as_superuser, sql);
    }
    assert_eq!(stored(&db, &project.log_id), 10);
    let verify = heso(temp.path(), &["fleet", "verify", &db.url]);
    assert_eq!(verify.code, 0, "{}", verify.all());
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.sh, or eval \"$(bash scripts/postgres.sh start)\" then --ignored"]
fn a_forked_insert_is_refused_and_recorded_and_fleet_verify_reports_it() {
    let temp = tempfile::tempdir().unwrap();
    let db = Db::new();
    migrate(temp.path(), &db.url);
    let host = db.host_role("host_f");
    let project = Project::new(temp.path(), "f");
    project.append(20);
    assert_eq!(project.heso(&["push", &host]).code, 0);

    let mut as_host = postgres::Client::connect(&host, postgres::NoTls).unwrap();
    let copy_row = |position: i64, receipt: &[u8], prev: Option<&str>, hash: &str| {
        insert_sql(&project.log_id, position, receipt, prev, hash)
    };
    // Another receipt at a stored position (a rewritten history).
    let forged = receipts(&project.operator, &project.log_id, 0, None, 6, "forged");
    let forged: Vec<serde_json::Value> = forged
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let fifth = &forged[5]["content"];
    let sql = copy_row(
        5,
        serde_json::to_string(&forged[5]).unwrap().as_bytes(),
        fifth["prev_receipt_hash"].as_str(),
        fifth["action_hash"].as_str().unwrap(),
    );
    assert_eq!(
        as_host.execute(sql.as_str(), &[]).unwrap(),
        0,
        "the fork was stored"
    );
    // A successor whose link does not follow the stored head.
    let sql = copy_row(20, b"{}", Some(&"0".repeat(64)), &"1".repeat(64));
    assert_eq!(as_host.execute(sql.as_str(), &[]).unwrap(), 0);
    // A gap.
    let sql = copy_row(25, b"{}", Some(&"0".repeat(64)), &"2".repeat(64));
    assert_eq!(as_host.execute(sql.as_str(), &[]).unwrap(), 0);
    // The same receipt again is a no-op, not a fork.
    let line = project.lines()[4].clone();
    let again: serde_json::Value = serde_json::from_str(&line).unwrap();
    let sql = copy_row(
        4,
        line.as_bytes(),
        again["content"]["prev_receipt_hash"].as_str(),
        again["content"]["action_hash"].as_str().unwrap(),
    );
    assert_eq!(as_host.execute(sql.as_str(), &[]).unwrap(), 0);

    assert_eq!(stored(&db, &project.log_id), 20);
    let forks: Vec<(String, String)> = db
        .client()
        .query("SELECT kind, reason FROM heso.forks ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(forks.len(), 3, "{forks:?}");
    assert!(forks[0].1.contains("position 5 already holds"), "{forks:?}");
    assert!(forks[1].1.contains("does not link"), "{forks:?}");
    assert!(forks[2].1.contains("is not stored"), "{forks:?}");

    let verify = heso(temp.path(), &["fleet", "verify", &db.url]);
    assert_eq!(verify.code, 1, "{}", verify.all());
    assert!(
        verify
            .stdout
            .contains("3 insert(s) refused and recorded as forks"),
        "{}",
        verify.stdout
    );
    assert!(verify.stdout.contains("Valid: 20"), "{}", verify.stdout);
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.sh, or eval \"$(bash scripts/postgres.sh start)\" then --ignored"]
fn a_version_1_store_migrates_to_version_2_in_place_and_keeps_refusing_forks_and_changes() {
    let temp = tempfile::tempdir().unwrap();
    let db = Db::new();
    // The store as a version 1 heso left it, holding a pushed log.
    let mut store = heso_store::Store::connect(&db.url).unwrap();
    let made = heso_store::migrate_to(&mut store, 1).unwrap();
    assert_eq!((made.from, made.to), (0, 1));
    drop(store);
    let fk_to_logs = "SELECT count(*) FROM pg_constraint WHERE conrelid = 'heso.receipts'::regclass \
                      AND contype = 'f'";
    assert_eq!(db.count(fk_to_logs), 1);
    let host = db.host_role("host_v");
    let project = Project::new(temp.path(), "v");
    project.append(30);
    let push = project.heso(&["push", &host]);
    assert_eq!(
        push.code,
        0,
        "this heso pushes to a version 1 store: {}",
        push.all()
    );
    assert_eq!(stored(&db, &project.log_id), 30);

    let up = heso(temp.path(), &["fleet", "migrate", &db.url]);
    assert_eq!(up.code, 0, "{}", up.all());
    assert!(up.stdout.contains("schema version 1 -> 2"), "{}", up.stdout);
    assert_eq!(
        db.count(fk_to_logs),
        0,
        "the foreign key is now a statement check"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM pg_proc WHERE proname = 'receipt_insert'"),
        0
    );

    // Pushes go on from where they were, each receipt once.
    project.append(20);
    let push = project.heso(&["push", &host]);
    assert_eq!(push.code, 0, "{}", push.all());
    assert!(
        push.stdout.contains("pushed 20 receipt(s)"),
        "{}",
        push.stdout
    );
    assert_eq!(project.heso(&["push", &host]).code, 0);
    assert_eq!(stored(&db, &project.log_id), 50);

    // Forks are refused and recorded as before: another receipt at a stored position, a
    // successor that does not link to the stored head, a gap; the same receipt again is
    // skipped; a first receipt with a link is refused.
    let mut as_host = postgres::Client::connect(&host, postgres::NoTls).unwrap();
    let forged = receipts(&project.operator, &project.log_id, 0, None, 8, "forged");
    let forged: Vec<serde_json::Value> = forged
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seventh = &forged[7]["content"];
    let refused = [
        insert_sql(
            &project.log_id,
            7,
            serde_json::to_string(&forged[7]).unwrap().as_bytes(),
            seventh["prev_receipt_hash"].as_str(),
            seventh["action_hash"].as_str().unwrap(),
        ),
        insert_sql(
            &project.log_id,
            50,
            b"{}",
            Some(&"0".repeat(64)),
            &"1".repeat(64),
        ),
        insert_sql(
            &project.log_id,
            52,
            b"{}",
            Some(&"0".repeat(64)),
            &"2".repeat(64),
        ),
        insert_sql(
            &project.log_id,
            0,
            b"{}",
            Some(&"0".repeat(64)),
            &"3".repeat(64),
        ),
    ];
    for sql in &refused {
        assert_eq!(
            as_host.execute(sql.as_str(), &[]).unwrap(),
            0,
            "stored: {sql}"
        );
    }
    let line = project.lines()[12].clone();
    let again: serde_json::Value = serde_json::from_str(&line).unwrap();
    let same = insert_sql(
        &project.log_id,
        12,
        line.as_bytes(),
        again["content"]["prev_receipt_hash"].as_str(),
        again["content"]["action_hash"].as_str().unwrap(),
    );
    assert_eq!(as_host.execute(same.as_str(), &[]).unwrap(), 0);
    let reasons: Vec<String> = db
        .client()
        .query("SELECT reason FROM heso.forks ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons[0].contains("position 7 already holds"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("does not link"), "{reasons:?}");
    assert!(
        reasons[2].contains("position 51 is not stored"),
        "{reasons:?}"
    );
    assert!(
        reasons[3].contains("position 0 already holds"),
        "{reasons:?}"
    );

    // A malformed action_hash is refused (the check that replaced the pattern), on a row
    // the insert trigger lets through: the true link to the stored head.
    let head_link: String = db
        .client()
        .query_one(
            "SELECT next_link FROM heso.receipts WHERE log_id = $1 AND position = 49",
            &[&project.log_id],
        )
        .unwrap()
        .get(0);
    let bad_hashes = [
        "A".repeat(64),
        "g".repeat(64),
        format!("{} ", "a".repeat(63)),
        "ab".repeat(33),
    ];
    for bad in &bad_hashes {
        let sql = insert_sql(&project.log_id, 50, b"{}", Some(&head_link), bad);
        let error = as_host.batch_execute(&sql).unwrap_err();
        let text = format!("{error:?}");
        assert!(
            text.contains("receipts_action_hash_hex") || text.contains("hexadecimal"),
            "{bad}: {text}"
        );
    }

    // Another host cannot add to this log: neither its true successor (refused by the
    // statement check that holds the registration rules now) nor a fork.
    project.append(1);
    let other = db.host_role("host_w");
    let mut as_other = postgres::Client::connect(&other, postgres::NoTls).unwrap();
    let line = project.lines()[50].clone();
    let next: serde_json::Value = serde_json::from_str(&line).unwrap();
    let successor = insert_sql(
        &project.log_id,
        50,
        line.as_bytes(),
        next["content"]["prev_receipt_hash"].as_str(),
        next["content"]["action_hash"].as_str().unwrap(),
    );
    for sql in [&successor, &refused[1]] {
        let error = as_other.batch_execute(sql).unwrap_err();
        assert!(
            format!("{error:?}").contains("which another role registered"),
            "{error:?}"
        );
    }
    // Called directly, heso.receipt_accepted() is no way around the rules: a stored row
    // again is not accepted (and nothing is recorded), another host's log is refused.
    let direct = format!(
        "SELECT heso.receipt_accepted(r) FROM heso.receipts r \
         WHERE r.log_id = '{}' AND r.position = 3",
        project.log_id
    );
    let accepted: bool = as_host.query_one(direct.as_str(), &[]).unwrap().get(0);
    assert!(!accepted);
    let error = as_other.query_one(direct.as_str(), &[]).unwrap_err();
    assert!(
        format!("{error:?}").contains("which another role registered"),
        "{error:?}"
    );
    // Receipts of a log nobody registered: refused for every role, as the foreign key did.
    let mut as_owner = db.client();
    for client in [&mut as_host, &mut as_owner] {
        let sql = insert_sql("nobody", 0, b"{}", None, &"4".repeat(64));
        let error = client.batch_execute(&sql).unwrap_err();
        assert!(format!("{error:?}").contains("not registered"), "{error:?}");
    }

    // No UPDATE, DELETE or TRUNCATE, for the host or the owner.
    let mut as_superuser = db.client();
    for sql in [
        "UPDATE heso.receipts SET verb = 'tool_call' WHERE position = 3",
        "DELETE FROM heso.receipts WHERE position = 49",
        "TRUNCATE heso.receipts",
        "UPDATE heso.checkpoints SET size = 5",
        "DELETE FROM heso.checkpoints",
    ] {
        assert_refused_for_host_and_owner(&mut as_host, &mut as_superuser, sql);
    }

    // The log's next receipt goes in from its own host, and the whole store verifies, the
    // recorded forks reported.
    let push = project.heso(&["push", &host]);
    assert_eq!(push.code, 0, "{}", push.all());
    assert_eq!(stored(&db, &project.log_id), 51);
    assert_eq!(db.count("SELECT count(*) FROM heso.forks"), 4);
    let verify = heso(temp.path(), &["fleet", "verify", &db.url]);
    assert_eq!(verify.code, 1, "{}", verify.all());
    assert!(
        verify
            .stdout
            .contains("4 insert(s) refused and recorded as forks"),
        "{}",
        verify.stdout
    );
    assert!(verify.stdout.contains("Valid: 51"), "{}", verify.stdout);
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.sh, or eval \"$(bash scripts/postgres.sh start)\" then --ignored"]
fn rows_changed_by_a_superuser_are_caught_by_fleet_verify() {
    let temp = tempfile::tempdir().unwrap();
    let db = Db::new();
    migrate(temp.path(), &db.url);
    let host = db.host_role("host_s");
    let project = Project::new(temp.path(), "s");
    project.append(20);
    assert_eq!(project.heso(&["push", &host]).code, 0);
    project.append(20);
    assert_eq!(project.heso(&["push", &host]).code, 0);
    let clean = heso(temp.path(), &["fleet", "verify", &db.url]);
    assert_eq!(clean.code, 0, "{}", clean.all());

    let tamper = |sql: &str| {
        // A superuser can switch the triggers off; fleet verify does not rely on them.
        db.client()
            .batch_execute(&format!(
                "BEGIN; SET LOCAL session_replication_role = replica; {sql}; COMMIT;"
            ))
            .unwrap();
    };
    let check = |needle: &str| {
        let verify = heso(temp.path(), &["fleet", "verify", &db.url, "--json"]);
        assert_eq!(verify.code, 1, "{needle}: {}", verify.all());
        assert!(
            verify.stdout.contains(needle),
            "{needle}: {}",
            verify.stdout
        );
    };
    // A query column edited to hide a delete.
    tamper("UPDATE heso.receipts SET verb = 'tool_call' WHERE position = 3");
    check("\"ColumnMismatch\"");
    tamper("UPDATE heso.receipts SET verb = 'delete' WHERE position = 3");
    // The receipt's bytes edited.
    tamper(
        "UPDATE heso.receipts SET receipt = convert_to(replace(convert_from(receipt, 'UTF8'), \
         'quarterly revenue 7', 'quarterly revenue 8'), 'UTF8') WHERE position = 7",
    );
    check("\"HashMismatch\"");
    let original = project.lines()[7].clone();
    let hex: String = original.bytes().map(|b| format!("{b:02x}")).collect();
    tamper(&format!(
        "UPDATE heso.receipts SET receipt = '\\x{hex}' WHERE position = 7"
    ));
    let restored = heso(temp.path(), &["fleet", "verify", &db.url]);
    assert_eq!(restored.code, 0, "{}", restored.all());
    // A receipt deleted from the middle: a gap, and neither checkpoint matches.
    tamper("DELETE FROM heso.receipts WHERE position = 12");
    check("\"PositionGap\"");
    check("\"RootMismatch\"");
    check("the checkpoint of size 40 covers more receipts than the 39 stored");
    // The last ones deleted: the checkpoints cover more than is stored.
    tamper("DELETE FROM heso.receipts WHERE position >= 12");
    check("\"Truncated\"");
    // A checkpoint's note swapped for one signed by another key.
    let other = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let origin: String = db
        .client()
        .query_one("SELECT origin FROM heso.logs", &[])
        .unwrap()
        .get(0);
    let fake = heso_tlog::Checkpoint::new(&origin, 12, heso_tlog::empty_root())
        .unwrap()
        .sign(&other)
        .to_string();
    tamper(&format!(
        "INSERT INTO heso.checkpoints (log_id, size, root, note) VALUES ('{}', 12, '\\x{}', '{}')",
        project.log_id,
        "00".repeat(32),
        fake.replace('\'', "''")
    ));
    check("\"InvalidSignature\"");
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.sh, or eval \"$(bash scripts/postgres.sh start)\" then --ignored"]
fn a_small_log_pushes_in_seconds() {
    let temp = tempfile::tempdir().unwrap();
    let db = Db::new();
    migrate(temp.path(), &db.url);
    let host = db.host_role("host_p");
    let project = Project::new(temp.path(), "p");
    project.append(200);
    let started = Instant::now();
    let push = project.heso(&["push", &host]);
    assert_eq!(push.code, 0, "{}", push.all());
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// The test server's CA files (scripts/postgres.sh makes them).
fn test_cas() -> (String, String) {
    let ca = std::env::var("HESO_TEST_PG_CA")
        .expect("HESO_TEST_PG_CA is not set: start the server with scripts/postgres.sh start");
    let other = std::env::var("HESO_TEST_PG_OTHER_CA").expect("HESO_TEST_PG_OTHER_CA is not set");
    (ca, other)
}

/// `url` (postgresql://user@127.0.0.1:port/db) with TLS options appended; `localhost`
/// names the server by the name its certificate carries (the address stays 127.0.0.1).
fn tls_url(url: &str, by_name: bool, options: &str) -> String {
    let url = if by_name {
        let port = url.rsplit_once(':').unwrap().1.split('/').next().unwrap();
        url.replacen(
            &format!("127.0.0.1:{port}"),
            &format!("localhost:{port}"),
            1,
        ) + "?hostaddr=127.0.0.1&"
    } else {
        format!("{url}?")
    };
    format!("{url}{options}")
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.sh, or eval \"$(bash scripts/postgres.sh start)\" then --ignored"]
fn tls_sslmode_and_sslrootcert_work_as_with_libpq() {
    let temp = tempfile::tempdir().unwrap();
    let db = Db::new();
    let (ca, other_ca) = test_cas();
    let encrypted = |url: &str| {
        heso_store::Store::connect(url)
            .unwrap_or_else(|e| panic!("{url}: {e}"))
            .encrypted()
            .unwrap()
    };
    // require: encrypted, the certificate unchecked (no root file in this HOME).
    assert!(encrypted(&tls_url(&db.url, false, "sslmode=require")));
    // prefer (the default): encrypted when the server offers it; disable: not.
    assert!(encrypted(&db.url));
    assert!(!encrypted(&tls_url(&db.url, false, "sslmode=disable")));
    // verify-full with the right CA, by the name in the certificate, through the CLI too.
    let full = tls_url(
        &db.url,
        true,
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    assert!(encrypted(&full));
    let migrated = heso(temp.path(), &["fleet", "migrate", &full]);
    assert_eq!(migrated.code, 0, "{}", migrated.all());
    // The same settings from the environment, as libpq reads them.
    let mut from_env = heso_command(temp.path(), &["fleet", "list", &tls_url(&db.url, true, "")]);
    from_env
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", &ca);
    let listed = run(from_env);
    assert_eq!(listed.code, 0, "{}", listed.all());

    // A CA that did not sign the server's certificate: refused, and the error says why.
    let wrong = tls_url(
        &db.url,
        true,
        &format!("sslmode=verify-full&sslrootcert={other_ca}"),
    );
    let refused = heso(temp.path(), &["fleet", "list", &wrong]);
    assert_ne!(refused.code, 0, "{}", refused.all());
    assert!(
        refused.stderr.contains("UnknownIssuer")
            && refused.stderr.contains("not signed by a CA in")
            && refused.stderr.contains("sslmode=verify-full")
            && refused.stderr.contains(&other_ca),
        "{}",
        refused.stderr
    );
    // A refused certificate is not an outage: `push --follow` stops at once (exit 2)
    // instead of retrying forever.
    migrate(temp.path(), &db.url);
    let host = db.host_role("host_tls");
    let project = Project::new(temp.path(), "tls");
    project.append(2);
    let host_wrong = tls_url(
        &host,
        true,
        &format!("sslmode=verify-full&sslrootcert={other_ca}"),
    );
    let mut follow = heso_command(&project.dir, &["push", &host_wrong, "--follow"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = follow.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            follow.kill().unwrap();
            panic!("push --follow kept retrying a refused certificate");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::io::read_to_string(follow.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    assert!(!stderr.contains("retrying"), "{stderr}");

    let err = heso_store::Store::connect(&tls_url(
        &db.url,
        false,
        &format!("sslmode=verify-ca&sslrootcert={other_ca}"),
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("UnknownIssuer"), "{err}");

    // The certificate names localhost, not 127.0.0.1: verify-full by address fails on the
    // name, verify-ca (the chain only) connects.
    let by_address = tls_url(
        &db.url,
        false,
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let err = heso_store::Store::connect(&by_address)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not valid for name \"127.0.0.1\""), "{err}");
    assert!(encrypted(&tls_url(
        &db.url,
        false,
        &format!("sslmode=verify-ca&sslrootcert={ca}")
    )));

    // A client certificate (sslcert, sslkey): the role heso_cert logs in with it only.
    let cert = std::env::var("HESO_TEST_PG_CLIENT_CERT").expect("HESO_TEST_PG_CLIENT_CERT");
    let key = std::env::var("HESO_TEST_PG_CLIENT_KEY").expect("HESO_TEST_PG_CLIENT_KEY");
    let as_cert = fleet_support::url_as(&db.url, "heso_cert", &db.name);
    let with_cert = tls_url(
        &as_cert,
        true,
        &format!("sslmode=verify-full&sslrootcert={ca}&sslcert={cert}&sslkey={key}"),
    );
    assert!(encrypted(&with_cert));
    let without = heso_store::Store::connect(&tls_url(
        &as_cert,
        true,
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .unwrap_err()
    .to_string();
    assert!(without.contains("valid client certificate"), "{without}");
    let mut cert_env = heso_command(
        temp.path(),
        &["fleet", "list", &tls_url(&as_cert, true, "")],
    );
    cert_env
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", &ca)
        .env("PGSSLCERT", &cert)
        .env("PGSSLKEY", &key);
    let listed = run(cert_env);
    assert_eq!(listed.code, 0, "{}", listed.all());

    // verify-full without any CA file: refused before connecting, saying what to give.
    let none = heso(
        temp.path(),
        &[
            "fleet",
            "list",
            &tls_url(&db.url, true, "sslmode=verify-full"),
        ],
    );
    assert_ne!(none.code, 0, "{}", none.all());
    assert!(
        none.stderr.contains("root certificate file") && none.stderr.contains("sslrootcert"),
        "{}",
        none.stderr
    );
}
