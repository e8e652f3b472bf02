"""Compiled code is never stale: the on-disk cache is keyed by a digest of the core's sources.

Numba's own cache keys a function by its file's modification time; a caller
compiled with a callee from another module inlined keeps the callee's old
code after the callee's file is edited.  ``core.jit.compiled`` puts the cache
in a directory named by the SHA-256 of every source of the package, so an
edit anywhere recompiles everything.  The test edits a copy of the package:
M7's arrest probability, which M10's ``flow_rates`` (another module) inlines.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
net[0]["economy"] = 1.0
policy = np.zeros(1, POLICY_DTYPE)
policy[0]["border_stringency"] = 1.0
rates = m10.flow_rates(
    net[0], lever_record(scenario.levers)[0], policy[0], param_record(scenario.params)[0]
)
stats = m10.flow_rates.stats
print(json.dumps({"p_arrest": rates[1], "hits": sum(stats.cache_hits.values()),
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
    m07 = tmp_path / "lipsteeth" / "core" / "m07_enforcement.py"
    source = m07.read_text()
    edited = source.replace(
        "return 1.0 - np.exp(-en.arrest_rate_per_year * stringency / 365.0)",
        "return 0.5 * (1.0 - np.exp(-en.arrest_rate_per_year * stringency / 365.0))",
    )
    assert edited != source
    m07.write_text(edited)
    changed = _probe(tmp_path)
    assert changed["p_arrest"] == first["p_arrest"] * 0.5
    caches = list((tmp_path / "lipsteeth" / "core" / "__pycache__").glob("numba-*"))
    assert len(caches) == 2  # the new digest's and the previous one's
    for edit in range(3):  # three more edits: the oldest directories go
        m07.write_text(m07.read_text() + f"\n# edit {edit}\n")
        _probe(tmp_path)
    caches = list((tmp_path / "lipsteeth" / "core" / "__pycache__").glob("numba-*"))
    assert len(caches) == 1 + KEEP_OLDER_CACHES
