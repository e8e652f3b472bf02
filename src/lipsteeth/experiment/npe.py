"""Calibration by amortised neural posterior estimation (``sbi``), with its certificate.

The priors are uniform over the scenario's declared uncertainty ranges (as
for ABC-SMC, ``calibration.priors_from_scenario``).  The steps:

1. **Training design.**  A Latin hypercube of ``simulations`` points over the
   priors (``designs.lhs``, SALib, seeded from the calibration seed), and
   ``holdout`` further points drawn independently from the prior for the
   diagnostics.  Each point is simulated with its own random stream: point
   ``i`` of a stream runs replicates ``i*R .. i*R+R-1`` of that stream's root
   seed (``core.simulate.replicate_seeds``), so every simulation is a
   function of the calibration seed and its index alone.
2. **Simulation** through any executor (``executors``: serial, processes,
   Dask): results come back in task order, so the training data are the same
   bytes whatever the executor and the number of workers.
3. **Summaries**: the simulated value of every target in the horizon (the
   observed series the targets name, compared as ``targets.statistics``
   does), seen through the targets' observation model (``ObservationModel``:
   the error the ABC-SMC distance implies, uniform over a range plus a
   normal error of the target's scale over the square root of its
   reliability weight; one-sided targets clipped at their bound), then put
   on a log scale (``symlog``) where no simulated value is negative and
   standardised with the training mean and standard deviation.  The
   observation is each target's value, range middle or bound.  ``exact``
   drops the error model (the observation is then the targets' centres).
4. **Training** (``sbi.inference.NPE``, an ensemble of ``ensemble`` masked
   autoregressive flows, mixed with equal weights) on the parameters mapped
   to the real line (the standard normal quantile of their position in the
   prior box; the prior becomes a standard normal), so the posterior never
   leaks outside the prior and needs no rejection.  Torch is seeded from the
   calibration seed, runs one thread with deterministic algorithms, and its
   global state is restored afterwards: the trained networks and every
   sample drawn from them are identical run to run.
5. **Posterior** at the observed summary: ``posterior_samples`` equally
   weighted draws, written like ABC-SMC's last generation (generation 0).
6. **Certificate** on the held-out simulations (``sbc``): SBC ranks and
   expected coverage at 50 % and 90 % with pass or fail, parameter recovery
   (the identifiability table), and the misspecification check of the
   observed summary against the training summaries.

This module touches no files and no clusters: the executor is given, and
the adapters write the results.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from . import sbc
from .calibration import CalibrationError, PosteriorSample, Prior
from .designs import Factor, Space, lhs
from .ensemble import run_scenario
from .executors import Executor, ProgressFn, SerialExecutor
from .sbc import CoverageRow
from .targets import Target, horizon_years, in_horizon, result_statistics

if TYPE_CHECKING:
    import pandas as pd

    from ..scenario import Scenario

DENSITIES: tuple[str, ...] = ("maf", "nsf", "mdn")
EPS = 1e-9  # positions in the prior box are kept this far from its faces (finite quantiles)

# Random streams derived from the calibration seed (one SeedSequence child each).
STREAM_DESIGN, STREAM_TRAIN, STREAM_HOLDOUT_THETA, STREAM_HOLDOUT, STREAM_TORCH = range(5)
STREAM_OBSERVED = 5  # synthetic observations (benchmarks, tests)
STREAM_ERROR_TRAIN, STREAM_ERROR_HOLDOUT = 6, 7  # observation errors of the simulations
OBSERVATIONS: tuple[str, ...] = ("targets", "exact")


class NPEError(CalibrationError):
    """An NPE calibration cannot run as asked (one-line message)."""


def stream_seed(seed: int, stream: int) -> int:
    """A 32-bit seed for one named stream of the calibration seed (SeedSequence child)."""
    ss = np.random.SeedSequence(int(seed) % 2**128, spawn_key=(int(stream),))
    return int(ss.generate_state(1, np.uint32)[0])


@dataclass(frozen=True)
class NPESettings:
    """Budget, network and seed of an NPE calibration."""

    simulations: int = 1000
    holdout: int = 300
    posterior_samples: int = 1000
    sbc_samples: int = 200
    replicates: int = 1
    seed: int = 0
    density: str = "maf"
    hidden_features: int = 50
    num_transforms: int = 5
    embedding: int = 0  # 0: no embedding net; k: a two-layer MLP to k features
    ensemble: int = 5  # flows trained from different seeds, mixed with equal weights
    training_batch_size: int = 100
    learning_rate: float = 5e-4
    stop_after_epochs: int = 20
    max_epochs: int = 1000
    chunk_size: int = 0  # simulations per executor task; 0: chosen from the workers
    observation: str = "targets"  # targets: the targets' error model; exact: none

    def __post_init__(self) -> None:
        if self.simulations < 20:
            raise NPEError("--simulations must be at least 20 (training needs data)")
        if self.holdout < 20:
            raise NPEError("--holdout must be at least 20 (the diagnostics need them)")
        if self.posterior_samples < 10:
            raise NPEError("--posterior-samples must be at least 10")
        if self.sbc_samples < 10:
            raise NPEError("--sbc-samples must be at least 10")
        if self.replicates < 1:
            raise NPEError("--replicates must be at least 1")
        if self.observation not in OBSERVATIONS:
            raise NPEError(f"--observation must be one of {', '.join(OBSERVATIONS)}")
        if self.density not in DENSITIES:
            raise NPEError(f"--density must be one of {', '.join(DENSITIES)}")
        if not 1 <= self.ensemble <= 20:
            raise NPEError("--ensemble must be between 1 and 20")
        if self.hidden_features < 2 or self.num_transforms < 1 or self.embedding < 0:
            raise NPEError("the network needs hidden features >= 2, transforms >= 1")
        if self.max_epochs < 1 or self.stop_after_epochs < 1 or self.training_batch_size < 2:
            raise NPEError("training needs max epochs >= 1, patience >= 1, batches >= 2")


# ---------------------------------------------------------------------------
# simulators: parameter vectors -> summary vectors, deterministic in (seed, stream, index)


class Simulator(Protocol):
    """What NPE simulates: picklable, deterministic in the seed, stream and index."""

    @property
    def names(self) -> tuple[str, ...]:
        """Summary names (K)."""
        ...

    def simulate(self, values: np.ndarray, seed: int, stream: int, index: int) -> np.ndarray:
        """(K,) summaries of the parameter vector ``values`` (D,)."""
        ...


@dataclass(frozen=True)
class ScenarioSimulator:
    """lipsteeth: a scenario with the priors' parameters overridden, reduced to target values."""

    scenario: Scenario
    priors: tuple[Prior, ...]
    targets: tuple[Target, ...]
    replicates: int = 1

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.key for t in self.targets)

    def scenario_at(self, values: np.ndarray) -> Scenario:
        return self.scenario.with_overrides(
            params={
                p.name: (int(round(float(v))) if p.integer else float(v))
                for p, v in zip(self.priors, values, strict=True)
            }
        )

    def simulate(self, values: np.ndarray, seed: int, stream: int, index: int) -> np.ndarray:
        r = self.replicates
        result = run_scenario(
            self.scenario_at(values),
            seed=stream_seed(seed, stream),
            replicate_indices=np.arange(index * r, (index + 1) * r),
        )
        stats = result_statistics(list(self.targets), result)
        return np.array([stats[t.key] for t in self.targets], dtype=float)


@dataclass(frozen=True)
class FunctionSimulator:
    """A plain function ``f(values, rng) -> summaries`` (test problems with known answers)."""

    fn: Callable[[np.ndarray, np.random.Generator], np.ndarray]
    names: tuple[str, ...]

    def simulate(self, values: np.ndarray, seed: int, stream: int, index: int) -> np.ndarray:
        ss = np.random.SeedSequence(int(seed) % 2**128, spawn_key=(int(stream), int(index)))
        out = np.asarray(self.fn(np.asarray(values, dtype=float), np.random.default_rng(ss)))
        return out.astype(float).reshape(len(self.names))


@dataclass(frozen=True)
class _Task:
    stream: int
    start: int
    values: np.ndarray  # (n, D)


def _simulate_task(context: tuple[Simulator, int], task: _Task) -> np.ndarray:
    simulator, seed = context
    return np.stack(
        [
            simulator.simulate(v, seed, task.stream, task.start + j)
            for j, v in enumerate(task.values)
        ]
    )


def simulate_sets(
    simulator: Simulator,
    sets: Sequence[tuple[int, np.ndarray]],
    seed: int,
    executor: Executor | None = None,
    *,
    chunk_size: int = 0,
    progress: ProgressFn | None = None,
) -> list[np.ndarray]:
    """Summaries of several parameter sets ``(stream, values (n, D))`` in one executor pass.

    Row ``i`` of a set is simulation ``i`` of its stream.  Returns one (n, K)
    array per set, in order, whatever the executor.
    """
    executor = executor or SerialExecutor()
    total = sum(len(v) for _, v in sets)
    size = chunk_size or max(1, min(16, math.ceil(total / max(1, 8 * executor.workers))))
    tasks: list[_Task] = []
    owner: list[int] = []
    for k, (stream, values) in enumerate(sets):
        values = np.asarray(values, dtype=float)
        for start in range(0, len(values), size):
            tasks.append(_Task(stream, start, values[start : start + size]))
            owner.append(k)
    done = [0]

    def on_result(i: int, _out: np.ndarray) -> None:
        done[0] += len(tasks[i].values)

    def report(_n: int, _total: int) -> None:
        if progress is not None:
            progress(done[0], total)

    outputs = executor.map(
        _simulate_task, tasks, report, on_result=on_result, context=(simulator, int(seed))
    )
    k_dim = len(simulator.names)
    result = []
    for k, (_, values) in enumerate(sets):
        parts = [o for o, who in zip(outputs, owner, strict=True) if who == k]
        result.append(np.concatenate(parts) if parts else np.zeros((0, k_dim)))
        if result[-1].shape != (len(values), k_dim):  # pragma: no cover - a simulator bug
            raise NPEError("a simulator returned summaries of the wrong shape")
    return result


# ---------------------------------------------------------------------------
# summaries and parameters: the transforms the network sees


def symlog(x: np.ndarray) -> np.ndarray:
    """``sign(x) log(1 + |x|)``: a log scale for counts and money that stays finite below 0."""
    x = np.asarray(x, dtype=float)
    return np.sign(x) * np.log1p(np.abs(x))


@dataclass(frozen=True)
class Standardiser:
    """``symlog`` where the simulated values are non-negative, then z-scores of the training set."""

    log: np.ndarray  # (K,) bool
    mean: np.ndarray  # (K,)
    scale: np.ndarray  # (K,), 1 where the training values are constant

    @classmethod
    def fit(cls, x: np.ndarray, log: np.ndarray | None = None) -> Standardiser:
        """Fit on training summaries ``x``; ``log`` defaults to "no value below zero"."""
        x = np.asarray(x, dtype=float)
        log = np.all(x >= 0, axis=0) if log is None else np.asarray(log, dtype=bool)
        z = np.where(log, symlog(x), x)
        mean = z.mean(axis=0)
        sd = z.std(axis=0)
        return cls(log, mean, np.where(sd > 0, sd, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        z = np.where(self.log, symlog(x), x)
        return (z - self.mean) / self.scale

    def to_dict(self, names: Sequence[str]) -> list[dict[str, Any]]:
        return [
            {"summary": n, "symlog": bool(lg), "mean": float(m), "scale": float(s)}
            for n, lg, m, s in zip(names, self.log, self.mean, self.scale, strict=True)
        ]


OBSERVATION_KINDS: tuple[str, ...] = ("point", "range", "at least", "at most")


@dataclass(frozen=True)
class ObservationModel:
    """How an observed target relates to the simulated value: the targets' own error model.

    The ABC-SMC distance (``targets``) charges nothing inside a target's
    range and, outside it, the distance in units of the target's scale,
    weighted by its reliability.  The same reading as a noise model: the
    observed value is the simulated one plus an error that is uniform over
    the range (``half``: half its width; 0 for a point) plus a normal error
    of standard deviation ``sigma`` = scale / sqrt(reliability weight).  A
    one-sided target ("at least 30") is observed at its bound, and its
    summary is the simulated value clipped at the bound (any value beyond is
    as good as the bound).  The network is trained on summaries with this
    error drawn afresh for every simulation, so the posterior accounts for
    how loose and how reliable each target is; ``none()`` is the model
    without error (synthetic observations of the model itself).
    """

    kind: tuple[str, ...]  # per summary: point | range | at least | at most
    observed: np.ndarray  # (K,) the observed value the network is conditioned on
    half: np.ndarray  # (K,) half-width of the uniform error
    sigma: np.ndarray  # (K,) standard deviation of the normal error
    bound: np.ndarray  # (K,) the clipping bound of one-sided targets (NaN otherwise)

    @classmethod
    def from_targets(cls, targets: Sequence[Target]) -> ObservationModel:
        kind, observed, half, sigma, bound = [], [], [], [], []
        for t in targets:
            lo, hi = t.low, t.high
            sd = t.scale / math.sqrt(t.weight)
            if math.isfinite(lo) and math.isfinite(hi):
                kind.append("point" if hi == lo else "range")
                observed.append(0.5 * (lo + hi))
                half.append(0.5 * (hi - lo))
                bound.append(math.nan)
            elif math.isfinite(lo):
                kind.append("at least")
                observed.append(lo)
                half.append(0.0)
                bound.append(lo)
            else:
                kind.append("at most")
                observed.append(hi)
                half.append(0.0)
                bound.append(hi)
            sigma.append(sd)
        return cls(
            tuple(kind),
            np.array(observed, dtype=float),
            np.array(half, dtype=float),
            np.array(sigma, dtype=float),
            np.array(bound, dtype=float),
        )

    @classmethod
    def none(cls, observed: np.ndarray) -> ObservationModel:
        """No observation error: the observation is a simulation of the model itself."""
        obs = np.asarray(observed, dtype=float).reshape(-1)
        k = obs.size
        return cls(("point",) * k, obs, np.zeros(k), np.zeros(k), np.full(k, np.nan))

    @property
    def exact(self) -> bool:
        return bool(np.all(self.half == 0) and np.all(self.sigma == 0)) and all(
            k == "point" for k in self.kind
        )

    def clip(self, m: np.ndarray) -> np.ndarray:
        """Simulated values (N, K) with one-sided targets clipped at their bound."""
        out = np.array(m, dtype=float, copy=True)
        for k, kind in enumerate(self.kind):
            if kind == "at least":
                out[:, k] = np.minimum(out[:, k], self.bound[k])
            elif kind == "at most":
                out[:, k] = np.maximum(out[:, k], self.bound[k])
        return out

    def apply(self, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Observed summaries (N, K) of simulated values ``m`` (N, K): clipped, plus error."""
        x = self.clip(m)
        if self.exact:
            return x
        n, k = x.shape
        uniform = rng.uniform(-1.0, 1.0, size=(n, k)) * self.half
        normal = rng.standard_normal((n, k)) * self.sigma
        return x + uniform + normal

    def to_dict(self, names: Sequence[str]) -> list[dict[str, Any]]:
        return [
            {
                "summary": n,
                "kind": kd,
                "observed": float(o),
                "half_width": float(h),
                "sigma": float(s),
            }
            for n, kd, o, h, s in zip(
                names, self.kind, self.observed, self.half, self.sigma, strict=True
            )
        ]


def to_latent(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Parameters -> standard normal quantiles of their position in the prior box (probit).

    The uniform prior becomes a standard normal, which a flow on a normal
    base represents exactly: parameters the data say nothing about cost the
    network nothing (with logits, the logistic tails of such parameters are
    what a flow gets wrong, and the joint coverage suffers).
    """
    from scipy.special import ndtri

    u = (np.asarray(values, dtype=float) - bounds[:, 0]) / (bounds[:, 1] - bounds[:, 0])
    return ndtri(np.clip(u, EPS, 1 - EPS))


def from_latent(z: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Standard normal quantiles -> parameters (inside the prior box)."""
    from scipy.special import ndtr

    return bounds[:, 0] + (bounds[:, 1] - bounds[:, 0]) * ndtr(np.asarray(z, dtype=float))


# ---------------------------------------------------------------------------
# torch: seeded, deterministic, one thread, global state restored


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Torch seeded with ``seed``, deterministic algorithms, one thread; state restored after."""
    import torch

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic)
            torch.set_num_threads(threads)


class _Tracker:
    """sbi's tracker protocol, in memory (sbi's default writes TensorBoard logs to disk)."""

    log_dir = None

    def __init__(self) -> None:
        self.metrics: dict[str, list[float]] = {}

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        self.metrics.setdefault(name, []).append(float(value))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for name, value in metrics.items():
            self.log_metric(name, value, step)

    def log_params(self, params: Mapping[str, Any]) -> None:
        return None

    def add_figure(self, name: str, figure: Any, step: int | None = None) -> None:
        return None

    def flush(self) -> None:
        return None


def _latent_prior(dim: int) -> Any:
    """The uniform prior box seen through ``to_latent``: independent standard normals."""
    import torch
    from torch.distributions import Independent, Normal

    return Independent(Normal(torch.zeros(dim), torch.ones(dim)), 1)


@dataclass
class Member:
    """One trained flow of an ensemble and its training record."""

    posterior: Any  # sbi DirectPosterior (over the latent parameters)
    estimator: Any  # the trained density estimator (torch module)
    epochs: int
    best_validation_loss: float
    training_loss: list[float]
    validation_loss: list[float]


@dataclass
class TrainedNPE:
    """A trained amortised posterior: summaries in, parameter samples out.

    With several members the posterior is their equally weighted mixture (a
    deep ensemble: each member trained from its own seed, hence its own
    initialisation, validation split and batches), which is known to correct
    much of a single network's overconfidence.
    """

    members: list[Member]
    standardiser: Standardiser
    bounds: np.ndarray  # (D, 2)
    seed: int
    seconds: float

    @property
    def epochs(self) -> int:
        return int(sum(m.epochs for m in self.members))

    @property
    def best_validation_loss(self) -> float:
        return float(np.mean([m.best_validation_loss for m in self.members]))

    def _x(self, x: np.ndarray) -> Any:
        import torch

        return torch.as_tensor(self.standardiser(np.atleast_2d(x)), dtype=torch.float32)

    def sample(self, x: np.ndarray, n: int, seed: int) -> np.ndarray:
        """(n, D) posterior samples (parameter units) given one raw summary vector (K,)."""
        return self.sample_batched(np.atleast_2d(x), n, seed)[:, 0, :]

    def sample_batched(self, xs: np.ndarray, n: int, seed: int) -> np.ndarray:
        """(n, M, D) posterior samples given M raw summary vectors (M, K)."""
        latent = self.sample_latent(xs, n, seed)
        return from_latent(latent, self.bounds)

    def sample_latent(self, xs: np.ndarray, n: int, seed: int) -> np.ndarray:
        """(n, M, D) latent samples; each member gives an equal share, then shuffled."""
        k = len(self.members)
        counts = [n // k + (1 if j < n % k else 0) for j in range(k)]
        x_t = self._x(xs)
        parts = []
        for j, (member, count) in enumerate(zip(self.members, counts, strict=True)):
            if count == 0:
                continue
            with seeded(seed + 7919 * j), _quiet():
                out = member.posterior.sample_batched(
                    (int(count),), x=x_t, show_progress_bars=False
                )
            parts.append(out.detach().numpy().astype(np.float64).reshape(count, len(xs), -1))
        latent = np.concatenate(parts, axis=0)
        if k > 1:
            order = np.random.default_rng(seed).permutation(n)
            latent = latent[order]
        return latent

    def log_prob_latent(self, latent: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """(n, M) posterior log density of latent samples (n, M, D) given raw summaries (M, K)."""
        import torch

        theta = torch.as_tensor(np.asarray(latent), dtype=torch.float32)
        x_t = self._x(xs)
        rows = []
        with seeded(self.seed), _quiet(), torch.no_grad():
            for member in self.members:
                lp = member.posterior.log_prob_batched(theta, x=x_t, norm_posterior=False)
                rows.append(lp.detach().numpy().astype(np.float64))
        stack = np.stack(rows)
        top = stack.max(axis=0)
        return top + np.log(np.mean(np.exp(stack - top), axis=0))

    def state_bytes(self) -> bytes:
        """The networks' parameters, in a fixed order (for identity checks)."""
        out = []
        for member in self.members:
            for k, v in member.estimator.state_dict().items():
                out.append(k.encode() + v.detach().contiguous().numpy().tobytes())
        return b"".join(out)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """sbi prints convergence lines and warns about data it accepts: keep both off the console."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def train(
    theta: np.ndarray,
    x: np.ndarray,
    bounds: np.ndarray,
    settings: NPESettings,
    *,
    log: np.ndarray | None = None,
) -> TrainedNPE:
    """Train NPE (``settings.ensemble`` flows) on ``theta`` (N, D) and observed ``x`` (N, K).

    ``log`` says which summaries go on a log scale (default: those never below 0).
    """
    import torch

    start = time.perf_counter()
    standardiser = Standardiser.fit(x, log)
    seed = stream_seed(settings.seed, STREAM_TORCH)
    theta_t = torch.as_tensor(to_latent(theta, bounds), dtype=torch.float32)
    x_t = torch.as_tensor(standardiser(x), dtype=torch.float32)
    if not torch.isfinite(x_t).all():
        raise NPEError("some simulations gave non-finite summaries")
    members = [
        _train_member(theta_t, x_t, settings, seed + 104729 * j) for j in range(settings.ensemble)
    ]
    return TrainedNPE(
        members=members,
        standardiser=standardiser,
        bounds=np.asarray(bounds, dtype=float),
        seed=seed,
        seconds=time.perf_counter() - start,
    )


def _train_member(theta_t: Any, x_t: Any, settings: NPESettings, seed: int) -> Member:
    from sbi.inference import NPE
    from sbi.neural_nets import posterior_nn

    with seeded(seed), _quiet():
        options: dict[str, Any] = {
            "hidden_features": settings.hidden_features,
            "num_transforms": settings.num_transforms,
            "z_score_x": "independent",
            "z_score_theta": "independent",
        }
        if settings.embedding:
            from sbi.neural_nets.embedding_nets import FCEmbedding

            options["embedding_net"] = FCEmbedding(
                input_dim=x_t.shape[1], output_dim=settings.embedding, num_hiddens=50
            )
        inference = NPE(
            prior=_latent_prior(theta_t.shape[1]),
            density_estimator=posterior_nn(model=settings.density, **options),
            show_progress_bars=False,
            tracker=_Tracker(),
        )
        inference.append_simulations(theta_t, x_t)
        estimator = inference.train(
            training_batch_size=settings.training_batch_size,
            learning_rate=settings.learning_rate,
            stop_after_epochs=settings.stop_after_epochs,
            max_num_epochs=settings.max_epochs,
        )
        posterior = inference.build_posterior(estimator)
    summary = inference.summary
    return Member(
        posterior=posterior,
        estimator=estimator,
        epochs=int(summary["epochs_trained"][-1]),
        best_validation_loss=float(summary["best_validation_loss"][-1]),
        training_loss=[float(v) for v in summary["training_loss"]],
        validation_loss=[float(v) for v in summary["validation_loss"]],
    )


# ---------------------------------------------------------------------------
# designs


def training_design(priors: Sequence[Prior], n: int, seed: int) -> np.ndarray:
    """(n, D) Latin hypercube over the priors (``designs.lhs``, seeded from ``seed``)."""
    space = Space(tuple(Factor(p.name, "uncertainty", p.low, p.high, p.integer) for p in priors))
    return lhs(space, int(n), stream_seed(seed, STREAM_DESIGN)).X


def prior_draws(priors: Sequence[Prior], n: int, seed: int, stream: int) -> np.ndarray:
    """(n, D) independent draws from the uniform priors (held-out truths)."""
    rng = _rng(seed, stream)
    bounds = bounds_of(priors)
    return bounds[:, 0] + (bounds[:, 1] - bounds[:, 0]) * rng.random((int(n), len(priors)))


def bounds_of(priors: Sequence[Prior]) -> np.ndarray:
    return np.array([[p.low, p.high] for p in priors], dtype=float)


# ---------------------------------------------------------------------------
# results


@dataclass
class Diagnostics:
    """The certificate of a posterior estimator (see ``sbc``)."""

    ranks: np.ndarray  # (M, D + 1) marginal ranks, then the joint density rank
    n_samples: int  # posterior samples per held-out simulation (ranks lie in 0..n)
    sbc: dict[str, Any]
    coverage: list[CoverageRow]
    identifiability: list[dict[str, Any]]
    misspecification: dict[str, Any]
    holdout_means: np.ndarray  # (M, D) posterior means of the held-out simulations

    @property
    def coverage_passed(self) -> bool:
        return all(row.passed for row in self.coverage if row.checked)

    @property
    def passed(self) -> bool:
        """SBC and coverage both pass (misspecification is reported beside it)."""
        return bool(self.sbc["passed"]) and self.coverage_passed

    def coverage_at(self, level: float) -> CoverageRow:
        return next(r for r in self.coverage if math.isclose(r.level, level))

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary: every check, its rule and its outcome."""
        return {
            "passed": self.passed,
            "sbc": {**self.sbc, "n_holdout": int(self.ranks.shape[0]), "n_samples": self.n_samples},
            "coverage": {
                "passed": self.coverage_passed,
                "z": sbc.Z_COVERAGE,
                "levels": [r.to_dict() for r in self.coverage if r.checked],
                "curve": [r.to_dict() for r in self.coverage],
            },
            "identifiability": self.identifiability,
            "misspecification": self.misspecification,
            "rules": {
                "sbc": f"KS uniformity of each parameter's ranks; fail if any p < "
                f"{sbc.SBC_ALPHA:g}/D (false-failure rate <= {sbc.SBC_ALPHA:.0%})",
                "coverage": "joint highest-density and mean marginal coverage at 50 % and 90 % "
                f"within {sbc.Z_COVERAGE} binomial standard errors + 1/L "
                "(false-failure rate about 4 %)",
                "identified": f"correlation of posterior mean and truth >= {sbc.IDENTIFIED} "
                f"(weak: >= {sbc.WEAK})",
                "misspecification": f"MMD p < {sbc.MISSPEC_ALPHA} or a summary outside the "
                "training range",
            },
        }


def diagnose(
    trained: TrainedNPE,
    theta: np.ndarray,
    x: np.ndarray,
    observed: np.ndarray,
    x_train: np.ndarray,
    names: Sequence[str],
    summary_names: Sequence[str],
    settings: NPESettings,
) -> Diagnostics:
    """SBC, coverage and recovery on held-out ``(theta, x)``; misspecification of ``observed``."""
    n = settings.sbc_samples
    latent = trained.sample_latent(x, n, stream_seed(settings.seed, STREAM_HOLDOUT) ^ 1)
    samples = from_latent(latent, trained.bounds)  # (L, M, D)
    ranks = sbc.marginal_ranks(samples, theta)
    lp_samples = trained.log_prob_latent(latent, x)
    lp_truth = trained.log_prob_latent(to_latent(theta, trained.bounds)[None], x)[0]
    density = sbc.density_ranks(lp_samples, lp_truth)
    mis = sbc.misspecification(
        observed,
        x_train,
        summary_names,
        standardise=trained.standardiser,
        seed=stream_seed(settings.seed, STREAM_TORCH) ^ 2,
        seeded=seeded,
    )
    return Diagnostics(
        ranks=np.column_stack([ranks, density]),
        n_samples=n,
        sbc=sbc.sbc_check(ranks, n, names),
        coverage=sbc.coverage_curve(ranks, density, n),
        identifiability=sbc.identifiability(samples, theta, names, trained.bounds),
        misspecification=mis,
        holdout_means=samples.mean(axis=0),
    )


@dataclass
class NPEResult(PosteriorSample):
    """The posterior sample at the observation, the trained network and its certificate."""

    priors: tuple[Prior, ...]
    targets: tuple[Target, ...]
    summary_names: tuple[str, ...]
    observation: ObservationModel
    samples: np.ndarray  # (S, D) posterior samples at the observation
    theta_train: np.ndarray
    m_train: np.ndarray  # simulated summaries
    x_train: np.ndarray  # the same, observed through the observation model (network input)
    theta_holdout: np.ndarray
    m_holdout: np.ndarray
    x_holdout: np.ndarray
    trained: TrainedNPE
    diagnostics: Diagnostics
    settings: NPESettings
    seconds: dict[str, float] = field(default_factory=dict)
    method: str = "npe"

    @property
    def observed(self) -> np.ndarray:
        """(K,) the observed summary the posterior is conditioned on."""
        return self.observation.observed

    @property
    def n_simulations(self) -> int:
        return (len(self.theta_train) + len(self.theta_holdout)) * self.settings.replicates

    @property
    def wall_seconds(self) -> float:
        return float(sum(self.seconds.values()))

    @property
    def populations(self) -> pd.DataFrame:
        """ABC-SMC's posterior table: generation 0, equal weights, no distance."""
        import pandas as pd

        s = len(self.samples)
        frame = pd.DataFrame(
            {p.name: self.samples[:, d] for d, p in enumerate(self.priors)}, index=range(s)
        )
        frame.insert(0, "distance", np.nan)
        frame.insert(0, "weight", np.full(s, 1.0 / s))
        frame.insert(0, "particle", np.arange(s))
        frame.insert(0, "generation", 0)
        return frame

    def posterior(self) -> pd.DataFrame:
        return self.populations

    @property
    def generations(self) -> pd.DataFrame:
        """ABC-SMC's per-generation table, one row: the training round."""
        import pandas as pd

        s = len(self.samples)
        return pd.DataFrame(
            [
                {
                    "generation": 0,
                    "epsilon": float("nan"),
                    "simulations": len(self.theta_train) * self.settings.replicates,
                    "particles": s,
                    "acceptance_rate": float("nan"),
                    "ess": float(s),
                    "seconds": self.trained.seconds,
                }
            ]
        )

    def description(self) -> str:
        verdict = "passed" if self.diagnostics.passed else "FAILED"
        flag = "; observation flagged as outside the training distribution" * bool(
            self.diagnostics.misspecification["flagged"]
        )
        return (
            f"NPE (sbi {self.settings.density}, {len(self.theta_train)} training simulations, "
            f"{len(self.samples)} posterior samples; SBC and coverage on "
            f"{len(self.theta_holdout)} held-out simulations {verdict}{flag})"
        )

    def certificate(self) -> dict[str, Any]:
        """The JSON summary of the certificate and of the training that produced it.

        Every check with its rule and outcome (``Diagnostics.to_dict``), the
        training run (simulations, ensemble, epochs, losses, seconds, the
        fingerprint), the summaries, the observation and its error model.
        ``lipsteeth calibrate --method npe`` writes it as ``npe_diagnostics.json``.
        """
        trained = self.trained
        return {
            "method": "npe",
            **self.diagnostics.to_dict(),
            "training": {
                "simulations": len(self.theta_train),
                "holdout": len(self.theta_holdout),
                "replicates": self.settings.replicates,
                "ensemble": len(trained.members),
                "epochs": trained.epochs,
                "best_validation_loss": trained.best_validation_loss,
                "members": [
                    {
                        "epochs": m.epochs,
                        "best_validation_loss": m.best_validation_loss,
                        "training_loss": m.training_loss,
                        "validation_loss": m.validation_loss,
                    }
                    for m in trained.members
                ],
                "seconds": self.seconds,
                "fingerprint": self.fingerprint(),
            },
            "summaries": list(self.summary_names),
            "observed": [float(v) for v in self.observed],
            "observation": self.observation.to_dict(self.summary_names),
        }

    def fingerprint(self) -> str:
        """SHA-256 of the training data, the network and the posterior sample."""
        h = hashlib.sha256()
        arrays = [self.theta_train, self.m_train, self.x_train]
        arrays += [self.theta_holdout, self.m_holdout, self.x_holdout]
        for arr in arrays:
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        h.update(self.trained.state_bytes())
        h.update(np.ascontiguousarray(self.samples, dtype=np.float64).tobytes())
        return h.hexdigest()


def calibrate_npe(
    simulator: Simulator,
    priors: Sequence[Prior],
    observed: np.ndarray | ObservationModel,
    settings: NPESettings,
    *,
    targets: Sequence[Target] = (),
    executor: Executor | None = None,
    progress: ProgressFn | None = None,
    stage: Callable[[str], None] | None = None,
) -> NPEResult:
    """NPE of ``priors`` from ``simulator`` at an observation, certified.

    ``observed`` is an ``ObservationModel`` or a raw summary (K,) observed
    without error.  ``progress(done, total)`` counts simulations;
    ``stage(text)`` is told when training and the diagnostics start.
    """
    priors = tuple(priors)
    if not priors:
        raise NPEError("no parameters to calibrate")
    observation = (
        observed
        if isinstance(observed, ObservationModel)
        else ObservationModel.none(np.asarray(observed, dtype=float))
    )
    if observation.observed.size != len(simulator.names):
        raise NPEError(
            f"{observation.observed.size} observed values for {len(simulator.names)} summaries"
        )
    bounds = bounds_of(priors)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    theta_train = training_design(priors, settings.simulations, settings.seed)
    theta_holdout = prior_draws(priors, settings.holdout, settings.seed, STREAM_HOLDOUT_THETA)
    m_train, m_holdout = simulate_sets(
        simulator,
        [(STREAM_TRAIN, theta_train), (STREAM_HOLDOUT, theta_holdout)],
        settings.seed,
        executor,
        chunk_size=settings.chunk_size,
        progress=progress,
    )
    seconds["simulate"] = time.perf_counter() - t0
    x_train = observation.apply(m_train, _rng(settings.seed, STREAM_ERROR_TRAIN))
    x_holdout = observation.apply(m_holdout, _rng(settings.seed, STREAM_ERROR_HOLDOUT))
    if stage is not None:
        stage("training")
    trained = train(theta_train, x_train, bounds, settings, log=np.all(m_train >= 0, axis=0))
    seconds["train"] = trained.seconds
    t1 = time.perf_counter()
    samples = trained.sample(
        observation.observed,
        settings.posterior_samples,
        stream_seed(settings.seed, STREAM_TORCH) ^ 3,
    )
    if stage is not None:
        stage("diagnostics")
    diagnostics = diagnose(
        trained,
        theta_holdout,
        x_holdout,
        observation.observed,
        x_train,
        [p.name for p in priors],
        simulator.names,
        settings,
    )
    seconds["diagnostics"] = time.perf_counter() - t1
    return NPEResult(
        priors=priors,
        targets=tuple(targets),
        summary_names=tuple(simulator.names),
        observation=observation,
        samples=samples,
        theta_train=theta_train,
        m_train=m_train,
        x_train=x_train,
        theta_holdout=theta_holdout,
        m_holdout=m_holdout,
        x_holdout=x_holdout,
        trained=trained,
        diagnostics=diagnostics,
        settings=settings,
        seconds=seconds,
    )


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed) % 2**128, spawn_key=(stream,)))


# ---------------------------------------------------------------------------
# scenarios


def calibration_horizon(scenario: Scenario, targets: Sequence[Target], until: int) -> Scenario:
    """The scenario ending with the last year a usable target needs (and never after ``until``).

    Simulating past the last observation costs time and changes nothing the
    targets see.
    """
    first, last = horizon_years(scenario.start, scenario.end)
    usable = [t for t in in_horizon(list(targets), range(first, last + 1)) if t.last_year <= until]
    if not usable:
        raise NPEError(f"no target up to {until} falls in {scenario.name}'s horizon")
    need = max(t.last_year for t in usable)
    if need >= last:
        return scenario
    return scenario.with_overrides(end=f"{need}-12-31")


def observation_model(targets: Sequence[Target], kind: str = "targets") -> ObservationModel:
    """The targets' error model (``targets``), or their centres observed exactly (``exact``)."""
    if kind == "targets":
        return ObservationModel.from_targets(targets)
    return ObservationModel.none(np.array([t.centre for t in targets], dtype=float))


def calibrate_scenario(
    scenario: Scenario,
    targets: Sequence[Target],
    priors: Sequence[Prior],
    settings: NPESettings,
    *,
    executor: Executor | None = None,
    progress: ProgressFn | None = None,
    stage: Callable[[str], None] | None = None,
) -> NPEResult:
    """NPE of a scenario's ``priors`` against the ``targets`` in its horizon."""
    first, last = horizon_years(scenario.start, scenario.end)
    usable = tuple(in_horizon(list(targets), range(first, last + 1)))
    if not usable:
        raise NPEError(f"no target falls in {scenario.name}'s horizon ({first}-{last})")
    simulator = ScenarioSimulator(scenario, tuple(priors), usable, settings.replicates)
    return calibrate_npe(
        simulator,
        priors,
        observation_model(usable, settings.observation),
        settings,
        targets=usable,
        executor=executor,
        progress=progress,
        stage=stage,
    )
