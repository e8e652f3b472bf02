"""M7 Chinese enforcement: stringency, arrests, interception and repatriation.

Stringency (a lever Beijing may raise, M9) scales the daily arrest chance of
North Koreans hiding in China (M10),

  p_arrest = 1 - exp(-arrest_rate_per_year x stringency / 365),

and the interception of parties crossing China on the clandestine route (M6).
Exit strictness is the chance Chinese immigration stops a North Korean
worker leaving with valid documents ("instructed not to let North Korean
labourers leave", Corrado and Moore 2016).

Detention has a capacity.  People arrested in China (the wider flow, brokered
parties intercepted, posted workers caught) enter the border detention centres
while there is room (``detention_capacity``; 05_china_detentions_repatriations.csv
Feb 2012: about 220-400 held in about 10 centres); those turned away by full
centres are released (``overflow_release_share``, back among the recent crossers,
M10) or held in prisons (long detention).  A detainee is processed for a gamma
delay (mean ``detention_days``, shape ``detention_delay_shape``), then waits for
a handover.  Handovers happen in batches every ``handover_interval_days`` of at
most ``handover_batch_max`` people, and only while the border is open to people
(border closure below ``closure_holds_detainees``; it was shut in 2020-2023,
09_covid_border_timeline.csv), so a backlog built up during a closure is handed
over batch by batch on reopening.  On the same days people in long detention are
handed over at rate ``long_detention_handover_per_year``.  China "tracks down,
arrests, and repatriates thousands of North Koreans every year" (F5); a share
``share_severe_punishment`` of the repatriated goes to political prison or labour
camps (their fate is counted, not modelled further).  The ledger holds: everyone
arrested in China is admitted, released or in long detention, and every admitted
person is handed over or still detained.  Other hosts hand over after the same
delay, held while the border is shut.

Delays are scheduled person by person from a discretised gamma distribution
(``delay_pmf``) through Walker's alias table: O(1) per person.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .jit import compiled


@compiled
def delay_pmf(mean_days: float, shape: float, length: int) -> np.ndarray:
    """Discretised gamma delay distribution on days 1..length (sums to 1).

    A mean so small that the density underflows on every day (5e-324 days: the
    scale is 0, or every day's log density is -inf) is the limit of a vanishing
    delay, all on day 1, as a mean of 0 is (issue 17, item 4: it divided by zero).
    """
    pmf = np.zeros(length)
    scale = mean_days / shape if mean_days > 0 else 0.0
    if not scale > 0:
        pmf[0] = 1.0
        return pmf
    log_density = np.empty(length)
    for i in range(length):
        day = i + 1.0
        log_density[i] = (shape - 1.0) * np.log(day) - day / scale
    top = log_density.max()
    if not np.isfinite(top):
        pmf[0] = 1.0
        return pmf
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
def admit(
    g: Any, t: int, arrested: int, net: Any, pipelines: Any, delays: Any, en: Any, out: Any
) -> int:
    """People arrested in China today enter detention while there is room (M7).

    Returns how many of those turned away are released (they rejoin the
    recent crossers, M10); the others go to long detention.
    """
    if arrested <= 0:
        return 0
    space = max(en.detention_capacity - net.detained, 0.0)
    admitted = int(min(float(arrested), space))
    overflow = arrested - admitted
    released = g.binomial(overflow, en.overflow_release_share) if overflow > 0 else 0
    net.long_detention += overflow - released
    net.detained += admitted
    schedule(
        g, pipelines.processing_china, t, admitted, delays.detention_keep, delays.detention_alias
    )
    out.detention_overflow += overflow
    out.detention_released += released
    return released


@compiled
def hand_over(g: Any, t: int, closure: float, net: Any, pipelines: Any, en: Any, out: Any) -> None:
    """Today's handovers to North Korea from China (in batches) and from other hosts.

    With the border shut to people, nobody is handed over: China's processed
    detainees wait, other hosts' handovers are put off a day at a time.
    """
    net.awaiting_handover += pipelines.processing_china[t]
    other = pipelines.repatriations_other
    border_open = closure < en.closure_holds_detainees
    if not border_open:
        other[t + 1] += other[t]
        other[t] = 0
    interval = max(int(en.handover_interval_days), 1)
    repatriated = 0
    if border_open and t % interval == 0:
        handed = int(min(float(net.awaiting_handover), en.handover_batch_max))
        net.awaiting_handover -= handed
        net.detained -= handed
        p_long = 1.0 - np.exp(-en.long_detention_handover_per_year * interval / 365.0)
        released_long = (
            g.binomial(net.long_detention, p_long) if net.long_detention > 0 and p_long > 0 else 0
        )
        net.long_detention -= released_long
        repatriated = handed + released_long
    severe = g.binomial(repatriated, en.share_severe_punishment) if repatriated > 0 else 0
    out.repatriations_from_china = repatriated
    out.repatriations_other_hosts = other[t]
    out.repatriated_severe_punishment = severe
    out.detained_china = net.detained
    out.awaiting_handover = net.awaiting_handover
    out.long_detention = net.long_detention
