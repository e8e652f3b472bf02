"""Event timelines as CSV files: the dated inputs of a scenario as editable data.

A scenario's ``[[events]]`` (lever changes, forced nuclear and missile tests,
UN Security Council resolutions) may live in a CSV file instead of the TOML,
so that a user can edit or replace a timeline with a spreadsheet
(``lipsteeth run history --events my_events.csv``).  Events are *inputs*: they
move levers and conditions; they never carry outcome values.

File format (UTF-8, comma-separated, a header row naming these columns in any
order; every column must be present)::

    date,kind,lever,value,until,count,resolution,un_workers,un_coal,un_oil,un_seafood,un_textiles,source

One row per event.  Empty cells are absent keys.  Which cells a row may fill
depends on its ``kind`` (exactly the keys of the TOML ``[[events]]`` tables):

==================  =====================================================
kind                cells
==================  =====================================================
``lever``           date, lever, value, until (optional), source
``nuclear_test``    date, count (optional, default 1), source
``missile_test``    date, count (optional, default 1), source
``un_resolution``   date, resolution (optional), un_workers, un_coal,
                    un_oil, un_seafood, un_textiles (each optional, default
                    0: provision floors in [0, 1]), source
==================  =====================================================

Lines whose first character is ``#`` are comments and blank lines are
skipped (line numbers in errors count every physical line of the file).
Each row is validated by the same pydantic models as the TOML events of
``lipsteeth.scenario`` (dates, lever names and bounds, counts, provision
levels), so :func:`load_event_csv` returns exactly the event dicts an
equivalent ``[[events]]`` list produces.  Any problem is a one-line
:class:`~lipsteeth.scenario.ScenarioError` ``"<file>: line N: <column>: <reason>"``.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..core.timeline import UN_PROVISIONS
from ._errors import ScenarioError, show
from ._files import read_regular_file
from ._models import (
    EVENT_KINDS,
    MAX_EVENTS,
    Event,
    _check_event,
    _event_record,
    _reason,
    format_path,
    hint,
)
from ._scenario import Scenario, from_document

COLUMNS: tuple[str, ...] = (
    "date",
    "kind",
    "lever",
    "value",
    "until",
    "count",
    "resolution",
    *UN_PROVISIONS,
    "source",
)
MAX_BYTES = 5_000_000
#: what an unknown column may look like to be named in an error (else it is not echoed)
_COLUMN_LIKE = re.compile(r"[A-Za-z_][A-Za-z0-9_ ]{0,39}|")

# Cells each kind may fill (besides date, kind and source, which every row needs).
KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "lever": ("lever", "value", "until"),
    "nuclear_test": ("count",),
    "missile_test": ("count",),
    "un_resolution": ("resolution", *UN_PROVISIONS),
}
_FLOATS = frozenset({"value", *UN_PROVISIONS})
_INTEGERS = frozenset({"count"})

_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)


def _number(text: str, column: str, integer: bool, source: str, where: str) -> float | int:
    """A cell as a number; a readable error otherwise."""
    try:
        number = float(text)
    except ValueError:
        raise ScenarioError(source, where, f"not a number: {show(text)}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ScenarioError(source, where, f"must be a finite number (got {show(text)})")
    if integer:
        if not number.is_integer():
            raise ScenarioError(source, where, f"must be a whole number (got {show(text)})")
        return int(number)
    return number


def _row_event(cells: Mapping[str, str], line: int, source: str) -> dict[str, Any]:
    """One CSV row (non-empty cells) as a raw event mapping, before model validation."""
    kind = cells.get("kind", "")
    if not kind:
        raise ScenarioError(
            source, f"line {line}: kind", f"missing event kind (one of {', '.join(EVENT_KINDS)})"
        )
    if kind not in KIND_COLUMNS:
        raise ScenarioError(
            source,
            f"line {line}: kind",
            f"unknown event kind {kind!r}{hint(kind, list(EVENT_KINDS))}; "
            f"one of {', '.join(EVENT_KINDS)}",
        )
    allowed = {"date", "kind", "source", *KIND_COLUMNS[kind]}
    raw: dict[str, Any] = {}
    for column, text in cells.items():
        where = f"line {line}: {column}"
        if column not in allowed:
            raise ScenarioError(
                source,
                where,
                f"not used by events of kind {kind} (leave it empty; "
                f"{kind} uses {', '.join(sorted(allowed - {'kind'}))})",
            )
        if column in _FLOATS or column in _INTEGERS:
            raw[column] = _number(text, column, column in _INTEGERS, source, where)
        else:
            raw[column] = text
    return raw


def _validated(raw: Mapping[str, Any], line: int, source: str) -> dict[str, Any]:
    """A raw event checked by the scenario's event models, as the TOML loader records it."""
    try:
        model = _EVENT_ADAPTER.validate_python(dict(raw))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        loc, reason = _reason(errors[0])
        # drop the discriminated-union tag from the location, as the TOML loader does
        if loc and loc[0] in EVENT_KINDS:
            loc = loc[1:]
        column = format_path(loc) if loc else "row"
        if len(errors) > 1:
            more = len(errors) - 1
            reason += f" [+{more} more problem{'s' if more > 1 else ''}]"
        raise ScenarioError(source, f"line {line}: {column}", reason) from None
    record = _event_record(model)
    try:
        _check_event(record, 0, source)
    except ScenarioError as exc:
        column = exc.path.split(".")[-1]
        raise ScenarioError(source, f"line {line}: {column}", exc.reason) from None
    return record


def _content_lines(text: str) -> Iterable[tuple[int, str]]:
    """(physical line number, line) of every line that is not blank or a comment."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, line


def parse_event_csv(text: str, source: str = "<events>") -> list[dict[str, Any]]:
    """Events from CSV text (see the module doc), validated, in file order.

    Raises :class:`ScenarioError` ``(source, "line N: <column>", reason)`` on the
    first problem: a missing or unknown column, a cell a row's kind does not
    use, a malformed number or date, an unknown lever, a value outside the
    lever's bounds, ``until`` before ``date``, a provision level outside [0, 1].
    """
    if len(text) > MAX_BYTES:
        raise ScenarioError(source, "file", f"larger than {MAX_BYTES:,} characters")
    rows = list(_content_lines(text))
    if not rows:
        raise ScenarioError(source, "line 1", f"no header row (expected: {','.join(COLUMNS)})")
    numbers = [number for number, _ in rows]
    try:
        parsed = list(csv.reader(io.StringIO("\n".join(line for _, line in rows)), strict=True))
    except csv.Error as exc:
        raise ScenarioError(source, "file", f"malformed CSV: {exc}") from None
    if len(parsed) != len(rows):  # a quoted cell spanning lines
        raise ScenarioError(source, "file", "malformed CSV: a quoted cell spans several lines")
    header_line = numbers[0]
    header = [cell.strip() for cell in parsed[0]]
    if not any(column in COLUMNS for column in header):
        # not an event file at all (/proc/self/environ, a binary): name the line, never
        # echo it (issue 17, item 8)
        raise ScenarioError(
            source,
            f"line {header_line}",
            f"not an event CSV: no header row naming the columns ({','.join(COLUMNS)})",
        )
    for column in header:
        if column not in COLUMNS:
            shown = column if _COLUMN_LIKE.fullmatch(column) else "(not a column name)"
            raise ScenarioError(
                source,
                f"line {header_line}: {shown or '(empty column name)'}",
                f"unknown column{hint(column, list(COLUMNS))} (columns: {','.join(COLUMNS)})",
            )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise ScenarioError(
            source, f"line {header_line}: {duplicated[0]}", "column appears more than once"
        )
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise ScenarioError(
            source,
            f"line {header_line}: {missing[0]}",
            f"missing column (the header must name all of: {','.join(COLUMNS)})",
        )
    if len(parsed) - 1 > MAX_EVENTS:
        raise ScenarioError(source, "file", f"more than {MAX_EVENTS:,} events")
    events = []
    for line, cells in zip(numbers[1:], parsed[1:], strict=True):
        if len(cells) != len(header):
            raise ScenarioError(
                source,
                f"line {line}",
                f"{len(cells)} cells where the header has {len(header)} columns",
            )
        filled = {
            column: cell.strip() for column, cell in zip(header, cells, strict=True) if cell.strip()
        }
        events.append(_validated(_row_event(filled, line, source), line, source))
    return events


def _read_bytes(path: Path | Traversable, source: str) -> bytes:
    if isinstance(path, Path):
        return read_regular_file(path, source, MAX_BYTES, "event file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ScenarioError(source, "file", f"cannot read: {exc.strerror or exc}") from None


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            source, "file", f"not UTF-8 text (bad byte at offset {exc.start})"
        ) from None


def load_event_csv(
    path: str | os.PathLike[str] | Traversable, source: str | None = None
) -> list[dict[str, Any]]:
    """Validated events of a CSV event file (a path or a package resource).

    ``source`` names the file in errors (default: the path as given).  Returns
    the same list of event dicts the equivalent TOML ``[[events]]`` produce:
    ISO date strings, defaults filled (``count`` 1, provisions 0), absent keys
    left out.
    """
    target: Path | Traversable = (
        path if isinstance(path, Traversable) and not isinstance(path, Path) else Path(path)
    )
    name = source if source is not None else str(path)
    return parse_event_csv(_decode(_read_bytes(target, name), name), name)


def resolve_events_file(
    events_file: str, base: Path | Traversable | None, source: str, *, embedded: bool = False
) -> list[dict[str, Any]]:
    """The events of a scenario header's ``events_file``, read relative to the scenario.

    ``base`` is the directory of the scenario file (a ``Path``) or, for an
    embedded scenario, the package's ``scenarios`` folder (a ``Traversable``).
    An embedded scenario may only name a file beside it (no directories);
    scenario text without a directory (``base`` None) may not name a file at
    all, so text from an untrusted client cannot make the loader read files.
    Errors are reported against ``<source>: scenario.events_file`` or, for a
    bad row, ``<events file>: line N: <column>``.
    """
    where = "scenario.events_file"
    if not events_file.strip():
        raise ScenarioError(source, where, "must not be blank")
    if base is None:
        raise ScenarioError(
            source,
            where,
            "an events file needs a scenario file (use load_scenario(path)); "
            "scenario text may not name files",
        )
    if embedded:
        if "/" in events_file or "\\" in events_file or events_file.startswith("."):
            raise ScenarioError(
                source, where, "an embedded scenario names an event file beside it (no directories)"
            )
        resource = base.joinpath(events_file)
        if not resource.is_file():
            raise ScenarioError(source, where, f"no embedded event file {events_file!r}")
        return load_event_csv(resource, source=f"{source}/{events_file}")
    assert isinstance(base, Path)
    path = base / events_file
    if not path.is_file():
        reason = "is a directory, not an event file" if path.is_dir() else "no such event file"
        raise ScenarioError(source, where, f"{events_file}: {reason}")
    return load_event_csv(path, source=str(path))


def with_events(
    scenario: Scenario, events: Sequence[Mapping[str, Any]], source: str | None = None
) -> Scenario:
    """A copy of ``scenario`` whose events are replaced by ``events`` (re-validated).

    This is what ``--events FILE`` does on the command line::

        scenario = with_events(load_scenario("history"), load_event_csv("my_events.csv"))
    """
    document = scenario.to_dict()
    document["events"] = [dict(event) for event in events]
    return from_document(document, source or scenario.source)


def to_csv(events: Iterable[Mapping[str, Any]]) -> str:
    """Events (dicts as returned by :func:`load_event_csv`) as CSV text that loads back equal."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for event in events:
        unknown = set(event) - set(COLUMNS)
        if unknown:
            raise ValueError(f"not an event column: {sorted(unknown)}")
        writer.writerow(["" if event.get(c) is None else _cell(event[c]) for c in COLUMNS])
    return out.getvalue()


def _cell(item: Any) -> str:
    if isinstance(item, float):
        return repr(item)
    return str(item)
