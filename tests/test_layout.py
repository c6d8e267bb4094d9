"""The package layout holds: one top-level name, no import cycles inside lmpipe/, core imports no stage."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PKG = REPO / "lmpipe"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every lmpipe module this file imports, at module level or inside functions (a lazy import is still an
    edge: it hides a cycle rather than removing it). `if TYPE_CHECKING:` blocks are not imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    this = _module_name(path)
    package = this if path.name == "__init__.py" else this.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("lmpipe"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if not base.startswith("lmpipe"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules and m != this}


def _graph() -> dict[str, set[str]]:
    files = [p for p in PKG.rglob("*.py") if "assets" not in p.parts]
    modules = {_module_name(p) for p in files}
    return {_module_name(p): _imports(p, modules) for p in files}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_inside_lmpipe():
    assert _cycles(_graph()) == []


def test_core_is_a_leaf():
    # core is what every stage builds on; it may not reach up into a stage, the tokenizer or the trainer (the
    # text helpers below it, lmpipe.text, are allowed: the readers repair Korean charsets with them)
    for module, deps in _graph().items():
        if module.startswith(("lmpipe.core", "lmpipe.text")):
            assert all(d.startswith(("lmpipe.core", "lmpipe.text")) or d == "lmpipe" for d in deps), (module, deps)


def test_one_helper_for_hangul_and_url_hosts():
    # one Korean-text module and one URL-host helper (four Hangul guessers and three host extractors once)
    import re

    for path in PKG.rglob("*.py"):
        if path.name in ("korean.py", "urls.py") or "testing" in path.parts:
            continue
        src = path.read_text(encoding="utf-8")
        assert not re.search(r"re\.compile\([^)]*\\uac00", src), (
            f"{path}: Hangul ranges belong in lmpipe/text/korean.py"
        )
        assert ".hostname" not in src, f"{path}: URL hosts belong in lmpipe/core/urls.py"


def test_one_top_level_import_name():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["lmpipe*"]
    for old in ("pipeline", "filters", "tokenizer", "trainer"):
        assert not (REPO / old).exists(), f"{old}/ is back at the top level: it belongs under lmpipe/"


def test_a_cycle_is_found():
    # the checker itself: a two-module cycle is reported, a chain is not
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
