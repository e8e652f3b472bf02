"""A small TOML writer (the standard library only reads TOML).

It writes the subset of TOML a scenario document needs, plus what the
property tests throw at it: tables, arrays of tables, inline arrays and
tables, strings, booleans, integers, floats (``inf`` and ``nan`` included),
dates, date-times and times.  ``tomllib.loads(dumps(doc)) == doc`` for any
such document (floats compared by value).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _escape(text: str, keep_newlines: bool = False) -> str:
    out = []
    for char in text:
        if keep_newlines and char == "\n":
            out.append(char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def key(name: str) -> str:
    """A TOML key: bare when possible, else a quoted basic string."""
    return name if _BARE_KEY.match(name) else f'"{_escape(name)}"'


def string(text: str) -> str:
    """A basic string; a multi-line basic string when ``text`` spans lines."""
    if "\n" in text:
        return '"""\n' + _escape(text, keep_newlines=True) + '"""'
    return f'"{_escape(text)}"'


def value(item: Any) -> str:
    """An inline TOML value."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        if math.isnan(item):
            return "nan"
        if math.isinf(item):
            return "inf" if item > 0 else "-inf"
        return repr(item)
    if isinstance(item, str):
        return string(item)
    if isinstance(item, dt.datetime | dt.date | dt.time):
        return item.isoformat()
    if isinstance(item, Mapping):
        return "{" + ", ".join(f"{key(str(k))} = {value(v)}" for k, v in item.items()) + "}"
    if isinstance(item, Sequence):
        return "[" + ", ".join(value(v) for v in item) + "]"
    raise TypeError(f"cannot write {type(item).__name__} as TOML")


def _is_table(item: Any) -> bool:
    return isinstance(item, Mapping)


def _is_table_array(item: Any) -> bool:
    return (
        isinstance(item, Sequence)
        and not isinstance(item, str)
        and len(item) > 0
        and all(isinstance(v, Mapping) for v in item)
    )


def _emit(lines: list[str], path: list[str], table: Mapping[str, Any], array: bool) -> None:
    inline = [(k, v) for k, v in table.items() if not _is_table(v) and not _is_table_array(v)]
    tables = [(k, v) for k, v in table.items() if _is_table(v)]
    arrays = [(k, v) for k, v in table.items() if _is_table_array(v)]
    if path and (array or inline or not (tables or arrays)):
        name = ".".join(key(p) for p in path)
        if lines:
            lines.append("")
        lines.append(f"[[{name}]]" if array else f"[{name}]")
    lines.extend(f"{key(str(k))} = {value(v)}" for k, v in inline)
    for k, v in tables:
        _emit(lines, [*path, str(k)], v, array=False)
    for k, items in arrays:
        for item in items:
            _emit(lines, [*path, str(k)], item, array=True)


def dumps(document: Mapping[str, Any]) -> str:
    """``document`` as TOML text."""
    lines: list[str] = []
    _emit(lines, [], document, array=False)
    return "\n".join(lines) + "\n"
