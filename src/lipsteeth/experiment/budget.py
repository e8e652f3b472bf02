"""What a run or a sweep will cost before it starts: post-days of work and bytes of memory.

Issue 17, item 6: ``run --replicates 100000 --years 200`` (about 1.6 TB of results)
and ``sweep --replicates 1000000000`` were accepted and ended in ``MemoryError``.
The front ends compare these estimates with their limits and refuse, in one line,
before anything is allocated or written.

The estimates follow the data the code holds, not a measurement:

- work is post-days: every staff post of the network (``Layout.n_posts``) on every
  simulated day of every replicate, the unit the daily loop of the kernel scales
  with (the skips make a day cheaper than its posts, never dearer);
- a run holds every replicate's monthly outcomes (V x months float64), writes the
  yearly table in tidy form (one row of about ``TIDY_ROW_BYTES`` per replicate,
  outcome and year, built in Arrow and once more in pandas), and the state of one
  chunk of replicates (posts: 17 bytes each; pipelines: 32 bytes a day);
- a sweep holds its plan (``PLAN_ROW_BYTES`` per run and factor: the design matrix,
  the run specs and the plan table) and one run's output per worker, and keeps the
  replicate indices of every run (8 bytes each, in the run specs).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.outcomes import OUTCOME_NAMES
from ..core.params import Params

#: bytes per row of a tidy outcome table (replicate, year, variable, value), in Arrow plus
#: the pandas copy made while writing; 2 x (4 + 2 + 4 + 8) rounded up
TIDY_ROW_BYTES = 40
#: bytes per run and factor of a sweep's plan: the design matrix (8), the run spec's
#: (name, value) tuple (~120 in CPython), the plan and parameters tables (~24)
PLAN_ROW_BYTES = 160
#: bytes per run of a sweep's plan besides its factors: a RunSpec object and its row
PLAN_RUN_BYTES = 400
#: bytes per post of the replicate state (in_post 1, hire_day 4, three float32 12)
POST_BYTES = 17
#: bytes per simulated day of the replicate state (four int64 pipelines)
DAY_BYTES = 32
DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True)
class Budget:
    """Estimated cost: ``post_days`` of work and ``memory_bytes`` held at the peak."""

    post_days: float
    memory_bytes: float

    def over(self, *, memory_limit: float, work_limit: float) -> str | None:
        """The one-line reason this budget exceeds a limit, or None."""
        if self.memory_bytes > memory_limit:
            return (
                f"needs about {human_bytes(self.memory_bytes)} of memory "
                f"(limit {human_bytes(memory_limit)})"
            )
        if self.post_days > work_limit:
            return f"is about {self.post_days:.3g} post-days of work (limit {work_limit:.3g})"
        return None


def n_posts(params: Params) -> int:
    """Staff posts of the network: restaurant posts plus labour posts (``Layout.n_posts``)."""
    pop = params.population
    return (
        pop.restaurant_sites_max * pop.staff_per_restaurant
        + pop.labour_sites_max * pop.labour_site_capacity
    )


def run_budget(params: Params, n_days: int, replicates: int, chunk: int = 16) -> Budget:
    """Cost of simulating ``replicates`` replicates of ``n_days`` days and keeping them."""
    months = n_days / DAYS_PER_MONTH + 1
    years = n_days / 365.25 + 1
    n_out = len(OUTCOME_NAMES)
    per_replicate = n_out * months * 8 * 2 + n_out * years * TIDY_ROW_BYTES
    state = min(chunk, replicates) * (n_posts(params) * POST_BYTES + n_days * DAY_BYTES)
    return Budget(
        post_days=float(replicates) * n_days * n_posts(params),
        memory_bytes=float(replicates) * per_replicate + state,
    )


def sweep_budget(
    params: Params, n_days: int, runs: int, factors: int, replicates: int, workers: int
) -> Budget:
    """Cost of a sweep of ``runs`` runs of ``replicates`` replicates on ``workers`` workers."""
    one_run = run_budget(params, n_days, replicates)
    plan = float(runs) * (PLAN_RUN_BYTES + factors * PLAN_ROW_BYTES + replicates * 8)
    return Budget(
        post_days=float(runs) * one_run.post_days,
        memory_bytes=plan + max(workers, 1) * one_run.memory_bytes,
    )


def design_points(method: str, dim: int, samples: int, *, second_order: bool = False) -> int:
    """Runs a design will plan (``designs.Design.n_points``), known before it is sampled."""
    if method == "grid":
        return int(samples) ** int(dim)
    if method == "saltelli":
        return samples * (2 * dim + 2 if second_order else dim + 2)
    if method == "morris":
        return samples * (dim + 1)
    return samples


def human_bytes(n: float) -> str:
    """``n`` bytes as a short figure in B, KB, MB, GB or TB (powers of 1000)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"  # pragma: no cover
