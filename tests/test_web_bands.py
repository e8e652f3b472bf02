"""The dashboard's statistics without a server: bands, paired differences, labels, requests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import bootstrap

from lipsteeth.adapters.outcome_themes import OTHER, THEMES
from lipsteeth.adapters.web.bands import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    bands_of,
    paired_difference,
    whole_run,
)
from lipsteeth.adapters.web.labels import LEVERS, outcome_label, theme_order
from lipsteeth.adapters.web.limits import JobError, Limits
from lipsteeth.adapters.web.run_requests import build_scenario, resolve_request, set_lever_paths
from lipsteeth.core.outcomes import OUTCOME_NAMES, OUTCOMES
from lipsteeth.core.params import Levers, field_specs

MONTHS = np.arange("2012-01", "2014-01", dtype="datetime64[M]")
NAMES = list(OUTCOME_NAMES)


def fake_runs(pairs: int, effect: float) -> tuple[np.ndarray, np.ndarray]:
    """A and B sharing their noise (common random numbers), B shifted by ``effect``."""
    g = np.random.default_rng(7)
    a = g.gamma(2.0, 10.0, size=(pairs, len(NAMES), MONTHS.size))
    b = a + effect + g.normal(0.0, 1.0, size=a.shape)
    return a, b


def test_bands_hold_the_quantiles_and_whole_run_statistics() -> None:
    a, _ = fake_runs(12, 0.0)
    doc = bands_of(a, MONTHS, NAMES)
    i = NAMES.index("revenue_to_state_usd")
    assert doc["monthly"]["revenue_to_state_usd"]["median"] == pytest.approx(
        np.median(a[:, i, :], axis=0)
    )
    assert doc["totals"]["revenue_to_state_usd"]["median"] == pytest.approx(
        np.median(a[:, i, :].sum(axis=1))
    )
    stock = NAMES.index("workers_abroad")
    assert doc["totals"]["workers_abroad"]["p95"] == pytest.approx(
        np.quantile(a[:, stock, -1], 0.95)
    )
    assert doc["years"] == [2012, 2013] and doc["replicates"] == 12
    assert "parameter" in doc["uncertainty"]


def test_paired_difference_pairs_by_replicate_index() -> None:
    a, b = fake_runs(30, 5.0)
    # B's replicates arrive in another order and A lacks two: pairs are by index
    b_order = np.arange(30)[::-1]
    out = paired_difference(a[:28], range(28), b[b_order], b_order, MONTHS, NAMES)
    assert out["pairs"] == 28 and out["replicates"] == list(range(28))
    i = NAMES.index("arrivals_south_korea")
    d = whole_run(b[:28], NAMES)[:, i] - whole_run(a[:28], NAMES)[:, i]
    total = out["totals"]["arrivals_south_korea"]
    assert total["median"] == pytest.approx(np.median(d))
    assert total["p5"] == pytest.approx(np.quantile(d, 0.05))
    assert total["mean"] == pytest.approx(d.mean())
    ci = bootstrap(
        (d,),
        np.mean,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=0.9,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    ).confidence_interval
    # the service bootstraps all outcomes in one vectorised call; same method and sizes
    assert total["mean_low"] == pytest.approx(ci.low, rel=0.02)
    assert total["mean_high"] == pytest.approx(ci.high, rel=0.02)
    assert total["clear"] is True and total["b_higher"] == 28
    monthly = out["monthly"]["arrivals_south_korea"]
    assert monthly["median"] == pytest.approx(np.median(b[:28, i] - a[:28, i], axis=0))


def test_no_call_on_a_clear_difference_with_fewer_than_ten_pairs() -> None:
    a, b = fake_runs(9, 50.0)
    out = paired_difference(a, range(9), b, range(9), MONTHS, NAMES)
    assert all(t["clear"] is None for t in out["totals"].values())
    assert out["totals"]["provocations"]["mean_low"] is None


def test_identical_settings_differ_by_exactly_zero() -> None:
    a, _ = fake_runs(12, 0.0)
    out = paired_difference(a, range(12), a.copy(), range(12), MONTHS, NAMES)
    for total in out["totals"].values():
        assert total["p5"] == total["p95"] == total["mean_low"] == total["mean_high"] == 0
        assert total["clear"] is False


def test_every_outcome_has_one_theme_and_a_plain_label() -> None:
    listed = [name for theme in THEMES for name in theme.outcomes]
    assert len(listed) == len(set(listed))
    assert set(listed) <= set(OUTCOMES)  # no theme names an outcome the core lacks
    if set(OUTCOMES) - set(listed):
        assert theme_order()[-1] == OTHER.title
    for name in OUTCOMES:
        label = outcome_label(name)
        assert label and label[0].isupper() and "_" not in label


def test_effective_outcomes_of_the_lever_table_exist() -> None:
    levers = field_specs(Levers)
    for view in LEVERS:
        assert view.name in levers
        if view.effective_outcome is not None:
            assert view.effective_outcome in OUTCOMES
            assert OUTCOMES[view.effective_outcome].kind == "mean"
    mapped = {v.name: v.effective_outcome for v in LEVERS}
    assert mapped["china_exit_strictness"] == "exit_strictness"
    assert mapped["un_workers"] == "un_workers_level"


def test_a_dated_change_becomes_a_lever_event_from_its_date() -> None:
    request = {
        "scenario": "baseline-2016",
        "changes": [{"lever": "china_exit_strictness", "value": 0.3, "start": "2016-04-01"}],
    }
    scenario = build_scenario(request)
    event = scenario.events[-1]
    assert (event["date"], event["lever"], event["value"]) == (
        "2016-04-01",
        "china_exit_strictness",
        0.3,
    )
    path = set_lever_paths(scenario, ["china_exit_strictness"])["china_exit_strictness"]
    months = [str(m) for m in scenario.calendar.months]
    assert path[months.index("2016-03")] == pytest.approx(0.95)
    assert path[months.index("2016-04")] == pytest.approx(0.3)
    assert path[-1] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"lever": "nope", "value": 1, "start": "2016-01-01"}, "changes[0].lever"),
        ({"lever": "food_aid", "value": 7, "start": "2016-01-01"}, "changes[0].value"),
        ({"lever": "food_aid", "value": 1, "start": "2031-01-01"}, "changes[0].start"),
        (
            {"lever": "food_aid", "value": 1, "start": "2016-01-01", "end": "2015-01-01"},
            "changes[0].end",
        ),
    ],
)
def test_bad_changes_name_their_key_path(change: dict, needle: str) -> None:
    with pytest.raises(JobError) as caught:
        build_scenario({"scenario": "baseline-2016", "changes": [change]})
    assert caught.value.status == 422 and caught.value.message.startswith(needle)


def test_the_cap_allows_forty_replicates_of_the_full_default() -> None:
    limits = Limits()
    run = resolve_request({"scenario": "baseline-2016", "replicates": 40}, limits)
    assert run.agent_days <= limits.max_agent_days
    most = limits.replicates_allowed(run.agents, run.days)
    assert most >= 40
    with pytest.raises(JobError, match=f"at most {most} replicates"):
        resolve_request({"scenario": "baseline-2016", "replicates": most + 1}, limits)


def test_yearly_bands_of_a_subset_equal_the_core_aggregation() -> None:
    from lipsteeth.core.outcomes import to_years

    a, _ = fake_runs(5, 0.0)
    years, core = to_years(a, MONTHS.astype("datetime64[Y]").astype(int) + 1970)
    subset = ["workers_abroad", "revenue_to_state_usd", "exit_strictness"]
    rows = [NAMES.index(n) for n in subset]
    doc = bands_of(a[:, rows], MONTHS, subset)
    for k, name in enumerate(subset):
        assert doc["yearly"][name]["median"] == pytest.approx(
            np.median(core[:, rows[k], :], axis=0)
        )
    assert doc["years"] == [int(y) for y in years]


def test_report_and_dashboard_group_outcomes_by_the_same_themes() -> None:
    from lipsteeth.adapters.outcome_themes import themes_for

    themes = themes_for(["provocations", "a_new_outcome", "revenue_to_state_usd"])
    assert [t.key for t in themes] == ["money", "strategic", "other"]
    assert themes[0].outcomes == ("revenue_to_state_usd",)
    assert themes[-1].outcomes == ("a_new_outcome",)
    assert theme_order() == [t.title for t in THEMES] + (
        [OTHER.title] if set(OUTCOMES) - {n for t in THEMES for n in t.outcomes} else []
    )
