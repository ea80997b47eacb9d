"""How a long job reports progress to its caller: one short message per stage.

The library never prints; a job that takes long (``simulate``, ``ingest``, ``hival``)
takes a ``progress`` callback of this type, and the command line passes one that
prints each message as a line (``galhalo.cli``'s stages).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress"]

#: A callback receiving one short, one-line message per stage of a long job.
Progress = Callable[[str], None]
