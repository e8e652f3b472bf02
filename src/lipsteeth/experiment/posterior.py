"""Parameter uncertainty in every run: a calibration posterior or the declared ranges.

A band means what it says (DESIGN.md): by default it holds parameter
uncertainty and simulation noise.  Each replicate of a run draws one
parameter set, from

* ``posterior``: a calibration posterior (the weighted particles of ABC-SMC's
  last generation, or NPE's equal-weight draws, as ``lipsteeth calibrate``
  writes them; embedded scenarios ship the posterior of their calibration to
  observed outcomes up to 2016, ``scripts/calibrate_posteriors.py``) for the
  parameters it estimated, and the declared ranges for the scenario's other
  declared uncertainties (those no target informs);
* ``ranges``: the scenario's declared uncertainty ranges, uniform and
  independent (where there is no posterior);
* ``none``: no draw, the parameters as set (simulation noise only).

Draws are deterministic in the run's root seed and the replicate index alone:
replicate ``i`` picks its particle with the uniform of stream
``SeedSequence((seed, PARAMETER_STREAM, 0), spawn_key=(i,))`` (inverse CDF of
the weights in stored order), and a parameter drawn from its range uses its
own stream (key: 1 + the CRC-32 of its name).  So any subset of replicates on
any executor draws the same sets, and two settings run with the same seed
draw the same parameter sets where their posteriors agree (the same posterior;
the same declared range of a parameter): common random numbers pair the
parameters as they pair the simulation streams, which use other streams
(``core.simulate.replicate_seeds``).

A parameter is drawn only where the scenario leaves it as calibrated: one the
scenario overrides (``Scenario.with_overrides`` before or after the
uncertainty is attached, ``--set``, a fact's knock-out) or sets to another
value than the calibrated scenario held is kept at the scenario's value in
every replicate, and ``describe`` lists it with the reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..core.params import PARAM_GROUPS, Params, field_specs

if TYPE_CHECKING:
    from ..scenario import Scenario

UncertaintyKind = Literal["posterior", "ranges", "none"]
UNCERTAINTY_CHOICES: tuple[str, ...] = ("auto", "posterior", "ranges", "none")
SIMULATION_ONLY = "simulation only"
PARAMETERS_AND_SIMULATION = "parameters + simulation"
#: the entropy word that separates parameter draws from the simulation streams
PARAMETER_STREAM = 0x5041524D  # "PARM"
#: the packaged posterior's format
POSTERIOR_FORMAT = "lipsteeth-posterior/1"
#: columns of a calibration's posterior table that are not parameters
TABLE_COLUMNS = ("generation", "particle", "weight", "distance", "method")


class PosteriorError(ValueError):
    """A posterior cannot be read or used as asked (one-line message naming the field)."""


def _finite_float(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PosteriorError(f"{what}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise PosteriorError(f"{what}: {value!r} is not finite")
    return number


@dataclass(frozen=True, eq=False)
class Posterior:
    """Weighted parameter sets of a calibration (rows of ``values``, ``names`` its columns).

    ``calibrated_values`` are the values the calibrated scenario held for
    ``names`` (the scenario the priors were set on); ``priors`` the uniform
    prior ranges; ``meta`` what else the calibration recorded (experiment,
    targets, settings, versions).
    """

    names: tuple[str, ...]
    values: np.ndarray  # (n, d) float
    weights: np.ndarray  # (n,) non-negative, not all zero (any total)
    method: str
    scenario: str
    source: str
    calibrated_values: Mapping[str, float] = field(default_factory=dict)
    priors: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=float)
        weights = np.asarray(self.weights, dtype=float)
        if not self.names:
            raise PosteriorError(f"{self.source}: the posterior has no parameters")
        if len(set(self.names)) != len(self.names):
            raise PosteriorError(f"{self.source}: parameter names repeat")
        for name in self.names:
            group, _, item = name.partition(".")
            if group not in PARAM_GROUPS or item not in field_specs(PARAM_GROUPS[group]):
                raise PosteriorError(f"{self.source}: {name!r} is not a model parameter")
        if values.ndim != 2 or values.shape[1] != len(self.names) or values.shape[0] < 1:
            raise PosteriorError(
                f"{self.source}: values must be (particles, {len(self.names)}), got {values.shape}"
            )
        if weights.shape != (values.shape[0],):
            raise PosteriorError(f"{self.source}: one weight per particle")
        if not (np.all(np.isfinite(values)) and np.all(np.isfinite(weights))):
            raise PosteriorError(f"{self.source}: non-finite values or weights")
        if np.any(weights < 0) or weights.sum() <= 0:
            raise PosteriorError(f"{self.source}: weights must be non-negative, not all zero")
        # weights kept as given (the hash is of them); draws use their cumulative sum
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "names", tuple(self.names))

    @property
    def n_particles(self) -> int:
        return int(self.values.shape[0])

    @property
    def sha256(self) -> str:
        """SHA-256 of the parameter sets and weights (not of the file that held them)."""
        canonical = json.dumps(
            {
                "names": list(self.names),
                "values": self.values.tolist(),
                "weights": self.weights.tolist(),
            },
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def summary(self, level: float = 0.9) -> list[dict[str, Any]]:
        """Per parameter: weighted median and central ``level`` interval."""
        rows = []
        lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
        for j, name in enumerate(self.names):
            x = self.values[:, j]
            rows.append(
                {
                    "parameter": name,
                    "median": _weighted_quantile(x, self.weights, 0.5),
                    "low": _weighted_quantile(x, self.weights, lo_q),
                    "high": _weighted_quantile(x, self.weights, hi_q),
                    "prior": list(self.priors[name]) if name in self.priors else None,
                }
            )
        return rows

    # --- formats -----------------------------------------------------------------------

    @classmethod
    def from_calibration(
        cls,
        table: Mapping[str, Sequence[float]],
        manifest: Mapping[str, Any] | None,
        *,
        source: str,
        calibrated_values: Mapping[str, float] | None = None,
    ) -> Posterior:
        """The last generation of a calibration's ``analysis/posterior`` table.

        ``table`` maps column names to columns (a ``pandas.DataFrame`` will
        do): ``generation``, ``particle``, ``weight``, optional ``distance``
        and ``method``, one column per parameter (``group.name``).  The
        manifest (``lipsteeth calibrate``'s, ABC or NPE) gives the priors,
        the method and the scenario.
        """
        manifest = dict(manifest or {})
        columns = list(table.keys())
        for required in ("generation", "weight"):
            if required not in columns:
                raise PosteriorError(f"{source}: the posterior table has no {required!r} column")
        priors_rows = manifest.get("priors") or []
        prior_names = [str(row["name"]) for row in priors_rows if "name" in row]
        names = prior_names or [c for c in columns if c not in TABLE_COLUMNS]
        missing = [n for n in names if n not in columns]
        if missing:
            raise PosteriorError(f"{source}: no column for parameter {missing[0]!r}")
        generation = np.asarray(table["generation"], dtype=float)
        if generation.size == 0:
            raise PosteriorError(f"{source}: the posterior table is empty")
        last = generation == generation.max()
        values = np.column_stack([np.asarray(table[n], dtype=float)[last] for n in names])
        weights = np.asarray(table["weight"], dtype=float)[last]
        method = str(manifest.get("method") or "")
        if not method and "method" in columns:
            methods = {str(m) for m in np.asarray(table["method"], dtype=object)[last]}
            method = methods.pop() if len(methods) == 1 else ""
        priors = {
            str(row["name"]): (
                _finite_float(row["low"], f"{source}: priors.{row['name']}.low"),
                _finite_float(row["high"], f"{source}: priors.{row['name']}.high"),
            )
            for row in priors_rows
            if {"name", "low", "high"} <= set(row)
        }
        meta: dict[str, Any] = {
            key: manifest[key]
            for key in ("experiment", "targets", "settings", "until", "simulated", "created")
            if key in manifest
        }
        meta["generation"] = int(generation.max())
        return cls(
            names=tuple(names),
            values=values,
            weights=weights,
            method=method or "abc",
            scenario=str(manifest.get("scenario", "")),
            source=source,
            calibrated_values=dict(calibrated_values or {}),
            priors=priors,
            meta=meta,
        )

    def to_json(self) -> str:
        """The packaged form (``<scenario>.posterior.json``): everything ``from_json`` reads."""
        document = {
            "format": POSTERIOR_FORMAT,
            "scenario": self.scenario,
            "method": self.method,
            "sha256": self.sha256,
            "meta": dict(self.meta),
            "priors": {name: list(span) for name, span in self.priors.items()},
            "calibrated_values": dict(self.calibrated_values),
            "summary": self.summary(),
            "names": list(self.names),
            "weights": self.weights.tolist(),
            "values": self.values.tolist(),
        }
        return json.dumps(document, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str) -> Posterior:
        """A packaged posterior (``to_json``); its recorded SHA-256 must match its content."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PosteriorError(f"{source}: not JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(document, dict) or document.get("format") != POSTERIOR_FORMAT:
            raise PosteriorError(f"{source}: format is not {POSTERIOR_FORMAT!r}")
        for key in ("names", "values", "weights"):
            if key not in document:
                raise PosteriorError(f"{source}: no {key!r}")
        priors = {
            str(name): (
                _finite_float(span[0], f"{source}: priors.{name}"),
                _finite_float(span[1], f"{source}: priors.{name}"),
            )
            for name, span in (document.get("priors") or {}).items()
        }
        posterior = cls(
            names=tuple(str(n) for n in document["names"]),
            values=np.asarray(document["values"], dtype=float),
            weights=np.asarray(document["weights"], dtype=float),
            method=str(document.get("method") or "abc"),
            scenario=str(document.get("scenario", "")),
            source=source,
            calibrated_values={
                str(k): _finite_float(v, f"{source}: calibrated_values.{k}")
                for k, v in (document.get("calibrated_values") or {}).items()
            },
            priors=priors,
            meta=dict(document.get("meta") or {}),
        )
        recorded = document.get("sha256")
        if recorded is not None and recorded != posterior.sha256:
            raise PosteriorError(f"{source}: sha256 does not match the values and weights")
        return posterior


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x, kind="stable")
    cdf = np.cumsum(w[order]) / np.sum(w)
    i = int(np.searchsorted(cdf, q, side="left"))
    return float(x[order][min(i, x.size - 1)])


def packaged(name: str) -> Posterior:
    """The posterior an embedded scenario ships (``lipsteeth/scenarios/<name>.posterior.json``)."""
    from ..scenario import packaged_posterior

    resource = packaged_posterior(name)
    if not resource.is_file():
        raise PosteriorError(
            f"scenario.posterior: no packaged posterior {name!r} (lipsteeth/scenarios/"
            f"{name}.posterior.json; scripts/calibrate_posteriors.py writes it)"
        )
    return Posterior.from_json(
        resource.read_text(encoding="utf-8"), source=f"lipsteeth/scenarios/{name}.posterior.json"
    )


# ---------------------------------------------------------------------------
# parameter uncertainty of a run


def _stream_uniform(seed: int, replicate: int, key: int = 0) -> float:
    """One uniform of the parameter stream of ``replicate`` (and sub-stream ``key``)."""
    sequence = np.random.SeedSequence(
        (int(seed), PARAMETER_STREAM, int(key)), spawn_key=(replicate,)
    )
    return float(np.random.default_rng(sequence).random())


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode()) + 1  # 0 is the posterior's particle stream


def _is_integer(name: str) -> bool:
    group, _, item = name.partition(".")
    return bool(field_specs(PARAM_GROUPS[group]).get(item, {}).get("integer", False))


def _current(params: Params, name: str) -> float:
    group, _, item = name.partition(".")
    return float(getattr(getattr(params, group), item))


def params_with(params: Params, values: Mapping[str, float]) -> Params:
    """``params`` with some ``group.name`` values replaced (integer parameters rounded)."""
    by_group: dict[str, dict[str, float | int]] = {}
    for name, value in values.items():
        group, _, item = name.partition(".")
        by_group.setdefault(group, {})[item] = int(round(value)) if _is_integer(name) else value
    if not by_group:
        return params
    return dataclasses.replace(
        params,
        **{
            group: dataclasses.replace(getattr(params, group), **items)
            for group, items in by_group.items()
        },
    )


@dataclass(frozen=True, eq=False)
class ParameterUncertainty:
    """What a run's replicates draw their parameters from (``Scenario.parameter_draws``).

    ``ranges`` holds the declared ranges drawn uniformly (every declared
    uncertainty for ``ranges``; those the posterior does not estimate for
    ``posterior``); ``held`` the parameters kept at the scenario's values,
    with the reason.
    """

    kind: UncertaintyKind
    posterior: Posterior | None = None
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    held: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind == "posterior" and self.posterior is None:
            raise PosteriorError("uncertainty 'posterior' needs a posterior")

    @property
    def label(self) -> str:
        """What a band of this run holds: ``parameters + simulation`` or ``simulation only``."""
        return SIMULATION_ONLY if not self.drawn else PARAMETERS_AND_SIMULATION

    @property
    def from_posterior(self) -> tuple[str, ...]:
        """The parameters drawn from the posterior (its particles)."""
        if self.kind != "posterior" or self.posterior is None:
            return ()
        return tuple(n for n in self.posterior.names if n not in self.held)

    @property
    def from_ranges(self) -> tuple[str, ...]:
        """The parameters drawn uniformly over their declared ranges."""
        if self.kind == "none":
            return ()
        return tuple(n for n in self.ranges if n not in self.held)

    @property
    def drawn(self) -> tuple[str, ...]:
        """The parameters that vary across replicates."""
        return self.from_posterior + self.from_ranges

    def holding(self, names: Iterable[str], reason: str = "overridden") -> ParameterUncertainty:
        """The same draws with ``names`` kept at the scenario's values (``ParameterDraws``)."""
        add = {str(n): reason for n in names if str(n) not in self.held}
        if not add:
            return self
        return dataclasses.replace(self, held={**self.held, **add})

    def parameter_sets(
        self, seed: int, replicates: Sequence[int] | np.ndarray
    ) -> list[dict[str, float]]:
        """The drawn values of each replicate index (``{}`` per replicate for ``none``)."""
        from_posterior, from_ranges = self.from_posterior, self.from_ranges
        out: list[dict[str, float]] = []
        for i in np.asarray(replicates, dtype=int):
            draw: dict[str, float] = {}
            if from_posterior:
                assert self.posterior is not None
                values = self.posterior.values[self.particle(seed, int(i))]
                columns = {n: j for j, n in enumerate(self.posterior.names)}
                draw.update({n: float(values[columns[n]]) for n in from_posterior})
            for n in from_ranges:
                low, high = self.ranges[n]
                draw[n] = low + (high - low) * _stream_uniform(seed, int(i), _name_key(n))
            out.append(draw)
        return out

    def particle(self, seed: int, replicate: int) -> int:
        """The posterior particle (row) replicate ``replicate`` of a run with ``seed`` uses."""
        assert self.posterior is not None
        cdf = np.cumsum(self.posterior.weights)
        u = _stream_uniform(seed, replicate) * cdf[-1]
        return int(min(np.searchsorted(cdf, u, side="right"), cdf.size - 1))

    def replicate_params(
        self, scenario: Scenario, seed: int, replicates: Sequence[int] | np.ndarray
    ) -> list[Params] | None:
        """One ``Params`` per replicate index, or None when nothing is drawn."""
        from ..scenario import check_population, check_wider_flow

        if not self.drawn:
            return None
        out = []
        for values in self.parameter_sets(seed, replicates):
            params = params_with(scenario.params, values)
            if any(n.startswith("population.") for n in values):
                population = dataclasses.asdict(params.population)
                check_population(population, f"{scenario.source} (drawn parameters)")
            if any(n.startswith("wider_flow.") for n in values):
                wider_flow = dataclasses.asdict(params.wider_flow)
                check_wider_flow(wider_flow, f"{scenario.source} (drawn parameters)")
            out.append(params)
        return out

    def describe(
        self, seed: int | None = None, replicates: Sequence[int] | np.ndarray | None = None
    ) -> dict[str, Any]:
        """What the manifest records: kind, label, the posterior's identity and hash, held."""
        info: dict[str, Any] = {
            "kind": self.kind,
            "band": self.label,
            "from_posterior": list(self.from_posterior),
            "from_ranges": list(self.from_ranges),
        }
        if self.held:
            info["held"] = dict(self.held)
        if self.kind == "posterior" and self.posterior is not None:
            post = self.posterior
            info["posterior"] = {
                "source": post.source,
                "sha256": post.sha256,
                "method": post.method,
                "scenario": post.scenario,
                "particles": post.n_particles,
                "parameters": len(post.names),
                **{k: post.meta[k] for k in ("experiment", "until") if k in post.meta},
            }
            if seed is not None and replicates is not None and self.drawn:
                info["particles"] = [self.particle(seed, int(i)) for i in replicates]
        if self.from_ranges:
            info["ranges"] = {n: list(self.ranges[n]) for n in self.from_ranges}
        return info


NO_UNCERTAINTY = ParameterUncertainty("none")


def for_posterior(scenario: Scenario, posterior: Posterior) -> ParameterUncertainty:
    """Draws from ``posterior`` for ``scenario``: parameters it changed are held.

    A posterior parameter is held when the scenario does not declare it an
    uncertainty (it is not uncertain here) or sets it to another value than
    the calibrated scenario held (a variant that changed it on purpose).  The
    scenario's declared uncertainties the posterior does not hold (the
    calibration did not estimate them: no target informs them) are drawn
    uniformly over their declared ranges, so a band holds every declared
    uncertainty.
    """
    held = _overridden(scenario)
    for name in posterior.names:
        here = _current(scenario.params, name)
        calibrated = posterior.calibrated_values.get(name)
        if name in held:
            continue
        if name not in scenario.uncertainties:
            held[name] = "not a declared uncertainty of the scenario"
        elif calibrated is not None and not math.isclose(here, calibrated, rel_tol=1e-12):
            held[name] = f"set to {here:g} here (calibrated scenario: {calibrated:g})"
    if all(name in held for name in posterior.names):
        raise PosteriorError(
            f"posterior {posterior.source}: none of its parameters is drawn in "
            f"{scenario.name} (first: {posterior.names[0]}: {held[posterior.names[0]]})"
        )
    # the declared uncertainties the calibration did not estimate keep their declared ranges
    rest = {
        n: (float(lo), float(hi))
        for n, (lo, hi) in scenario.uncertainties.items()
        if n not in posterior.names
    }
    return ParameterUncertainty("posterior", posterior=posterior, ranges=rest, held=held)


def _overridden(scenario: Scenario) -> dict[str, str]:
    """Parameters whose value an override set (``Scenario.with_overrides``, ``--set``): held."""
    return {
        key: "overridden"
        for key, info in scenario.provenance.items()
        if info.kind == "parameter" and info.provenance.startswith("override:")
    }


def for_ranges(scenario: Scenario) -> ParameterUncertainty:
    """Uniform draws over the scenario's declared uncertainty ranges (overridden ones held)."""
    ranges = {n: (float(lo), float(hi)) for n, (lo, hi) in scenario.uncertainties.items()}
    if not ranges:
        raise PosteriorError(f"{scenario.name} declares no uncertainty ranges to draw from")
    return ParameterUncertainty("ranges", ranges=ranges, held=_overridden(scenario))


def resolve(
    scenario: Scenario, choice: str = "auto", posterior: Posterior | None = None
) -> ParameterUncertainty:
    """The parameter uncertainty a run of ``scenario`` draws from.

    ``choice``: ``auto`` (``posterior`` if one is given or the scenario ships
    one, else ``ranges`` if it declares any, else ``none``), ``posterior``,
    ``ranges`` or ``none``.  A posterior given with ``ranges`` or ``none`` is
    refused (the run could not use it).
    """
    if choice not in UNCERTAINTY_CHOICES:
        raise PosteriorError(
            f"--uncertainty must be one of {', '.join(UNCERTAINTY_CHOICES)} (got {choice!r})"
        )
    if posterior is not None and choice in ("ranges", "none"):
        raise PosteriorError(f"--posterior contradicts --uncertainty {choice}")
    if choice == "none":
        return NO_UNCERTAINTY
    if choice == "ranges":
        return for_ranges(scenario)
    if posterior is None and scenario.posterior is not None:
        posterior = packaged(scenario.posterior)
    if posterior is not None:
        return for_posterior(scenario, posterior)
    if choice == "posterior":
        raise PosteriorError(
            f"--uncertainty posterior: {scenario.name} ships no posterior (give --posterior FILE)"
        )
    return for_ranges(scenario) if scenario.uncertainties else NO_UNCERTAINTY


def with_uncertainty(
    scenario: Scenario, choice: str = "auto", posterior: Posterior | None = None
) -> Scenario:
    """``scenario`` whose runs draw their parameters as ``resolve`` chooses."""
    return dataclasses.replace(scenario, parameter_draws=resolve(scenario, choice, posterior))


def uncertainty_of(scenario: Scenario) -> ParameterUncertainty:
    """The parameter uncertainty a scenario's runs hold (``none`` if it carries none)."""
    draws = scenario.parameter_draws
    return draws if isinstance(draws, ParameterUncertainty) else NO_UNCERTAINTY


def band_label(scenario: Scenario) -> str:
    """``parameters + simulation`` or ``simulation only``: what this scenario's bands hold."""
    return uncertainty_of(scenario).label
