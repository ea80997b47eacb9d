"""Resuming a populate run: the directory lock, and which parts are still to do.

A re-run skips parts the manifest records and that verify, redoes missing or truncated
ones, adopts complete parts the manifest had not recorded yet (the run was killed
between a part's rename and the next manifest write), and removes the temporaries of a
killed run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyarrow.parquet as pq

from ..catalog.schema import IS_CENTRAL
from ..errors import PopulateError
from .manifest import Manifest, PartRecord, file_sha256, part_description, verify_part
from .plan import PopulatePlan
from .worker import part_identity

__all__ = ["LOCK_FILE", "DirectoryLock", "parts_to_do"]

#: The lock file inside an output directory (an ``flock``, never removed).
LOCK_FILE = ".populate.lock"
#: Temporary names of galhalo.files.atomic_path: ``.<stem>.<12 hex>.tmp<suffix>``.
_TEMPORARY = re.compile(r"^\.(?P<stem>.+)\.[0-9a-f]{12}\.tmp\.(parquet|json)$")


class DirectoryLock:
    """An exclusive ``flock`` on ``out/.populate.lock``, released when the process ends."""

    def __init__(self, out: Path):
        self.path = out / LOCK_FILE
        self.fd: int | None = None

    def __enter__(self) -> DirectoryLock:
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise PopulateError(f"another populate run is writing {self.path.parent}; wait "
                                "for it to finish") from None
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


def _galaxy_counts(path: Path) -> dict[str, int]:
    """Central and satellite rows of a composite's part (its input hosts are unknown)."""
    central = pq.read_table(path, columns=[IS_CENTRAL.name]).column(0).to_numpy()
    return {"centrals": int(central.sum()), "satellites": int((~central).sum())}


def parts_to_do(plan: PopulatePlan, manifest: Manifest, checksums: bool
                ) -> tuple[list[dict], int, int, dict[str, str]]:
    """Parts still to sample; counts of verified and adopted parts; redone parts (why).

    Run with the directory lock held: it deletes the temporaries of a killed run, adds
    adopted parts to ``manifest`` and removes from it the parts that no longer verify.
    """
    planned_stems = {task["name"].removesuffix(".parquet") for task in plan.tasks}
    for stray in plan.out.iterdir():  # temporaries of a killed run (we hold the lock)
        match = _TEMPORARY.match(stray.name)
        if match and match["stem"] in planned_stems | {"_manifest"}:
            stray.unlink(missing_ok=True)
    todo, skipped, adopted, redone = [], 0, 0, {}
    composite, samples = "paint" in plan.settings, plan.settings["samples"]
    for task in plan.tasks:
        name, path = task["name"], plan.out / task["name"]
        record = manifest.parts.get(name)
        if record is not None:
            problem = verify_part(path, record, checksums)
            if problem is None and (record.source, record.start, record.stop) == (
                    task["source"], task["start"], task["stop"]):
                skipped += 1
                continue
            redone[name] = problem or "its input rows changed"
            del manifest.parts[name]
        elif path.exists():
            found = part_description(path)
            wanted = part_identity(task, plan.model_info["hash"], plan.settings)
            if found is not None and found[1] == wanted and (
                    composite or found[0] == (task["stop"] - task["start"]) * samples):
                manifest.parts[name] = PartRecord(
                    source=task["source"], start=task["start"], stop=task["stop"],
                    rows=found[0], bytes=path.stat().st_size, sha256=file_sha256(path),
                    seed=task["seed"], **(_galaxy_counts(path) if composite else {}))
                adopted += 1
                continue
            redone[name] = "a complete part was not recorded" if found else \
                "the file is incomplete or foreign"
        todo.append(task)
    return todo, skipped, adopted, redone
