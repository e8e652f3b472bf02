"""M7 Chinese enforcement: stringency, arrests, interception and repatriation.

Stringency (a lever Beijing may raise, M9) scales the daily arrest hazard of
North Koreans hiding in China (M10) and the interception of parties crossing
China on the clandestine route (M6).  Exit strictness is the chance Chinese
immigration stops a North Korean worker leaving with valid documents
("instructed not to let North Korean labourers leave", seed article).
Everyone arrested in China is repatriated after ``detention_days`` on average
(China "tracks down, arrests, and repatriates thousands of North Koreans every
year", F5); a share ``share_severe_punishment`` of them goes to political
prison or labour camps (their fate is counted, not modelled further).  While
the border is shut to people (border closure >= 0.5, as in 2020-2023,
09_covid_border_timeline.csv) detainees are held and handed over on reopening.
"""

from __future__ import annotations

import numpy as np

from .params import Params


def delay_pmf(mean_days: float, shape: float, length: int) -> np.ndarray:
    """Discretised gamma delay distribution on days 1..length (sums to 1)."""
    if mean_days <= 0:
        pmf = np.zeros(length)
        pmf[0] = 1.0
        return pmf
    days = np.arange(1, length + 1, dtype=float)
    scale = mean_days / shape
    log_density = (shape - 1.0) * np.log(days) - days / scale
    density = np.exp(log_density - log_density.max())
    return density / density.sum()


def schedule(
    rng: np.random.Generator, pipeline: np.ndarray, day: int, count: int, pmf: np.ndarray
) -> None:
    """Spread ``count`` people over future days of ``pipeline`` (one replicate's row)."""
    if count <= 0:
        return
    spread = rng.multinomial(count, pmf)
    end = min(day + 1 + pmf.shape[0], pipeline.shape[0])
    pipeline[day + 1 : end] += spread[: end - day - 1]


def arrest_probability(stringency: np.ndarray, params: Params) -> np.ndarray:
    """Daily chance a hidden North Korean in China is arrested (R,)."""
    return 1.0 - np.exp(-params.enforcement.arrest_rate_per_year * stringency / 365.0)


def severe_share(rng: np.random.Generator, repatriated: int, params: Params) -> int:
    """How many of the day's repatriated people face severe punishment."""
    return int(rng.binomial(repatriated, params.enforcement.share_severe_punishment))
