"""The data scan's cache: what each file's check found, keyed by (path, size, mtime), so a second run over the same
folder decodes nothing. An optimisation only: unreadable means empty, unwritable is a warning; it is never
written inside the data directory (read-only to colorgan).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

VERSION = 1  # bump when what the scan measures changes


def location(root: Path, cache_dir: Path | None) -> Path | None:
    """The cache file of the folder ``root`` under ``cache_dir``; None (no cache) when there is none or it is inside
    ``root``."""
    if cache_dir is None:
        return None
    root_abs, cache_abs = root.resolve(), Path(cache_dir).resolve()
    if cache_abs == root_abs or root_abs in cache_abs.parents:
        return None  # the data directory is read-only to us
    return cache_abs / f"scan-{hashlib.sha1(str(root_abs).encode()).hexdigest()[:16]}.json"


def read(path: Path | None) -> dict[str, list]:
    """rel -> [size, mtime_ns, chroma or None, converted, reason]; {} when absent, unreadable or of another version."""
    try:
        data = json.loads(path.read_text()) if path else {}
    except (OSError, ValueError):
        return {}
    return data.get("entries", {}) if data.get("version") == VERSION else {}


def write(path: Path | None, entries: dict[str, list]) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": VERSION, "entries": entries}))
        os.replace(tmp, path)
    except OSError as exc:  # a cache is an optimisation: never fail a run over it
        log.warning("could not write the scan cache %s: %s", path, exc)
