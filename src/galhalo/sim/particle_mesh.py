"""A small particle-mesh (PM) N-body code: 2LPT initial conditions and a KDK integrator.

Enough gravity to turn a linear density field into bound halos in a small periodic box
(the training suites, :mod:`galhalo.sim.suites`), in seconds per box.

Conventions:

* lengths comoving in Mpc/h; time in units of 1/H0 (so H(a) = E(a));
* the canonical momentum per unit mass ``p = a^2 dx/dtau = a^3 E(a) dx/da`` in
  ``(Mpc/h) H0`` units; the peculiar velocity is ``v = 100 p / a`` km/s;
* gravity: ``dp/da = F / (a E)`` with ``F = -grad Phi`` and
  ``laplacian Phi = 1.5 Omega_m0 delta / a`` (comoving);
* a mesh of ``mesh^3`` cells, cell ``(i, j, l)`` centred at ``(i + 1/2) * box / mesh``
  (the convention of :mod:`galhalo.sim.field`), cloud-in-cell (CIC) assignment and
  interpolation, the Poisson equation solved with numpy's ``rfftn`` (Green's function
  ``-1/k^2``) and the force taken by a fourth-order finite difference of the potential;
  mesh arrays are single precision. The CIC window is *not* deconvolved: with a mesh of
  twice the particle lattice that amplifies alias modes the particles sample back onto
  large scales (measured: large-scale growth 2-15% too fast); without it the power at
  k <= 2 k_f grows 1.4-2.2% too slowly at 32^3 (docs/suites.md).

Time integration (:func:`evolve`): kick-drift-kick leapfrog in steps uniform in the scale
factor, with the kick and drift factors of FastPM (Feng et al. 2016, MNRAS 463, 2273):
they use the linear growth functions so that the Zel'dovich growing mode is followed
exactly for any step size, which makes 20-40 steps enough for the large scales.

Initial conditions (:func:`initial_conditions`): a Gaussian field with colossus's linear
P(k) at ``z_start`` (:func:`galhalo.sim.field.gaussian_field`) on the particle lattice,
second-order Lagrangian perturbation theory (2LPT, Scoccimarro 1998) displacements and
momenta with the growth rates f1 = dlnD/dlna (colossus) and f2 = 2 Omega_m(a)^(6/11);
``order=1`` gives the Zel'dovich approximation.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

import numpy as np

from ..errors import ParticleMeshError
from .cosmology import Cosmology
from .field import LinearField, gaussian_field, wrap

__all__ = [
    "COLOSSUS_LOCK",
    "GrowthTables",
    "ParticleMeshError",
    "ParticleState",
    "PowerSpectrum",
    "cic_density",
    "density_modes",
    "evolve",
    "growth_tables",
    "initial_conditions",
    "power_spectrum",
    "run_particle_mesh",
]

#: colossus keeps one global "current cosmology": hold this lock from setting it until
#: the last colossus call, so that threads (Dask's threads scheduler) never mix them.
COLOSSUS_LOCK = threading.RLock()
#: Peculiar velocity (km/s) of a unit canonical momentum at a = 1: H0 * 1 Mpc/h.
KM_S_PER_MOMENTUM = 100.0
#: Points of the growth tables (uniform in ln a); interpolation error < 1e-7.
_TABLE_POINTS = 4096



@dataclass(frozen=True)
class GrowthTables:
    """Linear-growth functions of one cosmology on a grid of scale factors.

    Attributes:
        Om0: matter density today.
        a: scale factors, shape (m,), increasing, from below the start to 1.
        growth: D(a), normalised to D(1) = 1 (colossus ``growthFactor``).
        hubble: E(a) = H(a) / H0.
        omega_m: Omega_m(a).
        g_p: ``a^3 E dD/da``: the momentum of the growing mode per unit displacement.
        g_f: ``a E dg_p/da``: its force (= 1.5 Omega_m0 D / a without radiation).
    """

    Om0: float
    a: np.ndarray
    growth: np.ndarray
    hubble: np.ndarray
    omega_m: np.ndarray
    g_p: np.ndarray
    g_f: np.ndarray

    def _at(self, values: np.ndarray, a: float) -> float:
        if not self.a[0] <= a <= self.a[-1] * (1 + 1e-12):
            raise ParticleMeshError(f"scale factor {a} outside the tables "
                                    f"[{self.a[0]:.4g}, {self.a[-1]:.4g}]")
        return float(np.interp(np.log(a), np.log(self.a), values))

    def D(self, a: float) -> float:
        """Linear growth factor, D(1) = 1."""
        return self._at(self.growth, a)

    def E(self, a: float) -> float:
        return self._at(self.hubble, a)

    def Gp(self, a: float) -> float:
        return self._at(self.g_p, a)

    def Gf(self, a: float) -> float:
        return self._at(self.g_f, a)

    def f(self, a: float) -> float:
        """Linear growth rate dlnD/dlna."""
        return a * self.Gp(a) / (a**3 * self.E(a) * self.D(a))

    def Om(self, a: float) -> float:
        return self._at(self.omega_m, a)


def growth_tables(cosmology: Cosmology, a_start: float) -> GrowthTables:
    """The growth functions of ``cosmology`` (colossus) for a in [a_start / 2, 1]."""
    if not 0 < a_start < 1:
        raise ParticleMeshError(f"a_start must be in (0, 1), got {a_start}")
    a = np.exp(np.linspace(np.log(0.5 * a_start), 0.0, _TABLE_POINTS))
    a[-1] = 1.0
    z = 1.0 / a - 1.0
    z[-1] = 0.0
    with COLOSSUS_LOCK:
        cosmo = cosmology.colossus()
        growth = np.asarray(cosmo.growthFactor(z), dtype=float)
        dgrowth_dz = np.asarray(cosmo.growthFactor(z, derivative=1), dtype=float)
        hubble = np.asarray(cosmo.Ez(z), dtype=float)
        omega_m = np.asarray(cosmo.Om(z), dtype=float)
    # colossus interpolates D in z (error ~3e-5 at z = 0): make D(1) = 1 exact
    growth, dgrowth_dz = growth / growth[-1], dgrowth_dz / growth[-1]
    g_p = a**3 * hubble * (-dgrowth_dz / a**2)
    g_f = a * hubble * np.gradient(g_p, a, edge_order=2)
    return GrowthTables(float(cosmology.Om0), a, growth, hubble, omega_m, g_p, g_f)


@dataclass
class ParticleState:
    """Particles at one scale factor.

    Attributes:
        positions: shape (n, 3), comoving Mpc/h in [0, box).
        momenta: shape (n, 3), canonical momentum ``a^3 E dx/da`` in (Mpc/h) H0.
        a: scale factor.
        box: box side in Mpc/h.
        particle_mass: Msun/h per particle.
    """

    positions: np.ndarray
    momenta: np.ndarray
    a: float
    box: float
    particle_mass: float

    @property
    def redshift(self) -> float:
        return 1.0 / self.a - 1.0

    @property
    def velocities(self) -> np.ndarray:
        """Peculiar velocities, shape (n, 3), km/s."""
        return KM_S_PER_MOMENTUM * self.momenta / self.a


# --------------------------------------------------------------------------- mesh


def _cic(positions: np.ndarray, box: float, mesh: int) -> tuple[np.ndarray, np.ndarray]:
    """CIC flat cell indices and weights of every particle, shapes (8, n) each."""
    scaled = positions * (mesh / box) - 0.5
    base = np.floor(scaled)
    frac = scaled - base
    low = base.astype(np.intp) % mesh
    high = (low + 1) % mesh
    index = np.empty((8, len(positions)), dtype=np.intp)
    weight = np.empty((8, len(positions)))
    for corner in range(8):
        picks = [(corner >> (2 - dim)) & 1 for dim in range(3)]
        cells = [high[:, dim] if pick else low[:, dim] for dim, pick in enumerate(picks)]
        index[corner] = (cells[0] * mesh + cells[1]) * mesh + cells[2]
        weight[corner] = np.prod([frac[:, dim] if pick else 1.0 - frac[:, dim]
                                  for dim, pick in enumerate(picks)], axis=0)
    return index, weight


def cic_density(positions: np.ndarray, box: float, mesh: int,
                values: np.ndarray | None = None) -> np.ndarray:
    """CIC sum of ``values`` (default 1 per particle) on the mesh, shape (mesh,)*3.

    Divide by the mean to get 1 + delta.
    """
    index, weight = _cic(positions, box, mesh)
    if values is not None:
        weight = weight * values[None, :]
    return np.bincount(index.ravel(), weights=weight.ravel(),
                       minlength=mesh**3).reshape((mesh,) * 3)


def _wavenumbers(mesh: int, box: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k_full = 2.0 * np.pi * np.fft.fftfreq(mesh, d=box / mesh)
    k_half = 2.0 * np.pi * np.fft.rfftfreq(mesh, d=box / mesh)
    return k_full[:, None, None], k_full[None, :, None], k_half[None, None, :]


class _Gravity:
    """The PM force: CIC density -> potential (FFT) -> 4th-order gradient -> CIC gather."""

    def __init__(self, box: float, mesh: int, Om0: float):
        self.box, self.mesh, self.Om0 = box, mesh, Om0
        kx, ky, kz = _wavenumbers(mesh, box)
        k2 = kx**2 + ky**2 + kz**2
        k2[0, 0, 0] = 1.0
        green = -1.0 / k2
        green[0, 0, 0] = 0.0
        self.green = green.astype(np.float32)

    def force(self, positions: np.ndarray, a: float) -> np.ndarray:
        """F = -grad Phi at the particles, shape (n, 3), (Mpc/h) H0^2 units."""
        mesh, cell = self.mesh, self.box / self.mesh
        index, weight = _cic(positions, self.box, mesh)
        counts = np.bincount(index.ravel(), weights=weight.ravel(), minlength=mesh**3)
        # the mesh work runs in single precision: half the memory traffic, and the force
        # error (1e-7 relative) is far below the PM's own
        delta = (counts * (mesh**3 / len(positions)) - 1.0).astype(np.float32)
        potential_k = np.fft.rfftn(delta.reshape((mesh,) * 3))
        potential_k *= self.green * np.float32(1.5 * self.Om0 / a)
        potential = np.fft.irfftn(potential_k, s=(mesh,) * 3, axes=(0, 1, 2))
        force = np.empty((len(positions), 3))
        weight = weight.astype(np.float32)
        for dim in range(3):
            # -dPhi/dx = -(8 (P[+1] - P[-1]) - (P[+2] - P[-2])) / (12 cell)
            grad = np.roll(potential, 2, dim)
            grad -= np.roll(potential, -2, dim)
            grad += 8.0 * (np.roll(potential, -1, dim) - np.roll(potential, 1, dim))
            grad *= np.float32(-1.0 / (12.0 * cell))
            force[:, dim] = np.einsum("ij,ij->j", grad.ravel()[index], weight)
        return force


# --------------------------------------------------------------------------- ICs


def _lpt_displacements(field: LinearField) -> tuple[np.ndarray, np.ndarray]:
    """First- and second-order displacement fields at the field's own time.

    Psi1 = -grad phi1 with laplacian phi1 = delta; Psi2 = grad phi2 with laplacian
    phi2 = sum_{i<j} (phi1_ii phi1_jj - phi1_ij^2) (the factor D2/D1^2 is applied by
    the caller). Shapes (3, g, g, g), Mpc/h, on the field's grid.
    """
    grid = field.grid
    shape = (grid,) * 3
    psi1 = field.displacement(radius=0.0)
    kx, ky, kz = field.wavevectors
    k2 = field.k_squared.copy()
    k2[0, 0, 0] = 1.0
    k = (kx, ky, kz)
    phi1_k = -field.delta_k / k2
    phi1_k[0, 0, 0] = 0.0

    def second(i: int, j: int) -> np.ndarray:
        return np.fft.irfftn(-k[i] * k[j] * phi1_k, s=shape, axes=(0, 1, 2))

    diagonal = [second(i, i) for i in range(3)]
    source = (diagonal[0] * diagonal[1] + diagonal[0] * diagonal[2]
              + diagonal[1] * diagonal[2])
    for i, j in ((0, 1), (0, 2), (1, 2)):
        source -= second(i, j) ** 2
    phi2_k = -np.fft.rfftn(source) / k2
    phi2_k[0, 0, 0] = 0.0
    psi2 = np.stack([np.fft.irfftn(1j * k[i] * phi2_k, s=shape, axes=(0, 1, 2))
                     for i in range(3)])
    return psi1, psi2


def initial_conditions(cosmology: Cosmology, box: float, particles: int, z_start: float,
                       rng: np.random.Generator, tables: GrowthTables | None = None,
                       order: int = 2) -> ParticleState:
    """Particles on a ``particles^3`` lattice displaced by 2LPT (or Zel'dovich) at z_start.

    Args:
        cosmology: the cosmology (colossus linear P(k), growth functions).
        box: box side in Mpc/h.
        particles: particles per side (a power of two >= 16 in the suites).
        z_start: starting redshift.
        rng: source of the Gaussian field's white noise.
        tables: growth tables (computed if not given).
        order: 1 for Zel'dovich, 2 for 2LPT.

    Returns:
        the :class:`ParticleState` at a = 1 / (1 + z_start); lattice site ``J`` (row
        ``(Jx * n + Jy) * n + Jz``) starts from ``(J + 1/2) * box / n``.
    """
    if order not in (1, 2):
        raise ParticleMeshError(f"order must be 1 (Zel'dovich) or 2 (2LPT), got {order}")
    a = 1.0 / (1.0 + z_start)
    tables = tables or growth_tables(cosmology, a)
    with COLOSSUS_LOCK:
        field = gaussian_field(cosmology, box, particles, rng, z_start)
        mean_density = cosmology.mean_matter_density()
    psi1, psi2 = _lpt_displacements(field) if order == 2 else (
        field.displacement(radius=0.0), None)
    omega = tables.Om(a)
    velocity = a**2 * tables.E(a)  # p = a^2 E dx/dlna
    displacement = psi1
    momentum = velocity * tables.f(a) * psi1
    if psi2 is not None:
        psi2 *= -3.0 / 7.0 * omega ** (-1.0 / 143.0)
        displacement = psi1 + psi2
        momentum = momentum + velocity * 2.0 * omega ** (6.0 / 11.0) * psi2
    axis = (np.arange(particles) + 0.5) * (box / particles)
    lattice = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"))
    positions = wrap((lattice + displacement).reshape(3, -1).T, box)
    momenta = np.ascontiguousarray(momentum.reshape(3, -1).T)
    mass = mean_density * box**3 / particles**3
    return ParticleState(positions, momenta, a, float(box), float(mass))


# --------------------------------------------------------------------------- evolution


def evolve(state: ParticleState, tables: GrowthTables, mesh: int, a_end: float,
           steps: int) -> ParticleState:
    """Integrate from ``state.a`` to ``a_end`` in ``steps`` KDK steps uniform in a.

    FastPM factors: a drift from a0 to a1 with the momentum of time ac moves particles by
    ``p (D(a1) - D(a0)) / Gp(ac)``; a kick from a0 to a1 with the force of time ac
    changes momenta by ``F (Gp(a1) - Gp(a0)) / Gf(ac)``.

    Returns a new state (the input is not modified).
    """
    if steps < 1:
        raise ParticleMeshError(f"steps must be >= 1, got {steps}")
    if not state.a < a_end <= 1.0:
        raise ParticleMeshError(f"a_end must be in ({state.a}, 1], got {a_end}")
    gravity = _Gravity(state.box, mesh, tables.Om0)
    times = np.linspace(state.a, a_end, steps + 1)
    x = state.positions.copy()
    p = state.momenta.copy()
    force = gravity.force(x, times[0])
    for a0, a1 in itertools.pairwise(times):
        half = 0.5 * (a0 + a1)
        p += force * ((tables.Gp(half) - tables.Gp(a0)) / tables.Gf(a0))
        x += p * ((tables.D(a1) - tables.D(a0)) / tables.Gp(half))
        x = wrap(x, state.box)
        force = gravity.force(x, a1)
        p += force * ((tables.Gp(a1) - tables.Gp(half)) / tables.Gf(a1))
    return ParticleState(x, p, float(a_end), state.box, state.particle_mass)


def run_particle_mesh(cosmology: Cosmology, box: float, particles: int, mesh: int,
                      steps: int, z_start: float, seed: int | np.random.SeedSequence,
                      order: int = 2) -> ParticleState:
    """Initial conditions at ``z_start`` evolved to z = 0: the particles at a = 1."""
    rng = np.random.default_rng(seed)
    tables = growth_tables(cosmology, 1.0 / (1.0 + z_start))
    start = initial_conditions(cosmology, box, particles, z_start, rng, tables, order)
    return evolve(start, tables, mesh, 1.0, steps)


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class PowerSpectrum:
    """A binned power spectrum.

    Attributes:
        k: mean |k| of the modes in each bin, h/Mpc, shape (bins,).
        power: mean |delta_k|^2 box^3 / mesh^6 over the modes, (Mpc/h)^3.
        modes: independent complex modes per bin (k and -k counted once); the
            cosmic-variance error of ``power`` for a Gaussian field is power / sqrt(modes).
        edges: bin edges in h/Mpc, shape (bins + 1,).
    """

    k: np.ndarray
    power: np.ndarray
    modes: np.ndarray
    edges: np.ndarray

    def bin_average(self, function, box: float, mesh: int) -> np.ndarray:
        """The average of ``function(|k|)`` over each bin's modes (the expectation of a
        measured spectrum whose modes have variance ``function(|k|)``)."""
        magnitude, weight = _mode_magnitudes(box, mesh)
        which = np.digitize(magnitude, self.edges) - 1
        inside = (which >= 0) & (which < len(self.k))
        values = np.bincount(which[inside], weights=(weight * function(magnitude))[inside],
                             minlength=len(self.k))
        counts = np.bincount(which[inside], weights=weight[inside], minlength=len(self.k))
        return values / counts


def _mode_magnitudes(box: float, mesh: int) -> tuple[np.ndarray, np.ndarray]:
    """|k| of every rfftn cell and its multiplicity in the full grid (1 or 2), raveled."""
    kx, ky, kz = _wavenumbers(mesh, box)
    magnitude = np.sqrt(kx**2 + ky**2 + kz**2)
    weight = np.full(magnitude.shape, 2.0)
    weight[..., 0] = 1.0
    if mesh % 2 == 0:
        weight[..., -1] = 1.0
    return magnitude.ravel(), weight.ravel()


def power_spectrum(density_k: np.ndarray, box: float, mesh: int,
                   k_max: float | None = None, deconvolve_cic: bool = True,
                   ) -> PowerSpectrum:
    """Spherically averaged power of Fourier modes ``density_k`` (``rfftn`` of delta).

    Bins are one fundamental frequency ``2 pi / box`` wide, from the fundamental up to
    ``k_max`` (default: half the mesh Nyquist frequency). With ``deconvolve_cic`` the CIC
    assignment window ``prod sinc^2(k_i cell / 2)`` is divided out.
    """
    k_fundamental = 2.0 * np.pi / box
    k_max = k_max or 0.5 * np.pi * mesh / box
    kx, ky, kz = _wavenumbers(mesh, box)
    modes = density_k
    if deconvolve_cic:
        half_cell = 0.5 * box / mesh
        window = (np.sinc(kx * half_cell / np.pi) * np.sinc(ky * half_cell / np.pi)
                  * np.sinc(kz * half_cell / np.pi)) ** 2
        modes = density_k / window
    power = (np.abs(modes) ** 2).ravel() * box**3 / float(mesh) ** 6
    magnitude, weight = _mode_magnitudes(box, mesh)
    edges = np.arange(0.5, k_max / k_fundamental + 0.5) * k_fundamental
    which = np.digitize(magnitude, edges) - 1
    inside = (which >= 0) & (which < len(edges) - 1)
    bins = len(edges) - 1
    counts = np.bincount(which[inside], weights=weight[inside], minlength=bins)
    k_mean = np.bincount(which[inside], weights=(weight * magnitude)[inside],
                         minlength=bins) / counts
    mean = np.bincount(which[inside], weights=(weight * power)[inside], minlength=bins) / counts
    return PowerSpectrum(k_mean, mean, counts / 2.0, edges)


def density_modes(positions: np.ndarray, box: float, mesh: int) -> np.ndarray:
    """``rfftn`` of the CIC overdensity of particles, shape (mesh, mesh, mesh//2 + 1)."""
    counts = cic_density(positions, box, mesh)
    return np.fft.rfftn(counts * (mesh**3 / len(positions)) - 1.0)
