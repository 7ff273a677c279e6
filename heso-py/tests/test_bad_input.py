"""Bad input at every Python entry point, on the installed wheel.

Each case feeds one entry point something malformed and checks what a user would: the
documented exception (never a Rust panic), a message that says what is wrong, that no file
of the project changed, and that a refused call never ran its body.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import heso
from heso import _core
from conftest import HESO_VARS, add_approver, heso_cli

Snapshot = dict[str, bytes | None]

LATIN1_PASSPHRASE = b"p\xe4sswort-latin1"  # what a shell in a Latin-1 locale exports


def snapshot(root: Path) -> Snapshot:
    """Every file of the project heso owns (heso.toml and heso-local-data/), by content;
    directories as None."""
    out: Snapshot = {}
    config = root / "heso.toml"
    if config.is_file():
        out["heso.toml"] = config.read_bytes()
    elif config.exists():
        out["heso.toml"] = None
    data = root / "heso-local-data"
    for path in sorted(data.rglob("*")) if data.exists() else []:
        rel = str(path.relative_to(root))
        out[rel] = None if path.is_dir() else path.read_bytes()
    return out


def log_lines(root: Path) -> list[str]:
    return (root / "heso-local-data" / "receipts.jsonl").read_text().splitlines()


def raises(
    expected: type[BaseException], fragment: str, call: Callable[[], Any]
) -> BaseException:
    """Runs ``call``; it must raise exactly ``expected`` (a subclass is fine) with
    ``fragment`` in its message, and nothing of a Rust panic."""
    with pytest.raises(BaseException) as info:
        call()
    error = info.value
    assert isinstance(error, expected), f"{type(error).__module__}.{type(error).__name__}: {error}"
    message = str(error)
    assert fragment in message, message
    assert "panicked" not in message and "PanicException" not in type(error).__name__, message
    return error


@pytest.fixture
def opened(project: Path) -> Iterator[Path]:
    """A project with one allowed receipt in its log, opened with heso.init()."""
    heso.init()

    @heso.tool
    def search(query: str) -> str:
        return query

    search("a first receipt")
    yield project


@pytest.fixture
def receipt_line(opened: Path) -> bytes:
    return log_lines(opened)[-1].encode()


# ---------------------------------------------------------------------------------------
# Decorators, heso.wrap and heso.step: a mistake in their options is raised when they are
# applied (TypeError / ValueError), before any call, and writes nothing.

class Client:
    def create(self, **kwargs: Any) -> str:
        return "created"


DECORATION_CASES: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    ("unknown verb", lambda: heso.tool(verb="nope"), ValueError, "heso.tool: unknown verb 'nope' (one of llm_call, tool_call"),
    ("verb not a str", lambda: heso.tool(verb=5), TypeError, "heso.tool: verb must be a str, not int"),
    ("verb None", lambda: heso.tool(verb=None), TypeError, "verb must be a str, not NoneType"),
    ("name not a str", lambda: heso.tool(name=5), TypeError, "heso.tool: name must be a str, not int"),
    ("empty name", lambda: heso.tool(name=""), ValueError, "heso.tool: name must not be empty"),
    ("name with a lone surrogate", lambda: heso.tool(name="to\udcffol"), ValueError, "name is not valid Unicode (a lone surrogate at index 2)"),
    ("redact not a list", lambda: heso.tool(redact=5), TypeError, "heso.tool: redact must be a list of field paths, not int"),
    ("redact path not a str", lambda: heso.tool(redact=["ok", None]), TypeError, "a redact path must be a str, not NoneType"),
    ("redact path with an empty segment", lambda: heso.tool(redact=["a..b"]), ValueError, 'heso.tool: redact: field path "a..b" has an empty segment at character 2'),
    ("empty redact path", lambda: heso.tool(redact=[""]), ValueError, "redact: field path is empty"),
    ("stray wildcard", lambda: heso.tool(redact=["key*"]), ValueError, "'*' at character 3 must be a whole segment"),
    ("bad escape", lambda: heso.tool(redact=["a\\q"]), ValueError, "bad escape at character 1"),
    ("destructive with a bad path", lambda: heso.destructive(redact=[".x"]), ValueError, "heso.destructive: redact: field path \".x\" has an empty segment"),
    ("unknown redact_mode", lambda: heso.tool(redact_mode="shred"), ValueError, "redact_mode must be one of ('commit_and_reveal', 'destructive'), not 'shred'"),
    ("redact_mode None", lambda: heso.destructive(redact_mode=None), ValueError, "heso.destructive: redact_mode must be one of"),
    ("decorating a non-function", lambda: heso.tool(42), TypeError, "heso.tool decorates a function, not int"),
    ("destructive on a non-function", lambda: heso.destructive("rm -rf"), TypeError, "heso.destructive decorates a function, not str"),
    ("decorator factory on a non-function", lambda: heso.tool(name="x")(None), TypeError, "decorates a function, not NoneType"),
    ("wrap: unknown verb", lambda: heso.wrap(Client(), verbs={"create": "nope"}), ValueError, "heso.wrap: verbs['create']: unknown verb 'nope'"),
    ("wrap: verbs a list", lambda: heso.wrap(Client(), verbs=["create"]), TypeError, "heso.wrap: verbs must be a mapping of method name to verb"),
    ("wrap: method name not a str", lambda: heso.wrap(Client(), verbs={1: "tool_call"}), TypeError, "a method name in verbs must be a str, not int"),
    ("wrap: verb not a str", lambda: heso.wrap(Client(), verbs={"create": 3}), TypeError, "verb must be a str, not int"),
    ("step: workflow None", lambda: heso.step(workflow=None), TypeError, "heso.step: workflow must be a str, not NoneType"),  # type: ignore[arg-type]
    ("step: workflow an int", lambda: heso.step(workflow=42), TypeError, "workflow must be a str, not int"),  # type: ignore[arg-type]
    ("step: empty workflow", lambda: heso.step(workflow=""), ValueError, "heso.step: workflow must not be empty"),
    ("step: workflow with a lone surrogate", lambda: heso.step(workflow="run-\udc80"), ValueError, "workflow is not valid Unicode (a lone surrogate at index 4)"),
    ("step: account an int", lambda: heso.step(workflow="w", account=7), TypeError, "heso.step: account must be a str, not int"),  # type: ignore[arg-type]
    ("step: empty account", lambda: heso.step(workflow="w", account=""), ValueError, "account must not be empty"),
]


@pytest.mark.parametrize(
    "make, expected, fragment", [c[1:] for c in DECORATION_CASES], ids=[c[0] for c in DECORATION_CASES]
)
def test_bad_options_are_refused_when_applied(
    opened: Path, make: Callable[[], Any], expected: type[BaseException], fragment: str
) -> None:
    before = snapshot(opened)
    raises(expected, fragment, make)
    assert snapshot(opened) == before


# ---------------------------------------------------------------------------------------
# Gated calls that must be refused: the body never runs and nothing is written.

def test_refused_calls_never_run_their_body(opened: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    @heso.tool
    def search(query: str, limit: int = 5) -> str:
        ran.append(query)
        return query

    def plain(x: int) -> int:
        ran.append(str(x))
        return x

    @heso.tool(redact=["headers.*"])
    def call_api(headers: dict[str, str]) -> None:
        ran.append("call_api")

    cases: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
        ("too many arguments", lambda: search("a", 1, 2), TypeError, "too many positional arguments"),
        ("a missing argument", lambda: search(), TypeError, "missing a required argument: 'query'"),
        ("an unknown keyword", lambda: search("a", colour="red"), TypeError, "unexpected keyword argument 'colour'"),
        ("gated on a non-function", lambda: heso.gated(42), TypeError, "heso.gated needs a function to gate, not int"),
        ("gated with bad arguments", lambda: heso.gated(plain, 1, 2), TypeError, "too many positional arguments"),
        ("resume of None", lambda: heso.resume(None), TypeError, "heso.resume: pending_id must be a str, not NoneType"),  # type: ignore[arg-type]
        # A value under an empty key has no field path, so it cannot be redacted verifiably.
        ("redact under an empty key", lambda: call_api({"": "Bearer secret"}), heso.GateError, "matches a value under an empty key (\"headers.\")"),
    ]
    for label, call, expected, fragment in cases:
        before = snapshot(opened)
        raises(expected, fragment, call)
        assert snapshot(opened) == before, label
        assert ran == [], label

    # Before heso.init() (a fresh process): ConfigError, nothing written.
    monkeypatch.setattr(heso._state, "_project", None)
    before = snapshot(opened)
    raises(heso.ConfigError, "heso.init() has not been called", lambda: search("x"))
    raises(heso.ConfigError, "heso.init() has not been called", lambda: heso.gated(plain, 1))
    raises(heso.ConfigError, "heso.init() has not been called", lambda: heso.resume("ab" * 8))
    assert snapshot(opened) == before
    assert ran == []


def test_a_policy_broken_after_init_fails_closed(opened: Path) -> None:
    ran: list[str] = []

    @heso.tool
    def search(query: str) -> str:
        ran.append(query)
        return query

    config = opened / "heso.toml"
    text = config.read_text()
    config.write_text(text.replace('decision = "allow"', "decision = allow", 1))
    before = snapshot(opened)
    error = raises(heso.GateError, "heso.toml:", lambda: search("x"))
    assert re.search(r"heso\.toml:\d+:\d+: rule \"[^\"]+\": string values must be quoted", str(error)), error
    config.write_bytes(text.encode() + b"\n# caf\xe9\n")
    before = snapshot(opened)
    raises(heso.GateError, "not valid UTF-8; heso.toml must be UTF-8 text", lambda: search("x"))
    assert snapshot(opened) == before
    assert ran == []
    config.write_text(text)
    assert search("fixed") == "fixed"


# ---------------------------------------------------------------------------------------
# Arguments that are not JSON, huge or deeply nested: converted by the documented rule
# (which never raises), gated once, and the receipt verifies.

class Hostile:
    """repr, str and every attribute lookup raise."""

    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    def __str__(self) -> str:
        raise RuntimeError("str exploded")

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name} here")


def shared_graph(levels: int) -> list[Any]:
    """A few dozen objects that expand to 2**levels values when written out."""
    node: list[Any] = []
    for _ in range(levels):
        node = [node, node]
    return node


def self_referential() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


def deep_dict(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"d": value}
    return value


ARGUMENT_CASES: list[tuple[str, Callable[[], Any], Callable[[Any], None]]] = [
    ("hostile object", Hostile, lambda v: assert_equal(v, "<Hostile>")),
    ("hostile dict key", lambda: {Hostile(): 1}, lambda v: assert_equal(v, {"<Hostile>": 1})),
    ("int past Python's str limit", lambda: 10**5000 + 7, lambda v: assert_equal((len(v), v[-3:]), (5001, "007"))),
    ("int dict key past the limit", lambda: {-(10**4400): 1}, lambda v: assert_equal(len(next(iter(v))), 4402)),
    ("shared graph of 2**40 values", lambda: shared_graph(40), lambda v: assert_in("[too large]", json.dumps(v))),
    ("a million-item list", lambda: list(range(1_000_010)), lambda v: assert_equal((v[-1], len(v)), ("[too large]", 1_000_000))),
    ("self-referential list", self_referential, lambda v: assert_in('"[too deep]"', json.dumps(v))),
    ("10,000 levels deep", lambda: deep_dict(10_000), lambda v: assert_in('"[too deep]"', json.dumps(v))),
    ("5 MB string", lambda: "x" * (5 << 20), lambda v: assert_equal(len(v), 5 << 20)),
    ("NaN and infinities", lambda: [float("nan"), float("inf"), -float("inf")], lambda v: assert_equal(v, ["NaN", "Infinity", "-Infinity"])),
    ("lone surrogates", lambda: {"k\udcff": "v\ud800"}, lambda v: assert_equal(v, {"k\ufffd": "v\ufffd"})),
    ("invalid UTF-8 bytes", lambda: b"\xff\xfe\x00", lambda v: assert_equal(v, {"$bytes_b64": "//4A"})),
    ("a generator", lambda: (i for i in range(3)), lambda v: assert_equal(v, "<generator>")),
    ("a set of mixed types", lambda: {1, "a", None}, lambda v: assert_equal(len(v), 3)),
]


def assert_equal(actual: Any, expected: Any) -> None:
    assert actual == expected, actual


def assert_in(needle: str, haystack: str) -> None:
    assert needle in haystack, haystack[:300]


@pytest.mark.parametrize(
    "make, check", [c[1:] for c in ARGUMENT_CASES], ids=[c[0] for c in ARGUMENT_CASES]
)
def test_awkward_arguments_are_gated_once_and_verify(
    opened: Path, make: Callable[[], Any], check: Callable[[Any], None]
) -> None:
    ran: list[Any] = []

    @heso.tool
    def take(value: Any) -> str:
        ran.append(value)
        return "done"

    before = log_lines(opened)
    assert take(make()) == "done"
    assert len(ran) == 1
    after = log_lines(opened)
    assert after[: len(before)] == before and len(after) == len(before) + 1
    verdict = heso.verify(after[-1].encode())
    assert verdict.ok, verdict
    check(json.loads(after[-1])["content"]["action"]["fields"]["value"])


# ---------------------------------------------------------------------------------------
# heso.verify and heso._core.verify: whatever the bytes, a verdict (never an exception);
# a wrong type, an unreadable path or a signer that is not a key raise.

def bad_receipts(line: bytes) -> list[tuple[str, bytes]]:
    receipt = json.loads(line)
    wrong_types = dict(receipt, signatures=None)
    wrong_types["content"] = dict(receipt["content"], seq="seven")
    flipped = bytearray(line)
    at = line.index(b'"signature":"') + len(b'"signature":"') + 3
    flipped[at] = ord("A") if flipped[at] != ord("A") else ord("B")
    return [
        ("truncated", line[: len(line) // 2]),
        ("truncated by one byte", line[:-1]),
        ("garbage", b"\x00\xff\x13\x37{garbage"),
        ("empty", b""),
        ("array", b"[]"),
        ("array of the receipt", b"[" + line + b"]"),
        ("null", b"null"),
        ("a string", b'"receipt"'),
        ("a number", b"12"),
        ("empty object", b"{}"),
        ("two receipts", line + b"\n" + line),
        ("invalid UTF-8 inside", line.replace(b'"search"', b'"s\xffarch"', 1)),
        ("lone surrogate escape", line.replace(b'"search"', b'"\\udcff"', 1)),
        ("100,000 levels deep", b"[" * 100_000 + b"]" * 100_000),
        ("deep inside the receipt", line.replace(b'"query":"a first receipt"', b'"query":' + b"[" * 200 + b"]" * 200, 1)),
        ("huge (8 MB of spaces)", b" " * (8 << 20) + b"{}"),
        ("wrong types", json.dumps(wrong_types).encode()),
        ("duplicate key", line.replace(b'{"alg":', b'{"alg":"x","alg":', 1)),
        ("integer past 2**53", line.replace(b'"seq":', b'"seq":9007199254740993,"x":', 1)),
        ("a flipped signature byte", bytes(flipped)),
    ]


def test_verify_gives_a_verdict_for_any_bytes(opened: Path, receipt_line: bytes, tmp_path: Path) -> None:
    assert heso.verify(receipt_line).ok
    before = snapshot(opened)
    for label, data in bad_receipts(receipt_line):
        as_file = tmp_path / "bad.json"
        as_file.write_bytes(data)
        forms: list[Any] = [data, bytearray(data), as_file, str(as_file)]
        text = data.decode("utf-8", "surrogateescape")
        if text.lstrip()[:1] in ("{", "["):
            forms.append(text)
        for form in forms:
            verdict = heso.verify(form)
            assert not verdict.ok, (label, type(form))
            assert verdict.kind != "Valid" and verdict.trust_level is None, (label, verdict)
            assert verdict.detail, label
            assert str(verdict) == f"{verdict.kind}: {verdict.detail}"
        core = json.loads(_core.verify(data))
        assert core["valid"] is False and core["detail"], label
    assert snapshot(opened) == before


def test_verify_refuses_what_is_not_a_receipt(opened: Path, receipt_line: bytes, tmp_path: Path) -> None:
    did = (opened / "heso-local-data" / "identity.pub").read_text().strip()
    assert heso.verify(receipt_line, signers=did).ok  # one key as a str
    assert heso.verify(receipt_line, signers=[did]).ok
    assert not heso.verify(receipt_line, signers=[]).ok  # nothing pinned: not trusted
    huge_signer = "z" * 100_000
    cases: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
        ("None", lambda: heso.verify(None), TypeError, "heso.verify: a receipt is a dict, JSON text, bytes or a file path, not NoneType"),  # type: ignore[arg-type]
        ("an int", lambda: heso.verify(5), TypeError, "not int"),  # type: ignore[arg-type]
        ("a list object", lambda: heso.verify([receipt_line]), TypeError, "not list"),  # type: ignore[arg-type]
        ("a missing file", lambda: heso.verify(tmp_path / "missing.json"), FileNotFoundError, "missing.json"),
        ("a path that is not JSON", lambda: heso.verify("7f3c91ab"), FileNotFoundError, "7f3c91ab"),
        ("a directory", lambda: heso.verify(tmp_path), IsADirectoryError, str(tmp_path)),
        ("a garbage signer", lambda: heso.verify(receipt_line, signers=["garbage"]), ValueError, "signer \"garbage\" is not a public key (did:key or base64)"),
        ("a truncated did:key", lambda: heso.verify(receipt_line, signers=[did[:-5]]), ValueError, "is not a public key"),
        ("a signer of None", lambda: heso.verify(receipt_line, signers=[did, None]), TypeError, "heso.verify: signers[1] must be a public key as a str"),  # type: ignore[list-item]
        ("signers an int", lambda: heso.verify(receipt_line, signers=5), TypeError, "heso.verify: signers must be a list of public keys, not int"),  # type: ignore[arg-type]
        ("core verify of a str", lambda: _core.verify("{}"), TypeError, "bytes"),  # type: ignore[arg-type]
    ]
    before = snapshot(opened)
    for label, call, expected, fragment in cases:
        raises(expected, fragment, call)
    # A huge signer is quoted cut short, not echoed whole.
    error = raises(ValueError, "(100000 characters)", lambda: heso.verify(receipt_line, signers=[huge_signer]))
    assert len(str(error)) < 400
    assert snapshot(opened) == before


# ---------------------------------------------------------------------------------------
# resume, claim, pending_info: garbage, unknown and path-traversal ids.

def test_resume_and_claim_refuse_garbage_ids(opened: Path, tmp_path: Path) -> None:
    project = _core.Project(str(opened))
    # A file an attacker might point a traversal at: it must not be read as an item.
    (tmp_path / "evil.json").write_text(json.dumps({"id": "evil", "status": "approved"}))
    ids = [
        "",
        "garbage",
        "zz" * 8,
        "ab" * 8,  # well-formed but unknown
        "ab" * 40,  # too long
        "../../evil",
        "../pending/../../evil",
        "/etc/passwd",
        "ab\x00cd",
        "\udcff",
        "x" * 100_000,
    ]
    before = snapshot(opened)
    for pending_id in ids:
        if pending_id == "\udcff":  # the raw core takes UTF-8 text only
            raises(UnicodeEncodeError, "surrogates not allowed", lambda: heso.resume(pending_id))
            raises(UnicodeEncodeError, "surrogates not allowed", lambda: project.claim(pending_id))
            continue
        error = raises(heso.ApprovalError, "no pending action with id", lambda: heso.resume(pending_id))
        assert len(str(error)) < 300, pending_id[:20]
        error = raises(heso.ApprovalError, "no pending action with id", lambda: project.claim(pending_id))
        assert len(str(error)) < 300, pending_id[:20]
        error = raises(heso.ApprovalError, "no pending action with id", lambda: project.pending_info(pending_id))
        assert len(str(error)) < 300, pending_id[:20]
    raises(TypeError, "str", lambda: project.claim(None))  # type: ignore[arg-type]
    assert snapshot(opened) == before
    assert json.loads((tmp_path / "evil.json").read_text())["status"] == "approved"


def test_resume_of_a_damaged_pending_item(project: Path) -> None:
    add_approver(project)
    heso.init()
    ran: list[str] = []

    @heso.destructive
    def delete_record(record_id: str) -> None:
        ran.append(record_id)

    with pytest.raises(heso.SuspendedError) as suspended:
        delete_record("r-1")
    pending_id = suspended.value.pending_id
    item = project / "heso-local-data" / "pending" / f"{pending_id}.json"
    for damage in (b"", b"\xff\xfe garbage", b"[]", b"null", item.read_bytes()[:40]):
        item.write_bytes(damage)
        before = snapshot(project)
        error = raises(heso.ApprovalError, f"{pending_id}.json", lambda: heso.resume(pending_id))
        assert "damaged" in str(error) or "cannot" in str(error), error
        assert snapshot(project) == before
        assert ran == []
    item.unlink()
    raises(heso.ApprovalError, "no pending action with id", lambda: heso.resume(pending_id))
    assert ran == []


# ---------------------------------------------------------------------------------------
# heso.init and heso._core.Project on broken projects: ConfigError saying what and where.

def corrupt(name: str, root: Path) -> str:
    """Breaks one file of the project; returns the message fragment expected."""
    data = root / "heso-local-data"
    key = data / "identity.key"
    config = root / "heso.toml"
    policy = config.read_text()
    if name == "no heso.toml":
        config.unlink()
        return "no heso.toml in"
    if name == "broken heso.toml":
        config.write_text(policy.replace('decision = "allow"', "decision = allow", 1))
        return "string values must be quoted"
    if name == "heso.toml not UTF-8":
        config.write_bytes(b"# \xff\xfe\n" + policy.encode())
        return "heso.toml:1:3: not valid UTF-8"
    if name == "unknown table in heso.toml":
        config.write_text(policy + "\n[bogus]\nx = 1\n")
        return ": unknown field `bogus`"
    if name == "heso.toml an array of garbage":
        config.write_bytes(b"\x00\x01[[[[")
        return "heso.toml:1:"
    if name == "heso.toml a directory":
        config.unlink()
        config.mkdir()
        return "heso.toml"
    if name == "garbage identity.key":
        key.write_bytes(b"\x00\x01 not a key at all")
        return "identity.key is not a usable heso key file"
    if name == "truncated identity.key":
        key.write_bytes(key.read_bytes()[: key.stat().st_size // 2])
        return "identity.key is damaged: the encrypted seed is damaged or truncated"
    if name == "empty identity.key":
        key.write_bytes(b"")
        return "identity.key is not a usable heso key file: the file is empty"
    if name == "identity.key not UTF-8":
        key.write_bytes(key.read_bytes().replace(b"operator", b"\xff\xfe", 1))
        return "not UTF-8 text"
    if name == "missing identity.key":
        key.unlink()
        return "no key file at"
    if name == "missing dev passphrase":
        (data / "DEV-ONLY.passphrase").unlink()
        return "HESO_KEY_PASSPHRASE is not set and there is no dev passphrase file"
    if name == "garbage dev passphrase":
        (data / "DEV-ONLY.passphrase").write_bytes(b"\xff" * 70)
        return "the passphrase from the dev passphrase file"
    raise AssertionError(name)


BROKEN_PROJECTS = [
    "no heso.toml",
    "broken heso.toml",
    "heso.toml not UTF-8",
    "unknown table in heso.toml",
    "heso.toml an array of garbage",
    "heso.toml a directory",
    "garbage identity.key",
    "truncated identity.key",
    "empty identity.key",
    "identity.key not UTF-8",
    "missing identity.key",
    "missing dev passphrase",
    "garbage dev passphrase",
]


@pytest.mark.parametrize("name", BROKEN_PROJECTS)
def test_a_broken_project_is_a_config_error(project: Path, name: str) -> None:
    fragment = corrupt(name, project)
    before = snapshot(project)
    for open_it in (lambda: heso.init(project), lambda: _core.Project(str(project)), lambda: heso.init()):
        error = raises(heso.ConfigError, fragment, open_it)
        assert isinstance(error, heso.HesoError)
    assert snapshot(project) == before
    if name == "unknown table in heso.toml":
        assert "rule \"" not in str(error), error


def test_identity_pub_is_not_needed_to_open(project: Path) -> None:
    pub = project / "heso-local-data" / "identity.pub"
    did = pub.read_text().strip()
    # A garbage copy disagrees with heso.toml's pin and the key file: an error naming it.
    pub.write_bytes(b"garbage \xff not a did:key\n")
    raises(heso.ConfigError, "identity.pub", lambda: heso.init(project))
    for content in (None,):
        pub.unlink()
        before = snapshot(project)
        heso.init(project)  # the key file is the authority; identity.pub is a convenience

        @heso.tool
        def search(query: str) -> str:
            return query

        assert search("x") == "x"
        line = log_lines(project)[-1].encode()
        verdict = heso.verify(line)
        assert verdict.ok and verdict.operator == did, verdict
        after = snapshot(project)
        for name, content in before.items():
            if not name.endswith("receipts.jsonl"):
                assert after[name] == content, name
        # identity.pub is neither recreated nor repaired behind the user's back.
        assert after.get("heso-local-data/identity.pub") == before.get("heso-local-data/identity.pub")


def make_file(path: Path) -> Path:
    path.write_text("not a folder")
    return path


PROJECT_PATHS: list[tuple[str, Callable[[Path], Any], str]] = [
    ("a missing folder", lambda tmp: tmp / "nowhere", "no heso.toml in"),
    ("a file, not a folder", lambda tmp: make_file(tmp / "a-file"), "a-file"),
    ("bytes that are not UTF-8", lambda tmp: os.fsencode(tmp) + b"/caf\xe9", "no heso.toml in"),
    ("a NUL byte", lambda tmp: f"{tmp}/a\x00b", "no heso.toml in"),
]


@pytest.mark.parametrize("where, fragment", [(c[1], c[2]) for c in PROJECT_PATHS], ids=[c[0] for c in PROJECT_PATHS])
def test_init_on_a_path_with_no_project(tmp_path: Path, where: Callable[[Path], Any], fragment: str) -> None:
    path = where(tmp_path)
    raises(heso.ConfigError, fragment, lambda: heso.init(path))
    core_path = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    raises(heso.ConfigError, fragment, lambda: _core.Project(core_path))
    raises(TypeError, "", lambda: heso.init(42))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Passphrases: a value that is not UTF-8 is an error naming the variable, never read as
# unset (which would try the dev file); a wrong one says which source was tried.

def test_a_passphrase_that_is_not_utf8_is_refused(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(project)
    for var in (b"HESO_KEY_PASSPHRASE", b"HESO_ENV"):
        monkeypatch.setitem(os.environb, var, LATIN1_PASSPHRASE)
        for open_it in (lambda: heso.init(project), lambda: _core.Project(str(project))):
            error = raises(
                heso.ConfigError,
                f"{var.decode()} is set but is not valid UTF-8 (its value is not shown)",
                open_it,
            )
            assert "sswort" not in str(error)
        monkeypatch.delitem(os.environb, var)
    # A valid passphrase that does not open the key says which source was tried.
    monkeypatch.setenv("HESO_KEY_PASSPHRASE", "not the passphrase")
    error = raises(heso.ConfigError, "the passphrase from HESO_KEY_PASSPHRASE does not open", lambda: heso.init(project))
    assert "not the passphrase" not in str(error)
    monkeypatch.delenv("HESO_KEY_PASSPHRASE")
    assert snapshot(project) == before
    heso.init(project)  # the dev file still opens it


def run_console(args: list[bytes], cwd: Path, env_bytes: dict[bytes, bytes]) -> subprocess.CompletedProcess[bytes]:
    env: dict[bytes, bytes] = {
        os.fsencode(k): os.fsencode(v) for k, v in os.environ.items() if k not in HESO_VARS
    }
    env.update(env_bytes)
    return subprocess.run(
        [os.fsencode(heso_cli()), *args], cwd=cwd, env=env, capture_output=True, timeout=120
    )


def test_the_console_script_refuses_a_passphrase_that_is_not_utf8(project: Path) -> None:
    before = snapshot(project)
    for args, var in [
        ([b"demo"], b"HESO_KEY_PASSPHRASE"),
        ([b"pending"], b"HESO_KEY_PASSPHRASE"),
        ([b"keys", b"passphrase"], b"HESO_KEY_PASSPHRASE"),
        ([b"keys", b"new-approver", b"bob", b"--out", b"bob.key"], b"HESO_APPROVER_PASSPHRASE"),
    ]:
        run = run_console(args, project, {var: LATIN1_PASSPHRASE})
        assert run.returncode == 2, run
        assert run.stderr.startswith(b"heso: error: " + var + b" is set but is not valid UTF-8"), run.stderr
        assert b"sswort" not in run.stdout + run.stderr
        assert b"Traceback" not in run.stderr
    assert not (project / "bob.key").exists()
    assert snapshot(project) == before


# ---------------------------------------------------------------------------------------
# heso._core.Project.gate: the raw entry point the SDK uses, fed bad values directly.

GATE_CASES: list[tuple[str, dict[str, Any], type[BaseException], str]] = [
    ("unknown verb", {"verb": "nope"}, ValueError, 'unknown verb "nope" (llm_call, tool_call, http_request'),
    ("huge verb", {"verb": "v" * 10_000}, ValueError, "(10000 characters)"),
    ("unknown redact_mode", {"redact_mode": "shred"}, ValueError, 'redact_mode must be commit_and_reveal or destructive, not "shred"'),
    ("fields not JSON", {"fields_json": "{not json"}, ValueError, "fields_json is not valid JSON: "),
    ("fields empty", {"fields_json": ""}, ValueError, "fields_json is not valid JSON"),
    ("fields an array", {"fields_json": "[]"}, ValueError, "fields_json must be a JSON object, not an array"),
    ("fields null", {"fields_json": "null"}, ValueError, "fields_json must be a JSON object, not null"),
    ("fields a string", {"fields_json": '"secret"'}, ValueError, "not a string"),
    ("fields with trailing garbage", {"fields_json": '{"a":1} x'}, ValueError, "trailing characters"),
    ("duplicate keys", {"fields_json": '{"a":1,"a":2}'}, ValueError, "duplicate"),
    ("integer past 2**53", {"fields_json": '{"a":123456789012345678901234567890}'}, ValueError, "integer"),
    ("lone surrogate escape", {"fields_json": '{"a":"\\ud800"}'}, ValueError, "lone surrogate"),
    ("200 levels deep (past JSON's limit)", {"fields_json": '{"a":' + "[" * 200 + "]" * 200 + "}"}, ValueError, "recursion limit exceeded"),
    ("100 levels deep (past the gate's)", {"fields_json": '{"a":' + "[" * 100 + "]" * 100 + "}"}, heso.GateError, "the action's fields nest more than 64 levels deep"),
    ("bad redact path", {"redact": ["a..b"]}, ValueError, 'redact: field path "a..b" has an empty segment at character 2'),
    ("empty tool name given", {"name": ""}, ValueError, "name must not be empty"),
    ("redact not strings", {"redact": [1]}, TypeError, "str"),
    ("tool_name not a str", {"tool_name": None}, TypeError, "str"),
    ("tool_name with a lone surrogate", {"tool_name": "\udcff"}, UnicodeEncodeError, "surrogates not allowed"),
]


@pytest.mark.parametrize(
    "override, expected, fragment", [c[1:] for c in GATE_CASES], ids=[c[0] for c in GATE_CASES]
)
def test_core_gate_refuses_bad_values(
    opened: Path, override: dict[str, Any], expected: type[BaseException], fragment: str
) -> None:
    project = _core.Project(str(opened))
    arguments: dict[str, Any] = {
        "verb": "tool_call",
        "tool_name": "search",
        "workflow": "default",
        "account": "default",
        "target_host": None,
        "fields_json": '{"api_key":"sk-live-secret"}',
        "redact": [],
        "redact_mode": "commit_and_reveal",
        "blocking": True,
    }
    arguments.update(override)
    before = snapshot(opened)

    def gate() -> Any:
        # The verb, redact paths and mode are checked once, into the options; the call
        # then relies on them.
        options = _core.Options(
            arguments.pop("name", None),
            arguments.pop("redact"),
            arguments.pop("redact_mode"),
            arguments.pop("blocking"),
            arguments.pop("verb"),
        )
        return project.gate(options, **arguments)

    error = raises(expected, fragment, gate)
    assert "sk-live-secret" not in str(error)
    assert snapshot(opened) == before
    # The same project still gates a good call afterwards.
    options = _core.Options(None, [], "destructive", True, "tool_call")
    good = project.gate(options, "search", "default", "default", None, "{}")
    assert isinstance(good, _core.Outcome)
    assert (good.status, good.decision, good.observed, good.pending_id) == ("allowed", "allow", False, None)


# ---------------------------------------------------------------------------------------
# heso._core.run_cli, and the console script, with bad argv.

def test_run_cli_with_bad_argv(opened: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (opened / "garbage.json").write_bytes(b"\xff\x00 not a receipt")
    before = snapshot(opened)
    cases: list[tuple[list[str], int, str]] = [
        ([], 2, "Usage: heso <COMMAND>"),
        (["heso"], 2, "Usage: heso <COMMAND>"),
        (["heso", "--bogus"], 2, "unexpected argument '--bogus'"),
        (["heso", "verify"], 2, "required arguments were not provided"),
        (["heso", "verify", "garbage.json"], 1, "Malformed"),
        (["heso", "verify", "zz"], 2, "heso: error:"),
        (["heso", "show", "\x00"], 2, "heso: error:"),
        # What sys.argv holds for an argument that is not UTF-8: a lone surrogate.
        (["heso", "verify", "caf\udce9.json"], 2, "invalid UTF-8"),
        (["heso", "log", "list", "--verb", "\udcff"], 2, "invalid UTF-8"),
    ]
    for argv, code, fragment in cases:
        assert _core.run_cli(argv) == code, argv
        out, err = capfd.readouterr()
        assert fragment in out + err, (argv, out, err)
        assert "panicked" not in err
    raises(TypeError, "", lambda: _core.run_cli(None))  # type: ignore[arg-type]
    raises(TypeError, "", lambda: _core.run_cli(["heso", None]))  # type: ignore[list-item]
    assert snapshot(opened) == before


def test_the_console_script_with_an_argument_that_is_not_utf8(opened: Path) -> None:
    (opened / os.fsdecode(b"caf\xe9.json")).write_bytes(b"{}")
    before = snapshot(opened)
    run = run_console([b"verify", b"caf\xe9.json"], opened, {})
    assert run.returncode == 2, run
    assert b"heso: error:" in run.stderr or b"invalid UTF-8" in run.stderr, run.stderr
    assert b"Traceback" not in run.stderr and b"UnicodeEncodeError" not in run.stderr, run.stderr
    assert snapshot(opened) == before


# ---------------------------------------------------------------------------------------
# heso.wrap: a wrapped client's gated methods take awkward arguments like decorators do.

class HostileUrl:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


class Api:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def request(self, method: str, url: Any, **kwargs: Any) -> str:
        self.calls.append((method, url))
        return "response"

    def create(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        return "created"


def test_wrapped_calls_with_awkward_arguments(opened: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = Api()
    client = heso.wrap(api)
    before = log_lines(opened)
    # A URL whose str() raises: heso cannot tell where it goes, so it refuses it before
    # anything is recorded (no host would slip past a rule on hosts); it is not sent.
    raises(heso.GateError, "cannot tell which host", lambda: client.request("GET", HostileUrl()))
    assert api.calls == []
    assert client.create(messages=[Hostile()], n=10**5000, blob=b"\xff") == "created"
    after = log_lines(opened)
    assert len(after) == len(before) + 1 and len(api.calls) == 1
    assert heso.verify(after[-1].encode()).ok
    fields = json.loads(after[-1])["content"]["action"]["fields"]
    assert fields["messages"] == ["<Hostile>"] and fields["blob"] == {"$bytes_b64": "/w=="}

    monkeypatch.setattr(heso._state, "_project", None)
    snap = snapshot(opened)
    raises(heso.ConfigError, "heso.init() has not been called", lambda: client.create(model="m"))
    assert snapshot(opened) == snap and len(api.calls) == 1
