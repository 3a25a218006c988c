"""The layout of docs/architecture.md holds: no import cycles, and each room keeps to itself."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kdc"


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(name):
    """The kdc module ``name`` names, or its closest enclosing module."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module):
    """The kdc modules ``module`` imports, at the top or inside functions."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "kdc" or not name.startswith("kdc."):
                continue  # the root package's facade is not a dependency of its modules
            target = _resolve(name)
            if target and target != module:
                found.add(target)
            # importing a.b.c runs the __init__ of a.b too, unless a.b is being imported
            # already (the importing module lies inside it)
            parent = _resolve(target.rpartition(".")[0]) if target else None
            while parent and parent != "kdc" and not (module + ".").startswith(parent + "."):
                found.add(parent)
                parent = _resolve(parent.rpartition(".")[0])
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _cycle():
    """One import cycle among kdc's modules, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, stack + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for module in sorted(GRAPH):
        if module not in state:
            found = visit(module, [module])
            if found:
                return found
    return None


def test_no_import_cycles_among_kdc_modules():
    assert _cycle() is None, " -> ".join(_cycle())


def test_a_cycle_would_be_found(monkeypatch):
    plan = "kdc.training.plan"
    monkeypatch.setitem(GRAPH, plan, GRAPH[plan] | {"kdc.cluster._base"})
    assert _cycle() is not None


@pytest.mark.parametrize("module", ["kdc.saving", "kdc.serving"])
def test_saving_and_serving_know_estimators_only_by_their_hooks(module):
    assert not {m for m in GRAPH[module] if m.startswith("kdc.cluster")}
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    used |= {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
             for a in n.names}
    for name in ("_model_input_shape", "_sklearn_seed", "_manifold_transform",
                 "_label_coordinates", "_derived_attributes", "_restore_links",
                 "BaseDeepClusterer", "N2D", "AEKMeans", "DEC", "importlib", "import_module"):
        assert name not in used, name


def test_the_run_report_is_used_by_the_command_line_only():
    users = {m for m, deps in GRAPH.items() if "kdc._report" in deps}
    assert users <= {"kdc.cli", "kdc._cli_commands", "kdc._cli_common"}


def test_the_training_engine_and_leaves_import_no_estimator():
    for module, deps in GRAPH.items():
        if module.startswith(("kdc.training", "kdc.models", "kdc.layers", "kdc.losses",
                              "kdc.callbacks", "kdc.metrics", "kdc.select", "kdc.datasets",
                              "kdc.plot")):
            assert not {d for d in deps if d.startswith("kdc.cluster")}, module


def test_no_estimator_branches_on_the_kind_of_input():
    for path in (PACKAGE / "cluster").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "Stream)" not in source and "InMemory)" not in source, path.name
        assert "self._warm" not in source, path.name
