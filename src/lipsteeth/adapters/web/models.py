"""The API's request and response models (its OpenAPI schema)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
MAX_TOML_CHARS = 900_000  # under the default body cap of 1,000,000 bytes


class ErrorBody(BaseModel):
    """Every refused request: one line saying what is wrong."""

    error: str = Field(description="What was wrong with the request, in one line.")


class ValidationItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """A request the service cannot accept (422): the schema or the model refuses it."""

    error: str = Field(description="What was wrong with the request, in one line.")
    detail: list[ValidationItem] = Field(
        default_factory=list, description="Schema errors, if the schema refused it."
    )


class ScenarioSummary(BaseModel):
    name: str
    title: str


class ScenarioList(BaseModel):
    scenarios: list[ScenarioSummary]


class LeverInfo(BaseModel):
    name: str
    label: str = Field(description="Plain name for the dashboard.")
    hint: str
    main: bool = Field(description="Shown among the first sliders.")
    effective_outcome: str | None = Field(
        description="The outcome holding the lever's value in force after Beijing's discretion."
    )
    value: float
    unit: str
    doc: str
    mechanism: str
    minimum: float | None = Field(description="Lowest value the model accepts.")
    maximum: float | None = Field(description="Highest value the model accepts.")
    range: list[float] | None = Field(description="The span an analyst may explore, if declared.")
    provenance: str


class ScenarioDetail(BaseModel):
    name: str
    title: str
    description: str
    start: str
    end: str
    endogenous_from: str
    days: int
    seed: int
    replicates: int
    agents: int
    max_replicates: int = Field(
        description="Most replicates of this scenario over its whole horizon this service runs."
    )
    levers: list[LeverInfo]
    events: list[dict[str, Any]] = Field(description="The scenario's dated events, by date.")
    document: dict[str, Any] = Field(
        description="The resolved scenario document (the TOML file format as JSON)."
    )


class ScenarioText(BaseModel):
    """A scenario file's text (TOML), pasted or uploaded; it may not name files."""

    model_config = ConfigDict(extra="forbid")

    toml: str = Field(max_length=MAX_TOML_CHARS, description="The scenario file's TOML text.")


class OutcomeInfo(BaseModel):
    name: str
    kind: Literal["flow", "stock", "mean"]
    unit: str
    doc: str
    label: str
    theme: str


class OutcomeList(BaseModel):
    outcomes: list[OutcomeInfo]
    themes: list[str]
    default: list[str] = Field(description="Outcomes the dashboard shows first.")


ScenarioName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
JobId = Annotated[str, PathParam(pattern=JOB_ID_PATTERN, description="Run id (32 hex digits).")]
ComparisonId = Annotated[
    str, PathParam(pattern=JOB_ID_PATTERN, description="Comparison id (32 hex digits).")
]
LeverName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class LeverChange(BaseModel):
    """A lever set to ``value`` from ``start`` (through ``end``, or to the horizon's end)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lever: LeverName
    value: float
    start: dt.date = Field(description="First day the value holds (inside the horizon).")
    end: dt.date | None = Field(default=None, description="Last day it holds (inclusive).")


class RunRequest(BaseModel):
    """A run or ensemble: a scenario plus overrides. No paths, no pickles.

    Strict types (issue 17, item 15): ``years: true`` or ``replicates: "5"`` are
    refused with 422, not coerced (an integer is still a number where one is due).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    scenario: ScenarioName | dict[str, Any] = Field(
        default="baseline-2016",
        description=(
            "An embedded scenario name, or a whole scenario document (the scenario file "
            "format as JSON; `extends` may name embedded scenarios only)."
        ),
    )
    scenario_toml: str | None = Field(
        default=None,
        max_length=MAX_TOML_CHARS,
        description=(
            "A scenario file's TOML text instead of `scenario` (validated as the CLI "
            "validates a file; it may not name files)."
        ),
    )
    levers: dict[str, float] = Field(
        default_factory=dict,
        max_length=64,
        description='Lever overrides from the start, e.g. {"china_exit_strictness": 0.3}.',
    )
    changes: list[LeverChange] = Field(
        default_factory=list,
        max_length=64,
        description="Dated lever changes (lever events appended after the scenario's own).",
    )
    params: dict[str, float] = Field(
        default_factory=dict,
        max_length=512,
        description='Parameter overrides by "group.name", e.g. {"defection.contagion": 0.2}.',
    )
    years: float | None = Field(
        default=None,
        gt=0,
        le=200,
        description="Horizon in years from the scenario start (default: the whole scenario).",
    )
    replicates: int | None = Field(
        default=None, ge=1, le=100_000, description="Replicates (default: the scenario's)."
    )
    seed: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="Root seed (default: the scenario's)."
    )
    label: str | None = Field(default=None, max_length=200, description="Free text for you.")


class ComparisonRequest(BaseModel):
    """Two settings A and B run as a paired comparison (B takes A's seed and replicates)."""

    model_config = ConfigDict(extra="forbid")

    a: RunRequest
    b: RunRequest
    label: str | None = Field(default=None, max_length=200)


class RunProgress(BaseModel):
    done: int
    total: int
    fraction: float


class RunStatus(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled", "deleted"]
    scenario: str
    seed: int
    replicates: int
    agent_days: float
    progress: RunProgress
    queue_position: int | None
    attempts: int
    submitted: str | None
    started: str | None
    finished: str | None
    error: str | None
    note: str | None
    request: dict[str, Any]
    links: dict[str, str]


class RunSummary(BaseModel):
    """A run as ``GET /api/runs`` lists it; its request and progress are at ``links.self``."""

    id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    scenario: str
    created: str | None
    finished: str | None
    seed: int
    replicates: int
    done: int = Field(description="Replicates finished when last recorded.")
    years: float | None = Field(description="Simulated horizon in years.")
    start: str | None
    end: str | None
    links: dict[str, str]


class RunList(BaseModel):
    runs: list[RunSummary]


class Quantiles(BaseModel):
    p5: list[float | None]
    p25: list[float | None]
    median: list[float | None]
    p75: list[float | None]
    p95: list[float | None]


class RunTotal(BaseModel):
    median: float | None
    p5: float | None
    p95: float | None
    mean: float | None
    statistic: str


class Bands(BaseModel):
    id: str
    status: str
    complete: bool = Field(description="False while replicates are still running.")
    resolution: Literal["monthly", "yearly"]
    periods: list[str]
    replicates: int = Field(description="Replicates these bands hold.")
    replicate_indices: list[int]
    total: int = Field(description="Replicates of the run.")
    uncertainty: str = Field(description="What the bands hold (simulation noise, parameters).")
    units: dict[str, str]
    kinds: dict[str, str]
    outcomes: dict[str, Quantiles]
    totals: dict[str, RunTotal]


class DifferenceTotal(BaseModel):
    p5: float
    p25: float
    median: float
    p75: float
    p95: float
    mean: float
    mean_low: float | None = Field(
        description="Low end of the 90 % bootstrap interval of the mean (null under 10 pairs)."
    )
    mean_high: float | None = Field(
        description="High end of the 90 % bootstrap interval of the mean (null under 10 pairs)."
    )
    b_higher: int = Field(description="Pairs with B above A.")
    b_lower: int = Field(description="Pairs with B below A.")
    clear: bool | None = Field(
        description="The mean's interval excludes 0; null with too few pairs to say."
    )
    statistic: str


class Difference(BaseModel):
    pairs: int
    replicates: list[int]
    min_pairs_for_a_call: int
    method: str
    outcomes: dict[str, Quantiles]
    totals: dict[str, DifferenceTotal]


class ComparisonStatus(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled", "deleted"]
    label: str | None
    created: str | None
    a_id: str
    b_id: str
    a: RunStatus | None
    b: RunStatus | None
    links: dict[str, str]


class ComparisonList(BaseModel):
    comparisons: list[ComparisonStatus]


class SideState(BaseModel):
    id: str
    status: str
    progress: RunProgress | None


class ComparisonBands(BaseModel):
    id: str
    status: str
    complete: bool
    resolution: Literal["monthly", "yearly"]
    periods: list[str]
    a: Bands | None
    b: Bands | None
    difference: Difference | None
    runs: dict[str, SideState] = Field(description="Status and progress of A and B.")
    set_levers: dict[str, dict[str, list[float]]] = Field(
        description="Monthly set value of each lever with an effective outcome, for A and B."
    )


class OutcomeRows(BaseModel):
    id: str
    resolution: Literal["monthly", "yearly"]
    columns: list[str]
    rows: list[dict[str, Any]]


class LimitsInfo(BaseModel):
    max_agent_days: float
    max_replicates: int
    max_years: float
    max_active: int
    max_body_bytes: int
    max_job_seconds: float
    max_changes: int


class Health(BaseModel):
    status: str
    warm: bool = Field(description="The simulation engine is loaded in the worker pool.")
    workers: int
    children: int
    queued: int
    running: int
    jobs: dict[str, int]
    recovered: dict[str, int]
    limits: LimitsInfo
