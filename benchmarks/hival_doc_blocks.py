"""Rewrite a marked block of a document from a benchmark's results (HiVAl / NNclass).

A block is the text between ``<!-- benchmark:NAME -->`` and ``<!-- /benchmark:NAME -->``
(both kept); a rerun of the benchmark replaces what lies between them, so the numbers
in the document are always the last run's. (Minimal stand-in for the shared helper
``benchmarks/_docs.py``; to be unified with it.)
"""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def rewrite_block(document: Path, name: str, text: str) -> None:
    """Replace block ``name`` of ``document`` with ``text`` (atomically); a missing
    marker pair is an error naming the file and the block."""
    from galhalo.files import atomic_path

    source = document.read_text()
    pattern = re.compile(rf"(<!-- benchmark:{re.escape(name)} -->\n).*?"
                         rf"(<!-- /benchmark:{re.escape(name)} -->)", re.S)
    if not pattern.search(source):
        raise SystemExit(f"{document}: no block <!-- benchmark:{name} --> to rewrite")
    updated = pattern.sub(lambda match: match.group(1) + text.rstrip("\n") + "\n"
                          + match.group(2), source)
    with atomic_path(document) as tmp:
        Path(tmp).write_text(updated)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: header, separator, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"
