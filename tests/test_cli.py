"""The command line, run as real subprocesses: results folders, JSON, refusals, scenarios.

Runs are short (one year, two replicates) and shared between tests through
module-scoped fixtures.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from lipsteeth.adapters import store
from lipsteeth.core.jit import core_digest

SMALL = ("--years", "1", "--replicates", "2")
PARQUET = (store.OUTCOMES_FILE, store.OUTCOMES_YEARLY_FILE, store.EVENTS_FILE)
MANIFEST_KEYS = {
    "run_id",
    "created",
    "command_line",
    "scenario",
    "scenario_source",
    "scenario_sha256",
    "seed",
    "core_sha256",
    "replicates",
    "horizon",
    "versions",
    "data_sha256",
    "wall_time_s",
    "facts",
    "ledger_checks",
}
FACT_KEYS = {"id", "statement", "target", "median", "p5", "p95", "consistent"}


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


def lipsteeth(*args: str, cwd: Path, script: bool = False) -> Done:
    """Run the CLI in a subprocess: ``python -m lipsteeth`` or the installed script."""
    if script:
        exe = shutil.which("lipsteeth", path=str(Path(sys.executable).parent))
        if exe is None:
            pytest.skip("the lipsteeth console script is not installed next to this Python")
        command = [exe, *args]
    else:
        command = [sys.executable, "-m", "lipsteeth", *args]
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    proc = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=300, env=env, check=False
    )
    return Done(proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class Run:
    done: Done
    folder: Path


@pytest.fixture(scope="module")
def json_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Seed 7, one replicate per chunk, --json."""
    cwd = tmp_path_factory.mktemp("json_run")
    done = lipsteeth(
        "run", *SMALL, "--seed", "7", "--chunk-size", "1", "--out", "out", "--json", cwd=cwd
    )
    assert done.returncode == 0, done.stderr
    return Run(done, cwd / "out")


@pytest.fixture(scope="module")
def human_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Seed 7 again, all replicates in one call, default results folder, human output."""
    cwd = tmp_path_factory.mktemp("human_run")
    done = lipsteeth("run", *SMALL, "--seed", "7", "--chunk-size", "2", cwd=cwd, script=True)
    assert done.returncode == 0, done.stderr
    (folder,) = (cwd / "results").iterdir()
    return Run(done, folder)


@pytest.fixture(scope="module")
def other_seed_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Seed 8, written with --force over an occupied --out folder."""
    cwd = tmp_path_factory.mktemp("other_seed_run")
    (cwd / "out").mkdir()
    (cwd / "out" / "old.txt").write_text("previous run")
    done = lipsteeth("run", *SMALL, "--seed", "8", "--out", "out", "--force", "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return Run(done, cwd / "out")


def test_run_writes_results_folder(json_run: Run) -> None:
    files = sorted(p.name for p in json_run.folder.iterdir())
    assert files == sorted(store.RESULTS_FILES)
    assert not [p for p in json_run.folder.parent.iterdir() if ".partial-" in p.name]
    manifest = store.read_manifest(json_run.folder)
    assert set(manifest) >= MANIFEST_KEYS
    assert manifest["seed"] == 7 and manifest["replicates"] == 2
    assert manifest["core_sha256"] == core_digest()
    assert manifest["scenario"]["scenario"]["seed"] == 7
    assert manifest["scenario_source"] == "baseline-2016"
    assert manifest["command_line"][:2] == ["lipsteeth", "run"]
    assert manifest["horizon"]["years"] == [2012]
    assert {"numpy", "pyarrow", "duckdb", "pydantic", "typer", "rich", "python"} <= set(
        manifest["versions"]
    )
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in manifest["data_sha256"].values())
    assert manifest["ledger_checks"] and all(c["holds"] for c in manifest["ledger_checks"])


def test_json_output_is_one_object(json_run: Run) -> None:
    summary = json.loads(json_run.done.stdout)  # the whole stdout is one JSON document
    assert json_run.done.stdout.strip().count("\n") == 0
    assert set(summary) == {
        "scenario",
        "seed",
        "replicates",
        "years",
        "outcomes",
        "levers_in_force",
        "facts",
        "results_dir",
        "wall_time_s",
    }
    assert summary["scenario"] == "baseline-2016"
    assert summary["years"] == [2012]
    revenue = summary["outcomes"]["revenue_to_state_usd"]
    assert revenue["unit"] == "USD" and len(revenue["median"]) == 1
    assert revenue["p5"][0] <= revenue["median"][0] <= revenue["p95"][0]
    assert summary["facts"] and all(set(row) >= FACT_KEYS for row in summary["facts"])
    # issue 12: each lever as set beside what Beijing's discretion put in force
    exit_check = summary["levers_in_force"]["china_exit_strictness"]
    assert exit_check["effective_outcome"] == "exit_strictness"
    assert exit_check["set"] == [0.95]
    in_force = exit_check["in_force"]
    assert in_force["p5"][0] <= in_force["median"][0] <= in_force["p95"][0] <= 0.95
    # a 1-year run reaches only one fact's window: the others are not evaluated (null)
    for row in summary["facts"]:
        assert isinstance(row["consistent"], bool) if row["covered"] else row["consistent"] is None
    assert sum(row["covered"] for row in summary["facts"]) == 1
    assert Path(summary["results_dir"]) == Path("out")
    on_disk = json.loads((json_run.folder / store.SUMMARY_FILE).read_text())
    assert on_disk == summary


def test_same_seed_gives_identical_parquet(json_run: Run, human_run: Run) -> None:
    """Byte identity across runs, and chunks of one replicate equal a single call."""
    for name in PARQUET:
        assert (json_run.folder / name).read_bytes() == (human_run.folder / name).read_bytes()


def test_other_seed_gives_other_parquet(json_run: Run, other_seed_run: Run) -> None:
    for name in (store.OUTCOMES_FILE, store.OUTCOMES_YEARLY_FILE):
        assert (json_run.folder / name).read_bytes() != (other_seed_run.folder / name).read_bytes()


def test_engine_option_is_gone(tmp_path: Path) -> None:
    """The core has one implementation: ``--engine`` is an unknown option (exit 2)."""
    done = lipsteeth("run", *SMALL, "--engine", "numpy", "--out", "out", cwd=tmp_path)
    assert done.returncode == 2 and "--engine" in done.stderr
    assert not (tmp_path / "out").exists()


def test_force_replaces_occupied_folder(other_seed_run: Run) -> None:
    assert not (other_seed_run.folder / "old.txt").exists()
    assert store.read_manifest(other_seed_run.folder)["seed"] == 8


def test_human_output(human_run: Run) -> None:
    out = human_run.done.stdout
    assert re.match(r"baseline-2016-7-\d{8}-\d{6}$", human_run.folder.name)
    for text in ("revenue_to_state_usd", "Facts", "Ledger identities", "Results written to"):
        assert text in out
    assert human_run.folder.name in out
    assert "replicates" in human_run.done.stderr  # the progress bar is on stderr


# --- refusals ------------------------------------------------------------------------------


def _baseline_text() -> str:
    return (resources.files("lipsteeth") / "scenarios" / "baseline-2016.toml").read_text("utf-8")


def _probability_too_high(tmp: Path) -> str:
    text, n = re.subn(
        r"(\[levers\.china_exit_strictness\]\s*\nvalue = )[0-9.]+", r"\g<1>1.5", _baseline_text()
    )
    assert n == 1
    (tmp / "bad_probability.toml").write_text(text)
    return "bad_probability.toml"


def _malformed(tmp: Path) -> str:
    (tmp / "malformed.toml").write_text("[scenario\nname = = 'x'\n")
    return "malformed.toml"


def _occupied_out(tmp: Path) -> str:
    (tmp / "taken").mkdir()
    (tmp / "taken" / "keep.txt").write_text("keep")
    return "baseline-2016"


REFUSALS = {
    "unknown scenario name": (lambda tmp: "no-such-scenario", (), "no-such-scenario"),
    "malformed TOML": (_malformed, (), "malformed TOML"),
    "probability 1.5": (_probability_too_high, (), "china_exit_strictness"),
    "missing file": (lambda tmp: "missing/nowhere.toml", (), "nowhere.toml"),
    "--replicates 0": (lambda tmp: "baseline-2016", ("--replicates", "0"), "--replicates"),
    "--years -1": (lambda tmp: "baseline-2016", ("--years", "-1"), "--years"),
    "--years 201": (lambda tmp: "baseline-2016", ("--years", "201"), "--years"),
    "--seed -1": (lambda tmp: "baseline-2016", ("--seed", "-1"), "--seed"),
    "--seed not a number": (lambda tmp: "baseline-2016", ("--seed", "abc"), "--seed"),
    "unknown option": (lambda tmp: "baseline-2016", ("--colour",), "--colour"),
    "non-empty --out": (_occupied_out, ("--out", "taken"), "not empty"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_input_exits_2_with_one_line(case: str, tmp_path: Path) -> None:
    make, options, mentions = REFUSALS[case]
    scenario = make(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    out = () if "--out" in options else ("--out", "fresh")
    done = lipsteeth("run", scenario, *options, *out, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and mentions in lines[0]
    assert "Traceback" not in done.stderr
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before  # nothing written: no results folder, no staging folder


# --- scenarios -----------------------------------------------------------------------------


def test_scenarios_list(tmp_path: Path) -> None:
    done = lipsteeth("scenarios", "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "baseline-2016" in done.stdout and "Baseline" in done.stdout


def test_scenarios_show_prints_resolved_toml(tmp_path: Path) -> None:
    import tomllib

    done = lipsteeth("scenarios", "show", "baseline-2016", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    document = tomllib.loads(done.stdout)
    assert document["scenario"]["name"] == "baseline-2016"
    assert document["levers"]["china_exit_strictness"]["provenance"]


def test_scenarios_show_unknown_is_refused(tmp_path: Path) -> None:
    done = lipsteeth("scenarios", "show", "nope", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("error: ")
    assert len(done.stderr.splitlines()) == 1


def test_scenarios_schema_is_json(tmp_path: Path) -> None:
    done = lipsteeth("scenarios", "schema", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert schema["type"] == "object" and "properties" in schema


def test_readme_outcome_table_is_in_sync() -> None:
    from lipsteeth.core.outcomes import OUTCOMES

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    table = readme.split("<!-- outcomes:begin -->\n", 1)[1].split("<!-- outcomes:end -->", 1)[0]
    rows = ["| outcome | kind | unit | meaning |", "|---|---|---|---|"]
    rows += [f"| `{s.name}` | {s.kind} | {s.unit} | {s.doc} |" for s in OUTCOMES.values()]
    assert table.strip().splitlines() == rows


def test_compact_numbers() -> None:
    from lipsteeth.adapters.console import fmt

    assert [fmt(v) for v in (0.748, 9.996, 4993, 13_040_000, -4.39, 0.0)] == [
        "0.748",
        "10.0",
        "4993",
        "13.0M",
        "-4.39",
        "0",
    ]
    assert fmt(float("nan")) == "n/a" and fmt(0.4, "share") == "0.40"


def test_run_on_two_dask_workers_equals_serial(tmp_path: Path) -> None:
    """`run --workers 2` (Dask LocalCluster) writes the same Parquet bytes as a serial run."""
    serial = lipsteeth("run", *SMALL, "--seed", "5", "--out", "serial", cwd=tmp_path)
    dask = lipsteeth("run", *SMALL, "--seed", "5", "--workers", "2", "--out", "dask", cwd=tmp_path)
    assert serial.returncode == 0, serial.stderr
    assert dask.returncode == 0, dask.stderr
    for name in ("outcomes.parquet", "events.parquet"):
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes()
    refused = lipsteeth("run", *SMALL, "--workers", "0", "--out", "zero", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "--workers" in refused.stderr
    assert not (tmp_path / "zero").exists()
