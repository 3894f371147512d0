"""Shared fixtures: small real image folders and an isolated MLflow store per test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


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


@pytest.fixture
def colour_folder(tmp_path) -> Path:
    folder = tmp_path / "photos"
    write_colour_images(folder, 60)
    return folder


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    """A fresh, real MLflow store under tmp_path (the code's default layout: mlruns/mlflow.db + artifacts)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "project"
    root.mkdir()
    return root
