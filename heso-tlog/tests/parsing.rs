//! Malformed notes, checkpoints, keys and origins give the right typed error, naming the
//! line; nothing panics on any input; no altered byte of a signed checkpoint verifies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use heso_tlog::{
    Checkpoint, CheckpointParseError, CosignError, Hash, KeyNameError, MAX_NOTE_BYTES,
    MAX_SIGNATURES, Note, NoteParseError, NoteSignature, OriginError, SignatureType,
    SignatureVerifyError, SignedCheckpoint, SigningKey, VerifierKey, VerifierKeyError, key_id,
    leaf_hash, origin, parse_origin, validate_origin,
};
use proptest::prelude::*;

const OPERATOR: &str = "z6Mkon3Necd6NkkyfoGoHxid2znGc59LU3K7mubaRcFbLfLX";

fn operator() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn witness() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

fn log_origin() -> String {
    origin(OPERATOR, "0123abcd").unwrap()
}

fn signed() -> SignedCheckpoint {
    Checkpoint::new(&log_origin(), 1234, leaf_hash(&[1; 32]))
        .unwrap()
        .sign(&operator())
}

fn text() -> String {
    signed().to_string()
}

fn parse(text: &str) -> Result<SignedCheckpoint, CheckpointParseError> {
    SignedCheckpoint::parse(text.as_bytes())
}

fn note_error(text: &str) -> NoteParseError {
    match parse(text) {
        Err(CheckpointParseError::Note(e)) => e,
        other => panic!("expected a note error, got {other:?}"),
    }
}

/// The signed text with line `n` (1-based) replaced.
fn with_line(n: usize, line: &str) -> String {
    let text = text();
    let mut lines: Vec<&str> = text.split('\n').collect();
    lines[n - 1] = line;
    lines.join("\n")
}

#[test]
fn a_signed_checkpoint_round_trips() {
    let text = text();
    let parsed = parse(&text).unwrap();
    assert_eq!(parsed.to_string(), text);
    let checkpoint = parsed.verify(&operator().verifying_key()).unwrap();
    assert_eq!(checkpoint.size(), 1234);
    assert_eq!(*checkpoint.root(), leaf_hash(&[1; 32]));
    assert_eq!(checkpoint.origin(), log_origin());
    assert!(text.contains("\n\n\u{2014} heso.dev/log/"));
}

#[test]
fn missing_blank_line() {
    let text = text().replace("\n\n", "\n");
    assert_eq!(note_error(&text), NoteParseError::MissingBlankLine);
}

#[test]
fn no_signature_and_trailing_blank_line() {
    let body = signed().unverified().body();
    assert_eq!(
        note_error(&format!("{body}\n")),
        NoteParseError::NoSignatures { line: 4 }
    );
    assert_eq!(
        note_error(&format!("{}\n", text())),
        NoteParseError::TrailingBlankLine { line: 6 }
    );
}

#[test]
fn bad_base64_in_the_signature() {
    let text = text();
    let line = text.lines().nth(4).unwrap();
    let bad = with_line(5, &format!("{}!", &line[..line.len() - 1]));
    assert_eq!(
        note_error(&bad),
        NoteParseError::SignatureBase64 { line: 5 }
    );
    let unpadded = with_line(5, line.trim_end_matches('='));
    assert_eq!(
        note_error(&unpadded),
        NoteParseError::SignatureBase64 { line: 5 }
    );
    let short = with_line(5, &format!("\u{2014} {} AAAA", log_origin()));
    assert_eq!(
        note_error(&short),
        NoteParseError::SignatureTooShort { line: 5, len: 3 }
    );
}

#[test]
fn malformed_signature_lines() {
    let line = text().lines().nth(4).unwrap().to_owned();
    let encoded = line.rsplit(' ').next().unwrap().to_owned();
    for (bad, want) in [
        (
            format!("-- {} {encoded}", log_origin()),
            NoteParseError::SignaturePrefix { line: 5 },
        ),
        (
            format!("\u{2014}{} {encoded}", log_origin()),
            NoteParseError::SignaturePrefix { line: 5 },
        ),
        (
            format!("\u{2014} {}", log_origin()),
            NoteParseError::SignatureShape { line: 5 },
        ),
        (
            format!("\u{2014} a+b {encoded}"),
            NoteParseError::KeyName {
                line: 5,
                source: KeyNameError::Character {
                    position: 2,
                    found: '+',
                },
            },
        ),
        (
            format!("\u{2014}  {encoded}"),
            NoteParseError::KeyName {
                line: 5,
                source: KeyNameError::Empty,
            },
        ),
        (
            format!("\u{2014} {} {encoded} extra", log_origin()),
            NoteParseError::SignatureBase64 { line: 5 },
        ),
    ] {
        assert_eq!(note_error(&with_line(5, &bad)), want, "{bad}");
    }
}

#[test]
fn crlf_line_endings() {
    let text = text().replace('\n', "\r\n");
    let error = note_error(&text);
    assert_eq!(error, NoteParseError::CarriageReturn { line: 1 });
    assert!(error.to_string().contains("CRLF"), "{error}");
}

#[test]
fn control_characters_and_bad_utf8() {
    assert_eq!(
        note_error(&with_line(2, "12\t34")),
        NoteParseError::ControlCharacter { line: 2, code: 9 }
    );
    let mut bytes = text().into_bytes();
    let second_line = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
    bytes[second_line] = 0xff;
    assert!(matches!(
        SignedCheckpoint::parse(&bytes),
        Err(CheckpointParseError::Note(NoteParseError::NotUtf8 {
            line: 2
        }))
    ));
}

#[test]
fn trailing_data() {
    let text = text();
    assert_eq!(
        note_error(&format!("{text}garbage")),
        NoteParseError::MissingFinalNewline { line: 6 }
    );
    assert_eq!(
        note_error(&format!("{text}garbage\n")),
        NoteParseError::SignaturePrefix { line: 6 }
    );
    assert_eq!(
        note_error(text.trim_end_matches('\n')),
        NoteParseError::MissingFinalNewline { line: 5 }
    );
    assert_eq!(note_error(""), NoteParseError::Empty);
}

#[test]
fn sizes() {
    for (size, want) in [
        (
            "18446744073709551616",
            CheckpointParseError::SizeTooLarge {
                found: "18446744073709551616".into(),
            },
        ),
        (
            "99999999999999999999999999999999",
            CheckpointParseError::SizeTooLarge {
                found: "99999999999999999999999999999999".into(),
            },
        ),
        (
            "01234",
            CheckpointParseError::SizeLeadingZero {
                found: "01234".into(),
            },
        ),
        (
            "-1",
            CheckpointParseError::SizeNotDecimal { found: "-1".into() },
        ),
        (
            "+1",
            CheckpointParseError::SizeNotDecimal { found: "+1".into() },
        ),
        (
            " 1",
            CheckpointParseError::SizeNotDecimal { found: " 1".into() },
        ),
        (
            "1e3",
            CheckpointParseError::SizeNotDecimal {
                found: "1e3".into(),
            },
        ),
        (
            "",
            CheckpointParseError::SizeNotDecimal { found: "".into() },
        ),
        (
            "١٢",
            CheckpointParseError::SizeNotDecimal {
                found: "١٢".into()
            },
        ),
    ] {
        let error = parse(&with_line(2, size)).unwrap_err();
        assert_eq!(error, want, "{size:?}");
        assert!(error.to_string().starts_with("line 2:"), "{error}");
    }
    // The largest size parses (and its signature, made for another size, does not verify).
    let max = parse(&with_line(2, "18446744073709551615")).unwrap();
    assert_eq!(max.unverified().size(), u64::MAX);
    assert!(matches!(
        max.verify(&operator().verifying_key()),
        Err(SignatureVerifyError::InvalidSignature { .. })
    ));
    let zero = parse(&with_line(2, "0")).unwrap();
    assert_eq!(zero.unverified().size(), 0);
}

#[test]
fn root_hashes() {
    assert_eq!(
        parse(&with_line(3, "not base64!")).unwrap_err(),
        CheckpointParseError::RootBase64
    );
    assert_eq!(
        parse(&with_line(3, "AAAA")).unwrap_err(),
        CheckpointParseError::RootLength { len: 3 }
    );
    let root_line = text().lines().nth(2).unwrap().to_owned();
    assert_eq!(
        parse(&with_line(3, root_line.trim_end_matches('='))).unwrap_err(),
        CheckpointParseError::RootBase64
    );
    let error = parse(&with_line(3, "AAAA")).unwrap_err();
    assert!(error.to_string().starts_with("line 3:"), "{error}");
}

#[test]
fn origins_and_missing_lines() {
    assert!(matches!(
        parse(&with_line(1, "heso dev/log")).unwrap_err(),
        CheckpointParseError::Origin(OriginError::KeyName { .. })
    ));
    // A note whose text is one line.
    let signature = text().lines().nth(4).unwrap().to_owned();
    let short = format!("{}\n\n{signature}\n", log_origin());
    assert_eq!(
        parse(&short).unwrap_err(),
        CheckpointParseError::MissingLine { line: 2 }
    );
    let two = format!("{}\n12\n\n{signature}\n", log_origin());
    assert_eq!(
        parse(&two).unwrap_err(),
        CheckpointParseError::MissingLine { line: 3 }
    );
}

#[test]
fn extension_lines() {
    let checkpoint = Checkpoint::new(&log_origin(), 5, leaf_hash(&[5; 32]))
        .unwrap()
        .with_extension("one")
        .unwrap()
        .with_extension("two words")
        .unwrap();
    let signed = checkpoint.sign(&operator());
    let parsed = parse(&signed.to_string()).unwrap();
    assert_eq!(parsed.unverified().extensions(), ["one", "two words"]);
    parsed.verify(&operator().verifying_key()).unwrap();
    assert!(checkpoint.clone().with_extension("").is_err());
    assert!(checkpoint.with_extension("a\nb").is_err());

    // An empty extension line reads as the separating blank line only when it is the last
    // one; inside the body it is an empty extension line.
    let text = signed.to_string().replacen("one\n", "one\n\n", 1);
    assert_eq!(
        parse(&text).unwrap_err(),
        CheckpointParseError::EmptyExtension { line: 5 }
    );
}

#[test]
fn too_large_and_too_many_signatures() {
    let huge = "a".repeat(MAX_NOTE_BYTES + 1);
    assert!(matches!(note_error(&huge), NoteParseError::TooLarge { .. }));
    let text = text();
    let line = text.lines().nth(4).unwrap();
    let many = format!("{text}{}", format!("{line}\n").repeat(MAX_SIGNATURES));
    assert_eq!(
        note_error(&many),
        NoteParseError::TooManySignatures {
            max: MAX_SIGNATURES
        }
    );
}

#[test]
fn wrong_key_id_wrong_key_and_altered_text() {
    let public = operator().verifying_key();
    // The signature line's key ID altered: it is another key's line and is ignored.
    let signed = signed();
    let line = &signed.note().signatures()[0];
    let other_id = NoteSignature::new(line.name(), line.key_id() ^ 1, line.signature().to_vec())
        .unwrap()
        .to_line();
    let text = format!("{}\n{other_id}", signed.unverified().body());
    let parsed = parse(&text).unwrap();
    let error = parsed.verify(&public).unwrap_err();
    let SignatureVerifyError::NotSigned {
        name,
        key_id: id,
        found,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(name, &log_origin());
    assert_eq!(*id, key_id(&log_origin(), SignatureType::Ed25519, &public));
    assert_eq!(
        found,
        &[format!("{}+{:08x}", log_origin(), line.key_id() ^ 1)]
    );
    assert!(
        error.to_string().contains("the signatures are by"),
        "{error}"
    );

    // Another operator's key.
    let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
    assert!(matches!(
        signed.verify(&other),
        Err(SignatureVerifyError::NotSigned { .. })
    ));

    // The size changed after signing.
    let altered = text_with_size(&signed, 1233);
    assert!(matches!(
        parse(&altered).unwrap().verify(&public),
        Err(SignatureVerifyError::InvalidSignature { .. })
    ));

    // A signature line of the right key with a signature of the wrong length.
    let truncated = NoteSignature::new(line.name(), line.key_id(), vec![0; 10])
        .unwrap()
        .to_line();
    let text = format!("{}\n{truncated}", signed.unverified().body());
    assert!(matches!(
        parse(&text).unwrap().verify(&public),
        Err(SignatureVerifyError::Malformed {
            len: 10,
            expected: 64,
            ..
        })
    ));
}

fn text_with_size(signed: &SignedCheckpoint, size: u64) -> String {
    let text = signed.to_string();
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    lines[1] = size.to_string();
    lines.join("\n")
}

#[test]
fn cosignatures() {
    let mut signed = signed();
    let name = "witness.example/w1";
    let line = signed.cosign(name, &witness(), 1_700_000_000).unwrap();
    signed.add_signature(line.clone()).unwrap();
    let cosigned = parse(&signed.to_string()).unwrap();
    let vkey = VerifierKey::cosigner(name, witness().verifying_key()).unwrap();
    assert_eq!(cosigned.verify_cosignature(&vkey).unwrap(), 1_700_000_000);
    cosigned.verify(&operator().verifying_key()).unwrap();

    // The operator's Ed25519 key is not a cosigning key, and the reverse.
    let as_log_key = VerifierKey::ed25519(name, witness().verifying_key()).unwrap();
    assert!(matches!(
        cosigned.verify_cosignature(&as_log_key),
        Err(SignatureVerifyError::WrongKeyType { .. })
    ));
    assert!(matches!(
        cosigned.note().verify(&vkey),
        Err(SignatureVerifyError::WrongKeyType { .. })
    ));

    // Another witness did not cosign.
    let other = VerifierKey::cosigner(name, operator().verifying_key()).unwrap();
    assert!(matches!(
        cosigned.verify_cosignature(&other),
        Err(SignatureVerifyError::NotSigned { .. })
    ));

    // A cosignature of another checkpoint does not verify on this one.
    let other_head = Checkpoint::new(&log_origin(), 1235, leaf_hash(&[2; 32]))
        .unwrap()
        .sign(&operator());
    let foreign = other_head.cosign(name, &witness(), 1_700_000_000).unwrap();
    let mut moved = self::signed();
    moved.add_signature(foreign).unwrap();
    assert!(matches!(
        moved.verify_cosignature(&vkey),
        Err(SignatureVerifyError::InvalidSignature { .. })
    ));

    // A timestamp changed after signing, or past 2^63 - 1.
    let mut bytes = line.signature().to_vec();
    bytes[7] ^= 1;
    let mut retimed = self::signed();
    retimed
        .add_signature(NoteSignature::new(name, line.key_id(), bytes.clone()).unwrap())
        .unwrap();
    assert!(matches!(
        retimed.verify_cosignature(&vkey),
        Err(SignatureVerifyError::InvalidSignature { .. })
    ));
    bytes[0] = 0x80;
    let mut future = self::signed();
    future
        .add_signature(NoteSignature::new(name, line.key_id(), bytes).unwrap())
        .unwrap();
    assert!(matches!(
        future.verify_cosignature(&vkey),
        Err(SignatureVerifyError::TimestampOutOfRange { .. })
    ));

    // Making one.
    assert_eq!(
        signed.cosign(name, &witness(), 1 << 63).unwrap_err(),
        CosignError::Timestamp(1 << 63)
    );
    assert!(matches!(
        signed.cosign("two words", &witness(), 1),
        Err(CosignError::Name(_))
    ));
}

#[test]
fn verifier_keys() {
    let key = VerifierKey::cosigner("witness.example/w1", witness().verifying_key()).unwrap();
    let text = key.to_string();
    assert_eq!(VerifierKey::parse(&text).unwrap(), key);
    let (name_and_id, encoded) = text.rsplit_once('+').unwrap();
    let name = name_and_id.split('+').next().unwrap();
    let cases = [
        ("no-plus".to_owned(), VerifierKeyError::Shape),
        (
            format!("{name}+zz+{encoded}"),
            VerifierKeyError::KeyIdFormat,
        ),
        (
            format!("{name_and_id}+not base64"),
            VerifierKeyError::KeyBase64,
        ),
        (
            format!("{name_and_id}+AgAA"),
            VerifierKeyError::UnsupportedType(2),
        ),
        (format!("{name_and_id}+BAAA"), VerifierKeyError::Key),
        (
            format!("{name}+00000000+{encoded}"),
            VerifierKeyError::KeyIdMismatch {
                found: 0,
                expected: key.key_id(),
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(VerifierKey::parse(&text).unwrap_err(), want, "{text}");
    }
    assert!(matches!(
        VerifierKey::parse(&format!("+{:08x}+{encoded}", key.key_id())),
        Err(VerifierKeyError::Name(KeyNameError::Empty))
    ));
}

#[test]
fn origin_rules() {
    let origin = log_origin();
    assert_eq!(origin, format!("heso.dev/log/{OPERATOR}/0123abcd"));
    let parts = parse_origin(&origin).unwrap();
    assert_eq!(parts.operator_multibase, OPERATOR);
    assert_eq!(parts.log_id, "0123abcd");

    for operator in [
        "",
        "did:key:z6Mkon3Necd6NkkyfoGoHxid2znGc59LU3K7mubaRcFbLfLX",
        "z6Mk0OIl",
        "zQ3s",
    ] {
        assert!(
            matches!(
                heso_tlog::origin(operator, "log"),
                Err(OriginError::Operator { .. })
            ),
            "{operator:?}"
        );
    }
    for log_id in ["", "a b", "a+b", "a/b", "a\nb", "é"] {
        assert!(
            matches!(
                heso_tlog::origin(OPERATOR, log_id),
                Err(OriginError::LogId { .. })
            ),
            "{log_id:?}"
        );
    }
    assert!(matches!(
        heso_tlog::origin(OPERATOR, &"a".repeat(300)),
        Err(OriginError::TooLong { .. })
    ));
    assert!(matches!(
        validate_origin(""),
        Err(OriginError::KeyName { .. })
    ));
    assert!(matches!(
        validate_origin("a\u{a0}b"),
        Err(OriginError::KeyName { .. })
    ));
    assert!(matches!(
        validate_origin("a\nb"),
        Err(OriginError::KeyName { .. })
    ));
    assert!(validate_origin("example.com/behind-the-sofa").is_ok());
    assert!(matches!(
        parse_origin("example.com/behind-the-sofa"),
        Err(OriginError::NotHeso { .. })
    ));
    assert!(matches!(
        Checkpoint::new("two words", 1, Hash::from_bytes([0; 32])),
        Err(OriginError::KeyName { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = SignedCheckpoint::parse(&bytes);
        let _ = Note::parse(&bytes);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = VerifierKey::parse(text);
            let _ = Checkpoint::parse_body(text);
            let _ = parse_origin(text);
        }
    }

    #[test]
    fn no_altered_byte_of_a_signed_checkpoint_verifies(at: prop::sample::Index, to: u8) {
        let text = text().into_bytes();
        let at = at.index(text.len());
        prop_assume!(text[at] != to);
        let mut altered = text.clone();
        altered[at] = to;
        let public = operator().verifying_key();
        if let Ok(parsed) = SignedCheckpoint::parse(&altered) {
            prop_assert!(parsed.verify(&public).is_err(), "byte {} -> {:#04x} still verifies", at, to);
        }
    }

    #[test]
    fn mangled_lines_never_panic(
        lines in prop::collection::vec(
            prop_oneof![
                Just(String::new()),
                Just(log_origin()),
                "[0-9]{0,25}",
                "[A-Za-z0-9+/=]{0,60}",
                "\u{2014} [a-z./+]{0,12} [A-Za-z0-9+/=]{0,100}",
                "\\PC{0,20}",
            ],
            0..8,
        ),
        final_newline: bool,
    ) {
        let mut text = lines.join("\n");
        if final_newline {
            text.push('\n');
        }
        let _ = SignedCheckpoint::parse(text.as_bytes());
    }
}
