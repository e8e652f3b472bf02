"""``lipsteeth policies list | show``: the policy library (issue 15, item 2).

A policy is a TOML file of levers and dated events applied to a scenario
(``lipsteeth.scenario.apply_policy``); the shipped ones live in
``lipsteeth/policies``.  ``show`` takes a shipped name or the path of a user's
policy file, validates it (one ``error:`` line, exit 2, on a bad file) and prints
it; with ``--scenario`` it prints the scenario as resolved under the policy.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from ...scenario import apply_policy, list_policies, load_policy
from .. import console as views
from .inputs import load

policies_app = typer.Typer(
    help="List and show the named policies (levers and events applied to a scenario).",
    no_args_is_help=True,
)


def policies_table(policies: list[tuple[str, str]]) -> Table:
    """Shipped policies by name and title."""
    table = Table(title="Shipped policies", title_justify="left")
    table.add_column("name", style="cyan", no_wrap=True)
    table.add_column("title")
    for name, title in policies:
        table.add_row(name, title)
    return table


@policies_app.command("list")
def policies_list() -> None:
    """Shipped policies (name and title)."""
    views.stdout_console().print(policies_table(list_policies()))


@policies_app.command("show")
def policies_show(
    name: Annotated[str, typer.Argument(help="Shipped policy name or path to a policy TOML.")],
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario", help="Print this scenario as resolved under the policy instead."
        ),
    ] = None,
) -> None:
    """The policy file (validated), or a scenario resolved under it."""
    policy = load_policy(name)
    text = policy.text if scenario is None else apply_policy(load(scenario), policy).to_toml()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def register(app: typer.Typer) -> None:
    """Add the ``policies`` group to the main app."""
    app.add_typer(policies_app, name="policies")
