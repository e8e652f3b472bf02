"""The one exception the scenario boundary raises."""

from __future__ import annotations

import re

_MAX_REASON = 300
_SPACE = re.compile(r"\s+")


def one_line(text: str, limit: int = _MAX_REASON) -> str:
    """``text`` on a single line (whitespace runs collapsed), cut to ``limit`` characters."""
    flat = _SPACE.sub(" ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def show(value: object, limit: int = 60) -> str:
    """A short, single-line ``repr`` of an offending input value."""
    return one_line(repr(value), limit)


class ScenarioError(Exception):
    """A scenario that cannot be loaded or is invalid.

    ``source`` names the file or embedded scenario, ``path`` the offending key
    (``"parameters.defection.contagion.value"``, ``"events[3].until"``,
    ``"line 12"``), ``reason`` says what is wrong.  ``str(error)`` is one line:
    ``"<source>: <path>: <reason>"``.
    """

    def __init__(self, source: str, path: str, reason: str) -> None:
        self.source = one_line(str(source), 200)
        self.path = one_line(str(path), 200)
        self.reason = one_line(str(reason))
        super().__init__(f"{self.source}: {self.path}: {self.reason}")

    def __reduce__(self) -> tuple[type[ScenarioError], tuple[str, str, str]]:
        return (type(self), (self.source, self.path, self.reason))
