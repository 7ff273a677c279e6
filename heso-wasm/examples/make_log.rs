//! Writes `.jsonl` logs for the browser verifier's tests (web-tests/), signed with the
//! reference vectors' keys (heso-receipt/tests/data/keys.json: seeds 01.., 02.., 03..).
//!
//! `make_log big OUT N`: N demo-sized L0 receipts (about 1.4 KB each, like the log bench),
//! as two sessions of N/2 signed on two threads, one after the other in the file.
//!
//! `make_log mixed OUT`: a short log with one receipt of each kind a reader must tell apart
//! (allowed, redacted with a salted and a dropped marker, an observed refusal, blocked,
//! parked for approval, approved and rejected L1s, the approved action's run), then a
//! second session signed by another operator key.
//!
//! `make_log fffd OUT`: one receipt (a single line) whose field holds U+FFFD, for the byte
//! tests: the same file with that character's bytes replaced by a lone 0xFF is not UTF-8.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a test-data generator: a failure should stop it loudly"
)]

use std::io::Write as _;

use heso_receipt::{
    Action, Approval, ApprovalOutcome, ChainPosition, Decision, Draft, Marker, MarkerAlgorithm,
    MatchedCondition, PolicyRecord, Receipt, Redaction, RedactionMode, SigningKey, Verb,
    chain_link, merkle_root, salted_commitment, sign_approved_receipt, sign_receipt,
};
use rayon::prelude::*;
use serde_json::{Map, Value, json};

fn key(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&[byte; 32])
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn action(verb: Verb, tool: &str, fields: Value) -> Action {
    Action {
        verb,
        tool_name: tool.into(),
        workflow: "run-42".into(),
        account: "default".into(),
        fields: object(fields),
        target_host: None,
        result_hash: None,
        error: None,
    }
}

fn policy(rule_id: &str, display: &str, decision: Decision) -> PolicyRecord {
    PolicyRecord {
        rule_id: rule_id.into(),
        rule_display: display.into(),
        matched_conditions: vec![],
        decision_path: decision,
    }
}

/// Keeps a session's chain position while receipts are added to it.
struct Session {
    id: String,
    next: ChainPosition,
    lines: Vec<String>,
}

impl Session {
    fn new(id: &str) -> Self {
        Session {
            id: id.into(),
            next: ChainPosition {
                session_id: id.into(),
                seq: 0,
                prev_receipt_hash: None,
            },
            lines: Vec::new(),
        }
    }

    fn draft(&self, minute: u64, action: Action, policy: PolicyRecord) -> Draft {
        Draft {
            captured_at: format!("2026-11-24T{:02}:{:02}:00Z", 10 + minute / 60, minute % 60),
            action,
            policy,
            redaction: None,
            chain: Some(self.next.clone()),
        }
    }

    fn push(&mut self, receipt: Receipt) -> String {
        let hash = receipt.content.action_hash.clone();
        self.next = ChainPosition {
            session_id: self.id.clone(),
            seq: self.next.seq + 1,
            prev_receipt_hash: Some(chain_link(&self.id, self.next.seq, &hash)),
        };
        self.lines.push(receipt.to_json().unwrap());
        hash
    }
}

fn big_session(id: &str, count: u64) -> Vec<String> {
    let operator = key(1);
    let mut session = Session::new(id);
    let fields = json!({
        "query": "quarterly revenue for ACME Corp, broken down by region and product line",
        "filters": {"region": ["emea", "amer", "apac"], "year": 2026, "include_forecast": true},
        "limit": 50,
        "notes": "x".repeat(300),
    });
    for n in 0..count {
        let draft = session.draft(
            n % 600,
            action(Verb::ToolCall, "search", fields.clone()),
            policy(
                "tool.allow",
                "When any agent calls tool_call on any tool, allow",
                Decision::Allow,
            ),
        );
        session.push(sign_receipt(draft, &operator).unwrap());
    }
    session.lines
}

fn mixed() -> Vec<String> {
    let operator = key(1);
    let approver = key(2);
    let mut a = Session::new("sess-mixed");
    let allowed = a.draft(
        0,
        action(Verb::ToolCall, "search", json!({"query": "pricing"})),
        policy("tool.allow", "allow tool_call", Decision::Allow),
    );
    a.push(sign_receipt(allowed, &operator).unwrap());

    let salt = [7u8; 32];
    let commitment = salted_commitment(&salt, "api_key", &json!("sk-live-123")).unwrap();
    let mut redacted = a.draft(
        1,
        action(
            Verb::HttpRequest,
            "call_partner_api",
            json!({"api_key": {"_sd": commitment}, "endpoint": "/v1/orders", "token": "[redacted]"}),
        ),
        policy("http.redact", "redact api_key and token on http_request", Decision::Redact),
    );
    redacted.action.target_host = Some("partner.example".into());
    redacted.redaction = Some(Redaction {
        mode: RedactionMode::CommitAndReveal,
        markers: vec![
            Marker {
                field_path: "api_key".into(),
                algorithm: MarkerAlgorithm::SaltedBlake3,
                commitment: commitment.clone(),
            },
            Marker {
                field_path: "token".into(),
                algorithm: MarkerAlgorithm::Drop,
                commitment: String::new(),
            },
        ],
        merkle_root: Some(merkle_root([commitment.as_str()])),
    });
    a.push(sign_receipt(redacted, &operator).unwrap());

    let observed = a.draft(
        2,
        action(Verb::DataExport, "export_csv", json!({"rows": 5000})),
        policy(
            "export.block",
            "block data_export (observed, not enforced)",
            Decision::Block,
        ),
    );
    a.push(sign_receipt(observed, &operator).unwrap());

    let mut blocked = a.draft(
        3,
        action(
            Verb::Payment,
            "pay",
            json!({"amount": 12000, "currency": "EUR"}),
        ),
        policy(
            "pay.big",
            "block payment when amount > 10000",
            Decision::Block,
        ),
    );
    blocked.policy.matched_conditions = vec![MatchedCondition {
        field: "amount".into(),
        op: "gt".into(),
        value: json!(10000),
    }];
    a.push(sign_receipt(blocked, &operator).unwrap());

    let delete = action(Verb::Delete, "delete_record", json!({"record_id": "r-17"}));
    let floor = || {
        let mut p = policy(
            "default",
            "allow delete (delete floor)",
            Decision::RequireApproval,
        );
        p.matched_conditions = vec![MatchedCondition {
            field: "verb".into(),
            op: "eq".into(),
            value: json!("delete"),
        }];
        p
    };
    let parked = a.draft(4, delete.clone(), floor());
    a.push(sign_receipt(parked, &operator).unwrap());
    let approval = Approval {
        decision: ApprovalOutcome::Approved,
        reason: "ticket OPS-12: record is a duplicate".into(),
        decided_at: "2026-11-24T10:09:30Z".into(),
    };
    let approved = a.draft(5, delete.clone(), floor());
    let l1 = a.push(sign_approved_receipt(approved, approval, &approver, &operator).unwrap());
    let resumed = a.draft(
        6,
        delete,
        policy(
            "default",
            &format!("allow delete (resumed: approved in {l1})"),
            Decision::Allow,
        ),
    );
    a.push(sign_receipt(resumed, &operator).unwrap());

    let refund = action(
        Verb::Payment,
        "refund",
        json!({"amount": 900, "order": "o-88"}),
    );
    let parked = a.draft(
        7,
        refund.clone(),
        policy(
            "pay.ask",
            "require_approval payment",
            Decision::RequireApproval,
        ),
    );
    a.push(sign_receipt(parked, &operator).unwrap());
    let rejection = Approval {
        decision: ApprovalOutcome::Rejected,
        reason: "refund already issued by hand".into(),
        decided_at: "2026-11-24T10:12:00Z".into(),
    };
    let rejected = a.draft(
        8,
        refund,
        policy(
            "pay.ask",
            "require_approval payment",
            Decision::RequireApproval,
        ),
    );
    a.push(sign_approved_receipt(rejected, rejection, &approver, &operator).unwrap());

    // A second session signed by another operator key.
    let other = key(3);
    let mut b = Session::new("sess-other");
    for minute in 20..22 {
        let draft = b.draft(
            minute,
            action(
                Verb::LlmCall,
                "chat.completions.create",
                json!({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}),
            ),
            policy("llm.allow", "allow llm_call", Decision::Allow),
        );
        b.push(sign_receipt(draft, &other).unwrap());
    }
    a.lines.into_iter().chain(b.lines).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (lines, out) = match args.get(1).map(String::as_str) {
        Some("big") => {
            let count: u64 = args[3].parse().unwrap();
            let halves: Vec<Vec<String>> =
                [("sess-big-a", count / 2), ("sess-big-b", count - count / 2)]
                    .par_iter()
                    .map(|(id, n)| big_session(id, *n))
                    .collect();
            (halves.concat(), &args[2])
        }
        Some("mixed") => (mixed(), &args[2]),
        Some("fffd") => {
            let session = Session::new("sess-fffd");
            let draft = session.draft(
                0,
                action(
                    Verb::ToolCall,
                    "search",
                    json!({"query": "caf\u{FFFD} menu"}),
                ),
                policy("tool.allow", "allow tool_call", Decision::Allow),
            );
            let receipt = sign_receipt(draft, &key(1)).unwrap();
            (vec![receipt.to_json().unwrap()], &args[2])
        }
        _ => panic!("usage: make_log big OUT N | make_log mixed OUT | make_log fffd OUT"),
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    for line in lines {
        file.write_all(line.as_bytes()).unwrap();
        file.write_all(b"\n").unwrap();
    }
    file.flush().unwrap();
}
