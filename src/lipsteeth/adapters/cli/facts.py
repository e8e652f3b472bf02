"""Command ``lipsteeth facts``: the facts table, and with ``--knockouts`` its evidence.

``register(app)`` adds it to the main Typer app (``adapters/cli/__init__.py``).  The
rows, rules and knock-outs are ``experiment.facts``'s; this module runs the
ensemble and prints.  Nothing is written to disk.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Annotated, Any

import typer

from .inputs import MAX_REPLICATES, MAX_YEARS, check_range, load
from .options import (
    JsonOption,
    PosteriorOption,
    ReplicatesOption,
    ScenarioArgument,
    SeedOption,
    UncertaintyOption,
    YearsOption,
)


def facts_command(
    scenario: ScenarioArgument = "baseline-2016",
    knockouts: Annotated[
        bool,
        typer.Option(
            "--knockouts",
            help="Also run each row with its mechanism knocked out: evidence when consistent "
            "with it and inconsistent without it.",
        ),
    ] = False,
    replicates: ReplicatesOption = None,
    seed: SeedOption = None,
    years: YearsOption = None,
    counterfactual_replicates: Annotated[
        int | None,
        typer.Option(
            "--counterfactual-replicates",
            help="Replicates of each counterfactual ensemble (default 20, at most --replicates).",
        ),
    ] = None,
    uncertainty: UncertaintyOption = "auto",
    posterior: PosteriorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check facts F1-F9 and patterns P1-P3; --knockouts: with and without each mechanism."""
    from ... import services
    from ...experiment import facts as fx
    from ...experiment.posterior import uncertainty_of
    from .. import console as views
    from ..posterior_files import apply_uncertainty
    from ..store import dumps

    started = time.perf_counter()
    check_range("--seed", seed, 0)
    check_range("--replicates", replicates, 2, MAX_REPLICATES)
    check_range("--years", years, 0, MAX_YEARS, open_low=True)
    check_range("--counterfactual-replicates", counterfactual_replicates, 2, MAX_REPLICATES)
    loaded = load(scenario)
    if years is not None:
        loaded = loaded.with_overrides(years=years)
    root_seed = loaded.seed if seed is None else seed
    n = loaded.replicates if replicates is None else replicates
    loaded = dataclasses.replace(loaded, seed=root_seed, replicates=n)
    loaded = apply_uncertainty(loaded, uncertainty, posterior)
    n_cf = counterfactual_replicates or fx.COUNTERFACTUAL_REPLICATES
    err = views.stderr_console()
    with views.replicate_progress(err) as progress:
        task = progress.add_task(f"simulating {loaded.name}", total=n)
        result = services.run_in_chunks(
            loaded,
            replicates=n,
            seed=root_seed,
            chunk_size=services.default_chunk_size(n),
            on_chunk=lambda k: progress.advance(task, k),
        )
    rows: list[Any]
    with views.counterfactual_progress(err) as progress:
        if knockouts:
            task = progress.add_task("rows with and without their mechanism", total=None)
            rows = fx.check_knockouts(
                loaded,
                result,
                counterfactual_replicates=n_cf,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        else:
            progress.add_task("checking facts F1-F9, P1-P3", total=None)
            rows = fx.check_facts(loaded, result, counterfactual_replicates=n_cf)
    band = uncertainty_of(loaded)
    if as_json:
        document: dict[str, Any] = {
            "scenario": loaded.name,
            "seed": int(root_seed),
            "replicates": int(n),
            "counterfactual_replicates": int(min(n_cf, n)),
            "uncertainty": band.describe(),
            "rules": fx.RULES,
            "rows": [row.to_dict() for row in rows],
        }
        if knockouts:
            document["evidence"] = {
                "rows": len(rows),
                "evaluated": sum(r.evidence is not None for r in rows),
                "consistent_with_mechanism": sum(r.with_mechanism.consistent is True for r in rows),
                "inconsistent_knocked_out": sum(r.knocked_out.consistent is False for r in rows),
                "all": all(r.evidence for r in rows),
            }
        document["wall_time_s"] = round(time.perf_counter() - started, 3)
        sys.stdout.write(dumps(document) + "\n")
        return
    con = views.stdout_console()
    if knockouts:
        con.print(views.knockouts_table(rows, band.label))
        held = sum(bool(r.evidence) for r in rows)
        con.print(
            f"{held} of {len(rows)} rows are evidence (consistent with the mechanism, "
            f"inconsistent knocked out); {n} replicates, seed {root_seed}"
        )
    else:
        con.print(views.facts_table(rows, band.label))
    for name, rule in fx.RULES.items():
        con.print(f"  {name}: {rule}", style="dim")


def register(app: typer.Typer) -> None:
    """Add ``facts`` to the main app."""
    app.command("facts")(facts_command)
