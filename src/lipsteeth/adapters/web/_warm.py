"""Imported by the job fork server only: do once what every job would do first.

Job processes are forked from the fork server, so whatever is imported,
validated or cached here (pydantic validators, package metadata, the embedded
scenario, NumPy code paths) is already warm in every job.
"""

from __future__ import annotations

import contextlib


def warm_up() -> None:
    """Load the default scenario, read package metadata, run a few simulated days."""
    with contextlib.suppress(Exception):
        import numpy as np

        from ...experiment.ensemble import run_scenario
        from ...scenario import load_scenario, load_scenario_text
        from .. import store

        scenario = load_scenario("baseline-2016")
        small = load_scenario_text(scenario.to_toml(), source="warm-up").with_overrides(years=0.01)
        run_scenario(small, replicate_indices=np.array([0]))
        store.package_versions()
        store.data_file_hashes()


warm_up()
