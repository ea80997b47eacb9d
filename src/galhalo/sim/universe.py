"""The synthetic universe: a periodic box of halos and central galaxies with a known truth.

``simulate`` is the embedded default data set of galhalo (TNG300-like: 205 Mpc/h,
1e5 centrals with log10 M* >= 8.75). Steps, each with its own seed stream:

1. a linear Gaussian density field (colossus P(k)) on a grid;
2. matter particles on a lattice, moved by the Zel'dovich displacement (they define
   ``Delta3_h``: the matter within 3 Mpc/h over the mean, counted with a periodic KD-tree);
3. halos in batches: masses from the mass function, Lagrangian positions with
   log-normal biasing and assembly bias, secondary properties, Zel'dovich positions,
   linear velocities plus a sub-grid and a virial dispersion, ``Delta3_h``;
4. galaxies from the truth model before selection; halos whose galaxy falls below the
   stellar-mass cut are dropped, exactly as a stellar-mass-selected sample is made.
   Batches are drawn until ``n_halos`` centrals pass; the catalog keeps the first
   ``n_halos`` of them (a random subsample of the selected population).

5. with ``satellites=True``, after the central catalog is final: sub-halos of every
   host in it (``subhalos.SubhaloModel``) from a seed stream the centrals never touch,
   and their galaxies from the satellite truth (``satellite_truth``); a satellite is
   kept if its ``smass`` passes the cut. The central rows are identical with and
   without satellites (same seed and options).

If ``n_halos`` differs from the number a box of that size holds, the catalog is a
random dilution (or an over-sampling) of the physical population; clustering is
unaffected and ``meta.extra["sampling_fraction"]`` records the ratio.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .. import __version__
from ..catalog import Catalog, CatalogMeta
from ..catalog.hosts import orbit_in_host
from ..catalog.schema import GALAXY, HALO, HOST, N_SAT, POSITION, SUBHALO, VELOCITY
from ..environment import DELTA3_RADIUS, MatterTracers
from ..errors import SimulationError
from ..progress import Progress
from .cosmology import Cosmology
from .field import LinearField, gaussian_field, interpolate, wrap
from .halos import HaloModel, draw_masses, expected_count, place_halos
from .presets import preset_class, preset_truth
from .satellite_truth import SatelliteTruth
from .truth import TruthModel

#: Grid sizes the automatic choice picks from (FFT-friendly).
_GRIDS = (32, 48, 64, 96, 128, 192, 256, 384, 512)
#: Largest cell side (Mpc/h) of the automatic density grid.
_MAX_CELL = 1.65
#: Matter-particle lattice per side relative to the density grid (about 90 particles
#: in a mean-density 3 Mpc/h sphere at the default 1.6 Mpc/h cell).
_PARTICLES_PER_CELL = 1.5
#: Largest automatic particle lattice per side (384^3 particles: 1.4 GB of positions).
_MAX_PARTICLE_SIDE = 384



@dataclass(frozen=True)
class UniverseConfig:
    """Everything that defines a synthetic universe (all lengths in Mpc/h).

    Attributes:
        n_halos: number of central galaxies (rows) in the catalog.
        box: periodic box side.
        seed: master seed; the same seed gives byte-identical catalogs.
        redshift: snapshot redshift.
        grid: density-field cells per side (None: automatic, cells <= 1.65 Mpc/h up to
            a 512^3 grid, i.e. boxes up to 845 Mpc/h; coarser cells beyond).
        particles: matter-particle lattice per side, >= grid (None: 1.5 x grid, at most
            384 unless the grid is larger: Delta3_h gets noisier in very large boxes).
        central_velocity_bias: central-galaxy velocity dispersion relative to the
            host's 1-D virial dispersion V_vir / sqrt(2).
        cosmology, truth: cosmology and the known-truth galaxy model (its
            ``halo_model`` also sets the halo mass range and halo-property relations);
            None: the default model of ``preset``.
        satellites: also draw satellite galaxies (rows after the centrals). The truth
            then gets a satellite part (``truth.satellites``, default
            :class:`SatelliteTruth` if it has none) carrying this universe's cosmology
            and redshift.
        preset: galaxy-truth preset (``presets.GALAXY_PRESETS``: ``classic``,
            ``tng_hard``); None: that of ``truth`` if given, else
            ``presets.DEFAULT_PRESET``. After construction it names the truth's preset.
    """

    n_halos: int = 100_000
    box: float = 205.0
    seed: int = 42
    redshift: float = 0.0
    grid: int | None = None
    particles: int | None = None
    central_velocity_bias: float = 0.3
    cosmology: Cosmology = field(default_factory=Cosmology)
    truth: TruthModel | None = None
    satellites: bool = False
    preset: str | None = None

    def __post_init__(self) -> None:
        if self.truth is None:
            object.__setattr__(self, "truth", preset_truth(self.preset))
        elif self.preset is not None and preset_class(self.preset).preset != self.truth.preset:
            raise SimulationError(f"preset {self.preset!r} contradicts the given truth model "
                                  f"(preset {self.truth.preset!r}): pass one of them")
        object.__setattr__(self, "preset", self.truth.preset)
        if self.satellites:
            part = self.truth.satellites or SatelliteTruth()
            object.__setattr__(self, "truth", replace(
                self.truth, satellites=part.for_universe(self.cosmology, self.redshift)))
        if isinstance(self.n_halos, bool) or int(self.n_halos) != self.n_halos or self.n_halos < 1:
            raise SimulationError(f"n_halos must be a positive integer, got {self.n_halos}")
        if not np.isfinite(self.box) or self.box <= 2 * DELTA3_RADIUS:
            raise SimulationError(
                f"box must be a finite side length above {2 * DELTA3_RADIUS} Mpc/h "
                f"(twice the Delta3 radius), got {self.box}")
        if not np.isfinite(self.redshift) or not 0 <= self.redshift <= 10:
            raise SimulationError(f"redshift must be in [0, 10], got {self.redshift}")
        if not 0 <= self.central_velocity_bias <= 2:
            raise SimulationError("central_velocity_bias must be in [0, 2]")
        for name in ("grid", "particles"):
            value = getattr(self, name)
            if value is not None and (value < 8 or value % 2):
                raise SimulationError(f"{name} must be an even number >= 8, got {value}")
        if self.particle_side < self.grid_size:
            raise SimulationError(
                f"particles ({self.particle_side}) must be >= grid ({self.grid_size})")

    @property
    def halo_model(self) -> HaloModel:
        return self.truth.halo_model

    @property
    def grid_size(self) -> int:
        if self.grid is not None:
            return self.grid
        return next((g for g in _GRIDS if self.box / g <= _MAX_CELL), _GRIDS[-1])

    @property
    def particle_side(self) -> int:
        if self.particles is not None:
            return self.particles
        side = min(round(_PARTICLES_PER_CELL * self.grid_size), _MAX_PARTICLE_SIDE)
        return max(side + side % 2, self.grid_size)


def simulate(
    n_halos: int = 100_000, box: float = 205.0, seed: int = 42, *,
    config: UniverseConfig | None = None, progress: Progress | None = None, **options,
) -> Catalog:
    """Simulate the synthetic universe: halos with central galaxies above the cut.

    Args:
        n_halos: rows of the catalog (central galaxies above the stellar-mass cut).
        box: periodic box side in Mpc/h.
        seed: master seed.
        config: a full :class:`UniverseConfig` (overrides the three above).
        progress: callback receiving a short message at each stage.
        **options: any other :class:`UniverseConfig` field (``redshift``, ``grid``, ...).

    Returns:
        Catalog with ``halo_id``, the halo, galaxy, position and velocity columns, and
        metadata (box, cosmology, redshift, seed, truth-model parameters). With
        ``satellites=True`` (an option) the satellites follow the centrals, with
        ``host_id``, ``is_central``, ``N_sat`` and the sub-halo columns
        (:func:`add_satellites`); the central rows are the same as without.
    """
    config = _config(config, n_halos, box, seed, options)
    say = progress or (lambda message: None)
    universe = _Box(config, say)
    selected_tables: list[pd.DataFrame] = []
    n_selected = n_drawn = 0
    failed_hosts: list[pd.DataFrame] = []
    batches = universe.halo_stream.spawn(64)
    fraction = estimate_selected_fraction(config, np.random.default_rng(batches[-1]))
    for batch, stream in enumerate(batches[:-1]):
        if n_selected >= config.n_halos:
            break
        if n_selected:
            fraction = n_selected / n_drawn
        size = int(np.ceil(1.08 * (config.n_halos - n_selected) / fraction)) + 200
        say(f"halo batch {batch + 1}: {size:,} halos")
        rng = np.random.default_rng(stream)
        halos = universe.draw_halos(size, rng)
        galaxies = config.truth.sample(halos, 1, rng, selected=False)[0]
        keep = galaxies[:, 0] >= config.truth.stellar_mass_cut
        if config.satellites:
            failed_hosts.append(halos.loc[~keep, ["M_h", "C_h"]])
        table = halos[keep].reset_index(drop=True)
        table[list(GALAXY)] = galaxies[keep]
        selected_tables.append(table)
        n_selected += int(keep.sum())
        n_drawn += size
    else:  # pragma: no cover - needs a truth model that selects almost nothing
        raise RuntimeError(f"only {n_selected} of {config.n_halos} centrals after 63 batches")

    table = pd.concat(selected_tables, ignore_index=True).iloc[: config.n_halos]
    halos_used = n_drawn * config.n_halos / n_selected
    extra = {"halos_drawn": int(n_drawn), "selected_fraction": n_selected / n_drawn}
    properties: tuple[str, ...] = (*HALO, *GALAXY)
    if config.satellites:
        say("satellites")
        table, satellite_extra = add_satellites(config, table)
        missing = expected_satellites(config.truth, pd.concat(failed_hosts))
        satellite_extra["expected_missing_satellites"] = missing * config.n_halos / n_selected
        extra.update(satellite_extra)
        properties = (*HOST, *HALO, N_SAT.name, *SUBHALO, *GALAXY)
    say("done")
    return universe.catalog(table, properties, halos_used, extra)


def simulate_halos(
    n_halos: int = 100_000, box: float = 205.0, seed: int = 42, *,
    config: UniverseConfig | None = None, progress: Progress | None = None, **options,
) -> Catalog:
    """The halo population alone, above ``log_mass_min`` (no galaxies, no selection).

    A stand-in for a dark-matter-only halo catalog: the same field, halo model and
    assembly bias as :func:`simulate`, with ``n_halos`` halos. Arguments as there.
    """
    config = _config(config, n_halos, box, seed, options)
    if config.satellites:
        raise SimulationError("simulate_halos draws halos only: satellites need galaxies "
                              "(use simulate)")
    say = progress or (lambda message: None)
    universe = _Box(config, say)
    say(f"{config.n_halos:,} halos")
    rng = np.random.default_rng(universe.halo_stream)
    table = universe.draw_halos(config.n_halos, rng)
    say("done")
    return universe.catalog(table, HALO, config.n_halos, {}, truth=False)


def _config(config: UniverseConfig | None, n_halos: int, box: float, seed: int,
            options: dict) -> UniverseConfig:
    if config is None:
        return UniverseConfig(n_halos=n_halos, box=box, seed=seed, **options)
    if options:
        raise SimulationError(f"pass either config or options {sorted(options)}, not both")
    return config


class _Box:
    """The fixed parts of one universe: linear field, displacement, matter particles."""

    def __init__(self, config: UniverseConfig, say: Progress):
        self.config = config
        field_stream, self.halo_stream = np.random.SeedSequence(config.seed).spawn(2)
        say(f"linear density field on a {config.grid_size}^3 grid")
        self.field = gaussian_field(config.cosmology, config.box, config.grid_size,
                                    np.random.default_rng(field_stream), config.redshift)
        self.displacement = self.field.displacement(radius=self.field.cell)
        say(f"{config.particle_side}^3 matter particles (Zel'dovich)")
        self.matter = MatterTracers(matter_particles(self.field, config.particle_side),
                                    config.box)

    def draw_halos(self, size: int, rng: np.random.Generator) -> pd.DataFrame:
        """``size`` halos of the full population (no galaxy selection), as a table."""
        config, model, cosmology = self.config, self.config.halo_model, self.config.cosmology
        log_mass = draw_masses(cosmology, model, size, rng, config.redshift)
        placement = place_halos(self.field, cosmology, model, log_mass, rng, config.redshift)
        latents = model.draw_latents(log_mass, placement.environment, rng)
        z_h, c_h, s_h = model.properties(log_mass, latents).T
        psi = interpolate(self.displacement, placement.lagrangian, config.box).T
        positions = wrap(placement.lagrangian + psi, config.box)
        velocities = cosmology.velocity_factor(config.redshift) * psi
        dispersion = np.sqrt(
            subgrid_velocity_variance(cosmology, self.field, config.redshift)
            + (config.central_velocity_bias
               * cosmology.virial_velocity(log_mass, config.redshift) / np.sqrt(2.0)) ** 2)
        velocities += dispersion[:, None] * rng.standard_normal((size, 3))
        # Delta3_h > 0 always: an empty sphere would mean a lattice far too coarse for
        # the box; floor it at one particle rather than report an impossible zero.
        one_particle = 1.0 / (self.matter.total * 4.0 / 3.0 * np.pi * DELTA3_RADIUS**3
                              / config.box**3)
        delta3 = np.maximum(self.matter.overdensity(positions, DELTA3_RADIUS), one_particle)
        return pd.DataFrame({
            "M_h": log_mass, "C_h": c_h, "S_h": s_h, "z_h": z_h, "Delta3_h": delta3,
            "x": positions[:, 0], "y": positions[:, 1], "z": positions[:, 2],
            "vx": velocities[:, 0], "vy": velocities[:, 1], "vz": velocities[:, 2],
        })

    def catalog(self, table: pd.DataFrame, properties: tuple[str, ...], halos_used: float,
                extra: dict, truth: bool = True) -> Catalog:
        """Wrap a table with ids, column order and metadata."""
        config = self.config
        table = table.reset_index(drop=True)
        table.insert(0, "halo_id", np.arange(len(table), dtype=np.int64))
        table = table[["halo_id", *properties, *POSITION, *VELOCITY]]
        expected = expected_count(config.cosmology, config.halo_model, config.box,
                                  config.redshift)
        meta = CatalogMeta(
            box_size=float(config.box), redshift=float(config.redshift),
            cosmology=config.cosmology.to_dict(), seed=int(config.seed),
            source=f"galhalo.simulate (galhalo {__version__})",
            truth=config.truth.to_dict() if truth else None,
            extra={
                "n_halos": int(config.n_halos), "grid": config.grid_size,
                "particles": config.particle_side,
                "central_velocity_bias": config.central_velocity_bias,
                "halo_model": config.halo_model.to_dict(),
                "sampling_fraction": halos_used / expected,
                **extra,
            },
        )
        return Catalog(table=table, meta=meta)


#: Seed-sequence child of the satellites: the central path spawns children 0 (field)
#: and 1 (halos) of ``SeedSequence(seed)`` and never this one.
SATELLITE_STREAM = 2


def add_satellites(config: UniverseConfig, centrals: pd.DataFrame
                   ) -> tuple[pd.DataFrame, dict]:
    """Append satellite rows to the final central table (``x, y, z, vx, vy, vz``, halo
    and galaxy columns, n rows); returns the table with ``host_id``, ``is_central``,
    ``N_sat`` and the sub-halo columns, and the counts for ``meta.extra``.

    Sub-halos come from the seed stream :data:`SATELLITE_STREAM`; every one above the
    resolution limit gets a galaxy (before selection) and is kept if it passes the
    stellar-mass cut, so ``N_sat`` follows the satellite truth's count law exactly.
    """
    rng = np.random.default_rng(np.random.SeedSequence(config.seed,
                                                       spawn_key=(SATELLITE_STREAM,)))
    model = config.truth.satellite_model
    n = len(centrals)
    sub = model.params.subhalos.draw(
        {"M_h": centrals["M_h"].to_numpy(), "z_h": centrals["z_h"].to_numpy(),
         "C_residual": model.concentration_residual(centrals)},
        config.cosmology, config.redshift, rng)
    host = sub["host"]
    condition = {"M_h": centrals["M_h"].to_numpy()[host],
                 "sSFR_central": centrals["sSFR"].to_numpy()[host],
                 **{name: sub[name] for name in ("M_peak", "M_sub", "z_infall", "r_host")}}
    galaxies = model.conditional(condition).sample(rng, selected=False)
    keep = galaxies[:, 0] >= config.truth.stellar_mass_cut
    host = host[keep]
    n_sat = np.bincount(host, minlength=n).astype(np.int64)

    positions = centrals[list(POSITION)].to_numpy()
    velocities = centrals[list(VELOCITY)].to_numpy()
    offset, relative = sub["offset"][keep], sub["velocity"][keep]
    satellite_positions = wrap(positions[host] + offset, config.box)
    satellite_velocities = velocities[host] + relative
    _, v_r, v_t = orbit_in_host(satellite_positions, satellite_velocities, positions[host],
                                velocities[host], np.ones(len(host)), config.box)
    satellites = centrals.iloc[host][list(HALO)].reset_index(drop=True)
    satellites.insert(0, "host_id", host.astype(np.int64))
    satellites.insert(1, "is_central", np.zeros(len(host), dtype=bool))
    satellites["N_sat"] = n_sat[host]
    for name in ("M_sub", "Vmax_sub", "M_peak", "Vmax_peak", "z_infall", "r_host"):
        satellites[name] = sub[name][keep]
    satellites["v_r"], satellites["v_t"] = v_r, v_t
    satellites[list(GALAXY)] = galaxies[keep]
    satellites[list(POSITION)] = satellite_positions
    satellites[list(VELOCITY)] = satellite_velocities

    table = centrals.copy()
    table.insert(0, "host_id", np.arange(n, dtype=np.int64))
    table.insert(1, "is_central", np.ones(n, dtype=bool))
    table["N_sat"] = n_sat
    for name in SUBHALO:
        table[name] = np.nan
    table = pd.concat([table, satellites[table.columns]], ignore_index=True)
    extra = {"n_satellites": int(keep.sum()), "subhalos_drawn": len(keep),
             "satellite_fraction": float(keep.sum() / (n + keep.sum()))}
    return table, extra


def expected_satellites(truth: TruthModel, hosts: pd.DataFrame) -> float:
    """Expected number of satellites above the cut summed over ``hosts`` (columns
    ``M_h, C_h``): the exact count mean, its mass part interpolated on a 0.002-dex mass
    grid, times each host's occupation assembly factor."""
    if len(hosts) == 0:
        return 0.0
    model = truth.satellite_model
    log_mass = hosts["M_h"].to_numpy(dtype=float)
    low, high = float(log_mass.min()), float(log_mass.max())
    grid = np.linspace(low, high, max(2, int(np.ceil((high - low) / 0.002)) + 1))
    mean = model.satellite_count_mean({"M_h": grid}, at_fixed_mass=True)
    return float((np.interp(log_mass, grid, mean) * model.count_assembly_factor(hosts)).sum())


def matter_particles(field: LinearField, side: int) -> np.ndarray:
    """Zel'dovich-displaced particles on a ``side^3`` lattice, shape (side^3, 3), Mpc/h.

    The displacement (smoothed on the density-grid cell) is sampled on the particle
    lattice by Fourier interpolation, so every particle moves with the exact linear field.
    """
    psi = field.displacement(radius=field.cell, side=side).reshape(3, -1)
    axis = np.arange(side) * (field.box / side) + 0.5 * field.cell
    lattice = np.meshgrid(axis, axis, axis, indexing="ij")
    positions = np.empty((side**3, 3))
    for dim in range(3):
        positions[:, dim] = lattice[dim].ravel() + psi[dim]
    return wrap(positions, field.box)


def subgrid_velocity_variance(cosmology: Cosmology, field: LinearField, redshift: float) -> float:
    """1-D linear velocity variance (km/s)^2 of the modes the smoothed grid misses."""
    k = np.logspace(-4, 2.5, 4000)
    nyquist = np.pi / field.cell
    kept = np.where(k < nyquist, np.exp(-0.5 * (k * field.cell) ** 2), 0.0)
    integrand = cosmology.linear_power(k, redshift) * (1.0 - kept**2)
    variance = np.trapezoid(integrand, k) / (6.0 * np.pi**2)
    return float(cosmology.velocity_factor(redshift) ** 2 * variance)


def estimate_selected_fraction(config: UniverseConfig, rng: np.random.Generator) -> float:
    """Rough fraction of halos whose galaxy passes the cut (sizes the first halo batch).

    Uses 20,000 halos with the environment at its mean (no positions): good to a few
    per cent, which is all the batch size needs; the count itself is always exact.
    """
    model = config.halo_model
    log_mass = draw_masses(config.cosmology, model, 20_000, rng, config.redshift)
    latents = model.draw_latents(log_mass, np.zeros_like(log_mass), rng)
    z_h, c_h, s_h = model.properties(log_mass, latents).T
    halos = {"M_h": log_mass, "C_h": c_h, "S_h": s_h, "z_h": z_h,
             "Delta3_h": np.full_like(log_mass, 2.0)}
    return max(float(config.truth.selection_probability(halos).mean()), 1e-4)
