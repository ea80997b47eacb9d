"""benchmarks/_docs.py: the marked blocks that benchmarks rewrite in docs/."""

from __future__ import annotations

import pytest
from benchmark_modules import load_benchmark

docs = load_benchmark("_docs.py", "benchmark_docs")

DOC = """# Title

Prose before.

<!-- benchmark:timings -->
| old | table |
<!-- /benchmark:timings -->

Prose after.
"""


def test_rewrite_block_replaces_only_the_block(tmp_path):
    path = tmp_path / "doc.md"
    path.write_text(DOC)
    table = docs.markdown_table(["points", "seconds"], [[10, "1.5"], [100, "12.0"]])
    assert docs.rewrite_block(path, "timings", table, command="python b.py")
    text = path.read_text()
    assert text.startswith("# Title\n\nProse before.\n\n<!-- benchmark:timings -->\n")
    assert text.endswith("<!-- /benchmark:timings -->\n\nProse after.\n")
    assert "| old | table |" not in text
    assert docs.block(path, "timings") == (
        "<!-- written by `python b.py`; do not edit by hand -->\n"
        "| points | seconds |\n|---|---:|\n| 10 | 1.5 |\n| 100 | 12.0 |")
    # a second identical write changes nothing
    assert not docs.rewrite_block(path, "timings", table, command="python b.py")


@pytest.mark.parametrize("text", [
    "no markers at all\n",
    DOC + "<!-- benchmark:timings -->\n",
    "<!-- /benchmark:timings -->\nx\n<!-- benchmark:timings -->\n",
])
def test_rewrite_block_refuses_missing_repeated_or_reversed_markers(tmp_path, text):
    path = tmp_path / "doc.md"
    path.write_text(text)
    with pytest.raises(docs.BlockError, match="benchmark:timings"):
        docs.rewrite_block(path, "timings", "new")
    assert path.read_text() == text


def test_markdown_table_checks_row_width():
    with pytest.raises(docs.BlockError, match="row 1 has 1 cells"):
        docs.markdown_table(["a", "b"], [[1, 2], [3]])
