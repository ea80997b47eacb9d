"""The halo occupation distribution (HOD) baseline: Zheng et al. (2007), optionally decorated.

The classic HOD predicts how many galaxies a host halo holds from its mass alone
(masses in log10 Msun/h throughout)::

    <N_cen | M> = 1/2 [1 + erf((log M - log M_min) / sigma_logM)]
    <N_sat | M> = ((M - M_0) / M_1)^alpha   for M > M_0, else 0   (halotools' convention)

with satellites Poisson about their mean. The *decorated* HOD (Hearin et al. 2016)
adds assembly bias: hosts are split at the median of a secondary property at fixed mass
(the median taken in narrow mass bins); the upper half has ``<N> + delta``, the lower
half ``<N> - delta``, with ``delta = A x`` the largest shift that keeps both halves
physical (``<N_sat>`` for satellites, ``min(<N_cen>, 1 - <N_cen>)`` for centrals) and
``A`` in [-1, 1]. The mean over both halves stays ``<N>``.

:class:`HODModel` (family ``"hod"``) puts the satellite term behind the
:class:`~galhalo.models.interface.ConditionalModel` interface: the target is the count
``N_sat`` (integers >= 0), the condition ``M_h`` (Zheng07) or ``M_h`` plus one
secondary column (decorated, e.g. ``M_h,Delta3_h``). ``fit`` maximises the Poisson
likelihood of the training hosts' counts (L-BFGS-B over bounded parameters from seeded
starts); ``log_prob`` is the exact Poisson log-pmf, ``sample`` draws Poisson integers,
``variance`` equals ``mean``: the HOD's assumption, the point of comparison with the
super-Poisson truth. One row per host: a galaxy catalog is reduced to its central rows.

The central term is not a target of the model: every host of a galaxy catalog has its
central above the cut (``<N_cen> = 1`` there by construction), so ``<N_cen | M>`` needs
the whole halo population with an indicator of a selected central;
:func:`fit_zheng07_centrals` fits it to such a table by Bernoulli maximum likelihood,
and :meth:`HODModel.fit_centrals` stores that fit in the model
(:meth:`HODModel.central_occupation`; ``"centrals": null`` in ``config.json`` and
``<N_cen> = 1`` everywhere until it is called).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .. import __version__
from ..catalog import Catalog
from ..errors import ModelError
from .interface import ConditionalModel, Table, column_matrix, split_rows, table_of
from .store import ModelFiles, read_model_directory, write_model_directory

__all__ = ["HODModel", "decorated_shift", "fit_zheng07_centrals", "secondary_medians",
           "upper_half", "zheng07_centrals", "zheng07_satellites"]

MASS = "M_h"
#: Parameters of the satellite term, in the order of the optimiser's vector.
SATELLITE_PARAMETERS = ("log_m0", "log_m1", "alpha")
AMPLITUDE = "assembly_bias"


# ----------------------------------------------------------------------------- formulas
def zheng07_centrals(log_mass: np.ndarray, log_m_min: float, sigma_log_m: float) -> np.ndarray:
    """<N_cen | M> of Zheng et al. (2007), shape of ``log_mass`` (log10 Msun/h):
    1/2 [1 + erf((log M - log M_min) / sigma_logM)], in [0, 1]."""
    return 0.5 * (1.0 + special.erf((np.asarray(log_mass, dtype=float) - log_m_min)
                                    / sigma_log_m))


def zheng07_satellites(log_mass: np.ndarray, log_m0: float, log_m1: float, alpha: float,
                       centrals: np.ndarray | None = None) -> np.ndarray:
    """<N_sat | M> of Zheng et al. (2007): ((M - M_0) / M_1)^alpha for M > M_0, exactly
    0 at and below M_0 (halotools' ``Zheng07Sats``); masses in log10 Msun/h, shape of
    ``log_mass``. ``centrals``: <N_cen> to multiply by (halotools'
    ``modulate_with_cenocc``), or None."""
    log_mass = np.asarray(log_mass, dtype=float)
    excess = np.power(10.0, log_mass - log_m1) - 10.0 ** (log_m0 - log_m1)
    mean = np.where(excess > 0, np.power(np.maximum(excess, 1e-300), alpha), 0.0)
    return mean if centrals is None else mean * np.asarray(centrals, dtype=float)


def decorated_shift(mean: np.ndarray, upper: np.ndarray, amplitude: float,
                    maximum: float | None = None) -> np.ndarray:
    """The decorated occupation (Hearin et al. 2016) of hosts split at the median of a
    secondary property: ``mean + delta`` in the upper half (``upper`` true), ``mean -
    delta`` in the lower, ``delta = amplitude x`` the largest allowed shift:
    ``min(mean, maximum - mean)`` for a bounded occupation (centrals: ``maximum=1``),
    ``mean`` for an unbounded one (satellites). ``amplitude`` in [-1, 1]; shape of
    ``mean``."""
    if not -1.0 <= amplitude <= 1.0:
        raise ModelError(f"the assembly-bias amplitude must be in [-1, 1], got {amplitude}")
    mean = np.asarray(mean, dtype=float)
    room = mean if maximum is None else np.minimum(mean, maximum - mean)
    return mean + np.where(upper, 1.0, -1.0) * amplitude * room


def secondary_medians(log_mass: np.ndarray, secondary: np.ndarray, bin_width: float = 0.1,
                      min_hosts: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Median of ``secondary`` at fixed mass: (edges, medians) of mass bins ``bin_width``
    dex wide over the hosts' range, adjacent bins merged (from the top, where hosts are
    rare) until each holds >= ``min_hosts`` hosts (one bin when there are fewer).
    ``edges`` (bins + 1,) log10 Msun/h, ``medians`` (bins,)."""
    low, high = float(log_mass.min()), float(log_mass.max())
    edges = list(low + bin_width * np.arange(int(np.floor((high - low) / bin_width)) + 1))
    edges.append(np.nextafter(high, np.inf))
    counts = list(np.histogram(log_mass, np.array(edges))[0])
    i = len(counts) - 1
    while i > 0:
        if counts[i] < min_hosts:
            counts[i - 1] += counts.pop(i)
            del edges[i]
        i -= 1
    if len(counts) > 1 and counts[0] < min_hosts:
        counts[1] += counts.pop(0)
        del edges[1]
    edges = np.array(edges)
    bins = bin_of(log_mass, edges)
    medians = np.array([np.median(secondary[bins == b]) for b in range(len(counts))])
    return edges, medians


def bin_of(log_mass: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Index of the mass bin of each host (masses outside the edges: the end bins)."""
    return np.clip(np.searchsorted(edges, log_mass, side="right") - 1, 0, len(edges) - 2)


def upper_half(log_mass: np.ndarray, secondary: np.ndarray, edges: np.ndarray,
               medians: np.ndarray) -> np.ndarray:
    """Bool (rows,): the host's secondary lies above the median of its mass bin."""
    return secondary > medians[bin_of(log_mass, edges)]


def poisson_log_pmf(counts: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """log P(counts | Poisson(mean)), exact, with P(0 | 0) = 1 and P(n > 0 | 0) = 0."""
    with np.errstate(divide="ignore"):
        return np.where(mean > 0, stats.poisson.logpmf(counts, np.maximum(mean, 1e-300)),
                        np.where(counts == 0, 0.0, -np.inf))


def fit_zheng07_centrals(log_mass: np.ndarray, has_central: np.ndarray, seed: int = 0,
                         starts: int = 4) -> dict[str, float]:
    """<N_cen | M> of Zheng07 by Bernoulli maximum likelihood over a halo table with an
    indicator ``has_central`` (bool, rows) of hosting a selected central; ``log_mass``
    in log10 Msun/h. Returns ``log_m_min``, ``sigma_log_m`` and ``nll`` (nats per halo).

    The whole halo population is needed (e.g. ``simulate_halos``, or a simulation's halos
    with the central selection): in a galaxy catalog every host has its central.
    """
    log_mass = np.asarray(log_mass, dtype=float)
    hit = np.asarray(has_central, dtype=bool)
    if len(log_mass) != len(hit) or len(hit) < 2 or hit.all() or not hit.any():
        raise ModelError("fitting <N_cen> needs halos with and without a selected central "
                         f"(got {int(hit.sum())} of {len(hit)} with one)")

    def nll(theta):
        z = (log_mass - theta[0]) / theta[1] * np.sqrt(2.0)
        return -(special.log_ndtr(z[hit]).sum() + special.log_ndtr(-z[~hit]).sum())

    bounds = [(log_mass.min() - 1, log_mass.max() + 1), (0.01, 3.0)]
    best = best_of_starts(nll, bounds, seed, starts)
    return {"log_m_min": float(best.x[0]), "sigma_log_m": float(best.x[1]),
            "nll": float(best.fun / len(hit))}


def satellite_nll(theta: np.ndarray, log_mass: np.ndarray, counts: np.ndarray,
                  upper: np.ndarray | None) -> tuple[float, np.ndarray]:
    """Poisson NLL per host of ``counts`` under the (decorated, when ``upper`` is given)
    Zheng07 satellites ``theta`` = (log_m0, log_m1, alpha[, A]), without the constant
    sum(log N!), and its exact gradient (len(theta),). Infinite (zero gradient) when a
    host with satellites has mean 0.

    With u = 10^(log M - log M_1) - 10^(log M_0 - log M_1) and f = 1 +- A, the mean
    is u^alpha f for u > 0: d/dalpha = mean ln u, d/dlog M_1 = -alpha ln10 mean,
    d/dlog M_0 = -alpha ln10 10^(log M_0 - log M_1) mean / u, d/dA = +-u^alpha.
    """
    log_m0, log_m1, alpha = theta[:3]
    u = np.power(10.0, log_mass - log_m1) - 10.0 ** (log_m0 - log_m1)
    on = u > 0
    if counts[~on].any():
        return np.inf, np.zeros(len(theta))
    u, n = u[on], counts[on]
    power = np.power(u, alpha)
    sign = None if upper is None else np.where(upper[on], 1.0, -1.0)
    mean = power if sign is None else power * (1.0 + sign * theta[3])
    if (n[mean <= 0]).any():
        return np.inf, np.zeros(len(theta))
    with np.errstate(divide="ignore"):
        log_mean = np.where(mean > 0, np.log(mean), 0.0)
    value = (mean.sum() - (n * log_mean).sum()) / len(counts)
    weight = 1.0 - np.divide(n, mean, out=np.zeros_like(mean), where=mean > 0)
    ln10 = np.log(10.0)
    gradient = [-(weight * mean / u).sum() * alpha * ln10 * 10.0 ** (log_m0 - log_m1),
                -(weight * mean).sum() * alpha * ln10,
                (weight * mean * np.log(u)).sum()]
    if sign is not None:
        gradient.append((weight * sign * power).sum())
    return float(value), np.array(gradient) / len(counts)


def best_of_starts(objective, bounds, seed: int, starts: int,
                   jac: bool = False) -> optimize.OptimizeResult:
    """L-BFGS-B from the box centre and ``starts - 1`` seeded uniform points in
    ``bounds``; the lowest finite minimum. ``jac``: ``objective`` returns (value,
    gradient)."""
    rng = np.random.default_rng(seed)
    low, high = np.array(bounds, dtype=float).T
    points = [(low + high) / 2] + [rng.uniform(low, high) for _ in range(max(starts, 1) - 1)]
    best = None
    for start in points:
        result = optimize.minimize(objective, start, method="L-BFGS-B", bounds=bounds,
                                   jac=jac)
        if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
            best = result
    if best is None:
        raise ModelError("the HOD likelihood is not finite at any start")
    return best


def hessian(gradient, theta: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """Hessian (p, p) at ``theta``: central differences of the exact ``gradient``,
    symmetrised."""
    columns = [(gradient(theta + step * e) - gradient(theta - step * e)) / (2 * step)
               for e in np.eye(len(theta))]
    out = np.column_stack(columns)
    return (out + out.T) / 2


def hosts_of(table: Catalog | pd.DataFrame | Any) -> Any:
    """One row per host: the central rows of a galaxy catalog (with satellites), the
    table itself otherwise (each row is then taken to be a host)."""
    if isinstance(table, Catalog):
        return table.centrals().table
    if isinstance(table, pd.DataFrame) and "is_central" in table.columns:
        return table[table["is_central"].to_numpy().astype(bool)]
    return table_of(table)


def count_vector(table: Table, name: str, role: str) -> np.ndarray:
    """Column ``name`` as counts (rows,) int64; ModelError naming the column and the rows
    that are not integers >= 0."""
    values = column_matrix(table, (name,), role)[:, 0]
    bad = (values < 0) | (values != np.round(values))
    if bad.any():
        raise ModelError(f"{role} column {name!r} must hold counts (integers >= 0): "
                         f"{int(bad.sum())} of {len(values)} rows are not (first at row "
                         f"{int(np.flatnonzero(bad)[0])} of the hosts, value {values[bad][0]:g})")
    return values.astype(np.int64)


# ----------------------------------------------------------------------------- the family
class HODModel(ConditionalModel):
    """The Zheng07 satellite HOD, mass-only or decorated with one secondary column.

    Hyperparameters: ``bin_width`` (dex) and ``min_bin_hosts`` of the mass bins in
    which the secondary's median is taken (:func:`secondary_medians`); ``starts``: the
    optimiser's starts (the box centre, then seeded uniform points).

    After ``fit``: ``parameters`` {log_m0, log_m1 (log10 Msun/h), alpha[,
    assembly_bias]}; ``errors`` (the same keys, from the observed Fisher information of
    the training hosts; None for a parameter at a bound); ``edges``/``medians`` of the
    secondary (decorated only). ``centrals``: {log_m_min, sigma_log_m, nll} of
    :meth:`fit_centrals`, None (every host keeps its central) until it is called.
    """

    family = "hod"
    target_kind: ClassVar[str] = "count"
    defaults: ClassVar[dict[str, Any]] = {"bin_width": 0.1, "min_bin_hosts": 20, "starts": 4}

    def __init__(self, **hyperparameters: Any):
        super().__init__(**hyperparameters)
        width, least, starts = (self.hyperparameters[key] for key in self.defaults)
        if isinstance(width, bool) or not isinstance(width, int | float) or not width > 0:
            raise ModelError(f"bin_width must be a width > 0 in dex, got {width!r}")
        for key, value in (("min_bin_hosts", least), ("starts", starts)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelError(f"{key} must be an integer >= 1, got {value!r}")
        self.parameters: dict[str, float] = {}
        self.errors: dict[str, float | None] = {}
        self.edges = np.empty(0)
        self.medians = np.empty(0)
        self.centrals: dict[str, float] | None = None

    @property
    def secondary(self) -> str | None:
        """The assembly-bias column (None: mass-only Zheng07)."""
        others = [name for name in self.condition if name != MASS]
        return others[0] if others else None

    def _set_columns(self, condition, target) -> None:
        super()._set_columns(condition, target)
        if MASS not in self.condition or len(self.condition) > 2:
            given = ",".join(self.condition)
            raise ModelError(f"a hod model's condition is {MASS} alone (Zheng07) or {MASS} "
                             f"plus one secondary column (decorated), got {given!r}")

    # ------------------------------------------------------------------ the occupation
    def _occupation(self, theta, log_mass, upper) -> np.ndarray:
        mean = zheng07_satellites(log_mass, *theta[:3])
        return mean if upper is None else decorated_shift(mean, upper, float(theta[3]))

    def _upper(self, x: np.ndarray) -> np.ndarray | None:
        if self.secondary is None:
            return None
        return upper_half(x[:, 0], x[:, 1], self.edges, self.medians)

    def _conditions(self, condition_table: Table) -> np.ndarray:
        """(rows, 1 or 2): mass first, then the secondary."""
        self._require_fitted()
        names = (MASS,) + ((self.secondary,) if self.secondary else ())
        return column_matrix(condition_table, names, "condition")

    def mean(self, condition_table: Table) -> np.ndarray:
        """<N_sat | condition>, shape (rows,)."""
        x = self._conditions(condition_table)
        return self._occupation(self._theta(), x[:, 0], self._upper(x))

    def fit_centrals(self, log_mass: np.ndarray, has_central: np.ndarray,
                     seed: int = 0) -> HODModel:
        """Fit and keep <N_cen | M> (:func:`fit_zheng07_centrals`) from the whole halo
        population: ``log_mass`` (halos,) log10 Msun/h, ``has_central`` (halos,) bool,
        the halo hosts a central above the cut. ``fit`` leaves it alone."""
        self.centrals = fit_zheng07_centrals(log_mass, has_central, seed,
                                             int(self.hyperparameters["starts"]))
        return self

    def central_occupation(self, condition_table: Table) -> np.ndarray:
        """<N_cen | M_h>, shape (rows,): Zheng07 with the :meth:`fit_centrals`
        parameters, 1 everywhere when the centrals were never fitted."""
        log_mass = column_matrix(condition_table, (MASS,), "condition")[:, 0]
        if self.centrals is None:
            return np.ones(len(log_mass))
        return zheng07_centrals(log_mass, self.centrals["log_m_min"],
                                self.centrals["sigma_log_m"])

    def variance(self, condition_table: Table) -> np.ndarray:
        """Var[N_sat | condition] = <N_sat> (Poisson), shape (rows,)."""
        return self.mean(condition_table)

    def _theta(self) -> np.ndarray:
        names = SATELLITE_PARAMETERS + ((AMPLITUDE,) if self.secondary else ())
        return np.array([self.parameters[name] for name in names])

    # ------------------------------------------------------------------ interface
    def fit(self, catalog, condition, target, valid=0.2, seed: int = 0,
            progress: bool = True) -> HODModel:
        """Maximum likelihood of the training hosts' Poisson counts; ``valid`` a held-out
        fraction (seeded split of the hosts) or a validation table. Galaxy catalogs are
        reduced to one row per host (:func:`hosts_of`). A failed fit leaves the model
        unfitted."""
        try:
            return self._fit(catalog, condition, target, valid, seed)
        except ModelError:
            self.condition, self.target, self.parameters = (), (), {}
            raise

    def _fit(self, catalog, condition, target, valid, seed: int) -> HODModel:
        self._set_columns(condition, target)
        if len(self.target) != 1:
            raise ModelError(f"a hod model has one target, the satellite count (e.g. "
                             f"N_sat), got {len(self.target)} columns")
        names = (MASS,) + ((self.secondary,) if self.secondary else ())
        hosts = hosts_of(catalog)
        x = column_matrix(hosts, names, "condition")
        y = count_vector(hosts, self.target[0], "target")
        counts = y
        if isinstance(valid, Catalog | pd.DataFrame):
            valid_hosts = hosts_of(valid)
            x_valid = column_matrix(valid_hosts, names, "validation condition")
            self.check_row_counts(len(x), len(x_valid))
            y_valid = count_vector(valid_hosts, self.target[0], "validation target")
        else:
            train, held = split_rows(len(x), valid, seed, *self.row_minimums(1),
                                     what=f"a {self.family} model")
            x, x_valid, y_valid, counts = x[train], x[held], y[held], y[train]
        if not counts.any():
            raise ModelError(f"the {len(counts)} training hosts hold no satellites "
                             f"({self.target[0]} is 0 everywhere): nothing to fit")
        self.seed = seed
        self._maximise(x, counts, seed)
        train_nll = -float(poisson_log_pmf(counts, self._occupation(
            self._theta(), x[:, 0], self._upper(x))).mean())
        valid_log_prob = poisson_log_pmf(y_valid, self._occupation(
            self._theta(), x_valid[:, 0], self._upper(x_valid)))
        # A held-out host with satellites below M_0 has probability 0: valid_nll is inf
        # (exact; saved as null), and the count of such hosts says why.
        self.metrics = {"train_rows": len(x), "valid_rows": len(x_valid),
                        "train_nll": train_nll, "valid_nll": -float(valid_log_prob.mean()),
                        "valid_zero_probability": int(np.isinf(valid_log_prob).sum()),
                        **{f"param_{k}": v for k, v in self.parameters.items()}}
        return self

    def _maximise(self, x: np.ndarray, counts: np.ndarray, seed: int) -> None:
        log_mass = x[:, 0]
        if self.secondary is not None:
            self.edges, self.medians = secondary_medians(
                log_mass, x[:, 1], float(self.hyperparameters["bin_width"]),
                int(self.hyperparameters["min_bin_hosts"]))
        upper = self._upper(x)
        occupied = log_mass[counts > 0].min()
        low, high = float(log_mass.min()), float(log_mass.max())
        # M_0 below the lightest occupied host (else that host's likelihood is 0); 3 dex
        # below the lightest host is a pure power law for every host.
        bounds = [(low - 3.0, occupied - 1e-6), (low - 1.0, high + 2.0), (0.05, 5.0)]
        if upper is not None:  # |A| = 1 empties a half: a zero likelihood if it has satellites
            bounds.append((-1.0 + 1e-6, 1.0 - 1e-6))

        def nll(theta):
            return satellite_nll(theta, log_mass, counts, upper)

        best = best_of_starts(nll, bounds, seed, int(self.hyperparameters["starts"]), jac=True)
        names = SATELLITE_PARAMETERS + ((AMPLITUDE,) if upper is not None else ())
        self.parameters = {name: float(value) for name, value in zip(names, best.x,
                                                                     strict=True)}
        self.errors = fisher_errors(lambda t: nll(t)[1] * len(counts), best.x, bounds, names)

    def log_prob(self, condition_table: Table, target_table: Table) -> np.ndarray:
        """Exact Poisson log P(N_sat | condition) per row, (rows,)."""
        mean = self.mean(condition_table)
        counts = count_vector(target_table, self.target[0], "target")
        if len(counts) != len(mean):
            raise ModelError(f"condition has {len(mean)} rows but target has {len(counts)}")
        return poisson_log_pmf(counts, mean)

    def sample(self, condition_table: Table, n_per_row: int = 1, seed: int = 0) -> np.ndarray:
        """Poisson counts, int64 array (n_per_row, rows, 1)."""
        mean = self.mean(condition_table)
        draws = np.random.default_rng(seed).poisson(mean, size=(n_per_row, len(mean)))
        return draws.astype(np.int64)[..., None]

    def predict(self, condition_table: Table) -> np.ndarray:
        """<N_sat | condition>, (rows, 1)."""
        return self.mean(condition_table)[:, None]

    # ------------------------------------------------------------------ store
    def save(self, directory: str | Path) -> Path:
        self._require_fitted()
        config = {"family": self.family, "galhalo_version": __version__,
                  "hyperparameters": self.hyperparameters, "condition": list(self.condition),
                  "target": list(self.target), "parameters": self.parameters,
                  "errors": self.errors, "centrals": self.centrals, "seed": self.seed,
                  "metrics": {key: value if np.isfinite(value) else None
                              for key, value in self.metrics.items()}}
        arrays = ({"edges": self.edges, "medians": self.medians} if self.secondary else {})
        return write_model_directory(directory, config, ModelFiles(arrays=arrays))

    @classmethod
    def load(cls, directory: str | Path) -> HODModel:
        stored = read_model_directory(directory, cls.family)
        config = stored.config
        try:
            model = cls(**config["hyperparameters"])
            model._set_columns(config["condition"], config["target"])
            model.parameters = {k: float(v) for k, v in config["parameters"].items()}
            model.errors = dict(config.get("errors", {}))
            centrals = config.get("centrals")
            model.centrals = None if centrals is None else {
                key: float(centrals[key]) for key in ("log_m_min", "sigma_log_m", "nll")}
            if model.secondary:
                model.edges = np.asarray(stored.files.arrays["edges"], dtype=float)
                model.medians = np.asarray(stored.files.arrays["medians"], dtype=float)
            model._theta()
        except (KeyError, TypeError, ValueError) as err:
            raise ModelError(f"{directory}: not a complete hod model ({err!r} missing or "
                             "malformed)") from None
        model.seed, model.metrics = config.get("seed"), config.get("metrics", {})
        return model


def fisher_errors(total_gradient, theta: np.ndarray, bounds, names
                  ) -> dict[str, float | None]:
    """1-sigma errors from the inverse observed Fisher information (the Hessian of the
    total NLL, from its gradient ``total_gradient``) over the parameters off their
    bounds; None for those at a bound (or when the information is singular)."""
    free = [i for i, (low, high) in enumerate(bounds)
            if theta[i] - low > 1e-3 and high - theta[i] > 1e-3]
    errors: dict[str, float | None] = dict.fromkeys(names)
    if free:
        def restricted(sub):
            full = theta.copy()
            full[free] = sub
            return total_gradient(full)[free]
        try:
            covariance = np.linalg.inv(hessian(restricted, theta[free]))
        except np.linalg.LinAlgError:
            return errors
        for k, i in enumerate(free):
            if covariance[k, k] > 0:
                errors[names[i]] = float(np.sqrt(covariance[k, k]))
    return errors
