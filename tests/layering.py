"""The layers of colorgan/ and the import statements of a file: the table the layer test (tests/test_layers.py)
checks the code against, and the parser it, the layout test and the reports test read imports with.

Not a test file (pytest collects nothing here): a module the test files import, so that no test file imports
another (tests/test_layout.py checks that).
"""

from __future__ import annotations

import ast
from pathlib import Path

# The folders of colorgan/, lowest first: a module may import from its own folder and the folders below it, never
# from one above. Each folder's __init__ docstring says its job (docs/reference/layout.md is checked against them).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("base",),  # the typed config, paths, the machine, the terminal, liveness, free disk
    ("data",),  # pixels and files: colour spaces, decoding, samples, the data set as tf.data
    ("scoring",),  # the quality figures, the critic's skill, the baselines, the sample grids
    ("model",),  # the networks, the losses, the GAN, the heads on a trained generator
    ("tracking",),  # the MLflow adapter
    ("serving",),  # a trained model in use: the shipped folder, model references, colorizing, the pyfunc, the web app
    ("evaluation",),  # a model or baseline scored on a split or a folder
    ("training",),  # one run and what it needs; runs trained once
    ("release",),  # publishing to the registry and shipping into the repository
    ("studies",),  # Optuna on top of training
    ("__main__", "__init__", "bench"),  # entry points: the CLI, the package face, the benchmarks
)
TOP = ("__main__", "__init__")  # the only modules directly in colorgan/
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}


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
