"""Reading a calibration posterior from disk, and giving a scenario its parameter uncertainty.

``lipsteeth run SCENARIO --posterior FILE`` accepts what ``lipsteeth
calibrate`` writes (ABC-SMC, or NPE with its ``method`` field): the
experiment folder, its ``manifest.json`` or its ``analysis/posterior.parquet``
(the manifest beside it, one folder up, gives the priors and the method), and
the packaged form ``<scenario>.posterior.json`` that embedded scenarios ship.
The logic (last generation, weights, draws) is ``experiment.posterior``'s;
this module only reads files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..experiment.posterior import POSTERIOR_FORMAT, Posterior, PosteriorError, with_uncertainty

if TYPE_CHECKING:
    from ..scenario import Scenario

MANIFEST = "manifest.json"
POSTERIOR_TABLE = Path("analysis") / "posterior.parquet"


def _manifest(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PosteriorError(f"--posterior {path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PosteriorError(f"--posterior {path}: not JSON ({exc.msg})") from None
    if not isinstance(document, dict):
        raise PosteriorError(f"--posterior {path}: not a JSON object")
    return document


def _calibration(folder: Path, manifest: dict[str, Any] | None, source: str) -> Posterior:
    import pyarrow.parquet as pq

    table_path = folder / POSTERIOR_TABLE
    if not table_path.is_file():
        raise PosteriorError(f"--posterior {source}: no {POSTERIOR_TABLE} in {folder}")
    if manifest is not None and manifest.get("kind") not in (None, "calibrate"):
        raise PosteriorError(
            f"--posterior {source}: manifest kind is {manifest.get('kind')!r}, not a calibration"
        )
    try:
        table = pq.read_table(table_path).to_pydict()
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise PosteriorError(f"--posterior {source}: cannot read {table_path}: {exc}") from None
    return Posterior.from_calibration(table, manifest, source=source)


def read_posterior(path: Path | str) -> Posterior:
    """A posterior from a calibration folder, its manifest or table, or a packaged JSON file."""
    path = Path(path)
    source = str(path)
    if path.is_dir():
        manifest = _manifest(path / MANIFEST) if (path / MANIFEST).is_file() else None
        return _calibration(path, manifest, source)
    if not path.is_file():
        raise PosteriorError(f"--posterior {source}: no such file or folder")
    if path.suffix == ".parquet":
        folder = path.parent.parent
        manifest = _manifest(folder / MANIFEST) if (folder / MANIFEST).is_file() else None
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path).to_pydict()
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise PosteriorError(f"--posterior {source}: cannot read: {exc}") from None
        return Posterior.from_calibration(table, manifest, source=source)
    document = _manifest(path)
    if document.get("format") == POSTERIOR_FORMAT:
        return Posterior.from_json(path.read_text(encoding="utf-8"), source=source)
    return _calibration(path.parent, document, source)


def apply_uncertainty(
    scenario: Scenario, choice: str = "auto", posterior: Path | str | None = None
) -> Scenario:
    """``scenario`` with the parameter uncertainty the options ask for (UserError if refused)."""
    from .cli.inputs import UserError

    try:
        read = read_posterior(posterior) if posterior is not None else None
        return with_uncertainty(scenario, choice, read)
    except PosteriorError as exc:
        raise UserError(str(exc)) from None
