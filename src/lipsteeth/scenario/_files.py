"""Reading a scenario or event file the loader was pointed at: regular files only, capped.

Issue 17, item 7: ``extends = "/dev/zero"`` read until memory ran out, a named pipe
blocked for ever, a name with a NUL byte or a symlink loop escaped as ValueError or
RuntimeError.  Here a path must name a regular file (after following links), is read
through one descriptor opened without blocking and at most ``max_bytes + 1`` bytes of
it, and every failure is a one-line :class:`ScenarioError` naming the file, never its
content.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ._errors import ScenarioError


def read_regular_file(path: Path, source: str, max_bytes: int, what: str) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes`` bytes."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except ValueError:
        raise ScenarioError(source, "file", "the file name contains a NUL byte") from None
    except FileNotFoundError:
        raise ScenarioError(source, "file", f"no such {what}") from None
    except IsADirectoryError:
        raise ScenarioError(source, "file", f"is a directory, not a {what}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ScenarioError(source, "file", "a loop of symbolic links") from None
        raise ScenarioError(source, "file", f"cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ScenarioError(source, "file", f"is a directory, not a {what}")
        if not stat.S_ISREG(mode):
            raise ScenarioError(source, "file", "not a regular file (a device, pipe or socket)")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ScenarioError(source, "file", f"cannot read: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(raw) > max_bytes:
        raise ScenarioError(source, "file", f"larger than {max_bytes:,} bytes")
    return raw


def resolved(path: Path, source: str) -> Path:
    """``path`` made absolute with links followed, or a one-line error (loop, NUL byte)."""
    try:
        return path.resolve()
    except ValueError:
        raise ScenarioError(source, "file", "the file name contains a NUL byte") from None
    except RuntimeError:  # Python < 3.13: a symlink loop
        raise ScenarioError(source, "file", "a loop of symbolic links") from None
    except OSError as exc:
        raise ScenarioError(source, "file", f"cannot read: {exc.strerror or exc}") from None
