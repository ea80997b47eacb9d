"""Galaxy catalogs as graphs for field-level inference of cosmological parameters.

A box of galaxies becomes one graph [dS23]: nodes are galaxies, directed edges join
every pair closer than ``r_link`` (default 1.25 Mpc/h) under periodic minimum-image
distances, found with a periodic KD-tree. Every feature is invariant under
translations of the periodic box and under rotations (positions and velocities rotated
together); nothing depends on absolute positions.

Node features (one row per galaxy):

* ``log_degree``: ln(1 + neighbours within r_link);
* ``log_kernel``: ln(1 + sum over neighbours of (1 - d / r_link)), a smooth local density;
* velocities: the speed ``|v|`` (km/s), or in line-of-sight mode the line-of-sight
  (z) component ``v_los`` (km/s) alone, invariant under rotations about the z axis;
* any galaxy properties asked for (e.g. ``smass``), as stored.

Edge features, for the edge from sender j to receiver i with d = x_j - x_i (minimum
image, Mpc/h):

* ``distance``: |d| / r_link;
* 3-D velocities: ``cos_vi_d``, ``cos_vj_d``, ``cos_vi_vj`` (cosines of the angles
  between v_i, v_j and d) and ``v_radial`` = (v_j - v_i) . d / |d| (km/s, the pairwise
  infall or outflow velocity);
* line of sight: ``mu`` = d_z / |d| (cosine of the angle to the line of sight) and
  ``dv_los`` = v_los,j - v_los,i (km/s).

Global feature (optional): ``log_n_galaxies`` = log10 N_gal of the box.

Undefined cosines (a zero velocity or two galaxies at the same place) are 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch_geometric.data import Data

from ..catalog import Catalog
from ..errors import CosmoError

__all__ = [
    "CosmoError",
    "Galaxies",
    "GraphConfig",
    "build_graph",
    "build_graphs",
    "feature_names",
    "galaxies_from_suite",
    "graphs_from_suite",
    "minimum_image",
    "periodic_pairs",
]

#: Default linking length, Mpc/h [dS23].
R_LINK = 1.25
#: Velocity columns of a catalog, km/s.
VELOCITIES = ("vx", "vy", "vz")



# ----------------------------------------------------------------------------- galaxies
def _finite_array(name: str, values: Any, shape_tail: tuple[int, ...] | None) -> np.ndarray:
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise CosmoError(f"{name} must be numeric") from None
    if shape_tail is not None and (array.ndim != 1 + len(shape_tail)
                                   or array.shape[1:] != shape_tail):
        raise CosmoError(f"{name} must have shape (n, {', '.join(map(str, shape_tail))}), "
                         f"got {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(array), -1).any(axis=1))
        raise CosmoError(f"{name}: {len(rows)} of {len(array)} rows hold NaN or inf "
                         f"(first at row {int(rows[0])})")
    return array


@dataclass(frozen=True)
class Galaxies:
    """The galaxies of one periodic box.

    Attributes:
        positions: (n, 3) comoving positions, Mpc/h, in [0, box_size).
        velocities: (n, 3) peculiar velocities in km/s, or (n, 1): the line-of-sight (z)
            component only (what redshift-space catalogs keep).
        box_size: side of the periodic box, Mpc/h.
        properties: galaxy properties by name, each (n,) (e.g. ``smass``, log10 Msun/h).
        redshift: of the snapshot (for redshift-space distortions).

    Validated on construction (shapes, NaN/inf, positions inside the box).
    """

    positions: np.ndarray
    velocities: np.ndarray
    box_size: float
    properties: Mapping[str, np.ndarray] = field(default_factory=dict)
    redshift: float = 0.0

    def __post_init__(self) -> None:
        box = self.box_size
        if isinstance(box, bool) or not isinstance(box, int | float | np.number) or not (
                math.isfinite(box) and box > 0):
            raise CosmoError(f"box_size must be a finite number > 0 (Mpc/h), got {box!r}")
        if not (math.isfinite(self.redshift) and self.redshift >= 0):
            raise CosmoError(f"redshift must be finite and >= 0, got {self.redshift}")
        positions = _finite_array("positions (Mpc/h)", self.positions, (3,))
        velocities = _finite_array("velocities (km/s)", self.velocities, None)
        if velocities.ndim != 2 or velocities.shape[1] not in (1, 3):
            raise CosmoError(f"velocities must have shape (n, 3) or (n, 1) (line of sight "
                             f"only), got {velocities.shape}")
        if len(velocities) != len(positions):
            raise CosmoError(f"{len(positions)} positions but {len(velocities)} velocities")
        outside = ((positions < 0) | (positions >= box)).any(axis=1)
        if outside.any():
            raise CosmoError(f"positions: {outside.sum()} of {len(positions)} galaxies lie "
                             f"outside the box [0, {box:g}) Mpc/h (first at row "
                             f"{int(np.flatnonzero(outside)[0])})")
        properties = {}
        for name, values in dict(self.properties).items():
            column = _finite_array(f"property {name!r}", values, ())
            if len(column) != len(positions):
                raise CosmoError(f"property {name!r} has {len(column)} rows, the positions "
                                 f"{len(positions)}")
            properties[str(name)] = column
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "velocities", velocities)
        object.__setattr__(self, "box_size", float(box))
        object.__setattr__(self, "properties", properties)
        object.__setattr__(self, "redshift", float(self.redshift))

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def line_of_sight_only(self) -> bool:
        """True if only the line-of-sight (z) velocity is known."""
        return self.velocities.shape[1] == 1

    @property
    def line_of_sight_velocity(self) -> np.ndarray:
        """(n,) km/s: the z component of the velocities."""
        return self.velocities[:, -1]

    def select(self, keep: np.ndarray) -> Galaxies:
        """The galaxies where ``keep`` (bool (n,)) is true."""
        keep = np.asarray(keep)
        if keep.dtype != np.bool_ or keep.shape != (len(self),):
            raise CosmoError(f"selection must be boolean of shape ({len(self)},), got "
                             f"{keep.dtype} {keep.shape}")
        return replace(self, positions=self.positions[keep], velocities=self.velocities[keep],
                       properties={k: v[keep] for k, v in self.properties.items()})

    @classmethod
    def from_catalog(cls, catalog: Catalog, properties: Iterable[str] = ()) -> Galaxies:
        """Positions ``x, y, z``, velocities ``vx, vy, vz`` and the named property columns
        of a catalog; its ``meta.box_size`` must be set."""
        if not isinstance(catalog, Catalog):
            raise CosmoError(f"expected a galhalo Catalog, got {type(catalog).__name__}")
        if catalog.meta.box_size is None:
            raise CosmoError(f"catalog {catalog.meta.source or ''} has no box_size: graphs "
                             "need a periodic box".replace("  ", " "))
        properties = tuple(properties)
        wanted = ("x", "y", "z", *VELOCITIES, *properties)
        missing = [name for name in wanted if name not in catalog.table.columns]
        if missing:
            raise CosmoError(f"catalog columns {missing} are missing (it has: "
                             f"{', '.join(map(str, catalog.table.columns))})")
        table = catalog.table
        return cls(table[["x", "y", "z"]].to_numpy(np.float64),
                   table[list(VELOCITIES)].to_numpy(np.float64), catalog.meta.box_size,
                   {name: table[name].to_numpy(np.float64) for name in properties},
                   catalog.meta.redshift)


# ----------------------------------------------------------------------------- edges
def minimum_image(separation: np.ndarray, box_size: float) -> np.ndarray:
    """Separations (..., 3) in Mpc/h wrapped to the nearest periodic image,
    components in [-box/2, box/2]."""
    return separation - box_size * np.round(separation / box_size)


def periodic_pairs(positions: np.ndarray, box_size: float, r_link: float = R_LINK
                   ) -> np.ndarray:
    """Directed edges between galaxies closer than ``r_link`` in a periodic box.

    Args:
        positions: (n, 3) Mpc/h in [0, box_size).
        box_size: Mpc/h.
        r_link: linking length, Mpc/h, 0 < r_link < box_size / 2.

    Returns:
        int64 array (2, E): row 0 the sender j, row 1 the receiver i; both directions of
        every pair with minimum-image distance < r_link, sorted by (receiver, sender).
    """
    if not (math.isfinite(r_link) and 0 < r_link < box_size / 2):
        raise CosmoError(f"r_link must be > 0 and < box_size / 2 = {box_size / 2:g} Mpc/h, "
                         f"got {r_link}")
    positions = np.asarray(positions, dtype=np.float64)
    if len(positions) < 2:
        return np.zeros((2, 0), dtype=np.int64)
    tree = cKDTree(positions, boxsize=box_size)
    pairs = tree.query_pairs(r_link, output_type="ndarray").astype(np.int64)
    if len(pairs):  # the tree keeps d <= r; "closer than" is strict, by our own distances
        d = minimum_image(positions[pairs[:, 1]] - positions[pairs[:, 0]], box_size)
        pairs = pairs[np.einsum("ij,ij->i", d, d) < r_link**2]
    senders = np.concatenate([pairs[:, 0], pairs[:, 1]])
    receivers = np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.lexsort((senders, receivers))
    return np.stack([senders[order], receivers[order]])


# ----------------------------------------------------------------------------- features
@dataclass(frozen=True)
class GraphConfig:
    """How a box becomes a graph.

    Attributes:
        r_link: linking length, Mpc/h.
        line_of_sight: use only the line-of-sight (z) velocity (redshift-space mode, or
            catalogs with radial velocities only); forced by galaxies that carry only it.
        properties: galaxy property columns used as node features (e.g. ``("smass",)``).
        use_global: add the global feature log10 N_gal.
    """

    r_link: float = R_LINK
    line_of_sight: bool = False
    properties: tuple[str, ...] = ()
    use_global: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.properties, str):
            object.__setattr__(self, "properties", (self.properties,))
        object.__setattr__(self, "properties", tuple(self.properties))
        if not (isinstance(self.r_link, int | float) and math.isfinite(self.r_link)
                and self.r_link > 0):
            raise CosmoError(f"r_link must be a finite number > 0 (Mpc/h), got {self.r_link!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"r_link": self.r_link, "line_of_sight": self.line_of_sight,
                "properties": list(self.properties), "use_global": self.use_global}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GraphConfig:
        unknown = sorted(set(data) - {"r_link", "line_of_sight", "properties", "use_global"})
        if unknown:
            raise CosmoError(f"unknown graph settings {unknown}")
        return cls(**{**data, "properties": tuple(data.get("properties", ()))})


def feature_names(config: GraphConfig) -> tuple[tuple[str, ...], tuple[str, ...],
                                                  tuple[str, ...]]:
    """(node, edge, global) feature names of graphs built with ``config``."""
    if config.line_of_sight:
        node = ("log_degree", "log_kernel", "v_los", *config.properties)
        edge = ("distance", "mu", "dv_los")
    else:
        node = ("log_degree", "log_kernel", "speed", *config.properties)
        edge = ("distance", "cos_vi_d", "cos_vj_d", "cos_vi_vj", "v_radial")
    return node, edge, ("log_n_galaxies",) if config.use_global else ()


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dot = np.einsum("ij,ij->i", a, b)
    out = np.zeros(len(a))
    np.divide(dot, norm, out=out, where=norm > 0)
    return out


def _features(galaxies: Galaxies, config: GraphConfig, edges: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    senders, receivers = edges
    n = len(galaxies)
    d = minimum_image(galaxies.positions[senders] - galaxies.positions[receivers],
                      galaxies.box_size)
    length = np.linalg.norm(d, axis=1)
    distance = length / config.r_link
    degree = np.bincount(receivers, minlength=n)
    kernel = np.bincount(receivers, weights=1.0 - distance, minlength=n)
    properties = [galaxies.properties[name] for name in config.properties]
    if config.line_of_sight:
        v_los = galaxies.line_of_sight_velocity
        mu = np.zeros(len(d))
        np.divide(d[:, 2], length, out=mu, where=length > 0)
        node = [np.log1p(degree), np.log1p(kernel), v_los, *properties]
        edge = [distance, mu, v_los[senders] - v_los[receivers]]
    else:
        v = galaxies.velocities
        v_i, v_j = v[receivers], v[senders]
        radial = np.zeros(len(d))
        np.divide(np.einsum("ij,ij->i", v_j - v_i, d), length, out=radial, where=length > 0)
        node = [np.log1p(degree), np.log1p(kernel), np.linalg.norm(v, axis=1), *properties]
        edge = [distance, _cosine(v_i, d), _cosine(v_j, d), _cosine(v_i, v_j), radial]
    return np.column_stack(node), np.column_stack(edge).reshape(len(d), len(edge))


def build_graph(galaxies: Galaxies, config: GraphConfig | None = None) -> Data:
    """One box as a torch-geometric graph.

    Returns:
        ``Data`` with ``x`` (n, node features), ``edge_index`` (2, E) (sender, receiver),
        ``edge_attr`` (E, edge features), ``u`` (1, global features) and ``n_galaxies``;
        float32 features in physical units, named by :func:`feature_names`.
    """
    config = config or GraphConfig()
    if not isinstance(galaxies, Galaxies):
        raise CosmoError(f"expected Galaxies, got {type(galaxies).__name__}")
    if len(galaxies) == 0:
        raise CosmoError("the box has no galaxies left: a graph needs at least one")
    if galaxies.line_of_sight_only and not config.line_of_sight:
        raise CosmoError("these galaxies carry only the line-of-sight velocity (redshift "
                         "space): build their graphs with line_of_sight=True")
    missing = [name for name in config.properties if name not in galaxies.properties]
    if missing:
        raise CosmoError(f"galaxy properties {missing} are missing (the galaxies have: "
                         f"{sorted(galaxies.properties) or 'none'})")
    edges = periodic_pairs(galaxies.positions, galaxies.box_size, config.r_link)
    node, edge = _features(galaxies, config, edges)
    glob = [math.log10(len(galaxies))] if config.use_global else []
    return Data(x=torch.as_tensor(node, dtype=torch.float32),
                edge_index=torch.as_tensor(edges, dtype=torch.long),
                edge_attr=torch.as_tensor(edge, dtype=torch.float32),
                u=torch.tensor([glob], dtype=torch.float32).reshape(1, len(glob)),
                n_galaxies=len(galaxies), num_nodes=len(galaxies))


def build_graphs(boxes: Sequence[Galaxies], config: GraphConfig | None = None) -> list[Data]:
    """:func:`build_graph` for every box; errors name the box index."""
    if len(boxes) == 0:
        raise CosmoError("no boxes given")
    graphs = []
    for index, galaxies in enumerate(boxes):
        try:
            graphs.append(build_graph(galaxies, config))
        except CosmoError as err:
            raise CosmoError(f"box {index}: {err}") from None
    return graphs


# ----------------------------------------------------------------------------- suites
def galaxies_from_suite(suite: Any, parameters: Sequence[str] = ("Omega_m",),
                        properties: Iterable[str] = ()
                        ) -> tuple[list[Galaxies], np.ndarray, tuple[str, ...]]:
    """The boxes of a simulation suite and their parameters.

    ``suite`` is anything with ``.names`` (box names), ``.parameters`` (a DataFrame
    indexed by name, one column per parameter) and ``.catalog(name) -> Catalog``, like
    ``galhalo.sim.suites.read_suite``'s result.

    Returns:
        (boxes, parameter values (boxes, len(parameters)), box names).
    """
    for attribute in ("names", "parameters", "catalog"):
        if not hasattr(suite, attribute):
            raise CosmoError(f"a suite needs .names, .parameters and .catalog(name); "
                             f"{type(suite).__name__} has no .{attribute}")
    names = tuple(suite.names)
    if not names:
        raise CosmoError("the suite has no boxes")
    table = suite.parameters
    parameters = (parameters,) if isinstance(parameters, str) else tuple(parameters)
    missing = [p for p in parameters if p not in table.columns]
    if missing:
        raise CosmoError(f"suite parameters {missing} are unknown (it has: "
                         f"{', '.join(map(str, table.columns))})")
    absent = [name for name in names if name not in table.index]
    if absent:
        raise CosmoError(f"boxes {absent[:5]} have no row in the suite's parameters")
    values = _finite_array("suite parameters", table.loc[list(names), list(parameters)], None)
    properties = tuple(properties)
    boxes = []
    for name in names:
        try:
            boxes.append(Galaxies.from_catalog(suite.catalog(name), properties))
        except CosmoError as err:
            raise CosmoError(f"box {name}: {err}") from None
    return boxes, values, names


def graphs_from_suite(suite: Any, config: GraphConfig | None = None,
                      parameters: Sequence[str] = ("Omega_m",)
                      ) -> tuple[list[Data], np.ndarray, tuple[str, ...]]:
    """Graphs of every box of a suite (no systematics), their parameter values
    (boxes, len(parameters)) and box names. See :func:`galaxies_from_suite`."""
    config = config or GraphConfig()
    boxes, values, names = galaxies_from_suite(suite, parameters, config.properties)
    return build_graphs(boxes, config), values, names
