"""The known-truth galaxy model p(galaxy | halo), with an exact log-density.

A central galaxy is star-forming (SF) or quenched (Q). Given the halo, the galaxy
properties ``(smass, color, sSFR, radius)`` follow a two-component Gaussian mixture:

    p(g | h) = sum_k pi_k(h) N(g; mu_k(h), Sigma_k(h)) 1[smass >= cut] / P_sel(h)

* ``pi_Q(h)``: quenched fraction, a logistic function of halo mass, formation time
  (older halos quench more) and environment (dense regions quench low-mass centrals);
* ``mu_k(h)``: the stellar-to-halo-mass relation (a double power law) plus a formation-
  time term, colour and sSFR sequences that depend on the component and on the mean
  stellar mass, and a size-halo-mass relation with a spin term (galaxy assembly bias);
* ``Sigma_k(h) = D(h) R_k D(h)``: correlated scatter with a halo-mass-dependent
  stellar-mass scatter (heteroscedastic);
* the stellar-mass selection ``smass >= cut`` (8.75, the TNG300 sample) is part of the
  model: ``P_sel(h) = sum_k pi_k Phi((mu_k,smass - cut) / sigma_smass)`` renormalises it,
  so ``log_prob`` is the exact density of the selected sample.

Secondary halo properties enter as residuals at fixed mass (``HaloModel.latents``), so
"at fixed halo mass" has one meaning shared with the universe that made the halos.
Every marginal over a subset of the galaxy columns is also exact (Gaussian algebra, with
the selection integrated analytically when ``smass`` is marginalised out).
docs/truth_model.md explains every parameter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.special import expit

from ..catalog.schema import GALAXY, HALO, STELLAR_MASS_CUT
from ..errors import CatalogError, SimulationError
from .halos import HaloModel
from .mixture import Mixture, log_expit
from .parameters import check_parameter_names
from .presets import CLASSIC, preset_class
from .satellite_truth import SatelliteModel, SatelliteTruth

COMPONENTS = ("star_forming", "quenched")


@dataclass(frozen=True)
class Component:
    """Mean relations and scatter of one population (SF or Q).

    Means (``s`` = the component's mean stellar mass, M = M_h, z/s-hat = formation-time
    and spin residuals at fixed mass):
    ``color = color_at_10 + color_slope (s - 10)``;
    ``sSFR = ssfr_at_10 + ssfr_slope (s - 10) + ssfr_formation z-hat``;
    ``radius = size relation(M) + radius_offset``;
    ``smass = SHMR(M) + smass_formation z-hat + smass_offset_low_mass w_low(M)``.
    Scatter: standard deviations of colour, sSFR, radius and the correlation matrix of
    (smass, color, sSFR, radius).
    """

    color_at_10: float
    color_slope: float
    ssfr_at_10: float
    ssfr_slope: float
    ssfr_formation: float
    radius_offset: float
    smass_offset_low_mass: float
    color_scatter: float
    ssfr_scatter: float
    radius_scatter: float
    correlation: tuple[tuple[float, ...], ...]

    @property
    def correlation_matrix(self) -> np.ndarray:
        return np.array(self.correlation, dtype=float)


_STAR_FORMING = Component(
    color_at_10=0.68, color_slope=0.14,
    ssfr_at_10=-9.95, ssfr_slope=-0.12, ssfr_formation=-0.10,
    radius_offset=0.0, smass_offset_low_mass=0.0,
    color_scatter=0.17, ssfr_scatter=0.25, radius_scatter=0.13,
    correlation=((1.00, 0.40, -0.30, 0.30),
                 (0.40, 1.00, -0.60, 0.05),
                 (-0.30, -0.60, 1.00, 0.10),
                 (0.30, 0.05, 0.10, 1.00)),
)

_QUENCHED = Component(
    color_at_10=1.09, color_slope=0.03,
    ssfr_at_10=-12.6, ssfr_slope=-0.25, ssfr_formation=0.0,
    radius_offset=-0.04, smass_offset_low_mass=0.30,
    color_scatter=0.055, ssfr_scatter=1.0, radius_scatter=0.14,
    correlation=((1.00, 0.30, -0.20, 0.40),
                 (0.30, 1.00, -0.40, 0.00),
                 (-0.20, -0.40, 1.00, 0.00),
                 (0.40, 0.00, 0.00, 1.00)),
)


@dataclass(frozen=True)
class TruthModel:
    """Parameters of the known-truth galaxy model (defaults calibrated on TNG300 centrals).

    Stellar-to-halo-mass relation (log10, Moster-like double power law):
    ``SHMR(M) = shmr_norm + M - log10(10^(-shmr_low_slope x) + 10^(shmr_high_slope x))``,
    ``x = M - shmr_pivot``; plus ``smass_formation`` dex per unit formation-time residual.
    Stellar-mass scatter: ``smass_scatter_high + (smass_scatter_low - smass_scatter_high)
    sigmoid((smass_scatter_pivot - M) / 0.3)`` dex.
    Low-mass weight: ``w_low(M) = sigmoid((low_mass_pivot - M) / low_mass_width)``.
    Quenched fraction: ``logit pi_Q = (M - quench_mass) / quench_width
    + quench_formation z-hat + w_low(M) (quench_low_mass + quench_environment
    (ln Delta3_h - ln 2))``: beside mass quenching, low-mass quenched centrals in dense
    environments (splashback / stripped halos, which also carry more stellar mass for
    their halo mass: ``smass_offset_low_mass``).
    Size relation: ``radius = radius_at_11 + radius_slope (M - 11) + radius_cluster_slope
    w ln(1 + exp((M - radius_break) / w))`` with ``w = 0.25``, plus ``radius_spin`` per
    unit spin residual.
    """

    stellar_mass_cut: float = STELLAR_MASS_CUT
    shmr_norm: float = -1.445
    shmr_pivot: float = 11.755
    shmr_low_slope: float = 1.2
    shmr_high_slope: float = 0.3705
    smass_formation: float = 0.13
    smass_scatter_low: float = 0.22
    smass_scatter_high: float = 0.16
    smass_scatter_pivot: float = 12.0
    quench_mass: float = 12.0
    quench_width: float = 0.15
    quench_formation: float = 0.6
    quench_low_mass: float = 4.5
    quench_environment: float = 1.5
    low_mass_pivot: float = 11.0
    low_mass_width: float = 0.15
    radius_at_11: float = 0.45
    radius_slope: float = 0.07
    radius_cluster_slope: float = 0.45
    radius_break: float = 12.2
    radius_spin: float = 0.035
    star_forming: Component = _STAR_FORMING
    quenched: Component = _QUENCHED
    halo_model: HaloModel = field(default_factory=HaloModel)
    satellites: SatelliteTruth | None = None

    #: Name of this galaxy model in ``presets.GALAXY_PRESETS``.
    preset: ClassVar[str] = CLASSIC
    #: The fields holding a :class:`Component`.
    component_fields: ClassVar[tuple[str, ...]] = COMPONENTS

    def __post_init__(self) -> None:
        for component in self.components:
            matrix = component.correlation_matrix
            if matrix.shape != (4, 4) or not np.allclose(matrix, matrix.T):
                raise SimulationError("component correlation must be a symmetric 4x4 matrix")
            np.linalg.cholesky(matrix)

    # ------------------------------------------------------------------ parameters
    @property
    def components(self) -> tuple[Component, ...]:
        """The mixture components of the centrals, in mixture order."""
        return tuple(getattr(self, name) for name in self.component_fields)

    @property
    def satellite_components(self) -> tuple[Component, Component]:
        """The (star-forming, quenched) sequences the satellite truth uses."""
        return (self.star_forming, self.quenched)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters (stored in the catalog metadata); ``satellites`` only
        when set, so a centrals-only truth has the same dict as before it existed; a
        ``preset`` key first unless this is the classic model (whose dict is unchanged)."""
        params = asdict(self)
        if self.satellites is None:
            del params["satellites"]
        if self.preset != CLASSIC:
            params = {"preset": self.preset, **params}
        return params

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> TruthModel:
        """Inverse of :meth:`to_dict`: the model of the dict's ``preset`` (classic
        without one); unknown keys are an error."""
        values = dict(params)
        model = preset_class(values.pop("preset", CLASSIC))
        if not issubclass(model, cls):
            raise SimulationError(f"a {cls.__name__} cannot load preset {model.preset!r}")
        check_parameter_names(model, values, "truth-model")
        for name in model.component_fields:
            if name in values and isinstance(values[name], dict):
                component = dict(values[name])
                component["correlation"] = tuple(tuple(row) for row in component["correlation"])
                values[name] = Component(**component)
        if isinstance(values.get("halo_model"), dict):
            values["halo_model"] = HaloModel(**values["halo_model"])
        if isinstance(values.get("satellites"), dict):
            values["satellites"] = SatelliteTruth.from_dict(values["satellites"])
        return model(**values)

    @property
    def satellite_model(self) -> SatelliteModel:
        """The satellite density (:class:`SatelliteModel`) bound to these centrals."""
        if self.satellites is None:
            raise SimulationError("this truth model has no satellite part (satellites=None); "
                                  "simulate with satellites=True to get one")
        return SatelliteModel(self, self.satellites)

    def _satellite_rows(self, halo) -> np.ndarray | None:
        """Mask of the satellite rows (``is_central`` false), None if there are none."""
        if "is_central" not in halo:
            return None
        satellite = ~np.asarray(halo["is_central"]).astype(bool)
        if not satellite.any():
            return None
        if self.satellites is None:
            raise SimulationError(f"{int(satellite.sum())} rows are satellites (is_central "
                                  f"false) but this truth model has no satellite part")
        return satellite

    # ------------------------------------------------------------------ relations
    def shmr(self, log_mass: np.ndarray) -> np.ndarray:
        """Median log10 stellar mass of star-forming centrals at mean formation time."""
        x = log_mass - self.shmr_pivot
        return self.shmr_norm + log_mass - np.log10(
            10.0 ** (-self.shmr_low_slope * x) + 10.0 ** (self.shmr_high_slope * x))

    def smass_scatter(self, log_mass: np.ndarray) -> np.ndarray:
        """Stellar-mass scatter in dex at halo mass M (heteroscedastic)."""
        return self.smass_scatter_high + (self.smass_scatter_low - self.smass_scatter_high) * (
            expit((self.smass_scatter_pivot - log_mass) / 0.3))

    def size_relation(self, log_mass: np.ndarray) -> np.ndarray:
        """Median log10 half-mass radius (kpc/h) at halo mass M."""
        width = 0.25
        return (self.radius_at_11 + self.radius_slope * (log_mass - 11.0)
                + self.radius_cluster_slope * width
                * np.logaddexp(0.0, (log_mass - self.radius_break) / width))

    def quenched_fraction(self, halo: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        """pi_Q(h) before the stellar-mass selection, shape (n,)."""
        mass, residual, log_delta = self._halo_terms(halo)
        return expit(self._quench_logit(mass, residual, log_delta))

    def low_mass_weight(self, log_mass: np.ndarray) -> np.ndarray:
        """w_low(M): 1 well below ``low_mass_pivot``, 0 well above."""
        return expit((self.low_mass_pivot - log_mass) / self.low_mass_width)

    def _quench_logit(self, mass, residual, log_delta) -> np.ndarray:
        return ((mass - self.quench_mass) / self.quench_width
                + self.quench_formation * residual[:, 0]
                + self.low_mass_weight(mass)
                * (self.quench_low_mass + self.quench_environment * (log_delta - np.log(2.0))))

    def _halo_terms(self, halo) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """M_h (n,), latent residuals (n, 3) in (z_h, C_h, S_h) order, ln Delta3_h (n,)."""
        missing = [name for name in HALO if name not in halo]
        if missing:
            raise CatalogError(f"truth model needs halo columns {missing}")
        mass = np.asarray(halo["M_h"], dtype=float)
        secondary = np.column_stack([np.asarray(halo[name], dtype=float)
                                     for name in ("z_h", "C_h", "S_h")])
        residual = self.halo_model.latents(mass, secondary)
        return mass, residual, np.log(np.asarray(halo["Delta3_h"], dtype=float))

    def conditional(self, halo: pd.DataFrame | dict[str, np.ndarray]) -> Mixture:
        """The mixture p(galaxy | halo) for each row of ``halo`` (before selection)."""
        mass, residual, log_delta = self._halo_terms(halo)
        logit = self._quench_logit(mass, residual, log_delta)
        log_weights = np.stack([log_expit(-logit), log_expit(logit)], axis=1)
        smass_sd = self.smass_scatter(mass)
        base = self.shmr(mass) + self.smass_formation * residual[:, 0]
        size = self.size_relation(mass) + self.radius_spin * residual[:, 2]
        low_mass = self.low_mass_weight(mass)
        means, scales = [], []
        for component in self.components:
            smass = base + component.smass_offset_low_mass * low_mass
            means.append(np.column_stack([
                smass,
                component.color_at_10 + component.color_slope * (smass - 10.0),
                component.ssfr_at_10 + component.ssfr_slope * (smass - 10.0)
                + component.ssfr_formation * residual[:, 0],
                size + component.radius_offset,
            ]))
            scales.append(np.column_stack([
                smass_sd,
                np.full_like(mass, component.color_scatter),
                np.full_like(mass, component.ssfr_scatter),
                np.full_like(mass, component.radius_scatter),
            ]))
        return Mixture(
            log_weights=log_weights, means=np.stack(means, axis=1),
            scales=np.stack(scales, axis=1),
            correlations=np.stack([c.correlation_matrix for c in self.components]),
            cut=self.stellar_mass_cut,
        )

    # ------------------------------------------------------------------ public API
    def log_prob(
        self, halo: pd.DataFrame | dict[str, np.ndarray],
        galaxy: pd.DataFrame | dict[str, np.ndarray], columns: tuple[str, ...] | None = None,
    ) -> np.ndarray:
        """Exact log p(galaxy | halo, selected) in the columns' physical units.

        Args:
            halo: table with ``M_h, C_h, S_h, z_h, Delta3_h`` (n rows). Rows with
                ``is_central`` false (a catalog with satellites) are scored by the
                satellite density (:attr:`satellite_model`), which also needs the
                columns ``satellite_truth.SATELLITE_CONDITION`` (sub-halo columns and
                ``sSFR_central``); ``cdf``, ``sample`` and ``selection_probability``
                route such rows the same way.
            galaxy: table with the galaxy columns to score (n rows).
            columns: which galaxy columns (any non-empty subset of
                ``smass, color, sSFR, radius``; default: all four). Other columns are
                marginalised out exactly.

        Returns:
            shape (n,): log-density per row, in 1 / (product of the columns' units);
            ``-inf`` where ``smass`` is below the cut.
        """
        columns = GALAXY if columns is None else tuple(columns)
        unknown = [name for name in columns if name not in GALAXY]
        if unknown or not columns:
            raise SimulationError(f"columns must be a non-empty subset of {GALAXY}, got {columns}")
        satellite = self._satellite_rows(halo)
        if satellite is not None:
            return _routed(satellite, lambda rows: self.log_prob(_take(halo, rows),
                                                                  _take(galaxy, rows), columns),
                           lambda rows: self.satellite_model.log_prob(
                               _take(halo, rows), _take(galaxy, rows), columns))
        values = np.column_stack([np.asarray(galaxy[name], dtype=float) for name in columns])
        return self.conditional(halo).log_prob(values, [GALAXY.index(n) for n in columns])

    def cdf(
        self, halo: pd.DataFrame | dict[str, np.ndarray], values: np.ndarray, column: str
    ) -> np.ndarray:
        """Exact conditional CDF P(column <= value | halo, selected), shape (n,).

        For the probability integral transform: the values of a correct sample are
        uniform. ``values`` has shape (n,), in the column's unit.
        """
        if column not in GALAXY:
            raise SimulationError(f"column must be one of {GALAXY}, got {column!r}")
        values = np.asarray(values, dtype=float)
        satellite = self._satellite_rows(halo)
        if satellite is not None:
            return _routed(satellite,
                           lambda rows: self.cdf(_take(halo, rows), values[rows], column),
                           lambda rows: self.satellite_model.cdf(_take(halo, rows),
                                                                 values[rows], column))
        return self.conditional(halo).cdf(values, GALAXY.index(column))

    def selection_probability(self, halo: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        """P(smass >= cut | halo), shape (n,) (satellite rows: P_sel(M_peak))."""
        satellite = self._satellite_rows(halo)
        if satellite is not None:
            return _routed(satellite, lambda rows: self.selection_probability(_take(halo, rows)),
                           lambda rows: self.satellite_model.selection_probability(
                               _take(halo, rows)))
        return np.exp(self.conditional(halo).log_selection())

    def sample(
        self, halo: pd.DataFrame | dict[str, np.ndarray], n: int = 1,
        seed: int | np.random.Generator | None = 0, selected: bool = True,
    ) -> np.ndarray:
        """Draw galaxies for every halo row.

        Args:
            halo: table with the halo columns (rows).
            n: draws per halo.
            seed: integer seed (or a numpy Generator).
            selected: draw from the selected density (smass >= cut; the default, the
                density ``log_prob`` scores) or from the mixture before selection.

        Returns:
            shape (n, rows, 4): ``smass, color, sSFR, radius`` in catalog units.
        """
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise SimulationError(f"n must be a positive integer, got {n}")
        rng = np.random.default_rng(seed)
        satellite = self._satellite_rows(halo)
        if satellite is not None:
            draws = np.empty((int(n), len(satellite), len(GALAXY)))
            if (~satellite).any():
                draws[:, ~satellite] = self.sample(_take(halo, ~satellite), n, rng, selected)
            draws[:, satellite] = self.satellite_model.sample(_take(halo, satellite), n, rng,
                                                              selected)
            return draws
        mixture = self.conditional(halo)
        rows = mixture.log_weights.shape[0]
        draws = mixture.repeat(int(n)).sample(rng, selected)
        return draws.reshape(int(n), rows, -1)


def _take(table, rows: np.ndarray):
    """The rows ``rows`` (a boolean mask) of a DataFrame or a dict of arrays."""
    if isinstance(table, pd.DataFrame):
        return table[rows].reset_index(drop=True)
    return {name: np.asarray(value)[rows] for name, value in table.items()}


def _routed(satellite: np.ndarray, central_part, satellite_part) -> np.ndarray:
    """Combine per-row results of the central and the satellite density."""
    out = np.empty(len(satellite))
    out[~satellite] = central_part(~satellite) if (~satellite).any() else []
    out[satellite] = satellite_part(satellite)
    return out
