"""benchmarks/calibration.py (issue 14, item 5): budgets from the command line, resume after a kill.

The benchmark runs for hours in full, so its finished units (observations, an
NPE budget, a truth's ABC-SMC run) are checkpointed and a rerun loads them.
The resume test runs a tiny plan (one simulated year of the reduced network,
two truths, a 20-simulation NPE and 30-simulation ABC runs) twice: a unit
removed after the first run (as a kill before it finished leaves it) is run
again and gives the same bytes, the others are loaded, and the table is the
same.  Every unit is deterministic in the seed (NPE: seeded torch; ABC-SMC:
single-core pyabc sampler), so no comparison here can fail by chance.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    """The benchmark script as the module ``calibration`` (it is not part of the package).

    Its Dask workers import it by name (as they cannot import a script run as
    ``__main__``, which is shipped by value): ``benchmarks/`` goes on their path.
    """
    folder = str(ROOT / "benchmarks")
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (folder, saved) if p)
    sys.path.insert(0, folder)
    try:
        yield importlib.import_module("calibration")
    finally:
        sys.path.remove(folder)
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


def tiny_plan(bench: ModuleType, **changes: Any) -> Any:
    plan = bench.Plan(
        truths=2,
        npe_budgets=(20,),
        abc_budgets=(30,),
        abc_population=5,
        abc_default_generations=6,
        abc_default_min_acceptance=0.02,
        holdout=20,
        posterior_samples=20,
        end="2012-12-31",
        npe_options=(
            ("hidden_features", 8),
            ("num_transforms", 1),
            ("max_epochs", 5),
            ("ensemble", 1),
            ("sbc_samples", 10),
        ),
    )
    return bench.replace(plan, **changes)


def without_walls(value: Any) -> Any:
    """The same structure with wall times, seconds and code versions dropped."""
    if isinstance(value, dict):
        return {
            k: without_walls(v)
            for k, v in value.items()
            if k not in ("wall", "wall_total", "seconds", "code")
        }
    if isinstance(value, list):
        return [without_walls(v) for v in value]
    return value


def test_budgets_options_refuse_bad_input_with_one_line(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, option in (
        (["--budgets", "1000,x"], "--budgets"),
        (["--budgets", "1000,1000"], "--budgets"),
        (["--abc-budgets", "5"], "--abc-budgets"),
        (["--truths", "1"], "--truths"),
        (["--holdout", "3"], "--holdout"),
    ):
        assert bench.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and option in err[0], err
    assert bench.parse_budgets("--budgets", "1000,3000") == (1000, 3000)


def test_abc_run_is_read_at_the_generation_that_reaches_each_budget(bench: ModuleType) -> None:
    def gen(g: int, sims: float, acceptance: float) -> dict[str, Any]:
        return {"generation": g, "simulations": sims, "acceptance_rate": acceptance}

    unit = {"generations": [gen(0, 150, 0.7), gen(1, 400, 0.3), gen(2, 1100, 0.01)]}
    plan = tiny_plan(bench, abc_budgets=(100, 400, 401, 5000), abc_default_generations=6)
    read = {k: v["generation"] for k, v in bench.abc_readings(unit, plan).items()}
    # 5000 is never reached: the run's last generation; default stops below 2 % acceptance
    assert read == {"100": 0, "400": 1, "401": 2, "5000": 2, "default": 2}
    plan = tiny_plan(bench, abc_default_generations=2)
    assert bench.abc_readings(unit, plan)["default"]["generation"] == 1


@pytest.mark.slow  # about 30 s of CPU (Dask cluster, two tiny NPE and four ABC-SMC runs)
def test_a_rerun_loads_the_finished_units_and_reruns_only_the_lost_one(
    bench: ModuleType, tmp_path: Path
) -> None:
    plan = tiny_plan(bench)
    folder = tmp_path / plan.unit_key()
    first = bench.run(plan, 1, "test", bench.Checkpoint(folder))
    assert first["resumed"] == []
    (claim,) = first["npe_against_abc"]  # the claim, truth by truth
    assert claim["truths"] == plan.truths and claim["abc_budget"] == max(plan.abc_budgets)
    units = sorted(p.name for p in folder.glob("*.json"))
    assert units == ["abc-truth-0.json", "abc-truth-1.json", "npe-20.json", "observations.json"]
    assert not list(folder.glob(".*.part"))  # atomic writes leave no partial file
    kept = {name: (folder / name).read_bytes() for name in units}
    lost = json.loads(kept["abc-truth-1.json"])
    (folder / "abc-truth-1.json").unlink()  # killed while this truth was running

    second = bench.run(plan, 1, "test", bench.Checkpoint(folder))
    assert second["resumed"] == ["observations", "npe-20", "abc-truth-0"]
    for name in ("observations.json", "npe-20.json", "abc-truth-0.json"):
        assert (folder / name).read_bytes() == kept[name]  # loaded, not rewritten
    rerun = json.loads((folder / "abc-truth-1.json").read_text("utf-8"))
    assert without_walls(rerun) == without_walls(lost)
    assert without_walls(second["rows"]) == without_walls(first["rows"])

    # a plan reading ABC at a smaller budget reuses the longer runs; --fresh ignores them
    smaller = bench.replace(plan, abc_budgets=(20,))
    assert smaller.unit_key() == plan.unit_key()
    third = bench.run(smaller, 1, "test", bench.Checkpoint(folder))
    assert third["resumed"] == ["observations", "npe-20", "abc-truth-0", "abc-truth-1"]
    assert bench.replace(plan, holdout=21).unit_key() != plan.unit_key()


def test_units_record_the_commit_the_run_started_on(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit written hours into a run names the code loaded at its start, not a later HEAD."""
    import subprocess

    started_on = bench.code_version()

    def checkout_moved(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("git was asked again: a later commit would be recorded")

    monkeypatch.setattr(subprocess, "run", checkout_moved)
    assert bench.code_version() == started_on


def test_npe_is_compared_with_abc_at_its_largest_budget_truth_by_truth(bench: ModuleType) -> None:
    out = bench.paired_difference([0.1, 0.2, 0.3], [0.2, 0.2, 0.1])
    assert out["mean"] == pytest.approx(0.1 / 3)
    assert (out["first_not_worse"], out["truths"]) == (2, 3)
    lo, hi = out["ci"]
    assert -0.1 <= lo <= out["mean"] <= hi <= 0.2
    rows = [
        {"method": "NPE", "budget": "1000", "per_truth": [0.1, 0.2]},
        {"method": "ABC-SMC", "budget": "3000", "per_truth": [0.3, 0.3]},
        {"method": "ABC-SMC", "budget": "10000", "per_truth": [0.2, 0.1]},
        {"method": "ABC-SMC", "budget": "default", "per_truth": [9.0, 9.0]},
    ]
    (claim,) = bench.npe_against_abc(rows)
    assert (claim["npe_budget"], claim["abc_budget"]) == (1000, 10000)
    assert claim["mean"] == pytest.approx(0.0) and claim["first_not_worse"] == 1
    report = {"rows": [], "npe_against_abc": [claim], "setting": {"plan": {"holdout": 1}}}
    text = bench.markdown(report)
    assert "NPE at 1,000 minus ABC-SMC at 10,000, per truth: +0.000" in text


def test_the_certificate_note_says_which_coverage_missed_and_which_way(bench: ModuleType) -> None:
    """The note reads the certificate's bands: 300 held-out, 200 draws: 50 % in 0.421-0.579."""
    from lipsteeth.experiment.sbc import CoverageRow, coverage_tolerance

    certificate = {
        "passed": False,
        "sbc": True,
        "coverage_50": 0.583,  # above the band: the posterior is too wide
        "coverage_90": 0.80,  # below it: too narrow
        "marginal_90": 0.90,
    }
    note = bench.certificate_note(certificate, 300, 200)
    assert note.startswith("certificate FAIL on 300 held-out (SBC pass;")
    assert "joint 50 % 0.583 too wide 0.421-0.579" in note
    assert "joint 90 % 0.800 too narrow" in note
    assert "marginal 90 % 0.900 in" in note
    # the same verdicts as the certificate's own rule, at the edges of the band
    tol = coverage_tolerance(0.5, 300, 200)
    for share in (0.5 + tol * 0.99, 0.5 + tol * 1.01, 0.5 - tol * 1.01):
        row = CoverageRow(0.5, share, 0.5, tol, True)
        note = bench.certificate_note({**certificate, "coverage_50": share}, 300, 200)
        assert ("joint 50 % " + f"{share:.3f} in" in note) == row.passed
