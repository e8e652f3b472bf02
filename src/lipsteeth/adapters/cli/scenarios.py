"""``lipsteeth scenarios list | show | schema``: explore the scenario layer."""

from __future__ import annotations

import sys

import typer

from ...scenario import list_scenarios, scenario_schema
from .. import console as views
from .. import store
from .inputs import load
from .options import ScenarioArgument

scenarios_app = typer.Typer(
    help="List and show scenarios; print the scenario file JSON Schema.", no_args_is_help=True
)


@scenarios_app.command("list")
def scenarios_list() -> None:
    """Embedded scenarios (name and title)."""
    views.stdout_console().print(views.scenarios_table(list_scenarios()))


@scenarios_app.command("show")
def scenarios_show(name: ScenarioArgument) -> None:
    """The scenario as resolved: TOML with every value's provenance."""
    text = load(name).to_toml()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@scenarios_app.command("schema")
def scenarios_schema() -> None:
    """JSON Schema of scenario files."""
    sys.stdout.write(store.dumps(scenario_schema(), indent=2) + "\n")


def register(app: typer.Typer) -> None:
    """Add the ``scenarios`` group to the main app."""
    app.add_typer(scenarios_app, name="scenarios")
