"""What every universe of a training suite shares: settings, galaxy models, parameters.

:class:`SuiteSettings` (box, particles, mesh, steps, priors) and the two
stellar-to-halo-mass relations (``standard``, ``alternative``) that paint one central
per FoF halo (:func:`stellar_mass`); the Latin hypercube of parameters, one row per
universe (:func:`parameter_table`, parameters.txt). Running a suite is
:mod:`galhalo.sim.suites`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SuiteError
from .cosmology import Cosmology
from .friends_of_friends import MIN_PARTICLES
from .particle_mesh import COLOSSUS_LOCK

__all__ = [
    "GALAXY_MODELS",
    "PARAMETERS",
    "SAMPLED",
    "SuiteSettings",
    "format_parameter_table",
    "parameter_table",
    "read_parameter_table",
    "stellar_mass",
    "universe_seed",
]

#: Columns of parameters.txt after the name, in order.
PARAMETERS = ("Omega_m", "sigma_8", "smhm_norm", "smhm_slope", "smhm_scatter",
              "selection_factor", "seed")
#: The parameters drawn from the Latin hypercube (all but the seed).
SAMPLED = PARAMETERS[:-1]
#: Halo-mass pivot (log10 Msun/h) of both stellar-to-halo-mass relations.
PIVOT_MASS = 11.8
#: Decimals kept of the sampled parameters (the table holds exactly what was simulated).
DECIMALS = 6


# --------------------------------------------------------------------------- galaxy models


def _standard(log_mass: np.ndarray, norm: float, slope: float) -> np.ndarray:
    """Double power law (Moster et al. 2010 form): M*/M = 2 10^norm / (x^-slope + x^0.6),
    x = M / 10^PIVOT_MASS; M*/M = 10^norm at the pivot."""
    x = log_mass - PIVOT_MASS
    ratio = math.log10(2.0) + norm - np.log10(10.0 ** (-slope * x) + 10.0 ** (0.6 * x))
    return log_mass + ratio


def _behroozi_f(x: np.ndarray, alpha: float) -> np.ndarray:
    delta, gamma = 3.5, 0.32
    with np.errstate(over="ignore"):  # exp(10^-x) -> inf far below the pivot: term -> 0
        bend = delta * np.log10(1.0 + np.exp(x)) ** gamma / (1.0 + np.exp(10.0 ** -x))
    return -np.log10(10.0 ** (alpha * x) + 1.0) + bend


def _alternative(log_mass: np.ndarray, norm: float, slope: float) -> np.ndarray:
    """Behroozi et al. (2013) form: log M* = log(M1 10^norm) + f(x) - f(0), x = log(M/M1),
    with the low-mass slope of M*/M equal to ``slope`` (alpha = -(1 + slope)) and the
    high-mass bend delta = 3.5, gamma = 0.32."""
    x = log_mass - PIVOT_MASS
    alpha = -(1.0 + slope)
    return PIVOT_MASS + norm + _behroozi_f(x, alpha) - _behroozi_f(np.zeros(1), alpha)[0]


def _standard_scatter(log_mass: np.ndarray, scatter: float) -> np.ndarray:
    return np.full_like(log_mass, scatter)


def _alternative_scatter(log_mass: np.ndarray, scatter: float) -> np.ndarray:
    """Larger scatter in small halos: scatter x (1 + 0.4 (12 - log M)), within [0.5, 2] x."""
    return scatter * np.clip(1.0 + 0.4 * (12.0 - log_mass), 0.5, 2.0)


#: name -> (mean log10 M*(log10 M_h, norm, slope), scatter(log10 M_h, scatter)), dex.
GALAXY_MODELS: dict[str, tuple[Callable, Callable]] = {
    "standard": (_standard, _standard_scatter),
    "alternative": (_alternative, _alternative_scatter),
}


def stellar_mass(model: str, log_mass: np.ndarray, norm: float, slope: float,
                 scatter: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """log10 M* (Msun/h) of centrals in halos of log10 mass ``log_mass`` (Msun/h).

    ``smhm_norm`` is log10(M*/M_h) at the pivot 10^11.8 Msun/h, ``smhm_slope`` the
    low-mass logarithmic slope of M*/M_h, ``smhm_scatter`` the log-normal scatter in dex
    (constant for ``standard``, mass-dependent for ``alternative``). Without ``rng`` the
    mean relation is returned. Shape as ``log_mass``.
    """
    if model not in GALAXY_MODELS:
        raise SuiteError(f"unknown galaxy model {model!r}; known: {', '.join(GALAXY_MODELS)}")
    mean_of, scatter_of = GALAXY_MODELS[model]
    log_mass = np.asarray(log_mass, dtype=float)
    mean = mean_of(log_mass, norm, slope)
    if rng is None:
        return mean
    return mean + scatter_of(log_mass, scatter) * rng.standard_normal(log_mass.shape)


# --------------------------------------------------------------------------- settings


def _range(name: str, value: Any, lower: float, upper: float) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SuiteError(f"{name} must be a pair (low, high), got {value!r}") from None
    if not (lower <= low < high <= upper):
        raise SuiteError(f"{name} must satisfy {lower} <= low < high <= {upper}, got "
                         f"({low}, {high})")
    return low, high


@dataclass(frozen=True)
class SuiteSettings:
    """Everything a suite's universes share (lengths Mpc/h, masses log10 Msun/h).

    Attributes:
        box_size: periodic box side (25 Mpc/h, like CAMELS).
        particles: particles per side, a power of two >= 16.
        mesh: PM mesh cells per side (default 2 x particles: FastPM's usual choice).
        steps: KDK steps, uniform in the scale factor.
        z_start: redshift of the 2LPT initial conditions.
        redshift: snapshot redshift (0 only).
        galaxy_model: ``"standard"`` or ``"alternative"`` (the out-of-distribution suite).
        stellar_mass_cut: log10 M* of the selection before the per-universe factor;
            ``None``: the mean ``standard`` relation (prior-centre nuisance) at the mass of
            ``complete_particles`` particles in the densest universe of the prior.
        complete_particles: see ``stellar_mass_cut``.
        omega_b, hubble, n_s: fixed cosmological parameters (CAMELS values).
        omega_m_range, sigma_8_range: the cosmological prior (uniform).
        norm_range, slope_range, scatter_range: the nuisance prior (uniform).
        selection_range: the selection-threshold factor (uniform).
    """

    box_size: float = 25.0
    particles: int = 64
    mesh: int | None = None
    steps: int = 30
    z_start: float = 49.0
    redshift: float = 0.0
    galaxy_model: str = "standard"
    stellar_mass_cut: float | None = None
    complete_particles: int = 50
    omega_b: float = 0.049
    hubble: float = 0.6711
    n_s: float = 0.9624
    omega_m_range: tuple[float, float] = (0.1, 0.5)
    sigma_8_range: tuple[float, float] = (0.6, 1.0)
    norm_range: tuple[float, float] = (-1.9, -1.4)
    slope_range: tuple[float, float] = (1.0, 2.0)
    scatter_range: tuple[float, float] = (0.1, 0.3)
    selection_range: tuple[float, float] = (1.0, 2.0)

    def __post_init__(self) -> None:
        if not (isinstance(self.box_size, int | float) and math.isfinite(self.box_size)
                and self.box_size > 0):
            raise SuiteError(f"box_size must be finite and > 0 (Mpc/h), got {self.box_size}")
        n = self.particles
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 16 or n & (n - 1):
            raise SuiteError(f"particles must be a power of two >= 16, got {n!r}")
        if self.mesh is not None and (isinstance(self.mesh, bool) or self.mesh < n
                                      or self.mesh % 2):
            raise SuiteError(f"mesh must be an even number >= particles ({n}), got {self.mesh}")
        if isinstance(self.steps, bool) or not 1 <= self.steps <= 1000:
            raise SuiteError(f"steps must be in [1, 1000], got {self.steps}")
        if not (math.isfinite(self.z_start) and 5 <= self.z_start <= 200):
            raise SuiteError(f"z_start must be in [5, 200], got {self.z_start}")
        if self.redshift != 0:
            raise SuiteError(f"only redshift 0 snapshots are supported, got {self.redshift}")
        if self.galaxy_model not in GALAXY_MODELS:
            raise SuiteError(f"unknown galaxy model {self.galaxy_model!r}; known: "
                             f"{', '.join(GALAXY_MODELS)}")
        if self.stellar_mass_cut is not None and not 4 <= self.stellar_mass_cut <= 13:
            raise SuiteError("stellar_mass_cut must be log10 M* in [4, 13] (Msun/h), got "
                             f"{self.stellar_mass_cut}")
        if not MIN_PARTICLES <= self.complete_particles <= 10_000:
            raise SuiteError(f"complete_particles must be in [{MIN_PARTICLES}, 10000], got "
                             f"{self.complete_particles}")
        if not (0 < self.omega_b < 0.1 and 0.3 < self.hubble < 1.2 and 0.7 < self.n_s < 1.3):
            raise SuiteError(f"omega_b, hubble, n_s ({self.omega_b}, {self.hubble}, "
                             f"{self.n_s}) are outside (0, 0.1), (0.3, 1.2), (0.7, 1.3)")
        checked = {
            "omega_m_range": _range("omega_m_range", self.omega_m_range,
                                    2 * self.omega_b, 1.0),
            "sigma_8_range": _range("sigma_8_range", self.sigma_8_range, 0.1, 2.0),
            "norm_range": _range("norm_range", self.norm_range, -4.0, 0.0),
            "slope_range": _range("slope_range", self.slope_range, -1.0, 4.0),
            "scatter_range": _range("scatter_range", self.scatter_range, 0.0, 1.5),
            "selection_range": _range("selection_range", self.selection_range, 0.1, 100.0),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "particles", int(n))

    @property
    def mesh_size(self) -> int:
        return self.mesh if self.mesh is not None else 2 * self.particles

    def particle_mass(self, omega_m: float) -> float:
        """Msun/h per particle for matter density ``omega_m``."""
        cosmology = Cosmology(name="mass", Om0=omega_m, Ob0=min(self.omega_b, omega_m / 2))
        with COLOSSUS_LOCK:
            density = cosmology.mean_matter_density()
        return float(density * self.box_size**3 / self.particles**3)

    @property
    def cut(self) -> float:
        """The stellar-mass cut (log10 Msun/h) before the selection factor."""
        if self.stellar_mass_cut is not None:
            return float(self.stellar_mass_cut)
        log_mass = math.log10(self.complete_particles
                              * self.particle_mass(self.omega_m_range[1]))
        centre = [0.5 * sum(getattr(self, key)) for key in ("norm_range", "slope_range")]
        return round(float(stellar_mass("standard", np.array([log_mass]), *centre, 0.0)[0]), 3)

    @property
    def priors(self) -> dict[str, tuple[float, float]]:
        """Sampled parameter -> its (low, high) prior range."""
        return dict(zip(SAMPLED, (self.omega_m_range, self.sigma_8_range, self.norm_range,
                                  self.slope_range, self.scatter_range, self.selection_range),
                        strict=True))

    def to_dict(self) -> dict[str, Any]:
        """The settings with the resolved mesh and cut (what suite.json records)."""
        data = asdict(self)
        data["mesh"] = self.mesh_size
        data["stellar_mass_cut"] = self.cut
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SuiteSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SuiteError(f"unknown suite settings {unknown}; known: {sorted(known)}")
        return cls(**{key: tuple(value) if isinstance(value, list) else value
                      for key, value in data.items()})


# --------------------------------------------------------------------------- the table


def universe_seed(seed: int, index: int) -> int:
    """The 63-bit seed of universe ``index`` of a run with seed ``seed``."""
    state = np.random.SeedSequence(int(seed), spawn_key=(int(index),)).generate_state(
        2, np.uint32)
    return (int(state[0]) << 31) | (int(state[1]) >> 1)


def parameter_table(universes: int, settings: SuiteSettings, seed: int) -> pd.DataFrame:
    """The Latin hypercube of a suite: index ``LH_<i>``, columns :data:`PARAMETERS`.

    One stratum per universe in every sampled dimension (scipy's LatinHypercube, seeded
    by the run seed), scaled to the priors and rounded to :data:`DECIMALS` decimals.
    """
    from scipy.stats import qmc

    sampler = qmc.LatinHypercube(d=len(SAMPLED), rng=np.random.default_rng(
        np.random.SeedSequence(int(seed), spawn_key=(2**31,))))
    unit = sampler.random(universes)
    lows = np.array([low for low, _ in settings.priors.values()])
    highs = np.array([high for _, high in settings.priors.values()])
    # the values exactly as parameters.txt prints them, so a table read back from the
    # file reproduces every universe bit for bit
    values = np.clip(lows + unit * (highs - lows), lows, highs)
    values = np.array([[float(f"{value:.{DECIMALS}f}") for value in row] for row in values])
    table = pd.DataFrame(values, columns=list(SAMPLED),
                         index=pd.Index([f"LH_{i}" for i in range(universes)], name="Name"))
    table["seed"] = [universe_seed(seed, i) for i in range(universes)]
    return table


def format_parameter_table(table: pd.DataFrame) -> str:
    """The text of parameters.txt for ``table`` (as :func:`read_parameter_table` reads it)."""
    lines = ["#Name " + " ".join(PARAMETERS)]
    for name in table.index:  # per column: a row Series would hold the seed as a float
        numbers = " ".join(f"{table.at[name, key]:.{DECIMALS}f}" for key in SAMPLED)
        lines.append(f"{name} {numbers} {int(table.at[name, 'seed'])}")
    return "\n".join(lines) + "\n"


def read_parameter_table(path: str | Path) -> pd.DataFrame:
    """Read a CAMELS-layout parameter table (``#Name col ...`` header); index = Name."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            header = handle.readline().lstrip("#").split()
        types = {"Name": str, **({"seed": np.int64} if "seed" in header else {})}
        table = pd.read_csv(path, sep=r"\s+", comment=None, skiprows=1, names=header,
                            dtype=types)
    except (OSError, ValueError) as err:
        raise SuiteError(f"{path}: not a readable parameter table ({err})") from None
    if header[:1] != ["Name"] or "Omega_m" not in header:
        raise SuiteError(f"{path}: header must start with '#Name' and name Omega_m")
    return table.set_index("Name")
