"""The certificate of an NPE calibration read from its folder, and its rows of checks.

``lipsteeth calibrate --method npe`` writes, beside ABC-SMC's files, the
JSON summary of its checks (``npe_diagnostics.json``, from
``NPEResult.certificate()``) and the SBC rank table
(``analysis/npe_sbc_ranks.parquet``).  :func:`read_certificate` reads them
back into the :class:`~lipsteeth.adapters.figures.Certificate` the figure
draws; :func:`certificate_rows` gives one row per check (what, value, rule,
result) to the report's section and to the command's summary table alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..figures import Certificate, certificate_from
from ..figures.certificate import number
from .files import read_json, read_parquet

#: the JSON summary of the checks, in the experiment folder
DIAGNOSTICS_JSON = "npe_diagnostics.json"
#: the SBC rank table: per held-out simulation, the rank of each parameter, then ``joint``
RANKS_TABLE = "npe_sbc_ranks"


def read_certificate(folder: Path) -> Certificate | None:
    """The certificate of the NPE calibration in ``folder`` (None if it holds none)."""
    folder = Path(folder)
    payload = read_json(folder / DIAGNOSTICS_JSON)
    ranks_path = folder / "analysis" / f"{RANKS_TABLE}.parquet"
    if not payload or not ranks_path.is_file():
        return None
    table = read_parquet(ranks_path)
    manifest = read_json(folder / "manifest.json")
    try:
        names = [str(r["parameter"]) for r in payload["identifiability"]]
        ranks = np.column_stack([table.column(c).to_numpy() for c in [*names, "joint"]])
        wall = manifest.get("wall_seconds")
        return certificate_from(
            payload,
            ranks,
            experiment=str(manifest.get("experiment") or folder.name),
            wall_seconds=None if wall is None else float(wall),
        )
    except (KeyError, TypeError, ValueError):  # a file of another shape: no certificate shown
        return None


def _result(flag: Any) -> str:
    return "pass" if flag else "FAIL"


def certificate_rows(cert: Certificate) -> list[dict[str, Any]]:
    """One row per check: SBC, coverage at each checked level, the observation's place."""
    sbc = cert.sbc
    failed = list(sbc.get("failed") or [])
    rows: list[dict[str, Any]] = [
        {
            "check": "SBC rank uniformity",
            "value": f"min KS p = {number(sbc.get('min_pvalue')):.3g}"
            + (f"; failing: {', '.join(failed)}" if failed else ""),
            "rule": cert.rules.get("sbc", ""),
            "result": _result(sbc.get("passed")),
        }
    ]
    for level in cert.coverage_levels:
        rows.append(
            {
                "check": f"expected coverage {level['level']:.0%}",
                "value": f"joint {number(level['hpd']):.3f}, "
                f"marginals {number(level['marginal']):.3f}",
                "rule": f"within [{level['low']:.3f}, {level['high']:.3f}]",
                "result": _result(level.get("passed")),
            }
        )
    mis = cert.misspecification
    rows.append(
        {
            "check": "observation inside the training distribution",
            "value": f"MMD p = {number(mis.get('mmd_p_value')):.3g}; {mis['outside']} summaries "
            "outside the training range",
            "rule": cert.rules.get("misspecification", ""),
            "result": "FLAGGED" if mis.get("flagged") else "pass",
        }
    )
    return rows


def identifiability_rows(cert: Certificate) -> list[dict[str, Any]]:
    """Per parameter: correlation of posterior mean and truth, width ratio, error, label."""
    keys = ("parameter", "correlation", "width_ratio", "error", "label")
    return [{k: r.get(k) for k in keys} for r in cert.identifiability]


def summary_rows(cert: Certificate) -> list[dict[str, Any]]:
    """Per observed summary: its value, its quantile among the training simulations, range."""
    keys = ("summary", "observed", "quantile", "train_min", "train_max", "outside")
    summaries: list[Mapping[str, Any]] = cert.misspecification.get("summaries") or []
    return [{k: r.get(k) for k in keys} for r in summaries]
