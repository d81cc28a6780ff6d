"""The package reads as its architecture (docs/architecture.md): wings import only the layers
below them, module-level imports form no cycle, and only the pytest face (plugin.py, its
hookspecs, and concurrency.py, the face of concurrent sessions the plugin registers) imports
pytest.

Imports are read from the source (ast), lazy imports inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_modelbench"

#: Bottom to top. A wing may import its own layer's foundation and any wing of a lower layer;
#: wings of one layer do not import each other.
LAYERS = (
    ("stats", "_exceptions"),
    ("core",),
    ("cost",),
    ("models",),
    ("design", "profile"),
    ("compare",),
    ("reports",),
    ("session", "hookspecs", "scorers"),
    ("concurrency",),
    ("plugin", "__main__", "cli", "(package)"),
)
LEVEL = {wing: level for level, wings in enumerate(LAYERS) for wing in wings}
#: The pytest face: the only modules that may import pytest.
PYTEST_FACE = {"pytest_modelbench.plugin", "pytest_modelbench.hookspecs", "pytest_modelbench.concurrency"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _wing(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(package)"


def _imports(module: str) -> list[tuple[str, bool, int]]:
    """(imported module, at module level, line) for each import of the package's own modules."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # module-level `if TYPE_CHECKING:` / `try:` blocks
        if isinstance(node, (ast.If, ast.Try)):
            top_level |= {id(child) for child in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("pytest_modelbench"):
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.append((full if full in MODULES else target, id(node) in top_level, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pytest_modelbench"):
                    found.append((alias.name, id(node) in top_level, node.lineno))
    return found


def test_every_wing_has_a_layer():
    wings = {_wing(module) for module in MODULES}
    assert wings <= set(LEVEL), f"wings without a layer in LAYERS: {sorted(wings - set(LEVEL))}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    mine = _wing(module)
    wrong = []
    for target, _, line in _imports(module):
        theirs = _wing(target)
        if theirs == mine or theirs == "(package)" and mine in LAYERS[-1]:
            continue
        if (mine, theirs) == ("__main__", "cli"):  # `python -m pytest_modelbench` is the command line
            continue
        if LEVEL[theirs] >= LEVEL[mine]:
            wrong.append(f"line {line}: {mine} imports {target} ({theirs} is not below it)")
    assert not wrong, f"{module}:\n" + "\n".join(wrong)


def test_module_level_imports_have_no_cycle():
    graph = {module: sorted({target for target, top, _ in _imports(module) if top and target != module})
             for module in MODULES}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in graph.get(module, ()):
            if target not in MODULES:
                continue
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in MODULES:
        if module not in state:
            visit(module)


@pytest.mark.parametrize("module", sorted(set(MODULES) - PYTEST_FACE))
def test_domain_code_does_not_import_pytest(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level]
    assert not [name for name in names if name.split(".")[0] in ("pytest", "_pytest")], module


def test_the_plugin_is_a_few_hundred_lines_of_hooks():
    lines = (PACKAGE / "plugin.py").read_text(encoding="utf-8").count("\n")
    assert lines < 550, f"plugin.py has {lines} lines: move domain work into the wings"
