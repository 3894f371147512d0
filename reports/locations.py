"""Where the report generator finds colorgan's stores, without importing colorgan (reports reads, never trains).

The contract: the same rule as ``colorgan.base.paths``, held by ``tests/base/test_paths.py`` in several environments.
The project root is $COLORGAN_HOME if set, else the checkout (the folder holding pyproject.toml above this
package), else the working directory; under it ``mlruns/mlflow.db`` is the MLflow store (unless
$MLFLOW_TRACKING_URI names another), ``mlruns/optuna.db`` the Optuna storage and ``.cache/`` the scratch space.
So `python -m reports` reads the store `colorgan` writes, from whichever folder it is run.
The MLflow UI the report links to is $COLORGAN_UI_URL (`make report` sets it from the Makefile's PORT, the port
`make ui` serves on), default http://127.0.0.1:5000.
"""

from __future__ import annotations

import os
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
UI_URL_ENV = "COLORGAN_UI_URL"
DEFAULT_UI_URL = "http://127.0.0.1:5000"  # `make ui` with its default PORT


def project_root() -> Path:
    if os.environ.get("COLORGAN_HOME"):
        return Path(os.environ["COLORGAN_HOME"])
    return CHECKOUT if (CHECKOUT / "pyproject.toml").is_file() else Path.cwd()


def ui_url(tracking: str = "") -> str:
    """The MLflow UI address report links start with: $COLORGAN_UI_URL; else a tracking server's own address
    (``tracking`` when it is http(s)); else DEFAULT_UI_URL. No trailing slash."""
    url = os.environ.get(UI_URL_ENV) or (tracking if tracking.startswith(("http://", "https://")) else "")
    return (url or DEFAULT_UI_URL).rstrip("/")


def tracking_uri(root: Path) -> str:
    """The MLflow store: $MLFLOW_TRACKING_URI, else ``<root>/mlruns/mlflow.db``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path(root) / 'mlruns' / 'mlflow.db').resolve()}"


def optuna_url(root: Path) -> str:
    """The embedded Optuna storage: ``<root>/mlruns/optuna.db``."""
    return f"sqlite:///{(Path(root) / 'mlruns' / 'optuna.db').resolve()}"


def cache_dir(root: Path) -> Path:
    return Path(root) / ".cache"


def artifact_root(uri: str) -> str | None:
    """Where a SQLite store keeps its artifacts (an ``artifacts`` folder beside the database, as colorgan creates
    it); None for a tracking server, which decides for itself."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
