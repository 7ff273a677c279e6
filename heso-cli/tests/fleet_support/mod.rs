//! Shared by the fleet store tests: a throwaway database per test in the PostgreSQL server
//! `scripts/postgres.sh start` runs (`HESO_TEST_PG_URL`), projects made by the real `heso`,
//! and logs of signed, chained receipts written fast (contents and hashes in order, the
//! signatures on every core).
#![allow(dead_code, reason = "each test file uses part of it")]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use heso_receipt::{
    ACTION_VERSION, ALG, Action, Content, Decision, KeyRole, OPERATOR_DOMAIN, PolicyRecord,
    Receipt, SignatureEntry, SigningKey, TrustLevel, Verb, action_hash_of, chain_link,
    content_canonical_bytes, public_key_to_base64,
};
use rayon::prelude::*;

/// The superuser URL of the test server.
pub fn server_url() -> String {
    std::env::var("HESO_TEST_PG_URL").expect(
        "HESO_TEST_PG_URL is not set: these tests need the throwaway server of \
         `eval \"$(bash scripts/postgres.sh start)\"` (scripts/test.sh starts it)",
    )
}

/// `url` with another user and database.
pub fn url_as(url: &str, user: &str, db: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    let host = host.split('/').next().unwrap_or(host);
    format!("postgresql://{user}@{host}/{db}")
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A database of its own for one test, dropped at the end.
pub struct Db {
    pub name: String,
    /// The superuser URL of this database.
    pub url: String,
    admin: String,
}

impl Db {
    pub fn new() -> Self {
        let admin = server_url();
        let name = format!("heso_t_{}", random_hex(6));
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let url = url_as(&admin, "postgres", &name);
        Self { name, url, admin }
    }

    /// A superuser connection to this database.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }

    /// A login role in `heso_host` (created after `heso fleet migrate`) and its URL.
    pub fn host_role(&self, name: &str) -> String {
        let role = format!("{name}_{}", &self.name[7..]);
        self.client()
            .batch_execute(&format!("CREATE ROLE {role} LOGIN IN ROLE heso_host"))
            .unwrap();
        url_as(&self.url, &role, &self.name)
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.client().query_one(sql, &[]).unwrap().get(0)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

pub fn heso_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_heso"));
    command
        .args(args)
        .current_dir(dir)
        .env("HOME", dir.join("home"))
        .env_remove("HESO_PROJECT_ROOT")
        .env_remove("HESO_KEY_PASSPHRASE")
        .env_remove("HESO_ENV")
        .env_remove("HESO_STORE_URL")
        .env_remove("PGPASSWORD")
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .env_remove("PGSSLCERT")
        .env_remove("PGSSLKEY")
        .env_remove("XDG_CONFIG_HOME");
    command
}

pub fn heso(dir: &Path, args: &[&str]) -> Run {
    run(heso_command(dir, args))
}

pub fn run(mut command: Command) -> Run {
    let output = command.stdin(Stdio::null()).output().unwrap();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "panic: {}", run.stderr);
    run
}

/// `heso fleet migrate URL`, which must succeed.
pub fn migrate(dir: &Path, url: &str) {
    let run = heso(dir, &["fleet", "migrate", url]);
    assert_eq!(run.code, 0, "{}", run.all());
}

/// A project made by `heso init` (dev passphrase), with a log id and an empty log.
pub struct Project {
    pub dir: PathBuf,
    pub operator: SigningKey,
    pub log_id: String,
}

impl Project {
    pub fn new(root: &Path, name: &str) -> Self {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("home")).unwrap();
        let init = heso(&dir, &["init"]);
        assert_eq!(init.code, 0, "{}", init.all());
        let data = dir.join("heso-local-data");
        let sources = heso_keystore::PassphraseSources::from_env(false).unwrap();
        let key = heso_keystore::unlock_operator(&data, &sources).unwrap();
        let log_id = random_hex(16);
        std::fs::write(data.join("session"), format!("{log_id}\n")).unwrap();
        Self {
            dir,
            operator: key.signing_key().clone(),
            log_id,
        }
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("heso-local-data").join("receipts.jsonl")
    }

    pub fn heso(&self, args: &[&str]) -> Run {
        heso(&self.dir, args)
    }

    /// Appends `n` receipts that follow the log's last one.
    pub fn append(&self, n: u64) {
        let (seq, prev) = tail(&self.log());
        let text = receipts(&self.operator, &self.log_id, seq, prev, n, "run");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    /// The log's lines.
    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// The next seq and prev link after the log's last line.
fn tail(log: &Path) -> (u64, Option<String>) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    match text.lines().last() {
        None => (0, None),
        Some(line) => {
            let receipt: Receipt = serde_json::from_str(line).unwrap();
            let c = &receipt.content;
            let seq = c.seq.unwrap();
            (
                seq + 1,
                Some(chain_link(
                    c.session_id.as_deref().unwrap(),
                    seq,
                    &c.action_hash,
                )),
            )
        }
    }
}

/// `n` signed receipts of log `log_id` from `first_seq`, one JSON line each. `workflow`
/// goes into every receipt (a different one makes a different log: a fork).
pub fn receipts(
    operator: &SigningKey,
    log_id: &str,
    first_seq: u64,
    mut prev: Option<String>,
    n: u64,
    workflow: &str,
) -> String {
    let identity = public_key_to_base64(&operator.verifying_key());
    let verbs = [
        Verb::ToolCall,
        Verb::LlmCall,
        Verb::HttpRequest,
        Verb::Delete,
    ];
    // Contents and hashes, in chain order.
    let mut contents: Vec<(Content, Vec<u8>)> = Vec::with_capacity(n as usize);
    for i in 0..n {
        let seq = first_seq + i;
        let verb = verbs[(seq % 4) as usize];
        let decision = if verb == Verb::Delete {
            Decision::RequireApproval
        } else if seq % 7 == 3 {
            Decision::Block
        } else {
            Decision::Allow
        };
        let mut fields = serde_json::Map::new();
        fields.insert("query".into(), format!("quarterly revenue {seq}").into());
        fields.insert("limit".into(), (seq % 100).into());
        let mut content = Content {
            action_version: ACTION_VERSION.to_owned(),
            captured_at: format!(
                "2026-12-{:02}T{:02}:{:02}:{:02}Z",
                1 + (seq / 86_400) % 28,
                (seq / 3600) % 24,
                (seq / 60) % 60,
                seq % 60
            ),
            agent_identity: identity.clone(),
            action: Action {
                verb,
                tool_name: format!("tool_{}", seq % 5),
                workflow: format!("{workflow}-{}", seq % 3),
                account: "default".into(),
                fields,
                target_host: None,
                result_hash: None,
                error: None,
            },
            policy: PolicyRecord {
                rule_id: "fleet.test".into(),
                rule_display: "fleet test".into(),
                matched_conditions: Vec::new(),
                decision_path: decision,
            },
            trust_level: TrustLevel::L0,
            approver_decision: None,
            redaction: None,
            session_id: Some(log_id.to_owned()),
            seq: Some(seq),
            prev_receipt_hash: prev.clone(),
            action_hash: String::new(),
        };
        let canonical = content_canonical_bytes(&content).unwrap();
        content.action_hash = action_hash_of(&canonical);
        prev = Some(chain_link(log_id, seq, &content.action_hash));
        contents.push((content, canonical));
    }
    // Signatures on every core.
    let lines: Vec<String> = contents
        .into_par_iter()
        .map(|(content, canonical)| {
            let mut message = OPERATOR_DOMAIN.to_vec();
            message.extend_from_slice(&canonical);
            let signature = ed25519_sign(operator, &message);
            let receipt = Receipt {
                alg: ALG.to_owned(),
                content,
                signatures: vec![SignatureEntry {
                    algorithm: "Ed25519".into(),
                    key_id: KeyRole::Operator,
                    public_key: identity.clone(),
                    signature,
                }],
            };
            receipt.to_json().unwrap()
        })
        .collect();
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

fn ed25519_sign(key: &SigningKey, message: &[u8]) -> String {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    base64::engine::general_purpose::STANDARD.encode(key.sign(message).to_bytes())
}

/// Waits up to `seconds` for `check`, polling.
pub fn wait_for(seconds: u64, what: &str, mut check: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < end {
        if check() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("timed out after {seconds}s waiting for {what}");
}

/// The repository's root (for scripts/postgres.sh).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}
