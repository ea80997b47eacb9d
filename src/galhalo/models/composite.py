"""The composite galaxy-halo model: centrals, satellite counts, orbits and satellites.

A :class:`CompositeModel` joins four fitted :class:`ConditionalModel` components, in the
spirit of halotools' composite models:

* ``central``: p(galaxy properties | host) of the central galaxy (targets ⊆ ``smass,
  color, sSFR, radius``);
* ``occupation``: p(N_sat | host, central) (a count model: ``occupation`` or ``hod``);
* ``profile``: p(r_host, v_r, v_t | host, central), the satellites' orbits (any family
  with that target, e.g. a flow trained on ``--galaxies satellites``);
* ``satellite``: p(galaxy properties | host, central, own sub-halo) of a satellite (the
  central's targets).

"host" columns are the halo columns (``M_h, C_h, S_h, z_h, Delta3_h``, the host's);
"central" columns (``smass_central`` ...) are the painted central's properties; the
satellite may also condition on its sub-halo (``M_peak``, ``Vmax_peak``, ``r_host`` ...).

Two ways to paint (:meth:`CompositeModel.paint`, :meth:`CompositeModel.paint_subhalos`):
from hosts alone, each satellite placed on an orbit drawn by the profile; or from a
catalog of centrals and sub-halos, the ``N_sat`` sub-halos of largest ``Vmax_peak`` of
each host becoming its satellites (SHAM-like). Either way the output is a catalog with
satellites (``host_id``, ``is_central``), grouped by host, its central first.

On disk a composite is a directory with ``config.json`` (``family: composite``, the
component sub-directories, checksums of every file) and one normal model directory per
component; the write is atomic and nothing is pickled. :func:`load_any` reads either
kind of model directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..catalog.schema import (
    ALL_COLUMNS,
    GALAXY,
    HALO,
    HALO_ID,
    HOST_ID,
    IS_CENTRAL,
    N_SAT,
    POSITION,
    SUBHALO,
    VELOCITY,
)
from ..catalog.virial import DEFAULT_OMEGA_M, virial_radius
from ..errors import ModelError
from .interface import ConditionalModel, Table, table_of
from .painting import PAINTED_ID_BASE, check_orbits, host_order, painting_seeds, place_satellites
from .registry import load_model
from .store import read_config, read_model_directory, write_model_directory

try:  # the names are fixed by issue #19; catalog/schema.py exports them once merged
    from ..catalog.schema import CENTRAL
except ImportError:  # pragma: no cover - until the schema carries them
    CENTRAL = ("smass_central", "color_central", "sSFR_central", "radius_central")

__all__ = ["CENTRAL", "COMPOSITE_FAMILY", "ORBIT", "PAINTED_ID_BASE", "ROLES",
           "CompositeModel", "load_any"]

COMPOSITE_FAMILY = "composite"
#: The components, in the order they are drawn.
ROLES = ("central", "occupation", "profile", "satellite")
#: A satellite's orbit in its host: the profile's target.
ORBIT = ("r_host", "v_r", "v_t")
#: Sub-halo columns a halo-only painting does not have (the profile draws ORBIT).
SUBHALO_ONLY = tuple(name for name in SUBHALO if name not in ORBIT)


def _quoted(names) -> str:
    return ", ".join(names)


def central_source(name: str) -> str:
    """The galaxy column a central column copies: ``smass_central`` -> ``smass``."""
    return name.removesuffix("_central")


def check_composition(central: ConditionalModel, occupation: ConditionalModel,
                      profile: ConditionalModel, satellite: ConditionalModel) -> None:
    """Refuse components that do not make a composite (ModelError naming the component
    and its columns): see :class:`CompositeModel`."""
    parts = dict(zip(ROLES, (central, occupation, profile, satellite), strict=True))
    for role, model in parts.items():
        if not isinstance(model, ConditionalModel) or not model.fitted:
            raise ModelError(f"composite: the {role} component is not a fitted galhalo "
                             f"model (got {model!r})")
    if central.target_kind != "continuous" or not set(central.target) <= set(GALAXY):
        raise ModelError(
            f"composite: the central component ({central.family}, target "
            f"{_quoted(central.target)}) must draw galaxy columns (a subset of "
            f"{_quoted(GALAXY)}); a count model belongs in the occupation")
    halo_side = set(HALO) | set(CENTRAL)
    allowed = {"central": set(HALO), "occupation": halo_side, "profile": halo_side,
               "satellite": halo_side | set(SUBHALO)}
    if tuple(occupation.target) != (N_SAT.name,) or occupation.target_kind != "count":
        raise ModelError(
            f"composite: the occupation component ({occupation.family}, target "
            f"{_quoted(occupation.target)}, {occupation.target_kind}) must be a count model "
            f"of {N_SAT.name}")
    if set(profile.target) != set(ORBIT) or len(profile.target) != len(ORBIT):
        raise ModelError(
            f"composite: the profile component ({profile.family}) must have the target "
            f"{_quoted(ORBIT)}, not {_quoted(profile.target)}")
    if set(satellite.target) != set(central.target) or len(satellite.target) != len(
            central.target):
        raise ModelError(
            f"composite: the satellite component's target ({_quoted(satellite.target)}) "
            f"must be the central's ({_quoted(central.target)})")
    for role, model in parts.items():
        outside = [name for name in model.condition if name not in allowed[role]]
        if outside:
            raise ModelError(
                f"composite: the {role} component conditions on {_quoted(outside)}, which "
                f"it cannot have; allowed: {_quoted(sorted(allowed[role]))}")
        undrawn = [name for name in model.condition if name in CENTRAL
                   and central_source(name) not in central.target]
        if undrawn:
            raise ModelError(
                f"composite: the {role} component conditions on {_quoted(undrawn)}, but the "
                f"central component draws only {_quoted(central.target)}")


class CompositeModel:
    """Central, occupation, profile and satellite components that paint galaxies onto
    hosts (module docstring). Construction checks the components:

    * the central's targets are galaxy columns, its condition halo columns;
    * the occupation is a count model of ``N_sat``;
    * the profile's target is ``r_host, v_r, v_t``;
    * the satellite's target is the central's;
    * the occupation and the profile condition on halo and central columns; the
      satellite on those and sub-halo columns (central columns only those the central
      draws).

    Raises:
        ModelError: naming the component and the offending columns.
    """

    family: ClassVar[str] = COMPOSITE_FAMILY

    def __init__(self, central: ConditionalModel, occupation: ConditionalModel,
                 profile: ConditionalModel, satellite: ConditionalModel):
        check_composition(central, occupation, profile, satellite)
        self.central, self.occupation = central, occupation
        self.profile, self.satellite = profile, satellite

    def __repr__(self) -> str:
        parts = ", ".join(f"{role}={model.family}" for role, model in self.components.items())
        return f"CompositeModel({parts})"

    @property
    def components(self) -> dict[str, ConditionalModel]:
        """{role: model} in :data:`ROLES` order."""
        return dict(zip(ROLES, (self.central, self.occupation, self.profile, self.satellite),
                        strict=True))

    @property
    def target(self) -> tuple[str, ...]:
        """The galaxy columns painted on every galaxy (the central's targets)."""
        return tuple(self.central.target)

    @property
    def subhalo_columns(self) -> tuple[str, ...]:
        """Sub-halo columns the satellite conditions on besides its orbit."""
        return tuple(name for name in self.satellite.condition if name in SUBHALO_ONLY)

    @property
    def needs_subhalos(self) -> bool:
        """Whether the satellite conditions on a sub-halo column other than its orbit
        (``r_host, v_r, v_t``): then only a catalog with sub-halos can be painted."""
        return bool(self.subhalo_columns)

    @property
    def host_columns(self) -> tuple[str, ...]:
        """Halo columns a host row must carry: every component's halo conditions and
        ``M_h`` (the virial radius that places satellites), in schema order."""
        used = {name for model in self.components.values() for name in model.condition}
        return tuple(name for name in HALO if name in used or name == "M_h")

    def describe(self) -> list[dict[str, Any]]:
        """One record per component: role, family, condition, target (for printing)."""
        return [{"role": role, "family": model.family, "condition": list(model.condition),
                 "target": list(model.target)} for role, model in self.components.items()]

    # ------------------------------------------------------------------ store
    def save(self, directory: str | Path) -> Path:
        """Write the composite directory atomically: ``config.json`` and one model
        directory per component (checksummed); returns its resolved path."""
        config = {"family": self.family, "components": {role: role for role in ROLES},
                  "target": list(self.target), "needs_subhalos": self.needs_subhalos}

        def components(tmp: Path) -> None:
            for role, model in self.components.items():
                model.save(tmp / role)

        return write_model_directory(directory, config, extra=components)

    @classmethod
    def load(cls, directory: str | Path) -> CompositeModel:
        """Read a directory written by :meth:`save` (every file's checksum verified)."""
        stored = read_model_directory(directory, COMPOSITE_FAMILY)
        names = stored.config.get("components")
        if not isinstance(names, dict) or set(names) != set(ROLES) or not all(
                isinstance(name, str) and name and "/" not in name and name not in (".", "..")
                for name in names.values()):
            raise ModelError(f"{stored.directory}: config.json 'components' must name the "
                             f"sub-directories of {_quoted(ROLES)}")
        return cls(**{role: load_model(stored.directory / names[role]) for role in ROLES})

    # ------------------------------------------------------------------ painting
    def _draw(self, role: str, conditions: pd.DataFrame, seed: int) -> np.ndarray:
        """One draw per row of component ``role``, (rows, targets); no rows: none."""
        model = self.components[role]
        if len(conditions) == 0:
            return np.empty((0, len(model.target)))
        draws = model.sample(conditions, 1, seed)[0]
        return np.asarray(draws)

    def _keep_centrals(self, hosts: pd.DataFrame, seed: int) -> np.ndarray:
        """Which hosts keep their central: all, or with probability
        ``occupation.central_occupation(hosts)`` when the occupation model has it."""
        rule = getattr(self.occupation, "central_occupation", None)
        if rule is None or len(hosts) == 0:
            return np.ones(len(hosts), dtype=bool)
        probability = np.asarray(rule(hosts), np.float64)
        if probability.shape != (len(hosts),) or not np.all(
                (probability >= 0) & (probability <= 1)):
            raise ModelError(f"composite: the occupation's central_occupation must give one "
                             f"probability in [0, 1] per host, got shape {probability.shape}")
        return np.random.default_rng(seed).random(len(hosts)) < probability

    def _paint_centrals(self, hosts: pd.DataFrame, seeds: dict[str, int]
                        ) -> tuple[pd.DataFrame, np.ndarray]:
        """Central galaxies drawn on ``hosts`` (their galaxy targets replaced, the
        central columns added) and each host's drawn ``N_sat`` (int64, (hosts,))."""
        centrals = hosts.copy()
        draws = self._draw("central", hosts, seeds["central"])
        for j, name in enumerate(self.central.target):
            centrals[name] = draws[:, j]
        for name in CENTRAL:
            if central_source(name) in self.central.target:
                centrals[name] = centrals[central_source(name)]
        counts = self._draw("occupation", centrals, seeds["occupation"])
        counts = np.asarray(counts[:, 0] if counts.size else np.zeros(0), np.int64)
        if (counts < 0).any():
            raise ModelError(f"composite: the occupation model drew {int((counts < 0).sum())}"
                             " negative counts")
        return centrals, counts

    def _orbits(self, satellites: pd.DataFrame, seed: int) -> np.ndarray:
        """Orbit draws (rows, 3) in :data:`ORBIT` order, checked."""
        draws = self._draw("profile", satellites, seed)
        orbits = draws[:, [list(self.profile.target).index(name) for name in ORBIT]]
        check_orbits(orbits, ORBIT, f"composite: the profile ({self.profile.family})")
        return orbits

    def _satellite_galaxies(self, satellites: pd.DataFrame, seed: int) -> None:
        """Draw the satellites' galaxy targets into ``satellites`` (in place)."""
        draws = self._draw("satellite", satellites, seed)
        for j, name in enumerate(self.satellite.target):
            satellites[name] = draws[:, j]

    def _placed(self, satellites: pd.DataFrame, orbits: np.ndarray, seed: int, *,
                redshift: float, omega_m: float, box: float | None) -> None:
        """Positions and velocities of profile-painted ``satellites`` (in place): their
        rows carry their host's position, velocity and ``M_h``."""
        radius = virial_radius(satellites["M_h"].to_numpy(np.float64), redshift, omega_m)
        position, velocity = place_satellites(
            satellites[list(POSITION)].to_numpy(np.float64),
            satellites[list(VELOCITY)].to_numpy(np.float64), radius,
            orbits[:, 0], orbits[:, 1], orbits[:, 2], np.random.default_rng(seed), box)
        for j, name in enumerate(POSITION):
            satellites[name] = position[:, j]
        for j, name in enumerate(VELOCITY):
            satellites[name] = velocity[:, j]

    def paint(self, hosts: Table, seed: int, *, redshift: float = 0.0,
              omega_m: float = DEFAULT_OMEGA_M, box: float | None = None,
              id_base: int = PAINTED_ID_BASE) -> pd.DataFrame:
        """Paint galaxies onto hosts alone (the halo-only path).

        Args:
            hosts: one row per host with ``halo_id``, :attr:`host_columns`, ``x, y, z``
                (Mpc/h) and ``vx, vy, vz`` (km/s).
            seed: master seed (same seed, same frame).
            redshift, omega_m: for the hosts' virial radii (:func:`virial_radius`).
            box: periodic box side (Mpc/h): satellite positions wrapped into [0, box).
            id_base: ``halo_id`` of the first painted satellite (then +1 each, in output
                order).

        Returns:
            One row per galaxy, grouped by host (central, then its satellites): the
            input columns (a satellite copies its host's, except ids, positions and
            velocities; sub-halo columns and galaxy columns the model does not paint
            are dropped), ``host_id``, ``is_central``, ``N_sat`` (on every row of a host),
            ``r_host, v_r, v_t`` (NaN on centrals) and the galaxy targets. ``attrs
            ["painting"]`` counts hosts, centrals and satellites.

        Raises:
            ModelError: the satellite needs sub-halo columns, a column is missing,
                ``halo_id`` repeats, or a row is a satellite.
        """
        if self.needs_subhalos:
            raise ModelError(
                f"composite: the satellite model needs sub-halo columns "
                f"{_quoted(self.subhalo_columns)}; give a catalog with sub-halos")
        frame = self._host_frame(hosts, "paint")
        seeds = painting_seeds(seed)
        keep = self._keep_centrals(frame, seeds["central_occupation"])
        centrals, counts = self._paint_centrals(frame[keep].reset_index(drop=True), seeds)
        host = np.repeat(np.arange(len(centrals)), counts)
        satellites = centrals.iloc[host].reset_index(drop=True)
        orbits = self._orbits(satellites, seeds["profile"])
        for j, name in enumerate(ORBIT):
            satellites[name] = orbits[:, j]
        self._satellite_galaxies(satellites, seeds["satellite"])
        self._placed(satellites, orbits, seeds["placement"], redshift=redshift,
                     omega_m=omega_m, box=box)
        satellites[HALO_ID.name] = -1  # numbered below, in output order
        table = _assemble(centrals, satellites, host, counts, within=None)
        painted = ~table[IS_CENTRAL.name].to_numpy()
        _number_painted(table, painted, id_base, frame[HALO_ID.name].to_numpy(np.int64))
        table.attrs["painting"] = {"path": "halos", "hosts": len(frame),
                                   "centrals": len(centrals),
                                   "satellites": int(painted.sum()),
                                   "from_profile": int(painted.sum())}
        return table

    def _host_frame(self, hosts: Table, what: str) -> pd.DataFrame:
        """The hosts as a DataFrame with the columns painting needs, checked."""
        data = table_of(hosts)
        frame = data.reset_index(drop=True) if isinstance(data, pd.DataFrame) \
            else pd.DataFrame(dict(data))
        if IS_CENTRAL.name in frame and not frame[IS_CENTRAL.name].to_numpy().astype(bool).all():
            raise ModelError(f"composite: {what} takes one row per host, but "
                             f"{int((~frame[IS_CENTRAL.name].to_numpy().astype(bool)).sum())} "
                             "rows are satellites (keep the centrals, or paint the sub-halos)")
        _require(frame, (HALO_ID.name, *self.host_columns, *POSITION, *VELOCITY), what)
        repeated = frame[HALO_ID.name].duplicated()
        if repeated.any():
            raise ModelError(f"composite: {what}: {int(repeated.sum())} hosts repeat a "
                             f"halo_id (first {frame[HALO_ID.name][repeated].iloc[0]})")
        # galaxy columns the model does not paint described the input's galaxies: a
        # painted satellite must not inherit its central's
        unpainted = tuple(name for name in GALAXY if name not in self.target)
        drop = [name for name in (*SUBHALO_ONLY, *CENTRAL, *unpainted, HOST_ID.name,
                                  IS_CENTRAL.name) if name in frame]
        return frame.drop(columns=drop)


def _require(frame: pd.DataFrame, names, what: str) -> None:
    missing = [name for name in dict.fromkeys(names) if name not in frame]
    if missing:
        raise ModelError(f"composite: {what} needs the columns {_quoted(missing)}; the "
                         f"table has {_quoted(map(str, frame.columns))}")


def _assemble(centrals: pd.DataFrame, satellites: pd.DataFrame, host: np.ndarray,
              counts: np.ndarray, within: np.ndarray | None) -> pd.DataFrame:
    """Central rows and satellite rows (``host``: each satellite's central row) as one
    table grouped by host, with ``host_id``, ``is_central``, ``N_sat`` and the orbit
    columns (NaN on centrals); central columns dropped, known columns in schema order."""
    centrals = centrals.copy()
    ids = centrals[HALO_ID.name].to_numpy(np.int64)
    centrals[HOST_ID.name] = ids
    centrals[IS_CENTRAL.name] = True
    centrals[N_SAT.name] = counts
    for name in ORBIT:
        centrals[name] = np.nan
    satellites = satellites.copy()
    satellites[HOST_ID.name] = ids[host]
    satellites[IS_CENTRAL.name] = False
    satellites[N_SAT.name] = counts[host]
    table = pd.concat([centrals, satellites], ignore_index=True)
    table = table.iloc[host_order(len(centrals), host, within)].reset_index(drop=True)
    table = table.drop(columns=[name for name in CENTRAL if name in table])
    known = [column.name for column in ALL_COLUMNS if column.name in table]
    table = table[known + [name for name in table.columns if name not in known]]
    table[HALO_ID.name] = table[HALO_ID.name].astype(np.int64)
    table[HOST_ID.name] = table[HOST_ID.name].astype(np.int64)
    table[N_SAT.name] = table[N_SAT.name].astype(np.int64)
    table[IS_CENTRAL.name] = table[IS_CENTRAL.name].astype(bool)
    return table


def _number_painted(table: pd.DataFrame, painted: np.ndarray, id_base: int,
                    taken: np.ndarray) -> None:
    """``halo_id = id_base + k`` for the painted rows (k = 0, 1, ... in table order),
    refusing ids that meet one of ``taken`` (the input's)."""
    count = int(painted.sum())
    if isinstance(id_base, bool) or not isinstance(id_base, int | np.integer) or id_base < 0 \
            or id_base + count > np.iinfo(np.int64).max:
        raise ModelError(f"composite: id_base must be an integer >= 0 leaving room for "
                         f"{count} ids, got {id_base!r}")
    clash = (taken >= id_base) & (taken < id_base + count)
    if clash.any():
        raise ModelError(f"composite: painted satellite ids from {id_base} would repeat "
                         f"{int(clash.sum())} input halo_ids (first {taken[clash][0]}); "
                         "choose another id_base")
    values = table[HALO_ID.name].to_numpy(np.int64).copy()
    values[painted] = int(id_base) + np.arange(count, dtype=np.int64)
    table[HALO_ID.name] = values


def load_any(directory: str | Path) -> ConditionalModel | CompositeModel:
    """A saved :class:`ConditionalModel` or :class:`CompositeModel`, by its
    ``config.json`` family."""
    if read_config(Path(directory))["family"] == COMPOSITE_FAMILY:
        return CompositeModel.load(directory)
    return load_model(directory)
