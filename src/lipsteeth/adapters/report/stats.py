"""Statistics of one run over its replicates: bands, the flow of people, group sizes, revenue.

Everything here is computed from a :class:`~.results.Results` and returned as
plain numbers for the figures and tables of the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..figures import FlowLink, FlowNode, compact
from .results import Results


@dataclass(frozen=True)
class Stat:
    """Mean, median and 90 % band over replicates."""

    mean: float
    median: float
    p5: float
    p95: float

    @classmethod
    def of(cls, values: np.ndarray) -> Stat:
        """Statistics of the finite values (all NaN when there are none)."""
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return cls(math.nan, math.nan, math.nan, math.nan)
        q5, q50, q95 = np.quantile(v, [0.05, 0.5, 0.95])
        return cls(float(v.mean()), float(q50), float(q5), float(q95))

    def text(self, unit: str = "") -> str:
        """``median [5 %, 95 %]`` in compact numbers."""
        return f"{compact(self.median, unit)} [{compact(self.p5, unit)}, {compact(self.p95, unit)}]"


def _per_replicate(res: Results, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum of ``weights`` per replicate of ``res`` (``rows``: the replicate of each weight)."""
    position = {int(r): i for i, r in enumerate(res.replicates)}
    out = np.zeros(res.replicates.size)
    for r, w in zip(rows, weights, strict=True):
        i = position.get(int(r))
        if i is not None:
            out[i] += float(w)
    return out


def _groups(res: Results) -> dict[str, np.ndarray]:
    """Columns of the events that are defection groups (flight attempts)."""
    ev = res.events
    if not ev or "kind" not in ev:
        return {}
    sel = ev["kind"].astype(str) == "defection_group"
    return {k: v[sel] for k, v in ev.items()}


@dataclass(frozen=True)
class PeopleFlow:
    """Nodes and links of the flow of people, with per-node statistics."""

    nodes: list[FlowNode]
    links: list[FlowLink]
    stats: dict[str, Stat]


def people_flow(res: Results) -> PeopleFlow:
    """Workers -> attempts -> foiled, caught or escaped by route -> arrived in South Korea."""
    g = _groups(res)
    n_rep = res.replicates.size
    zeros = np.zeros(n_rep)
    posted = zeros.copy()
    if res.has("workers_abroad"):
        posted = posted + res.monthly[:, res.names.index("workers_abroad"), 0]
    if res.has("hires"):
        posted = posted + res.total("hires")

    def persons(mask: np.ndarray) -> np.ndarray:
        if not g:
            return zeros.copy()
        return _per_replicate(res, g["replicate"][mask], g["size"][mask])

    if g:
        sector = g["sector"].astype(str)
        outcome = g["outcome"].astype(str)
        route = g["route"].astype(str)
        arrival = g["arrival_day"].astype(np.int64)
        horizon = res.n_days or int(1e12)
    else:
        sector = outcome = route = np.array([], dtype=str)
        arrival = np.array([], dtype=np.int64)
        horizon = 0
    per: dict[str, np.ndarray] = {"posted": posted}
    for s in ("restaurant", "labour"):
        per[f"attempt_{s}"] = persons(sector == s)
    attempted = per["attempt_restaurant"] + per["attempt_labour"]
    per["stayed"] = np.maximum(posted - attempted, 0.0)
    per["foiled"] = persons(outcome == "foiled")
    per["caught_exit"] = persons(outcome == "stopped_at_exit")
    per["caught_transit"] = persons(outcome == "caught_in_transit")
    per["escaped_legal"] = persons((outcome == "escaped") & (route == "legal"))
    per["escaped_clandestine"] = persons((outcome == "escaped") & (route == "clandestine"))
    escaped = outcome == "escaped"
    per["arrived"] = persons(escaped & (arrival >= 0) & (arrival < horizon))
    per["in_transit"] = persons(escaped & ((arrival < 0) | (arrival >= horizon)))
    per["repatriated"] = per["caught_exit"] + per["caught_transit"]
    stats = {k: Stat.of(v) for k, v in per.items()}

    def node(key: str, label: str, column: int, color: str) -> FlowNode:
        st = stats[key]
        note = f"median {compact(st.median)} [{compact(st.p5)}-{compact(st.p95)}]"
        return FlowNode(key, label, column, st.mean, note, color)

    nodes = [
        node("posted", "in postings (start + hires)", 0, "#8aa6c8"),
        node("stayed", "did not try to flee", 1, "#c9d5e3"),
        node("attempt_restaurant", "tried to flee: restaurants", 1, "#e3a857"),
        node("attempt_labour", "tried to flee: labour sites", 1, "#d4b483"),
        node("foiled", "foiled at the site", 2, "#7d4b9a"),
        node("caught_exit", "stopped at China's exit check", 2, "#c8501e"),
        node("caught_transit", "caught on the broker route", 2, "#e07b39"),
        node("escaped_legal", "escaped: legal route", 2, "#3b8f4c"),
        node("escaped_clandestine", "escaped: broker route", 2, "#6dbb6f"),
        node("repatriated", "arrested and repatriated", 3, "#a23b2a"),
        node("arrived", "arrived in South Korea", 3, "#1f5fa8"),
        node("in_transit", "still in transit at the end", 3, "#9ab7d3"),
    ]
    links: list[FlowLink] = []

    def link(src: str, dst: str, values: np.ndarray) -> None:
        mean = float(np.mean(values)) if values.size else 0.0
        if mean > 0:
            links.append(FlowLink(src, dst, mean))

    link("posted", "stayed", per["stayed"])
    for s in ("restaurant", "labour"):
        link("posted", f"attempt_{s}", per[f"attempt_{s}"])
        for key, mask in (
            ("foiled", outcome == "foiled"),
            ("caught_exit", outcome == "stopped_at_exit"),
            ("caught_transit", outcome == "caught_in_transit"),
            ("escaped_legal", (outcome == "escaped") & (route == "legal")),
            ("escaped_clandestine", (outcome == "escaped") & (route == "clandestine")),
        ):
            link(f"attempt_{s}", key, persons((sector == s) & mask))
    link("caught_exit", "repatriated", per["caught_exit"])
    link("caught_transit", "repatriated", per["caught_transit"])
    for key, r in (("escaped_legal", "legal"), ("escaped_clandestine", "clandestine")):
        sel = escaped & (route == r)
        link(key, "arrived", persons(sel & (arrival >= 0) & (arrival < horizon)))
        link(key, "in_transit", persons(sel & ((arrival < 0) | (arrival >= horizon))))
    return PeopleFlow(nodes, links, stats)


@dataclass(frozen=True)
class GroupSizes:
    """Groups per replicate by sector, size and outcome, and summary shares."""

    panels: list[tuple[str, np.ndarray, dict[str, np.ndarray]]]
    rows: list[dict[str, Any]]
    note: str


def group_sizes(res: Results) -> GroupSizes:
    """The group-size distribution of flight attempts, per sector, stacked by outcome."""
    g = _groups(res)
    n_rep = max(1, res.replicates.size)
    panels: list[tuple[str, np.ndarray, dict[str, np.ndarray]]] = []
    rows: list[dict[str, Any]] = []
    if not g:
        return GroupSizes([], [], "no flight attempts in this run")
    size = g["size"].astype(np.int64)
    outcome = g["outcome"].astype(str)
    sector = g["sector"].astype(str)
    manager = g["manager_led"].astype(bool)
    order = ("escaped", "stopped_at_exit", "caught_in_transit", "foiled")
    for s in ("restaurant", "labour"):
        sel = sector == s
        if not sel.any():
            panels.append((f"{s} groups", np.array([], dtype=int), {}))
            continue
        sizes = np.arange(1, int(size[sel].max()) + 1)
        stacks: dict[str, np.ndarray] = {}
        for o in (*order, *sorted(set(outcome[sel]) - set(order))):
            m = sel & (outcome == o)
            if m.any():
                stacks[o] = np.bincount(size[m], minlength=sizes.size + 1)[1:] / n_rep
        panels.append((f"{s} groups", sizes, stacks))
        for k in sizes:
            m = sel & (size == k)
            if not m.any():
                continue
            rows.append(
                {
                    "sector": s,
                    "size": int(k),
                    "groups per replicate": float(m.sum() / n_rep),
                    "escaped": float((m & (outcome == "escaped")).sum() / n_rep),
                    "manager-led share": float(manager[m].mean()),
                }
            )
    rest = sector == "restaurant"
    esc = rest & (outcome == "escaped")
    persons_total = float(size[esc].sum())
    grouped = float(size[esc & (size >= 2)].sum())
    share = grouped / persons_total if persons_total > 0 else math.nan
    led = float(manager[rest].mean()) if rest.any() else math.nan
    note = (
        f"Restaurant defectors who escaped in groups of 2+: "
        f"{'n/a' if math.isnan(share) else f'{share:.0%}'}; "
        f"restaurant attempts led by a manager: {'n/a' if math.isnan(led) else f'{led:.0%}'}"
    )
    return GroupSizes(panels, rows, note)


REVENUE_PANELS: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Restaurants: where a dollar of sales goes",
        "restaurant_sales_usd",
        "sales",
        (
            ("remitted to Pyongyang", "remittance_restaurants_usd"),
            ("wages", "restaurant_wages_usd"),
            ("food, supplies, rent", "restaurant_costs_usd"),
            ("kept (reserves)", "restaurant_retained_usd"),
        ),
    ),
    (
        "Labour sites: where a dollar of fees goes",
        "labour_fees_usd",
        "contract fees",
        (
            ("remitted to Pyongyang", "remittance_labour_usd"),
            ("wages kept by labourers", "labour_wages_usd"),
            ("living costs", "labour_costs_usd"),
            ("kept (reserves)", "labour_retained_usd"),
        ),
    ),
    (
        "Revenue to the state by source",
        "revenue_to_state_usd",
        "revenue to the state",
        (
            ("restaurants", "remittance_restaurants_usd"),
            ("labour sites", "remittance_labour_usd"),
        ),
    ),
)


def revenue_panels(
    res: Results,
) -> list[tuple[str, str, np.ndarray, dict[str, np.ndarray]]]:
    """Yearly means over replicates of gross income and its parts (the parts add up)."""
    panels = []
    for title, gross, gross_label, parts in REVENUE_PANELS:
        if not res.has(gross) or not all(res.has(n) for _, n in parts):
            continue
        mean = res.yearly.mean(axis=0)
        panels.append(
            (
                title,
                gross_label,
                mean[res.names.index(gross)],
                {label: mean[res.names.index(n)] for label, n in parts},
            )
        )
    return panels
