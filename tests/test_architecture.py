"""The layers of docs/architecture.md hold: every import of the project's packages points down, and no module
imports itself back through others. Read from the source with `ast`, so an import inside a function counts too."""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("foundation", "assets", "expectations", "orchestration", "sandbox")

# What each package may import of the project, besides itself.
ALLOWED = {
    "foundation": set(),
    "expectations": {"foundation"},
    "assets": {"foundation", "expectations"},
    "orchestration": {"foundation", "assets", "expectations", "sandbox"},
    "sandbox": {"foundation"},
}


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports (a name imported from a package counts as its module when it is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_every_import_points_down_the_layers():
    upward = sorted(f"{module} imports {target}" for module, targets in import_graph().items() for target in targets
                    if target.split(".")[0] != module.split(".")[0]
                    and target.split(".")[0] not in ALLOWED[module.split(".")[0]])
    assert upward == []


def test_no_module_imports_itself_back():
    graph = import_graph()
    circles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_the_rules_see_an_upward_import(tmp_path):
    """The reader of imports finds a function-level import, so the rules above can fail."""
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from orchestration.definitions import defs\n")
    modules = {**project_modules(), "foundation.probe": module}
    assert "orchestration.definitions" in imports_of("foundation.probe", module, modules)
