"""``/api/scenarios``, ``/api/schema``, ``/api/outcomes``: what a run can be made of."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam

from ....core.outcomes import OUTCOMES
from ..labels import DEFAULT_OUTCOMES, outcome_label, outcome_theme, theme_order
from ..limits import JobError, Limits
from ..models import OutcomeList, ScenarioDetail, ScenarioList, ScenarioText
from ..run_requests import embedded, embedded_names, scenario_detail, scenario_from_text
from .common import VALIDATION, errors, limits_of

router = APIRouter(prefix="/api", tags=["scenarios"])


@router.get("/scenarios", response_model=ScenarioList)
def scenarios() -> dict[str, Any]:
    """The embedded scenarios (name and title)."""
    from ....scenario import ScenarioError

    out = []
    for name in embedded_names():
        try:
            title = embedded(name).title
        except ScenarioError as exc:  # a broken file must not hide the others
            title = f"(cannot be loaded: {exc})"
        out.append({"name": name, "title": title})
    return {"scenarios": out}


@router.get(
    "/scenarios/{name}",
    response_model=ScenarioDetail,
    responses={**errors(404), **VALIDATION},
)
def scenario(
    name: Annotated[str, PathParam(max_length=64)],
    limits: Annotated[Limits, Depends(limits_of)],
) -> dict[str, Any]:
    """One embedded scenario: levers (ranges, labels, effective outcomes), events, document."""
    from ....scenario import ScenarioError

    if name not in embedded_names():
        raise JobError(404, f"no embedded scenario {name!r}")
    try:
        found = embedded(name)
    except ScenarioError as exc:
        raise JobError(422, str(exc)) from None
    return scenario_detail(found, limits, name)


@router.post(
    "/scenarios/validate",
    response_model=ScenarioDetail,
    responses={**errors(400, 413), **VALIDATION},
)
def validate(body: ScenarioText, limits: Annotated[Limits, Depends(limits_of)]) -> dict[str, Any]:
    """Validate a scenario file's text as the CLI does; 422 names the key path in one line.

    The text may extend embedded scenarios but may not name files (no
    ``extends`` by path, no ``events_file``).
    """
    from ....scenario import ScenarioError

    try:
        found = scenario_from_text(body.toml)
    except ScenarioError as exc:
        raise JobError(422, str(exc)) from None
    return scenario_detail(found, limits)


@router.get("/schema", response_model=dict[str, Any])
def schema() -> dict[str, Any]:
    """JSON Schema of scenario documents (the TOML file format)."""
    from ....scenario import scenario_schema

    return scenario_schema()


@router.get("/outcomes", response_model=OutcomeList)
def outcomes_list() -> dict[str, Any]:
    """Every outcome a run records: kind (flow, stock, mean), unit, meaning, label and theme."""
    return {
        "outcomes": [
            {
                "name": s.name,
                "kind": s.kind,
                "unit": s.unit,
                "doc": s.doc,
                "label": outcome_label(s.name),
                "theme": outcome_theme(s.name),
            }
            for s in OUTCOMES.values()
        ],
        "themes": theme_order(),
        "default": [n for n in DEFAULT_OUTCOMES if n in OUTCOMES],
    }
