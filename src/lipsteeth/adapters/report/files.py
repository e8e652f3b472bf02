"""File names of reports, and reading and writing them (one-line errors, atomic writes)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from ..store import atomic_bytes

REPORT_FILE = "report.html"
REPORT_PDF = "report.pdf"
FIGURES_DIR = "figures"

Format = Literal["html", "pdf"]


class ReportError(Exception):
    """A report cannot be made (one-line message)."""


def check_format(fmt: str) -> None:
    """Refuse a report format other than html or pdf."""
    if fmt not in ("html", "pdf"):
        raise ReportError(f"unknown report format {fmt!r} (html or pdf)")


def read_json(path: Path, *, object_required: bool = False) -> dict[str, Any]:
    """A JSON object from ``path``; ``{}`` when the file is missing or holds no object.

    With ``object_required`` (a results folder's manifest) JSON that is not an object
    is a ReportError naming the file (issue 17, item 7: a corrupted manifest).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot read JSON: {exc}") from None
    if object_required and not isinstance(data, dict):
        raise ReportError(f"{path}: corrupted, a JSON {type(data).__name__} and not an object")
    return data if isinstance(data, dict) else {}


def read_parquet(path: Path) -> pa.Table:
    """A Parquet table from ``path``."""
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ReportError(f"{path}: cannot read Parquet: {exc}") from None


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` all at once (a reader never sees half)."""
    atomic_bytes(data.encode("utf-8") if isinstance(data, str) else data, path)


def safe_name(text: str) -> str:
    """``text`` as a file name: letters, digits, ``_.-`` only, at most 120 characters."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:120]
