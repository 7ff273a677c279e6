//! Target hosts are normalised in the engine, so a rule's `scope` sees one form of a host
//! whichever SDK gated the call (issue 14).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::path::Path;

use heso_engine::{
    ActionRequest, Engine, GateError, GateStatus, HostError, init_project, normalize_host,
};
use heso_keystore::PassphraseSources;
use heso_receipt::Verb;
use serde_json::{Map, Value, json};

/// (case, host as an SDK may send it, normalised form)
const SAME_HOST: &[(&str, &str, &str)] = &[
    ("plain", "evil.example.com", "evil.example.com"),
    ("upper case", "EVIL.Example.COM", "evil.example.com"),
    ("trailing dot", "evil.example.com.", "evil.example.com"),
    (
        "upper case and trailing dot",
        "EVIL.example.com.",
        "evil.example.com",
    ),
    ("port", "evil.example.com:8443", "evil.example.com"),
    ("empty port", "evil.example.com:", "evil.example.com"),
    ("dot and port", "evil.example.com.:443", "evil.example.com"),
    (
        "percent-encoded dot",
        "evil%2Eexample.com",
        "evil.example.com",
    ),
    (
        "fullwidth dot (IDNA maps it)",
        "evil\u{ff0e}example.com",
        "evil.example.com",
    ),
    (
        "unicode to punycode",
        "BÜCHER.example",
        "xn--bcher-kva.example",
    ),
    (
        "punycode kept",
        "xn--bcher-kva.example",
        "xn--bcher-kva.example",
    ),
    ("ipv4", "127.0.0.1", "127.0.0.1"),
    ("ipv4 with port", "127.0.0.1:8080", "127.0.0.1"),
    ("ipv4 shorthand", "127.1", "127.0.0.1"),
    ("ipv4 in hex", "0x7f.0.0.1", "127.0.0.1"),
    ("ipv6 bare", "::1", "::1"),
    ("ipv6 bracketed", "[::1]", "::1"),
    ("ipv6 with port", "[0:0:0:0:0:0:0:1]:80", "::1"),
    ("ipv6 upper case", "FE80::1", "fe80::1"),
];

const NOT_A_HOST: &[(&str, &str)] = &[
    ("empty", ""),
    ("only a dot", "."),
    ("only a port", ":443"),
    ("space", "evil example.com"),
    ("userinfo", "user@evil.example.com"),
    ("path", "evil.example.com/steal"),
    ("two trailing dots", "evil.example.com.."),
    ("empty label", "evil..example.com"),
    ("bad port", "evil.example.com:https"),
    ("bad punycode", "xn--a.example"),
    ("unclosed bracket", "[::1"),
    ("text after the bracket", "[::1]x"),
];

#[test]
fn hosts_normalise_to_one_form() {
    for (case, host, expected) in SAME_HOST {
        assert_eq!(
            normalize_host(host).as_deref(),
            Ok(*expected),
            "case {case}: {host:?}"
        );
    }
}

#[test]
fn what_is_not_a_host_is_an_error() {
    for (case, host) in NOT_A_HOST {
        assert!(
            normalize_host(host).is_err(),
            "case {case}: {host:?} -> {:?}",
            normalize_host(host)
        );
    }
    assert_eq!(normalize_host(""), Err(HostError::Empty));
}

#[test]
fn each_kind_of_bad_host_is_its_own_error_and_keeps_the_parser_s() {
    use std::error::Error as _;

    // The URL host parser refused it: its error is kept as the source.
    for (host, expected) in [
        ("evil example.com", url::ParseError::IdnaError),
        ("xn--a.example", url::ParseError::IdnaError),
        ("[::1", url::ParseError::InvalidIpv6Address),
        ("127.0.0.256", url::ParseError::InvalidIpv4Address),
    ] {
        let error = normalize_host(host).unwrap_err();
        assert_eq!(
            error,
            HostError::Invalid {
                host: host.to_owned(),
                source: expected,
            },
            "{host:?}"
        );
        let source = error
            .source()
            .and_then(|s| s.downcast_ref::<url::ParseError>());
        assert_eq!(source, Some(&expected), "{host:?}");
        assert!(error.to_string().contains(&format!("{host:?}")), "{error}");
    }
    // The parser took it, but a label is empty: no lower error.
    for host in ["evil..example.com", "evil.example.com.."] {
        let error = normalize_host(host).unwrap_err();
        assert_eq!(
            error,
            HostError::EmptyLabel {
                host: host.to_owned()
            },
            "{host:?}"
        );
        assert!(error.source().is_none());
        assert_eq!(
            error.to_string(),
            format!("target host {host:?} is not a domain name or IP address: a label is empty")
        );
    }
    assert!(matches!(
        normalize_host("evil.example.com:https"),
        Err(HostError::BadPort { .. })
    ));
}

fn project(dir: &Path) -> Engine {
    init_project(dir, false, &PassphraseSources::default()).unwrap();
    let policy = std::fs::read_to_string(dir.join("heso.toml")).unwrap();
    let rules = "\n[[rule]]\nid = \"http.block.evil\"\norder = 1\nverb = \"http_request\"\nscope = \"evil.example.com\"\ndecision = \"block\"\n\n[[rule]]\nid = \"http.block.books\"\norder = 2\nverb = \"http_request\"\nscope = \"xn--bcher-kva.example\"\ndecision = \"block\"\n\n[[rule]]\nid = \"http.allow\"\norder = 3\nverb = \"http_request\"\ndecision = \"allow\"\n";
    std::fs::write(dir.join("heso.toml"), format!("{policy}{rules}")).unwrap();
    Engine::open(Some(dir)).unwrap()
}

fn request(host: &str) -> ActionRequest {
    let fields: Map<String, Value> = json!({"method": "GET"}).as_object().cloned().unwrap();
    let mut request = ActionRequest::new(Verb::HttpRequest, "request", fields);
    request.target_host = Some(host.to_owned());
    request
}

fn last_receipt(dir: &Path) -> Value {
    let log = std::fs::read_to_string(dir.join("heso-local-data/receipts.jsonl")).unwrap();
    serde_json::from_str(log.lines().last().unwrap()).unwrap()
}

#[test]
fn a_scope_matches_every_spelling_of_its_host_and_the_receipt_holds_the_normal_form() {
    let temp = tempfile::tempdir().unwrap();
    let engine = project(temp.path());
    for host in [
        "evil.example.com",
        "EVIL.example.com",
        "evil.example.com.",
        "Evil.Example.Com.:443",
    ] {
        let outcome = engine.gate(&request(host)).unwrap();
        assert_eq!(outcome.status, GateStatus::Blocked, "{host:?}");
        assert_eq!(outcome.rule_id, "http.block.evil", "{host:?}");
        let receipt = last_receipt(temp.path());
        assert_eq!(
            receipt["content"]["action"]["target_host"],
            "evil.example.com"
        );
    }
    let books = engine.gate(&request("BÜCHER.example.")).unwrap();
    assert_eq!(books.rule_id, "http.block.books");
    assert_eq!(
        last_receipt(temp.path())["content"]["action"]["target_host"],
        "xn--bcher-kva.example"
    );

    let fine = engine.gate(&request("API.example.com")).unwrap();
    assert_eq!(fine.status, GateStatus::Allowed);
    assert_eq!(
        last_receipt(temp.path())["content"]["action"]["target_host"],
        "api.example.com"
    );
}

#[test]
fn a_host_that_cannot_be_normalised_refuses_the_call_and_records_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let engine = project(temp.path());
    let before = std::fs::read_to_string(temp.path().join("heso-local-data/receipts.jsonl"))
        .unwrap_or_default();
    let refused = engine.gate(&request("evil example.com")).unwrap_err();
    assert!(
        matches!(refused, GateError::TargetHost(HostError::Invalid { .. })),
        "{refused:?}"
    );
    let message = refused.to_string();
    assert!(
        message.contains("evil example.com") && message.contains("did not run"),
        "{message}"
    );
    let after = std::fs::read_to_string(temp.path().join("heso-local-data/receipts.jsonl"))
        .unwrap_or_default();
    assert_eq!(before, after);
}
