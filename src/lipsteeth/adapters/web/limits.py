"""What one service accepts (``Limits``) and how it refuses (``JobError``)."""

from __future__ import annotations

from dataclasses import dataclass


class JobError(Exception):
    """A refused request: ``status`` is the HTTP status, ``message`` one line for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Limits:
    """Caps on what one service accepts.

    ``max_agent_days`` caps agents x days x replicates of one run.  One replicate
    of the full default scenario is 2.07e8 agent-days (about 0.3 s of one core,
    measured on the 2-core development machine); the default cap of 1.25e10
    allows 60 of them, so the full default runs with the 40 replicates a paired
    comparison needs (issue 16) and a run stays under about 10 s on 2 cores.
    """

    max_agent_days: float = 1.25e10
    max_replicates: int = 1000
    max_years: float = 50.0
    max_active: int = 500  # queued + running jobs
    max_body_bytes: int = 1_000_000
    max_job_seconds: float = 3600.0
    max_jobs_kept: int = 10_000
    max_changes: int = 64  # dated lever changes of one run

    def replicates_allowed(self, agents: int, days: int) -> int:
        """Most replicates of a run of ``agents`` x ``days`` under both caps."""
        per_replicate = max(float(agents) * float(days), 1.0)
        return max(0, min(self.max_replicates, int(self.max_agent_days // per_replicate)))
