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

from ..catalog.hosts import orbit_in_host
from ..catalog.schema import (
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
from .painting import (
    CENTRAL,
    ORBIT,
    PAINTED_ID_BASE,
    assemble_hosts,
    check_orbits,
    number_painted,
    painting_seeds,
    place_satellites,
    rank_within_hosts,
    require_columns,
)
from .painting import quoted as _quoted
from .registry import load_model
from .store import read_config, read_model_directory, write_model_directory

__all__ = ["CENTRAL", "COMPOSITE_FAMILY", "ORBIT", "PAINTED_ID_BASE", "ROLES",
           "CompositeModel", "load_any"]

COMPOSITE_FAMILY = "composite"
#: The components, in the order they are drawn.
ROLES = ("central", "occupation", "profile", "satellite")
#: Sub-halo columns a halo-only painting does not have (the profile draws ORBIT).
SUBHALO_ONLY = tuple(name for name in SUBHALO if name not in ORBIT)
#: The column that ranks a host's sub-halos in the sub-halo path (largest first).
RANK_COLUMN = "Vmax_peak"


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
        table, painted = assemble_hosts(centrals, satellites, host, counts,
                                        np.ones(len(satellites), dtype=bool))
        number_painted(table, painted, id_base, frame[HALO_ID.name].to_numpy(np.int64))
        table.attrs["painting"] = {"path": "halos", "hosts": len(frame),
                                   "centrals": len(centrals),
                                   "satellites": int(painted.sum()),
                                   "from_profile": int(painted.sum())}
        return table

    def paint_subhalos(self, table: Table, seed: int, *, redshift: float = 0.0,
                       omega_m: float = DEFAULT_OMEGA_M, box: float | None = None,
                       id_base: int = PAINTED_ID_BASE) -> pd.DataFrame:
        """Paint galaxies onto centrals and sub-halos (the SHAM-like path).

        Each host draws its central and ``N_sat`` as in :meth:`paint`; its ``N_sat``
        sub-halos of largest ``Vmax_peak`` become the satellites, keeping their own
        ``halo_id``, positions, velocities and sub-halo columns (``r_host, v_r, v_t``
        from the table, or from :func:`orbit_in_host` when it has none); its other
        sub-halos are dropped. A host with fewer sub-halos than ``N_sat`` gets the rest
        painted as in :meth:`paint` (profile orbits, ids from ``id_base``), unless the
        satellite model needs sub-halo columns: then it keeps only its sub-halos (the
        shortfall is counted as ``unpainted``).

        Args:
            table: central rows and sub-halo rows (``is_central`` false) with
                ``halo_id``, ``host_id``, the host columns, ``Vmax_peak``, positions,
                velocities and the sub-halo columns the satellite conditions on.
            seed, redshift, omega_m, box, id_base: as in :meth:`paint`.

        Returns:
            As :meth:`paint`; the sub-halo columns besides the orbit are kept when the
            satellite conditions on them (every satellite then has its own sub-halo)
            and dropped otherwise. ``attrs["painting"]`` counts hosts, centrals,
            satellites, those from sub-halos and from the profile, the unpainted
            shortfall and the dropped sub-halos (unchosen, or of a host without a
            central).
        """
        data = table_of(table)
        frame = data.reset_index(drop=True) if isinstance(data, pd.DataFrame) \
            else pd.DataFrame(dict(data))
        require_columns(frame, (HALO_ID.name, HOST_ID.name, IS_CENTRAL.name, RANK_COLUMN,
                                *self.subhalo_columns), "paint_subhalos")
        central = frame[IS_CENTRAL.name].to_numpy().astype(bool)
        hosts = self._host_frame(frame[central], "paint_subhalos")
        subhalos = frame[~central].reset_index(drop=True)
        host = pd.Index(hosts[HALO_ID.name]).get_indexer(subhalos[HOST_ID.name])
        if (host < 0).any():
            raise ModelError(f"composite: paint_subhalos: {int((host < 0).sum())} sub-halos "
                             f"have no central row for their host_id (first "
                             f"{subhalos[HOST_ID.name][host < 0].iloc[0]})")
        repeated = frame[HALO_ID.name].duplicated()
        if repeated.any():
            raise ModelError(f"composite: paint_subhalos: {int(repeated.sum())} rows repeat "
                             f"a halo_id (first {frame[HALO_ID.name][repeated].iloc[0]})")
        for name in (RANK_COLUMN, *self.subhalo_columns):
            bad = ~np.isfinite(subhalos[name].to_numpy(np.float64, na_value=np.nan))
            if bad.any():
                raise ModelError(f"composite: paint_subhalos: column {name!r} is NaN or inf "
                                 f"on {int(bad.sum())} sub-halo rows")
        seeds = painting_seeds(seed)
        n_subhalos = len(subhalos)
        keep = self._keep_centrals(hosts, seeds["central_occupation"])
        renumber = np.cumsum(keep) - 1
        subhalos, host = subhalos[keep[host]].reset_index(drop=True), renumber[host[keep[host]]]
        centrals, drawn = self._paint_centrals(hosts[keep].reset_index(drop=True), seeds)
        rank = rank_within_hosts(host, subhalos[RANK_COLUMN].to_numpy(np.float64))
        chosen = rank < drawn[host]
        available = np.bincount(host, minlength=len(centrals))
        extra = np.maximum(drawn - available, 0)
        unpainted = int(extra.sum()) if self.needs_subhalos else 0
        if self.needs_subhalos:
            extra[:] = 0
        real = self._subhalo_satellites(subhalos[chosen].reset_index(drop=True),
                                        host[chosen], centrals, redshift, omega_m, box)
        extra_host = np.repeat(np.arange(len(centrals)), extra)
        painted = centrals.iloc[extra_host].reset_index(drop=True)
        orbits = self._orbits(painted, seeds["profile"])
        for j, name in enumerate(ORBIT):
            painted[name] = orbits[:, j]
        self._placed(painted, orbits, seeds["placement"], redshift=redshift, omega_m=omega_m,
                     box=box)
        painted[HALO_ID.name] = -1  # numbered below, in output order
        satellites = pd.concat([real, painted], ignore_index=True)
        self._satellite_galaxies(satellites, seeds["satellite"])
        satellite_host = np.concatenate([host[chosen], extra_host])
        within = np.concatenate([rank[chosen], np.full(len(extra_host), np.inf)])
        output, is_painted = assemble_hosts(
            centrals, satellites, satellite_host, np.minimum(drawn, available) + extra,
            np.r_[np.zeros(len(real), bool), np.ones(len(painted), bool)], within)
        number_painted(output, is_painted, id_base, frame[HALO_ID.name].to_numpy(np.int64))
        output.attrs["painting"] = {
            "path": "subhalos", "hosts": len(hosts), "centrals": len(centrals),
            "satellites": len(satellites), "from_subhalos": len(real),
            "from_profile": len(painted), "unpainted": unpainted,
            "subhalos_dropped": n_subhalos - len(real)}
        return output

    def _subhalo_satellites(self, subhalos: pd.DataFrame, host: np.ndarray,
                            centrals: pd.DataFrame, redshift: float, omega_m: float,
                            box: float | None) -> pd.DataFrame:
        """The chosen sub-halos as satellite rows: their own columns (sub-halo columns
        besides the orbit only when the satellite conditions on them), their host's
        central columns, and their orbit (the table's, or computed)."""
        unpainted = tuple(name for name in GALAXY if name not in self.target)
        keep_subhalo = self.needs_subhalos
        drop = [name for name in (*CENTRAL, *unpainted, HOST_ID.name, IS_CENTRAL.name,
                                  *(() if keep_subhalo else SUBHALO_ONLY))
                if name in subhalos]
        satellites = subhalos.drop(columns=drop)
        for name in CENTRAL:
            if name in centrals:
                satellites[name] = centrals[name].to_numpy()[host]
        if all(name in subhalos for name in ORBIT):
            orbits = subhalos[list(ORBIT)].to_numpy(np.float64, na_value=np.nan)
            check_orbits(orbits, ORBIT, "composite: paint_subhalos: the sub-halo rows")
            return satellites
        require_columns(subhalos, (*POSITION, *VELOCITY), "paint_subhalos")
        if box is None:
            raise ModelError("composite: paint_subhalos needs the box size to compute the "
                             "sub-halos' r_host, v_r, v_t (the table has none)")
        radius = virial_radius(centrals["M_h"].to_numpy(np.float64)[host], redshift, omega_m)
        orbit = orbit_in_host(subhalos[list(POSITION)].to_numpy(np.float64),
                              subhalos[list(VELOCITY)].to_numpy(np.float64),
                              centrals[list(POSITION)].to_numpy(np.float64)[host],
                              centrals[list(VELOCITY)].to_numpy(np.float64)[host], radius, box)
        for name, values in zip(ORBIT, orbit, strict=True):
            satellites[name] = values
        return satellites

    def _host_frame(self, hosts: Table, what: str) -> pd.DataFrame:
        """The hosts as a DataFrame with the columns painting needs, checked."""
        data = table_of(hosts)
        frame = data.reset_index(drop=True) if isinstance(data, pd.DataFrame) \
            else pd.DataFrame(dict(data))
        if IS_CENTRAL.name in frame and not frame[IS_CENTRAL.name].to_numpy().astype(bool).all():
            raise ModelError(f"composite: {what} takes one row per host, but "
                             f"{int((~frame[IS_CENTRAL.name].to_numpy().astype(bool)).sum())} "
                             "rows are satellites (keep the centrals, or paint the sub-halos)")
        require_columns(frame, (HALO_ID.name, *self.host_columns, *POSITION, *VELOCITY), what)
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


def load_any(directory: str | Path) -> ConditionalModel | CompositeModel:
    """A saved :class:`ConditionalModel` or :class:`CompositeModel`, by its
    ``config.json`` family."""
    if read_config(Path(directory))["family"] == COMPOSITE_FAMILY:
        return CompositeModel.load(directory)
    return load_model(directory)
