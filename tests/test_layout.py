"""The package layout rules of DESIGN.md, checked from the source with ``ast``.

- no import cycle between galhalo modules (imports inside functions count too:
  a lazy import only hides a cycle; ``if TYPE_CHECKING:`` blocks do not count);
- a private name (``_x``, or anything under a ``_module``) is imported only from a
  module of the same package, and never across the top-level modules of ``galhalo``;
- no source file above ``MAX_LINES`` lines unless its docstring says why
  (a paragraph starting with ``Long file:``).
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src" / "galhalo"
MAX_LINES = 500


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's ``__init__``)."""
    modules = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


MODULES = _modules()


def _package(module: str) -> str:
    return module if MODULES[module][1] else module.rsplit(".", 1)[0]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(child) for child in ast.walk(node))
    return hidden


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported galhalo module, imported name or None, line) for every import."""
    path = MODULES[module][0]
    tree = ast.parse(path.read_text(), filename=str(path))
    hidden = _type_checking_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names
                      if a.name.split(".")[0] == "galhalo"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(module).split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "galhalo":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub, None, node.lineno) if sub in MODULES
                             else (target, alias.name, node.lineno))
    resolved = []
    for target, name, line in found:
        while target not in MODULES and "." in target:
            target = target.rsplit(".", 1)[0]
        resolved.append((target, name, line))
    return resolved


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def test_layout_sees_the_whole_package():
    # A broken walk would make the checks below pass vacuously.
    assert len(MODULES) > 40
    assert "galhalo.errors" in MODULES
    assert any(target == "galhalo.errors" for target, _, _ in _imports("galhalo.catalog"))


def test_no_import_cycle():
    graph = {m: {t for t, _, _ in _imports(m) if t != m} for m in MODULES}
    # Tarjan's strongly connected components, iteratively.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_private_name_imported_across_packages():
    offences = []
    for module in MODULES:
        for target, name, line in _imports(module):
            parts = target.split(".") + ([name] if name else [])
            if not any(_is_private(part) for part in parts[1:]):
                continue
            same_package = _package(target) == _package(module) != "galhalo"
            if not same_package:
                offences.append(f"{MODULES[module][0].relative_to(SOURCE.parent)}:{line} "
                                f"imports {'.'.join(parts)}")
    assert not offences, "private names used across packages:\n" + "\n".join(offences)


def test_long_files_say_why():
    offences = []
    for path, _ in MODULES.values():
        text = path.read_text()
        lines = text.count("\n")
        if lines > MAX_LINES and "Long file:" not in (ast.get_docstring(ast.parse(text)) or ""):
            offences.append(f"{path.relative_to(SOURCE.parent)}: {lines} lines")
    assert not offences, (
        f"files above {MAX_LINES} lines: split them by job, or say in the docstring why "
        "each is one file ('Long file: ...'):\n" + "\n".join(offences))
