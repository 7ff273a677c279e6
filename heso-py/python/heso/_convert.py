"""How Python values become JSON fields of a receipt.

The walker is in the Rust core (``heso._core.to_json_value``; a gated call's fields are
converted there directly, never through JSON text), and so are its limits
(``_core.MAX_DEPTH``, ``_core.MAX_SAFE_INTEGER``, ``_core.MAX_VALUES``). The rule, applied
recursively, never raises for a value (only a ``KeyboardInterrupt``, ``SystemExit`` or
other ``BaseException`` that is not an ``Exception`` passes through), and never writes a memory
address or an object's ``repr``:

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

from typing import Any

from . import _core

MAX_SAFE_INTEGER: int = _core.MAX_SAFE_INTEGER
MAX_DEPTH: int = _core.MAX_DEPTH
MAX_VALUES: int = _core.MAX_VALUES
TOO_DEEP: str = _core.TOO_DEEP
TOO_LARGE: str = _core.TOO_LARGE


def _clean_str(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def to_json_value(value: Any, depth: int = 0) -> Any:
    """Converts ``value`` by the rule above (``depth``: the nesting it starts at)."""
    return _core.to_json_value(value, depth)


def fields_json(fields: Any) -> str:
    """The JSON text of ``fields`` converted by the rule above."""
    return _core.fields_json(fields)
