"""How Python values become JSON fields of a receipt.

The rule, applied recursively, never raises:

- ``None``, ``bool``, ``str`` and ``float``/``int`` within range are kept;
- integers outside +/-(2**53 - 1) become their decimal string;
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
- anything else becomes ``repr(value)`` (truncated to 1,000 characters);
- nesting deeper than 64 levels is cut with the string ``"[too deep]"``.
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


def _clean_str(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def to_json_value(value: Any, depth: int = 0) -> Any:
    """Converts ``value`` by the rule above."""
    if depth > MAX_DEPTH:
        return "[too deep]"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, str):
        return _clean_str(value)
    if isinstance(value, enum.Enum):
        return to_json_value(value.value, depth + 1)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _clean_str(key) if isinstance(key, str) else _clean_str(str(key))
            unique, n = name, 1
            while unique in out:
                n += 1
                unique = f"{name}#{n}"
            out[unique] = to_json_value(item, depth + 1)
        return out
    if isinstance(value, (list, tuple)) and not hasattr(value, "_asdict"):
        return [to_json_value(item, depth + 1) for item in value]
    if isinstance(value, (set, frozenset)):
        items = [to_json_value(item, depth + 1) for item in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes_b64": base64.b64encode(bytes(value)).decode("ascii")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json_value(getattr(value, f.name), depth + 1)
            for f in dataclasses.fields(value)
        }
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return to_json_value(dump(), depth + 1)
        except Exception:  # a broken model must not break the gate
            pass
    as_dict = getattr(value, "_asdict", None)
    if callable(as_dict):
        try:
            return to_json_value(dict(as_dict()), depth + 1)
        except Exception:
            pass
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID, pathlib.PurePath)):
        return str(value)
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return _clean_str(text[:1000])


def fields_json(fields: dict[str, Any]) -> str:
    """The JSON text of a call's fields, for the Rust core."""
    return json.dumps(to_json_value(fields), ensure_ascii=False, allow_nan=False)
