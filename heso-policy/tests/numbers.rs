//! Conditions on numbers: exact comparison of JSON numbers and numeric strings (decimals,
//! exponents, `n/d` fractions, integers past 2^53), and a refusal — a `block` by the rule
//! itself — when a condition meets a value it cannot compare, never a fall-through.
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

fn decide(policy: &Policy, verb: Verb, fields: Value) -> Evaluation {
    let fields: Map<String, Value> = fields.as_object().cloned().unwrap();
    policy.evaluate(&ActionInput {
        verb,
        tool_name: "pay",
        workflow: "run-42",
        account: "acme",
        target_host: None,
        fields: &fields,
    })
}

/// `amount <op> <operand> -> require_approval` (rule `big`), then `allow` for every
/// payment (rule `rest`): a condition that fails open lands on `rest`.
fn amount_policy(op: &str, operand: &str) -> Policy {
    Policy::parse(
        &format!(
            r#"
[[rule]]
id = "big"
verb = ["payment", "delete"]
conditions = [{{ field = "amount", op = "{op}", value = {operand} }}]
decision = "require_approval"

[[rule]]
id = "rest"
verb = ["payment", "delete"]
decision = "allow"
"#
        ),
        "heso.toml",
    )
    .unwrap()
}

fn rule_for(policy: &Policy, amount: Value) -> String {
    decide(policy, Verb::Payment, json!({ "amount": amount })).rule_id
}

#[test]
fn numeric_strings_and_big_integers_compare_exactly() {
    let gt = amount_policy("gt", "1000");
    let above = [
        json!(5000),
        json!(1000.5),
        json!("5000"),
        json!("5000.00"),
        json!("+5000"),
        json!("5e3"),
        json!("5E+3"),
        json!("0.5e4"),
        json!("10000/2"),
        json!("2001/2"),
        json!("10000000000000000"),
        json!("1000.0000000000000000000001"),
        json!("100000000000000000000000000000000000000000000000000"),
        json!(u64::MAX),
    ];
    for amount in above {
        assert_eq!(rule_for(&gt, amount.clone()), "big", "{amount} gt 1000");
    }
    let not_above = [
        json!(1000),
        json!(1000.0),
        json!("1000"),
        json!("1000.000"),
        json!("1e3"),
        json!("1000/1"),
        json!("2000/2"),
        json!("999.9999999999999999999999"),
        json!("-5000"),
        json!("-10000/2"),
        json!("0"),
        json!("-0"),
        json!("0E-8"),
        json!(i64::MIN),
    ];
    for amount in not_above {
        assert_eq!(
            rule_for(&gt, amount.clone()),
            "rest",
            "{amount} not gt 1000"
        );
    }

    // Past 2^53 a float cast makes 2^53 + 1 equal 2^53.
    let past = amount_policy("gt", "9007199254740992");
    assert_eq!(rule_for(&past, json!(9_007_199_254_740_993_u64)), "big");
    assert_eq!(rule_for(&past, json!("9007199254740993")), "big");
    assert_eq!(rule_for(&past, json!(9_007_199_254_740_992_u64)), "rest");
    let eq = amount_policy("eq", "9007199254740993");
    assert_eq!(rule_for(&eq, json!(9_007_199_254_740_992_u64)), "rest");
    assert_eq!(rule_for(&eq, json!("9007199254740993.0")), "big");

    // A float operand is its decimal value: 0.1 is 0.1, not 0.1000000000000000055….
    let tenth = amount_policy("lte", "0.1");
    assert_eq!(rule_for(&tenth, json!("0.1")), "big");
    assert_eq!(rule_for(&tenth, json!("1/10")), "big");
    assert_eq!(rule_for(&tenth, json!("0.10000000000000000001")), "rest");
    let third = amount_policy("lt", "0.3333333333333333");
    assert_eq!(rule_for(&third, json!("1/3")), "rest");
    let third = amount_policy("gt", "0.3333333333333333");
    assert_eq!(rule_for(&third, json!("1/3")), "big");
}

#[test]
fn every_order_and_equality_operator_reads_numeric_strings() {
    let cases: [(&str, &str, Value, bool); 14] = [
        ("gte", "5000", json!("5000.00"), true),
        ("gte", "5000", json!("4999.99"), false),
        ("lt", "5000", json!("4999.99"), true),
        ("lt", "5000", json!("9999/2"), true),
        ("lte", "5000", json!("5e3"), true),
        ("lte", "5000", json!("5000.01"), false),
        ("eq", "5000", json!("5000.00"), true),
        ("eq", "5000", json!("10000/2"), true),
        ("eq", "5000", json!(5000.0), true),
        ("eq", "5000", json!("5000.01"), false),
        ("neq", "5000", json!("5000.00"), false),
        ("neq", "5000", json!("5001"), true),
        ("in", "[1000, 5000]", json!("5000.0"), true),
        ("not_in", "[1000, 5000]", json!("5000/1"), false),
    ];
    for (op, operand, amount, holds) in cases {
        let policy = amount_policy(op, operand);
        let expected = if holds { "big" } else { "rest" };
        assert_eq!(
            rule_for(&policy, amount.clone()),
            expected,
            "{amount} {op} {operand}"
        );
    }
}

#[test]
fn a_bool_is_never_a_number() {
    assert_eq!(rule_for(&amount_policy("eq", "1"), json!(true)), "rest");
    assert_eq!(rule_for(&amount_policy("neq", "1"), json!(true)), "big");
    assert_eq!(
        rule_for(&amount_policy("in", "[0, 1]"), json!(false)),
        "rest"
    );
    let refused = decide(
        &amount_policy("gte", "1"),
        Verb::Payment,
        json!({"amount": true}),
    );
    assert_eq!(refused.decision, Decision::Block);
}

#[test]
fn a_value_gt_cannot_compare_is_refused_by_the_rule_never_passed_on() {
    let policy = amount_policy("gt", "1000");
    let uncomparable = [
        json!({"value": 5000}),
        json!([5000]),
        json!(true),
        json!(null),
        json!("lots"),
        json!(""),
        json!(" 5000"),
        json!("5,000"),
        json!("NaN"),
        json!("Infinity"),
        json!("1/0"),
        json!("5000/"),
        json!("10/-2"),
        json!("1.5/2"),
        json!("1e99999999999999999999"),
        json!("0x1388"),
        json!(".5"),
        json!("5."),
        Value::String("9".repeat(20_000)),
    ];
    for amount in uncomparable {
        let shown = amount.to_string();
        let shown = shown.get(..40).unwrap_or(&shown);
        let got = decide(&policy, Verb::Payment, json!({ "amount": amount }));
        assert_eq!(got.decision, Decision::Block, "{shown}");
        assert_eq!(got.rule_id, "big", "{shown}");
        assert!(
            got.rule_display
                .ends_with(" (refused: field amount holds a value gt cannot compare)"),
            "{shown}: {}",
            got.rule_display
        );
        assert!(
            got.rule_display.starts_with(&policy.rules()[0].display),
            "{}",
            got.rule_display
        );
        // The receipt records the rule's conditions as written, never the value.
        assert_eq!(got.matched_conditions.len(), 1);
        assert_eq!(got.matched_conditions[0].field, "amount");
        assert_eq!(got.matched_conditions[0].op, "gt");
        assert_eq!(got.matched_conditions[0].value, json!(1000));
        assert!(got.approvers.is_empty() && got.redact.is_empty());
        assert!(!got.floor_applied);
    }
    // A delete is refused the same way: block, which the floor leaves alone.
    let delete = decide(&policy, Verb::Delete, json!({"amount": "lots"}));
    assert_eq!(
        (
            delete.decision,
            delete.rule_id.as_str(),
            delete.floor_applied
        ),
        (Decision::Block, "big", false)
    );
}

#[test]
fn a_refusal_needs_the_rest_of_the_rule_to_hold() {
    let policy = Policy::parse(
        r#"
[[rule]]
id = "big-usd"
verb = "payment"
conditions = [
    { field = "amount", op = "gt", value = 1000 },
    { field = "currency", op = "eq", value = "USD" },
]
decision = "require_approval"

[[rule]]
id = "rest"
verb = "payment"
decision = "allow"
"#,
        "heso.toml",
    )
    .unwrap();
    // Another condition fails for certain: the rule cannot match whatever amount is.
    let eur = decide(
        &policy,
        Verb::Payment,
        json!({"amount": "lots", "currency": "EUR"}),
    );
    assert_eq!(eur.rule_id, "rest");
    // It holds: the amount decides, and it cannot be compared.
    let usd = decide(
        &policy,
        Verb::Payment,
        json!({"amount": "lots", "currency": "USD"}),
    );
    assert_eq!(
        (usd.decision, usd.rule_id.as_str()),
        (Decision::Block, "big-usd")
    );
    // A missing field is no value at all: the condition simply does not hold.
    let missing = decide(&policy, Verb::Payment, json!({"currency": "USD"}));
    assert_eq!(missing.rule_id, "rest");
}

#[test]
fn with_a_wildcard_one_matching_value_decides_else_one_uncomparable_refuses() {
    let policy = Policy::parse(
        r#"
[[rule]]
id = "pricey"
verb = "tool_call"
conditions = [{ field = "items.*.price", op = "gt", value = 100 }]
decision = "require_approval"

[[rule]]
id = "rest"
verb = "tool_call"
decision = "allow"
"#,
        "heso.toml",
    )
    .unwrap();
    let rule = |items: Value| {
        let got = decide(&policy, Verb::ToolCall, json!({ "items": items }));
        (got.rule_id, got.decision)
    };
    assert_eq!(
        rule(json!([{"price": 5}, {"price": "500.5"}])),
        ("pricey".into(), Decision::RequireApproval)
    );
    assert_eq!(
        rule(json!([{"price": 500}, {"price": "n/a"}])),
        ("pricey".into(), Decision::RequireApproval)
    );
    assert_eq!(
        rule(json!([{"price": 5}, {"price": "n/a"}])),
        ("pricey".into(), Decision::Block)
    );
    assert_eq!(
        rule(json!([{"price": 5}, {"price": "99.99"}])),
        ("rest".into(), Decision::Allow)
    );
}

#[test]
fn a_disabled_rule_refuses_nothing() {
    let policy = Policy::parse(
        r#"
[[rule]]
id = "off"
enabled = false
verb = "payment"
conditions = [{ field = "amount", op = "gt", value = 1000 }]
decision = "require_approval"

[[rule]]
id = "rest"
verb = "payment"
decision = "allow"
"#,
        "heso.toml",
    )
    .unwrap();
    assert_eq!(rule_for(&policy, json!("lots")), "rest");
}

// ---- properties: a plain model in i128 arithmetic ----

/// `mantissa / 10^scale` written as a decimal string, e.g. (-12345, 2) -> "-123.45".
fn decimal_text(mantissa: i64, scale: u32) -> String {
    let digits = mantissa.unsigned_abs().to_string();
    let sign = if mantissa < 0 { "-" } else { "" };
    let scale = scale as usize;
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Decimals and fractions compare as the exact rationals they are.
    #[test]
    fn comparisons_agree_with_exact_integer_arithmetic(
        mantissa in any::<i64>(),
        scale in 0u32..25,
        numerator in any::<i64>(),
        denominator in 1i64..=i64::MAX,
        threshold in any::<i64>(),
        op in prop::sample::select(vec!["gt", "gte", "lt", "lte", "eq", "neq"]),
    ) {
        let policy = amount_policy(op, &threshold.to_string());
        let cmp = |lhs: i128, rhs: i128| match op {
            "gt" => lhs > rhs,
            "gte" => lhs >= rhs,
            "lt" => lhs < rhs,
            "lte" => lhs <= rhs,
            "eq" => lhs == rhs,
            _ => lhs != rhs,
        };
        let expected = |holds: bool| if holds { "big" } else { "rest" };

        // mantissa / 10^scale  <op>  threshold   <=>   mantissa <op> threshold * 10^scale
        // (scale < 25 keeps threshold * 10^scale inside i128 only up to 10^19; compare in
        // wider steps when it would not fit).
        let text = decimal_text(mantissa, scale);
        let holds = match 10i128.checked_pow(scale).and_then(|p| i128::from(threshold).checked_mul(p)) {
            Some(scaled) => cmp(i128::from(mantissa), scaled),
            // |threshold| * 10^scale beyond i128: it dwarfs any i64 mantissa, unless zero.
            None => cmp(0, i128::from(threshold.signum())),
        };
        prop_assert_eq!(rule_for(&policy, json!(text)), expected(holds), "{} {} {}", text, op, threshold);

        // numerator / denominator  <op>  threshold   <=>   numerator <op> threshold * denominator
        let fraction = format!("{numerator}/{denominator}");
        let holds = cmp(i128::from(numerator), i128::from(threshold) * i128::from(denominator));
        prop_assert_eq!(rule_for(&policy, json!(fraction)), expected(holds), "{} {} {}", fraction, op, threshold);

        // A JSON integer compares exactly too.
        let holds = cmp(i128::from(mantissa), i128::from(threshold));
        prop_assert_eq!(rule_for(&policy, json!(mantissa)), expected(holds), "{} {} {}", mantissa, op, threshold);
    }
}
