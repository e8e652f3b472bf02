"""Reading scenario files: TOML parsing, embedded scenarios, ``extends`` and merging."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from ._errors import ScenarioError
from ._files import read_regular_file, resolved
from ._models import check_rule_names, hint, validate_file
from ._scenario import Scenario, build_scenario, require_complete, require_provenance
from .events_csv import resolve_events_file

MAX_BYTES = 5_000_000
MAX_EXTENDS_DEPTH = 16
#: parts of one dotted key or table header (``a.b.c`` has 3); the format needs at most 3
MAX_KEY_DEPTH = 8
#: characters of one key or table header (the longest the format knows is under 60)
MAX_KEY_LENGTH = 200
_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
#: a key as TOML writes it: bare or quoted parts joined by dots (one way to match: linear)
_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')"""
_DOTTED_KEY = re.compile(rf"\s*{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*\s*")
_INLINE_START = re.compile(r"[{,]")
_AT_END = re.compile(r"\s*\(at end of document\)$")


@dataclass(frozen=True)
class _Origin:
    """Where a scenario document comes from."""

    source: str  # shown in errors and recorded in Scenario.source
    identity: str  # for cycle detection
    base_dir: Path | None  # for `extends` by path; None: embedded names only
    embedded: bool = False


def _embedded_dir() -> Traversable:
    return resources.files("lipsteeth").joinpath("scenarios")


def embedded_names() -> list[str]:
    """Names of the scenarios shipped in ``lipsteeth/scenarios``."""
    return sorted(
        item.name.removesuffix(".toml")
        for item in _embedded_dir().iterdir()
        if item.name.endswith(".toml") and item.is_file()
    )


def _looks_like_path(text: str) -> bool:
    return text.endswith(".toml") or "/" in text or "\\" in text or text.startswith(".")


def _read_path(path: Path, source: str) -> str:
    return _decode(read_regular_file(path, source, MAX_BYTES, "scenario file"), source)


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            source, "file", f"not UTF-8 text (bad byte at offset {exc.start})"
        ) from None


def _parse(text: str, source: str) -> dict[str, Any]:
    """TOML text to a dict; malformed TOML is reported with its line number."""
    if len(text) > MAX_BYTES:
        raise ScenarioError(source, "file", f"larger than {MAX_BYTES:,} characters")
    _check_keys(text, source)
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise ScenarioError(source, "document", "malformed TOML: nested too deeply") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError and anything tomllib lets through
        message = str(exc)
        position = _POSITION.search(message)
        if position:
            line, column = position.groups()
            reason = f"malformed TOML: {message[: position.start()]} (column {column})"
            raise ScenarioError(source, f"line {line}", reason) from None
        if _AT_END.search(message):
            line = str(max(len(text.splitlines()), 1))
            reason = f"malformed TOML: {_AT_END.sub('', message)} (at end of document)"
            raise ScenarioError(source, f"line {line}", reason) from None
        raise ScenarioError(source, "document", f"malformed TOML: {message}") from None


def _check_keys(text: str, source: str) -> None:
    """Refuse a key or table header deeper or longer than any the format has, before tomllib.

    tomllib takes time and memory quadratic in the depth of a dotted key (a 126 KB
    ``a.a.a...`` took over 10 GB and 120 s; issue 17, item 7).  The check is on the
    raw lines: a line inside a multi-line string that happens to look like a long key
    is refused too, which no scenario needs.  The error names the line, not its text.
    """
    for number, line in enumerate(text.splitlines(), start=1):
        for key in (_key_of(line), *_inline_keys(line)):
            if len(key) > MAX_KEY_LENGTH:
                raise ScenarioError(
                    source, f"line {number}", f"a key longer than {MAX_KEY_LENGTH} characters"
                )
            if key.count(".") + 1 > MAX_KEY_DEPTH:
                raise ScenarioError(
                    source, f"line {number}", f"a dotted key of more than {MAX_KEY_DEPTH} parts"
                )


def _inline_keys(line: str) -> list[str]:
    """Keys of inline tables on a line: after a ``{`` or ``,``, up to the next ``=``.

    ``x = {a.a.a... = 1}`` (or ``[{a.a.a... = 1}]``) passed the check of line keys and
    cost tomllib the same quadratic time: 5 s at 63,000 parts, hours for a 5 MB line.
    Only text that is a key by TOML's grammar counts, so a string holding a comma and an
    ``=`` is refused only if what lies between them is itself a 9-part dotted key or a
    key of more than 200 characters.  Linear in the line's length.
    """
    if "{" not in line and "," not in line:
        return []
    keys = []
    for piece in _INLINE_START.split(line)[1:]:
        key, equals, _ = piece.partition("=")
        too_big = key.count(".") >= MAX_KEY_DEPTH or len(key) > MAX_KEY_LENGTH
        if equals and too_big and _DOTTED_KEY.fullmatch(key):
            keys.append(key)
    return keys


def _key_of(line: str) -> str:
    """The key text of a ``key = value`` line or a ``[table]`` header ("" for other lines)."""
    text = line.strip()
    if text.startswith("["):
        return text.lstrip("[").split("]", 1)[0]
    key, equals, _ = text.partition("=")
    return key if equals else ""


def _embedded_origin(name: str) -> _Origin:
    return _Origin(source=name, identity=f"embedded:{name}", base_dir=None, embedded=True)


def _file_origin(path: Path) -> _Origin:
    full = resolved(path, str(path))
    return _Origin(source=str(path), identity=f"file:{full}", base_dir=full.parent)


def _read(origin: _Origin) -> str:
    if origin.embedded:
        resource = _embedded_dir().joinpath(f"{origin.source}.toml")
        return _decode(resource.read_bytes(), origin.source)
    return _read_path(Path(origin.identity.removeprefix("file:")), origin.source)


def _parent_origin(extends: str, child: _Origin) -> _Origin:
    """The scenario named by a child's ``extends``: an embedded name or a path."""
    if _looks_like_path(extends):
        if child.embedded:
            raise ScenarioError(
                child.source, "scenario.extends", "an embedded scenario extends embedded names only"
            )
        if child.base_dir is None:
            raise ScenarioError(
                child.source,
                "scenario.extends",
                "extends by path needs a file (use load_scenario(path)); "
                "scenario text may extend embedded names only",
            )
        return _file_origin(child.base_dir / extends)
    names = embedded_names()
    if extends not in names:
        raise ScenarioError(
            child.source,
            "scenario.extends",
            f"no embedded scenario {extends!r}{hint(extends, names)} "
            f"(embedded: {', '.join(names)}; a path must end in .toml)",
        )
    return _embedded_origin(extends)


def _merge(
    parent: dict[str, Any], child: dict[str, Any], replace_events: bool, source: str
) -> dict:
    """The child's keys over its resolved parent's."""
    merged: dict[str, Any] = {
        "scenario": {**parent["scenario"], **child["scenario"]},
        "parameters": {group: dict(entries) for group, entries in parent["parameters"].items()},
        "levers": dict(parent["levers"]),
    }
    default = f"override in {source}"
    for group, entries in child.get("parameters", {}).items():
        for name, entry in entries.items():
            merged["parameters"][group][name] = {
                **parent["parameters"][group][name],
                "provenance": default,
                **entry,
            }
    for name, entry in child.get("levers", {}).items():
        merged["levers"][name] = {**parent["levers"][name], "provenance": default, **entry}
    events = child.get("events", [])
    merged["events"] = list(events) if replace_events else [*parent["events"], *events]
    rules = child.get("rules", [])
    merged["rules"] = list(rules) if replace_events else [*parent.get("rules", []), *rules]
    check_rule_names(merged["rules"], source)
    return merged


def _resolve(text: str, origin: _Origin, chain: tuple[str, ...]) -> dict[str, Any]:
    """A complete document: the file's own keys, merged over its ``extends`` chain."""
    document = validate_file(_parse(text, origin.source), origin.source)
    header = document["scenario"]
    source = origin.source
    if "name" not in header:
        raise ScenarioError(source, "scenario.name", "required key is missing")
    if origin.embedded:
        if header["name"] != source:
            raise ScenarioError(
                source,
                "scenario.name",
                f"an embedded scenario's name must be its file name {source!r}",
            )
        require_provenance(document, source)
    events_file = header.pop("events_file", None)
    if events_file is not None:
        base = _embedded_dir() if origin.embedded else origin.base_dir
        own = resolve_events_file(events_file, base, source, embedded=origin.embedded)
        document["events"] = [*own, *document.get("events", [])]
    extends = header.pop("extends", None)
    replace_events = header.pop("replace_events", False)
    if extends is None:
        if replace_events:
            raise ScenarioError(source, "scenario.replace_events", "only meaningful with extends")
        require_complete(document, source)
        document.setdefault("events", [])
        return document
    parent = _parent_origin(extends, origin)
    here = (*chain, origin.identity)
    if parent.identity in here:
        cycle = " -> ".join(item.split(":", 1)[1] for item in (*here, parent.identity))
        raise ScenarioError(source, "scenario.extends", f"extends cycle: {cycle}")
    if len(here) >= MAX_EXTENDS_DEPTH:
        raise ScenarioError(
            source, "scenario.extends", f"extends chain deeper than {MAX_EXTENDS_DEPTH} files"
        )
    resolved = _resolve(_read(parent), parent, here)
    return _merge(resolved, document, replace_events, source)


def load_scenario_text(
    text: str, source: str = "<string>", *, base_dir: str | os.PathLike[str] | None = None
) -> Scenario:
    """A scenario from TOML text.

    ``source`` names the text in errors and in ``Scenario.source``.  ``extends``
    may name an embedded scenario; a path in ``extends`` is refused unless
    ``base_dir`` is given (paths are relative to it), so text from an untrusted
    client cannot make the loader read files.
    """
    if isinstance(text, bytes | bytearray):
        text = _decode(bytes(text), source)
    if not isinstance(text, str):
        raise ScenarioError(source, "document", f"expected TOML text, got {type(text).__name__}")
    base = Path(base_dir).resolve() if base_dir is not None else None
    origin = _Origin(source=source, identity=f"text:{source}", base_dir=base)
    return build_scenario(_resolve(text, origin, ()), source)


def load_scenario(name_or_path: str | os.PathLike[str]) -> Scenario:
    """An embedded scenario by name (``"baseline-2016"``) or a scenario file by path.

    A string ending in ``.toml`` or containing a path separator is a path; any
    other string is an embedded name first, then a path if such a file exists.
    """
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(str(name_or_path)):
        origin = _file_origin(Path(name_or_path))
    else:
        name = str(name_or_path)
        names = embedded_names()
        if name in names:
            origin = _embedded_origin(name)
        elif Path(name).is_file():
            origin = _file_origin(Path(name))
        else:
            raise ScenarioError(
                name,
                "scenario",
                f"no embedded scenario or file of that name{hint(name, names)} "
                f"(embedded: {', '.join(names)})",
            )
    return build_scenario(_resolve(_read(origin), origin, ()), origin.source)


def list_scenarios() -> list[tuple[str, str]]:
    """``(name, title)`` of every embedded scenario, by name."""
    return [(name, load_scenario(name).title) for name in embedded_names()]
