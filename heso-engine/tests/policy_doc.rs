//! docs/policy.md stays true: every example parses as heso.toml, and every key the parser
//! accepts (read from its own "expected one of" error for an unknown key) is listed there.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::path::PathBuf;

fn document() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/policy.md");
    std::fs::read_to_string(&path).unwrap()
}

/// The ```toml blocks of the document.
fn toml_examples(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_example_parses() {
    let examples = toml_examples(&document());
    assert!(examples.len() >= 6, "the document lost its examples");
    for (index, example) in examples.iter().enumerate() {
        if let Err(e) = heso_engine::parse_config(example, "docs/policy.md") {
            panic!("example {} does not parse: {e}\n{example}", index + 1);
        }
    }
}

/// The keys the parser accepts where `zz_probe` is inserted, read from its error.
fn accepted_keys(text_with_probe: &str) -> Vec<String> {
    let error = match heso_engine::parse_config(text_with_probe, "probe.toml") {
        Ok(_) => panic!("an unknown key was accepted:\n{text_with_probe}"),
        Err(e) => e.to_string(),
    };
    let Some((_, list)) = error.split_once("expected one of ") else {
        // A single accepted key: "expected `key`".
        let (_, one) = error
            .split_once("expected `")
            .unwrap_or_else(|| panic!("no key list in: {error}"));
        return vec![one.split('`').next().unwrap().to_owned()];
    };
    list.split(',')
        .map(|k| k.trim().trim_matches('`').to_owned())
        .filter(|k| !k.is_empty())
        .collect()
}

#[test]
fn every_key_the_parser_accepts_is_documented() {
    let text = document();
    let probes = [
        ("top level", "zz_probe = 1\n"),
        (
            "[[rule]]",
            "[[rule]]\nid = \"r\"\ndecision = \"allow\"\nzz_probe = 1\n",
        ),
        (
            "a condition",
            "[[rule]]\nid = \"r\"\ndecision = \"allow\"\nconditions = [{ field = \"a\", op = \"eq\", value = 1, zz_probe = 1 }]\n",
        ),
        (
            "a subject",
            "[[rule]]\nid = \"r\"\ndecision = \"allow\"\nsubject = { kind = \"any\", zz_probe = 1 }\n",
        ),
        ("[defaults]", "[defaults]\nzz_probe = 1\n"),
        (
            "[approvers.NAME]",
            "[approvers.a]\nkey = \"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK\"\nzz_probe = 1\n",
        ),
        ("[identity]", "[identity]\nzz_probe = 1\n"),
        ("[log]", "[log]\nzz_probe = 1\n"),
        ("[enforcement]", "[enforcement]\nzz_probe = 1\n"),
        ("[store]", "[store]\nzz_probe = 1\n"),
    ];
    let mut tables_seen = Vec::new();
    for (table, probe) in probes {
        for key in accepted_keys(probe) {
            if table == "top level" {
                tables_seen.push(key.clone());
                let heading = match key.as_str() {
                    "rule" => "## `[[rule]]`".to_owned(),
                    "approvers" => "## `[approvers.NAME]`".to_owned(),
                    other => format!("## `[{other}]`"),
                };
                assert!(
                    text.contains(&heading),
                    "heso.toml accepts the table {key:?}, which docs/policy.md does not describe (no {heading:?} heading)"
                );
            } else {
                assert!(
                    text.contains(&format!("`{key}`")),
                    "{table} accepts the key {key:?}, which docs/policy.md does not list"
                );
            }
        }
    }
    assert!(tables_seen.contains(&"rule".to_owned()), "{tables_seen:?}");
}
