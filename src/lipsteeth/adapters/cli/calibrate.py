"""``lipsteeth calibrate``: calibration against observed targets up to ``--until``.

ABC-SMC (``--method abc``, pyabc) or amortised neural posterior estimation with its
certificate (``--method npe``, sbi: SBC, expected coverage, identifiability,
misspecification).  Writes the posterior, a calibrated scenario TOML, figures, and
the experiment's rows in the catalog.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.table import Table

from .. import catalog as cat
from ..executors_dask import ExecutorError, open_executor
from .experiment_inputs import (
    DEFAULT_OUT,
    check_executor,
    check_positive,
    load_scenario_for,
    require_experiment_extras,
    split_names,
    uses_dask,
)
from .experiment_runs import err_console, experiment_versions, out_console, progress_bar
from .inputs import fail
from .options import (
    ExperimentNameOption,
    OverridesOption,
    ResultsRootOption,
    ScenarioArgument,
    SchedulerOption,
    SeedOption,
    YearsOption,
)

if TYPE_CHECKING:
    import pandas as pd

    from ...experiment.npe import NPEResult
    from ...scenario import Scenario
    from ..figures import Certificate


TARGETS_PACKAGE_DIR = "targets"

CALIBRATE_METHODS = ("abc", "npe")

NPE_FIELDS = {"--hidden": "hidden_features", "--transforms": "num_transforms"}  # else the name

ABC_DEFAULTS: dict[str, Any] = {
    "--population": 100,
    "--generations": 6,
    "--min-epsilon": 0.0,
    "--min-acceptance": 0.02,
}


def calibrate(
    scenario: ScenarioArgument,
    targets: Annotated[
        list[str] | None,
        typer.Option(
            "--targets",
            help="Targets CSV (series,period,value,low,high,reliability,source); "
            "repeatable; 'default' = the packaged targets from shared/data.",
        ),
    ] = None,
    params: Annotated[
        str | None,
        typer.Option(
            "--params",
            help="Comma-separated uncertainties to calibrate (default: those of the "
            "scenario's shipped posterior, else all declared if at most 30).",
        ),
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="abc: ABC-SMC (pyabc); npe: amortised neural posterior estimation (sbi) "
            "with SBC, coverage, identifiability and misspecification checks.",
        ),
    ] = "abc",
    until: Annotated[
        int,
        typer.Option("--until", help="Calibrate on observed outcomes up to this year only."),
    ] = 2016,
    population: Annotated[
        int | None, typer.Option("--population", help="ABC: particles.", show_default="100")
    ] = None,
    generations: Annotated[
        int | None,
        typer.Option("--generations", help="ABC: generation limit.", show_default="6"),
    ] = None,
    min_epsilon: Annotated[
        float | None,
        typer.Option(
            "--min-epsilon", help="ABC: stop when the tolerance reaches this.", show_default="0"
        ),
    ] = None,
    min_acceptance: Annotated[
        float | None,
        typer.Option(
            "--min-acceptance", help="ABC: stop below this acceptance rate.", show_default="0.02"
        ),
    ] = None,
    max_simulations: Annotated[
        int | None, typer.Option("--max-simulations", help="ABC: simulation budget.")
    ] = None,
    simulations: Annotated[
        int | None,
        typer.Option(
            "--simulations",
            help="NPE: training simulations (Latin hypercube).",
            show_default="1000",
        ),
    ] = None,
    holdout: Annotated[
        int | None,
        typer.Option(
            "--holdout",
            help="NPE: held-out simulations from the prior for SBC, coverage and recovery.",
            show_default="300",
        ),
    ] = None,
    posterior_samples: Annotated[
        int | None,
        typer.Option(
            "--posterior-samples", help="NPE: posterior samples written.", show_default="1000"
        ),
    ] = None,
    sbc_samples: Annotated[
        int | None,
        typer.Option(
            "--sbc-samples",
            help="NPE: posterior samples per held-out simulation for the ranks.",
            show_default="200",
        ),
    ] = None,
    density: Annotated[
        str | None,
        typer.Option("--density", help="NPE: maf | nsf | mdn.", show_default="maf"),
    ] = None,
    hidden: Annotated[
        int | None,
        typer.Option("--hidden", help="NPE: hidden features per layer.", show_default="50"),
    ] = None,
    transforms: Annotated[
        int | None,
        typer.Option("--transforms", help="NPE: flow transforms.", show_default="5"),
    ] = None,
    embedding: Annotated[
        int | None,
        typer.Option(
            "--embedding",
            help="NPE: features of a small MLP embedding of the summaries (0: none).",
            show_default="0",
        ),
    ] = None,
    max_epochs: Annotated[
        int | None,
        typer.Option("--max-epochs", help="NPE: training epoch limit.", show_default="1000"),
    ] = None,
    ensemble: Annotated[
        int | None,
        typer.Option(
            "--ensemble", help="NPE: flows trained from different seeds, mixed.", show_default="5"
        ),
    ] = None,
    observation: Annotated[
        str | None,
        typer.Option(
            "--observation",
            help="NPE: targets (observed through the targets' ranges and reliability, as "
            "the ABC distance reads them) | exact (the target centres, no error).",
            show_default="targets",
        ),
    ] = None,
    replicates: Annotated[
        int, typer.Option("--replicates", help="Replicates per particle or simulation.")
    ] = 1,
    seed: SeedOption = None,
    years: YearsOption = None,
    sets: OverridesOption = None,
    workers: Annotated[
        int, typer.Option("--workers", help="Workers (1: single core, no Dask).")
    ] = max(1, os.cpu_count() or 1),
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            help="NPE: auto | serial | processes | dask (ABC runs on Dask when --workers > 1).",
        ),
    ] = "auto",
    scheduler: SchedulerOption = None,
    out: ResultsRootOption = DEFAULT_OUT,
    name: ExperimentNameOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing calibration of that name.")
    ] = False,
    uncalibrated: Annotated[
        str,
        typer.Option(
            "--others",
            help="The scenario's declared uncertainties not calibrated, in each "
            "simulation (ABC and NPE): held (at their values) or ranges (drawn uniformly, "
            "as a run with the posterior draws them, so the posterior integrates over them).",
        ),
    ] = "held",
) -> None:
    """Calibration against observed targets (ABC-SMC or NPE); writes a calibrated scenario TOML."""
    if method not in CALIBRATE_METHODS:
        fail(f"--method must be one of {', '.join(CALIBRATE_METHODS)} (got {method!r})")
    abc_given = {
        "--population": population,
        "--generations": generations,
        "--min-epsilon": min_epsilon,
        "--min-acceptance": min_acceptance,
        "--max-simulations": max_simulations,
    }
    npe_given = {
        "--simulations": simulations,
        "--holdout": holdout,
        "--posterior-samples": posterior_samples,
        "--sbc-samples": sbc_samples,
        "--density": density,
        "--hidden": hidden,
        "--transforms": transforms,
        "--embedding": embedding,
        "--max-epochs": max_epochs,
        "--ensemble": ensemble,
        "--observation": observation,
    }
    others = npe_given if method == "abc" else abc_given
    misplaced = [opt for opt, value in others.items() if value is not None]
    if method == "abc" and executor != "auto":
        misplaced.append("--executor")
    if misplaced:
        other = "npe" if method == "abc" else "abc"
        fail(f"{', '.join(misplaced)}: only with --method {other}")
    check_positive("--replicates", replicates)
    check_positive("--workers", workers)
    if uncalibrated not in ("held", "ranges"):
        fail(f"--others must be held or ranges (got {uncalibrated!r})")
    if method == "npe":
        _calibrate_npe(
            scenario,
            targets,
            params,
            until,
            {
                NPE_FIELDS.get(k, k[2:].replace("-", "_")): v
                for k, v in npe_given.items()
                if v is not None
            },
            replicates=replicates,
            seed=seed,
            years=years,
            sets=sets,
            workers=workers,
            executor=executor,
            scheduler=scheduler,
            out=out,
            name=name,
            force=force,
            uncalibrated=uncalibrated,
        )
        return
    _calibrate_abc(
        scenario,
        targets,
        params,
        until,
        population=ABC_DEFAULTS["--population"] if population is None else population,
        generations=ABC_DEFAULTS["--generations"] if generations is None else generations,
        min_epsilon=ABC_DEFAULTS["--min-epsilon"] if min_epsilon is None else min_epsilon,
        min_acceptance=(
            ABC_DEFAULTS["--min-acceptance"] if min_acceptance is None else min_acceptance
        ),
        max_simulations=max_simulations,
        replicates=replicates,
        seed=seed,
        years=years,
        sets=sets,
        workers=workers,
        scheduler=scheduler,
        out=out,
        name=name,
        force=force,
        uncalibrated=uncalibrated,
    )


def read_targets(spec: Sequence[str] | None) -> list[Any]:
    """Targets from files, or the packaged targets (``default`` or nothing)."""
    from ...experiment.targets import TargetError, parse_targets

    texts: list[tuple[str, str]] = []
    for item in spec or ["default"]:
        if item == "default":
            folder = resources.files("lipsteeth") / "data" / TARGETS_PACKAGE_DIR
            for entry in sorted(folder.iterdir(), key=lambda e: e.name):
                if entry.name.endswith(".csv"):
                    texts.append((f"data/targets/{entry.name}", entry.read_text("utf-8")))
        else:
            path = Path(item)
            if not path.is_file():
                fail(f"--targets {item}: no such file")
            try:
                texts.append((str(path), path.read_text("utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                fail(f"--targets {item}: cannot read: {exc}")
    targets = []
    try:
        for origin, text in texts:
            targets.extend(parse_targets(text, origin=origin))
    except TargetError as exc:
        fail(str(exc))
    keys = [t.key for t in targets]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        fail(f"targets repeat across files: {', '.join(dupes)}")
    return targets


def _calibration_targets(
    targets: Sequence[str] | None, loaded: Scenario, until: int
) -> tuple[list[Any], list[Any]]:
    """All targets read, and those in the scenario's horizon up to ``until``."""
    from ...experiment.targets import horizon_years, in_horizon

    all_targets = read_targets(targets)
    first, last = horizon_years(loaded.start, loaded.end)
    usable = [t for t in in_horizon(all_targets, range(first, last + 1)) if t.last_year <= until]
    if not usable:
        fail(f"no target up to {until} falls in the scenario's horizon {first}-{last}")
    return all_targets, usable


def _experiment_folder(out: Path, exp: str, force: bool) -> Path:
    """The experiment's folder (not created); refuses an existing one without --force."""
    try:
        cat.check_id(exp)
    except cat.CatalogError as exc:
        fail(str(exc))
    folder = Path(out) / "experiments" / exp
    if folder.exists() and not force:
        fail(f"{folder} exists (use --force to replace it, or --name)")
    return folder


def _calibrate_abc(
    scenario: str,
    targets: Sequence[str] | None,
    params: str | None,
    until: int,
    *,
    population: int,
    generations: int,
    min_epsilon: float,
    min_acceptance: float,
    max_simulations: int | None,
    replicates: int,
    seed: int | None,
    years: float | None,
    sets: Sequence[str] | None,
    workers: int,
    scheduler: str | None,
    out: Path,
    name: str | None,
    force: bool,
    uncalibrated: str = "held",
) -> None:
    """ABC-SMC calibration against observed targets; writes a calibrated scenario TOML."""
    import shutil

    from ...experiment import calibration as cal
    from ...experiment.targets import horizon_years, targets_csv
    from .. import figures as figs
    from ..executors_dask import dask_client, pyabc_sampler

    check_positive("--population", population, 2)
    check_positive("--generations", generations)
    if not 0 <= min_acceptance < 1:
        fail("--min-acceptance must be in [0, 1)")
    require_experiment_extras(
        "calibrate", ["pandas", "pyabc"], on_dask=bool(scheduler) or workers > 1
    )
    loaded = load_scenario_for(scenario, years, sets)
    if uncalibrated == "ranges":
        from ...experiment.posterior import with_uncertainty

        # each simulation draws the uncalibrated uncertainties from its own seed; the
        # calibrated ones are held at the particle's values (with_overrides holds them)
        loaded = with_uncertainty(loaded, "ranges")
    root_seed = loaded.seed if seed is None else seed
    all_targets, usable = _calibration_targets(targets, loaded, until)
    first, last = horizon_years(loaded.start, loaded.end)
    try:
        priors = cal.priors_from_scenario(loaded, split_names(params))
        settings = cal.CalibrationSettings(
            population_size=population,
            max_generations=generations,
            min_epsilon=min_epsilon,
            min_acceptance_rate=min_acceptance,
            max_simulations=max_simulations,
            replicates=replicates,
            seed=root_seed,
        )
    except cal.CalibrationError as exc:
        fail(str(exc))
    digest = cat.plan_hash(
        {
            "scenario": loaded.to_dict(),
            "targets": targets_csv(usable),
            "priors": [p.__dict__ for p in priors],
            "settings": settings.__dict__,
            "others": uncalibrated,
        }
    )
    exp = name or f"calibrate-{loaded.name}-{digest[:10]}"
    folder = _experiment_folder(out, exp, force)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    store = cat.ExperimentStore(Path(out), exp)
    err = err_console()
    err.print(
        f"calibrating {len(priors)} parameters against {len(usable)} targets "
        f"({len(all_targets) - len(usable)} outside the horizon) with "
        f"{population} particles, up to {generations} generations"
    )
    db_path = (folder / "abc.db").resolve()
    db_url = f"sqlite:///{db_path}"
    started = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            client = None
            if scheduler or workers > 1:
                client = stack.enter_context(dask_client(workers, scheduler))
            update = stack.enter_context(progress_bar(f"ABC-SMC {exp}", "generations"))
            stack.enter_context(_watch_generations(db_path, generations, update))
            result = cal.calibrate(
                loaded,
                usable,
                priors,
                settings,
                db_url=db_url,
                sampler=pyabc_sampler(client),
            )
    except ExecutorError as exc:
        fail(str(exc))
    except cal.CalibrationError as exc:
        fail(str(exc))
    wall = time.perf_counter() - started
    store.write_analysis("posterior", result.populations.assign(method="abc"))
    store.write_analysis("generations", result.generations)
    summary = result.summary()
    store.write_analysis("posterior_summary", summary)
    cat.atomic_text(targets_csv(usable), folder / "targets.csv")
    fig1 = figs.write_png(
        figs.posterior_figure(figs.marginals_of(result), note=figs.posterior_note(result)),
        store.figure_path("posterior_vs_prior.png"),
    )
    fig2 = figs.write_png(
        figs.abc_diagnostics_figure(result), store.figure_path("abc_diagnostics.png")
    )
    cal_name = f"{loaded.name}-calibrated"
    # The calibrated values go into the scenario as given (with its --set values) over its
    # full horizon: --years only shortens the simulations used to calibrate.
    full = load_scenario_for(scenario, None, sets) if years is not None else loaded
    note = f"experiment {exp}" + (
        f", simulated {first}-{last} (--years {years:g})" if years is not None else ""
    )
    toml = cal.calibrated_toml(full, result, name=cal_name, note=note)

    toml_path = folder / f"{cal_name}.toml"
    cat.atomic_text(toml, toml_path)
    manifest = {
        "experiment": exp,
        "kind": "calibrate",
        "method": "abc",
        "scenario": loaded.name,
        "scenario_source": str(loaded.source),
        "status": cat.STATUS_COMPLETE,
        "priors": [p.__dict__ for p in priors],
        "targets": [t.key for t in usable],
        "settings": settings.__dict__,
        "others": uncalibrated,
        "n_runs": result.n_simulations,
        "replicates": replicates,
        "stop_reason": result.stop_reason,
        "wall_seconds": round(wall, 3),
        "calibrated_scenario": str(toml_path),
        "command_line": ["lipsteeth", *sys.argv[1:]],
        "versions": experiment_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
    }
    cat.atomic_text(cat.dumps(manifest), folder / cat.MANIFEST)
    cat.register_calibration(store, result.populations, [p.name for p in priors])
    con = out_console()
    gens = Table(title=f"ABC-SMC {exp}: {result.stop_reason}")
    for c in ("generation", "epsilon", "simulations", "acceptance", "ESS"):
        gens.add_column(c, justify="right")
    for r in result.generations.itertuples(index=False):
        gens.add_row(
            str(r.generation),
            f"{r.epsilon:.4g}",
            str(r.simulations),
            f"{r.acceptance_rate:.3f}",
            f"{r.ess:.1f}",
        )
    con.print(gens)
    post = Table(title="posterior (weighted median and 90 % interval) vs prior")
    for c in ("parameter", "median", "90 % interval", "prior"):
        post.add_column(c)
    for r in summary.itertuples(index=False):
        post.add_row(
            r.parameter,
            f"{r.median:.4g}",
            f"[{r.low:.4g}, {r.high:.4g}]",
            f"[{r.prior_low:.4g}, {r.prior_high:.4g}]",
        )
    con.print(post)
    con.print(
        f"{result.n_simulations} simulations in {wall:.1f} s; calibrated scenario: {toml_path}"
    )
    con.print(f"figures: {fig1}  {fig2}")


def _calibrate_npe(
    scenario: str,
    targets: Sequence[str] | None,
    params: str | None,
    until: int,
    options: dict[str, Any],
    *,
    replicates: int,
    seed: int | None,
    years: float | None,
    sets: Sequence[str] | None,
    workers: int,
    executor: str,
    scheduler: str | None,
    out: Path,
    name: str | None,
    force: bool,
    uncalibrated: str = "held",
) -> None:
    """NPE calibration: posterior, certificate (SBC, coverage, recovery, misspecification).

    ``uncalibrated`` ``ranges``: every training and held-out simulation draws the
    declared uncertainties not calibrated from their ranges (its own stream, as a run
    with the posterior draws them), so the posterior and its certificate integrate over
    them; ``held`` keeps them at the scenario's values.
    """
    import shutil

    check_executor(workers, executor)
    require_experiment_extras(
        "calibrate --method npe",
        ["pandas", "sbi", "torch"],
        on_dask=uses_dask(executor, workers, scheduler),
    )
    from ...experiment import calibration as cal
    from ...experiment import npe
    from ...experiment.targets import horizon_years, targets_csv
    from .. import figures as figs

    loaded = load_scenario_for(scenario, years, sets)
    if uncalibrated == "ranges":
        from ...experiment.posterior import with_uncertainty

        # the calibrated uncertainties are held at each simulation's values (with_overrides
        # holds them); the others are drawn per simulation from its replicate's stream
        loaded = with_uncertainty(loaded, "ranges")
    root_seed = loaded.seed if seed is None else seed
    all_targets, usable = _calibration_targets(targets, loaded, until)
    try:
        settings = npe.NPESettings(replicates=replicates, seed=root_seed, **options)
        priors = cal.priors_from_scenario(loaded, split_names(params))
        # Simulate only as far as the last observation used (unless --years says otherwise).
        simulated = loaded if years is not None else npe.calibration_horizon(loaded, usable, until)
    except cal.CalibrationError as exc:
        fail(str(exc))
    first, last = horizon_years(simulated.start, simulated.end)
    digest = cat.plan_hash(
        {
            "method": "npe",
            "scenario": simulated.to_dict(),
            "targets": targets_csv(usable),
            "priors": [p.__dict__ for p in priors],
            "settings": settings.__dict__,
            "others": uncalibrated,
        }
    )
    exp = name or f"calibrate-npe-{loaded.name}-{digest[:10]}"
    folder = _experiment_folder(out, exp, force)
    err = err_console()
    err.print(
        f"NPE: {len(priors)} parameters, {len(usable)} targets up to {until} "
        f"({len(all_targets) - len(usable)} left out), {settings.simulations} training and "
        f"{settings.holdout} held-out simulations of {simulated.start}..{simulated.end}; "
        f"other uncertainties {uncalibrated}"
    )
    started = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            ex = stack.enter_context(open_executor(executor, workers, scheduler))
            update = stack.enter_context(progress_bar(f"NPE {exp}", "simulations"))
            result = npe.calibrate_scenario(
                simulated,
                usable,
                priors,
                settings,
                executor=ex,
                progress=update,
                stage=lambda text: err.print(f"NPE: {text}"),
            )
    except ExecutorError as exc:
        fail(str(exc))
    except cal.CalibrationError as exc:
        fail(str(exc))
    wall = time.perf_counter() - started
    # Everything is computed: only now is the folder (re)placed and written.
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    store = cat.ExperimentStore(Path(out), exp)
    store.write_analysis("posterior", result.populations.assign(method="npe"))
    store.write_analysis("generations", result.generations)
    summary = result.summary()
    store.write_analysis("posterior_summary", summary)
    payload = _write_certificate(store, result)
    cat.atomic_text(targets_csv(usable), folder / "targets.csv")
    fig1 = figs.write_png(
        figs.posterior_figure(figs.marginals_of(result), note=figs.posterior_note(result)),
        store.figure_path("posterior_vs_prior.png"),
    )
    certificate = figs.certificate_of(result, exp)
    fig2 = figs.write_png(
        figs.certificate_figure(certificate), store.figure_path("npe_diagnostics.png")
    )
    cal_name = f"{loaded.name}-calibrated"
    full = load_scenario_for(scenario, None, sets)
    note = f"experiment {exp}, simulated {first}-{last}, targets up to {until}"
    toml = cal.calibrated_toml(full, result, name=cal_name, note=note)
    toml_path = folder / f"{cal_name}.toml"
    cat.atomic_text(toml, toml_path)
    diag = result.diagnostics
    manifest = {
        "experiment": exp,
        "kind": "calibrate",
        "method": "npe",
        "scenario": loaded.name,
        "scenario_source": str(loaded.source),
        "status": cat.STATUS_COMPLETE,
        "priors": [p.__dict__ for p in priors],
        "targets": [t.key for t in usable],
        "until": until,
        "simulated": {"start": str(simulated.start), "end": str(simulated.end)},
        "settings": settings.__dict__,
        "others": uncalibrated,
        "executor": {"kind": executor, "workers": workers, "scheduler": scheduler},
        "n_runs": result.n_simulations,
        "replicates": replicates,
        "diagnostics": {
            "passed": diag.passed,
            "sbc_passed": bool(diag.sbc["passed"]),
            "coverage_passed": diag.coverage_passed,
            "coverage_50": diag.coverage_at(0.5).hpd,
            "coverage_90": diag.coverage_at(0.9).hpd,
            "misspecification_flagged": bool(diag.misspecification["flagged"]),
            "identified": [
                r["parameter"] for r in diag.identifiability if r["label"] == "identified"
            ],
        },
        "fingerprint": payload["training"]["fingerprint"],
        "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "wall_seconds": round(wall, 3),
        "calibrated_scenario": str(toml_path),
        "command_line": ["lipsteeth", *sys.argv[1:]],
        "versions": experiment_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
    }
    cat.atomic_text(cat.dumps(manifest), folder / cat.MANIFEST)
    cat.register_calibration(store, result.populations, [p.name for p in priors], method="npe")
    _print_npe(result, certificate, summary, exp, wall, toml_path, [fig1, fig2])


def _write_certificate(store: cat.ExperimentStore, result: NPEResult) -> dict[str, Any]:
    """Write an NPE calibration's certificate beside ABC-SMC's files; returns its JSON.

    ``analysis/``: ``npe_training`` (split, index, parameters ``theta:*``, simulated
    summaries ``sim:*``, the network's inputs ``x:*``), ``npe_sbc_ranks`` (per
    held-out simulation: rank per parameter, then ``joint``), ``npe_coverage`` (per
    credibility level), ``npe_identifiability`` (per parameter), ``npe_misspecification``
    (per summary), ``npe_standardiser`` and ``npe_observation`` (the network's input
    transform and the targets' error model); ``npe_diagnostics.json``: every check,
    its rule and result, and the training (``NPEResult.certificate()``).
    """
    import pandas as pd

    from ..report.certificate import DIAGNOSTICS_JSON, RANKS_TABLE

    names = [p.name for p in result.priors]
    d = result.diagnostics
    frames = []
    for split, theta, m, x in (
        ("train", result.theta_train, result.m_train, result.x_train),
        ("holdout", result.theta_holdout, result.m_holdout, result.x_holdout),
    ):
        columns: dict[str, Any] = {"split": split, "index": np.arange(len(theta))}
        columns.update({f"theta:{n}": theta[:, k] for k, n in enumerate(names)})
        columns.update({f"sim:{n}": m[:, k] for k, n in enumerate(result.summary_names)})
        columns.update({f"x:{n}": x[:, k] for k, n in enumerate(result.summary_names)})
        frames.append(pd.DataFrame(columns))
    store.write_analysis("npe_training", pd.concat(frames, ignore_index=True))
    ranks = pd.DataFrame(d.ranks[:, : len(names)], columns=names)
    ranks.insert(0, "holdout", np.arange(len(ranks)))
    ranks["joint"] = d.ranks[:, -1]
    store.write_analysis(RANKS_TABLE, ranks)
    store.write_analysis("npe_coverage", pd.DataFrame([r.to_dict() for r in d.coverage]))
    store.write_analysis("npe_identifiability", pd.DataFrame(d.identifiability))
    store.write_analysis("npe_misspecification", pd.DataFrame(d.misspecification["summaries"]))
    store.write_analysis(
        "npe_standardiser",
        pd.DataFrame(result.trained.standardiser.to_dict(result.summary_names)),
    )
    store.write_analysis(
        "npe_observation", pd.DataFrame(result.observation.to_dict(result.summary_names))
    )
    payload: dict[str, Any] = result.certificate()
    store.write_json(DIAGNOSTICS_JSON, payload)
    return payload


def _print_npe(
    result: NPEResult,
    certificate: Certificate,
    summary: pd.DataFrame,
    exp: str,
    wall: float,
    toml_path: Path,
    figs: list[Path],
) -> None:
    """The human summary of an NPE calibration: checks, recovery, posterior."""
    from ..report.certificate import certificate_rows

    con = out_console()
    verdict = "PASSED" if certificate.passed else "FAILED"
    checks = Table(title=f"NPE {exp}: certificate {verdict}")
    for c in ("check", "value", "result"):
        checks.add_column(c)
    for row in certificate_rows(certificate):
        checks.add_row(row["check"], row["value"], row["result"])
    con.print(checks)
    ident = Table(title="identifiability (held-out recovery)")
    for c in ("parameter", "correlation", "width ratio", "label"):
        ident.add_column(c, justify="left" if c in ("parameter", "label") else "right")
    for r in sorted(certificate.identifiability, key=lambda r: -r["correlation"]):
        ident.add_row(
            r["parameter"], f"{r['correlation']:.2f}", f"{r['width_ratio']:.2f}", r["label"]
        )
    con.print(ident)
    post = Table(title="posterior (median and 90 % interval) vs prior")
    for c in ("parameter", "median", "90 % interval", "prior"):
        post.add_column(c)
    for r in summary.itertuples(index=False):
        post.add_row(
            r.parameter,
            f"{r.median:.4g}",
            f"[{r.low:.4g}, {r.high:.4g}]",
            f"[{r.prior_low:.4g}, {r.prior_high:.4g}]",
        )
    con.print(post)
    s = result.seconds
    con.print(
        f"{result.n_simulations} simulations ({s.get('simulate', 0):.1f} s), training "
        f"{result.trained.epochs} epochs ({s.get('train', 0):.1f} s), diagnostics "
        f"{s.get('diagnostics', 0):.1f} s; {wall:.1f} s in all; calibrated scenario: {toml_path}"
    )
    con.print("figures: " + "  ".join(str(f) for f in figs))


@contextlib.contextmanager
def _watch_generations(
    db_path: Path, total: int, update: Callable[[int, int], None], every: float = 1.0
) -> Iterator[None]:
    """Poll pyabc's history database (read-only) and advance the bar per finished generation."""
    import logging
    import sqlite3
    import threading

    for name in ("ABC", "ABC.History", "ABC.Sampler", "ABC.Population", "ABC.Distance"):
        logging.getLogger(name).setLevel(logging.WARNING)
    stop = threading.Event()

    def snapshot() -> None:
        if not db_path.is_file():
            return
        with contextlib.suppress(sqlite3.Error):
            con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
            try:
                row = con.execute("SELECT count(*) FROM populations WHERE t >= 0").fetchone()
            finally:
                con.close()
            update(min(int(row[0]), total), total)

    def poll() -> None:
        update(0, total)
        while not stop.wait(every):
            snapshot()

    thread = threading.Thread(target=poll, name="abc-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        snapshot()


def register(app: typer.Typer) -> None:
    """Add ``calibrate`` to the main app."""
    app.command("calibrate")(calibrate)
