"""Compiled code is never stale: the on-disk cache is keyed by a digest of the core's sources.

Numba's own cache keys a function by its file's modification time; a caller
compiled with a callee from another module inlined keeps the callee's old
code after the callee's file is edited.  ``core.jit.compiled`` puts the cache
in a directory named by the SHA-256 of every source of the package, so an
edit anywhere recompiles everything.  The test edits a copy of the package:
M9's economic squeeze, which M10's ``crossing_rate`` (another module) inlines.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lipsteeth
from lipsteeth.core.jit import KEEP_OLDER_CACHES, source_digest

PACKAGE = Path(lipsteeth.__file__).resolve().parent

PROBE = """
import json
import numpy as np
from lipsteeth.core import m10_wider_flow as m10
from lipsteeth.core.m09_strategic import POLICY_DTYPE
from lipsteeth.core.records import lever_record, param_record
from lipsteeth.core.state import NETWORK_DTYPE
from lipsteeth.scenario import load_scenario

scenario = load_scenario("baseline-2016")
net = np.zeros(1, NETWORK_DTYPE)
net[0]["economy"] = 0.5
policy = np.zeros(1, POLICY_DTYPE)
wider_flow = param_record(scenario.params)[0]["wider_flow"]
rate = m10.crossing_rate(net[0], lever_record(scenario.levers)[0], policy[0], wider_flow)
stats = m10.crossing_rate.stats
print(json.dumps({"crossings": rate, "beta_economy": float(wider_flow["beta_economy"]),
                  "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}))
"""


def _probe(root: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=root
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_digest_follows_every_source_file(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    before = source_digest.__wrapped__(str(tmp_path))
    (tmp_path / "b.py").write_text("y = 3\n")
    assert source_digest.__wrapped__(str(tmp_path)) != before
    (tmp_path / "data.txt").write_text("not source")
    assert source_digest.__wrapped__(str(tmp_path)) == source_digest.__wrapped__(str(tmp_path))


def test_an_edited_mechanism_is_recompiled(tmp_path: Path) -> None:
    """Edit M7 in a copy of the package: M10's compiled caller picks the edit up at once;
    an unedited package loads its compiled code from the cache."""
    shutil.copytree(
        PACKAGE, tmp_path / "lipsteeth", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    first = _probe(tmp_path)
    assert first["misses"] >= 1 and first["hits"] == 0  # compiled afresh
    again = _probe(tmp_path)
    assert again == {**first, "hits": again["hits"], "misses": 0} and again["hits"] >= 1
    m09 = tmp_path / "lipsteeth" / "core" / "m09_strategic.py"
    source = m09.read_text()
    edited = source.replace(
        "return max(0.0, 1.0 - net.economy)", "return 0.5 * max(0.0, 1.0 - net.economy)"
    )
    assert edited != source
    m09.write_text(edited)
    changed = _probe(tmp_path)
    # the squeeze of an economy at 0.5 falls from 0.5 to 0.25 inside M10's crossing rate
    expected = first["crossings"] * math.exp(-first["beta_economy"] * 0.25)
    assert changed["crossings"] == pytest.approx(expected, rel=1e-12)
    caches = list((tmp_path / "lipsteeth" / "core" / "__pycache__").glob("numba-*"))
    assert len(caches) == 2  # the new digest's and the previous one's
    for edit in range(3):  # three more edits: the oldest directories go
        m09.write_text(m09.read_text() + f"\n# edit {edit}\n")
        _probe(tmp_path)
    caches = list((tmp_path / "lipsteeth" / "core" / "__pycache__").glob("numba-*"))
    assert len(caches) == 1 + KEEP_OLDER_CACHES


OUT_OF_BOUNDS = """
import numpy as np
from lipsteeth.core.jit import cache_dir, compiled

@compiled
def post_after(posts, index):
    return posts[index + 1]

posts = np.arange(3)
try:
    print("read", post_after(posts, 2))
except IndexError as error:
    print("IndexError", error)
"""


def test_debug_build_checks_bounds_in_its_own_cache(tmp_path: Path) -> None:
    """With NUMBA_BOUNDSCHECK=1 (``make test-debug``) an index past the end raises
    IndexError, and the code is cached under ``__pycache__/boundscheck`` only."""
    package = tmp_path / "probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "index.py").write_text(OUT_OF_BOUNDS)

    def run(**env: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "probe.index"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(tmp_path), **env},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    assert run(NUMBA_BOUNDSCHECK="1").startswith("IndexError")
    pycache = package / "__pycache__"
    assert [d.name for d in (pycache / "boundscheck").glob("numba-*")]
    assert not list(pycache.glob("numba-*"))  # the normal cache is untouched
    assert run(NUMBA_BOUNDSCHECK="0").startswith("read")  # unchecked: no error raised
    assert len(list(pycache.glob("numba-*"))) == 1
    assert run(NUMBA_BOUNDSCHECK="1").startswith("IndexError")  # from its own cache
