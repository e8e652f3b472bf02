"""The compiled kernel on extreme accepted inputs: no crash, no NaN, no negative stock.

Issue 17, items 4-5.  Every parameter and lever is drawn from the ends of its
admissible range (``core.params`` bounds: the end itself, one float inside it, a
tiny step inside, or anywhere between), the scenario validation decides whether the
set is accepted, and an accepted set is simulated for a short horizon on a small
network.  A crash would be a SIGSEGV of the test process; a NaN or inf is a
``NonFiniteOutcomeError`` of ``simulate``.  The fast test runs 60 sets; the slow
one 10,000 (``make test-all``) and prints its counts.

The horizon is short because some accepted sets still make flows huge (with
``strategic.beta_squeeze`` and ``beta_defiance`` at 20 the missile rate is e^40 a day):
the Poisson means are saturated (``core.bounds.poisson``) so such a run stays finite and
non-negative.  Crossings into China (M10) are bounded: the economy index is never below
0 (M9), so the squeeze is at most 1, and the boundary refuses a crossing rate at full
hardship above North Korea's population (``scenario.MAX_CROSSINGS_PER_YEAR``); the set
that hung the first 10,000-set run is ``fuzz_cases/hang_11_days.json``.

Also the two reported crashes as named regressions: a restaurant hazard of 1e-19 a
year and ``border_closure`` = 1 - 1e-16 (the geometric skip overflowed int64 into an
out-of-bounds post index), and ``workers.stress_days = 1`` (NaN stress from
log1p(-1)).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from lipsteeth.core.m05_defection import SKIP_MAX, skip, skip_scale
from lipsteeth.core.outcomes import KIND_STOCK, OUTCOME_NAMES
from lipsteeth.core.params import PARAM_GROUPS, Levers, field_specs
from lipsteeth.core.simulate import NonFiniteOutcomeError, check_finite
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.scenario import Scenario, ScenarioError, load_scenario

YEARS = 0.03  # 11 days: day 0 and every daily mechanism, several times (see the note below)
#: a small network (the population group is drawn here, not at its bounds of 2,000,000)
SMALL = {
    "population.restaurant_sites_max": 20,
    "population.restaurants_initial": 10,
    "population.labour_sites_max": 12,
    "population.labour_workers_initial": 1500,
}
PARAM_SPECS = {group: field_specs(cls) for group, cls in PARAM_GROUPS.items()}
LEVER_SPECS = field_specs(Levers)
#: stand-in for an unbounded upper end (``INF`` in the specs)
LARGE = 1e6


@pytest.fixture(scope="module")
def small() -> Scenario:
    return load_scenario("baseline-2016").with_overrides(params=SMALL, years=YEARS)


def extreme(meta: dict[str, Any]) -> st.SearchStrategy[float]:
    """A value at, next to, a tiny step from, or between the ends of a bounded range."""
    lo, hi = float(meta["lo"]), float(meta["hi"])
    hi = hi if math.isfinite(hi) else max(lo, 0.0) + LARGE
    if meta.get("integer"):
        lo_i, hi_i = math.ceil(lo), math.floor(hi)
        return st.sampled_from([lo_i, min(lo_i + 1, hi_i), max(hi_i - 1, lo_i), hi_i]) | (
            st.integers(lo_i, hi_i)
        )
    span = hi - lo
    ends = [
        lo,
        hi,
        math.nextafter(lo, hi),
        math.nextafter(hi, lo),
        lo + span * 1e-19,
        hi - span * 1e-16,
    ]
    return st.sampled_from(ends) | st.floats(lo, hi, allow_nan=False)


def population() -> st.SearchStrategy[dict[str, float]]:
    """Small networks, including the degenerate ones (no restaurant open, one site)."""
    return st.fixed_dictionaries(
        {
            "population.restaurant_sites_max": st.sampled_from([1, 2, 20]),
            "population.restaurants_initial": st.sampled_from([0, 1, 10, 20]),
            "population.labour_sites_max": st.sampled_from([1, 3, 12]),
            "population.labour_workers_initial": st.sampled_from([0, 1, 500, 1500]),
            "population.staff_per_restaurant": st.sampled_from([1, 8, 200]),
            "population.labour_site_capacity": st.sampled_from([1, 150, 2000]),
        }
    )


PARAM_KEYS = [
    f"{group}.{name}"
    for group, specs in PARAM_SPECS.items()
    if group != "population"
    for name in specs
]


#: each key's strategy, built once: building ~200 strategies a set was 3/4 of the fuzz's time
EXTREME_PARAMS = {
    key: extreme(PARAM_SPECS[key.split(".", 1)[0]][key.split(".", 1)[1]]) for key in PARAM_KEYS
}
EXTREME_LEVERS = {name: extreme(meta) for name, meta in LEVER_SPECS.items()}
POPULATIONS = population()
COIN = st.booleans()


@st.composite
def accepted_inputs(draw: st.DrawFn) -> tuple[dict[str, float], dict[str, float]]:
    """Parameter and lever overrides: each key extreme with probability 1/2, else default."""
    params = draw(POPULATIONS)
    for key, values in EXTREME_PARAMS.items():
        if draw(COIN):
            params[key] = draw(values)
    levers = {name: draw(values) for name, values in EXTREME_LEVERS.items() if draw(COIN)}
    return params, levers


def simulate_extreme(
    small: Scenario, params: dict[str, float], levers: dict[str, float], seed: int
) -> str:
    """'refused' (validation), or 'ran' after checking the outcomes; raises on a defect."""
    try:
        scenario = small.with_overrides(params=params, levers=levers)
    except ScenarioError:
        return "refused"
    result = run_scenario(scenario, replicates=1, seed=seed)  # NonFiniteOutcomeError on NaN
    stocks = result.monthly[:, KIND_STOCK, :]
    assert np.isfinite(result.monthly).all()
    negative = np.argwhere(stocks < 0.0)
    if negative.size:
        names = np.array(OUTCOME_NAMES)[KIND_STOCK]
        raise AssertionError(
            f"negative stock {names[negative[0][1]]} (seed {seed}): {params} {levers}"
        )
    return "ran"


#: called with (params, levers, seed) before a set is simulated (the runner's record of it)
BeforeSet = Callable[[dict[str, float], dict[str, float], int], None]
#: called with (kind, message, params, levers, seed) for a defect; the fuzz goes on
OnDefect = Callable[[str, str, dict[str, float], dict[str, float], int], None]


def _fuzz(
    small: Scenario,
    examples: int,
    counts: Counter[str],
    *,
    seed: int | None = None,
    before: BeforeSet | None = None,
    on_defect: OnDefect | None = None,
) -> None:
    """``examples`` accepted sets; a defect raises, or goes to ``on_defect`` and is counted.

    ``seed`` None is hypothesis's derandomised sequence (the tests); an integer picks
    another reproducible sequence (``scripts/fuzz_kernel.py`` runs chunks of 500).
    """

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=seed is None,
        database=None,
        # no shrinking: a failing set is printed whole, and shrinking a simulation takes minutes
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(inputs=accepted_inputs(), seed=st.integers(0, 2**32 - 1))
    def check(inputs: tuple[dict[str, float], dict[str, float]], seed: int) -> None:
        if before is not None:
            before(*inputs, seed)
        try:
            outcome = simulate_extreme(small, *inputs, seed)
        except Exception as defect:  # NonFiniteOutcomeError, a negative stock, any other
            if on_defect is None:
                raise
            kind = "negative stock" if "negative stock" in str(defect) else type(defect).__name__
            on_defect(kind, str(defect)[:2000], *inputs, seed)
            outcome = f"defect: {kind}"
        counts[outcome] += 1
        assume(outcome == "ran" or outcome.startswith("defect"))

    if seed is not None:
        check = hypothesis_seed(seed)(check)
    check()


def test_kernel_fuzz_fast(small: Scenario) -> None:
    counts: Counter[str] = Counter()
    _fuzz(small, 60, counts)
    assert counts["ran"] >= 60, counts


@pytest.mark.slow
def test_kernel_fuzz_10000(small: Scenario) -> None:
    """In one process; ``scripts/fuzz_kernel.py`` runs the same in resumable chunks."""
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    _fuzz(small, 10_000, counts)
    print(
        f"kernel fuzz: {counts['ran']} accepted sets simulated, {counts['refused']} refused, "
        f"0 crashes, 0 non-finite, 0 negative stocks in {time.perf_counter() - started:.0f} s"
    )
    assert counts["ran"] >= 10_000, counts


# --- the reported cases -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "levers"),
    [
        ({"defection.restaurant_hazard_per_year": 1e-19}, {}),
        ({"defection.labour_hazard_per_year": 5e-324}, {}),
        ({}, {"border_closure": 0.9999999999999999}),
        ({"workers.stress_days": 1}, {}),
    ],
    ids=["hazard-1e-19", "hazard-denormal", "closure-1-1e-16", "stress-days-1"],
)
def test_reported_inputs_run_clean(
    small: Scenario, params: dict[str, float], levers: dict[str, float]
) -> None:
    assert simulate_extreme(small, params, levers, seed=1) == "ran"


def test_stress_days_one_is_the_days_pressure(small: Scenario) -> None:
    """At stress_days = 1 stress is today's pressure: finite, and between 0 and the weights."""
    scenario = small.with_overrides(params={"workers.stress_days": 1})
    result = run_scenario(scenario, replicates=1, seed=2)
    stress = result.outcome("stress_restaurant")
    w = scenario.params.workers
    assert np.isfinite(stress).all()
    assert (stress >= 0).all()
    assert (stress <= w.stress_weight_pay + w.stress_weight_hours + w.stress_weight_arrears).all()


def test_skip_saturates() -> None:
    """A success chance of 1e-300 gives the longest skip, not a wrapped negative integer."""
    g = np.random.default_rng(0)
    for p in (1e-300, 5e-324, 1e-19):
        gaps = [skip(g, skip_scale(p)) for _ in range(100)]
        assert min(gaps) >= 1 and max(gaps) <= SKIP_MAX
    assert skip(g, skip_scale(1.0)) == 1
    assert 1 <= skip(g, skip_scale(0.5)) < 100


def test_nan_outcome_is_a_run_error_naming_the_suspects(small: Scenario) -> None:
    monthly = np.zeros((1, len(OUTCOME_NAMES), 1))
    monthly[0, OUTCOME_NAMES.index("stress_labour"), 0] = np.nan
    params = small.with_overrides(params={"workers.stress_days": 1}).params
    with pytest.raises(NonFiniteOutcomeError) as exc:
        check_finite(monthly, small.calendar, np.array([3]), [params], small.levers)
    message = str(exc.value)
    assert "stress_labour" in message and "replicate 3" in message
    assert "workers.stress_days=1" in message and "\n" not in message


def test_stress_never_negative_after_pressure_falls() -> None:
    """The fuzz's find: stress of -1.5e-9 (seed 261) when the only site's pressure fell to 0."""
    params = {
        "population.restaurant_sites_max": 2,
        "population.restaurants_initial": 1,
        "population.labour_sites_max": 12,
        "population.labour_workers_initial": 0,
        "population.staff_per_restaurant": 8,
        "population.labour_site_capacity": 1,
        "restaurants.reserve_cap_days": 0.0,
        "restaurants.arrears_index_days": 1.0,
        "restaurants.failure_closure_rate_per_year": 50.0,
        "defection.labour_hazard_per_year": 0.0,
        "defection.beta_stress": 0.0,
        "enforcement.arrest_rate_per_year": 20.0,
        "enforcement.detention_delay_shape": 5.4375,
        "strategic.missile_rate_per_year": 0.0,
        "wider_flow.hidden_initial": 9448579.0,
        "wider_flow.crossing_rate_per_year": 163438.0,
        "wider_flow.beta_economy": 0.0,
        "wider_flow.broker_rate_per_year": 0.0,
        "wider_flow.return_rate_per_year": 0.0,
        "wider_flow.pandemic_departure_loss": 0.9999999999999999,
        "wider_flow.resident_arrest_factor": 1e-19,
    }
    scenario = load_scenario("baseline-2016").with_overrides(
        params=params, levers={"un_workers": 1.0, "pandemic": 1.0}, years=0.1
    )
    for seed in (261, 464, 576, 1264, 2040):
        result = run_scenario(scenario, replicates=1, seed=seed)
        assert (result.outcome("stress_restaurant") >= 0).all(), seed


def test_poisson_saturates() -> None:
    """The fuzz's second find: a missile rate of e^56 a day drew a negative count of tests."""
    from lipsteeth.core.bounds import POISSON_MEAN_MAX, poisson

    g = np.random.default_rng(0)
    for mean in (1e19, 1e30, math.inf):
        assert 0 < poisson(g, mean) <= 2 * POISSON_MEAN_MAX
    assert poisson(g, 0.0) == 0 and poisson(g, math.nan) == 0


HANG_CASE = Path(__file__).parent / "fuzz_cases" / "hang_11_days.json"


def test_fuzz_hang_case_finishes() -> None:
    """The 10,000-set fuzz's hang (issue 17, item 4) finishes in seconds, index >= 0.

    ``fuzz_cases/hang_11_days.json`` (parameters, levers, seed 636) ran for over 120 s
    of CPU for 11 days: wages far above sales left its only restaurant a debt, the shut
    site's seized debt was a negative remittance, and over a first-day revenue of 0
    (floored at 1e-9) the economy index fell to -1.8e12 on day 2, the squeeze
    exp(beta_economy x 1.8e12) saturated crossings at 1e12 a day (M10) and their
    departures were scheduled person by person.  M9 now floors the index at 0.  The set
    as found is refused at the boundary (its crossing rate at full hardship exceeds North
    Korea's population, next test), so it runs here with the crossing rate at 5e6 a
    year, which is admitted and hung the same way before the floor.  Run in a subprocess
    so a hang fails the test in 60 s.
    """
    code = (
        f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent.parent)!r})\n"
        "from tests import test_kernel_fuzz as tf\n"
        "from lipsteeth.experiment.ensemble import run_scenario\n"
        "from lipsteeth.scenario import load_scenario\n"
        f"(params, levers), seed = json.load(open({str(HANG_CASE)!r}))\n"
        "params['wider_flow.crossing_rate_per_year'] = 5e6\n"
        "small = load_scenario('baseline-2016').with_overrides(params=tf.SMALL, years=tf.YEARS)\n"
        "print(tf.simulate_extreme(small, params, levers, seed))\n"
        "case = small.with_overrides(params=params, levers=levers)\n"
        "result = run_scenario(case, replicates=1, seed=seed)\n"
        "print(result.outcome('economy_index').min(), result.outcome('border_crossings').max())\n"
    )
    try:
        done = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True)
    except subprocess.TimeoutExpired:
        pytest.fail("the case did not finish in 60 s")
    assert done.returncode == 0, done.stderr[-500:]
    ran, extremes = done.stdout.decode().strip().splitlines()
    economy_min, crossings_max = map(float, extremes.split())
    assert ran == "ran"
    assert economy_min >= 0.0
    # 11 days at most 5e6 / 365 x e^1.5 a day (squeeze <= 1): far below 1e12 a day
    assert crossings_max < 11 * 5e6 / 365 * math.exp(1.5) * 1.01


def test_crossings_beyond_the_population_are_refused(small: Scenario) -> None:
    """The found set, and the fuzz's ends (1e7 a year x e^20), are refused in one line."""
    (params, levers), _seed = json.loads(HANG_CASE.read_text())
    for overrides in (
        params,
        {"wider_flow.crossing_rate_per_year": 1e7, "wider_flow.beta_economy": 20.0},
        {"wider_flow.crossing_rate_per_year": 25_000_000 / math.exp(1.5) * 1.001},
    ):
        with pytest.raises(ScenarioError) as exc:
            small.with_overrides(params=overrides, levers=levers)
        message = str(exc.value)
        assert "crossing_rate_per_year*exp(beta_economy)" in message and "\n" not in message
        assert exc.value.path == "parameters.wider_flow.beta_economy.value"
    # the admissible side of the limit, and the default (9,700 x e^1.5 = 43,000 a year)
    small.with_overrides(params={"wider_flow.crossing_rate_per_year": 25_000_000 / math.exp(1.5)})
    load_scenario("baseline-2016")


def test_crossings_beyond_the_population_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the command line: one line naming both fields, exit 2, nothing written."""
    from tests.support import run_cli

    scenario = tmp_path / "exodus.toml"
    scenario.write_text(
        '[scenario]\nname = "exodus"\nextends = "baseline-2016"\n'
        "[parameters.wider_flow.crossing_rate_per_year]\n"
        'value = 1e7\nrange = [1e6, 1e7]\nprovenance = "assumption: fuzz"\n'
        "[parameters.wider_flow.beta_economy]\n"
        'value = 20\nprovenance = "assumption: fuzz"\n'
    )
    out = tmp_path / "results"
    assert run_cli(["run", str(scenario), "--out", str(out), "--years", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert "crossing_rate_per_year" in err and "beta_economy" in err
    assert not out.exists()


def test_drawn_crossings_beyond_the_population_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A declared range reaching past the limit: the drawn set is refused, one line."""
    from tests.support import run_cli

    scenario = tmp_path / "wide.toml"
    scenario.write_text(
        '[scenario]\nname = "wide"\nextends = "baseline-2016"\n'
        "[parameters.wider_flow.beta_economy]\n"
        'value = 1.5\nrange = [0, 20]\nprovenance = "assumption: fuzz"\n'
    )
    out = tmp_path / "results"
    args = ["run", str(scenario), "--uncertainty", "ranges", "--replicates", "8", "--years", "1"]
    assert run_cli([*args, "--no-facts", "--seed", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "(drawn parameters)" in err, err
    assert "crossing_rate_per_year*exp(beta_economy)" in err
    assert not out.exists()


def test_economy_index_never_below_zero() -> None:
    """M9 in the core, as in the reference (tests/test_reference_model.py, same setting):
    the economy index is floored at 0 when the formula gives about -1."""
    from tests.test_reference_model import ECONOMY_CRUSHED

    scenario = load_scenario("baseline-2016").with_overrides(
        params={f"strategic.{name}": value for name, value in ECONOMY_CRUSHED.items()},
        levers={"beijing_discretion": 0.0, "china_sanctions": 1.0},
        years=1,
    )
    scenario = scenario.with_overrides(params=SMALL)
    economy = run_scenario(scenario, replicates=1, seed=5).outcome("economy_index")
    assert economy.min() == 0.0
