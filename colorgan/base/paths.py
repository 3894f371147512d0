"""Where the project keeps things: the checkout (experiments/, studies/), and the project root with ``mlruns/``
(the MLflow and Optuna SQLite stores, MLflow's artifacts) and ``.cache/``.

The one module that knows these locations. ``reports/locations.py`` applies the same rule without importing
colorgan (``tests/base/test_paths.py`` holds the two together); the Makefile asks
``python -m colorgan.base.paths NAME``.
Nothing here creates a folder: the code that writes a store does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV = "COLORGAN_HOME"  # moves mlruns/ and .cache/ (the tests isolate themselves with it)
TRACKING_ENV = "MLFLOW_TRACKING_URI"  # a tracking server (or another store) instead of the local one
CHECKOUT = Path(__file__).resolve().parents[2]  # the folder holding this package: experiments/, studies/


def repo_root() -> Path:
    """Where mlruns/ and .cache/ live: $COLORGAN_HOME if set, else the checkout this package lives in
    (editable install), else the working directory."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV])
    return CHECKOUT if (CHECKOUT / "pyproject.toml").is_file() else Path.cwd()


def experiments_dir() -> Path:
    return CHECKOUT / "experiments"


def studies_dir() -> Path:
    return CHECKOUT / "studies"


SHIPPED_MODEL = "landscapes-128"  # the reference model that ships with the checkout (model reference `shipped`)


def models_dir() -> Path:
    """Shipped models (colorgan.serving.model_folder folders), part of the checkout, not of a project's stores."""
    return CHECKOUT / "models"


def shipped_model_dir() -> Path:
    return models_dir() / SHIPPED_MODEL


def mlruns_dir(root: Path) -> Path:
    return Path(root) / "mlruns"


def cache_dir(root: Path) -> Path:
    return Path(root) / ".cache"


def mlflow_db(root: Path) -> Path:
    """The embedded MLflow store (SQLite), the local store MLflow 3 recommends."""
    return mlruns_dir(root) / "mlflow.db"


def artifacts_beside(db: Path) -> Path:
    """An embedded MLflow store keeps its artifacts in a folder beside its database."""
    return Path(db).parent / "artifacts"


def optuna_db(root: Path) -> Path:
    """The embedded Optuna storage (SQLite)."""
    return mlruns_dir(root) / "optuna.db"


def sqlite_url(db: Path) -> str:
    return f"sqlite:///{Path(db).resolve()}"


def mlflow_uri(root: Path) -> str:
    """The MLflow store colorgan uses: $MLFLOW_TRACKING_URI if set, else the embedded store under ``root``."""
    return os.environ.get(TRACKING_ENV) or sqlite_url(mlflow_db(root))


# `python -m colorgan.base.paths NAME` prints one location of the current project (the Makefile's source of them).
LOCATIONS = {
    "root": lambda root: str(root),
    "mlruns": lambda root: str(mlruns_dir(root).resolve()),
    "mlflow-uri": mlflow_uri,
    "mlflow-db": lambda root: sqlite_url(mlflow_db(root)),
    "mlflow-artifacts": lambda root: str(artifacts_beside(mlflow_db(root)).resolve()),
    "optuna-db": lambda root: sqlite_url(optuna_db(root)),
    "cache": lambda root: str(cache_dir(root).resolve()),
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in LOCATIONS:
        print(f"usage: python -m colorgan.base.paths {{{','.join(LOCATIONS)}}}", file=sys.stderr)
        return 2
    print(LOCATIONS[args[0]](repo_root()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
