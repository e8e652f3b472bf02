"""The sections of a run's report: the data each section's template shows.

Each function returns a :class:`Section` whose ``data`` the template
``templates/sections/<id>.html.j2`` renders; figures are written through the
:class:`~.render.FigureBook` and drawn by :mod:`lipsteeth.adapters.figures`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ...core.outcomes import kind_of
from ...experiment.summary import LeverInForce
from .. import figures as fg
from ..outcome_themes import themes_for
from .certificate import certificate_rows, identifiability_rows, read_certificate, summary_rows
from .experiments import (
    arrow_rows,
    posterior_marginals,
    prim_boxes,
    sensitivity_bars,
    validation_of_json,
    validation_of_table,
)
from .extras import Extra
from .files import FIGURES_DIR, safe_name
from .observed import clip_observed, observed_yearly
from .provenance import rule_rows, scenario_ranges, scenario_rows
from .render import FigureBook, Table
from .results import Results, outcome_doc, outcome_unit, unit_label
from .stats import Stat, group_sizes, people_flow, revenue_panels


@dataclass(frozen=True)
class Section:
    """One section of a page: anchor id, title, template and the data it shows."""

    id: str
    title: str
    template: str
    data: Mapping[str, Any]


def section(sid: str, title: str, template: str | None = None, **data: Any) -> Section:
    """A :class:`Section` shown by ``sections/<template or id>.html.j2``."""
    return Section(sid, title, f"sections/{template or sid}.html.j2", data)


def header_meta(res: Results) -> list[tuple[str, Any]]:
    """The provenance of a run shown at the top of its report."""
    m = res.manifest
    horizon = m.get("horizon", {})
    versions = m.get("versions", {})
    scenario = m.get("scenario", {}).get("scenario", {})
    return [
        ("scenario", f"{m.get('scenario_name', '?')}: {scenario.get('title', '')}"),
        ("run", m.get("run_id", "")),
        ("created", m.get("created", "")),
        (
            "horizon",
            f"{horizon.get('start', '?')} to {horizon.get('end', '?')} "
            f"({horizon.get('days', '?')} days)",
        ),
        ("replicates", f"{res.replicates.size} (seed {m.get('seed', '?')})"),
        ("bands hold", uncertainty_text(m)),
        ("command", " ".join(str(a) for a in m.get("command_line", []))),
        ("wall time", f"{m.get('wall_time_s', '?')} s"),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v is not None)),
        ("results folder", str(res.folder)),
    ]


def uncertainty_text(manifest: Mapping[str, Any]) -> str:
    """What a run's bands hold: ``parameters + simulation`` (with the posterior's hash) or not."""
    info = manifest.get("uncertainty") or {}
    text = str(info.get("band", "simulation only"))
    posterior = info.get("posterior") or {}
    if posterior:
        digest = str(posterior.get("sha256"))[:12]
        text += f" (posterior {posterior.get('source')}, sha256 {digest})"
    elif info.get("kind") == "ranges":
        text += " (declared ranges, uniform)"
    return text


def facts_section(res: Results) -> Section:
    """The facts F1-F9 and patterns P1-P3, each row with its rule and status."""
    rows = []
    for f in res.manifest.get("facts") or []:
        consistent = f.get("consistent")
        ok = consistent is True
        status = {True: "consistent", False: "NOT consistent"}.get(consistent, "not evaluated")
        rows.append(
            {
                "id": f.get("id"),
                "fact": f.get("statement"),
                "statistic": f.get("statistic"),
                "target": f.get("target"),
                "value": f.get("value", f.get("median")),
                "band low": f.get("low", f.get("p5")),
                "band high": f.get("high", f.get("p95")),
                "rule": f.get("rule"),
                "unit": f.get("unit"),
                "status": status,
                "source": f.get("source"),
                "_ok": ok,
            }
        )
    table = Table.of(
        rows,
        css="facts",
        row_class=lambda r: "ok" if r["_ok"] else ("" if r["status"] == "not evaluated" else "bad"),
        cell_classes={"status": "status"},
    )
    title = "Facts F1-F9 and patterns P1-P3"
    n_evaluated = sum(r["status"] != "not evaluated" for r in rows)
    return section(
        "facts",
        title,
        table=table,
        n_ok=sum(r["_ok"] for r in rows),
        n_evaluated=n_evaluated,
        n_not_evaluated=len(rows) - n_evaluated,
    )


def ledger_section(res: Results) -> Section:
    """Which stock-flow identities held in how many replicates."""
    rows = [
        {
            "identity": c.get("identity"),
            "holds": c.get("holds"),
            "replicates holding": f"{c.get('holding')}/{c.get('replicates')}",
            "max |residual|": c.get("max_abs_residual"),
        }
        for c in res.manifest.get("ledger_checks") or []
    ]
    return section("ledger", "Stock-flow identities", table=Table.of(rows))


def numbers_section(res: Results) -> Section:
    """Every outcome's whole-run value: median and 90 % band over replicates."""
    what = {"flow": "total over the run", "stock": "at the end", "mean": "run average"}
    rows = []
    for name in res.names:
        st = Stat.of(res.total(name))
        kind = kind_of(name)
        rows.append(
            {
                "outcome": name,
                "median": st.median,
                "5 %": st.p5,
                "95 %": st.p95,
                "unit": outcome_unit(name),
                "statistic": what.get(kind, kind),
                "meaning": outcome_doc(name),
            }
        )
    return section("numbers", "Outcomes over the whole run", table=Table.of(rows, css="numbers"))


#: why what was in force differs from what was set (shown wherever both are)
IN_FORCE_NOTE = (
    "A lever sets the baseline policy; what was in force is what Beijing's discretion (its "
    "signals of displeasure, its limits against a collapse or an exodus) and the host "
    "states' choice of how hard to enforce UN provisions made of it (M9), so the gap "
    "between set and in force is that discretion at work."
)


def month_extremes(res: Results, outcome: str) -> tuple[float, float]:
    """The lowest and the highest month of an outcome: the median over replicates of each
    replicate's lowest (highest) monthly value (NaN when the run does not hold it).

    A yearly average hides a few months of laxity (M9: Beijing lax for some months after a
    test); the lowest month shows the value in force while it lasted."""
    if not res.has(outcome) or not res.months.size:
        return float("nan"), float("nan")
    monthly = res.series(outcome, "month")  # (R, M)
    return (
        float(np.median(np.nanmin(monthly, axis=1))),
        float(np.median(np.nanmax(monthly, axis=1))),
    )


def lever_rows(levers: Sequence[LeverInForce], res: Results | None = None) -> list[dict[str, Any]]:
    """One row per lever: the whole run's set value beside the value in force, its 90 % band
    over replicates and (with ``res``) its lowest and highest month."""
    rows = []
    for row in levers:
        item: dict[str, Any] = {
            "lever": row.lever,
            "in force as": row.outcome,
            "unit": row.unit,
            "set": row.run_set,
            "in force: median": row.run_median,
            "5 %": row.run_p5,
            "95 %": row.run_p95,
            "in force - set": row.run_median - row.run_set,
        }
        if res is not None:
            low, high = month_extremes(res, row.outcome)
            item["lowest month"] = low
            item["highest month"] = high
        rows.append(item)
    return rows


def lever_years_table(row: LeverInForce) -> Table:
    """One lever by year: set, and the median and 90 % band in force."""
    return Table.of(
        [
            {
                "year": str(int(year)),  # a label, not a number with a thousands separator
                "set": float(row.set_value[j]),
                "in force: median": float(row.median[j]),
                "5 %": float(row.p5[j]),
                "95 %": float(row.p95[j]),
            }
            for j, year in enumerate(row.years)
        ],
        css="numbers",
    )


def levers_section(res: Results, book: FigureBook) -> Section:
    """Each lever as set beside what was in force (M9): whole run, by year, and a figure."""
    levers = res.levers
    figure = None
    if levers:
        figure = book.add(fg.levers_figure([(res.scenario_name, levers)]), "levers_in_force")
    return section(
        "levers",
        "Levers: set and in force",
        note=IN_FORCE_NOTE,
        replicates=res.replicates.size,
        table=Table.of(lever_rows(levers, res), css="numbers"),
        years=[(row.lever, lever_years_table(row)) for row in levers],
        figure=figure,
    )


def fans_section(res: Results, book: FigureBook) -> Section:
    """A grid of fan charts per theme of outcomes, observed data overlaid where known."""
    resolution = res.resolution()
    x = res.x(resolution)
    period = " per year" if resolution == "year" else " per month"
    observed = observed_yearly() if resolution == "year" else {}
    panels = []
    for theme in themes_for(n for n in res.names if res.has(n)):
        present = theme.outcomes
        series = [
            fg.Series(n, unit_label(n, period), res.series(n, resolution), outcome_doc(n))
            for n in present
        ]
        obs = {}
        for n in present:
            clipped = clip_observed(observed[n], x) if n in observed else None
            if clipped is not None:
                obs[n] = clipped
        fig = fg.fan_grid(theme.title, x, series, observed=obs)
        panels.append((theme.title, book.add(fig, f"fan_{theme.key}")))
    return section(
        "fans",
        "Fan charts of every outcome",
        resolution=resolution,
        period=period.strip(),
        replicates=res.replicates.size,
        panels=panels,
    )


def flow_section(res: Results, book: FigureBook) -> Section:
    """The flow of people over the whole run, and its numbers per stage."""
    flow = people_flow(res)
    fig = fg.flow_figure(flow.nodes, flow.links, title="Flow of people over the whole run")
    rows = [
        {
            "stage": n.label,
            "mean": flow.stats[n.key].mean,
            "median": flow.stats[n.key].median,
            "5 %": flow.stats[n.key].p5,
            "95 %": flow.stats[n.key].p95,
        }
        for n in flow.nodes
    ]
    return section(
        "flow",
        "Flow of people",
        figure=book.add(fig, "flow_of_people"),
        table=Table.of(rows, css="numbers"),
    )


def groups_section(res: Results, book: FigureBook) -> Section:
    """Flight attempts by group size and outcome, per sector."""
    gs = group_sizes(res)
    figure = None
    if gs.panels:
        figure = book.add(fg.group_size_figure(gs.panels, note=gs.note), "group_sizes")
    return section(
        "groups",
        "Group sizes of flight attempts",
        figure=figure,
        note=gs.note,
        table=Table.of(gs.rows, css="numbers"),
    )


def revenue_section(res: Results, book: FigureBook) -> Section:
    """Where each dollar goes, by year, with a table per panel."""
    panels = revenue_panels(res)
    figure = None
    tables = []
    if panels:
        figure = book.add(fg.revenue_figure(res.years.astype(float), panels), "revenue")
        for title, gross_label, gross, parts in panels:
            rows = []
            for j, year in enumerate(res.years):
                row: dict[str, Any] = {"panel": title.split(":")[0], "year": int(year)}
                row[gross_label] = float(gross[j])
                row.update({label: float(values[j]) for label, values in parts.items()})
                rows.append(row)
            tables.append((title, Table.of(rows)))
    return section("revenue", "Revenue decomposition", figure=figure, tables=tables)


def _table_of(table: pa.Table | None) -> Table | None:
    return None if table is None else Table.of(arrow_rows(table))


def sensitivity_section(extras: Sequence[Extra], book: FigureBook) -> Section:
    """Sensitivity indices of each output found, with their convergence."""
    items = []
    for extra in extras:
        bars = sensitivity_bars(extra)
        figures = []
        for i, b in enumerate(bars):
            stem = extra.figure_stem("sensitivity", f"_{i}" if len(bars) > 1 else "")
            figures.append((book.add(fg.sensitivity_figure(b), stem), b.outcome))
        conv = extra.meta.get("convergence") or {}
        items.append(
            {
                "label": extra.label,
                "convergence": conv if conv.get("message") else None,
                "figures": figures,
                "table": _table_of(extra.table),
                "n_rows": extra.table.num_rows if extra.table is not None else 0,
            }
        )
    return section("sensitivity", "Sensitivity indices", outputs=items)


def calibration_section(res: Results, extras: Sequence[Extra], book: FigureBook) -> Section:
    """Posterior marginals of each calibration found, against their prior ranges."""
    ranges = scenario_ranges(res.manifest.get("scenario") or {})
    items = []
    for extra in extras:
        post = posterior_marginals(extra, ranges)
        figure = None
        if post.marginals:
            figure = book.add(fg.posterior_figure(post.marginals), extra.figure_stem("posterior"))
        manifest = extra.meta.get("manifest") or {}
        abc = None
        if manifest.get("stop_reason"):
            abc = {
                "n_runs": manifest.get("n_runs"),
                "stop_reason": manifest["stop_reason"],
                "calibrated": manifest.get("calibrated_scenario", ""),
            }
        summary = extra.meta.get("summary")
        items.append(
            {
                "label": extra.label,
                "abc": abc,
                "generation": post.generation if extra.table is not None else None,
                "particles": post.particles,
                "figure": figure,
                "summary": _table_of(summary) if isinstance(summary, pa.Table) else None,
                "table": _table_of(extra.table),
                "n_rows": extra.table.num_rows if extra.table is not None else 0,
            }
        )
    return section("calibration", "Calibration posterior", outputs=items)


def certificate_section(extras: Sequence[Extra], book: FigureBook) -> Section | None:
    """The certificate of each NPE calibration found: SBC, coverage, identifiability (issue 14).

    None when no calibration found is an NPE one (ABC-SMC has no certificate).
    """
    items = []
    for extra in extras:
        if extra.path.parent.name != "analysis":  # a posterior table outside an experiment
            continue
        cert = read_certificate(extra.path.parents[1])
        if cert is None:
            continue
        stem = safe_name(f"npe_certificate_{cert.experiment}")
        training = cert.training
        items.append(
            {
                "experiment": cert.experiment,
                "passed": cert.passed,
                "flagged": bool(cert.misspecification.get("flagged")),
                "simulations": training.get("simulations", "?"),
                "ensemble": training.get("ensemble", "?"),
                "n_holdout": cert.n_holdout,
                "n_samples": cert.n_samples,
                "wall_seconds": cert.wall_seconds,
                "figure": book.add(fg.certificate_figure(cert), stem),
                "checks": Table.of(
                    certificate_rows(cert),
                    row_class=lambda r: "bad" if r["result"] != "pass" else "ok",
                    cell_classes={"result": "status"},
                ),
                "identifiability": Table.of(identifiability_rows(cert)),
                "summaries": Table.of(summary_rows(cert)),
            }
        )
    if not items:
        return None
    return section("certificate", "NPE certificates: SBC, coverage, identifiability", outputs=items)


def validation_section(extras: Sequence[Extra], book: FigureBook) -> Section:
    """Each validation found: simulated bands against observed values, and the scores."""
    items = []
    for extra in extras:
        item: dict[str, Any] = {
            "label": extra.label,
            "figure": None,
            "scores": None,
            "table": _table_of(extra.table),
            "n_rows": extra.table.num_rows if extra.table is not None else 0,
        }
        if extra.table is None:  # validation.json of `lipsteeth validate`
            panels, rows = validation_of_json(extra.meta)
            item["scores"] = Table.of(rows)
            item["observed"] = extra.meta.get("observed", "")
            item["replicates"] = extra.meta.get("replicates", "?")
        else:
            panels = validation_of_table(extra.table)
        if panels:
            fig = fg.validation_figure(panels)
            item["figure"] = book.add(fig, extra.figure_stem("validation"))
        items.append(item)
    return section("validation", "Validation against observed data", outputs=items)


def prim_section(res: Results, extras: Sequence[Extra], book: FigureBook) -> Section:
    """The PRIM boxes of each scenario discovery found, with their statistics."""
    ranges = scenario_ranges(res.manifest.get("scenario") or {})
    items = []
    for extra in extras:
        boxes = prim_boxes(extra, ranges)
        stats = extra.meta.get("stats")
        items.append(
            {
                "label": extra.label,
                "figure": book.add(fg.prim_figure(boxes), extra.figure_stem("prim"))
                if boxes
                else None,
                "stats": _table_of(stats) if isinstance(stats, pa.Table) else None,
                "table": _table_of(extra.table),
            }
        )
    return section("prim", "Scenario discovery (PRIM boxes)", outputs=items)


def rule_activations(res: Results) -> dict[int, float]:
    """Mean activations per replicate of each conditional policy (events ``conditional_policy``)."""
    kinds = res.events.get("kind")
    if kinds is None or not len(kinds):
        return {}
    fired = kinds == "conditional_policy"
    n_replicates = max(len(res.replicates), 1)
    rules, counts = np.unique(res.events["site"][fired], return_counts=True)
    return {int(r): float(c) / n_replicates for r, c in zip(rules, counts, strict=True)}


def scenario_section(res: Results) -> Section:
    """Every lever and parameter of the scenario with its provenance, and the dated events."""
    document = res.manifest.get("scenario") or {}
    rows = scenario_rows(document)
    cols = ["key", "value", "range", "unit", "mechanism", "meaning", "provenance"]
    events = [dict(e) for e in document.get("events", [])]
    ev_cols = list(dict.fromkeys(k for e in events for k in e))
    rules = rule_rows(document, rule_activations(res))
    return section(
        "scenario",
        "Scenario: every parameter and its provenance",
        present=bool(document),
        levers=Table.of([r for r in rows if r["kind"] == "lever"], cols, css="params"),
        params=Table.of([r for r in rows if r["kind"] == "parameter"], cols, css="params"),
        events=Table.of(events, ev_cols),
        rules=Table.of(rules, list(rules[0]) if rules else []),
        n_assumptions=sum(1 for r in rows if str(r["provenance"]).lower().startswith("assumption")),
    )


def files_section(res: Results, written: Sequence[fg.FigureFiles]) -> Section:
    """The files of the results folder and the figures written for papers."""
    files = sorted(p.name for p in res.folder.iterdir() if p.is_file())
    figures = sorted(
        {f"{FIGURES_DIR}/{f.png.name}" for f in written}
        | {f"{FIGURES_DIR}/{f.svg.name}" for f in written}
    )
    return section("files", "Files", files=files, figures=figures)


# ---------------------------------------------------------------------------
# policy analysis: robust and optimize experiments (issue 15, item 5)

ROBUST_METRIC_COLUMNS = (
    "expected",
    "p10",
    "p90",
    "maximin",
    "minimax_regret",
    "p90_regret",
    "satisficing",
)


def _rows(table: pa.Table | None) -> list[dict[str, Any]]:
    return [] if table is None else table.to_pylist()


def regret_grid(
    rows: Sequence[Mapping[str, Any]], row_key: str, metric: str = "p90_regret"
) -> tuple[np.ndarray, list[str], list[str]]:
    """(P, K) ``metric`` of metric rows (``row_key``, ``objective``, metrics), in file order."""
    names: list[str] = []
    objectives: list[str] = []
    for r in rows:
        if r[row_key] not in names:
            names.append(str(r[row_key]))
        if r["objective"] not in objectives:
            objectives.append(str(r["objective"]))
    grid = np.full((len(names), len(objectives)), np.nan)
    for r in rows:
        value = r.get(metric)
        grid[names.index(str(r[row_key])), objectives.index(str(r["objective"]))] = (
            np.nan if value is None else float(value)
        )
    return grid, names, objectives


def _objective_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "objective": o.get("name"),
            "what": o.get("describe") or o.get("title") or "",
            "unit": o.get("unit"),
            "threshold": o.get("threshold"),
        }
        for o in summary.get("objectives") or []
        if isinstance(o, Mapping)
    ]


def robustness_section(extras: Sequence[Extra], book: FigureBook) -> Section:
    """Each ``lipsteeth robust`` experiment: metrics, ranks, regret heat map, PRIM boxes."""
    items = []
    for extra in extras:
        tables = extra.meta.get("tables") or {}
        summary = extra.meta.get("summary") or {}
        metrics = _rows(extra.table)
        shown = [
            {"policy": r["policy"], "objective": r["objective"]}
            | {m: r.get(m) for m in ROBUST_METRIC_COLUMNS}
            for r in metrics
        ]
        grid, policies, objectives = regret_grid(metrics, "policy")
        units = {o.get("name"): o.get("unit", "") for o in summary.get("objectives") or []}
        figure = (
            book.add(
                fg.regret_figure(
                    grid, policies, objectives, units=[units.get(o, "") for o in objectives]
                ),
                extra.figure_stem("regret"),
            )
            if metrics
            else None
        )
        ranking = [
            r for r in _rows(tables.get("robust_ranking")) if r.get("ranking") not in (None, "n/a")
        ]
        prim_rows = [
            {
                "policy": e.get("policy"),
                "fails in": f"{e.get('fails')} of {e.get('futures')} futures",
                "coverage": (e.get("boxes") or [{}])[0].get("coverage"),
                "density": (e.get("boxes") or [{}])[0].get("density"),
                "restricted": ", ".join((e.get("boxes") or [{}])[0].get("limits", {}) or []),
                "note": e.get("note", ""),
            }
            for e in summary.get("prim") or []
        ]
        items.append(
            {
                "label": extra.label,
                "policies": ", ".join(summary.get("policies") or policies),
                "futures": summary.get("futures"),
                "objectives": Table.of(_objective_rows(summary)),
                "metrics": Table.of(shown, css="numbers"),
                "ranking": Table.of(
                    ranking,
                    ["objective", "metric", "ranking", "metrics_disagree"],
                    row_class=lambda r: "bad" if r.get("metrics_disagree") else "",
                ),
                "figure": figure,
                "prim": Table.of(prim_rows),
                "limits": _table_of(tables.get("robust_prim")),
                "disagree": [k for k, v in (summary.get("metrics_disagree") or {}).items() if v],
            }
        )
    return section("robustness", "Policies under deep uncertainty (robustness)", outputs=items)


def search_section(extras: Sequence[Extra], book: FigureBook) -> Section:
    """Each ``lipsteeth optimize`` search: the Pareto set, its coordinates and robustness."""
    items = []
    for extra in extras:
        tables = extra.meta.get("tables") or {}
        summary = extra.meta.get("summary") or {}
        pareto = _rows(extra.table)
        axes = [*summary.get("levers", []), *summary.get("goals", [])]
        figures = []
        if pareto and axes:
            values = np.array([[float(r[a]) for a in axes] for r in pareto])
            figures.append(
                (
                    book.add(
                        fg.parallel_figure(values, axes, title="Pareto set"),
                        extra.figure_stem("pareto"),
                    ),
                    "Parallel coordinates of the Pareto set: each line a solution through its "
                    "lever values and objective metrics, each axis from its lowest to its "
                    "highest value in the set.",
                )
            )
        robust_rows = _rows(tables.get("pareto_robustness"))
        if robust_rows:
            grid, names, objectives = regret_grid(robust_rows, "policy")
            figures.append(
                (
                    book.add(
                        fg.regret_figure(grid, names, objectives),
                        extra.figure_stem("pareto_regret"),
                    ),
                    "90th-percentile regret of each Pareto solution against the best of the "
                    "set in each future, per objective (share of the column's largest).",
                )
            )
        items.append(
            {
                "label": extra.label,
                "generations": summary.get("generations"),
                "evaluations": summary.get("evaluations"),
                "rules": summary.get("rules", ""),
                "pareto": Table.of(pareto, css="numbers"),
                "figures": figures,
                "robustness": Table.of(
                    [
                        {"solution": r["policy"], "objective": r["objective"]}
                        | {m: r.get(m) for m in ROBUST_METRIC_COLUMNS}
                        for r in robust_rows
                    ],
                    css="numbers",
                ),
            }
        )
    return section("search", "Policy search (NSGA-II Pareto set)", outputs=items)
