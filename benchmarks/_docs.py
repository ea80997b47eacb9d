"""Shared by the benchmark scripts: write measured figures into the documents.

A document marks each generated block with a pair of HTML comments (invisible in the
rendered Markdown)::

    <!-- benchmark:NAME -->
    ... everything here is rewritten by the benchmark ...
    <!-- /benchmark:NAME -->

:func:`rewrite_block` replaces what lies between the two markers of ``NAME`` (the
markers stay), so a rerun of the benchmark updates the figures and nothing typed by
hand can drift. :func:`markdown_table` formats rows as a Markdown table for such a
block. The write is atomic (``galhalo.files.atomic_path``).

Usage from a benchmark script (run from the repository root; the scripts' directory is
on ``sys.path``)::

    from _docs import markdown_table, rewrite_block

    table = markdown_table(["points", "seconds"], [[100_000, "1.20"]])
    rewrite_block("docs/clustering.md", "jackknife", table,
                  command="python benchmarks/clustering.py --jackknife-table")
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from galhalo.files import atomic_path

__all__ = ["DOCS", "BlockError", "block", "markdown_table", "rewrite_block"]

#: The repository's docs/ folder.
DOCS = Path(__file__).resolve().parent.parent / "docs"

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class BlockError(RuntimeError):
    """A document lacks the markers of a block, or holds them more than once."""


def _markers(name: str) -> tuple[str, str]:
    if not _NAME.match(name):
        raise BlockError(f"block name {name!r} must be letters, digits, '_', '-' or '.'")
    return f"<!-- benchmark:{name} -->", f"<!-- /benchmark:{name} -->"


def _span(text: str, name: str, where: str) -> tuple[int, int]:
    """(start, end) offsets of the content between the markers of ``name``."""
    opening, closing = _markers(name)
    if text.count(opening) != 1 or text.count(closing) != 1:
        raise BlockError(
            f"{where} must hold exactly one {opening} and one {closing} "
            f"(found {text.count(opening)} and {text.count(closing)})")
    start = text.index(opening) + len(opening)
    end = text.index(closing)
    if end < start:
        raise BlockError(f"{where}: {closing} comes before {opening}")
    return start, end


def block(path: str | os.PathLike[str], name: str) -> str:
    """The current content of block ``name`` in ``path`` (without the markers and the
    newlines next to them)."""
    text = Path(path).read_text(encoding="utf-8")
    start, end = _span(text, name, str(path))
    return text[start:end].strip("\n")


def rewrite_block(path: str | os.PathLike[str], name: str, content: str, *,
                  command: str | None = None) -> bool:
    """Replace block ``name`` of the document ``path`` with ``content``.

    ``command``, if given, is written as the block's first line, an HTML comment
    ``<!-- written by `COMMAND`; do not edit by hand -->``, so a reader of the source
    knows how to regenerate it. Returns whether the file changed. Raises
    :class:`BlockError` if the markers are missing, repeated or out of order.
    """
    target = Path(path)
    text = target.read_text(encoding="utf-8")
    start, end = _span(text, name, str(target))
    body = content.strip("\n")
    if command is not None:
        body = f"<!-- written by `{command}`; do not edit by hand -->\n{body}"
    new = f"{text[:start]}\n{body}\n{text[end:]}"
    if new == text:
        return False
    with atomic_path(target) as tmp:
        tmp.write_text(new, encoding="utf-8")
    return True


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *,
                   align: str | None = None) -> str:
    """A Markdown table: ``header`` then one line per row (cells formatted with
    ``str``; format numbers before passing them). ``align`` is one character per
    column, ``l``, ``r`` or ``c`` (default: first column left, the others right).
    Ends with a newline, so text appended after it starts on its own line."""
    width = len(header)
    if align is None:
        align = "l" + "r" * (width - 1)
    if len(align) != width or set(align) - set("lrc"):
        raise BlockError(f"align {align!r} must be {width} characters of 'l', 'r', 'c'")
    rules = {"l": "---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(rules[a] for a in align) + "|"]
    for number, row in enumerate(rows):
        if len(row) != width:
            raise BlockError(f"row {number} has {len(row)} cells, the header {width}")
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines) + "\n"


def add_docs_options(parser: argparse.ArgumentParser) -> None:
    """``--no-docs`` (measure, but leave docs/ alone) and ``--from-json FILE`` (measure
    nothing: rewrite the block from a saved result; see :func:`rewrote_saved`)."""
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="measure nothing: rewrite the docs block from this JSON")


def rewrote_saved(args: argparse.Namespace, path: str | os.PathLike[str],
                  name: str | Callable[[dict[str, Any]], str],
                  docs_block: Callable[[dict[str, Any]], str]) -> bool:
    """With ``--from-json FILE``: rewrite block ``name`` of ``path`` (or block
    ``name(result)``, when the result says which) with ``docs_block(result)`` of the
    result saved in FILE (its ``command`` as the block's command) and return True;
    without it return False (measure)."""
    if args.from_json is None:
        return False
    saved = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
    block = name(saved) if callable(name) else name
    rewrite_block(path, block, docs_block(saved), command=saved["command"])
    return True


def publish(args: argparse.Namespace, result: dict[str, Any], path: str | os.PathLike[str],
            name: str, docs_block: Callable[[dict[str, Any]], str], command: str) -> None:
    """Write ``result`` to ``args.out`` (JSON, atomic), print its block, and rewrite
    block ``name`` of ``path`` with it unless ``--no-docs``."""
    from galhalo.files import write_json

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    block = docs_block(result)
    print(block)
    print(f"wrote {args.out}")
    if not args.no_docs:
        rewrite_block(path, name, block, command=command)

