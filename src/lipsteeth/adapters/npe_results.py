"""Files of an NPE calibration beside ABC-SMC's, and the data of its report section.

``lipsteeth calibrate --method npe`` writes what ABC-SMC writes
(``analysis/posterior.parquet`` with a ``method`` column,
``posterior_summary``, ``generations``, the calibrated scenario, the
manifest) and, from ``write_results`` here, its certificate:

    analysis/npe_training.parquet        split, index, parameters (theta:*), simulated
                                         summaries (sim:*) and the network's inputs (x:*)
    analysis/npe_sbc_ranks.parquet       per held-out simulation: rank per parameter, joint
    analysis/npe_coverage.parquet        expected coverage per credibility level
    analysis/npe_identifiability.parquet per parameter: correlation, width ratio, error, label
    analysis/npe_misspecification.parquet per summary: observed, training quantile and range
    analysis/npe_standardiser.parquet    per summary: symlog, mean, scale
    analysis/npe_observation.parquet     per summary: the observation model (kind, observed,
                                         half-width, sigma)
    npe_diagnostics.json                 every check, its rule, pass or fail; training

``section_data(folder)`` reads them back for the report (None when the folder
is not an NPE calibration); ``section_html`` renders the section with the
report's own table helper, so the report module needs only a few lines.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..experiment.npe import NPEResult
    from .catalog import ExperimentStore

DIAGNOSTICS_JSON = "npe_diagnostics.json"


def write_results(store: ExperimentStore, result: NPEResult) -> dict[str, Any]:
    """Write the certificate tables and JSON; returns the JSON payload."""
    import pandas as pd

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
    store.write_analysis("npe_sbc_ranks", ranks)
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
    payload = {
        "method": "npe",
        **d.to_dict(),
        "training": {
            "simulations": len(result.theta_train),
            "holdout": len(result.theta_holdout),
            "replicates": result.settings.replicates,
            "ensemble": len(result.trained.members),
            "epochs": result.trained.epochs,
            "best_validation_loss": result.trained.best_validation_loss,
            "members": [
                {
                    "epochs": m.epochs,
                    "best_validation_loss": m.best_validation_loss,
                    "training_loss": m.training_loss,
                    "validation_loss": m.validation_loss,
                }
                for m in result.trained.members
            ],
            "seconds": result.seconds,
            "fingerprint": result.fingerprint(),
        },
        "summaries": list(result.summary_names),
        "observed": [float(v) for v in result.observed],
        "observation": result.observation.to_dict(result.summary_names),
    }
    store.write_json(DIAGNOSTICS_JSON, payload)
    return payload


def section_data(folder: Path) -> dict[str, Any] | None:
    """The data of an NPE calibration's report section (None if ``folder`` holds none)."""
    import pyarrow.parquet as pq

    path = Path(folder) / DIAGNOSTICS_JSON
    ranks_path = Path(folder) / "analysis" / "npe_sbc_ranks.parquet"
    if not path.is_file() or not ranks_path.is_file():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        ranks_table = pq.read_table(ranks_path)
    except (OSError, ValueError):
        return None
    try:
        manifest = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    names = [r["parameter"] for r in payload["identifiability"]]
    ranks = np.column_stack([ranks_table.column(c).to_numpy() for c in [*names, "joint"]]).astype(
        float
    )
    return {
        "experiment": str(manifest.get("experiment") or Path(folder).name),
        "names": names,
        "ranks": ranks,
        "n_samples": int(payload["sbc"]["n_samples"]),
        "n_holdout": int(payload["sbc"]["n_holdout"]),
        "sbc": payload["sbc"],
        "coverage": payload["coverage"]["curve"],
        "coverage_levels": payload["coverage"]["levels"],
        "coverage_passed": bool(payload["coverage"]["passed"]),
        "identifiability": payload["identifiability"],
        "misspecification": payload["misspecification"],
        "passed": bool(payload["passed"]),
        "rules": payload.get("rules", {}),
        "training": payload.get("training", {}),
        "wall_seconds": manifest.get("wall_seconds"),
    }


def _yes(flag: bool) -> str:
    return "pass" if flag else "FAIL"


def certificate_rows(section: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per check: what, value, rule, result."""
    sbc = section["sbc"]
    rows: list[dict[str, Any]] = [
        {
            "check": "SBC rank uniformity",
            "value": f"min KS p = {sbc['min_pvalue']:.3g}"
            + (f"; failing: {', '.join(sbc['failed'])}" if sbc["failed"] else ""),
            "rule": section["rules"].get("sbc", ""),
            "result": _yes(bool(sbc["passed"])),
        }
    ]
    for level in section["coverage_levels"]:
        rows.append(
            {
                "check": f"expected coverage {level['level']:.0%}",
                "value": f"joint {level['hpd']:.3f}, marginals {level['marginal']:.3f}",
                "rule": f"within [{level['low']:.3f}, {level['high']:.3f}]",
                "result": _yes(bool(level["passed"])),
            }
        )
    mis = section["misspecification"]
    rows.append(
        {
            "check": "observation inside the training distribution",
            "value": f"MMD p = {mis['mmd_p_value']:.3g}; {mis['outside']} summaries outside "
            "the training range",
            "rule": section["rules"].get("misspecification", ""),
            "result": "FLAGGED" if mis["flagged"] else "pass",
        }
    )
    return rows


def section_html(
    section: Mapping[str, Any],
    figure_html: str,
    table: Callable[[Sequence[Mapping[str, Any]]], str],
) -> str:
    """The report section: verdict, the figure, the checks, identifiability, summaries."""
    esc = html.escape
    training = section.get("training") or {}
    verdict = "passes" if section["passed"] else "FAILS"
    note = (
        f"Amortised neural posterior estimation (sbi): {training.get('simulations', '?')} "
        f"training simulations, {section['n_holdout']} held-out simulations from the prior, "
        f"{section['n_samples']} posterior samples each for the ranks. The posterior "
        f"{verdict} its SBC and coverage checks"
        + (
            "; the observation is FLAGGED as outside the training distribution (the "
            "posterior there is an extrapolation)."
            if section["misspecification"]["flagged"]
            else "; the observation lies inside the training distribution."
        )
    )
    ident = [
        {k: r[k] for k in ("parameter", "correlation", "width_ratio", "error", "label")}
        for r in section["identifiability"]
    ]
    summaries = [
        {k: r[k] for k in ("summary", "observed", "quantile", "train_min", "train_max", "outside")}
        for r in section["misspecification"]["summaries"]
    ]
    return (
        f"<h3>{esc(section['experiment'])}</h3>"
        f'<p class="note">{esc(note)}</p>'
        + figure_html
        + "<h4>Checks</h4>"
        + table(certificate_rows(section))
        + "<h4>Identifiability (held-out parameter recovery)</h4>"
        + '<p class="note">correlation: of the posterior mean with the true value over the '
        "held-out simulations; width_ratio: posterior over prior standard deviation "
        "(1: the data say nothing); error: RMSE of the posterior mean over the prior width.</p>"
        + table(ident)
        + "<h4>Observed summaries against the training simulations</h4>"
        + table(summaries)
    )
