"""Imported by the job fork server only: do once what every job would do first.

Job processes are forked from the fork server, so whatever is imported,
validated or cached here (pydantic validators, package metadata, the embedded
scenario, NumPy code paths) is already warm in every job.
"""

from __future__ import annotations

import contextlib


def die_with_parent() -> None:
    """Linux: SIGKILL this fork server when the service thread that started it ends.

    The service starts the fork server from its dispatcher thread, which ends only
    with the service, so a killed service leaves no fork server (and so, through
    the children's own PR_SET_PDEATHSIG, no child) running.
    """
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


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


die_with_parent()
warm_up()
