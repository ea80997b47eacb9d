"""Training suites: many small periodic universes with known cosmology (``galhalo suite``).

A suite is a directory in the CAMELS layout::

    <suite>/parameters.txt   #Name Omega_m sigma_8 smhm_norm smhm_slope smhm_scatter
                             #     selection_factor seed   (one row per universe)
    <suite>/suite.json       the settings (box, particles, mesh, steps, z_start, ...)
    <suite>/LH_<i>.parquet   one galhalo catalog per universe

Each universe (:func:`simulate_universe`):

1. cosmology: flat LCDM with Omega_m and sigma_8 from a Latin hypercube (Omega_b, h and
   n_s fixed at the CAMELS values); colossus's linear P(k) and growth;
2. dark matter: a particle-mesh run from 2LPT initial conditions at ``z_start`` to z = 0
   (:mod:`galhalo.sim.particle_mesh`);
3. halos: friends-of-friends, b = 0.2, >= 20 particles (:mod:`galhalo.sim.friends_of_friends`);
   ``M_h`` = log10 of the FoF mass, positions = centres of mass, velocities = mean
   member velocities;
4. galaxies: one central per halo with log10 M* from a stellar-to-halo-mass relation with
   log-normal scatter (model ``standard`` or ``alternative``, its nuisance parameters
   from the hypercube); kept if M* >= selection_factor x 10^stellar_mass_cut, with the
   factor drawn in [1, 2] per universe so that where the mass function is cut carries no
   information. No satellites: a PM run at this resolution has no subhalos.

Reproducible: the hypercube comes from the run seed, each universe's seed from the run
seed and its index; the same seed gives identical catalogs with any scheduler.
Resumable: every catalog is written atomically; a re-run skips universes whose file is
complete and refuses a directory made with other settings.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import as_completed as threads_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from .. import __version__
from ..catalog import Catalog, CatalogMeta, read_catalog, write_catalog
from ..catalog.schema import POSITION, VELOCITY
from ..errors import SuiteError
from ..files import atomic_path, write_json
from .cosmology import Cosmology
from .friends_of_friends import friends_of_friends
from .particle_mesh import run_particle_mesh
from .suite_settings import (
    GALAXY_MODELS,
    PARAMETERS,
    SAMPLED,
    SuiteSettings,
    format_parameter_table,
    parameter_table,
    read_parameter_table,
    stellar_mass,
    universe_seed,
)

__all__ = [
    "GALAXY_MODELS",
    "PARAMETERS",
    "Suite",
    "SuiteError",
    "SuiteProgress",
    "SuiteSettings",
    "held_out_names",
    "make_suite",
    "parameter_table",
    "read_parameter_table",
    "read_suite",
    "simulate_universe",
    "stellar_mass",
    "universe_seed",
]

PARAMETER_FILE = "parameters.txt"
SETTINGS_FILE = "suite.json"
SUITE_FORMAT = "galhalo-suite"
_TEMPORARY = re.compile(r"^\.LH_\d+\.[0-9a-f]{12}\.tmp\.parquet$")
_NAME = re.compile(r"^LH_\d+$")



# --------------------------------------------------------------------------- one universe


def _check_parameters(parameters: dict[str, Any], settings: SuiteSettings) -> dict[str, float]:
    missing = [name for name in SAMPLED if name not in parameters]
    if missing:
        raise SuiteError(f"parameters lack {missing}; needed: {list(SAMPLED)}")
    values = {}
    for name, (low, high) in settings.priors.items():
        value = parameters[name]
        if isinstance(value, bool) or not isinstance(value, int | float | np.number) \
                or not math.isfinite(value):
            raise SuiteError(f"parameter {name} must be a finite number, got {value!r}")
        if not low <= value <= high:
            raise SuiteError(f"parameter {name} = {value} is outside its prior range "
                             f"[{low}, {high}]")
        values[name] = float(value)
    return values


def simulate_universe(parameters: dict[str, Any], settings: SuiteSettings,
                      seed: int) -> Catalog:
    """Simulate one universe of a suite (no Dask): PM run, FoF halos, central galaxies.

    Args:
        parameters: ``Omega_m``, ``sigma_8``, ``smhm_norm``, ``smhm_slope``,
            ``smhm_scatter``, ``selection_factor`` (each inside the settings' prior).
        settings: the suite settings.
        seed: this universe's seed (initial conditions and galaxy scatter).

    Returns:
        Catalog of the selected centrals: ``halo_id``, ``M_h`` (log10 FoF mass, Msun/h),
        ``smass`` (log10 Msun/h), ``x, y, z`` (Mpc/h), ``vx, vy, vz`` (km/s); metadata box
        size, cosmology, redshift 0, seed, the galaxy model as ``truth``.

    Raises:
        SuiteError: a parameter is missing or outside its prior, or no galaxy passes the
            selection (lower the stellar-mass cut or raise the resolution).
    """
    values = _check_parameters(parameters, settings)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise SuiteError(f"seed must be a non-negative integer, got {seed!r}")
    cosmology = Cosmology(name=f"suite-{values['Omega_m']:.6f}-{values['sigma_8']:.6f}",
                          Om0=values["Omega_m"], Ob0=settings.omega_b,
                          H0=100.0 * settings.hubble, sigma8=values["sigma_8"],
                          ns=settings.n_s)
    field_stream, galaxy_stream = np.random.SeedSequence(int(seed)).spawn(2)
    particles = run_particle_mesh(cosmology, settings.box_size, settings.particles,
                                  settings.mesh_size, settings.steps, settings.z_start,
                                  field_stream)
    halos = friends_of_friends(particles.positions, settings.box_size,
                               velocities=particles.velocities,
                               particle_mass=particles.particle_mass)
    log_mass = np.log10(halos.mass)
    rng = np.random.default_rng(galaxy_stream)
    smass = stellar_mass(settings.galaxy_model, log_mass, values["smhm_norm"],
                         values["smhm_slope"], values["smhm_scatter"], rng)
    threshold = settings.cut + math.log10(values["selection_factor"])
    keep = smass >= threshold
    if not keep.any():
        raise SuiteError(
            f"no galaxy above log10 M* = {threshold:.3f} among {len(halos)} halos "
            f"(Omega_m {values['Omega_m']}, sigma_8 {values['sigma_8']}, seed {seed}); lower "
            "stellar_mass_cut or raise particles")
    table = pd.DataFrame({"halo_id": np.flatnonzero(keep).astype(np.int64),
                          "M_h": log_mass[keep], "smass": smass[keep]})
    for dim, name in enumerate(POSITION):
        table[name] = halos.positions[keep, dim]
    for dim, name in enumerate(VELOCITY):
        table[name] = halos.velocities[keep, dim]
    meta = CatalogMeta(
        box_size=float(settings.box_size), redshift=0.0, cosmology=cosmology.to_dict(),
        seed=int(seed), source=f"galhalo.sim.suites (galhalo {__version__})",
        truth={"galaxy_model": settings.galaxy_model, **values,
               "stellar_mass_cut": settings.cut, "threshold": threshold},
        extra={"particles": settings.particles, "mesh": settings.mesh_size,
               "steps": settings.steps, "z_start": settings.z_start,
               "particle_mass": particles.particle_mass, "fof_halos": len(halos)},
    )
    return Catalog(table=table, meta=meta)


# --------------------------------------------------------------------------- the suite


@dataclass
class Suite:
    """A suite directory: the parameter table, the settings and the catalogs."""

    path: Path
    parameters: pd.DataFrame
    settings: SuiteSettings
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.parameters.index)

    def __len__(self) -> int:
        return len(self.parameters)

    def file(self, name: str) -> Path:
        if name not in self.parameters.index:
            raise SuiteError(f"{self.path}: no universe {name!r} (names LH_0 ... "
                             f"LH_{len(self) - 1})")
        return self.path / f"{name}.parquet"

    @property
    def missing(self) -> list[str]:
        """Universes whose catalog is not (completely) written yet."""
        return [name for name in self.names if not _complete(self.file(name))]

    def subset(self, names: Sequence[str]) -> Suite:
        """The same suite restricted to ``names`` (e.g. a held-out test part)."""
        unknown = [name for name in names if name not in self.parameters.index]
        if unknown:
            raise SuiteError(f"{self.path}: no universes {unknown[:5]}")
        return Suite(self.path, self.parameters.loc[list(names)], self.settings, self.info)

    def split(self, fraction: float, seed: int = 0) -> tuple[Suite, Suite]:
        """(training part, held-out part): a seeded random ``fraction`` of the universes
        held out (at least one), both in the suite's order."""
        train, test = held_out_names(self.names, fraction, seed)
        return self.subset(train), self.subset(test)

    def complete(self) -> Suite:
        """The universes simulated so far (all of them once generation has finished)."""
        missing = set(self.missing)
        return self.subset([name for name in self.names if name not in missing])

    def catalog(self, name: str) -> Catalog:
        """The catalog of universe ``name`` (``LH_<i>``)."""
        path = self.file(name)
        if not path.exists():
            raise SuiteError(f"{path}: universe {name} has not been simulated yet")
        return read_catalog(path)


def held_out_names(names: Sequence[str], fraction: float, seed: int = 0
                   ) -> tuple[list[str], list[str]]:
    """(kept, held out): ``round(fraction * len(names))`` names (at least one) chosen by a
    seeded permutation; both lists keep the order of ``names``."""
    names = list(names)
    if not 0 < fraction < 1:
        raise SuiteError(f"the held-out fraction must be in (0, 1), got {fraction}")
    n_test = max(1, round(fraction * len(names)))
    if n_test >= len(names):
        raise SuiteError(f"holding out {fraction:g} of {len(names)} universes leaves none "
                         "to train on")
    test = {names[i] for i in np.random.default_rng(seed).permutation(len(names))[:n_test]}
    return [n for n in names if n not in test], [n for n in names if n in test]


def read_suite(path: str | Path) -> Suite:
    """Open a suite directory written by :func:`make_suite`."""
    root = Path(path)
    settings_file = root / SETTINGS_FILE
    if not settings_file.is_file():
        raise SuiteError(f"{root}: not a suite directory (no {SETTINGS_FILE})")
    info = _read_settings_file(settings_file)
    parameters = read_parameter_table(root / PARAMETER_FILE)
    return Suite(root, parameters, SuiteSettings.from_dict(_settings_part(info)), info)


def _settings_part(info: dict[str, Any]) -> dict[str, Any]:
    return dict(info["settings"])


def _read_settings_file(path: Path) -> dict[str, Any]:
    import json

    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        if info.get("format") != SUITE_FORMAT:
            raise ValueError(f"format {info.get('format')!r}, not {SUITE_FORMAT!r}")
        if not isinstance(info["settings"], dict):
            raise ValueError("'settings' is not a mapping")
        return info
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SuiteError(f"{path}: not a readable suite settings file ({err})") from None


def _complete(path: Path) -> bool:
    """The catalog file exists and its Parquet footer reads (written atomically)."""
    try:
        return path.is_file() and pq.read_metadata(path).num_rows > 0
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class SuiteProgress:
    """State of a running :func:`make_suite`: ``done`` of ``total`` universes finished
    (``skipped`` of them from an earlier run), the last one finished, seconds so far."""

    done: int
    total: int
    skipped: int
    last: str | None
    seconds: float


def _universe_task(root: str, name: str, parameters: dict[str, Any],
                   settings: dict[str, Any]) -> dict[str, Any]:
    """Simulate one universe and write its catalog atomically (runs on a worker)."""
    start = time.perf_counter()
    suite_settings = SuiteSettings.from_dict(settings)
    seed = int(parameters.pop("seed"))
    catalog = simulate_universe(parameters, suite_settings, seed)
    write_catalog(catalog, Path(root) / f"{name}.parquet")
    return {"name": name, "rows": len(catalog.table), "seconds": time.perf_counter() - start}


@contextlib.contextmanager
def _dask_client(scheduler: Any, workers: int) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if not isinstance(scheduler, str):
        yield scheduler
        return
    if scheduler == "local":
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
                Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise SuiteError(f"cannot reach the Dask scheduler at {scheduler!r} ({err})") from None
    with client:
        yield client


def _prepare(out: Path, universes: int, settings: SuiteSettings, seed: int
             ) -> pd.DataFrame:
    """Create or check the suite directory; write suite.json and parameters.txt."""
    if isinstance(universes, bool) or not isinstance(universes, int | np.integer) \
            or universes < 1:
        raise SuiteError(f"universes must be a positive integer, got {universes!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise SuiteError(f"seed must be a non-negative integer, got {seed!r}")
    if out.exists() and not out.is_dir():
        raise SuiteError(f"{out} exists and is not a directory")
    if not out.parent.is_dir():
        raise SuiteError(f"cannot create {out}: directory {out.parent} does not exist")
    out.mkdir(exist_ok=True)
    recorded = {"universes": int(universes), "seed": int(seed), "settings": settings.to_dict()}
    settings_file = out / SETTINGS_FILE
    if settings_file.exists():
        info = _read_settings_file(settings_file)
        before = {key: info.get(key) for key in recorded}
        if before != recorded:
            changed = [f"{key}: {before[key]!r} -> {recorded[key]!r}" for key in recorded
                       if before[key] != recorded[key]]
            raise SuiteError(f"{out} holds a suite made with other settings ("
                             + "; ".join(changed) + "); choose another directory or delete "
                             "this one to start over")
    elif any(_NAME.match(path.stem) for path in out.glob("LH_*.parquet")):
        raise SuiteError(f"{out} holds catalogs but no {SETTINGS_FILE}; choose another "
                         "directory or delete this one")
    table = parameter_table(int(universes), settings, int(seed))
    write_json(settings_file, {"format": SUITE_FORMAT, "galhalo_version": __version__,
                               **recorded})
    text = format_parameter_table(table)
    parameter_file = out / PARAMETER_FILE
    if not parameter_file.exists() or parameter_file.read_text(encoding="utf-8") != text:
        with atomic_path(parameter_file) as tmp:
            tmp.write_text(text, encoding="utf-8")
    for stale in out.iterdir():  # temporaries of a killed run
        if _TEMPORARY.match(stale.name):
            stale.unlink(missing_ok=True)
    return table


def _say(progress: SuiteProgress) -> None:
    print(f"[galhalo suite] {progress.done}/{progress.total} universes "
          f"({progress.seconds:.1f} s){' ' + progress.last if progress.last else ''}",
          file=sys.stderr, flush=True)


def make_suite(out: str | Path, universes: int, settings: SuiteSettings | None = None,
               seed: int = 0, scheduler: Any = "local", workers: int = 2,
               progress: bool | Callable[[SuiteProgress], None] = True) -> Path:
    """Generate (or finish) a training suite of ``universes`` universes in ``out``.

    Args:
        out: the suite directory (created; its parent must exist).
        universes: number of universes (rows of the Latin hypercube).
        settings: :class:`SuiteSettings` (default: the defaults).
        seed: run seed: fixes the hypercube and every universe's seed.
        scheduler: ``"local"`` (a Dask LocalCluster of ``workers`` single-threaded
            processes), ``"threads"`` (``workers`` threads in this process), a scheduler
            address ``"tcp://host:8786"`` or a ``distributed.Client`` (the workers must
            see ``out``).
        workers: processes or threads of a local run.
        progress: ``True`` prints one line per universe on stderr; a callable receives
            a :class:`SuiteProgress` at the start and after each universe.

    Returns:
        ``out`` as a :class:`~pathlib.Path`. A re-run skips finished universes; a
        directory made with other settings, universes or seed is refused
        (:class:`SuiteError`).
    """
    settings = settings or SuiteSettings()
    if not isinstance(settings, SuiteSettings):
        raise SuiteError(f"settings must be a SuiteSettings, got {type(settings).__name__}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SuiteError(f"workers must be a positive integer, got {workers!r}")
    if isinstance(scheduler, str) and scheduler not in ("local", "threads") \
            and "://" not in scheduler:
        raise SuiteError(f"scheduler must be 'local', 'threads' or an address such as "
                         f"tcp://host:8786, got {scheduler!r}")
    root = Path(out).resolve()
    table = _prepare(root, universes, settings, seed)
    todo = [name for name in table.index if not _complete(root / f"{name}.parquet")]
    report = _say if progress is True else (progress or None)
    start = time.perf_counter()
    skipped = len(table) - len(todo)
    done = skipped

    def tell(last: str | None) -> None:
        if report is not None:
            report(SuiteProgress(done, len(table), skipped, last,
                                 time.perf_counter() - start))

    tell(None)
    if not todo:
        return root
    # per-column access: a row of the mixed table would turn the 63-bit seeds into floats
    arguments = [(str(root), name,
                  {**{key: float(table.at[name, key]) for key in SAMPLED},
                   "seed": int(table.at[name, "seed"])}, settings.to_dict())
                 for name in todo]
    if scheduler == "threads":
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_universe_task, *args) for args in arguments]
            for future in threads_completed(futures):
                result = future.result()
                done += 1
                tell(result["name"])
        return root
    with _dask_client(scheduler, workers) as client:
        from distributed import as_completed

        token = uuid.uuid4().hex[:8]  # fresh keys: a long-lived cluster may hold old ones
        futures = [client.submit(_universe_task, *args, key=f"suite-{args[1]}-{token}",
                                 pure=False) for args in arguments]
        try:
            for future in as_completed(futures):
                result = future.result()
                done += 1
                tell(result["name"])
        finally:
            client.cancel([future for future in futures if not future.done()])
    return root

