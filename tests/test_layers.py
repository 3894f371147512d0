"""The import rules of the code, checked on every import statement (ast: indented, relative and lazy ones too).

- colorgan's modules are layered (LAYERS): a module never imports one of a higher layer;
- MLflow is imported only in colorgan/tracking/ and reports/; Optuna only in colorgan/studies and reports/,
  and studies' spec (reading study files) reaches no Optuna, even through the colorgan modules it imports;
- reports/ never imports colorgan: it reads only what colorgan logged.

Modules are named by their first component under colorgan/ (``colorgan.tracking.models`` is "tracking"), so a
package and a module of the same name sit in the same layer; a module of the table that does not exist is fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A module may import from its own layer and the layers below it, never from one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("config",),  # the frozen hyper-parameters
    ("color", "images", "paths", "grids", "losses", "samples",  # pixels, files, locations: no model, no store
     "critic",  # the critic's skill (held-out AUC, the chance verdict) and its pre-training loop
     "heartbeat",  # whether a job's process is alive
     "diskspace",  # free space, and a write error recognised as a full disk
     "scan_cache",  # what the data scan found per file, kept between runs
     "hardware",  # what the machine runs natively (precision = "auto")
     "terminal",  # what the terminal shows (log levels)
     "schedule", "budget"),  # the epoch plan (phases, learning rates) and the CPU budget: arithmetic on the config
    ("data", "metrics", "baselines"),  # datasets and scores (metrics/color are shared by evaluate/baselines/publish)
    ("networks", "heads", "confidence", "colorbins", "colorize", "model_folder"),  # the architectures, what heads
    # on a trained generator share, the confidence and colour-bins heads; a generator applied to photos; models/
    ("gan", "curves"),  # the model that trains the networks; its loss and eval curves within an epoch
    ("tracking",),  # the MLflow adapter
    ("references",),  # any model reference (MLflow or shipped) -> generator + config; the default model
    ("train", "epoch", "resume", "reuse", "warmstart", "fullstore", "evaluate", "publish",
     "pyfunc_model", "shipping", "serve"),
    # one run, its epochs' ends, its checkpoint and --resume, what a process's runs reuse, its warm start, its
    # stores filling up, one evaluation,
    # publishing to the registry and what the registered model does, shipping into the repository, the web app
    ("studies", "reproduce"),  # Optuna on top of train; the claims' runs, each trained once
    ("__main__", "bench", "bench_serve", "probe_serve"),  # entry points
)
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}
ONLY_IN = {  # a third-party package -> the only places that may import it
    "mlflow": ("colorgan.tracking", "reports"),
    "optuna": ("colorgan.studies", "reports"),
}
OPTUNA_FREE = ("colorgan.studies.spec",)  # modules that must not reach Optuna, directly or through colorgan


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path) -> list[tuple[int, str, str]]:
    """(line, imported module, the statement) of every import in a file; relative ones made absolute, and each
    name of ``from package import name`` taken as the module ``package.name`` (it may be one)."""
    source = path.read_text()
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out = []
    for node in ast.walk(ast.parse(source, str(path))):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        text = " ".join(ast.get_source_segment(source, node).split())
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name, text) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[:len(package) - node.level + 1], *filter(None, [base])])
            out.append((node.lineno, base, text))
            out.extend((node.lineno, f"{base}.{alias.name}", text) for alias in node.names if alias.name != "*")
    return out


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _files(root: Path) -> dict[str, Path]:
    paths = [p for package in ("colorgan", "reports") for p in sorted((root / package).rglob("*.py"))]
    return {module_name(p, root): p for p in paths}


def violations(root: Path) -> list[str]:
    """Every broken rule, as "file:line: `import ...`: why"."""
    files = _files(root)
    found = []
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        graph[module] = set()
        for line, imported, text in imports(path, root):
            where = f"{path.relative_to(root)}:{line}: `{text}`"
            top = imported.split(".")[0]
            if top in ONLY_IN and not any(_within(module, place) for place in ONLY_IN[top]):
                found.append(f"{where}: {top} may be imported only in {', '.join(ONLY_IN[top])}")
            if top != "colorgan" or imported == "colorgan":
                continue
            if imported in files:
                graph[module].add(imported)
            if _within(module, "reports"):
                found.append(f"{where}: reports may not import colorgan (it reads only what colorgan logged)")
                continue
            mine, theirs = module.split(".")[1], imported.split(".")[1]
            if mine not in LAYER:
                found.append(f"{path.relative_to(root)}: colorgan.{mine} is in no layer of LAYERS ({__name__})")
            elif LAYER.get(theirs, -1) > LAYER[mine]:
                found.append(f"{where}: {mine} (layer {LAYER[mine]}) imports {theirs}, "
                             f"a higher layer ({LAYER[theirs]})")
    for module in OPTUNA_FREE:
        for reached in sorted(_reach(graph, module)):
            found.extend(f"{files[reached].relative_to(root)}:{line}: `{text}`: {module} must not reach optuna"
                         for line, imported, text in imports(files[reached], root)
                         if imported.split(".")[0] == "optuna")
    return sorted(set(found))


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    """``start`` and every colorgan module it imports, directly or not (empty when ``start`` does not exist)."""
    seen, todo = set(), [start] if start in graph else []
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph[module])
    return seen


def test_the_code_keeps_its_layers():
    found = violations(ROOT)
    assert not found, "import rules broken:\n" + "\n".join(found)


def test_every_colorgan_module_has_a_layer():
    missing = {m.split(".")[1] for m in _files(ROOT) if m.startswith("colorgan.")} - set(LAYER)
    assert not missing, f"add these colorgan modules to LAYERS in tests/test_layers.py: {sorted(missing)}"


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("rel, text, message", [
    ("colorgan/data.py", "def f():\n    from colorgan import gan\n", "colorgan/data.py:2: `from colorgan import gan`: "
                                                                     "data (layer 2) imports gan, a higher layer (4)"),
    ("colorgan/config.py", "import colorgan.train as t\n", "config (layer 0) imports train"),
    ("colorgan/train.py", "import mlflow.keras\n",
     "colorgan/train.py:1: `import mlflow.keras`: mlflow may be imported only in colorgan.tracking, reports"),
    ("colorgan/tracking/models.py", "from ..studies import runner\n", "tracking (layer 5) imports studies"),
    ("colorgan/evaluate.py", "if True:\n    import optuna\n", "optuna may be imported only in colorgan.studies"),
    ("reports/source.py", "def f():\n    from colorgan.tracking import connect\n", "reports may not import colorgan"),
    ("reports/build.py", "from colorgan import metrics\n", "reports may not import colorgan"),
    ("colorgan/studies/spec.py", "from . import runner\n", "colorgan/studies/runner.py:1: `import optuna`: "
                                                           "colorgan.studies.spec must not reach optuna"),
    ("colorgan/newthing.py", "from colorgan import config\n", "colorgan.newthing is in no layer"),
])
def test_a_broken_rule_names_the_file_and_the_import(tmp_path, rel, text, message):
    _write(tmp_path, "colorgan/__init__.py", "")
    _write(tmp_path, "reports/__init__.py", "")
    _write(tmp_path, "colorgan/studies/__init__.py", "")
    _write(tmp_path, "colorgan/studies/runner.py", "import optuna\n")
    assert violations(tmp_path) == []
    _write(tmp_path, rel, text)
    found = violations(tmp_path)
    assert any(message in line for line in found), found
