"""The package layering (docs/architecture.md):
kernel <- dependencies <- services <- gateway_http, ws.

A lower layer never imports a higher one, no service imports another service, and no module
imports itself back through a chain of imports (a deferred import inside a function counts too:
it only hides the circle from the interpreter).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kernel", "dependencies", "services", "gateway_http", "ws")
LAYER = {"kernel": 0, "dependencies": 1, "services": 2, "gateway_http": 3, "ws": 3}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


MODULES = project_modules()


def imports_of(path: Path) -> set[str]:
    """Project modules a module imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in MODULES}


IMPORTS = {name: imports_of(path) for name, path in MODULES.items()}


def test_the_layers_are_known() -> None:
    assert "kernel.errors" in MODULES and "dependencies.health" in MODULES
    assert IMPORTS["services.campaigns.schemas"] >= {"kernel.vocabulary"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_points_up_or_across(module: str) -> None:
    package = module.split(".")[0]
    wrong = set()
    for imported in IMPORTS[module]:
        target = imported.split(".")[0]
        edge_to_edge = LAYER[target] == LAYER[package] == 3 and target != package
        if LAYER[target] > LAYER[package] or edge_to_edge:
            wrong.add(imported)
        if package == target == "services":
            own, other = module.split(".")[1], imported.split(".")[1]
            if own != other:
                wrong.add(imported)
    assert not wrong, f"{module} imports {sorted(wrong)}"


def test_no_import_circles() -> None:
    circles = []
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(IMPORTS[module]):
            if state.get(imported) == "open":
                circles.append(" -> ".join([*trail[trail.index(imported) :], imported]))
            elif imported not in state:
                visit(imported, [*trail, imported])
        state[module] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert not circles, "\n".join(circles)
