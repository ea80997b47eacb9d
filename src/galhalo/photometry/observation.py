"""The observation model: per-filter 5σ depths, photometric noise, zero-points and
non-detections, turning a source catalog's true band fluxes into a survey's measured ones.

Depths are 5σ AB limiting magnitudes per filter, kept as data: a CSV file with the
columns ``filter,depth`` (:func:`read_depths`, :func:`write_depths`) or the J-PAS-like
defaults of :func:`jpas_depths`. :func:`observe` draws the noise.

Noise models (``noise=``), both keeping the meaning of the depth (a source at the
5σ flux f_5 = 10^((23.9 − depth)/2.5) µJy has S/N = 5):

* ``"sky"``: background-limited, one Gaussian σ per filter, σ = f_5 / 5;
* ``"poisson"``: background plus the source's own photon noise,
  σ² = σ_0² (1 + ρ f / f_5) with σ_0 = f_5 / (5 √(1 + ρ)), where ρ
  (``source_to_sky``) is the ratio of source to sky photons at the depth. Bright
  sources are noisier than under ``"sky"``; faint ones slightly less noisy.

Switching the noise model between training and test data is the domain-shift test of
issue #21 (train with one, classify the other).

Non-detections. Queiroz et al. 2023 (MNRAS 520, 3476, the miniJPAS quasar mocks) add
"the patterns of non-detections present in real observations" to their mocks; the
details of their treatment were not reachable offline, so this module does the simplest
thing that keeps the information: a measured flux below ``detection_sigma`` (default 1)
times its error is flagged in ``nondetected_<f>`` (bool), while the measured flux (which
may be negative) and its error are kept, so a classifier given (flux, error) sees the
upper limit. ``nondetection="limit"`` instead replaces such a flux by 0 and its error by
the 1σ limit of the filter (f_5 / 5), a pattern closer to catalogues that publish
upper limits only.

Zero-points: ``zero_point_error`` (mag) draws one offset per filter, δ ~ N(0, σ_zp),
applied as f → f 10^(−0.4 δ) to the measured flux (the same for every source, like a
calibration error); explicit offsets can be passed as a mapping. The offsets used are
stored in ``frame.attrs["zero_point_offsets"]``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import PhotometryError
from ..files import atomic_path, check_writable
from .sources import check_sources, error_columns, flux_columns
from .synthetic import flux_from_ab

__all__ = ["NOISE_MODELS", "depth_flux", "jpas_depths", "nondetected_columns", "observe",
           "read_depths", "true_flux_columns", "write_depths"]

#: The noise models :func:`observe` knows.
NOISE_MODELS = ("sky", "poisson")
#: J-PAS-like 5σ depths (AB), Benítez et al. 2014 (arXiv:1403.5237; REFERENCES.md):
#: narrow bands ≈ 22; the broad bands deeper (miniJPAS, Bonoli et al. 2021,
#: arXiv:2007.01910, reached ≈ 22-23 in the narrow and up to ≈ 24 in the broad bands).
NARROW_DEPTH = 22.0
BROAD_DEPTHS = {"uJAVA": 21.5, "J1007": 21.0, "uJPAS": 22.5, "gSDSS": 23.5,
                "rSDSS": 23.6, "iSDSS": 23.0}


def true_flux_columns(names: Sequence[str]) -> list[str]:
    """``true_flux_<name>`` for each filter name."""
    return [f"true_flux_{name}" for name in names]


def nondetected_columns(names: Sequence[str]) -> list[str]:
    """``nondetected_<name>`` for each filter name."""
    return [f"nondetected_{name}" for name in names]


def depth_flux(depth: np.ndarray | float) -> np.ndarray:
    """The flux (µJy) of an AB magnitude ``depth``: the 5σ limiting flux of a depth."""
    return np.asarray(flux_from_ab(np.asarray(depth, dtype=float)), dtype=float)


def _is_narrow(name: str) -> bool:
    return len(name) == 5 and name[0] == "J" and name[1:].isdigit() and name != "J1007"


def jpas_depths(filter_names: Sequence[str]) -> dict[str, float]:
    """J-PAS-like 5σ AB depths for ``filter_names``: :data:`NARROW_DEPTH` for the narrow
    bands ``J0378`` … ``J0910``, :data:`BROAD_DEPTHS` for uJAVA, J1007, uJPAS, gSDSS,
    rSDSS, iSDSS. An approximation of the survey's targets (flat in the narrow bands,
    where the real depths vary by a few tenths of a magnitude); a depths file replaces it.

    Raises:
        PhotometryError: a filter has no default depth (named).
    """
    depths: dict[str, float] = {}
    unknown = []
    for name in filter_names:
        if _is_narrow(name):
            depths[name] = NARROW_DEPTH
        elif name in BROAD_DEPTHS:
            depths[name] = BROAD_DEPTHS[name]
        else:
            unknown.append(name)
    if unknown:
        raise PhotometryError(f"no default J-PAS depth for filter(s) {', '.join(unknown)}; "
                              "give a depths file (columns filter,depth)")
    return depths


def read_depths(path: str | Path) -> dict[str, float]:
    """A depths file: CSV with a header ``filter,depth`` (5σ AB limits), one filter a row.

    Raises:
        PhotometryError: unreadable file, wrong header, a repeated filter, or a depth
            that is not a finite number (the file and line named).
    """
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as err:
        raise PhotometryError(f"{path}: cannot read depths ({err})") from None
    header = [cell.strip() for cell in rows[0]] if rows else []
    if header != ["filter", "depth"]:
        raise PhotometryError(f"{path}: a depths file needs the header 'filter,depth', "
                              f"got {','.join(header) or 'an empty file'}")
    depths: dict[str, float] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2:
            raise PhotometryError(f"{path} line {line}: expected 2 fields, got {len(row)}")
        name, text = row[0].strip(), row[1].strip()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise PhotometryError(f"{path} line {line}: depth {text!r} of {name} is not "
                                  "a finite AB magnitude")
        if name in depths:
            raise PhotometryError(f"{path} line {line}: filter {name} appears twice")
        depths[name] = value
    if not depths:
        raise PhotometryError(f"{path}: no depths")
    return depths


def write_depths(depths: Mapping[str, float], path: str | Path) -> Path:
    """Write ``depths`` ({filter: 5σ AB depth}) as a ``filter,depth`` CSV, atomically."""
    target = check_writable(path)
    with atomic_path(target) as tmp:
        with tmp.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["filter", "depth"])
            for name, value in depths.items():
                writer.writerow([name, repr(float(value))])
    return target


def _resolve_depths(depths: Mapping[str, float] | str | Path, names: Sequence[str]
                    ) -> np.ndarray:
    """(n_filters,) depths in the order of ``names``; PhotometryError for a missing one."""
    where = "depths"
    if isinstance(depths, (str, Path)):
        where = str(depths)
        depths = read_depths(depths)
    missing = [name for name in names if name not in depths]
    if missing:
        raise PhotometryError(f"{where}: no depth for filter(s) {', '.join(missing)}")
    return np.array([float(depths[name]) for name in names])


def _offsets(zero_point_error: float | Mapping[str, float], names: Sequence[str],
             rng: np.random.Generator) -> np.ndarray:
    if isinstance(zero_point_error, Mapping):
        unknown = sorted(set(zero_point_error) - set(names))
        if unknown:
            raise PhotometryError(f"zero-point offsets for unknown filter(s) "
                                  f"{', '.join(unknown)}")
        return np.array([float(zero_point_error.get(name, 0.0)) for name in names])
    scale = float(zero_point_error)
    if not (math.isfinite(scale) and scale >= 0):
        raise PhotometryError(f"zero_point_error must be >= 0 mag, got {zero_point_error}")
    return rng.normal(0.0, scale, len(names)) if scale > 0 else np.zeros(len(names))


def noise_sigma(flux: np.ndarray, limit: np.ndarray, noise: str,
                source_to_sky: float = 1.0) -> np.ndarray:
    """Photometric σ (µJy) of fluxes ``flux`` (n, m) in filters of 5σ limiting flux
    ``limit`` (m,) under the noise model ``noise`` (module docstring)."""
    if noise == "sky":
        return np.broadcast_to(limit / 5.0, np.shape(flux)).copy()
    if noise == "poisson":
        base = limit / (5.0 * math.sqrt(1.0 + source_to_sky))
        return base * np.sqrt(1.0 + source_to_sky * np.clip(flux, 0.0, None) / limit)
    raise PhotometryError(f"unknown noise model {noise!r}; use one of {', '.join(NOISE_MODELS)}")


def observe(sources: pd.DataFrame, depths: Mapping[str, float] | str | Path, seed: int,
            filter_names: Sequence[str] | None = None, *,
            zero_point_error: float | Mapping[str, float] = 0.0, noise: str = "sky",
            source_to_sky: float = 1.0, nondetection: str = "keep",
            detection_sigma: float = 1.0, depth_scatter: float = 0.0) -> pd.DataFrame:
    """Observe a source catalog: noisy fluxes, their errors and non-detection flags.

    Args:
        sources: one row per source with ``source_class``, ``redshift`` and the true
            ``flux_<f>`` (µJy) of every filter (``sources.check_sources``).
        depths: {filter: 5σ AB depth}, or the path of a depths CSV.
        seed: seeds the noise (and the zero-point offsets when drawn).
        filter_names: the filters to observe; default: every ``flux_<f>`` column.
        zero_point_error: σ (mag) of one Gaussian zero-point offset per filter, or
            explicit offsets {filter: mag} (unnamed filters 0).
        noise: ``"sky"`` or ``"poisson"`` (module docstring).
        source_to_sky: ρ of the ``"poisson"`` model (source / sky photons at the depth).
        nondetection: ``"keep"`` (flag only) or ``"limit"`` (flux 0, error = 1σ limit).
        detection_sigma: a flux below this many σ is a non-detection.
        depth_scatter: σ (mag) of a Gaussian offset of the depth per source and filter
            (observing conditions varying across a survey; 0: every source at the
            nominal depth). The errors then carry information the fluxes do not.

    Returns:
        A copy of ``sources`` (same rows and order): ``flux_<f>`` measured (µJy),
        ``flux_err_<f>`` (µJy), ``true_flux_<f>`` (the input fluxes) and
        ``nondetected_<f>`` (bool); ``attrs`` holds ``zero_point_offsets`` (mag),
        ``noise`` and ``depths``.

    Raises:
        PhotometryError: a missing column, a filter without depth, an unknown noise
            model or non-detection rule, a negative ρ.
    """
    if filter_names is None:
        filter_names = [c[len("flux_"):] for c in sources.columns
                        if c.startswith("flux_") and not c.startswith("flux_err_")]
    names = list(filter_names)
    check_sources(sources, names)
    if noise not in NOISE_MODELS:
        raise PhotometryError(f"unknown noise model {noise!r}; use one of "
                              f"{', '.join(NOISE_MODELS)}")
    if nondetection not in ("keep", "limit"):
        raise PhotometryError(f"nondetection must be 'keep' or 'limit', got {nondetection!r}")
    for name, value in (("source_to_sky", source_to_sky), ("depth_scatter", depth_scatter)):
        if not (math.isfinite(value) and value >= 0):
            raise PhotometryError(f"{name} must be >= 0, got {value}")
    nominal = _resolve_depths(depths, names)
    rng = np.random.default_rng(seed)
    offsets = _offsets(zero_point_error, names, rng)
    true = sources[flux_columns(names)].to_numpy(dtype=float)
    limit = depth_flux(nominal if depth_scatter == 0 else
                       nominal + depth_scatter * rng.standard_normal(true.shape))
    sigma = noise_sigma(true, limit, noise, source_to_sky)
    measured = (true + sigma * rng.standard_normal(true.shape)) * 10.0 ** (-0.4 * offsets)
    # the error a pipeline reports: from the measured flux, not the unknown true one
    error = noise_sigma(measured, limit, noise, source_to_sky)
    nondetected = measured < detection_sigma * error
    if nondetection == "limit":
        measured = np.where(nondetected, 0.0, measured)
        error = np.where(nondetected, limit / 5.0, error)
    parts = {"true": (true_flux_columns(names), true), "flux": (flux_columns(names), measured),
             "error": (error_columns(names), error),
             "flag": (nondetected_columns(names), nondetected)}
    replaced = {column for columns, _ in parts.values() for column in columns}
    frame = pd.concat([sources.drop(columns=[c for c in sources.columns if c in replaced])]
                      + [pd.DataFrame(values, columns=columns, index=sources.index)
                         for columns, values in parts.values()], axis=1)
    frame.attrs = dict(sources.attrs)
    frame.attrs["zero_point_offsets"] = dict(zip(names, offsets.tolist(), strict=True))
    frame.attrs["noise"] = noise
    frame.attrs["depths"] = dict(zip(names, nominal.tolist(), strict=True))
    return frame
