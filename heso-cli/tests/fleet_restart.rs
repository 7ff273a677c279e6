//! `heso push --follow` through a PostgreSQL restart: the server is stopped and started
//! again (scripts/postgres.sh halt/resume) while the log grows; every receipt arrives once,
//! within a bounded delay of the server's return. Its own test binary: it stops the shared
//! test server, so nothing may run beside it.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

mod fleet_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fleet_support::{Db, Project, heso, heso_command, migrate, repo_root, wait_for};

fn server(action: &str) {
    let status = Command::new("bash")
        .arg(repo_root().join("scripts/postgres.sh"))
        .arg(action)
        .status()
        .unwrap();
    assert!(status.success(), "postgres.sh {action}");
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test.sh, or eval \"$(bash scripts/postgres.sh start)\" then --ignored"]
fn push_follow_ships_through_a_postgres_restart_with_a_bounded_delay() {
    let temp = tempfile::tempdir().unwrap();
    let db = Db::new();
    migrate(temp.path(), &db.url);
    let host = db.host_role("host_f");
    let project = Project::new(temp.path(), "follow");
    project.append(100);
    let stored = || -> i64 {
        match postgres::Client::connect(&db.url, postgres::NoTls) {
            Ok(mut client) => client
                .query_one("SELECT count(*) FROM heso.receipts", &[])
                .map(|r| r.get(0))
                .unwrap_or(-1),
            Err(_) => -1,
        }
    };

    let stderr_path = temp.path().join("follow.stderr");
    let mut child = heso_command(
        &project.dir,
        &["push", &host, "--follow", "--interval", "0.2"],
    )
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&stderr_path).unwrap())
    .spawn()
    .unwrap();
    wait_for(30, "the first 100 receipts", || stored() == 100);

    // Appended while the server is down.
    server("halt");
    project.append(50);
    std::thread::sleep(Duration::from_secs(2));
    server("resume");
    let back = Instant::now();
    wait_for(30, "the 50 receipts appended during the outage", || {
        stored() == 150
    });
    let delay = back.elapsed();
    assert!(
        delay < Duration::from_secs(8),
        "shipped {delay:?} after the server came back"
    );
    // And the shipper goes on as before.
    project.append(25);
    let appended = Instant::now();
    wait_for(10, "25 more", || stored() == 175);
    assert!(appended.elapsed() < Duration::from_secs(3));
    eprintln!(
        "push --follow: shipped {:.2}s after the server came back, {:.2}s after an append",
        delay.as_secs_f64(),
        appended.elapsed().as_secs_f64()
    );

    child.kill().unwrap();
    child.wait().unwrap();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(stderr.contains("unreachable"), "{stderr}");
    assert!(stderr.contains("is back"), "{stderr}");
    let verify = heso(temp.path(), &["fleet", "verify", &db.url]);
    assert_eq!(verify.code, 0, "{}", verify.all());
    assert!(
        verify.stdout.contains("175 receipts in 1 logs, all valid"),
        "{}",
        verify.stdout
    );
}
