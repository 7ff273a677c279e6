"""The conversion of Python values to a receipt's fields (issue 19): one walker, in Rust
(heso._core), with its limits (depth, integer range, value count) defined there once.
Each limit is tested at its edge, through ``heso.to_json_value`` and through a gated call;
and ``heso._core``'s stub is checked against the module by mypy's stubtest."""

from __future__ import annotations

import collections
import dataclasses
import decimal
import enum
import fractions
import json
import subprocess
import sys
import uuid
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, NamedTuple

import pytest

import heso
from heso import _core


def nest(levels: int, inner: Any = 1) -> Any:
    """``inner`` inside ``levels`` lists: it sits at depth ``levels``."""
    value = inner
    for _ in range(levels):
        value = [value]
    return value


def innermost(value: Any) -> Any:
    while isinstance(value, list):
        value = value[0]
    return value


def test_the_limits_are_the_cores() -> None:
    assert _core.MAX_DEPTH == 64
    assert _core.MAX_VALUES == 1_000_000
    assert _core.MAX_SAFE_INTEGER == 2**53 - 1
    assert (_core.TOO_DEEP, _core.TOO_LARGE) == ("[too deep]", "[too large]")


def test_depth_is_cut_just_past_the_limit() -> None:
    assert innermost(heso.to_json_value(nest(64))) == 1
    assert innermost(heso.to_json_value(nest(65))) == "[too deep]"
    assert heso.to_json_value(nest(65)) == nest(65, "[too deep]")
    # The depth a conversion starts at counts.
    assert innermost(heso.to_json_value(nest(60), 4)) == 1
    assert innermost(heso.to_json_value(nest(61), 4)) == "[too deep]"
    deep_dict: dict[str, Any] = {}
    for _ in range(70):
        deep_dict = {"d": deep_dict}
    cut = json.dumps(heso.to_json_value(deep_dict))
    assert cut.count("{") == 65 and '"[too deep]"' in cut


def test_integers_are_kept_up_to_the_safe_range_and_written_as_text_past_it() -> None:
    edge = 2**53 - 1
    assert heso.to_json_value([edge, -edge]) == [edge, -edge]
    assert heso.to_json_value([edge + 1, -edge - 1]) == ["9007199254740992", "-9007199254740992"]
    assert heso.to_json_value(10**30) == "1" + "0" * 30
    assert heso.to_json_value(True) is True  # a bool is never a number


def test_the_value_budget_is_shared_by_the_whole_call() -> None:
    exact = list(range(_core.MAX_VALUES))
    assert heso.to_json_value(exact) == exact
    over = heso.to_json_value(list(range(_core.MAX_VALUES + 1)))
    assert len(over) == _core.MAX_VALUES + 1 and over[-1] == "[too large]" and over[-2] == _core.MAX_VALUES - 1
    # Two inner lists: the outer list's 2 items, then the first list's 600,000, leave
    # 399,998 for the second.
    halves = heso.to_json_value([[0] * 600_000, [0] * 600_000])
    assert len(halves[0]) == 600_000
    assert len(halves[1]) == 399_999 and halves[1][-1] == "[too large]"
    big = heso.to_json_value({i: i for i in range(_core.MAX_VALUES + 5)})
    assert len(big) == _core.MAX_VALUES + 1 and big["[too large]"] == "[too large]"


@pytest.fixture
def opened(project: Path) -> Iterator[Path]:
    heso.init()
    yield project
    heso.shutdown()


def last_fields(root: Path) -> dict[str, Any]:
    line = (root / "heso-local-data" / "receipts.jsonl").read_text().splitlines()[-1]
    fields: dict[str, Any] = json.loads(line)["content"]["action"]["fields"]
    return fields


def test_the_limits_hold_through_a_gated_call(opened: Path) -> None:
    @heso.tool
    def take(value: Any) -> str:
        return "ran"

    # The call's fields are depth 0, so an argument's innermost value at 63 levels is at 64.
    assert take(nest(63)) == "ran"
    assert innermost(last_fields(opened)["value"]) == 1
    assert take(nest(64)) == "ran"
    assert innermost(last_fields(opened)["value"]) == "[too deep]"
    assert take([2**53 - 1, 2**53]) == "ran"
    assert last_fields(opened)["value"] == [2**53 - 1, "9007199254740992"]
    # The fields dict takes one value of the budget.
    assert take(list(range(_core.MAX_VALUES - 1))) == "ran"
    assert last_fields(opened)["value"][-1] == _core.MAX_VALUES - 2
    assert take(list(range(_core.MAX_VALUES))) == "ran"
    value = last_fields(opened)["value"]
    assert len(value) == _core.MAX_VALUES and value[-2:] == [_core.MAX_VALUES - 2, "[too large]"]
    verdict = heso.verify((opened / "heso-local-data" / "receipts.jsonl").read_text().splitlines()[-1])
    assert verdict.ok, verdict


class Color(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 3


@dataclasses.dataclass
class Point:
    x: int
    y: Any


class Pair(NamedTuple):
    a: int
    b: str


class Model:
    def model_dump(self) -> dict[str, Any]:
        return {"id": 7, "tags": ("a", "b")}


class Interrupting:
    def model_dump(self) -> Any:
        raise KeyboardInterrupt


def test_the_documented_rule_by_type() -> None:
    cases: list[tuple[Any, Any]] = [
        (None, None),
        (1.5, 1.5),
        ("caf\u00e9", "caf\u00e9"),
        (Color.RED, "red"),
        (Size.BIG, 3),
        (decimal.Decimal("5000.00"), "5000.00"),
        (decimal.Decimal("5E+3"), "5000"),
        (decimal.Decimal("-Infinity"), "-Infinity"),
        (fractions.Fraction(3, 4), "3/4"),
        (fractions.Fraction(8, 4), "2"),
        (float("nan"), "NaN"),
        (b"\x00\xff", {"$bytes_b64": "AP8="}),
        (memoryview(b"ab"), {"$bytes_b64": "YWI="}),
        (Point(1, {2: "x"}), {"x": 1, "y": {"2": "x"}}),
        (Pair(1, "b"), {"a": 1, "b": "b"}),
        (Model(), {"id": 7, "tags": ["a", "b"]}),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (PurePosixPath("/tmp/x"), "/tmp/x"),
        (collections.OrderedDict(b=1, a=2), {"b": 1, "a": 2}),
        ({(1, "a"): 1, None: 2, True: 3, 1.5: 4, b"k": 5}, {'[1, "a"]': 1, "None": 2, "True": 3, "1.5": 4, "k": 5}),
        ({1: "one", "1": "text"}, {"1": "one", "1#2": "text"}),
        ({3, 1, 2}, [1, 2, 3]),
        (frozenset({"b", "a"}), ["a", "b"]),
        (Point, "<type>"),
        (print, "<builtin_function_or_method>"),
        (range(3), [0, 1, 2]),
    ]
    for value, expected in cases:
        assert heso.to_json_value(value) == expected, value


def test_an_interrupt_inside_a_value_is_not_swallowed() -> None:
    with pytest.raises(KeyboardInterrupt):
        heso.to_json_value({"m": Interrupting()})


ALLOWLIST = Path(__file__).with_name("stubtest-allowlist.txt")


def test_the_stub_matches_the_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "heso._core", "--allowlist", str(ALLOWLIST)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
