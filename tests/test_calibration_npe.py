"""NPE calibration: executor identity, the certificate on a known problem, the CLI.

Every test runs with fixed seeds, so each is deterministic; the rates below
are what a test would fail at over random seeds.

- The executor-identity tests compare bytes: no false failures.
- The known problem is ``x = theta + N(0, 0.1^2)`` per coordinate with
  uniform priors, where a flow trained on 1,000 simulations is close to the
  exact posterior.  The certificate passes an exact posterior except with
  probability about 5 % (SBC 1 %, four coverage comparisons about 1 % each;
  see ``experiment.sbc``); the recovery thresholds (correlation > 0.9, width
  ratio < 0.6, exact values about 0.98 and 0.3 to 0.35) fail with probability
  well below 0.1 % at 300 held-out simulations.
- The overconfident posterior (the samples pulled to a third of their spread)
  covers about 35 % at the 90 % level: the coverage check fails it except
  with negligible probability.
- An observation from the model is flagged with probability about
  5 % + 2K/(N+1) = 5.4 %; the misspecified one (10 prior widths away) always.
- The observation model's spread is checked to 5 % on 4,000 draws (sampling
  error about 1.1 %: a false failure is a 4-sigma event).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lipsteeth.adapters.cli import main
from lipsteeth.adapters.report.certificate import read_certificate
from lipsteeth.experiment import calibration as cal
from lipsteeth.experiment import npe, sbc
from lipsteeth.experiment.executors import SerialExecutor
from lipsteeth.experiment.targets import targets_csv
from lipsteeth.scenario import load_scenario

SMALL = {"population.labour_workers_initial": 3000, "population.labour_sites_max": 40}
TRUTH = {"wider_flow.crossing_rate_per_year": 12000.0, "enforcement.arrest_rate_per_year": 0.15}
SERIES = [("border_crossings", 2012, 2012), ("arrests_china", 2012, 2012)]
TINY_NPE = {
    "simulations": 40,
    "holdout": 20,
    "sbc_samples": 20,
    "posterior_samples": 50,
    "hidden_features": 16,
    "num_transforms": 2,
    "max_epochs": 15,
    "ensemble": 2,
}


@pytest.fixture(scope="module")
def tiny():
    """37 days of a small network (a few milliseconds a simulation)."""
    return load_scenario("baseline-2016").with_overrides(params=SMALL, years=0.1)


def gaussian(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return values + 0.1 * rng.standard_normal(values.shape)


GAUSS_PRIORS = (cal.Prior("a", 0.0, 1.0), cal.Prior("b", -1.0, 1.0))
GAUSS_TRUTH = np.array([0.3, 0.4])


@pytest.fixture(scope="module")
def gauss() -> npe.NPEResult:
    """NPE on the known problem: 1,000 training and 300 held-out simulations, 2 flows."""
    simulator = npe.FunctionSimulator(gaussian, ("xa", "xb"))
    rng = np.random.default_rng(11)
    observed = gaussian(GAUSS_TRUTH, rng)
    settings = npe.NPESettings(simulations=1000, holdout=300, seed=7, ensemble=2)
    return npe.calibrate_npe(simulator, GAUSS_PRIORS, observed, settings)


# --- the certificate on a problem NPE is known to solve --------------------------------------


def test_certificate_passes_on_a_known_problem(gauss: npe.NPEResult) -> None:
    d = gauss.diagnostics
    assert d.sbc["passed"], d.sbc
    assert d.coverage_passed, [r.to_dict() for r in d.coverage if r.checked]
    assert d.passed
    for row in d.identifiability:
        assert row["label"] == "identified" and row["correlation"] > 0.9, row
        assert row["width_ratio"] < 0.6, row
    assert not d.misspecification["flagged"], d.misspecification
    # The posterior at the observation is near the truth and much narrower than the prior.
    summary = gauss.summary().set_index("parameter")
    for (name, truth), width in zip(zip(["a", "b"], GAUSS_TRUTH, strict=True), [1, 2], strict=True):
        row = summary.loc[name]
        assert row["low"] <= truth <= row["high"]
        assert row["high"] - row["low"] < 0.5 * width
    # ABC's posterior table, generation 0, equal weights.
    post = gauss.posterior()
    assert list(post.columns) == ["generation", "particle", "weight", "distance", "a", "b"]
    assert post["weight"].sum() == pytest.approx(1.0) and (post["generation"] == 0).all()
    assert ((post["a"] > 0) & (post["a"] < 1) & (post["b"] > -1) & (post["b"] < 1)).all()


def test_coverage_check_fails_an_overconfident_posterior(gauss: npe.NPEResult) -> None:
    d = gauss.diagnostics
    trained = gauss.trained
    n = 200
    latent = trained.sample_latent(gauss.x_holdout, n, seed=5)
    samples = npe.from_latent(latent, trained.bounds)
    centre = samples.mean(axis=0, keepdims=True)
    narrow = centre + (samples - centre) / 3.0  # a third of the spread: overconfident
    ranks = sbc.marginal_ranks(narrow, gauss.theta_holdout)
    # the joint rank of the narrowed samples: density ranks under the same transform
    lp = trained.log_prob_latent(npe.to_latent(narrow, trained.bounds), gauss.x_holdout)
    truth_lp = trained.log_prob_latent(
        npe.to_latent(gauss.theta_holdout, trained.bounds)[None], gauss.x_holdout
    )[0]
    curve = sbc.coverage_curve(ranks, sbc.density_ranks(lp, truth_lp), n)
    at90 = next(r for r in curve if r.level == 0.9)
    assert at90.marginal < 0.6 and not at90.passed
    assert not sbc.sbc_check(ranks, n, ["a", "b"])["passed"]
    assert d.passed  # the trained posterior itself passes (checked above)


def test_misspecified_observation_is_flagged(gauss: npe.NPEResult) -> None:
    names = list(gauss.summary_names)
    far = np.array([10.0, -10.0])  # ten prior widths outside what the model produces
    report = sbc.misspecification(
        far,
        gauss.x_train,
        names,
        standardise=gauss.trained.standardiser,
        seed=3,
        seeded=npe.seeded,
    )
    assert report["flagged"] and report["outside"] == 2 and report["mmd_p_value"] < 0.05
    inside = sbc.misspecification(
        gauss.x_holdout[0],
        gauss.x_train,
        names,
        standardise=gauss.trained.standardiser,
        seed=3,
        seeded=npe.seeded,
    )
    assert not inside["flagged"], inside


def test_torch_state_is_left_as_found(gauss: npe.NPEResult) -> None:
    import torch

    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    gauss.trained.sample(gauss.observed, 10, seed=1)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), state)
    assert not torch.are_deterministic_algorithms_enabled()
    # and the same seed gives the same samples
    a = gauss.trained.sample(gauss.observed, 10, seed=1)
    b = gauss.trained.sample(gauss.observed, 10, seed=1)
    assert a.tobytes() == b.tobytes()


def test_observation_model_reads_targets_as_the_abc_distance_does() -> None:
    from lipsteeth.experiment.targets import parse_targets

    text = (
        "series,period,value,low,high,reliability,source\n"
        "restaurant_defectors,2016,16,,,high,s\n"
        "workers_abroad,2016,50000,50000,100000,medium,s\n"
        "restaurant_closures,2016,,30,,medium,s\n"
        "restaurant_defectors,2012-2015,,,2,low,s\n"
    )
    targets = parse_targets(text)
    model = npe.ObservationModel.from_targets(targets)
    assert model.kind == ("point", "range", "at least", "at most")
    assert model.observed.tolist() == [16, 75000, 30, 2]
    assert model.half.tolist() == [0, 25000, 0, 0]
    # sigma = the target's scale over the square root of its reliability weight
    assert model.sigma[0] == pytest.approx(1.6)
    assert model.sigma[1] == pytest.approx(25000 / 0.6**0.5)
    assert model.sigma[2] == pytest.approx(3.0 / 0.6**0.5)
    m = np.array([[16.0, 60000.0, 45.0, 0.0], [10.0, 90000.0, 12.0, 7.0]])
    assert model.clip(m).tolist() == [[16, 60000, 30, 2], [10, 90000, 12, 7]]
    x = model.apply(np.repeat(m, 4000, axis=0), np.random.default_rng(0))
    spread = x[:4000].std(axis=0)  # the copies of the first row
    expected = np.sqrt(model.half**2 / 3 + model.sigma**2)
    assert np.allclose(spread, expected, rtol=0.05)
    exact = npe.ObservationModel.none(np.array([1.0, 2.0]))
    assert (
        exact.exact
        and exact.apply(np.ones((3, 2)), np.random.default_rng(0)).tolist() == [[1.0, 1.0]] * 3
    )


def test_report_draws_the_certificate_the_command_draws(gauss: npe.NPEResult) -> None:
    """The figure from the written files (JSON, rank table) is the command's, byte for byte."""
    from lipsteeth.adapters import figures as fg
    from lipsteeth.adapters.catalog import dumps
    from lipsteeth.adapters.report.certificate import certificate_rows

    direct = fg.certificate_of(gauss, "gauss")
    payload = json.loads(dumps(gauss.certificate()))
    ranks = pd.DataFrame(gauss.diagnostics.ranks).to_numpy(dtype=float)
    read = fg.certificate_from(payload, ranks, experiment="gauss")
    assert read.names == ("a", "b") and read.n_holdout == 300 and read.passed
    assert [lv["level"] for lv in read.coverage_levels] == [0.5, 0.9]
    assert fg.png_bytes(fg.certificate_figure(read)) == fg.png_bytes(fg.certificate_figure(direct))
    assert certificate_rows(read) == certificate_rows(direct)
    assert [r["result"] for r in certificate_rows(read)] == ["pass"] * 4
    with pytest.raises(ValueError, match="ranks of shape"):
        fg.certificate_from(payload, ranks[:, :2], experiment="gauss")


# --- executors ----------------------------------------------------------------------------------


def test_same_training_data_and_posterior_bytes_serial_and_processes(tiny) -> None:
    from lipsteeth.experiment.executors import ProcessExecutor

    targets = cal.synthetic_targets(tiny, TRUTH, SERIES, replicates=2, seed=2)
    priors = cal.priors_from_scenario(tiny, list(TRUTH))
    settings = npe.NPESettings(seed=4, **TINY_NPE)
    serial = npe.calibrate_scenario(tiny, targets, priors, settings, executor=SerialExecutor())
    with ProcessExecutor(2) as ex:
        pooled = npe.calibrate_scenario(tiny, targets, priors, settings, executor=ex)
    assert serial.x_train.tobytes() == pooled.x_train.tobytes()
    assert serial.samples.tobytes() == pooled.samples.tobytes()
    assert serial.fingerprint() == pooled.fingerprint()
    # every simulation its own stream: no two training summaries alike
    assert len({row.tobytes() for row in serial.x_train}) == len(serial.x_train)


# --- the command ------------------------------------------------------------------------------


def npe_args(csv: Path, out: Path, name: str, *extra: str) -> list[str]:
    args = [
        "calibrate",
        "baseline-2016",
        "--method",
        "npe",
        "--targets",
        str(csv),
        "--params",
        ",".join(TRUTH),
        "--years",
        "0.1",
        "--set",
        "population.labour_workers_initial=3000",
        "--set",
        "population.labour_sites_max=40",
        "--simulations",
        "40",
        "--holdout",
        "20",
        "--sbc-samples",
        "20",
        "--posterior-samples",
        "50",
        "--hidden",
        "16",
        "--transforms",
        "2",
        "--max-epochs",
        "15",
        "--ensemble",
        "2",
        "--out",
        str(out),
        "--name",
        name,
    ]
    return args + list(extra)


@pytest.fixture(scope="module")
def targets_file(tiny, tmp_path_factory: pytest.TempPathFactory) -> Path:
    csv = tmp_path_factory.mktemp("npe-targets") / "targets.csv"
    csv.write_text(targets_csv(cal.synthetic_targets(tiny, TRUTH, SERIES, replicates=2, seed=2)))
    return csv


def test_calibrate_npe_command_end_to_end_serial_and_dask(
    targets_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "results"
    with pytest.raises(SystemExit) as exc:
        main(npe_args(targets_file, out, "npe1", "--executor", "serial", "--workers", "1"))
    assert exc.value.code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "certificate" in printed and "identifiability" in printed
    folder = out / "experiments" / "npe1"
    analysis = folder / "analysis"
    post = pd.read_parquet(analysis / "posterior.parquet")
    assert list(post.columns) == [
        "generation",
        "particle",
        "weight",
        "distance",
        *TRUTH,
        "method",
    ]
    assert set(post["method"]) == {"npe"} and len(post) == 50
    assert post["weight"].sum() == pytest.approx(1.0)
    gens = pd.read_parquet(analysis / "generations.parquet")
    assert {"epsilon", "acceptance_rate", "ess", "simulations"} <= set(gens.columns)
    summary = pd.read_parquet(analysis / "posterior_summary.parquet")
    assert list(summary["parameter"]) == list(TRUTH)
    for table in ("training", "sbc_ranks", "coverage", "identifiability", "misspecification"):
        assert (analysis / f"npe_{table}.parquet").is_file(), table
    ident = pd.read_parquet(analysis / "npe_identifiability.parquet")
    assert list(ident["parameter"]) == list(TRUTH)
    assert {"correlation", "width_ratio", "label"} <= set(ident.columns)
    diag = json.loads((folder / "npe_diagnostics.json").read_text())
    assert {"passed", "sbc", "coverage", "identifiability", "misspecification"} <= set(diag)
    cert = read_certificate(folder)  # what the report shows
    assert cert is not None and cert.names == tuple(TRUTH) and cert.passed == diag["passed"]
    ranks = pd.read_parquet(analysis / "npe_sbc_ranks.parquet")
    assert np.array_equal(cert.ranks, ranks[[*TRUTH, "joint"]].to_numpy(dtype=float))
    assert [lv["level"] for lv in diag["coverage"]["levels"]] == [0.5, 0.9]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["method"] == "npe" and manifest["n_runs"] == 60
    assert set(manifest["diagnostics"]) >= {"passed", "coverage_90", "misspecification_flagged"}
    for fig in ("posterior_vs_prior.png", "npe_diagnostics.png"):
        assert (folder / "figures" / fig).stat().st_size > 0
    calibrated = load_scenario(folder / "baseline-2016-calibrated.toml")
    assert calibrated.end == load_scenario("baseline-2016").end
    prov = calibrated.provenance["enforcement.arrest_rate_per_year"].provenance
    assert prov.startswith("calibrated: weighted posterior median of NPE")
    # The catalog holds the posterior and the method.
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "query",
                str(out),
                "SELECT design, (SELECT count(DISTINCT name) FROM posteriors p "
                "WHERE p.experiment = e.experiment) AS n FROM experiments e "
                "WHERE experiment = 'npe1'",
                "--format",
                "json",
            ]
        )
    assert json.loads(capsys.readouterr().out) == [{"design": "npe", "n": 2}]
    # The same command on a Dask LocalCluster of 2 workers writes the same posterior bytes.
    with pytest.raises(SystemExit) as exc:
        main(npe_args(targets_file, out, "npe2", "--executor", "dask", "--workers", "2"))
    assert exc.value.code == 0, capsys.readouterr().err
    other = out / "experiments" / "npe2" / "analysis"
    for table in ("posterior", "npe_training", "npe_sbc_ranks"):
        a = (analysis / f"{table}.parquet").read_bytes()
        assert a == (other / f"{table}.parquet").read_bytes(), table
    fingerprint = json.loads((out / "experiments" / "npe2" / "manifest.json").read_text())
    assert fingerprint["fingerprint"] == manifest["fingerprint"]
    # An existing calibration is not overwritten without --force.
    with pytest.raises(SystemExit) as exc:
        main(npe_args(targets_file, out, "npe1", "--executor", "serial"))
    assert exc.value.code == 2
    # The report of a run of the same scenario in the same results root shows the certificate.
    capsys.readouterr()
    run_folder = write_run(out / "run-1")
    with pytest.raises(SystemExit) as exc:
        main(["report", str(run_folder)])
    assert exc.value.code == 0, capsys.readouterr().err
    page = (run_folder / "report.html").read_text()
    assert "NPE certificate: experiment npe1" in page and "NPE certificate: experiment npe2" in page
    assert "Identifiability (held-out parameter recovery)" in page
    assert "expected coverage 90%" in page


def test_npe_others_ranges_draws_the_uncalibrated_uncertainties_per_simulation(
    targets_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``--others ranges`` is not ignored by NPE: same design, other simulations, same bytes.

    With the other declared uncertainties drawn per simulation, the training
    summaries at the same design points differ from the held run's (a
    deterministic comparison: fixed seeds), and the draws are a function of
    the seed and the simulation's index, so serial and Dask give the same bytes.
    """
    out = tmp_path / "results"
    runs = {
        "held": ["--executor", "serial", "--workers", "1"],
        "ranges": ["--others", "ranges", "--executor", "serial", "--workers", "1"],
        "ranges-dask": ["--others", "ranges", "--executor", "dask", "--workers", "2"],
    }
    for name, extra in runs.items():
        with pytest.raises(SystemExit) as exc:
            main(npe_args(targets_file, out, name, *extra))
        assert exc.value.code == 0, capsys.readouterr().err
    capsys.readouterr()
    folder = out / "experiments"
    training = {n: pd.read_parquet(folder / n / "analysis" / "npe_training.parquet") for n in runs}
    theta = [c for c in training["held"].columns if c.startswith("theta:")]
    sims = [c for c in training["held"].columns if c.startswith("sim:")]
    assert training["held"][theta].equals(training["ranges"][theta])
    differ = (training["held"][sims].to_numpy() != training["ranges"][sims].to_numpy()).any(axis=1)
    assert differ.mean() > 0.5, differ.mean()
    manifests = {n: json.loads((folder / n / "manifest.json").read_text()) for n in runs}
    assert [manifests[n]["others"] for n in runs] == ["held", "ranges", "ranges"]
    assert manifests["ranges"]["fingerprint"] == manifests["ranges-dask"]["fingerprint"]
    assert manifests["ranges"]["fingerprint"] != manifests["held"]["fingerprint"]


def write_run(target: Path) -> Path:
    """A results folder of a 10-day run of baseline-2016, as ``lipsteeth run`` writes it."""
    from lipsteeth.adapters import store
    from lipsteeth.experiment.ensemble import run_scenario

    scenario = load_scenario("baseline-2016").with_overrides(params=SMALL, years=10 / 365.25)
    result = run_scenario(scenario, replicates=1, seed=1)
    manifest = store.run_manifest(
        run_id=target.name,
        scenario=scenario,
        result=result,
        seed=1,
        argv=["run", "test"],
        wall_time_s=0.1,
        facts=[],
        ledger=store.ledger_checks(result),
    )
    store.write_results(
        target,
        run_id=target.name,
        result=result,
        start=scenario.start,
        manifest=manifest,
        summary={"scenario": scenario.name},
    )
    return target


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "smc"], "--method must be one of abc, npe"),
        (["--population", "50"], "--population: only with --method abc"),
        (["--simulations", "5"], "--simulations must be at least 20"),
        (["--holdout", "3"], "--holdout must be at least 20"),
        (["--density", "gan"], "--density must be one of maf, nsf, mdn"),
        (["--executor", "threads"], "--executor must be one of"),
        (["--until", "1990"], "no target up to 1990"),
        (["--params", "routes.broker_cost_usd"], "not a declared uncertainty"),
        (["--others", "drawn"], "--others must be held or ranges"),
    ],
)
def test_bad_options_are_refused_with_one_line(
    targets_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    extra: list[str],
    message: str,
) -> None:
    out = tmp_path / "results"
    args = npe_args(targets_file, out, "bad", *extra)
    if "--method" in extra:  # replace the method given by npe_args
        i = args.index("--method")
        del args[i : i + 2]
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
    assert not out.exists()


def test_npe_options_are_refused_with_abc(
    targets_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "results"
    with pytest.raises(SystemExit) as exc:
        main(["calibrate", "baseline-2016", "--simulations", "100", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err == "error: --simulations: only with --method npe"
    assert not out.exists()
