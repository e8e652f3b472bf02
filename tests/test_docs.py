"""The model description in docs/model.md stays in step with the code.

Its tables of levers and declared uncertainties are generated from
``core/params.py`` and the default scenario (``scripts/model_tables.py``);
every mechanism module it names exists and every lever appears.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lipsteeth.core.params import LEVER_NAMES

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "model.md"


def test_generated_tables_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "model_tables.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_every_lever_and_mechanism_module_is_described() -> None:
    text = DOC.read_text()
    for name in LEVER_NAMES:
        assert f"`{name}`" in text, name
    core = ROOT / "src" / "lipsteeth" / "core"
    for module in sorted(core.glob("m[0-9][0-9]_*.py")):
        assert f"`{module.name}`" in text, module.name
    assert "Corrado" in text and "Foreign Affairs" in text
