"""The project's locations are decided once (colorgan.base.paths), and reports.locations (which may not import
colorgan) follows the same rule: the two agree in every environment, and from whichever folder they run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from colorgan.base import paths
from reports import locations

ROOT = Path(__file__).resolve().parents[2]


def _agree(root: Path) -> None:
    assert locations.project_root() == paths.repo_root() == root
    assert locations.tracking_uri(root) == paths.mlflow_uri(root)
    assert locations.optuna_url(root) == paths.sqlite_url(paths.optuna_db(root))
    assert locations.cache_dir(root) == paths.cache_dir(root)
    uri = paths.mlflow_uri(root)
    expected = paths.artifacts_beside(paths.mlflow_db(root)).resolve().as_uri() if uri.startswith("sqlite") else None
    assert locations.artifact_root(uri) == expected


@pytest.mark.parametrize("home", ["unset", "absolute", "relative"])
@pytest.mark.parametrize("tracking_uri", [None, "http://127.0.0.1:5999"])
def test_reports_locations_agree_with_colorgan_paths(home, tracking_uri, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COLORGAN_HOME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if tracking_uri:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    expected = {"unset": ROOT, "absolute": tmp_path / "project", "relative": Path("project")}[home]
    if home != "unset":
        monkeypatch.setenv("COLORGAN_HOME", str(expected))
    _agree(expected)
    assert paths.mlflow_uri(expected) == (tracking_uri or f"sqlite:///{(expected / 'mlruns' / 'mlflow.db').resolve()}")


def test_the_stores_are_opened_where_paths_says(store):
    from colorgan import tracking
    from colorgan.studies import storage

    assert tracking.store_uri(store) == paths.sqlite_url(paths.mlflow_db(store))
    assert tracking.local_artifact_root(store) == paths.artifacts_beside(paths.mlflow_db(store)).resolve().as_uri()
    assert storage.storage_url(None, store) == paths.sqlite_url(paths.optuna_db(store)) == locations.optuna_url(store)
    assert paths.mlruns_dir(store).is_dir()


def _copied_checkout(base: Path, with_pyproject: bool) -> tuple[Path, dict]:
    """colorgan and reports copied into a checkout of their own (PYTHONPATH), with no COLORGAN_HOME set."""
    checkout = base / "checkout"
    for package in ("colorgan", "reports"):
        shutil.copytree(ROOT / package, checkout / package, ignore=lambda folder, names: [
            n for n in names if n == "__pycache__" or (Path(folder).name == "reports" and Path(folder, n).is_dir())])
    if with_pyproject:
        (checkout / "pyproject.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("COLORGAN_HOME", "MLFLOW_TRACKING_URI")}
    return checkout, {**env, "PYTHONPATH": str(checkout)}


def _run(cwd: Path, env: dict, *args: str) -> str:
    out = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize("with_pyproject", [True, False], ids=["checkout", "installed"])
def test_both_sides_agree_from_another_folder(tmp_path, with_pyproject):
    checkout, env = _copied_checkout(tmp_path, with_pyproject)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    reports_side = _run(elsewhere, env, "-c", "from reports import locations as l; r = l.project_root(); "
                        "print(r, l.tracking_uri(r), l.optuna_url(r), sep='\\n')")
    colorgan_side = "\n".join(_run(elsewhere, env, "-m", "colorgan.base.paths", name)
                              for name in ("root", "mlflow-uri", "optuna-db"))
    assert reports_side == colorgan_side
    assert reports_side.splitlines()[0] == str(checkout if with_pyproject else elsewhere)


@pytest.mark.slow  # a `python -m reports` process
def test_python_m_reports_from_another_folder_reads_the_store_colorgan_names(tmp_path):
    checkout, env = _copied_checkout(tmp_path, with_pyproject=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Path(_run(elsewhere, env, "-m", "colorgan.base.paths", "mlruns")).mkdir(parents=True)
    optuna.create_study(study_name="located", storage=_run(elsewhere, env, "-m", "colorgan.base.paths", "optuna-db"))
    out = subprocess.run([sys.executable, "-m", "reports", "located", "--plan"], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=120)
    # found in the checkout's store (a reader of ./mlruns would say "no Optuna storage at ..."), and incomplete
    assert out.returncode == 3 and "study 'located' has no completed trial yet" in out.stderr, out.stderr


def test_paths_command_names_its_choices():
    out = subprocess.run([sys.executable, "-m", "colorgan.base.paths", "nowhere"], capture_output=True, text=True)
    assert out.returncode == 2 and "mlflow-uri" in out.stderr
