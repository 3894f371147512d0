"""Latency and throughput of a running `colorgan serve`: ``python -m colorgan.bench.serve_latency --image PHOTO``.

First ``--requests`` sequential POSTs of the photo to /api/colorize (p50 / p95 latency, after one warm-up
request), then the same number of requests from ``--concurrency`` client threads at once (requests/s).
Every answer is checked: status 200 and a PNG of the photo's size.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from PIL import Image


def _post(url: str, body: bytes, name: str, size: tuple[int, int]) -> float:
    started = time.perf_counter()
    reply = requests.post(f"{url}/api/colorize", files={"file": (name, body)}, timeout=600)
    elapsed = time.perf_counter() - started
    if reply.status_code != 200:
        raise RuntimeError(f"HTTP {reply.status_code}: {reply.text[:200]}")
    if Image.open(io.BytesIO(reply.content)).size != size:
        raise RuntimeError("the answer is not the photo's size")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--image", required=True, type=Path)
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--concurrency", type=int, default=4)
    args = p.parse_args(argv)
    body = args.image.read_bytes()
    with Image.open(args.image) as img:
        size = img.size
    print(f"{args.image.name}: {size[0]}x{size[1]}, {len(body) / 1024:.0f} KiB; server {args.url}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    _post(args.url, body, args.image.name, size)  # warm-up: first-call tracing
    times = np.array([_post(args.url, body, args.image.name, size) for _ in range(args.requests)])
    print(f"sequential, {args.requests} requests: p50 {np.percentile(times, 50) * 1000:.0f} ms, "
          f"p95 {np.percentile(times, 95) * 1000:.0f} ms, mean {times.mean() * 1000:.0f} ms", flush=True)
    started = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(lambda _: _post(args.url, body, args.image.name, size), range(args.requests)))
    wall = time.perf_counter() - started
    print(f"{args.concurrency} concurrent clients, {args.requests} requests: {args.requests / wall:.2f} requests/s "
          f"({wall:.1f} s); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
