"""``lipsteeth validate``: compare a scenario's ensemble with observed series.

::

    lipsteeth validate SCENARIO --observed FILE.csv [--from YEAR] [--to YEAR] [--split YEAR]
                       [--series A,B] [--replicates N] [--seed S] [--events EVENTS.csv]
                       [--out DIR] [--json]
    lipsteeth validate SCENARIO --freeze FORECAST.json --split YEAR [--from YEAR] [--to YEAR]
                       [--series A,B] [--monthly] [--replicates N] [--seed S] [--force]
    lipsteeth validate SCENARIO --score FORECAST.json --observed FILE.csv [--out DIR] [--json]

``FILE`` is a CSV with the columns ``series,period,value`` and optional
``low,high`` (``lipsteeth.experiment.validation``), or the name of an observed
file shipped with the package (``01_arrivals_south_korea``, ..., or ``all``).
For each series the command reports ARD, MASE, WIS, CRPS, the shares of
observations inside the simulated 50 % and 90 % bands and the MAE relative to
persistence and to a linear drift (``lipsteeth.experiment.forecast_scores``),
over the window and, with ``--split``, over the years before and from the
split year.  It writes a results folder (the run's tables,
``validation.json`` and the figure ``validation.png``: simulated band against
observed points) and prints a table per series, or with ``--json`` one JSON
object on stdout.

``--freeze`` simulates and writes the forecast (members, median and 23
quantiles per series and period, the scenario's SHA-256 as the run manifest
records it, the root seed, replicates, window, split and versions) without
reading any observation; the write is atomic.  ``--score`` later scores that
file against the observed file without simulating, exactly as a direct
``validate`` with the same seed would; it refuses a file frozen for another
scenario (its ``scenario_sha256.resolved_toml``), a malformed one, or options
that contradict it.  Every refusal is one ``error:`` line naming the option or
field, exit code 2, before anything is simulated or written.

``register(app)`` adds it to the main app (``adapters.cli``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from ... import services
from ...core.jit import core_digest
from ...experiment.forecast_scores import QUANTILE_LEVELS, Forecast, FrozenForecastError
from ...experiment.posterior import uncertainty_of
from ...experiment.validation import (
    SERIES,
    Observation,
    ObservedError,
    SeriesReport,
    SimulatedBand,
    ValidationReport,
    WindowScores,
    freeze,
    parse_observed,
    period_x,
    read_frozen,
    simulated_band,
    validate,
)
from .. import store
from .inputs import MAX_REPLICATES, check_range, fail, load, require_extra
from .options import (
    EventsOption,
    ForceOption,
    JsonOption,
    PosteriorOption,
    ReplicatesOption,
    ResultsFolderOption,
    ScenarioArgument,
    SeedOption,
    UncertaintyOption,
)

OBSERVED_PACKAGE_DIR = "observed"
VALIDATION_FILE = "validation.json"
FIGURE_FILE = "validation.png"
MIN_YEAR, MAX_YEAR = 1800, 2300


# ---------------------------------------------------------------------------
# observed files


def shipped_observed() -> dict[str, Any]:
    """Observed files shipped in ``lipsteeth/data/observed`` by stem."""
    folder = resources.files("lipsteeth").joinpath("data", OBSERVED_PACKAGE_DIR)
    if not folder.is_dir():
        return {}
    return {
        item.name.removesuffix(".csv"): item
        for item in folder.iterdir()
        if item.name.endswith(".csv") and item.is_file()
    }


def read_observed(spec: str) -> list[Observation]:
    """Observations of a file path, of a shipped observed file by name, or of ``all`` of them."""
    path = Path(spec)
    shipped = shipped_observed()
    if path.is_file():
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            fail(f"{spec}: not UTF-8 text (bad byte at offset {exc.start})")
        except OSError as exc:
            fail(f"{spec}: cannot read: {exc.strerror or exc}")
        sources = [(text, spec)]
    elif path.is_dir():
        fail(f"{spec}: is a directory, not an observed CSV file")
    elif spec == "all" and shipped:
        sources = [(shipped[name].read_text(encoding="utf-8"), name) for name in sorted(shipped)]
    elif spec.removesuffix(".csv") in shipped:
        name = spec.removesuffix(".csv")
        sources = [(shipped[name].read_text(encoding="utf-8"), name)]
    else:
        names = ", ".join(["all", *sorted(shipped)])
        fail(f"{spec}: no such observed file (nor a shipped one: {names})")
    observations: list[Observation] = []
    try:
        for text, source in sources:
            observations += parse_observed(text, source)
    except ObservedError as exc:
        fail(str(exc))
    return observations


# ---------------------------------------------------------------------------
# output


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def _amount(value: float | None) -> str:
    """A score in the series' unit: readable for persons and for dollars."""
    if value is None or not math.isfinite(value):
        return "-"
    if abs(value) >= 1e6:
        return f"{value:.3g}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _years(first: int | None, last: int | None) -> str:
    return f"{first if first is not None else '...'}-{last if last is not None else '...'}"


_ROWS: tuple[tuple[str, str, Callable[[float | None], str]], ...] = (
    ("ARD", "ard", lambda v: _fmt(v)),
    ("MASE", "mase", lambda v: _fmt(v)),
    ("WIS", "wis", _amount),
    ("CRPS", "crps", _amount),
    ("in 50% band", "coverage_50", _share),
    ("in 90% band", "coverage_90", _share),
    ("rel. MAE vs persistence", "rel_mae_persistence", lambda v: _fmt(v)),
    ("rel. MAE vs drift", "rel_mae_drift", lambda v: _fmt(v)),
)


def series_table(name: str, series: SeriesReport) -> Table:
    """One series: a column per window (all, before the split, from the split), a row per score."""
    anchor = "none"
    if series.anchor is not None:
        anchor = f"{series.anchor.period}: {series.anchor.reference:,.0f}"
        if series.anchor_in_window:
            anchor += " (first in window)"
    table = Table(
        title=f"{name} ({series.unit})",
        title_justify="left",
        caption=f"persistence anchor {anchor}",
        caption_justify="left",
    )
    windows: list[tuple[str, WindowScores]] = []
    if series.whole is not None:
        windows.append(("all", series.whole))
    labels = {"before_split": "before split", "from_split": "from split"}
    windows += [(labels.get(key, key), window) for key, window in series.windows.items()]
    table.add_column("score")
    for label, window in windows:
        table.add_column(f"{label}\n{_years(window.first_year, window.last_year)}", justify="right")
    table.add_row("n", *(str(len(w.comparisons)) for _, w in windows))
    for title, key, show in _ROWS:
        table.add_row(title, *(show(getattr(w, key)) for _, w in windows))
    return table


def report_tables(report: ValidationReport) -> list[Table]:
    """One table per series."""
    return [series_table(name, series) for name, series in report.series.items()]


BandOf = Callable[[str, bool], SimulatedBand]


def result_bands(result: Any, start: np.datetime64) -> BandOf:
    """Bands of a simulated ensemble over its whole horizon."""

    def band_of(name: str, monthly: bool) -> SimulatedBand:
        return simulated_band(result, name, monthly=monthly, start=start)

    return band_of


def frozen_bands(forecast: Forecast) -> BandOf:
    """Bands of a frozen forecast over its frozen periods (yearly, or monthly)."""

    def band_of(name: str, monthly: bool) -> SimulatedBand:
        spec = SERIES[name]
        rows = []
        for label, pf in forecast.periods.get(name, {}).items():
            year, month = int(label[:4]), (int(label[5:7]) if len(label) > 4 else None)
            if (month is not None) != monthly:
                continue
            p5, p95 = pf.central(0.9)
            rows.append((period_x(year, month, spec.observation), label, pf.median, p5, p95))
        rows.sort()
        return SimulatedBand(
            name,
            tuple(r[1] for r in rows),
            np.array([r[0] for r in rows]),
            np.array([r[2] for r in rows]),
            np.array([r[3] for r in rows]),
            np.array([r[4] for r in rows]),
        )

    return band_of


def figure_png(
    report: ValidationReport,
    band_of: BandOf,
    title: str,
    observations: Sequence[Observation] = (),
) -> bytes:
    """One panel per series: simulated median and 90 % band against the observed points.

    Drawn by the figures package's one validation figure, as the report draws it:
    scored observations green inside the band and red outside, observations of
    the same series outside the scored years grey circles, a dashed line at the
    split year.
    """
    from .. import figures

    panels = figures.validation_panels(report, band_of, observations)
    return figures.png_bytes(figures.validation_figure(panels, title=title))


def _write_folder(target: Path, files: Mapping[str, bytes], *, force: bool) -> None:
    """Write a whole folder of files at once: a staging folder renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        for name, data in files.items():
            store.atomic_bytes(data, staging / name)
        store.move_into_place(staging, target, force=force)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# ---------------------------------------------------------------------------
# options


def parse_series(text: str | None) -> list[str] | None:
    """The names of ``--series a,b`` (None: every series), refusing an unknown one."""
    if text is None:
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        fail("--series: give one or more series names separated by commas")
    for name in names:
        if name not in SERIES:
            close = difflib.get_close_matches(name, list(SERIES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            fail(f"--series: unknown series {name!r}{hint} (known: {', '.join(SERIES)})")
    return list(dict.fromkeys(names))


def _check_split(split: int | None, first: int | None, last: int | None, where: str) -> None:
    """Refuse a split year that leaves one side of the window empty."""
    if split is None:
        return
    if (first is not None and split <= first) or (last is not None and split > last):
        after = "" if first is None else f" after {first}"
        most = "" if last is None else f" at most {last}"
        both = " and" if after and most else ""
        fail(f"--split {split}: must be{after}{both}{most} ({where})")


def _versions() -> dict[str, str | None]:
    """Versions of the run manifest's packages, plus the simulation's and the scores' own."""
    import importlib.metadata

    versions = store.package_versions()
    for dist in ("numba", "scoringrules"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def _horizon_years(loaded: Any) -> tuple[int, int]:
    return int(str(loaded.start)[:4]), int(str(loaded.end)[:4])


def _load(
    scenario: str, events: Path | None, uncertainty: str = "none", posterior: Path | None = None
) -> Any:
    from ..posterior_files import apply_uncertainty

    loaded = load(scenario)
    if events is not None:
        from ...scenario.events_csv import load_event_csv, with_events

        loaded = with_events(loaded, load_event_csv(events))
    return apply_uncertainty(loaded, uncertainty, posterior)


def _simulate(loaded: Any, replicates: int, seed: int, chunk_size: int) -> Any:
    from .. import console as views

    err = views.stderr_console()
    with views.replicate_progress(err) as progress:
        task = progress.add_task(f"simulating {loaded.name}", total=replicates)
        return services.run_in_chunks(
            loaded,
            replicates=replicates,
            seed=seed,
            chunk_size=chunk_size,
            on_chunk=lambda k: progress.advance(task, k),
        )


def _print_report(report: ValidationReport, title: str, target: Path) -> None:
    con = Console(highlight=False)
    con.print(f"{title}; years {_years(report.first_year, report.last_year)}")
    for name, series in report.series.items():
        con.print(series_table(name, series))
        notes = [series.note] if series.note else []
        notes += [
            f"{key}: {w.note}"
            for key, w in series.windows.items()
            if w.note not in ("", series.note)
        ]
        for note in notes:
            con.print(f"  note: {note}")
    if report.skipped:
        reasons = sorted({why for _, why in report.skipped})
        con.print(f"{len(report.skipped)} observation(s) skipped: {'; '.join(reasons)}")
    con.print(f"results: {target} ({VALIDATION_FILE}, {FIGURE_FILE})")


def _in_window(observations: Sequence[Observation], first: int | None, last: int | None) -> list:
    return [
        o
        for o in observations
        if (first is None or o.year >= first) and (last is None or o.year <= last)
    ]


def _only(observations: list[Observation], series: list[str] | None) -> list[Observation]:
    return observations if series is None else [o for o in observations if o.series in series]


# ---------------------------------------------------------------------------
# the command


def validate_command(
    scenario: ScenarioArgument,
    observed: Annotated[
        str | None,
        typer.Option(
            "--observed",
            help=(
                "CSV with columns series,period,value[,low,high] (period YYYY or YYYY-MM), "
                "or a shipped observed file by name (01_arrivals_south_korea, ...; 'all'). "
                "Not read with --freeze."
            ),
        ),
    ] = None,
    first_year: Annotated[
        int | None,
        typer.Option("--from", help="First year scored (earlier rows anchor the benchmarks)."),
    ] = None,
    last_year: Annotated[int | None, typer.Option("--to", help="Last year scored.")] = None,
    split: Annotated[
        int | None,
        typer.Option(
            "--split",
            help="Also score the years before this one and from it (in vs out of sample).",
        ),
    ] = None,
    series: Annotated[
        str | None,
        typer.Option("--series", help="Comma-separated series to score or freeze (default: all)."),
    ] = None,
    freeze_file: Annotated[
        Path | None,
        typer.Option(
            "--freeze",
            help="Simulate and write the forecast (quantiles per series and period) to this "
            "JSON file without reading any observation; needs --split.",
        ),
    ] = None,
    score_file: Annotated[
        Path | None,
        typer.Option(
            "--score",
            help="Score this frozen forecast against --observed without simulating.",
        ),
    ] = None,
    monthly: Annotated[
        bool, typer.Option("--monthly", help="With --freeze: also freeze every month.")
    ] = False,
    replicates: ReplicatesOption = None,
    seed: SeedOption = None,
    events: EventsOption = None,
    out: ResultsFolderOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Replicates simulated per progress step.")
    ] = 4,
    uncertainty: UncertaintyOption = "auto",
    posterior: PosteriorOption = None,
) -> None:
    """Validate a scenario against observed series: ARD, MASE, WIS, CRPS, coverage, benchmarks.

    With --freeze, write the forecast instead (before any observation is read);
    with --score, score such a frozen forecast later.
    """
    started = time.perf_counter()
    for option, value in (("--from", first_year), ("--to", last_year), ("--split", split)):
        check_range(option, value, MIN_YEAR, MAX_YEAR)
    if first_year is not None and last_year is not None and first_year > last_year:
        fail(f"--from {first_year} is after --to {last_year}")
    _check_split(split, first_year, last_year, "--from/--to")
    check_range("--replicates", replicates, 2, MAX_REPLICATES)
    check_range("--seed", seed, 0)
    check_range("--chunk-size", chunk_size, 1, MAX_REPLICATES)
    chosen = parse_series(series)
    # WIS and CRPS (scoringrules) are in the experiments extra
    require_extra("lipsteeth validate", ["scoringrules"])
    if freeze_file is not None and score_file is not None:
        fail("--score: cannot be combined with --freeze (freeze first, score later)")
    if monthly and freeze_file is None:
        fail("--monthly: only with --freeze (validate scores every observed period)")
    if freeze_file is not None:
        if observed is not None:
            fail(
                "--observed: not read with --freeze (the forecast is written before any "
                "observation is seen; score it later with --score)"
            )
        if out is not None:
            fail("--out: not used with --freeze (the forecast goes to the --freeze file)")
        _freeze_command(
            scenario,
            freeze_file,
            first_year=first_year,
            last_year=last_year,
            split=split,
            series=chosen,
            monthly=monthly,
            replicates=replicates,
            seed=seed,
            events=events,
            force=force,
            as_json=as_json,
            chunk_size=chunk_size,
            started=started,
            uncertainty=(uncertainty, posterior),
        )
        return
    if observed is None:
        fail("--observed: required (an observed CSV file or a shipped name; or use --freeze)")
    if score_file is not None:
        _score_command(
            scenario,
            score_file,
            observed,
            first_year=first_year,
            last_year=last_year,
            split=split,
            series=chosen,
            replicates=replicates,
            seed=seed,
            events=events,
            out=out,
            force=force,
            as_json=as_json,
            started=started,
        )
        return
    _validate_simulated(
        scenario,
        observed,
        first_year=first_year,
        last_year=last_year,
        split=split,
        series=chosen,
        replicates=replicates,
        seed=seed,
        events=events,
        out=out,
        force=force,
        as_json=as_json,
        chunk_size=chunk_size,
        started=started,
        uncertainty=(uncertainty, posterior),
    )


def _validate_simulated(
    scenario: str,
    observed: str,
    *,
    first_year: int | None,
    last_year: int | None,
    split: int | None,
    series: list[str] | None,
    replicates: int | None,
    seed: int | None,
    events: Path | None,
    out: Path | None,
    force: bool,
    as_json: bool,
    chunk_size: int,
    started: float,
    uncertainty: tuple[str, Path | None] = ("none", None),
) -> None:
    """Simulate, score against the observed file, write the results folder."""
    observations = _only(read_observed(observed), series)
    loaded = _load(scenario, events, *uncertainty)
    first_sim, last_sim = _horizon_years(loaded)
    _check_split(split, first_sim, last_sim, f"the simulated horizon {first_sim}-{last_sim}")
    in_window = _in_window(observations, first_year, last_year)
    if not in_window:
        fail(f"{observed}: no observation in the years {first_year or '...'}-{last_year or '...'}")
    if not any(first_sim <= o.year <= last_sim for o in in_window):
        fail(
            f"{observed}: no observation in the window falls inside the simulated horizon "
            f"{first_sim}-{last_sim} of {loaded.name}"
        )
    root_seed = loaded.seed if seed is None else seed
    n_replicates = loaded.replicates if replicates is None else replicates
    check_range("replicates", n_replicates, 2, MAX_REPLICATES)
    run_id = "validate-" + store.default_run_id(loaded.name, root_seed)
    try:
        target = store.resolve_target(out, run_id=run_id, force=force)
    except store.ResultsFolderError as exc:
        fail(str(exc))

    result = _simulate(loaded, n_replicates, root_seed, chunk_size)
    try:
        report = validate(
            result,
            observations,
            first_year=first_year,
            last_year=last_year,
            start=loaded.start,
            split=split,
        )
    except ObservedError as exc:
        fail(str(exc))
    title = (
        f"{loaded.name} vs {observed}: {n_replicates} replicates, seed {root_seed}; "
        f"bands hold {uncertainty_of(loaded).label}"
    )
    from .. import console as views

    with views.stderr_console().status("drawing the figure"):
        png = figure_png(report, result_bands(result, loaded.start), title, observations)

    wall_time_s = time.perf_counter() - started
    payload = {
        "scenario": loaded.name,
        "scenario_sha256": store.scenario_hashes(loaded)["resolved_toml"],
        "observed": observed,
        "events": None if events is None else str(events),
        "seed": int(root_seed),
        "replicates": int(n_replicates),
        "horizon": [str(loaded.start), str(loaded.end)],
        "forecast": "simulated",
        "uncertainty": uncertainty_of(loaded).describe(),
        "quantile_levels": list(QUANTILE_LEVELS),
        **report.to_dict(),
        "results_dir": str(target),
        "figure": str(target / FIGURE_FILE),
        "wall_time_s": round(wall_time_s, 3),
    }
    try:
        services.record_run(
            target,
            run_id=run_id,
            scenario=loaded,
            result=result,
            seed=root_seed,
            wall_time_s=wall_time_s,
            force=force,
            files={
                VALIDATION_FILE: (store.dumps(payload, indent=2) + "\n").encode(),
                FIGURE_FILE: png,
            },
        )
    except (store.ResultsFolderError, services.ResultsWriteError) as exc:
        fail(str(exc))

    if as_json:
        sys.stdout.write(store.dumps(payload) + "\n")
        sys.stdout.flush()
        return
    _print_report(report, title, target)


def _freeze_command(
    scenario: str,
    path: Path,
    *,
    first_year: int | None,
    last_year: int | None,
    split: int | None,
    series: list[str] | None,
    monthly: bool,
    replicates: int | None,
    seed: int | None,
    events: Path | None,
    force: bool,
    as_json: bool,
    chunk_size: int,
    started: float,
    uncertainty: tuple[str, Path | None] = ("none", None),
) -> None:
    """Simulate and write the frozen forecast; no observation is read."""
    if split is None:
        fail("--split: required with --freeze (the first year the forecast claims out of sample)")
    if path.is_dir():
        fail(f"--freeze: {path} is a directory")
    if path.exists() and not force:
        fail(f"--freeze: {path} exists (use --force to replace it)")
    if not path.parent.is_dir():
        fail(f"--freeze: folder {path.parent} does not exist")
    loaded = _load(scenario, events, *uncertainty)
    first_sim, last_sim = _horizon_years(loaded)
    first = first_sim if first_year is None else first_year
    last = last_sim if last_year is None else last_year
    if not first_sim <= first <= last_sim:
        fail(f"--from {first} is outside the simulated horizon {first_sim}-{last_sim}")
    if not first_sim <= last <= last_sim:
        fail(f"--to {last} is outside the simulated horizon {first_sim}-{last_sim}")
    _check_split(split, first, last, f"the frozen years {first}-{last}")
    root_seed = loaded.seed if seed is None else seed
    n_replicates = loaded.replicates if replicates is None else replicates
    check_range("replicates", n_replicates, 2, MAX_REPLICATES)
    names = list(SERIES) if series is None else series

    result = _simulate(loaded, n_replicates, root_seed, chunk_size)
    meta = {
        "scenario": loaded.name,
        "scenario_source": str(loaded.source),
        "scenario_sha256": store.scenario_hashes(loaded),
        "events": None if events is None else str(events),
        "core_sha256": core_digest(),
        "uncertainty": uncertainty_of(loaded).describe(),
        "horizon": [str(loaded.start), str(loaded.end)],
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command_line": store.command_line(None),
        "versions": _versions(),
    }
    forecast = freeze(
        result,
        names,
        first_year=first,
        last_year=last,
        split=split,
        seed=root_seed,
        monthly=monthly,
        start=loaded.start,
        meta=meta,
    )
    try:
        store.atomic_bytes((store.dumps(forecast.to_dict(), indent=1) + "\n").encode(), path)
    except OSError as exc:
        fail(f"--freeze: cannot write {path}: {exc.strerror or exc}")
    n_periods = sum(len(p) for p in forecast.periods.values())
    summary = {
        "frozen": str(path),
        "scenario": loaded.name,
        "scenario_sha256": meta["scenario_sha256"]["resolved_toml"],
        "seed": int(root_seed),
        "replicates": int(n_replicates),
        "from": first,
        "to": last,
        "split": split,
        "series": names,
        "periods": n_periods,
        "wall_time_s": round(time.perf_counter() - started, 3),
    }
    if as_json:
        sys.stdout.write(store.dumps(summary) + "\n")
        sys.stdout.flush()
        return
    con = Console(highlight=False)
    con.print(
        f"froze {loaded.name} ({n_replicates} replicates, seed {root_seed}): {len(names)} "
        f"series x {n_periods // max(len(names), 1)} periods, {first}-{last}, split {split}"
    )
    con.print(f"scenario sha256 {summary['scenario_sha256']}")
    con.print(f"forecast: {path} (score it later with --score {path} --observed FILE)")


def _read_frozen(path: Path) -> Forecast:
    if not path.is_file():
        fail(f"--score {path}: no such frozen forecast file")
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        fail(f"--score {path}: not UTF-8 text (bad byte at offset {exc.start})")
    except json.JSONDecodeError as exc:
        fail(f"--score {path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")
    except OSError as exc:
        fail(f"--score {path}: cannot read: {exc.strerror or exc}")
    try:
        return read_frozen(doc, f"--score {path}")
    except FrozenForecastError as exc:
        fail(str(exc))


def _same(option: str, given: int | None, frozen: int | None, path: Path) -> None:
    if given is not None and given != frozen:
        fail(f"{option} {given} differs from the frozen forecast's {frozen} ({path})")


def _score_command(
    scenario: str,
    path: Path,
    observed: str,
    *,
    first_year: int | None,
    last_year: int | None,
    split: int | None,
    series: list[str] | None,
    replicates: int | None,
    seed: int | None,
    events: Path | None,
    out: Path | None,
    force: bool,
    as_json: bool,
    started: float,
) -> None:
    """Score a frozen forecast against the observed file; nothing is simulated."""
    forecast = _read_frozen(path)
    loaded = _load(scenario, events)
    given = str(store.scenario_hashes(loaded)["resolved_toml"])
    frozen_hash = forecast.meta["scenario_sha256"]["resolved_toml"]
    if given != frozen_hash:
        fail(
            f"--score {path}: scenario_sha256.resolved_toml {frozen_hash[:12]}... differs from "
            f"the scenario given ({loaded.name}: {given[:12]}...); the forecast was "
            "frozen for another scenario"
        )
    _same("--seed", seed, forecast.seed, path)
    _same("--replicates", replicates, forecast.replicates, path)
    _same("--from", first_year, forecast.first_year, path)
    _same("--to", last_year, forecast.last_year, path)
    _same("--split", split, forecast.split, path)
    if series is not None:
        for name in series:
            if name not in forecast.periods:
                fail(f"--series: {name!r} is not in the frozen forecast ({path})")
    first, last, frozen_split = forecast.first_year, forecast.last_year, forecast.split
    observations = _only(read_observed(observed), series or list(forecast.periods))
    if not _in_window(observations, first, last):
        fail(
            f"{observed}: no observation of the frozen series "
            f"({', '.join(forecast.periods)}) in the frozen years {first}-{last}"
        )
    run_id = "validate-score-" + store.default_run_id(loaded.name, forecast.seed)
    try:
        target = store.resolve_target(out, run_id=run_id, force=force)
    except store.ResultsFolderError as exc:
        fail(str(exc))
    try:
        report = validate(
            forecast, observations, first_year=first, last_year=last, split=frozen_split
        )
    except ObservedError as exc:
        fail(str(exc))
    title = (
        f"{loaded.name} (frozen {path.name}) vs {observed}: {forecast.replicates} replicates, "
        f"seed {forecast.seed}"
    )
    png = figure_png(report, frozen_bands(forecast), title, observations)
    payload = {
        "scenario": loaded.name,
        "scenario_sha256": given,
        "observed": observed,
        "events": None if events is None else str(events),
        "seed": forecast.seed,
        "replicates": forecast.replicates,
        "horizon": forecast.meta.get("horizon"),
        "forecast": "frozen",
        "frozen": str(path),
        "frozen_created": forecast.meta.get("created"),
        "frozen_versions": forecast.meta.get("versions"),
        "versions": _versions(),
        "quantile_levels": list(QUANTILE_LEVELS),
        **report.to_dict(),
        "results_dir": str(target),
        "figure": str(target / FIGURE_FILE),
        "wall_time_s": round(time.perf_counter() - started, 3),
    }
    try:
        _write_folder(
            target,
            {
                VALIDATION_FILE: (store.dumps(payload, indent=2) + "\n").encode(),
                FIGURE_FILE: png,
            },
            force=force,
        )
    except store.ResultsFolderError as exc:  # a folder filled since resolve_target looked
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write results to {target}: {exc.strerror or exc}")
    if as_json:
        sys.stdout.write(store.dumps(payload) + "\n")
        sys.stdout.flush()
        return
    _print_report(report, title, target)


def register(app: typer.Typer) -> None:
    """Add ``validate`` to the main app."""
    app.command("validate")(validate_command)


def series_help() -> Sequence[str]:
    """One line per series (for README and help texts)."""
    return [f"{name}: {spec.unit} ({spec.doc})" for name, spec in SERIES.items()]
