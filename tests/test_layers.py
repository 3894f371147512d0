"""The import rules of the code, checked on every import statement (ast: indented, relative and lazy ones too).

- colorgan's folders are layered (LAYERS, in tests/layering.py): a module never imports one of a higher folder;
- MLflow is imported only in colorgan/tracking/ and reports/; Optuna only in colorgan/studies and reports/,
  and studies' spec (reading study files) reaches no Optuna, even through the colorgan modules it imports;
- reports/ never imports colorgan: it reads only what colorgan logged.

A module's layer is its folder under colorgan/ (``colorgan.tracking.models`` is "tracking"); only the CLI
(``__main__``) and the package face (``__init__``) sit directly in colorgan/. A folder of the table that does not
exist is fine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from layering import LAYER, TOP, imports, module_name

ROOT = Path(__file__).resolve().parent.parent

ONLY_IN = {  # a third-party package -> the only places that may import it
    "mlflow": ("colorgan.tracking", "reports"),
    "optuna": ("colorgan.studies", "reports"),
}
OPTUNA_FREE = ("colorgan.studies.spec",)  # modules that must not reach Optuna, directly or through colorgan


def folder(module: str) -> str:
    """The folder (layer) of a colorgan module: ``colorgan.training.train`` -> "training"; the face -> "__init__"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


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
            if imported not in files and imported.rpartition(".")[0] in files:
                imported = imported.rpartition(".")[0]  # `from colorgan.x.m import NAME`: NAME is no module
            if imported in files:
                graph[module].add(imported)
            if _within(module, "reports"):
                found.append(f"{where}: reports may not import colorgan (it reads only what colorgan logged)")
                continue
            mine, theirs = folder(module), folder(imported)
            if mine not in LAYER:
                found.append(f"{path.relative_to(root)}: colorgan/{mine} is no folder of LAYERS (tests/layering.py)")
            elif LAYER.get(theirs, -1) > LAYER[mine]:
                found.append(f"{where}: {mine} (layer {LAYER[mine]}) imports {theirs}, "
                             f"a higher layer ({LAYER[theirs]})")
    for module, path in files.items():
        if module.startswith("colorgan.") and module.count(".") == 1 and module.split(".")[1] not in TOP \
                and path.name != "__init__.py":
            found.append(f"{path.relative_to(root)}: a module directly in colorgan/; only {', '.join(TOP)} sit there, "
                         f"every other module in the folder of its layer")
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


def test_every_colorgan_folder_has_a_layer():
    missing = {folder(m) for m in _files(ROOT) if m.startswith("colorgan.")} - set(LAYER)
    assert not missing, f"add these colorgan folders to LAYERS in tests/layering.py: {sorted(missing)}"


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("rel, text, message", [
    ("colorgan/data/datasets.py", "def f():\n    from colorgan.model import gan\n",
     "colorgan/data/datasets.py:2: `from colorgan.model import gan`: data (layer 1) imports model, a higher layer (3)"),
    ("colorgan/base/config.py", "import colorgan.training.train as t\n", "base (layer 0) imports training"),
    ("colorgan/data/gan.py", "from colorgan.model import networks\n", "data (layer 1) imports model"),  # misfiled
    ("colorgan/training/train.py", "import mlflow.keras\n",
     "colorgan/training/train.py:1: `import mlflow.keras`: mlflow may be imported only in colorgan.tracking, reports"),
    ("colorgan/tracking/models.py", "from ..studies import runner\n", "tracking (layer 4) imports studies"),
    ("colorgan/evaluation/evaluate.py", "if True:\n    import optuna\n", "optuna may be imported only in"),
    ("reports/source.py", "def f():\n    from colorgan.tracking import connect\n", "reports may not import colorgan"),
    ("reports/build.py", "from colorgan.scoring import metrics\n", "reports may not import colorgan"),
    ("colorgan/studies/spec.py", "from . import runner\n", "colorgan/studies/runner.py:1: `import optuna`: "
                                                           "colorgan.studies.spec must not reach optuna"),
    ("colorgan/newthing/x.py", "from colorgan.base import config\n", "colorgan/newthing is no folder of LAYERS"),
    ("colorgan/loose.py", "", "colorgan/loose.py: a module directly in colorgan/"),
])
def test_a_broken_rule_names_the_file_and_the_import(tmp_path, rel, text, message):
    _write(tmp_path, "colorgan/__init__.py", "")
    _write(tmp_path, "reports/__init__.py", "")
    _write(tmp_path, "colorgan/studies/__init__.py", "")
    _write(tmp_path, "colorgan/studies/runner.py", "import optuna\n")
    for package in ("base", "data", "model", "training", "tracking", "evaluation", "scoring", "newthing"):
        _write(tmp_path, f"colorgan/{package}/__init__.py", "")
    assert violations(tmp_path) == []
    _write(tmp_path, rel, text)
    found = violations(tmp_path)
    assert any(message in line for line in found), found
