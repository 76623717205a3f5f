"""The project's import graph has no cycle and product code never edits ``sys.path``.

Every ``import`` / ``from ... import`` statement of the project's packages is read with ``ast``
(also the ones inside functions: a lazy import that closes a circle still makes two modules depend
on each other; only ``if TYPE_CHECKING:`` blocks are left out, they never run), resolved to a
module of the project, and the graph is searched for strongly connected components.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# top-level package -> the folder that holds it (Slicer puts each module folder on sys.path)
PACKAGES = {
    "coin_core": ROOT,
    "coin_slicer": ROOT,
    "coin_web": ROOT,
    "COINSegmentationLib": ROOT / "COINSegmentation",
    "COINTrainingLib": ROOT / "COINTraining",
}
PRODUCT_FILES = [
    *(p for top, base in PACKAGES.items() for p in (base / top).rglob("*.py")),
    ROOT / "COINSegmentation" / "COINSegmentation.py",
    ROOT / "COINTraining" / "COINTraining.py",
    *(ROOT / "scripts").glob("*.py"),
]


def project_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    modules = {}
    for top, base in PACKAGES.items():
        for path in (base / top).rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def module_imports(module: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """{imported project module: line of the first such import} of one module."""
    found: dict[str, int] = {}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            nodes = node.orelse
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if target := _resolve(alias.name, modules):
                    found.setdefault(target, node.lineno)
            return
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if target := (full if full in modules else _resolve(base, modules)):
                    found.setdefault(target, node.lineno)
            return
        else:
            nodes = list(ast.iter_child_nodes(node))
        for child in nodes:
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    found.pop(module, None)
    return found


def import_edges(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported project module: line of the first such import}."""
    return {module: module_imports(module, path, modules) for module, path in modules.items()}


def import_cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
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
    return cycles


def _describe(cycle: list[str], edges: dict[str, dict[str, int]]) -> str:
    members = set(cycle)
    lines = [f"  {a} -> {b} (line {line})" for a in cycle for b, line in edges[a].items() if b in members]
    return " <-> ".join(cycle) + "\n" + "\n".join(lines)


def test_the_walker_finds_the_modules_and_a_planted_cycle():
    modules = project_modules()
    assert {"coin_core.modelfile", "coin_slicer.segmentation_logic", "coin_web.app"} <= set(modules)
    edges = import_edges(modules)
    assert "coin_slicer.node_io" in edges["coin_slicer.segmentation_logic"]  # relative import resolved
    assert "coin_core.io" in edges["coin_slicer.node_io"]  # lazy import inside a function counted
    planted = {**edges, "coin_core.errors": {**edges["coin_core.errors"], "coin_core.modelfile": 1}}
    assert any({"coin_core.errors", "coin_core.modelfile"} <= set(c) for c in import_cycles(planted))


def test_the_project_has_no_import_cycle():
    edges = import_edges(project_modules())
    cycles = import_cycles(edges)
    assert not cycles, "import cycles:\n" + "\n".join(_describe(c, edges) for c in cycles)


def test_modelfile_does_not_import_the_trainer():
    edges = import_edges(project_modules())
    trainer = [m for m in edges["coin_core.modelfile"] if m.startswith("coin_core.train")]
    assert not trainer, f"coin_core/modelfile.py imports {trainer}"


@pytest.mark.parametrize("path", PRODUCT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_product_code_never_changes_sys_path(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "path":
            target = node.value
            assert not (isinstance(target, ast.Name) and target.id == "sys"), (
                f"{path.relative_to(ROOT)}:{node.lineno} uses sys.path"
            )
