"""The known truth of satellite galaxies: an exact p(galaxy | host, sub-halo, central).

A satellite is star-forming (SF) or quenched (Q), like a central, and its
``(smass, color, sSFR, radius)`` follow the same two-component Gaussian mixture with
the same stellar-mass cut (``mixture.Mixture``, shared with the centrals):

* **stellar mass** from the peak mass through the centrals' SHMR:
  ``mu_smass = SHMR(M_peak) + smass_offset``, scatter ``smass_scatter`` (the same in
  both components), so the selection probability depends on ``M_peak`` alone;
* **quenched fraction**::

      logit pi_Q = quench_base + quench_infall_time (t_infall - 5 Gyr)
                 + quench_host_mass (M_h - 13) - quench_radius ln(r_host)
                 + quench_peak_mass (M_peak - 11.5)
                 + quench_conformity sigmoid((-11 - sSFR_central) / 0.25)

  with ``t_infall`` the time since infall (flat LCDM, the universe's cosmology);
* **colour, sSFR** on the centrals' sequences of each component given ``mu_smass``;
  **radius** on the centrals' size relation at ``M_peak`` plus the component's offset
  plus ``radius_stripping (M_sub - M_peak)`` (stripped satellites are more compact).

Conditions: the host's ``M_h`` (the other halo columns are accepted and unused), the
sub-halo's ``M_peak, M_sub, z_infall, r_host`` and the central's ``sSFR_central``.

**Counts.** A host has ``N ~ NegBin(mu(M_h) A(r_C), sigma_I)`` sub-halos above the
resolution limit with iid peak masses, ``A(r_C) = exp(a r_C - a^2 / 2)`` the occupation
assembly bias (``a = count_assembly``, ``r_C`` the host's standardised ``C_h`` residual
at fixed mass; ``SubhaloModel.assembly_factor``); each passes the cut with probability
``P_sel(M_peak)``, so by thinning of a gamma-Poisson the number above the cut is exactly
NegBin with mean ``mu pbar A`` (``pbar``: ``P_sel`` averaged over the peak-mass
function, a function of ``M_h``) and the same shape ``1 / sigma_I^2``;
:meth:`SatelliteModel.satellite_count_log_prob` is its pmf. The count law's host
columns are :meth:`SatelliteModel.count_condition`: ``M_h``, and ``C_h`` unless
``count_assembly`` is 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from scipy.special import expit, log_ndtr, ndtr
from scipy.stats import nbinom

from ..catalog.schema import GALAXY
from ..errors import SimulationError
from .cosmology import Cosmology
from .mixture import Mixture, log_expit
from .parameters import check_parameter_names
from .subhalos import SubhaloModel

__all__ = ["SATELLITE_CONDITION", "SatelliteModel", "SatelliteTruth"]

#: Columns of the condition table a satellite's density needs.
SATELLITE_CONDITION = ("M_h", "M_peak", "M_sub", "z_infall", "r_host", "sSFR_central")
#: sSFR (log10 1/yr) below which a central counts as quenched in the conformity term,
#: and the width of that soft threshold.
CONFORMITY_THRESHOLD = -11.0
CONFORMITY_WIDTH = 0.25
#: Pivot of the time-since-infall term (Gyr).
INFALL_TIME_PIVOT = 5.0


@dataclass(frozen=True)
class SatelliteTruth:
    """Parameters of the satellite truth (defaults: docs/universe.md, "Satellites").

    Attributes:
        smass_offset: dex added to the centrals' SHMR at M_peak.
        smass_scatter: stellar-mass scatter at fixed M_peak (dex).
        quench_base, quench_infall_time (per Gyr), quench_host_mass (per dex),
        quench_radius (per e-fold closer to the centre), quench_peak_mass (per dex),
        quench_conformity: terms of the satellites' quenched-fraction logit.
        radius_stripping: dex of radius per dex of bound mass lost (M_sub - M_peak).
        subhalos: the sub-halo population.
        cosmology, redshift: the universe's (time since infall); ``simulate`` sets them.
    """

    smass_offset: float = 0.0
    smass_scatter: float = 0.2
    quench_base: float = -1.0
    quench_infall_time: float = 0.3
    quench_host_mass: float = 1.5
    quench_radius: float = 0.5
    quench_peak_mass: float = 1.3
    quench_conformity: float = 1.0
    radius_stripping: float = 0.1
    subhalos: SubhaloModel = field(default_factory=SubhaloModel)
    cosmology: Cosmology = field(default_factory=Cosmology)
    redshift: float = 0.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.smass_scatter) or self.smass_scatter <= 0:
            raise SimulationError(f"smass_scatter must be > 0, got {self.smass_scatter}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> SatelliteTruth:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        check_parameter_names(cls, params, "satellite-truth")
        values = dict(params)
        if isinstance(values.get("subhalos"), dict):
            values["subhalos"] = SubhaloModel.from_dict(values["subhalos"])
        if isinstance(values.get("cosmology"), dict):
            values["cosmology"] = Cosmology(**values["cosmology"])
        return cls(**values)

    def for_universe(self, cosmology: Cosmology, redshift: float) -> SatelliteTruth:
        """The same parameters in the given universe."""
        return replace(self, cosmology=cosmology, redshift=float(redshift))


def _column(table, name: str) -> np.ndarray:
    return np.asarray(table[name], dtype=float)


class SatelliteModel:
    """The satellite density bound to its central truth (which supplies the SHMR, the
    size relation, the component sequences and the stellar-mass cut).

    Args:
        central: a ``TruthModel`` (anything with ``shmr``, ``size_relation``,
            ``satellite_components`` and ``stellar_mass_cut``).
        params: the :class:`SatelliteTruth`.
    """

    def __init__(self, central: Any, params: SatelliteTruth):
        self.central = central
        self.params = params
        self.cut = float(central.stellar_mass_cut)

    # ------------------------------------------------------------------ relations
    def smass_mean(self, m_peak: np.ndarray) -> np.ndarray:
        """Mean log10 stellar mass (before selection) at peak mass ``m_peak``."""
        return self.central.shmr(np.asarray(m_peak, dtype=float)) + self.params.smass_offset

    def peak_selection(self, m_peak: np.ndarray) -> np.ndarray:
        """P(smass >= cut | M_peak), any shape."""
        return ndtr((self.smass_mean(m_peak) - self.cut) / self.params.smass_scatter)

    def time_since_infall(self, z_infall: np.ndarray) -> np.ndarray:
        """Gyr between ``z_infall`` and the snapshot."""
        cosmology = self.params.cosmology
        return cosmology.age(self.params.redshift) - cosmology.age(np.asarray(z_infall, float))

    def _condition(self, table) -> dict[str, np.ndarray]:
        missing = [name for name in SATELLITE_CONDITION if name not in table]
        if missing:
            raise SimulationError(
                f"the satellite truth needs the condition columns {missing} (sub-halo "
                f"columns and sSFR_central, the central's sSFR: "
                f"galhalo.catalog.hosts.central_values(table, 'sSFR'))")
        return {name: _column(table, name) for name in SATELLITE_CONDITION}

    def quench_logit(self, table) -> np.ndarray:
        """logit pi_Q before selection, shape (n,)."""
        c, p = self._condition(table), self.params
        conformity = expit((CONFORMITY_THRESHOLD - c["sSFR_central"]) / CONFORMITY_WIDTH)
        return (p.quench_base
                + p.quench_infall_time * (self.time_since_infall(c["z_infall"])
                                          - INFALL_TIME_PIVOT)
                + p.quench_host_mass * (c["M_h"] - 13.0)
                - p.quench_radius * np.log(c["r_host"])
                + p.quench_peak_mass * (c["M_peak"] - 11.5)
                + p.quench_conformity * conformity)

    def quenched_fraction(self, table) -> np.ndarray:
        """pi_Q before selection (equal to it after: the cut does not depend on k)."""
        return expit(self.quench_logit(table))

    def conditional(self, table) -> Mixture:
        """The mixture p(galaxy | host, sub-halo, central) per row (before selection)."""
        c = self._condition(table)
        logit = self.quench_logit(table)
        smass = self.smass_mean(c["M_peak"])
        size = (self.central.size_relation(c["M_peak"])
                + self.params.radius_stripping * (c["M_sub"] - c["M_peak"]))
        means, scales = [], []
        for component in self.central.satellite_components:
            means.append(np.column_stack([
                smass,
                component.color_at_10 + component.color_slope * (smass - 10.0),
                component.ssfr_at_10 + component.ssfr_slope * (smass - 10.0),
                size + component.radius_offset,
            ]))
            scales.append(np.column_stack([
                np.full_like(smass, self.params.smass_scatter),
                np.full_like(smass, component.color_scatter),
                np.full_like(smass, component.ssfr_scatter),
                np.full_like(smass, component.radius_scatter),
            ]))
        return Mixture(
            log_weights=np.stack([log_expit(-logit), log_expit(logit)], axis=1),
            means=np.stack(means, axis=1), scales=np.stack(scales, axis=1),
            correlations=np.stack([k.correlation_matrix
                                   for k in self.central.satellite_components]),
            cut=self.cut)

    # ------------------------------------------------------------------ density API
    def log_prob(self, table, galaxy, columns: tuple[str, ...] | None = None) -> np.ndarray:
        """Exact log p(galaxy | condition, selected), shape (n,); as ``TruthModel.log_prob``."""
        columns = GALAXY if columns is None else tuple(columns)
        if not columns or any(name not in GALAXY for name in columns):
            raise SimulationError(f"columns must be a non-empty subset of {GALAXY}, got {columns}")
        values = np.column_stack([_column(galaxy, name) for name in columns])
        return self.conditional(table).log_prob(values, [GALAXY.index(n) for n in columns])

    def cdf(self, table, values: np.ndarray, column: str) -> np.ndarray:
        """Exact P(column <= value | condition, selected), shape (n,)."""
        if column not in GALAXY:
            raise SimulationError(f"column must be one of {GALAXY}, got {column!r}")
        return self.conditional(table).cdf(np.asarray(values, dtype=float), GALAXY.index(column))

    def selection_probability(self, table) -> np.ndarray:
        """P(smass >= cut | sub-halo) = P_sel(M_peak), shape (n,)."""
        return self.peak_selection(self._condition(table)["M_peak"])

    def sample(self, table, n: int = 1, seed: int | np.random.Generator | None = 0,
               selected: bool = True) -> np.ndarray:
        """Draws of shape (n, rows, 4) (``smass, color, sSFR, radius``)."""
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise SimulationError(f"n must be a positive integer, got {n}")
        mixture = self.conditional(table)
        rows = mixture.log_weights.shape[0]
        draws = mixture.repeat(int(n)).sample(np.random.default_rng(seed), selected)
        return draws.reshape(int(n), rows, -1)

    # ------------------------------------------------------------------ counts
    def _host_mass(self, halo) -> np.ndarray:
        if "M_h" not in halo:
            raise SimulationError("satellite counts need the host column 'M_h'")
        return np.atleast_1d(_column(halo, "M_h"))

    @property
    def count_condition(self) -> tuple[str, ...]:
        """Host columns the count law reads: ``("M_h", "C_h")``, or ``("M_h",)`` when
        ``count_assembly`` is 0."""
        return ("M_h",) if self.params.subhalos.count_assembly == 0 else ("M_h", "C_h")

    def count_assembly_factor(self, halo) -> np.ndarray:
        """A(r_C) = exp(a r_C - a^2 / 2), the hosts' mean count over the mean at their
        mass (``SubhaloModel.assembly_factor`` of :meth:`concentration_residual`), shape
        (n,); ones without reading ``C_h`` when ``count_assembly`` is 0.

        Raises:
            SimulationError: ``count_assembly`` is not 0 and the table has no ``C_h``.
        """
        mass = self._host_mass(halo)
        subhalos = self.params.subhalos
        if subhalos.count_assembly == 0:
            return np.ones(len(mass))
        if "C_h" not in halo:
            raise SimulationError(
                f"satellite counts need the host column 'C_h' (count_assembly = "
                f"{subhalos.count_assembly}: the mean count depends on the host's C_h "
                f"residual at fixed mass)")
        return subhalos.assembly_factor(self.concentration_residual(halo))

    def selected_fraction(self, halo) -> np.ndarray:
        """pbar(M_h): P_sel averaged over the resolved peak-mass function, shape (n,)
        (a function of ``M_h`` alone)."""
        mass = self._host_mass(halo)
        total = self.params.subhalos.mean_count(mass)
        return np.divide(self._selected_mean(mass), total, out=np.zeros_like(total),
                         where=total > 0)

    def _selected_mean(self, mass: np.ndarray, chunk: int = 8192) -> np.ndarray:
        out = np.empty(len(mass))
        for start in range(0, len(mass), chunk):
            x, w = self.params.subhalos.quadrature(mass[start:start + chunk])
            out[start:start + chunk] = (w * self.peak_selection(x)).sum(axis=1)
        return out

    def satellite_count_mean(self, halo, *, at_fixed_mass: bool = False) -> np.ndarray:
        """E[N_sat | host] = mu(M_h) pbar(M_h) A(r_C): satellites above the cut, shape
        (n,); needs :attr:`count_condition`. ``at_fixed_mass``: without the factor A,
        i.e. the mean over hosts of that mass (``E[A] = 1``), from ``M_h`` alone."""
        mean = self._selected_mean(self._host_mass(halo))
        return mean if at_fixed_mass else mean * self.count_assembly_factor(halo)

    def satellite_count_variance(self, halo) -> np.ndarray:
        """Var[N_sat | host] = m + (sigma_I m)^2 with m the mean, shape (n,)."""
        mean = self.satellite_count_mean(halo)
        return mean + (self.params.subhalos.count_scatter * mean) ** 2

    def satellite_count_factorial2(self, halo) -> np.ndarray:
        """E[N_sat (N_sat - 1) | host] = Var + m^2 - m = (1 + sigma_I^2) m^2: the mean
        number of ordered satellite pairs of a host, shape (n,)."""
        mean = self.satellite_count_mean(halo)
        return (1.0 + self.params.subhalos.count_scatter**2) * mean**2

    def satellite_profile(self, halo) -> tuple[np.ndarray, np.ndarray]:
        """The hosts' satellite profile as the universe draws it: (R_vir, c_sat), the
        comoving virial radius (Mpc/h) and the concentration of the truncated NFW the
        satellites follow, ``concentration_factor`` x the host's (Duffy et al. 2008,
        scattered by the host's ``C_h`` residual); shapes (n,). Needs the host columns
        ``M_h, C_h``."""
        mass = self._host_mass(halo)
        residual = self.concentration_residual(halo)
        model, redshift = self.params.subhalos, self.params.redshift
        c_sat = model.concentration_factor * model.concentration(mass, residual, redshift)
        return self.params.cosmology.virial_radius(mass, redshift), c_sat

    def concentration_residual(self, halo) -> np.ndarray:
        """The hosts' standardised ``C_h`` residual at fixed mass (the central truth's
        ``HaloModel.latents``), which scatters their NFW concentration and their mean
        count; shape (n,). Needs the host columns ``M_h, C_h``."""
        missing = [name for name in ("M_h", "C_h") if name not in halo]
        if missing:
            raise SimulationError(f"the hosts' C_h residual needs the host columns {missing}")
        mass, c_h = self._host_mass(halo), np.atleast_1d(_column(halo, "C_h"))
        # The C_h latent (column 1) depends on M_h and C_h alone; z_h and S_h are
        # placeholders for the other two columns.
        properties = np.column_stack([np.ones_like(c_h), c_h, np.ones_like(c_h)])
        return self.central.halo_model.latents(mass, properties)[:, 1]

    def satellite_count_log_prob(self, halo, counts) -> np.ndarray:
        """log P(N_sat = counts | host), the negative binomial of mean
        :meth:`satellite_count_mean` and shape ``1 / sigma_I^2``, shape (n,)."""
        counts = np.atleast_1d(np.asarray(counts))
        numeric = counts.astype(float) if counts.dtype.kind in "biuf" else None
        if (numeric is None or not np.all(np.isfinite(numeric)) or np.any(numeric < 0)
                or np.any(numeric != np.round(numeric))):
            raise SimulationError("satellite counts must be integers >= 0")
        mean = self.satellite_count_mean(halo)
        if len(mean) != len(numeric):
            raise SimulationError(f"{len(numeric)} counts for {len(mean)} hosts")
        shape = 1.0 / self.params.subhalos.count_scatter**2
        log_p = nbinom.logpmf(numeric, shape, shape / (shape + mean))
        return np.where(mean > 0, log_p, np.where(numeric == 0, 0.0, -np.inf))

    def satellite_count_sample(self, halo, n: int = 1,
                               seed: int | np.random.Generator | None = 0) -> np.ndarray:
        """Draws of N_sat from the count law, int64 of shape (n, hosts)."""
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise SimulationError(f"n must be a positive integer, got {n}")
        rng = np.random.default_rng(seed)
        mean = self.satellite_count_mean(halo)
        shape = 1.0 / self.params.subhalos.count_scatter**2
        draws = np.zeros((int(n), len(mean)), dtype=np.int64)
        some = mean > 0
        draws[:, some] = rng.negative_binomial(shape, shape / (shape + mean[some]),
                                               size=(int(n), int(some.sum())))
        return draws

    def resolution_check(self) -> float:
        """P(smass >= cut) of a sub-halo at the resolution limit (should be < 1e-4)."""
        return float(np.exp(log_ndtr((self.smass_mean(self.params.subhalos.log_peak_min)
                                      - self.cut) / self.params.smass_scatter)))

