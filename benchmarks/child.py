"""Shared by the benchmark scripts: run one measurement in a fresh interpreter.

Each measurement runs in its own process so that its peak memory is its own; the child
prints one JSON line last on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

import numpy as np


def run_child_json(command: list[str], timeout: float | None) -> dict[str, Any]:
    """Run ``command``; its last stdout line parsed as JSON, or ``{"error": ...}``.

    Adds ``process_seconds`` (wall time of the whole child, interpreter start included)
    and the 1-minute load average just before and after (``load_before``,
    ``load_after``): a value well above the child's own CPU use means other processes
    competed for the cores.
    """
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        return {"error": f"exit code {done.returncode}: {tail}"}
    result = json.loads(lines[-1])
    result["process_seconds"] = time.perf_counter() - start
    result["load_before"], result["load_after"] = load_before, os.getloadavg()[0]
    return result


def load_pool(catalog: str | os.PathLike[str] | None, n_halos: int,
              columns: tuple[str, ...], *, preset: str
              ) -> tuple[np.ndarray, dict[str, Any]]:
    """The (rows, len(columns)) float64 pool of a benchmark: ``columns`` of a catalog
    file, or of the universe of galaxy-truth preset ``preset`` (``galhalo.sim.presets``;
    unused with a catalog) with ``n_halos`` rows (seed 42); and where it came from
    (source, seconds, rows)."""
    from galhalo.catalog import read_catalog
    from galhalo.sim.universe import simulate

    start = time.perf_counter()
    if catalog is not None:
        table = read_catalog(catalog, required=columns).table
        origin: dict[str, Any] = {"catalog": str(catalog)}
    else:
        table = simulate(n_halos, seed=42, preset=preset).table
        origin = {"simulate": {"n_halos": n_halos, "seed": 42, "preset": preset}}
    origin["seconds"] = time.perf_counter() - start
    origin["rows"] = len(table)
    return table[list(columns)].to_numpy(dtype=np.float64), origin
