"""M7 Chinese enforcement: stringency, arrests, interception and repatriation.

Stringency (a lever Beijing may raise, M9) scales the daily arrest chance of
North Koreans hiding in China (M10),

  p_arrest = 1 - exp(-arrest_rate_per_year x stringency / 365),

and the interception of parties crossing China on the clandestine route (M6).
Exit strictness is the chance Chinese immigration stops a North Korean
worker leaving with valid documents ("instructed not to let North Korean
labourers leave", Corrado and Moore 2016).  Everyone arrested in China is
handed over to North Korea after a gamma delay (mean ``detention_days``,
shape ``detention_delay_shape``; China "tracks down, arrests, and
repatriates thousands of North Koreans every year", F5); a share
``share_severe_punishment`` of them goes to political prison or labour camps
(their fate is counted, not modelled further).  While the border is shut to
people (border closure at or above ``closure_holds_detainees``, as in
2020-2023, 09_covid_border_timeline.csv) detainees are held and handed over
on reopening.

Delays are scheduled person by person from a discretised gamma distribution
(``delay_pmf``) through Walker's alias table: O(1) per person.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .jit import compiled


@compiled
def delay_pmf(mean_days: float, shape: float, length: int) -> np.ndarray:
    """Discretised gamma delay distribution on days 1..length (sums to 1)."""
    pmf = np.zeros(length)
    if mean_days <= 0:
        pmf[0] = 1.0
        return pmf
    scale = mean_days / shape
    log_density = np.empty(length)
    for i in range(length):
        day = i + 1.0
        log_density[i] = (shape - 1.0) * np.log(day) - day / scale
    top = log_density.max()
    for i in range(length):
        pmf[i] = np.exp(log_density[i] - top)
    return pmf / pmf.sum()


@compiled
def remaining(pmf: np.ndarray) -> np.ndarray:
    """P(delay > k) for k = 0, 1, ...: entry i of ``pmf`` is a delay of i + 1 days."""
    left = np.empty_like(pmf)
    total = 0.0
    for i in range(pmf.shape[0] - 1, -1, -1):
        total += pmf[i]
        left[i] = total
    return left


@compiled
def alias_table(pmf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table of a delay distribution: O(1) draws instead of a search.

    Returns (keep, alias): a draw picks column i uniformly, keeps delay i + 1
    with probability keep[i], else takes delay alias[i] + 1 (Vose's method).
    """
    n = pmf.shape[0]
    scaled = pmf / pmf.sum() * n
    keep = np.ones(n)
    alias = np.arange(n)
    small = np.empty(n, dtype=np.int64)  # two stacks of column indices
    large = np.empty(n, dtype=np.int64)
    n_small = n_large = 0
    for i in range(n):
        if scaled[i] < 1.0:
            small[n_small] = i
            n_small += 1
        else:
            large[n_large] = i
            n_large += 1
    while n_small and n_large:
        n_small -= 1
        n_large -= 1
        lo, hi = small[n_small], large[n_large]
        keep[lo] = scaled[lo]
        alias[lo] = hi
        scaled[hi] -= 1.0 - scaled[lo]
        if scaled[hi] < 1.0:
            small[n_small] = hi
            n_small += 1
        else:
            large[n_large] = hi
            n_large += 1
    return keep, alias


@compiled
def schedule(
    g: Any, pipeline: np.ndarray, day: int, count: int, keep: np.ndarray, alias: np.ndarray
) -> None:
    """Spread ``count`` people over the days after ``day`` by the delay distribution.

    Each person's delay is drawn on its own from the alias table (the
    multinomial of the delay distribution, person by person); beyond the
    pipeline's end nobody is observed.
    """
    n = keep.shape[0]
    for _ in range(count):
        x = g.random() * n
        column = min(int(x), n - 1)
        index = column if x - column < keep[column] else alias[column]
        if day + index + 1 < pipeline.shape[0]:
            pipeline[day + index + 1] += 1


@compiled(inline="always")
def arrest_probability(stringency: float, en: Any) -> float:
    """Daily chance a hidden North Korean in China is arrested."""
    return 1.0 - np.exp(-en.arrest_rate_per_year * stringency / 365.0)


@compiled
def hand_over(g: Any, t: int, closure: float, pipelines: Any, en: Any, out: Any) -> None:
    """Today's repatriations from China and other hosts, and their fate.

    With the border shut to people, today's handovers wait a day (and so on
    until it reopens).
    """
    china, other = pipelines.repatriations_china, pipelines.repatriations_other
    if closure >= en.closure_holds_detainees:
        china[t + 1] += china[t]
        china[t] = 0
        other[t + 1] += other[t]
        other[t] = 0
    repatriated = china[t]
    severe = g.binomial(repatriated, en.share_severe_punishment) if repatriated > 0 else 0
    out.repatriations_from_china = repatriated
    out.repatriations_other_hosts = other[t]
    out.repatriated_severe_punishment = severe
