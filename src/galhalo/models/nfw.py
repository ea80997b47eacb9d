"""The HOD's satellite profile as a model family: NFW radii and isotropic Gaussian velocities.

Family ``"nfw"``: p(r_host, v_r, v_t | M_h [, C_h]) of satellite galaxies about their
host's centre, exact and analytic (the profile an HOD places its satellites with; the
composite model uses it like any profile, i.e. any model with this target). Per row,
with ``s = r_host = r / R_vir`` and the host's virial mass ``M`` (log10 Msun/h in
``M_h``):

* **radius**: an NFW number-density profile truncated at ``r_max`` (in R_vir),
  ``p(s) = c^2 s / (1 + c s)^2 / m(c r_max)`` on ``0 < s <= r_max``, ``m(x) = ln(1 + x) -
  x / (1 + x)``, with ``c = c_factor * c_Duffy(M, z)`` (Duffy et al. 2008, virial, full
  sample; :func:`galhalo.profiles.duffy08_concentration`). Conditioned on ``M_h,C_h``,
  ``c`` is further multiplied by ``exp(c_slope * r_C)``, ``r_C`` the standardised
  residual of ``ln C_h`` about its least-squares line in ``M_h`` (training rows);
* **velocities**: ``v_r ~ Normal(0, sigma)`` and ``v_t`` the length of a 2-D isotropic
  Gaussian, ``Rayleigh(sigma)``, with ``sigma = s_v V_vir`` (``V_vir = sqrt(G M / R_vir)``,
  :func:`galhalo.catalog.virial.virial_velocity`, km/s), independent of the radius.

``fit`` is maximum likelihood: ``s_v`` in closed form, ``s_v^2 = sum((v_r^2 + v_t^2) /
V_vir^2) / (3 n)``; ``ln c_factor`` (and ``c_slope``) by bounded L-BFGS-B with the exact
gradient; 1-sigma errors from the Fisher information. The redshift and Omega_m of
``R_vir`` and ``V_vir`` come from the training catalog's metadata (or the
hyperparameters ``redshift``/``omega_m``; a plain table without metadata: z = 0 and
:data:`~galhalo.catalog.virial.DEFAULT_OMEGA_M`) and are stored in ``config.json``.
A galaxy table with ``is_central`` is reduced to its satellite rows.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import optimize

from .. import __version__
from ..catalog import Catalog
from ..catalog.virial import DEFAULT_OMEGA_M, omega_m_of, virial_velocity
from ..errors import ModelError
from ..profiles import duffy08_concentration, nfw_enclosed, nfw_radii
from .hod import fisher_errors
from .interface import ConditionalModel, Table, column_matrix, split_rows, table_of
from .store import ModelFiles, read_model_directory, write_model_directory

__all__ = ["TARGET", "NFWModel", "nfw_log_density", "nfw_mean_radius", "radial_score",
           "rounded_up", "satellites_of"]

#: The target of every profile model, in this order.
TARGET = ("r_host", "v_r", "v_t")
MASS, CONCENTRATION = "M_h", "C_h"
#: Bounds of ln c_factor and of c_slope in the likelihood maximisation.
LN_FACTOR_BOUNDS, SLOPE_BOUNDS = (math.log(1e-3), math.log(1e3)), (-5.0, 5.0)


# ----------------------------------------------------------------------------- formulas
def nfw_log_density(s: np.ndarray, concentration: np.ndarray, r_max: float) -> np.ndarray:
    """log p(s) of the NFW profile of ``concentration`` truncated at ``r_max`` (units of
    R_vir): ``2 ln c + ln s - 2 ln(1 + c s) - ln m(c r_max)``; -inf outside (0, r_max].
    Shapes broadcast."""
    s, c = np.asarray(s, dtype=float), np.asarray(concentration, dtype=float)
    inside = (s > 0) & (s <= r_max)
    safe = np.where(inside, s, 1.0)
    value = 2 * np.log(c) + np.log(safe) - 2 * np.log1p(c * safe) - np.log(nfw_enclosed(c * r_max))
    return np.where(inside, value, -np.inf)


def nfw_mean_radius(concentration: np.ndarray, r_max: float) -> np.ndarray:
    """E[s] of that profile: ``(X - 2 ln(1 + X) + X / (1 + X)) / (c m(X))``, ``X = c
    r_max`` (units of R_vir; shape of ``concentration``)."""
    c = np.asarray(concentration, dtype=float)
    x = c * r_max
    return (x - 2 * np.log1p(x) + x / (1 + x)) / (c * nfw_enclosed(x))


def radial_score(s: np.ndarray, concentration: np.ndarray, r_max: float) -> np.ndarray:
    """d log p(s) / d ln c per row: ``2 / (1 + c s) - X^2 / ((1 + X)^2 m(X))``, ``X = c
    r_max``."""
    x = concentration * r_max
    return 2.0 / (1.0 + concentration * s) - x**2 / ((1.0 + x) ** 2 * nfw_enclosed(x))


def rounded_up(largest: float) -> float:
    """The smallest multiple of 0.1 at or above ``largest`` (> 0): the default r_max."""
    tenths = math.ceil(round(10.0 * largest, 9)) / 10.0
    return tenths if tenths >= largest else tenths + 0.1


def satellites_of(table: Catalog | pd.DataFrame | Any) -> Any:
    """The satellite rows of a galaxy table with ``is_central``; the table otherwise."""
    if isinstance(table, Catalog):
        return table.satellites().table if table.has_satellites else table.table
    if isinstance(table, pd.DataFrame) and "is_central" in table.columns:
        return table[~table["is_central"].to_numpy().astype(bool)]
    return table_of(table)


# ----------------------------------------------------------------------------- the family
class NFWModel(ConditionalModel):
    """Truncated-NFW radii and Gaussian/Rayleigh velocities of satellites (see the module).

    Hyperparameters: ``r_max`` (truncation radius in R_vir; None: the largest training
    ``r_host`` rounded up to 0.1); ``redshift``, ``omega_m`` (None: from the training
    catalog's metadata).

    After ``fit``: ``parameters`` {c_factor, s_v[, c_slope]}, ``errors`` (1-sigma, None at
    a bound), ``r_max``, ``redshift``, ``omega_m``; with ``C_h`` also ``residual_line``
    {intercept, slope, scatter} of ln C_h against M_h.
    """

    family = "nfw"
    #: The target columns the family requires, in this order.
    required_target: ClassVar[tuple[str, ...]] = TARGET
    defaults: ClassVar[dict[str, Any]] = {"r_max": None, "redshift": None, "omega_m": None}

    def __init__(self, **hyperparameters: Any):
        super().__init__(**hyperparameters)
        for key, value in self.hyperparameters.items():
            number = not isinstance(value, bool) and isinstance(value, int | float)
            allowed = number and math.isfinite(value) and (value >= 0 if key == "redshift"
                                                           else value > 0)
            if value is not None and not allowed:
                raise ModelError(f"{key} must be None or a finite number "
                                 f"{'>= 0' if key == 'redshift' else '> 0'}, got {value!r}")
        self.parameters: dict[str, float] = {}
        self.errors: dict[str, float | None] = {}
        self.residual_line: dict[str, float] = {}
        self.r_max = self.redshift = self.omega_m = math.nan

    def _set_columns(self, condition, target) -> None:
        super()._set_columns(condition, target)
        if self.target != TARGET:
            raise ModelError(f"an nfw model's target is exactly {','.join(TARGET)}, got "
                             f"{','.join(self.target)!r}")
        if self.condition not in ((MASS,), (MASS, CONCENTRATION)):
            raise ModelError(f"an nfw model's condition is {MASS} or {MASS},{CONCENTRATION}, "
                             f"got {','.join(self.condition)!r}")

    # ------------------------------------------------------------------ per-row laws
    def _residual(self, x: np.ndarray) -> np.ndarray:
        line = self.residual_line
        return ((np.log(x[:, 1]) - line["intercept"] - line["slope"] * x[:, 0])
                / line["scatter"])

    def _concentration(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """c per row (rows,) for theta = (ln c_factor[, c_slope])."""
        log_c = theta[0] + np.log(duffy08_concentration(x[:, 0], self.redshift))
        if len(theta) > 1:
            log_c = log_c + theta[1] * self._residual(x)
        return np.exp(log_c)

    def _theta(self) -> np.ndarray:
        slope = [self.parameters["c_slope"]] if len(self.condition) > 1 else []
        return np.array([math.log(self.parameters["c_factor"]), *slope])

    def _conditions(self, condition_table: Table) -> np.ndarray:
        self._require_fitted()
        return self._checked(column_matrix(condition_table, self.condition, "condition"),
                             "condition")

    def _checked(self, x: np.ndarray, role: str) -> np.ndarray:
        """``x`` itself; a ModelError naming the rows where ``C_h`` (if used) is <= 0."""
        if len(self.condition) > 1 and (x[:, 1] <= 0).any():
            bad = np.flatnonzero(x[:, 1] <= 0)
            raise ModelError(f"{role} column {CONCENTRATION!r}: {len(bad)} of {len(x)} "
                             f"rows are <= 0 (first at row {int(bad[0])})")
        return x

    def laws(self, condition_table: Table) -> tuple[np.ndarray, np.ndarray]:
        """(NFW concentration c, velocity dispersion sigma in km/s) per row, each (rows,)."""
        x = self._conditions(condition_table)
        sigma = self.parameters["s_v"] * virial_velocity(x[:, 0], self.redshift, self.omega_m)
        return self._concentration(self._theta(), x), sigma

    # ------------------------------------------------------------------ interface
    def fit(self, catalog, condition, target, valid=0.2, seed: int = 0,
            progress: bool = True) -> NFWModel:
        """Maximum likelihood on the training rows (satellites of a galaxy catalog);
        ``valid`` a held-out fraction (seeded split) or a validation table. A failed fit
        leaves the model unfitted."""
        try:
            return self._fit(catalog, condition, target, valid, seed)
        except ModelError:
            self.condition, self.target, self.parameters = (), (), {}
            raise

    def _fit(self, catalog, condition, target, valid, seed: int) -> NFWModel:
        self._set_columns(condition, target)
        meta = catalog.meta if isinstance(catalog, Catalog) else None
        hyper = self.hyperparameters
        self.redshift = float(hyper["redshift"] if hyper["redshift"] is not None
                              else meta.redshift if meta is not None else 0.0)
        self.omega_m = float(hyper["omega_m"] if hyper["omega_m"] is not None
                             else omega_m_of(meta.cosmology) if meta is not None
                             else DEFAULT_OMEGA_M)
        rows = satellites_of(catalog)
        x = self._checked(column_matrix(rows, self.condition, "condition"), "condition")
        y = column_matrix(rows, self.target, "target")
        if isinstance(valid, Catalog | pd.DataFrame):
            held = satellites_of(valid)
            x_valid = self._checked(column_matrix(held, self.condition,
                                                  "validation condition"),
                                    "validation condition")
            y_valid = column_matrix(held, self.target, "validation target")
            self.check_row_counts(len(x), len(x_valid))
        else:
            train, held = split_rows(len(x), valid, seed, *self.row_minimums(3),
                                     what=f"a {self.family} model")
            x, x_valid, y, y_valid = x[train], x[held], y[train], y[held]
        self._check_support(x, y)
        self.r_max = float(hyper["r_max"] if hyper["r_max"] is not None
                           else rounded_up(float(y[:, 0].max())))
        if (y[:, 0] > self.r_max).any():
            raise ModelError(f"{int((y[:, 0] > self.r_max).sum())} training rows have r_host "
                             f"> r_max = {self.r_max:g} (largest {y[:, 0].max():g}): raise "
                             "r_max or drop them")
        self.seed = seed
        self._maximise(x, y)
        train_nll = -float(self._log_prob(x, y).mean())
        valid_log_prob = self._log_prob(x_valid, y_valid)
        self.metrics = {"train_rows": len(x), "valid_rows": len(x_valid),
                        "train_nll": train_nll, "valid_nll": -float(valid_log_prob.mean()),
                        "valid_zero_probability": int(np.isinf(valid_log_prob).sum()),
                        **{f"param_{k}": v for k, v in self.parameters.items()}}
        return self

    def _check_support(self, x: np.ndarray, y: np.ndarray) -> None:
        for column, name in ((y[:, 0], "r_host"), (y[:, 2], "v_t")):
            if (column <= 0).any():
                bad = np.flatnonzero(column <= 0)
                raise ModelError(f"training target column {name!r}: {len(bad)} of "
                                 f"{len(column)} rows are <= 0 (first at row {int(bad[0])}); "
                                 "the nfw density is 0 there")
        if len(self.condition) > 1:
            self._fit_residual_line(x)

    def _fit_residual_line(self, x: np.ndarray) -> None:
        """Fit the least-squares line of ln C_h against M_h (training rows)."""
        ln_c = np.log(x[:, 1])
        slope, intercept = (np.polyfit(x[:, 0], ln_c, 1) if np.ptp(x[:, 0]) > 0
                            else (0.0, float(ln_c.mean())))
        scatter = float(np.std(ln_c - intercept - slope * x[:, 0]))
        if not scatter > 0:
            raise ModelError(f"training condition column {CONCENTRATION!r} has no scatter "
                             f"about its line in {MASS}: condition on {MASS} alone")
        self.residual_line = {"intercept": float(intercept), "slope": float(slope),
                              "scatter": scatter}

    def _maximise(self, x: np.ndarray, y: np.ndarray) -> None:
        s, (v_r, v_t) = y[:, 0], y[:, 1:].T
        v_vir = virial_velocity(x[:, 0], self.redshift, self.omega_m)
        rows = len(y)
        s_v = math.sqrt(float(((v_r**2 + v_t**2) / v_vir**2).sum()) / (3 * rows))
        residual = self._residual(x) if len(self.condition) > 1 else None

        def nll(theta):
            c = self._concentration(theta, x)
            score = radial_score(s, c, self.r_max)
            gradient = [-score.sum()] + ([] if residual is None else [-(score * residual).sum()])
            return -float(nfw_log_density(s, c, self.r_max).sum()) / rows, \
                np.array(gradient) / rows

        bounds = [LN_FACTOR_BOUNDS] + ([] if residual is None else [SLOPE_BOUNDS])
        start = np.zeros(len(bounds))
        best = optimize.minimize(nll, start, method="L-BFGS-B", jac=True, bounds=bounds)
        if not np.isfinite(best.fun):
            raise ModelError("the nfw likelihood is not finite at its optimum")
        names = ("ln_c_factor", "c_slope")[:len(bounds)]
        errors = fisher_errors(lambda t: nll(t)[1] * rows, best.x, bounds, names)
        self.parameters = {"c_factor": math.exp(best.x[0]), "s_v": s_v}
        self.errors = {"c_factor": (None if errors["ln_c_factor"] is None
                                    else self.parameters["c_factor"] * errors["ln_c_factor"]),
                       # s_v^2 ~ s_v^2 chi2(3n) / 3n: var(s_v) = s_v^2 / (6 n).
                       "s_v": s_v / math.sqrt(6 * rows)}
        if residual is not None:
            self.parameters["c_slope"] = float(best.x[1])
            self.errors["c_slope"] = errors["c_slope"]

    def _log_prob(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        c = self._concentration(self._theta(), x)
        sigma = self.parameters["s_v"] * virial_velocity(x[:, 0], self.redshift, self.omega_m)
        s, v_r, v_t = y.T
        radial = nfw_log_density(s, c, self.r_max)
        normal = -0.5 * (v_r / sigma) ** 2 - np.log(sigma) - 0.5 * math.log(2 * math.pi)
        with np.errstate(divide="ignore", invalid="ignore"):
            rayleigh = np.where(v_t > 0, np.log(np.where(v_t > 0, v_t, 1.0))
                                - 2 * np.log(sigma) - 0.5 * (v_t / sigma) ** 2, -np.inf)
        return radial + normal + rayleigh

    def log_prob(self, condition_table: Table, target_table: Table) -> np.ndarray:
        """Exact log p(r_host, v_r, v_t | condition) per row, (rows,), in the units of
        the targets (r_host in R_vir, velocities km/s); -inf for r_host outside (0, r_max]
        or v_t <= 0."""
        x = self._conditions(condition_table)
        y = column_matrix(target_table, self.target, "target")
        if len(y) != len(x):
            raise ModelError(f"condition has {len(x)} rows but target has {len(y)}")
        return self._log_prob(x, y)

    def sample(self, condition_table: Table, n_per_row: int = 1, seed: int = 0) -> np.ndarray:
        """Draws (n_per_row, rows, 3) of (r_host, v_r, v_t): radii by the exact inverse CDF
        (:func:`galhalo.profiles.nfw_radii`), then the Gaussian and the Rayleigh speed."""
        c, sigma = self.laws(condition_table)
        rng = np.random.default_rng(seed)
        shape = (n_per_row, len(c))
        radius = nfw_radii(c, rng.random(shape), self.r_max)
        return np.stack([radius, sigma * rng.standard_normal(shape),
                         rng.rayleigh(1.0, shape) * sigma], axis=-1)

    def predict(self, condition_table: Table) -> np.ndarray:
        """The mean (rows, 3): E[r_host] (:func:`nfw_mean_radius`), 0, sigma sqrt(pi/2)."""
        c, sigma = self.laws(condition_table)
        return np.column_stack([nfw_mean_radius(c, self.r_max), np.zeros_like(c),
                                sigma * math.sqrt(math.pi / 2)])

    # ------------------------------------------------------------------ store
    def save(self, directory: str | Path) -> Path:
        self._require_fitted()
        config = {"family": self.family, "galhalo_version": __version__,
                  "hyperparameters": self.hyperparameters, "condition": list(self.condition),
                  "target": list(self.target), "parameters": self.parameters,
                  "errors": self.errors, "r_max": self.r_max, "redshift": self.redshift,
                  "omega_m": self.omega_m, "residual_line": self.residual_line or None,
                  "seed": self.seed,
                  "metrics": {key: value if np.isfinite(value) else None
                              for key, value in self.metrics.items()}}
        return write_model_directory(directory, config, ModelFiles())

    @classmethod
    def load(cls, directory: str | Path) -> NFWModel:
        config = read_model_directory(directory, cls.family).config
        try:
            model = cls(**config["hyperparameters"])
            model._set_columns(config["condition"], config["target"])
            model.parameters = {k: float(v) for k, v in config["parameters"].items()}
            model.errors = dict(config.get("errors", {}))
            model.r_max, model.redshift, model.omega_m = (
                float(config[key]) for key in ("r_max", "redshift", "omega_m"))
            model.residual_line = {k: float(v) for k, v in
                                   (config.get("residual_line") or {}).items()}
            missing = [key for key in ("c_factor", "s_v") + (("c_slope",) if len(
                model.condition) > 1 else ()) if key not in model.parameters]
            if missing or (len(model.condition) > 1 and "scatter" not in model.residual_line):
                raise KeyError(missing or "residual_line")
        except (KeyError, TypeError, ValueError) as err:
            raise ModelError(f"{directory}: not a complete nfw model ({err!r} missing or "
                             "malformed)") from None
        model.seed, model.metrics = config.get("seed"), config.get("metrics", {})
        return model
