"""How Python values become JSON fields of a receipt.

The rule, applied recursively, never raises, and never writes a memory address or an
object's ``repr``:

- ``None``, ``bool``, ``str`` and ``float``/``int`` within range are kept (``bool`` stays a
  boolean, never a number);
- integers outside +/-(2**53 - 1) become their decimal string (exact at any size, past
  Python's 4,300-digit ``int``-to-``str`` limit too); other integral numbers (NumPy's)
  count as integers, other real numbers as floats;
- ``Decimal`` becomes its exact decimal string in positional notation (``"5000.00"``,
  ``Decimal("5E+3")`` -> ``"5000"``), or its scientific form when that would take more
  than 4,300 digits; ``Fraction`` (any rational that is not an integer) becomes
  ``"n/d"``, or ``"n"`` when ``d`` is 1;
- NaN and the infinities become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``;
- strings with lone surrogates have each lone surrogate replaced by U+FFFD;
- mappings (``dict`` and any ``collections.abc.Mapping``) become objects; keys that are
  not strings become their converted value's text (``1`` -> ``"1"``, ``b"k"`` -> ``"k"``
  when it is UTF-8, ``(1, "a")`` -> ``'[1, "a"]'``, an object -> ``"<TypeName>"``); a later
  duplicate gets the suffix ``#2``, ``#3``...;
- sequences (``list``, ``tuple``, any ``collections.abc.Sequence``) become arrays; sets
  (any ``collections.abc.Set``) become sorted arrays (sorted by their JSON text, so the
  order is stable);
- ``bytes``/``bytearray``/``memoryview`` become ``{"$bytes_b64": "..."}``;
- dataclasses become objects of their fields; pydantic models (anything with
  ``model_dump()``) become ``model_dump()``; namedtuples become objects; enums become their
  value; ``datetime``/``date``/``time`` become ISO 8601 strings; ``UUID`` its hyphenated
  form and paths their text;
- anything else (an object without a data shape: a client, a function, a class) becomes
  ``"<TypeName>"``, its type's name only: its ``repr`` may hold secrets and addresses;
- nesting deeper than 64 levels is cut with the string ``"[too deep]"``;
- after 1,000,000 values (shared references count each time they appear, so a small
  object graph that expands hugely is caught), the rest of each container is replaced by
  one ``"[too large]"``: the last item of a list, or the value of the key
  ``"[too large]"`` in a dict.

Nothing here iterates what is not a data shape, so a generator argument is never consumed.
"""

from __future__ import annotations

import base64
import collections.abc
import dataclasses
import datetime
import decimal
import enum
import json
import math
import numbers
import pathlib
import uuid
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 64
MAX_VALUES = 1_000_000
TOO_DEEP = "[too deep]"
TOO_LARGE = "[too large]"
# Python's own default limit on int-to-str digits: past it a Decimal keeps its exponent.
MAX_DECIMAL_DIGITS = 4300


def _clean_str(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def _type_name(value: Any) -> str:
    """``"<TypeName>"``: all that is recorded of an object without a data shape."""
    try:
        name = type(value).__name__
        if not isinstance(name, str):
            return "<object>"
        return f"<{_clean_str(name)[:200]}>"
    except Exception:  # pragma: no cover - type() and __name__ do not fail in practice
        return "<object>"


def _int_text(value: int) -> str:
    """The exact decimal text of any int, past the interpreter's digit limit too."""
    try:
        return str(value)
    except ValueError:  # more digits than sys.get_int_max_str_digits() allows
        return format(decimal.Decimal(value), "f")


def _number(value: int) -> Any:
    """An int as JSON: itself within +/-(2**53 - 1), else its exact decimal string."""
    return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else _int_text(value)


def _decimal_text(value: decimal.Decimal) -> str:
    """Exact, in positional notation unless that would be absurdly long."""
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "Infinity" if value > 0 else "-Infinity"
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or abs(exponent) + len(digits) > MAX_DECIMAL_DIGITS:
        return str(value)
    return format(value, "f")


def _rational_text(numerator: int, denominator: int) -> str:
    if denominator == 1:
        return _int_text(numerator)
    return f"{_int_text(numerator)}/{_int_text(denominator)}"


def _key_text(key: Any, depth: int, budget: "_Budget") -> str:
    """A mapping key as an object key: a str as it is, anything else as the text of its
    converted value (never its ``str`` or ``repr``, which may hold an address)."""
    if isinstance(key, str):
        return _clean_str(str.__str__(key))
    if isinstance(key, (bytes, bytearray)):
        try:
            return bytes(key).decode("utf-8")
        except UnicodeDecodeError:
            pass
    converted = _convert(key, depth, budget)
    if isinstance(converted, str):
        return converted
    if converted is None or isinstance(converted, (bool, float)):
        return str(converted)  # as Python writes it: "None", "True", "1.5"
    if isinstance(converted, int):
        return _int_text(converted)
    return json.dumps(converted, ensure_ascii=False, sort_keys=True)


class _Budget:
    """How many more values may be converted in one call."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def to_json_value(value: Any, depth: int = 0) -> Any:
    """Converts ``value`` by the rule above."""
    return _convert(value, depth, _Budget(MAX_VALUES))


def _convert(value: Any, depth: int, budget: _Budget) -> Any:
    try:
        return _convert_unguarded(value, depth, budget)
    except RecursionError:
        return TOO_DEEP
    except Exception:  # hostile __getattr__, __class__, __iter__...: never break the gate
        return _type_name(value)


def _items(items: Any, depth: int, budget: _Budget) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if not budget.take():
            out.append(TOO_LARGE)
            break
        out.append(_convert(item, depth, budget))
    return out


def _mapping(items: Any, depth: int, budget: _Budget) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in items:
        if not budget.take():
            out[TOO_LARGE] = TOO_LARGE
            break
        name = _key_text(key, depth, budget)
        unique, n = name, 1
        while unique in out:
            n += 1
            unique = f"{name}#{n}"
        out[unique] = _convert(item, depth, budget)
    return out


def _float(value: float) -> Any:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _convert_unguarded(value: Any, depth: int, budget: _Budget) -> Any:
    if depth > MAX_DEPTH:
        return TOO_DEEP
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):  # before int and str: IntEnum, StrEnum
        return _convert(value.value, depth + 1, budget)
    if isinstance(value, int):
        return _number(int.__int__(value))
    if isinstance(value, float):
        return _float(float.__float__(value))
    if isinstance(value, str):
        return _clean_str(str.__str__(value))
    if isinstance(value, decimal.Decimal):
        return _decimal_text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes_b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return _mapping(value.items(), depth + 1, budget)
    if isinstance(value, (list, tuple)) and not hasattr(value, "_asdict"):
        return _items(value, depth + 1, budget)
    if isinstance(value, (set, frozenset)):
        items = _items(value, depth + 1, budget)
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _convert(getattr(value, f.name, None), depth + 1, budget)
            for f in dataclasses.fields(value)
        }
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return _clean_str(value.isoformat())
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, pathlib.PurePath):
        return _clean_str(str(value)[:1000])
    if not isinstance(value, type):  # a class is not its instances' data
        shaped = _shaped(value, depth, budget)
        if shaped is not _NO_SHAPE:
            return shaped
    return _type_name(value)


_NO_SHAPE = object()


def _shaped(value: Any, depth: int, budget: _Budget) -> Any:
    """Models, namedtuples, the collection ABCs and numbers of other libraries; else
    ``_NO_SHAPE``."""
    try:
        dump = getattr(value, "model_dump", None)
    except Exception:
        dump = None
    if callable(dump):
        try:
            return _convert(dump(), depth + 1, budget)
        except Exception:  # a broken model must not break the gate
            return _NO_SHAPE
    try:
        as_dict = getattr(value, "_asdict", None)
    except Exception:
        as_dict = None
    if callable(as_dict):
        try:
            return _convert(dict(as_dict()), depth + 1, budget)
        except Exception:
            return _NO_SHAPE
    if isinstance(value, collections.abc.Mapping):
        return _mapping(value.items(), depth + 1, budget)
    if isinstance(value, collections.abc.Sequence):
        return _items(value, depth + 1, budget)
    if isinstance(value, collections.abc.Set):
        items = _items(value, depth + 1, budget)
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, numbers.Integral):
        return _number(int(value))
    if isinstance(value, numbers.Rational):
        return _rational_text(int(value.numerator), int(value.denominator))
    if isinstance(value, numbers.Real):
        return _float(float(value))
    return _NO_SHAPE


def fields_json(fields: dict[str, Any]) -> str:
    """The JSON text of a call's fields, for the Rust core."""
    return json.dumps(to_json_value(fields), ensure_ascii=False, allow_nan=False)
