"""Sub-halo population of the synthetic universe: counts, peak masses, infall, stripping,
positions and velocities of the sub-halos that host satellite galaxies.

Per host of virial mass ``M_h`` (log10 Msun/h) at the snapshot redshift:

* **peak masses**: the unevolved sub-halo mass function of Jiang & van den Bosch (2016,
  MNRAS 458, 2848), in ``psi = m_peak / M_host``::

      dN/dln(psi) = (gamma1 psi^alpha1 + gamma2 psi^alpha2) exp(-beta psi^zeta),  psi <= 1

  with their fit for sub-halos of all orders (Table A1, "unevolved, total": gamma1 =
  0.22, alpha1 = -0.91, beta = 6, zeta = 3, gamma2 = 0; their eq. 14, (0.13, -0.83,
  1.33, -0.02, 5.67, 1.19), is the first-order function alone), times
  ``survival_fraction``, the share of accreted sub-halos that still host an
  identifiable galaxy today, above ``log10 m_peak >= log_peak_min``;
* **counts**: negative binomial with mean ``mu(M_h) A(r_C)`` and variance
  ``m + (count_scatter m)^2`` for that mean m (super-Poisson; Boylan-Kolchin et al.
  2010, MNRAS 406, 896, and Jiang & van den Bosch 2017, MNRAS 472, 657, measure
  ``sigma_I ~ 0.18``). ``A(r_C) = exp(count_assembly r_C - count_assembly^2 / 2)`` is
  the occupation assembly bias: ``r_C`` is the host's standardised ``C_h`` residual at
  fixed mass, exactly N(0, 1) at every mass, so ``E[A] = 1`` and ``mu(M_h)`` stays the
  mean count at fixed mass. At fixed mass, more concentrated, earlier-forming hosts keep
  fewer sub-halos (Zentner et al. 2005, ApJ 624, 505; Mao, Williamson & Wechsler 2015,
  ApJ 810, 21): ``count_assembly = -0.3``, i.e. -26 % per standard deviation of ``C_h``;
* **infall redshift**: the host's mass history ``M(z) = M_0 exp(-a_h z)`` with
  ``a_h = ln 2 / z_h`` (Wechsler et al. 2002; ``M(z_h) = M_0 / 2``); a sub-halo of
  ratio psi can only have fallen in while ``M(z) > m_peak``, i.e. at ``z < -ln(psi) /
  a_h``; within that range ``z_infall - z_snapshot`` is exponential with rate
  ``infall_rate_factor * a_h`` (survivors fell in later than the mass: early accretions
  are disrupted first; Gao et al. 2004, van den Bosch et al. 2005);
* **stripping**: ``log10 f_bound = -stripping_rate * t_infall * exp(stripping_scatter g)``
  (bound fraction decaying exponentially on the host's dynamical time; Jiang & van den
  Bosch 2016: A = 0.86 per dynamical time of ~3.2 Gyr at z = 0 -> 0.12 dex/Gyr);
  ``Vmax_peak = vmax_vvir_infall * V_vir(m_peak, z_infall)``; today's Vmax from the
  tidal track of Penarrubia et al. (2008, ApJ 673, 226):
  ``Vmax / Vmax_peak = 2^0.4 f^0.3 / (1 + f)^0.4``;
* **positions**: ``r / R_vir`` from an NFW profile truncated at R_vir with
  ``c_sat = concentration_factor * c_host`` (satellite galaxies trace a profile about
  half as concentrated as their host's mass: McDonough & Brainerd 2022, ApJ 933, 161,
  in TNG100); ``c_host`` from the concentration-mass relation of Duffy et al. (2008,
  MNRAS 390, L64; virial, full sample) ``c = 7.85 (M / 2e12)^-0.081 (1 + z)^-0.71``
  times ``exp(concentration_scatter * r_C)``, ``r_C`` the host's standardised ``C_h``
  residual at fixed mass (so concentrated hosts in ``C_h`` are concentrated here),
  clipped to ``[concentration_min, concentration_max]``. (Inverting ``C_h = Vmax /
  V_vir`` for an NFW c is not an option: the TNG-like ``C_h`` has its median near 1.0,
  the smallest ratio an NFW halo can have.) Isotropic directions;
* **velocities**: the isotropic Jeans equation of the c_sat tracer in the host's NFW
  potential gives ``sigma_r(r)`` (tabulated in units of V_vir); three Gaussian components
  of that dispersion are added to the central's velocity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.interpolate import RegularGridInterpolator
from scipy.special import roots_legendre

from ..errors import SimulationError
from ..profiles import duffy08_concentration, nfw_enclosed, nfw_radii
from .cosmology import Cosmology
from .parameters import check_parameter_names

__all__ = ["SubhaloModel", "host_concentration", "nfw_enclosed", "nfw_radii",
           "radial_dispersion", "tidal_vmax_ratio"]

#: Vmax / V_vir of an NFW halo is smallest, 1.0, at this concentration (r_max = R_vir).
_C_AT_MINIMUM = 2.1626
#: Gauss-Legendre nodes of the peak-mass quadratures (in log10 m_peak, per host).
QUADRATURE_NODES = 256
#: ln(psi) grid of the tabulated cumulative sub-halo mass function (sampling).
_LN_PSI = np.linspace(np.log(1e-12), 0.0, 30_001)


def host_concentration(log_mass: np.ndarray, residual: np.ndarray, redshift: float,
                       scatter: float = 0.3, low: float = 2.5, high: float = 30.0
                       ) -> np.ndarray:
    """NFW concentration of hosts: Duffy et al. (2008) c_vir(M, z) times
    ``exp(scatter * residual)``, clipped to [low, high]; the shape of the inputs.

    ``log_mass``: log10 virial mass (Msun/h); ``residual``: the standardised ``C_h``
    residual at fixed mass (``HaloModel.latents(...)[:, 1]``).
    """
    median = duffy08_concentration(log_mass, redshift)
    return np.clip(median * np.exp(scatter * np.asarray(residual, dtype=float)), low, high)


def tidal_vmax_ratio(bound_fraction: np.ndarray) -> np.ndarray:
    """Vmax / Vmax_peak after tidal stripping to ``bound_fraction`` (Penarrubia+ 2008)."""
    f = np.asarray(bound_fraction, dtype=float)
    return 2.0**0.4 * f**0.3 / (1.0 + f) ** 0.4


@lru_cache(maxsize=8)
def _dispersion_table(factor: float, low: float, high: float) -> RegularGridInterpolator:
    """ln(sigma_r / V_vir) on a (ln s, ln c_host) grid for tracer concentration factor c."""
    ln_s = np.linspace(np.log(1e-3), 0.0, 61)
    ln_c = np.linspace(np.log(low), np.log(high), 33)
    w = np.linspace(0.0, 14.0, 4001)  # t = s e^w out to 1.2e6 s: the tail is ~t^-4
    s = np.exp(ln_s)[:, None]
    t = s * np.exp(w)[None, :]
    variance = np.empty((len(ln_s), len(ln_c)))
    for j, c in enumerate(np.exp(ln_c)):  # one concentration at a time: 2 MB arrays
        tracer = factor * c
        # nu(t) / nu(s) for nu(x) = 1 / (c_t x (1 + c_t x)^2), times G M(<t) / t^2 / V_vir^2.
        ratio = (s / t) * ((1.0 + tracer * s) / (1.0 + tracer * t)) ** 2
        integrand = ratio * nfw_enclosed(c * t) / (nfw_enclosed(c) * t)
        variance[:, j] = np.trapezoid(integrand, w, axis=1)
    return RegularGridInterpolator((ln_s, ln_c), 0.5 * np.log(variance))


def radial_dispersion(s: np.ndarray, c_host: np.ndarray, factor: float,
                      low: float = 2.5, high: float = 30.0) -> np.ndarray:
    """Isotropic-Jeans sigma_r / V_vir of an NFW tracer (concentration ``factor * c_host``)
    at ``s = r / R_vir`` in the NFW potential of ``c_host`` (extended beyond R_vir), with
    zero pressure at infinity. Tabulated once per ``factor`` on 61 x 33 points in
    (ln s, ln c), s >= 1e-3 (clipped), c in [low, high]; interpolation error < 1e-3."""
    ln_s = np.log(np.clip(np.asarray(s, dtype=float), 1e-3, 1.0))
    ln_c = np.log(np.clip(np.asarray(c_host, dtype=float), low, high))
    table = _dispersion_table(float(factor), float(low), float(high))
    return np.exp(table(np.column_stack([ln_s.ravel(), ln_c.ravel()]))).reshape(ln_s.shape)


@dataclass(frozen=True)
class SubhaloModel:
    """The sub-halo population; docs/universe.md ("Satellites") has every motivation.

    Attributes:
        shmf_gamma1, shmf_alpha1, shmf_gamma2, shmf_alpha2, shmf_beta, shmf_zeta: the
            unevolved sub-halo mass function of Jiang & van den Bosch (2016), all orders
            (their Table A1; the second term is off).
        survival_fraction: share of the accreted sub-halos that host a satellite galaxy
            today (the rest merged with the central or were disrupted).
        log_peak_min: resolution limit, log10 m_peak (Msun/h); chosen so that a galaxy
            at this peak mass has P(smass >= 8.75) < 1e-4.
        count_scatter: sigma_I, the super-Poisson scatter of the counts.
        count_assembly: occupation assembly bias, d ln(mean count) per unit of the
            host's standardised ``C_h`` residual at fixed mass (negative: concentrated
            hosts have fewer sub-halos; Zentner et al. 2005, Mao et al. 2015). A
            parameter dict without it (written before it existed) loads as 0.
        infall_rate_factor: infall-redshift rate of survivors over the host's mass
            accretion rate ln 2 / z_h.
        formation_floor: smallest z_h used in that rate.
        stripping_rate: dex of bound mass lost per Gyr since infall (median).
        stripping_scatter: log-normal scatter of that rate (ln).
        vmax_vvir_infall: Vmax / V_vir at the peak (an NFW of c ~ 10).
        concentration_factor: c_sat / c_host of the satellites' radial profile.
        concentration_scatter: ln-scatter of the host concentration at fixed mass
            (Duffy et al. 2008: sigma(log10 c) ~ 0.1-0.15 dex, i.e. 0.25-0.35 in ln c).
        concentration_min, concentration_max: clip of the host concentration.
    """

    shmf_gamma1: float = 0.22
    shmf_alpha1: float = -0.91
    shmf_gamma2: float = 0.0
    shmf_alpha2: float = 0.0
    shmf_beta: float = 6.0
    shmf_zeta: float = 3.0
    survival_fraction: float = 0.32
    log_peak_min: float = 10.6
    count_scatter: float = 0.18
    count_assembly: float = -0.3
    infall_rate_factor: float = 2.0
    formation_floor: float = 0.1
    stripping_rate: float = 0.12
    stripping_scatter: float = 0.3
    vmax_vvir_infall: float = 1.2
    concentration_factor: float = 0.5
    concentration_scatter: float = 0.3
    concentration_min: float = 2.5
    concentration_max: float = 30.0

    def __post_init__(self) -> None:
        for name in ("survival_fraction", "count_scatter", "infall_rate_factor",
                     "formation_floor", "stripping_rate", "vmax_vvir_infall",
                     "concentration_factor", "concentration_min"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise SimulationError(f"SubhaloModel.{name} must be finite and > 0, got {value}")
        if self.survival_fraction > 1:
            raise SimulationError("SubhaloModel.survival_fraction must be in (0, 1]")
        if not self.concentration_min < self.concentration_max:
            raise SimulationError("SubhaloModel.concentration_min must be below concentration_max")
        if self.stripping_scatter < 0:
            raise SimulationError("SubhaloModel.stripping_scatter must be >= 0")
        if not np.isfinite(self.count_assembly):
            raise SimulationError(f"SubhaloModel.count_assembly must be finite, got "
                                  f"{self.count_assembly}")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> SubhaloModel:
        """Inverse of :meth:`to_dict`; unknown keys are an error. Without
        ``count_assembly`` (a universe simulated before the term existed) it is 0."""
        check_parameter_names(cls, params, "sub-halo model")
        return cls(**{"count_assembly": 0.0, **params})

    # ------------------------------------------------------------------ mass function
    def mass_function(self, psi: np.ndarray) -> np.ndarray:
        """dN/dln(psi) per host before survival, psi = m_peak / M_host (any shape)."""
        psi = np.asarray(psi, dtype=float)
        return ((self.shmf_gamma1 * psi**self.shmf_alpha1
                 + self.shmf_gamma2 * psi**self.shmf_alpha2)
                * np.exp(-self.shmf_beta * psi**self.shmf_zeta))

    def _ln_cumulative(self) -> np.ndarray:
        """ln N(> psi) on the ``_LN_PSI`` grid (psi up to 1), before survival."""
        return _ln_cumulative(tuple(self.to_dict().items()))

    def _ln_psi_min(self, log_host: np.ndarray) -> np.ndarray:
        ln_psi = (self.log_peak_min - np.asarray(log_host, dtype=float)) * np.log(10.0)
        if np.any(ln_psi < _LN_PSI[0]):
            raise SimulationError("host masses more than 12 dex above log_peak_min")
        return ln_psi

    def mean_count(self, log_host: np.ndarray) -> np.ndarray:
        """mu(M_h): mean number of sub-halos above ``log_peak_min`` per host at fixed
        mass (averaged over the ``C_h`` residual; a host's own mean is this times
        :meth:`assembly_factor`), shape of input. Hosts below ``log_peak_min`` have none.
        """
        ln_psi = np.minimum(self._ln_psi_min(log_host), 0.0)
        return self.survival_fraction * np.exp(np.interp(ln_psi, _LN_PSI,
                                                         self._ln_cumulative()))

    def assembly_factor(self, residual: np.ndarray) -> np.ndarray:
        """A(r_C) = exp(count_assembly r_C - count_assembly^2 / 2): a host's mean count
        over the mean at its mass, for its standardised ``C_h`` residual ``r_C`` (shape of
        input). ``E[A] = 1`` exactly for ``r_C ~ N(0, 1)`` (the residual's law at every
        mass, ``HaloModel``), so the mean count at fixed mass is ``mu(M_h)``."""
        a = self.count_assembly
        return np.exp(a * np.asarray(residual, dtype=float) - 0.5 * a * a)

    def quadrature(self, log_host: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nodes (n, K) in log10 m_peak and weights (n, K) such that
        ``sum_j w_j g(x_j) = survival * integral g dN/dln(psi)`` over the resolved range
        (Gauss-Legendre, K = ``QUADRATURE_NODES``, on ``[log_peak_min, M_h]``)."""
        log_host = np.asarray(log_host, dtype=float)
        nodes, weights = roots_legendre(QUADRATURE_NODES)
        width = np.maximum(log_host - self.log_peak_min, 0.0)[:, None]
        x = self.log_peak_min + width * 0.5 * (nodes + 1.0)[None, :]
        psi = 10.0 ** (x - log_host[:, None])
        w = (0.5 * width * weights[None, :] * np.log(10.0) * self.survival_fraction
             * self.mass_function(psi))
        return x, w

    def concentration(self, log_host: np.ndarray, residual: np.ndarray,
                      redshift: float) -> np.ndarray:
        """The hosts' NFW concentration c_host (:func:`host_concentration` with this
        model's scatter and clip); the satellites' is ``concentration_factor`` times it.
        Shape of the inputs (``residual``: the standardised ``C_h`` residual)."""
        return host_concentration(log_host, residual, redshift, self.concentration_scatter,
                                  self.concentration_min, self.concentration_max)

    # ------------------------------------------------------------------ draws
    def draw_counts(self, log_host: np.ndarray, residual: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
        """Negative-binomial numbers of sub-halos per host (int64, shape of input) of
        mean ``mu(M_h) A(r_C)``; ``residual``: the hosts' standardised ``C_h`` residual."""
        mean = self.mean_count(log_host) * self.assembly_factor(residual)
        shape = 1.0 / self.count_scatter**2
        counts = np.zeros(mean.shape, dtype=np.int64)
        some = mean > 0
        counts[some] = rng.negative_binomial(shape, shape / (shape + mean[some]))
        return counts

    def draw_peak_masses(self, log_host: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """log10 m_peak for sub-halos of hosts ``log_host`` (one per entry), above the limit."""
        table = self._ln_cumulative()
        ln_total = np.interp(self._ln_psi_min(log_host), _LN_PSI, table)
        # N(> psi) = u N(> psi_min): u -> 0 at psi = 1, u = 1 at the resolution limit.
        target = np.log(1.0 - rng.random(len(log_host))) + ln_total
        ln_psi = np.interp(target, table[::-1], _LN_PSI[::-1])
        return np.asarray(log_host, dtype=float) + ln_psi / np.log(10.0)

    def draw_infall(self, z_h: np.ndarray, ln_psi: np.ndarray, redshift: float,
                    rng: np.random.Generator) -> np.ndarray:
        """Infall redshifts: redshift + a truncated exponential (see the module docstring)."""
        host_rate = np.log(2.0) / np.maximum(np.asarray(z_h, dtype=float), self.formation_floor)
        rate = self.infall_rate_factor * host_rate
        # exp(-rate z_max) with z_max = -ln(psi) / host_rate:
        tail = np.exp(self.infall_rate_factor * np.asarray(ln_psi, dtype=float))
        return redshift - np.log1p(-rng.random(len(rate)) * (1.0 - tail)) / rate

    def draw_bound_fraction(self, time_since_infall: np.ndarray,
                            rng: np.random.Generator) -> np.ndarray:
        """log10 f_bound (<= 0) after ``time_since_infall`` Gyr."""
        scatter = np.exp(self.stripping_scatter * rng.standard_normal(len(time_since_infall)))
        return -self.stripping_rate * np.asarray(time_since_infall) * scatter

    def draw(self, hosts: dict[str, np.ndarray], cosmology: Cosmology, redshift: float,
             rng: np.random.Generator) -> dict[str, np.ndarray]:
        """All sub-halos above the resolution limit of the given hosts.

        Args:
            hosts: ``M_h``, ``z_h`` and ``C_residual`` (the standardised ``C_h``
                residual at fixed mass) arrays (n,) of the hosts.
            cosmology, redshift: the universe's.
            rng: the satellite seed stream.

        Returns:
            dict of arrays (m,) for the m sub-halos, grouped by host in host order:
            ``host`` (index into the hosts), ``M_peak``, ``z_infall``, ``M_sub``,
            ``Vmax_peak``, ``Vmax_sub``, ``r_host``, ``offset`` (m, 3; comoving Mpc/h
            from the central), ``velocity`` (m, 3; km/s relative to the central).
        """
        log_host = np.asarray(hosts["M_h"], dtype=float)
        residual = np.asarray(hosts["C_residual"], dtype=float)
        counts = self.draw_counts(log_host, residual, rng)
        host = np.repeat(np.arange(len(log_host)), counts)
        m_host = log_host[host]
        m_peak = self.draw_peak_masses(m_host, rng)
        ln_psi = (m_peak - m_host) * np.log(10.0)
        z_infall = self.draw_infall(np.asarray(hosts["z_h"])[host], ln_psi, redshift, rng)
        elapsed = cosmology.age(redshift) - cosmology.age(z_infall)
        log_bound = self.draw_bound_fraction(elapsed, rng)
        vmax_peak = self.vmax_vvir_infall * cosmology.virial_velocity(m_peak, z_infall)
        c_host = self.concentration(m_host, residual[host], redshift)
        r_host = nfw_radii(self.concentration_factor * c_host, rng.random(len(host)))
        direction = rng.standard_normal((len(host), 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        radius = cosmology.virial_radius(m_host, redshift) * r_host
        sigma = (radial_dispersion(r_host, c_host, self.concentration_factor,
                                   self.concentration_min, self.concentration_max)
                 * cosmology.virial_velocity(m_host, redshift))
        velocity = sigma[:, None] * rng.standard_normal((len(host), 3))
        return {
            "host": host, "M_peak": m_peak, "z_infall": z_infall,
            "M_sub": m_peak + log_bound, "Vmax_peak": vmax_peak,
            "Vmax_sub": vmax_peak * tidal_vmax_ratio(10.0**log_bound),
            "r_host": r_host, "offset": radius[:, None] * direction, "velocity": velocity,
            "time_since_infall": elapsed,
        }


@lru_cache(maxsize=8)
def _ln_cumulative(params: tuple[tuple[str, float], ...]) -> np.ndarray:
    """ln of N(> psi) = integral_psi^1 dN/dln(psi') dln(psi') on ``_LN_PSI`` (trapezoid,
    cumulated from psi = 1 down; exact to ~1e-7 relative on this grid)."""
    model = SubhaloModel(**dict(params))
    density = model.mass_function(np.exp(_LN_PSI))
    steps = 0.5 * (density[1:] + density[:-1]) * np.diff(_LN_PSI)
    above = np.concatenate([np.cumsum(steps[::-1])[::-1], [0.0]])
    # psi = 1 itself: N = 0; keep the log finite with a floor far below any count.
    return np.log(np.maximum(above, 1e-300))
