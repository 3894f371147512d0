"""Sample grids: one row per image, columns gray | prediction(s) | original, as a uint8 RGB array."""

from __future__ import annotations

import numpy as np

_BORDER = 2  # white pixels between tiles


def sample_grid(columns: list[np.ndarray]) -> np.ndarray:
    """Each column is a float [N, H, W, 3] batch in [0, 1]; all share N, H and W."""
    n, h, w, _ = columns[0].shape
    rows, cols = n, len(columns)
    grid = np.full((rows * (h + _BORDER) + _BORDER, cols * (w + _BORDER) + _BORDER, 3), 255, np.uint8)
    for c, batch in enumerate(columns):
        if batch.shape[:3] != (n, h, w):
            raise ValueError(f"column {c} has shape {batch.shape}, expected {(n, h, w, 3)}")
        tiles = np.clip(np.rint(np.asarray(batch, np.float32) * 255.0), 0, 255).astype(np.uint8)
        for r in range(rows):
            y, x = _BORDER + r * (h + _BORDER), _BORDER + c * (w + _BORDER)
            grid[y:y + h, x:x + w] = tiles[r]
    return grid
