"""The package's layers: certify (maths) < engine (data, models, sampling) < results <
workflow, over a base of shared helpers (``idrs/*.py``). A module imports only from its
own layer or below, modules import each other without cycles, and the maths loads
neither torch nor pyarrow."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "idrs"
LAYERS = ["certify", "engine", "results", "workflow"]


def _module(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module):
    parts = module.split(".")
    return LAYERS.index(parts[1]) + 1 if len(parts) > 2 and parts[1] in LAYERS else 0


def _imports():
    """{module: set of idrs modules it imports}, function-local imports included."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            found |= {t for t in targets if t in modules and t != name and t != "idrs"}
        graph[name] = found
    return graph


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [(m, t) for m, ts in _imports().items() for t in ts if _layer(t) > _layer(m)]
    assert not upward, upward


def test_modules_import_each_other_without_cycles():
    graph, done, path = _imports(), set(), []

    def visit(m):
        if m in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(m):] + [m]))
        if m not in done:
            path.append(m)
            for t in sorted(graph[m]):
                if not t.endswith("__init__"):
                    visit(t)
            path.pop()
            done.add(m)

    for m in sorted(graph):
        visit(m)


def test_the_layer_graph_sees_known_imports():  # the two tests above can fail
    graph = _imports()
    assert "idrs.certify.rounding" in graph["idrs.engine.knn"]
    assert "idrs.files" in graph["idrs.results.aggregate"]
    assert _layer("idrs.workflow.jobs") > _layer("idrs.results.records") > _layer(
        "idrs.engine.smoothing") > _layer("idrs.certify.radius") > _layer("idrs.files")


def test_the_maths_loads_neither_torch_nor_pyarrow():
    maths = ", ".join(_module(p) for p in sorted((PACKAGE / "certify").glob("*.py")))
    code = (f"import sys, {maths}; "
            "print(sorted(m for m in ('torch', 'pyarrow', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]", out


def test_the_workflow_registry_and_jobs_load_no_torch():
    # `idrs data` on a toy set and config validation stay free of torch's import time
    code = ("import sys, idrs.workflow.jobs, idrs.workflow.registry, idrs.workflow.cli; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False", out
