"""Rockstar / Consistent-Trees ``hlist`` halo catalogs → a galhalo halo catalog, streamed.

A dark-matter-only catalog: one row per halo, hosts (``upid = -1``) and their
sub-halos, no galaxy columns (``galhalo populate`` adds those). The files reach tens
of GB, so they are read in chunks of ``chunk_rows`` lines (:mod:`.rockstar_files`), in
two passes:

1. **host table** (:mod:`.rockstar_hosts`): every line read and checked; the hosts'
   columns, ``Delta3_h``, ``N_sat``, the mass cut and the checks that need the whole
   file (repeated ids, sub-halos whose host is missing);
2. **rows** (here): the file is read again and every kept row joined with its host's
   values (a sub-halo may come before its host in the file), validated and written.

Memory is the host table plus one chunk, whatever the number of lines.
:func:`stream_rockstar` writes Parquet row groups as they come (atomically: a failure
leaves no file); :func:`ingest_rockstar` returns the whole catalog in memory.

Derived columns (every formula in ``docs/ingest.md``; a = scale factor, h cancels):

- ``halo_id`` = ``id``; ``host_id`` = ``id`` for hosts, ``upid`` for sub-halos;
  ``is_central`` = ``upid == -1``;
- host columns, on every row the host's: ``M_h`` = log10 Mvir; ``C_h`` = Vmax / V_vir,
  V_vir = sqrt(G Mvir / (a Rvir)); ``S_h`` = ``Spin_Bullock`` (or, without it,
  |J| / (sqrt(2) Mvir V_vir a Rvir)); ``z_h`` = 1 / ``Halfmass_Scale`` - 1;
  ``Delta3_h`` = host Mvir within 3 Mpc/h over its mean; ``N_sat`` = kept sub-halos;
- sub-halo columns (NaN on host rows): ``M_sub`` = log10 Mvir, ``Vmax_sub`` = vmax,
  ``M_peak`` = log10 Mpeak, ``Vmax_peak`` = Vpeak, ``z_infall`` = 1 / ``Acc_Scale`` - 1,
  ``r_host`` = periodic distance to the host / host Rvir, ``v_r`` and ``v_t`` from the
  peculiar velocity relative to the host (no Hubble flow);
- ``x, y, z`` (comoving Mpc/h, wrapped into [0, box)), ``vx, vy, vz`` (km/s).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..catalog import (
    PARQUET_KEY,
    Catalog,
    CatalogError,
    CatalogMeta,
    catalog_header,
    check_output_path,
    resolve_format,
)
from ..catalog.hosts import MAX_HOST_DISTANCE, orbit_in_host
from ..catalog.schema import HOST
from ..files import atomic_path
from .common import PathLike, Progress
from .rockstar_files import HlistHeader, read_chunks, read_hlist_header
from .rockstar_hosts import (
    POSITION_COLUMNS,
    ROLE_COLUMNS,
    VELOCITY_COLUMNS,
    HostTable,
    RockstarOptions,
    columns_to_read,
    read_hosts,
    rockstar_options,
    wrapped_positions,
)

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "RockstarIngest",
    "ingest_rockstar",
    "stream_rockstar",
]

#: Lines read at a time (about 60 MB of parsed fields for an 80-column hlist).
DEFAULT_CHUNK_ROWS = 100_000
#: Output rows per Parquet row group.
ROW_GROUP_ROWS = 131_072

# --------------------------------------------------------------------------- pass 2


def _relative(values: dict[str, np.ndarray], hosts: HostTable, index: np.ndarray, box: float
              ) -> dict[str, np.ndarray]:
    """r_host, v_r, v_t of sub-halo rows relative to their hosts (``index``)."""
    r_host, v_r, v_t = orbit_in_host(
        np.column_stack([values[c] for c in POSITION_COLUMNS]),
        np.column_stack([values[c] for c in VELOCITY_COLUMNS]),
        hosts.position[index], hosts.velocity[index], hosts.radius[index], box)
    return {"r_host": r_host, "v_r": v_r, "v_t": v_t}


def _rows(values: dict[str, np.ndarray], header: HlistHeader, start: int, hosts: HostTable,
          options: RockstarOptions) -> pd.DataFrame:
    """The catalog rows of one chunk (kept rows only, file order)."""
    central = values["upid"] == -1
    key = np.where(central, values["id"], values["upid"])
    index, keep = hosts.find(key)
    if not options.satellites:
        keep &= central
    if options.min_mass is not None:  # Mpeak of hosts may be anything (NaN, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            keep &= central | (np.log10(values["mpeak"]) >= options.min_mass)
    rows = np.flatnonzero(keep)
    values = {name: array[rows] for name, array in values.items()}
    central, key, index = central[rows], key[rows], index[rows]
    satellite = ~central
    table: dict[str, np.ndarray] = {"halo_id": values["id"], "host_id": key,
                                    "is_central": central}
    for name, array in hosts.props.items():
        table[name] = array[index]
    sub: dict[str, np.ndarray] = {"M_sub": np.log10(values["mvir"]),
                                  "Vmax_sub": values["vmax"]}
    with np.errstate(invalid="ignore", divide="ignore"):  # host rows: NaN-ed below
        if "mpeak" in values:
            sub["M_peak"] = np.log10(values["mpeak"])
        if "vpeak" in values:
            sub["Vmax_peak"] = values["vpeak"]
        if "acc_scale" in values:
            sub["z_infall"] = np.maximum(1.0 / values["acc_scale"] - 1.0, options.redshift)
    sub.update(_relative(values, hosts, index, options.box_size))
    far = satellite & (sub["r_host"] > MAX_HOST_DISTANCE)
    if far.any():
        row = int(np.flatnonzero(far)[0])
        line = header.line(start + int(rows[row]))
        raise CatalogError(f"{header.path}: line {line}: sub-halo id {int(values['id'][row])} "
                           f"lies {sub['r_host'][row]:.3g} virial radii from its host "
                           f"{int(key[row])} (more than {MAX_HOST_DISTANCE:g}): a wrong "
                           "upid, or positions and Rvir in other units?")
    for name, array in sub.items():
        table[name] = np.where(satellite, array, np.nan)
    position = wrapped_positions(values, options.box_size, str(header.path))
    for axis, column in enumerate(POSITION_COLUMNS):
        table[column] = position[:, axis]
    for column in VELOCITY_COLUMNS:
        table[column] = values[column]
    if not options.satellites:
        for name in (*HOST, *sub):
            del table[name]
    return pd.DataFrame(table)


def _validate(frame: pd.DataFrame, meta: CatalogMeta, header: HlistHeader, start: int
              ) -> None:
    """Schema checks of one chunk's rows: hosts with their host columns, sub-halos
    without (their hosts may lie in other chunks; pass 1 checked the links)."""
    if "is_central" not in frame.columns:  # host rows only
        parts: tuple[tuple[str, pd.DataFrame], ...] = (("host", frame),)
    else:
        central = frame["is_central"].to_numpy()
        parts = (("host", frame[central]),
                 ("sub-halo", frame[~central].drop(columns=list(HOST))))
    for what, part in parts:
        if len(part):
            try:
                Catalog(part.reset_index(drop=True), meta).validate()
            except CatalogError as err:
                raise CatalogError(f"{header.path}: the {what} rows of the chunk starting at "
                                   f"line {header.line(start)} (row numbers count the "
                                   f"chunk's {what} rows): {err}") from None


def _frames(header: HlistHeader, names: list[str], hosts: HostTable, meta: CatalogMeta,
            options: RockstarOptions, expected: int, say: Progress) -> Iterator[pd.DataFrame]:
    """Pass 2: the catalog rows chunk by chunk, validated; checks the total."""
    written = read = 0
    for chunk in read_chunks(header, names, options.chunk_rows, check_fields=False,
                             nan_ok=ROLE_COLUMNS):
        frame = _rows(chunk.values, header, chunk.start, hosts, options)
        read += len(chunk)
        if read // 5_000_000 != (read - len(chunk)) // 5_000_000:
            say(f"pass 2: {read:,} lines read, {written:,} rows written")
        if len(frame):
            _validate(frame, meta, header, chunk.start)
            written += len(frame)
            yield frame
    if written != expected:
        raise CatalogError(f"{header.path}: the second pass gave {written:,} rows, the first "
                           f"{expected:,}: the file changed while it was read")


# --------------------------------------------------------------------------- public


def _meta(header: HlistHeader, options: RockstarOptions, sources: dict[str, Any],
          counts: dict[str, int]) -> CatalogMeta:
    cosmology: dict[str, Any] = {"name": "hlist header"}
    for key, value in (("Om0", header.omega_matter), ("Ode0", header.omega_lambda),
                       ("H0", None if header.hubble is None else 100.0 * header.hubble)):
        if value is not None:
            cosmology[key] = value
    extra = {
        "format": "rockstar", "source_files": [str(header.path)],
        "scale_factor": options.scale_factor, "min_mass": options.min_mass,
        "drop_orphans": options.drop_orphans, **sources,
        "delta3_tracers": "all host halos (upid = -1), weighted by Mvir",
        "relative_velocities": "peculiar (no Hubble flow)",
        "counts": counts,
    }
    return CatalogMeta(box_size=options.box_size, redshift=options.redshift,
                       cosmology=cosmology, source=str(header.path), extra=extra)


@dataclass(frozen=True)
class RockstarIngest:
    """What :func:`stream_rockstar` wrote.

    Attributes:
        path: the Parquet file written.
        rows: catalog rows (hosts, and the sub-halos kept with ``satellites``).
        meta: the catalog metadata stored in the file (counts in ``meta.extra``).
    """

    path: Path
    rows: int
    meta: CatalogMeta


def _prepare(path: PathLike, box_size: float | None, min_mass: float | None,
             drop_orphans: bool, chunk_rows: int, say: Progress, satellites: bool
             ) -> tuple[Callable[[], Iterator[pd.DataFrame]], CatalogMeta]:
    """Pass 1 and what pass 2 needs: a generator of the row frames, and the metadata."""
    header = read_hlist_header(path)
    options = rockstar_options(header, box_size, min_mass, drop_orphans, chunk_rows,
                               satellites)
    names, sources = columns_to_read(header, options.min_mass)
    say(f"{header.path.name}: {len(header.names)} columns, a = {options.scale_factor:g}, "
        f"box {options.box_size:g} Mpc/h; pass 1 (hosts)")
    hosts, counts = read_hosts(header, names, options, say)
    meta = _meta(header, options, sources, counts)
    say(f"pass 1 done: {counts['hosts']:,} hosts, {counts['subhalos']:,} sub-halos; "
        f"pass 2 (rows): {counts['selected']:,} to write")
    pass2 = [name for name in names if name not in ("scale", "spin_bullock", "halfmass_scale",
                                                    "jx", "jy", "jz")]
    expected = counts["selected"] if options.satellites else counts["hosts_kept"]
    return (lambda: _frames(header, pass2, hosts, meta, options, expected, say)), meta


def ingest_rockstar(
    path: PathLike,
    *,
    box_size: float | None = None,
    min_mass: float | None = None,
    drop_orphans: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
    satellites: bool = False,
) -> Catalog:
    """A Rockstar / Consistent-Trees ``hlist`` file as a validated catalog, in memory.

    Reads like :func:`stream_rockstar` (same rows, same order, same metadata) but keeps
    the whole catalog: for files that fit in memory. Arguments as there.
    """
    say = progress or (lambda message: None)
    frames, meta = _prepare(path, box_size, min_mass, drop_orphans, chunk_rows, say,
                            satellites)
    catalog = Catalog(pd.concat(list(frames()), ignore_index=True), meta)
    catalog.validate(source=path)
    say(f"done: {len(catalog):,} rows")
    return catalog


def stream_rockstar(
    path: PathLike,
    out: PathLike,
    *,
    box_size: float | None = None,
    min_mass: float | None = None,
    drop_orphans: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
    satellites: bool = False,
) -> RockstarIngest:
    """Stream a Rockstar / Consistent-Trees ``hlist`` file into a Parquet catalog.

    Memory: the host table (~100 bytes per host, ~17 per sub-halo, plus the KD-tree of
    the host positions) and one chunk, whatever the file size.

    Args:
        path: the ``hlist_<a>.list`` text file (one snapshot).
        out: Parquet file to write (``.parquet`` / ``.pq``); written atomically.
        box_size: periodic box side in Mpc/h; the header's ``Full box size`` when
            omitted (both given: they must agree).
        min_mass: cut in log10(Msun/h): hosts need log10 Mvir >= it, sub-halos log10
            Mpeak >= it and a kept host (the others are dropped and counted).
        drop_orphans: drop sub-halos whose ``upid`` is no halo of the file (counted);
            by default they are an error.
        chunk_rows: lines read at a time (memory per chunk, not the result).
        progress: callback receiving one short message per stage.
        satellites: also write the sub-halo rows, with ``host_id``, ``is_central`` and
            the sub-halo columns. Without (the default) one row per host halo: the
            input ``galhalo populate`` paints centrals on (``N_sat`` counts each host's
            sub-halos either way).

    Returns:
        :class:`RockstarIngest` (path, rows, metadata with the counts).

    Raises:
        CatalogError: naming the file (and the line) for: a missing, empty or
            header-only file; a needed column the header lacks; a truncated or garbled
            line; non-integer ids; NaN/inf, zero or negative masses, radii, Vmax or
            scales; positions outside the box; a row from another snapshot; repeated
            ids; a sub-halo whose host is missing (without ``drop_orphans``) or is
            itself a sub-halo; a sub-halo more than 10 host radii away; values the
            schema refuses; no row left after the cut; an output that is not Parquet.
    """
    say = progress or (lambda message: None)
    if resolve_format(Path(out)).name != "parquet":
        raise CatalogError(f"{out}: a streamed Rockstar ingest writes Parquet (.parquet or "
                           ".pq); convert afterwards if another format is needed")
    target = check_output_path(out)
    frames, meta = _prepare(path, box_size, min_mass, drop_orphans, chunk_rows, say,
                            satellites)
    rows = 0
    with atomic_path(target) as tmp:
        writer, schema, held = None, None, []
        try:
            for frame in frames():
                if writer is None:
                    arrow = pa.Table.from_pandas(frame, preserve_index=False)
                    header = catalog_header(Catalog(frame, meta)).encode()
                    schema = arrow.schema.with_metadata(
                        {**(arrow.schema.metadata or {}), PARQUET_KEY: header})
                    writer = pq.ParquetWriter(tmp, schema)
                held.append(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
                rows += len(frame)
                if sum(map(len, held)) >= ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(held))
                    held.clear()
            if held and writer is not None:
                writer.write_table(pa.concat_tables(held))
        finally:
            if writer is not None:
                writer.close()
    say(f"done: {rows:,} rows written to {target}")
    return RockstarIngest(path=target, rows=rows, meta=meta)
