"""Shared fixtures: small real image folders, an isolated MLflow store per test, a finished run written into one,
and the web app on a free port. Plain helpers that test files import live in helpers.py, serve_helpers.py and
layering.py (no test file imports another: test_layout.py checks that)."""

from __future__ import annotations

import socket
import struct
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.register_assert_rewrite("helpers")  # its asserts (check_shipped_figures) say what differed, as a test's do


def write_colour_images(folder: Path, count: int, size: int = 48, seed: int = 0, classes=("a", "b")) -> list[Path]:
    """Smooth, colourful images (bilinear-upsampled random 4x4 colour fields): learnable and never grey."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        sub = folder / classes[i % len(classes)]
        sub.mkdir(parents=True, exist_ok=True)
        small = (rng.random((4, 4, 3)) * 255).astype(np.uint8)
        img = Image.fromarray(small).resize((size, size), Image.BILINEAR)
        path = sub / f"img_{i:03d}.png"
        img.save(path)
        paths.append(path)
    return paths


def free_ports(count: int) -> list[int]:
    """``count`` different TCP ports on 127.0.0.1 that nothing listens on now, for servers a test starts at once:
    held open together while chosen, as ports closed one by one may be handed out again before a slow server binds
    the first (two servers on one port once answered each other's health checks)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a server a test starts."""
    return free_ports(1)[0]


def wait_for_mlflow_server(url: str, proc, timeout: float = 120, interval: float = 0.5) -> None:
    """Return once the `mlflow server` at ``url`` answers /health; fail if ``proc`` exits or ``timeout`` passes."""
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("mlflow server did not start") from None
            time.sleep(interval)


@pytest.fixture
def colour_folder(tmp_path) -> Path:
    folder = tmp_path / "photos"
    write_colour_images(folder, 60)
    return folder


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory) -> Path:
    """One empty MLflow database, made once per session by the code's own connect: creating its tables runs
    MLflow's schema migrations, seconds per store on a small CPU, and most tests need a fresh store."""
    from colorgan import tracking
    from colorgan.base import paths

    root = tmp_path_factory.mktemp("empty-store")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        tracking.store.connect(root).search_experiments()
    return paths.mlflow_db(root)


def fresh_store(root: Path, empty_db: Path) -> Path:
    """``root`` as a project whose MLflow store is a copy of the empty database (a real store, nothing in it)."""
    import shutil

    from colorgan.base import paths

    paths.mlruns_dir(root).mkdir(parents=True)
    shutil.copyfile(empty_db, paths.mlflow_db(root))
    return root


@pytest.fixture
def store(tmp_path, monkeypatch, empty_mlflow_db) -> Path:
    """A fresh, real MLflow store under tmp_path (the code's default layout: mlruns/mlflow.db + artifacts)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return fresh_store(tmp_path / "project", empty_mlflow_db)


def finished_run(client, experiment_id: str, name: str | None = None, *, params: dict | None = None,
                 metrics=(), tags: dict | None = None, texts: dict | None = None, start_time: int | None = None) -> str:
    """A FINISHED run written straight into a real store by the MLflow ``client`` (no training), as a test's
    stand-in for one colorgan logged: ``params`` and ``tags`` as given (tag values as str), ``metrics`` as MLflow
    ``Metric``s or ``{key: {step: value}}``, ``texts`` as text artifacts ``{path: text}``. Its run id."""
    from mlflow.entities import Metric

    run = client.create_run(experiment_id, run_name=name, start_time=start_time,
                            tags={k: str(v) for k, v in (tags or {}).items()}).info.run_id
    for key, value in (params or {}).items():
        client.log_param(run, key, value)
    if isinstance(metrics, dict):
        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, step) for key, steps in metrics.items()
                   for step, value in steps.items()]
    metrics = list(metrics)
    for i in range(0, len(metrics), 500):  # MLflow takes at most 1000 metrics a batch
        client.log_batch(run, metrics=metrics[i:i + 500])
    for path, text in (texts or {}).items():
        client.log_text(run, text, path)
    client.set_terminated(run, "FINISHED")
    return run


@pytest.fixture
def env(colour_folder, store, monkeypatch):
    """The tiny image folder as the data (COLORGAN_DATA) and the fresh store as the project root (COLORGAN_HOME),
    for code that finds both itself, as the CLI, studies and baselines do."""
    monkeypatch.setenv("COLORGAN_DATA", str(colour_folder))
    monkeypatch.setenv("COLORGAN_HOME", str(store))
    return store


def train_tiny(tmp_path_factory, label: str, overrides: list[str], images: int = 40, empty_db: Path | None = None,
               **run_kwargs):
    """A finished tiny smoke run in a project of its own (a fresh folder ``label``, with ``images`` colour photos
    and, given ``empty_db``, a copy of the empty store), trained without MLFLOW_TRACKING_URI so that it lands in
    that project: namespace(root, data_dir, run_id). For module- and session-scoped fixtures that share one run."""
    from types import SimpleNamespace

    from colorgan.base import config
    from colorgan.training import train

    base = tmp_path_factory.mktemp(label)
    photos = base / "photos"
    write_colour_images(photos, images)
    root = fresh_store(base / "project", empty_db) if empty_db else base / "project"
    root.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        cfg = config.load(Path(__file__).resolve().parent.parent / "experiments" / "smoke.toml",
                          [f"data_dir={photos}", *overrides])
        result = train.run_training(cfg, root=root, verbose=0, **run_kwargs)
    return SimpleNamespace(root=root, run_id=result.run_id, data_dir=photos)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, empty_mlflow_db):
    """One real tiny training run (smoke config, 1 epoch) in its own MLflow store, shared by the tests of
    colorize / publish / export / serve: (root, run_id, data_dir). Trained once per session (about 30 s)."""
    return train_tiny(tmp_path_factory, "trained", ["eval_fraction=0.2", "test_fraction=0.2", "epochs=1"], images=60,
                      empty_db=empty_mlflow_db)


@pytest.fixture
def home(trained, monkeypatch):
    """The trained store as the CLI's project root (COLORGAN_HOME) and MLflow's current store."""
    from colorgan import tracking

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("COLORGAN_HOME", str(trained.root))
    tracking.store.connect(trained.root)
    return trained


def photo(height: int, width: int, seed: int = 0, gray: bool = False) -> np.ndarray:
    """A smooth, detailed uint8 test photo (colour field + fine stripes), HxWx3 or HxW when gray."""
    rng = np.random.default_rng(seed)
    small = (rng.random((6, 8, 3)) * 255).astype(np.uint8)
    img = np.asarray(Image.fromarray(small).resize((width, height), Image.BILINEAR), np.float32)
    stripes = 20.0 * np.sin(np.arange(width, dtype=np.float32) / (2.0 + seed))[np.newaxis, :, np.newaxis]
    img = np.clip(img + stripes, 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(img).convert("L")) if gray else img


def huge_png_header(path: Path, side: int = 8000) -> None:
    """A PNG whose header claims side x side pixels: must be refused before any decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="session")
def declared():
    """The metric declarations as `colorgan evaluate` logs them (info.json "metrics"), read as the report reads
    them: what a report test labels its figures and sentences with."""
    import dataclasses

    from colorgan.scoring import metrics
    from reports.declared import Declared

    return Declared(dataclasses.asdict(m) for m in metrics.QUALITY.values())


@pytest.fixture(scope="module")
def server(trained):
    """The app around the trained model on a free port, started with the CLI's server settings (server_config)
    but an upload limit of 2 MB and short read timeouts (FAST), so the limits are cheap to test. One per test module
    that asks for it (test_server_gone.py's ``server`` is its own: a tracking server)."""
    import threading

    import uvicorn
    from serve_helpers import FAST

    from colorgan.serving.app import create_app
    from colorgan.serving.limits import server_config
    from colorgan.serving.references import load_colorizer

    colorizer, _ = load_colorizer(trained.run_id, trained.root)
    app = create_app(colorizer, f"runs:/{trained.run_id}", max_bytes=2 * 1024 * 1024, limits=FAST)
    port = free_port()
    srv = uvicorn.Server(server_config(app, "127.0.0.1", port, FAST, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not srv.started and time.time() < deadline:
        time.sleep(0.1)
    assert srv.started, "the server did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=30)
