"""Options and checks the experiment commands share (``sweep``, ``sensitivity``,
``calibrate``, ``discover``, ``query``, ``robust``, ``optimize``).

``--set`` overrides, ``--years``, factor lists, the design/run options, the work
budget (issue 17, item 6), the optional extras and ``--outcome NAME[@YEAR]`` are
checked here before anything is written; a refusal is one ``error:`` line and
exit code 2 (``inputs.fail``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...core.outcomes import OUTCOMES
from ...core.params import LEVER_NAMES
from ...experiment import budget
from ...experiment import robustness as rb
from ...experiment.designs import Space
from ...experiment.sweep import (
    parse_metric,
)
from .. import catalog as cat
from ..executors_dask import EXECUTORS
from ..posterior_files import apply_uncertainty
from .inputs import check_budget, fail, load, require_extra

if TYPE_CHECKING:
    from ...scenario import Scenario


DEFAULT_OUT = Path("results")

SPACES = ("all", "uncertainties", "levers")


def parse_sets(items: Sequence[str] | None) -> tuple[dict[str, float], dict[str, float]]:
    """``--set group.name=value`` / ``--set lever=value`` into (params, levers)."""
    params: dict[str, float] = {}
    levers: dict[str, float] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            fail(f"--set {item!r}: expected KEY=VALUE (group.name=value or lever=value)")
        try:
            value = float(text)
        except ValueError:
            fail(f"--set {item!r}: {text!r} is not a number")
        name = key.removeprefix("lever.")
        if "." not in key or key.startswith("lever."):
            if name not in LEVER_NAMES:
                fail(f"--set {item!r}: {name} is not a lever (parameters are group.name)")
            levers[name] = value
        else:
            params[key] = value
    return params, levers


def load_scenario_for(scenario: str, years: float | None, sets: Sequence[str] | None) -> Scenario:
    """The scenario named on the command line, with ``--years`` and ``--set`` applied."""
    loaded: Scenario = load(scenario)
    params, levers = parse_sets(sets)
    if params or levers or years is not None:
        loaded = loaded.with_overrides(params=params or None, levers=levers or None, years=years)
    return loaded


def split_names(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    return names or None


def check_positive(option: str, value: int | float | None, low: float = 1) -> None:
    if value is not None and value < low:
        fail(f"{option} must be at least {low:g} (got {value})")


def check_design_run(replicates: int, workers: int, executor: str, space: str) -> None:
    """Options shared by sweep and sensitivity, checked before anything is written."""
    check_positive("--replicates", replicates)
    check_executor(workers, executor)
    if space not in SPACES:
        fail(f"--space must be one of {', '.join(SPACES)}")


def check_experiment_budget(
    scenario: Scenario,
    method: str,
    space: Space,
    samples: int,
    replicates: int,
    workers: int,
    allow_large: bool,
    *,
    second_order: bool = False,
) -> None:
    """Refuse a design whose estimated work or memory exceeds the limits (issue 17, item 6).

    Checked before the design is sampled: a design of 10^7 samples or runs of 10^9
    replicates used to end in a MemoryError traceback while it was built.
    """
    points = budget.design_points(method, space.dim, samples, second_order=second_order)
    estimate = budget.sweep_budget(
        scenario.params, scenario.calendar.n_days, points, space.dim, replicates, workers
    )
    check_budget(
        f"{points:,} runs of {replicates} replicates over {scenario.calendar.n_days} days",
        estimate,
        allow_large=allow_large,
    )


def require_experiment_extras(
    command: str, modules: Sequence[str], *, on_dask: bool = False
) -> None:
    """Refuse the command before anything is written if the experiments extra is missing."""
    require_extra(f"lipsteeth {command}", [*modules, *(["distributed"] if on_dask else [])])


def uses_dask(executor: str, workers: int, scheduler: str | None) -> bool:
    """Whether ``open_executor`` will start or join a Dask cluster for these options."""
    return executor == "dask" or (executor == "auto" and (bool(scheduler) or workers > 1))


def check_metric_name(name: str, known: Sequence[str] | None = None) -> None:
    """Refuse an outcome that is not a model outcome (or not in ``known``)."""

    try:
        outcome, _ = parse_metric(name)
    except ValueError as exc:
        fail(str(exc))
    names = list(OUTCOMES) if known is None else list(known)
    if outcome not in names:
        import difflib

        close = difflib.get_close_matches(outcome, names, n=1)
        fail(
            f"--outcome {name}: unknown outcome" + (f" (did you mean {close[0]}?)" if close else "")
        )


def metric_or_fail(store: cat.ExperimentStore, name: str) -> np.ndarray:
    try:
        series = store.metric(name)
    except cat.CatalogError as exc:
        fail(str(exc))
    n_runs = int(store.manifest()["n_runs"])
    y = np.full(n_runs, np.nan)
    y[series.index.to_numpy(dtype=int)] = series.to_numpy(dtype=float)
    return y


def check_executor(workers: int, executor: str) -> None:
    """``--workers`` positive and ``--executor`` one of the executors."""
    check_positive("--workers", workers)
    if executor not in EXECUTORS:
        fail(f"--executor must be one of {', '.join(EXECUTORS)}")


def read_spec_file(path: Path, option: str) -> dict[str, Any]:
    """A TOML file named by an option, parsed, with one-line errors."""
    if not path.is_file():
        fail(f"{option} {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{option} {path}: cannot read: {exc}")
    try:
        return rb.read_toml(text, str(path))
    except rb.RobustnessError as exc:
        fail(str(exc))


def prepared_scenario(
    scenario: str,
    years: float | None,
    sets: list[str] | None,
    uncertainty: str,
    posterior: Path | None,
) -> Scenario:
    """The scenario named on the command line with ``--years``/``--set`` and its uncertainty."""
    loaded = load_scenario_for(scenario, years, sets)
    return apply_uncertainty(loaded, uncertainty, posterior)
