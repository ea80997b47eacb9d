"""Linear-theory ingredients of the synthetic universe, from colossus.

colossus keeps one "current" cosmology as global state; every function here sets it
from an explicit parameter dict first, so callers never depend on hidden state.
Units: lengths in Mpc/h (comoving), masses in Msun/h, wavenumbers in h/Mpc,
velocities in km/s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import SimulationError

#: Gravitational constant in (km/s)^2 kpc / Msun.
GRAVITATIONAL_CONSTANT = 4.30091e-6


@dataclass(frozen=True)
class Cosmology:
    """Flat LCDM parameters (Planck 2015, the TNG cosmology, by default)."""

    name: str = "planck15"
    Om0: float = 0.3089
    Ob0: float = 0.0486
    H0: float = 67.74
    sigma8: float = 0.8159
    ns: float = 0.9667

    def __post_init__(self) -> None:
        for key in ("Om0", "Ob0", "H0", "sigma8", "ns"):
            value = getattr(self, key)
            if not np.isfinite(value) or value <= 0:
                raise SimulationError(
                    f"cosmology parameter {key} must be finite and > 0, got {value}")
        if self.Ob0 >= self.Om0:
            raise SimulationError(f"Ob0 = {self.Ob0} must be below Om0 = {self.Om0}")

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)

    def colossus(self):
        """Set and return the colossus cosmology (no cache files written)."""
        from colossus.cosmology import cosmology

        params = {key: value for key, value in asdict(self).items() if key != "name"}
        params["flat"] = True
        return cosmology.setCosmology(f"galhalo-{self.name}", params=params, persistence="")

    def linear_power(self, k: np.ndarray, redshift: float = 0.0) -> np.ndarray:
        """Linear matter power spectrum P(k) in (Mpc/h)^3 at ``k`` in h/Mpc."""
        k = np.asarray(k, dtype=float)
        power = np.zeros_like(k)
        positive = k > 0
        power[positive] = self.colossus().matterPowerSpectrum(k[positive], redshift)
        return power

    def growth_rate(self, redshift: float = 0.0) -> float:
        """Linear growth rate f = dlnD/dlna, approximated by Omega_m(z)^0.55."""
        return float(self.colossus().Om(redshift) ** 0.55)

    def velocity_factor(self, redshift: float = 0.0) -> float:
        """Factor turning a comoving Zel'dovich displacement (Mpc/h) into km/s: a H f."""
        cosmo = self.colossus()
        return float(100.0 * cosmo.Ez(redshift) * self.growth_rate(redshift) / (1.0 + redshift))

    def mean_matter_density(self) -> float:
        """Mean comoving matter density in (Msun/h) / (Mpc/h)^3."""
        return float(self.colossus().rho_m(0.0) * 1e9)

    def mass_function(self, log_mass: np.ndarray, redshift: float = 0.0) -> np.ndarray:
        """Tinker et al. (2008) dn/dlnM in (h/Mpc)^3 for virial masses log10(Msun/h)."""
        from colossus.lss import mass_function

        self.colossus()
        return mass_function.massFunction(
            10.0 ** np.asarray(log_mass, dtype=float), redshift,
            mdef="vir", model="tinker08", q_out="dndlnM",
        )

    def halo_bias(self, log_mass: np.ndarray, redshift: float = 0.0) -> np.ndarray:
        """Tinker et al. (2010) large-scale (Eulerian) bias of virial-mass halos."""
        from colossus.lss import bias

        self.colossus()
        return bias.haloBias(
            10.0 ** np.asarray(log_mass, dtype=float), redshift, mdef="vir", model="tinker10"
        )

    def virial_velocity(self, log_mass: np.ndarray, redshift: float = 0.0) -> np.ndarray:
        """Circular velocity at the virial radius, sqrt(G M_vir / R_vir), in km/s."""
        from colossus.halo import mass_so

        self.colossus()
        mass = 10.0 ** np.asarray(log_mass, dtype=float)
        radius_kpc = mass_so.M_to_R(mass, redshift, "vir")
        return np.sqrt(GRAVITATIONAL_CONSTANT * mass / radius_kpc)

    def virial_radius(self, log_mass: np.ndarray, redshift: np.ndarray | float = 0.0
                      ) -> np.ndarray:
        """Comoving virial radius (Mpc/h) of mass M_vir at ``redshift`` (scalar or per mass).

        The same colossus ``"vir"`` definition (Bryan & Norman 1998) as
        :meth:`virial_velocity`, so ``V_vir^2 = G M / R_vir`` with R_vir in physical units.
        """
        from colossus.halo import mass_so

        self.colossus()
        mass = 10.0 ** np.asarray(log_mass, dtype=float)
        redshift = np.asarray(redshift, dtype=float)
        return mass_so.M_to_R(mass, redshift, "vir") * (1.0 + redshift) / 1000.0

    def age(self, redshift: np.ndarray | float) -> np.ndarray:
        """Cosmic time (Gyr) at ``redshift`` in flat LCDM without radiation (closed form).

        ``t(a) = 2 / (3 H0 sqrt(Omega_L)) asinh(sqrt(Omega_L / Omega_m) a^(3/2))``; time
        since an event at z1 seen at z0 is ``age(z0) - age(z1)``.
        """
        omega_lambda = 1.0 - self.Om0
        hubble_time = 977.792 / self.H0  # 1 / H0 in Gyr (H0 in km/s/Mpc)
        scale = 1.0 / (1.0 + np.asarray(redshift, dtype=float))
        return (2.0 * hubble_time / (3.0 * np.sqrt(omega_lambda))
                * np.arcsinh(np.sqrt(omega_lambda / self.Om0) * scale**1.5))

    def lagrangian_radius(self, log_mass: np.ndarray) -> np.ndarray:
        """Comoving radius (Mpc/h) of the sphere holding mass M at the mean density."""
        mass = 10.0 ** np.asarray(log_mass, dtype=float)
        return (3.0 * mass / (4.0 * np.pi * self.mean_matter_density())) ** (1.0 / 3.0)
