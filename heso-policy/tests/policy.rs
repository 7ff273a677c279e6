//! heso-policy: loading, deciding, the floor, errors and lint.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use heso_policy::{ActionInput, Evaluation, Policy};
use heso_receipt::{Decision, Verb};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn fields(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn decide(
    policy: &Policy,
    verb: Verb,
    tool: &str,
    host: Option<&str>,
    f: &Map<String, Value>,
) -> Evaluation {
    policy.evaluate(&ActionInput {
        verb,
        tool_name: tool,
        workflow: "run-42",
        account: "acme",
        target_host: host,
        fields: f,
    })
}

const STARTER: &str = include_str!("data/starter-compatible.toml");

#[test]
fn starter_compatible_policy_loads_and_decides() {
    let policy = Policy::parse(STARTER, "starter-compatible.toml").unwrap();
    assert_eq!(policy.rules().len(), 4);
    let none = Map::new();
    let llm = decide(
        &policy,
        Verb::LlmCall,
        "chat.completions.create",
        Some("api.example"),
        &none,
    );
    assert_eq!(
        (llm.decision, llm.rule_id.as_str()),
        (Decision::Allow, "llm.allow")
    );
    let tool = decide(&policy, Verb::ToolCall, "search", None, &none);
    assert_eq!(
        (tool.decision, tool.rule_id.as_str()),
        (Decision::Allow, "tool.allow")
    );
    let delete = decide(&policy, Verb::Delete, "delete_record", None, &none);
    assert_eq!(
        (delete.decision, delete.rule_id.as_str()),
        (Decision::RequireApproval, "delete.requires_approval")
    );
    assert_eq!(delete.sla_minutes, 30);
    assert!(!delete.floor_applied);
    let big = decide(
        &policy,
        Verb::Payment,
        "pay",
        None,
        &fields(json!({"amount": 5000})),
    );
    assert_eq!(big.rule_id, "payment.large.requires_approval");
    assert_eq!(big.decision, Decision::RequireApproval);
    assert_eq!(big.matched_conditions.len(), 1);
    assert_eq!(big.matched_conditions[0].field, "amount");
    assert_eq!(big.matched_conditions[0].op, "gt");
    assert_eq!(big.matched_conditions[0].value, json!(1000));
    assert_eq!(
        big.rule_display,
        "When any agent calls payment on any tool where amount > $1,000, require a person's approval"
    );
    let small = decide(
        &policy,
        Verb::Payment,
        "pay",
        None,
        &fields(json!({"amount": 10})),
    );
    assert_eq!(
        (small.decision, small.rule_id.as_str()),
        (Decision::RequireApproval, "default")
    );
    let export = decide(&policy, Verb::DataExport, "dump", None, &none);
    assert_eq!(export.rule_id, "default");
    // "Security Admin" has no [approvers] entry: the policy loads, lint says so.
    assert!(big.approvers.is_empty());
    let warnings: Vec<String> = policy.lint().iter().map(ToString::to_string).collect();
    assert!(
        warnings.iter().any(|w| w.contains("Security Admin")),
        "{warnings:?}"
    );
}

fn one_rule(extra: &str) -> Policy {
    Policy::parse(
        &format!("[[rule]]\nid = \"r\"\n{extra}\ndecision = \"block\"\n"),
        "heso.toml",
    )
    .unwrap()
}

fn blocks(policy: &Policy, f: Value) -> bool {
    decide(policy, Verb::ToolCall, "t", None, &fields(f)).rule_id == "r"
}

#[test]
fn every_operator() {
    let cond = |op: &str, value: &str| {
        one_rule(&format!(
            "conditions = [{{ field = \"x\", op = \"{op}\", value = {value} }}]"
        ))
    };
    assert!(blocks(&cond("eq", "5"), json!({"x": 5})));
    assert!(blocks(&cond("eq", "5"), json!({"x": 5.0})));
    // A numeric string is the number it writes; other text never equals a number.
    assert!(blocks(&cond("eq", "5"), json!({"x": "5"})));
    assert!(blocks(&cond("eq", "5"), json!({"x": "5.00"})));
    assert!(!blocks(&cond("eq", "5"), json!({"x": "five"})));
    assert!(
        !blocks(&cond("eq", "\"5\""), json!({"x": "5.0"})),
        "two strings compare as text"
    );
    assert!(blocks(&cond("neq", "5"), json!({"x": 6})));
    assert!(blocks(&cond("ne", "5"), json!({"x": 6})));
    assert!(blocks(&cond("gt", "5"), json!({"x": 6})));
    assert!(!blocks(&cond("gt", "5"), json!({"x": 5})));
    assert!(
        blocks(&cond("gt", "5"), json!({"x": "6"})),
        "gt reads a numeric string"
    );
    assert!(!blocks(&cond("gt", "5"), json!({"x": "4.99"})));
    assert!(blocks(&cond("gte", "5"), json!({"x": 5})));
    assert!(blocks(&cond("lt", "5"), json!({"x": 4})));
    assert!(blocks(&cond("lte", "5"), json!({"x": 5})));
    assert!(blocks(&cond("in", "[\"a\", \"b\"]"), json!({"x": "b"})));
    assert!(!blocks(&cond("in", "[\"a\", \"b\"]"), json!({"x": "c"})));
    assert!(blocks(&cond("not_in", "[\"a\"]"), json!({"x": "c"})));
    assert!(blocks(
        &cond("contains", "\"prod\""),
        json!({"x": "db-prod-1"})
    ));
    assert!(blocks(&cond("contains", "\"b\""), json!({"x": ["a", "b"]})));
    assert!(blocks(
        &cond("matches", "'^[a-z]+@acme\\.com$'"),
        json!({"x": "eve@acme.com"})
    ));
    assert!(
        !blocks(
            &cond("matches", "'^[a-z]+@acme\\.com$'"),
            json!({"x": "eve@acme.comx"})
        ),
        "a real regex, not a substring test"
    );
    assert!(!blocks(&cond("matches", "'acme'"), json!({"x": 7})));
    assert!(blocks(&cond("exists", "true"), json!({"x": null})));
    assert!(!blocks(&cond("exists", "true"), json!({"y": 1})));
    assert!(blocks(&cond("exists", "false"), json!({"y": 1})));
    // A missing field satisfies nothing but exists = false, not even neq.
    assert!(!blocks(&cond("neq", "5"), json!({})));
}

#[test]
fn wildcards_any_and_all() {
    let any_gt = one_rule("conditions = [{ field = \"items.*.price\", op = \"gt\", value = 100 }]");
    assert!(blocks(
        &any_gt,
        json!({"items": [{"price": 5}, {"price": 500}]})
    ));
    assert!(!blocks(&any_gt, json!({"items": [{"price": 5}]})));
    let all_neq =
        one_rule("conditions = [{ field = \"items.*.sku\", op = \"neq\", value = \"bad\" }]");
    assert!(blocks(
        &all_neq,
        json!({"items": [{"sku": "a"}, {"sku": "b"}]})
    ));
    assert!(!blocks(
        &all_neq,
        json!({"items": [{"sku": "a"}, {"sku": "bad"}]})
    ));
    assert!(!blocks(&all_neq, json!({"items": []})));
}

#[test]
fn matchers_and_hosts() {
    let policy = Policy::parse(
        r#"
[[rule]]
id = "partner"
verb = ["http_request", "tool_call"]
tool = "partner_*"
scope = "*.partner.example"
decision = "block"

[[rule]]
id = "any-host"
verb = "http_request"
scope = "*"
decision = "allow"

[[rule]]
id = "acme-only"
subject = { kind = "account", value = "acme" }
verb = "data_export"
decision = "allow"
"#,
        "heso.toml",
    )
    .unwrap();
    let none = Map::new();
    assert_eq!(
        decide(
            &policy,
            Verb::HttpRequest,
            "partner_get",
            Some("api.partner.example"),
            &none
        )
        .rule_id,
        "partner"
    );
    // A scope other than "*" never matches an action without a host.
    assert_eq!(
        decide(&policy, Verb::HttpRequest, "partner_get", None, &none).rule_id,
        "any-host"
    );
    assert_eq!(
        decide(&policy, Verb::DataExport, "dump", None, &none).rule_id,
        "acme-only"
    );
    let other = policy.evaluate(&ActionInput {
        verb: Verb::DataExport,
        tool_name: "dump",
        workflow: "w",
        account: "globex",
        target_host: None,
        fields: &none,
    });
    assert_eq!(other.rule_id, "default");
}

#[test]
fn order_then_file_order() {
    let policy = Policy::parse(
        r#"
[[rule]]
id = "late"
verb = "tool_call"
decision = "block"

[[rule]]
id = "second"
order = 20
verb = "tool_call"
decision = "allow"

[[rule]]
id = "first"
order = 10
verb = "tool_call"
tool = "x"
decision = "block"

[[rule]]
id = "off"
order = 1
enabled = false
verb = "tool_call"
decision = "block"
"#,
        "heso.toml",
    )
    .unwrap();
    let ids: Vec<&str> = policy.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["off", "first", "second", "late"]);
    let none = Map::new();
    assert_eq!(
        decide(&policy, Verb::ToolCall, "x", None, &none).rule_id,
        "first"
    );
    assert_eq!(
        decide(&policy, Verb::ToolCall, "y", None, &none).rule_id,
        "second"
    );
    let lint: Vec<String> = policy.lint().iter().map(ToString::to_string).collect();
    assert!(
        lint.iter()
            .any(|w| w.contains("\"off\"") && w.contains("disabled")),
        "{lint:?}"
    );
    assert!(
        lint.iter()
            .any(|w| w.contains("\"late\"") && w.contains("never reached")),
        "{lint:?}"
    );
    assert!(
        !lint.iter().any(|w| w.starts_with("rule \"second\"")),
        "{lint:?}"
    );
}

#[test]
fn the_delete_floor_cannot_be_turned_off() {
    let policy = Policy::parse(
        r#"
[defaults]
decision = "allow"
approvers = ["alice"]

[approvers.alice]
key = "did:key:z6Mko9hTggMwjSTEaJaPUfE6tqcy2xvU6BnNq3e3o8qVBiyH"

[[rule]]
id = "yolo"
verb = ["delete", "tool_call"]
decision = "allow"

[[rule]]
id = "redact-all"
verb = "delete"
tool = "scrub"
order = 1
decision = "redact"
redact = ["secret"]
"#,
        "heso.toml",
    )
    .unwrap();
    let none = Map::new();
    let allowed = decide(&policy, Verb::Delete, "drop", None, &none);
    assert_eq!(allowed.decision, Decision::RequireApproval);
    assert!(allowed.floor_applied);
    assert_eq!(allowed.rule_id, "yolo");
    assert!(allowed.rule_display.ends_with(" (delete floor)"));
    assert_eq!(allowed.matched_conditions.last().unwrap().field, "verb");
    assert_eq!(
        allowed.matched_conditions.last().unwrap().value,
        json!("delete")
    );
    assert_eq!(allowed.approvers.len(), 1);
    assert_eq!(allowed.approvers[0].name, "alice");
    let redacted = decide(&policy, Verb::Delete, "scrub", None, &none);
    assert_eq!(redacted.decision, Decision::RequireApproval);
    // The floor adds a person; it never drops the rule's redaction (the secret would be
    // written in the clear while rule_display claims it was hidden).
    assert_eq!(redacted.redact, vec!["secret".to_owned()]);
    assert_eq!(
        decide(&policy, Verb::ToolCall, "drop", None, &none).decision,
        Decision::Allow
    );
    // The default decision is under the floor too.
    let by_default = Policy::parse("[defaults]\ndecision = \"allow\"\n", "heso.toml").unwrap();
    let d = decide(&by_default, Verb::Delete, "x", None, &none);
    assert_eq!(
        (d.decision, d.rule_id.as_str(), d.floor_applied),
        (Decision::RequireApproval, "default", true)
    );
    assert!(
        policy
            .lint()
            .iter()
            .any(|w| w.to_string().contains("delete floor"))
    );
}

fn error(text: &str) -> String {
    Policy::parse(text, "heso.toml").unwrap_err().to_string()
}

#[test]
fn errors_name_file_line_column_and_rule() {
    let e = error("[[rule]]\nid = \"tool.allow\"\nverb = \"tool_call\"\ndecision = \"alow\"\n");
    assert_eq!(
        e,
        "heso.toml:4:12: rule \"tool.allow\": unknown decision \"alow\" (expected allow, block, redact, require_approval)"
    );
    let e = error("[[rule]]\nid = \"a\"\nverbb = \"tool_call\"\ndecision = \"allow\"\n");
    assert!(
        e.starts_with("heso.toml:3:1: rule \"a\": unknown field `verbb`"),
        "{e}"
    );
    let e = error(
        "[[rule]]\nid = \"a\"\ndecision = \"allow\"\n\n[[rule]]\nid = \"a\"\ndecision = \"block\"\n",
    );
    assert!(
        e.starts_with("heso.toml:6:6: rule \"a\": duplicate id"),
        "{e}"
    );
    let e = error(
        "[[rule]]\nid = \"a\"\ndecision = \"block\"\nconditions = [{ field = \"x\", op = \"matches\", value = \"(unclosed\" }]\n",
    );
    assert!(
        e.starts_with("heso.toml:4:") && e.contains("invalid regular expression"),
        "{e}"
    );
    let e = error(
        "[[rule]]\nid = \"a\"\ndecision = \"block\"\nconditions = [{ field = \"x\", op = \"in\", value = \"a\" }]\n",
    );
    assert!(
        e.starts_with("heso.toml:4:") && e.contains("needs a list"),
        "{e}"
    );
    let e = error("[[rule]]\nid = \"a\"\ndecision = \"block\"\nconditions = \"x > 1\"\n");
    assert!(
        e.starts_with("heso.toml:4:") && e.contains("rule \"a\""),
        "{e}"
    );
    let e = error("[[rule]]\nid = \"a\"\ntool = \"[\"\ndecision = \"block\"\n");
    assert!(
        e.starts_with("heso.toml:3:8: rule \"a\": tool \"[\" is not a valid glob"),
        "{e}"
    );
    let e = error("[[rule]]\nid = \"a\"\nverb = \"tool-call\"\ndecision = \"block\"\n");
    assert!(
        e.starts_with("heso.toml:3:8: rule \"a\": unknown verb \"tool-call\""),
        "{e}"
    );
    let e = error("[approvers.bob]\nkey = \"not a key\"\n");
    assert!(e.starts_with("heso.toml:2:7: approver \"bob\""), "{e}");
    let e = error("[polcy]\nx = 1\n");
    assert!(
        e.starts_with("heso.toml:1:") && e.contains("unknown field `polcy`"),
        "{e}"
    );
    // A table after the last rule is not blamed on that rule.
    let e = error("[[rule]]\nid = \"a\"\ndecision = \"allow\"\n\n[bogus]\nx = 1\n");
    assert!(e.starts_with("heso.toml:5:2: unknown field `bogus`"), "{e}");
    let e =
        error("[[rule]]\nid = \"a\"\ndecision = \"allow\"\n\n[[rule]]\nid = \"b\"\nverbb = 1\n");
    assert!(
        e.starts_with("heso.toml:7:1: rule \"b\": unknown field `verbb`"),
        "{e}"
    );
    let e = error("this is = = not toml");
    assert!(e.starts_with("heso.toml:1:"), "{e}");
    // [identity] and [log] belong to the engine: skipped here.
    assert!(
        Policy::parse(
            "[identity]\nrequire_passphrase = true\n[log]\ndurability = \"os\"\n",
            "heso.toml"
        )
        .is_ok()
    );
}

#[test]
fn policy_hash_is_blake3_of_the_bytes() {
    assert_eq!(
        heso_policy::policy_hash(b""),
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    );
}

// ---- properties ----

fn verbs() -> impl Strategy<Value = Verb> {
    prop::sample::select(Verb::ALL.to_vec())
}

#[derive(Debug, Clone)]
struct GenRule {
    verbs: Option<Vec<Verb>>,
    tool: Option<&'static str>,
    threshold: Option<i64>,
    decision: &'static str,
    enabled: bool,
}

fn gen_rule() -> impl Strategy<Value = GenRule> {
    (
        prop::option::of(prop::collection::vec(verbs(), 1..3)),
        prop::option::of(prop::sample::select(vec!["a*", "b", "*"])),
        prop::option::of(0i64..100),
        prop::sample::select(vec!["allow", "block", "redact", "require_approval"]),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(verbs, tool, threshold, decision, enabled)| GenRule {
            verbs,
            tool,
            threshold,
            decision,
            enabled,
        })
}

fn render(rules: &[GenRule], default: &str) -> String {
    let mut text = format!("[defaults]\ndecision = \"{default}\"\n");
    for (i, r) in rules.iter().enumerate() {
        text.push_str(&format!(
            "\n[[rule]]\nid = \"r{i}\"\nenabled = {}\ndecision = \"{}\"\n",
            r.enabled, r.decision
        ));
        if let Some(verbs) = &r.verbs {
            let names: Vec<String> = verbs.iter().map(|v| format!("\"{v}\"")).collect();
            text.push_str(&format!("verb = [{}]\n", names.join(", ")));
        }
        if let Some(tool) = r.tool {
            text.push_str(&format!("tool = \"{tool}\"\n"));
        }
        if let Some(t) = r.threshold {
            text.push_str(&format!(
                "conditions = [{{ field = \"n\", op = \"gt\", value = {t} }}]\n"
            ));
        }
        if r.decision == "redact" {
            text.push_str("redact = [\"n\"]\n");
        }
    }
    text
}

/// A plainly written reference: scan the rules in file order (none has `order`).
fn reference(rules: &[GenRule], default: &str, verb: Verb, tool: &str, n: i64) -> (String, String) {
    for (i, r) in rules.iter().enumerate() {
        let verb_ok = r.verbs.as_ref().is_none_or(|v| v.contains(&verb));
        let tool_ok = match r.tool {
            None | Some("*") => true,
            Some("a*") => tool.starts_with('a'),
            Some(exact) => tool == exact,
        };
        let cond_ok = r.threshold.is_none_or(|t| n > t);
        if r.enabled && verb_ok && tool_ok && cond_ok {
            return (format!("r{i}"), r.decision.to_owned());
        }
    }
    ("default".into(), default.to_owned())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn agrees_with_a_linear_scan(
        rules in prop::collection::vec(gen_rule(), 0..8),
        default in prop::sample::select(vec!["allow", "block", "require_approval"]),
        verb in verbs(),
        tool in prop::sample::select(vec!["a1", "b", "c"]),
        n in 0i64..120,
    ) {
        let policy = Policy::parse(&render(&rules, default), "heso.toml").unwrap();
        let f = fields(json!({"n": n}));
        let got = decide(&policy, verb, tool, None, &f);
        let (id, decision) = reference(&rules, default, verb, tool, n);
        prop_assert_eq!(&got.rule_id, &id);
        let expected = if verb == Verb::Delete && (decision == "allow" || decision == "redact") {
            "require_approval".to_owned()
        } else {
            decision
        };
        prop_assert_eq!(got.decision.as_str(), expected.as_str());
    }

    #[test]
    fn a_delete_never_comes_out_allow_or_redact(
        rules in prop::collection::vec(gen_rule(), 0..8),
        default in prop::sample::select(vec!["allow", "block", "redact", "require_approval"]),
        tool in prop::sample::select(vec!["a1", "b", "c"]),
        n in 0i64..120,
    ) {
        let text = render(&rules, default);
        // A redact default needs no paths; the parser accepts it, the floor still holds.
        if let Ok(policy) = Policy::parse(&text, "heso.toml") {
            let got = decide(&policy, Verb::Delete, tool, None, &fields(json!({"n": n})));
            prop_assert!(!matches!(got.decision, Decision::Allow | Decision::Redact));
        }
    }
}
