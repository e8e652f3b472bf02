"""Parameter uncertainty in every run (experiment.posterior, issue 13).

One parameter set per replicate, drawn from a calibration posterior or the
declared ranges, deterministically from the run's root seed and the
replicate index: any subset of replicates draws the same sets, two settings
with the same seed draw the same sets where their posteriors agree, and
overridden parameters are held.  Reading: the calibration folder format
(ABC and NPE, with its ``method`` column) and the packaged JSON.

Statistical tests (fixed seeds, so they are deterministic; the false-failure
rate says how often a correct implementation would fail them over seeds):
the particle frequencies are checked by a chi-square test at 1e-4, the range
draws by a Kolmogorov-Smirnov test at 1e-4.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from lipsteeth.adapters.posterior_files import read_posterior
from lipsteeth.experiment import posterior as pu
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.scenario import Scenario, load_scenario, load_scenario_text

from .web_live import TINY_PARAMS

NAMES = ("defection.contagion", "defection.restaurant_hazard_per_year")


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    """A small, one-year baseline (a few hundred workers): seconds per ensemble."""
    return load_scenario("baseline-2016").with_overrides(params=TINY_PARAMS, years=1)


def posterior(weights: list[float] | None = None, n: int = 3) -> pu.Posterior:
    values = np.column_stack([np.linspace(0.2, 0.5, n), np.linspace(0.05, 0.15, n)])
    return pu.Posterior(
        names=NAMES,
        values=values,
        weights=np.asarray(weights if weights is not None else [1.0] * n),
        method="abc",
        scenario="baseline-2016",
        source="test",
        calibrated_values={NAMES[0]: 0.35, NAMES[1]: 0.08},
        priors={"defection.contagion": (0.15, 0.6)},
    )


def test_draws_depend_on_seed_and_replicate_index_only(tiny):
    u = pu.for_posterior(tiny, posterior())
    full = u.parameter_sets(7, np.arange(10))
    assert u.parameter_sets(7, [8, 3]) == [full[8], full[3]], (
        "a subset draws what the full run draws"
    )
    assert u.parameter_sets(8, np.arange(10)) != full, "another seed, other draws"
    other = pu.for_posterior(tiny.with_overrides(levers={"food_aid": 1.0}), posterior())
    assert other.parameter_sets(7, np.arange(10)) == full, "same posterior, same seed: common draws"


def test_particles_follow_the_weights():
    """Chi-square goodness of fit of 3,000 replicates' particles (false-failure rate 1e-4)."""
    weights = [0.7, 0.2, 0.1]
    u = pu.ParameterUncertainty("posterior", posterior=posterior(weights))
    counts = np.bincount([u.particle(11, i) for i in range(3000)], minlength=3)
    assert stats.chisquare(counts, np.array(weights) * 3000).pvalue > 1e-4


def test_ranges_are_uniform_and_integers_rounded(tiny):
    """KS test of 2,000 draws of one range against the uniform (false-failure rate 1e-4)."""
    u = pu.for_ranges(load_scenario("baseline-2016"))
    assert u.label == pu.PARAMETERS_AND_SIMULATION
    draws = u.parameter_sets(3, np.arange(2000))
    low, high = u.ranges["defection.contagion"]
    x = np.array([d["defection.contagion"] for d in draws])
    assert low <= x.min() and x.max() <= high
    assert stats.kstest((x - low) / (high - low), "uniform").pvalue > 1e-4
    params = u.replicate_params(load_scenario("baseline-2016"), 3, np.arange(5))
    assert params is not None
    assert all(isinstance(p.population.restaurants_initial, int) for p in params)
    # parameters drawn from independent streams: one range changed leaves the others alone
    a = x[:50]
    b = np.array([d["defection.beta_stress"] for d in draws[:50]])
    assert not np.allclose(a, b)


def test_overridden_and_changed_parameters_are_held(tiny):
    u = pu.for_posterior(tiny, posterior())
    assert set(u.from_posterior) == set(NAMES)
    # TINY_PARAMS overrode these before the uncertainty was attached
    assert "population.restaurants_initial" in u.held
    assert "population.restaurants_initial" not in u.from_ranges
    knocked = pu.with_uncertainty(tiny, "posterior", posterior()).with_overrides(
        params={"defection.contagion": 0.0}
    )
    draws = knocked.parameter_draws
    assert isinstance(draws, pu.ParameterUncertainty)
    assert draws.held["defection.contagion"] == "overridden"
    params = draws.replicate_params(knocked, 5, np.arange(4))
    assert params is not None and {p.defection.contagion for p in params} == {0.0}
    assert len({p.defection.restaurant_hazard_per_year for p in params}) > 1
    # a variant whose file sets another value than the calibrated scenario held
    changed = load_scenario("baseline-2016").with_overrides(params={"defection.contagion": 0.4})
    assert "defection.contagion" in pu.for_posterior(changed, posterior()).held


def test_no_uncertainty_runs_exactly_as_before(tiny):
    plain = run_scenario(tiny, replicates=3)
    none = run_scenario(pu.with_uncertainty(tiny, "none"), replicates=3)
    assert np.array_equal(plain.monthly, none.monthly)
    assert pu.band_label(pu.with_uncertainty(tiny, "none")) == pu.SIMULATION_ONLY


def test_posterior_runs_any_subset_the_same(tiny):
    drawn = pu.with_uncertainty(tiny, "posterior", posterior())
    full = run_scenario(drawn, replicates=4)
    part = run_scenario(drawn, replicate_indices=np.array([2, 3]))
    assert np.array_equal(full.monthly[2:], part.monthly)
    assert not np.array_equal(full.monthly, run_scenario(tiny, replicates=4).monthly)


def test_choices_and_refusals(tiny):
    assert pu.resolve(tiny, "none").kind == "none"
    assert pu.resolve(tiny, "auto").kind == "posterior", "inherits the baseline's posterior"
    assert pu.resolve(tiny, "ranges").kind == "ranges"
    text = tiny.to_toml().replace('posterior = "baseline-2016"\n', "")
    unshipped = load_scenario_text(text, "no-posterior.toml")
    assert unshipped.posterior is None
    assert pu.resolve(unshipped, "auto").kind == "ranges", "no posterior: the declared ranges"
    with pytest.raises(pu.PosteriorError, match="ships no posterior"):
        pu.resolve(unshipped, "posterior")
    with pytest.raises(pu.PosteriorError, match="--uncertainty"):
        pu.resolve(tiny, "maybe")
    with pytest.raises(pu.PosteriorError, match="contradicts"):
        pu.resolve(tiny, "none", posterior())


def calibration_folder(root: Path, method: str | None) -> Path:
    """A calibration experiment folder as `lipsteeth calibrate` writes it (two generations)."""
    folder = root / "experiments" / f"calibrate-{method}"
    (folder / "analysis").mkdir(parents=True)
    rows = {
        "generation": [0, 0, 1, 1, 1],
        "particle": [0, 1, 0, 1, 2],
        "weight": [0.5, 0.5, 0.2, 0.3, 0.5],
        "distance": [1.0, 2.0, 0.5, 0.4, 0.3],
        NAMES[0]: [0.9, 0.9, 0.2, 0.3, 0.4],
        NAMES[1]: [0.9, 0.9, 0.05, 0.06, 0.07],
    }
    if method is not None:
        rows["method"] = [method] * 5
    pq.write_table(pa.table(rows), folder / "analysis" / "posterior.parquet")
    manifest = {
        "experiment": folder.name,
        "kind": "calibrate",
        "scenario": "baseline-2016",
        "priors": [
            {"name": NAMES[0], "low": 0.15, "high": 0.6, "integer": False},
            {"name": NAMES[1], "low": 0.03, "high": 0.2, "integer": False},
        ],
        "targets": ["restaurant_defectors@2016"],
    }
    if method is not None:
        manifest["method"] = method
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize("method", [None, "abc", "npe"])
def test_reads_the_calibration_format(tmp_path, method):
    folder = calibration_folder(tmp_path, method)
    for path in (folder, folder / "manifest.json", folder / "analysis" / "posterior.parquet"):
        read = read_posterior(path)
        assert read.names == NAMES
        assert read.n_particles == 3, "the last generation only"
        assert np.allclose(read.weights, [0.2, 0.3, 0.5])
        assert read.method == (method or "abc")
        assert read.priors[NAMES[0]] == (0.15, 0.6)


def test_packaged_json_round_trips_and_refuses_tampering(tmp_path):
    original = posterior([1.0, 2.0, 3.0])
    path = tmp_path / "x.posterior.json"
    path.write_text(original.to_json())
    read = read_posterior(path)
    assert read.sha256 == original.sha256
    assert np.array_equal(read.values, original.values)
    assert read.calibrated_values == original.calibrated_values
    document = json.loads(path.read_text())
    document["values"][0][0] += 1e-9
    path.write_text(json.dumps(document))
    with pytest.raises(pu.PosteriorError, match="sha256"):
        read_posterior(path)


def test_embedded_scenarios_ship_their_posterior():
    for name in ("baseline-2016", "history"):
        scenario = load_scenario(name)
        assert scenario.posterior == name
        shipped = pu.packaged(name)
        assert shipped.scenario == name and shipped.meta.get("until") == 2016
        # calibrated on observed outcomes up to 2016 only (RULES): every target's period
        periods = [key.partition("@")[2] for key in shipped.meta["targets"]]
        assert periods and all(int(p[-4:]) <= 2016 for p in periods), periods
        assert set(shipped.names) <= set(scenario.uncertainties)
        u = pu.resolve(scenario)
        assert u.kind == "posterior" and not set(u.held) & set(shipped.names)
        assert u.describe()["posterior"]["sha256"] == shipped.sha256


@pytest.mark.slow
def test_history_bands_with_parameter_uncertainty_cover_arrivals():
    """`lipsteeth run history --replicates 40` with its posterior (issue 13, "Must show").

    The 90 % band of arrivals in South Korea covers 70-100 % of the years
    2005-2016 while the median keeps ARD at or below 0.15.  Fixed seed (the
    scenario's): deterministic; the numbers at the commit are in the README ("What
    a band holds": the NPE posterior, 12 of 12, ARD 0.086; the ABC-SMC posterior it
    replaced covered 6 of 12 without the route years of M10 and 9 of 12 at ARD 0.164
    recalibrated with them, so the test fails on either).  30 s quiet, 1-3 minutes
    on the loaded 2 cores (40 replicates of 1998-2025).
    False-failure rate: if the bands held their nominal 90 % in each year
    independently, fewer than 9 of 12 years inside has probability 2.6 %
    (binomial); years are correlated, so that is an estimate, not a bound.
    """
    from lipsteeth.experiment.validation import parse_observed, validate

    history = pu.with_uncertainty(load_scenario("history"))
    assert history.parameter_draws is not None and history.parameter_draws.kind == "posterior"
    result = run_scenario(history, replicates=40)
    text = (
        Path(__file__).resolve().parents[1]
        / "src/lipsteeth/data/observed/01_arrivals_south_korea.csv"
    ).read_text()
    arrivals = validate(result, parse_observed(text, "01"), first_year=2005, last_year=2016)
    scores = arrivals.series["arrivals_south_korea"]
    assert len(scores.comparisons) == 12
    assert scores.coverage is not None and 0.7 <= scores.coverage <= 1.0
    assert scores.ard is not None and scores.ard <= 0.15
