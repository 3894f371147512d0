"""Sample grids: one row per image, columns gray | prediction(s) | original, as a uint8 RGB array, and their layout."""

from __future__ import annotations

import numpy as np

_BORDER = 2  # white pixels between tiles


def layout(columns: list[np.ndarray], names: tuple[str, ...] = ()) -> dict:
    """Where ``sample_grid(columns)`` puts its tiles, logged with the grid (an evaluation's info.json "sample_grid"),
    so a reader cuts it without inferring the layout from its pixel size: rows, columns (with their ``names``, left
    to right), each tile's height and width and the border, in pixels. Tile (r, c) starts at
    y = border + r * (tile_height + border), x = border + c * (tile_width + border)."""
    n, h, w, _ = columns[0].shape
    return {"rows": int(n), "columns": len(columns), "names": list(names), "tile_height": int(h),
            "tile_width": int(w), "border": _BORDER}


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
