"""How Python values become JSON fields of a receipt.

The rule, applied recursively, never raises:

- ``None``, ``bool``, ``str`` and ``float``/``int`` within range are kept;
- integers outside +/-(2**53 - 1) become their decimal string (exact at any size, past
  Python's 4,300-digit ``int``-to-``str`` limit too);
- NaN and the infinities become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``;
- strings with lone surrogates have each lone surrogate replaced by U+FFFD;
- ``dict`` keys that are not strings become ``str(key)`` (a later duplicate gets the
  suffix ``#2``, ``#3``...);
- ``list`` and ``tuple`` become arrays; ``set`` and ``frozenset`` become sorted arrays
  (sorted by their JSON text, so the order is stable);
- ``bytes``/``bytearray``/``memoryview`` become ``{"$bytes_b64": "..."}``;
- dataclasses become objects of their fields; pydantic models become ``model_dump()``;
  objects with ``_asdict()`` (namedtuples) become objects; enums become their value;
  ``datetime``/``date``/``time`` become ISO 8601 strings; ``Decimal``/``UUID``/``Path``
  become strings;
- anything else becomes ``repr(value)`` (truncated to 1,000 characters; an object whose
  ``repr``, ``str`` or attribute lookup raises becomes ``"<TypeName>"``);
- nesting deeper than 64 levels is cut with the string ``"[too deep]"``;
- after 1,000,000 values (shared references count each time they appear, so a small
  object graph that expands hugely is caught), the rest of each container is replaced by
  one ``"[too large]"``: the last item of a list, or the value of the key
  ``"[too large]"`` in a dict.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import math
import pathlib
import uuid
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 64
MAX_VALUES = 1_000_000
TOO_DEEP = "[too deep]"
TOO_LARGE = "[too large]"


def _clean_str(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def _type_name(value: Any) -> str:
    try:
        return f"<{type(value).__name__}>"
    except Exception:  # pragma: no cover - type() and __name__ do not fail in practice
        return "<object>"


def _safe_text(value: Any, convert: Any) -> str:
    """``convert(value)`` (``str`` or ``repr``), cleaned and cut; never raises."""
    try:
        text = convert(value)
        if not isinstance(text, str):
            text = _type_name(value)
    except Exception:
        text = _type_name(value)
    return _clean_str(text[:1000])


def _int_text(value: int) -> str:
    """The exact decimal text of any int, past the interpreter's digit limit too."""
    try:
        return str(value)
    except ValueError:  # more digits than sys.get_int_max_str_digits() allows
        return format(decimal.Decimal(value), "f")


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


def _convert_unguarded(value: Any, depth: int, budget: _Budget) -> Any:
    if depth > MAX_DEPTH:
        return TOO_DEEP
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else _int_text(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, str):
        return _clean_str(value)
    if isinstance(value, enum.Enum):
        return _convert(value.value, depth + 1, budget)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not budget.take():
                out[TOO_LARGE] = TOO_LARGE
                break
            if isinstance(key, str):
                name = _clean_str(key)
            elif isinstance(key, int) and not isinstance(key, bool):
                name = _int_text(key)
            else:
                name = _safe_text(key, str)
            unique, n = name, 1
            while unique in out:
                n += 1
                unique = f"{name}#{n}"
            out[unique] = _convert(item, depth + 1, budget)
        return out
    if isinstance(value, (list, tuple)) and not hasattr(value, "_asdict"):
        return _items(value, depth + 1, budget)
    if isinstance(value, (set, frozenset)):
        items = _items(value, depth + 1, budget)
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes_b64": base64.b64encode(bytes(value)).decode("ascii")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _convert(getattr(value, f.name, None), depth + 1, budget)
            for f in dataclasses.fields(value)
        }
    try:
        dump = getattr(value, "model_dump", None)
    except Exception:
        dump = None
    if callable(dump):
        try:
            return _convert(dump(), depth + 1, budget)
        except Exception:  # a broken model must not break the gate
            pass
    try:
        as_dict = getattr(value, "_asdict", None)
    except Exception:
        as_dict = None
    if callable(as_dict):
        try:
            return _convert(dict(as_dict()), depth + 1, budget)
        except Exception:
            pass
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID, pathlib.PurePath)):
        return _safe_text(value, str)
    return _safe_text(value, repr)


def fields_json(fields: dict[str, Any]) -> str:
    """The JSON text of a call's fields, for the Rust core."""
    return json.dumps(to_json_value(fields), ensure_ascii=False, allow_nan=False)
