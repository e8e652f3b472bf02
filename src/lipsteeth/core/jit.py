"""The one way the core compiles a function: Numba, cached on disk by a digest of the source.

Numba's own cache keys a compiled function by the modification time and size
of the file that defines it.  The kernel calls mechanism functions defined
in other modules and compiles them into its own machine code, so after an
edit of, say, ``m06_routes.py`` Numba would load the kernel's stale cached
code, with the old M6 inside.  ``compiled`` therefore puts every cached
function of a package in a directory named by the SHA-256 of all the
package's sources: editing any of them gives a new directory, and
everything is compiled afresh.

The directory is ``__pycache__/numba-<digest>`` beside the sources, or, if the
package is installed read-only, under ``$LIPSTEETH_CACHE_DIR`` (default
``~/.cache/lipsteeth``).  When a new one is made, directories of older
digests are removed but the two most recent.

The debug build (``NUMBA_BOUNDSCHECK=1``, ``make test-debug``; issue 17, item 4)
checks every array index and raises ``IndexError`` instead of reading or writing
out of bounds.  Its code goes to a ``boundscheck`` directory beside the normal
caches (``__pycache__/boundscheck/numba-<digest>``), so the normal build never
loads it and neither build removes the other's.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numba
from numba import njit

F = TypeVar("F", bound=Callable[..., Any])

#: cache directories of earlier source digests kept beside the current one
KEEP_OLDER_CACHES = 2


@functools.lru_cache(maxsize=8)
def source_digest(package_dir: str) -> str:
    """SHA-256 of every ``*.py`` file of a package directory (names and contents, sorted)."""
    digest = hashlib.sha256()
    for path in sorted(Path(package_dir).glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def core_digest() -> str:
    """SHA-256 of the core's sources: the same scenario and seed give the same run with it."""
    return source_digest(str(Path(__file__).resolve().parent))


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError:
        return False
    return True


@functools.lru_cache(maxsize=8)
def cache_dir(package_dir: str) -> str:
    """The Numba cache directory of a package's current sources (created, writable)."""
    name = f"numba-{source_digest(package_dir)[:20]}"
    # code compiled with bounds checks is kept apart (debug build, module doc)
    config: Any = numba.config  # its settings are set at import time, unknown to mypy
    build = "boundscheck" if config.BOUNDSCHECK else ""
    for parent in (
        Path(package_dir) / "__pycache__" / build,
        Path(os.environ.get("LIPSTEETH_CACHE_DIR", Path.home() / ".cache" / "lipsteeth"))
        / Path(package_dir).name
        / build,
    ):
        if _writable(parent / name):
            # older digests' code is dead weight; the newest few are kept, as another
            # process of a just-edited checkout may still be using its own
            others = sorted(
                (d for d in parent.glob("numba-*") if d.name != name),
                key=lambda d: d.stat().st_mtime,
                reverse=True,
            )
            for stale in others[KEEP_OLDER_CACHES:]:
                shutil.rmtree(stale, ignore_errors=True)
            return str(parent / name)
    raise OSError(f"no writable directory for compiled code of {package_dir}")


def compiled(function: F | None = None, **options: Any) -> Any:
    """``numba.njit(cache=True, **options)`` with the cache keyed by the package's sources.

    Use as ``@compiled`` or ``@compiled(inline="always")``.  Numba picks a
    function's cache directory when the function is decorated, from
    ``numba.config.CACHE_DIR``; it is set only for that moment, so other
    users of Numba in the process keep their own setting.
    """

    def decorate(fn: F) -> F:
        package_dir = str(Path(fn.__code__.co_filename).resolve().parent)
        config: Any = numba.config  # its settings are set at import time, unknown to mypy
        previous = config.CACHE_DIR
        config.CACHE_DIR = cache_dir(package_dir)
        try:
            return njit(cache=True, **options)(fn)
        finally:
            config.CACHE_DIR = previous

    return decorate(function) if function is not None else decorate
