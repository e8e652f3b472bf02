"""Typer options shared by the ``lipsteeth`` commands, declared once.

Several commands (``run``, ``validate``, ``sweep``, ``sensitivity``,
``calibrate``, ...) take the same option: each is declared here as one
``Annotated`` alias, so its name, type and help text are the same in every
command and change in one place.  Defaults stay at the parameter
(``years: YearsOption = None``) because commands differ in them.  An option
whose meaning differs between commands (``--workers`` of ``serve``, ``--out``
of ``report``) keeps a local declaration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# ---------------------------------------------------------------------------
# the scenario and how it is simulated

ScenarioArgument = Annotated[
    str, typer.Argument(help="Embedded scenario name or path to a scenario TOML file.")
]
SeedOption = Annotated[
    int | None, typer.Option("--seed", help="Root seed (default: the scenario's).")
]
ReplicatesOption = Annotated[
    int | None,
    typer.Option("--replicates", help="Number of replicates (default: the scenario's)."),
]
YearsOption = Annotated[
    float | None,
    typer.Option("--years", help="Horizon in years from the scenario start (default: its end)."),
]
OverridesOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a value: group.name=value or lever=value."),
]
EventsOption = Annotated[
    Path | None,
    typer.Option("--events", help="Replace the scenario's events by this CSV event timeline."),
]

UncertaintyOption = Annotated[
    str,
    typer.Option(
        "--uncertainty",
        help="What replicates draw their parameters from: auto (the posterior given or "
        "shipped, else the declared ranges), posterior, ranges (uniform) or none "
        "(simulation noise only).",
    ),
]
PosteriorOption = Annotated[
    Path | None,
    typer.Option(
        "--posterior",
        help="Calibration posterior: a `lipsteeth calibrate` folder, its manifest.json or "
        "analysis/posterior.parquet, or a <scenario>.posterior.json.",
    ),
]

# ---------------------------------------------------------------------------
# results folders of single runs (run, validate)

ResultsFolderOption = Annotated[
    Path | None,
    typer.Option(
        "--out", help="Write the results exactly into this folder (default: results/<run-id>)."
    ),
]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace a non-empty --out folder.")]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else.")
]

# ---------------------------------------------------------------------------
# experiments over a design (sweep, sensitivity; calibrate for the results root)

DesignSeedOption = Annotated[
    int | None, typer.Option("--seed", help="Seed of the design and the runs.")
]
ReplicatesPerRunOption = Annotated[int, typer.Option("--replicates", help="Replicates per run.")]
SpaceOption = Annotated[str, typer.Option("--space", help="Vary: all | uncertainties | levers.")]
FactorsOption = Annotated[
    str | None, typer.Option("--factors", help="Comma-separated subset of factors.")
]
ResultsRootOption = Annotated[Path, typer.Option("--out", help="Results root folder.")]
ExperimentNameOption = Annotated[str | None, typer.Option("--name", help="Experiment name.")]
ResumeOption = Annotated[bool, typer.Option("--resume", help="Complete an interrupted experiment.")]

# ---------------------------------------------------------------------------
# parallel execution

WorkersOption = Annotated[int, typer.Option("--workers", help="Worker processes.")]
SchedulerOption = Annotated[
    str | None,
    typer.Option("--scheduler", help="Address of an existing Dask scheduler (tcp://host:port)."),
]
ExecutorOption = Annotated[
    str, typer.Option("--executor", help="auto | serial | processes | dask.")
]

# ---------------------------------------------------------------------------
# reports (report, compare)

ReportFormatOption = Annotated[str, typer.Option("--format", help="html (self-contained) or pdf.")]

# ---------------------------------------------------------------------------
# limits of work and memory (issue 17, item 6)

AllowLargeOption = Annotated[
    bool,
    typer.Option(
        "--allow-large",
        help="Start even when the estimated memory or work exceeds its limit.",
    ),
]
