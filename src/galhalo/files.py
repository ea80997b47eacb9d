"""Atomic file output: a crash never leaves a half-written file behind.

Every galhalo writer (catalogs, figures, models, metrics) goes through this module:

- :func:`atomic_path` yields a hidden temporary file name next to the target; the
  target appears (via ``os.replace``) only once the writer has finished.
- :func:`atomic_directory` does the same for an output directory (model dirs).
- :func:`check_writable` fails *before* any work when an output path cannot be written.
- :func:`write_json` / :func:`to_jsonable` write strict, sorted, reproducible JSON.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OutputPathError

__all__ = [
    "OutputPathError",
    "atomic_directory",
    "atomic_path",
    "check_writable",
    "dumps_json",
    "to_jsonable",
    "write_json",
]


def check_writable(path: str | os.PathLike[str], *, directory: bool = False) -> Path:
    """Resolve ``path`` and check that it can be written, before any work starts.

    Args:
        path: the output file (or, with ``directory=True``, the output directory).
        directory: the output is a directory (e.g. a model dir): an existing directory
            is then fine (it will be replaced), an existing non-directory is refused.

    Returns:
        The resolved absolute path (symbolic links followed).

    Raises:
        OutputPathError: the parent directory is missing, not a directory or not
            writable; or ``path`` is an existing directory (file output) or an
            existing non-directory (directory output).
    """
    target = Path(path).resolve()
    parent = target.parent
    if not parent.exists():
        raise OutputPathError(f"cannot write {target}: directory {parent} does not exist")
    if not parent.is_dir():
        raise OutputPathError(f"cannot write {target}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write {target}: directory {parent} is not writable")
    if not directory and target.is_dir():
        raise OutputPathError(f"cannot write {target}: it is an existing directory")
    if directory and target.exists() and not target.is_dir():
        raise OutputPathError(
            f"cannot write directory {target}: a file of that name exists already"
        )
    return target


def _reserve(target: Path, create: Callable[[Path], None], tag: str) -> Path:
    """Create a fresh hidden sibling of ``target`` (``.stem.<random>.<tag><suffix>``).

    ``create`` must make the entry and fail with ``FileExistsError`` if it exists; the
    name keeps the target's suffix so format-sniffing writers still work.
    """
    while True:
        candidate = target.with_name(
            f".{target.stem}.{secrets.token_hex(6)}.{tag}{target.suffix}"
        )
        try:
            create(candidate)
        except FileExistsError:
            continue
        return candidate


def _create_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # umask applies


def _create_directory(path: Path) -> None:
    os.mkdir(path, 0o777)  # umask applies


def _fsync(path: Path) -> None:
    """Flush ``path`` (a file, or a directory's entries) to disk; best effort for dirs."""
    flags = os.O_RDONLY
    if path.is_dir():
        flags |= getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if path.is_dir():  # some platforms cannot open directories
            return
        raise
    try:
        with contextlib.suppress(OSError):  # directories may refuse fsync
            os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary file name next to ``path``; move it onto ``path`` on success.

    The temporary (``.<stem>.<random>.tmp<suffix>``, same directory, so the final
    ``os.replace`` is atomic) exists, empty, when the block starts; the block writes
    it by name. On normal exit the file is fsynced and replaces ``path`` (the
    directory entry is fsynced too). On any exception, including
    ``KeyboardInterrupt``, the temporary is deleted and the exception re-raised:
    ``path`` is then exactly as it was before.

    Example::

        with atomic_path("out/fig.png") as tmp:
            figure.savefig(tmp)
    """
    target = Path(path)
    tmp = _reserve(target, _create_file, "tmp")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
    _fsync(target.parent)


def _fsync_tree(root: Path) -> None:
    for directory, _, names in os.walk(root):
        for name in names:
            _fsync(Path(directory, name))
        _fsync(Path(directory))


def _swap_in(new: Path, target: Path) -> None:
    """Move directory ``new`` onto ``target``, moving an existing ``target`` away first."""
    if not target.exists():
        os.rename(new, target)
        return
    old = _reserve(target, _create_directory, "old")
    try:
        os.rename(target, old)  # POSIX: a directory may replace an empty directory
    except BaseException:
        old.rmdir()
        raise
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if old.exists():
        warnings.warn(f"could not remove the previous {target} (left at {old})", stacklevel=4)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; move it onto ``path`` on success.

    The block fills the (empty) temporary directory. On normal exit every file in it
    is fsynced and it takes the place of ``path``; an existing directory ``path`` is
    renamed away first, then removed once the new one is in place (if the final
    rename fails the old directory is put back). On any exception the temporary
    directory is removed and ``path`` is untouched.

    Raises:
        OutputPathError: ``path`` exists and is not a directory (checked on entry).
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputPathError(
            f"cannot write directory {target}: a file of that name exists already"
        )
    tmp = _reserve(target, _create_directory, "tmp")
    try:
        yield tmp
        _fsync_tree(tmp)
        _swap_in(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
    _fsync(target.parent)


def to_jsonable(obj: Any, *, where: str = "value", nan_as_none: bool = False) -> Any:
    """A copy of ``obj`` made of plain JSON types (dict, list, str, int, float, bool, None).

    numpy scalars become Python scalars, numpy arrays and tuples become (nested)
    lists, :class:`pathlib.Path` becomes ``str``. The result is *strict* JSON:

    With ``nan_as_none=True`` a NaN or infinite float (an undefined value, e.g. a score
    with an empty denominator) becomes ``None`` instead of an error.

    Raises:
        ValueError: a float is NaN or infinite and ``nan_as_none`` is False (JSON cannot
            represent it; store ``None`` explicitly if a value is undefined).
        TypeError: a mapping key is not a string, or a value has another type.

    Both messages name where the value sits, e.g. ``value['cosmology']['Om0']``.
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, np.generic | np.ndarray):
        return to_jsonable(obj.tolist(), where=where, nan_as_none=nan_as_none)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            if nan_as_none:
                return None
            raise ValueError(f"{where} is {obj}: JSON cannot store NaN or infinity")
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Mapping):
        return _mapping_to_jsonable(obj, where, nan_as_none)
    if isinstance(obj, list | tuple):
        return [to_jsonable(item, where=f"{where}[{i}]", nan_as_none=nan_as_none)
                for i, item in enumerate(obj)]
    raise TypeError(f"{where} has type {type(obj).__name__}, which JSON cannot store")


def _mapping_to_jsonable(obj: Mapping[Any, Any], where: str, nan_as_none: bool,
                         ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise TypeError(f"{where} has key {key!r} of type {type(key).__name__}; "
                            "JSON keys must be strings")
        out[key] = to_jsonable(value, where=f"{where}[{key!r}]", nan_as_none=nan_as_none)
    return out


def dumps_json(obj: Any, *, indent: int | None = 2) -> str:
    """``obj`` as strict JSON text: :func:`to_jsonable`, sorted keys, no NaN."""
    return json.dumps(to_jsonable(obj), sort_keys=True, indent=indent, allow_nan=False)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` atomically as JSON (sorted keys, indent 2, trailing newline).

    ``obj`` goes through :func:`to_jsonable` first (numpy types allowed; NaN refused).
    The same ``obj`` always gives the same bytes. Returns ``Path(path)``.
    """
    text = dumps_json(obj) + "\n"
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target
