//! `[enforcement] mode`: parsed strictly; `observe` makes every refusal observed, except
//! the delete floor.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failure should stop it loudly"
)]

use heso_engine::parse_config;

#[test]
fn the_mode_is_enforce_unless_the_table_says_observe() {
    assert!(!parse_config("", "heso.toml").unwrap().observe);
    assert!(
        !parse_config("[enforcement]\nmode = \"enforce\"\n", "heso.toml")
            .unwrap()
            .observe
    );
    assert!(
        !parse_config("[enforcement]\n", "heso.toml")
            .unwrap()
            .observe
    );
    assert!(
        parse_config("[enforcement]\nmode = \"observe\"\n", "heso.toml")
            .unwrap()
            .observe
    );
}

#[test]
fn an_unknown_mode_or_key_is_an_error_naming_its_line() {
    for (text, word) in [
        ("\n[enforcement]\nmode = \"watch\"\n", "watch"),
        ("\n[enforcement]\nmoed = \"observe\"\n", "moed"),
        ("\n[enforcement]\nmode = false\n", "string"),
    ] {
        let error = parse_config(text, "heso.toml").unwrap_err().to_string();
        assert!(error.starts_with("heso.toml:3:"), "{text}: {error}");
        assert!(error.contains(word), "{text}: {error}");
    }
}
