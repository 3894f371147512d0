"""Many uploads in flight at once to a real `colorgan serve`: ``python -m colorgan.bench.serve_probe --uploads 100``.

Starts ``colorgan serve --model REF`` as a process of its own, waits for it, then releases ``--uploads`` POSTs of one
photo at the same instant (one client thread each) and counts the answers by status. What must hold (issue 24):
every answer is 200 or 503 (over ``Limits.max_connections``, or the pixel budget full for ``queue_s``), never a 500
or a dropped connection. Also reports the server's resident memory: idle, its peak (VmHWM) and after.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from PIL import Image

CHECKOUT = Path(__file__).resolve().parents[2]


def memory(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak so far) of a process, in bytes (/proc; psutil is not a dependency); also
    tests/serving/test_serve.py's memory test."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024
    return fields


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def photo_bytes(width: int, height: int) -> bytes:
    """A smooth colour JPEG of width x height (the content does not matter; its decoding and size do)."""
    small = (np.random.default_rng(0).random((6, 8, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(small).resize((width, height), Image.BILINEAR).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def run(model: str, uploads: int, size: tuple[int, int] = (640, 480), env: dict | None = None,
        start_s: float = 300.0) -> dict:
    """Serve ``model``, send ``uploads`` at once; statuses (Counter of "200", "503 connections", "503 busy", other
    codes, or "error: ..." for no answer), seconds, memory."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "colorgan", "serve", "--model", model, "--port", str(port)],
                            cwd=CHECKOUT, env=env or os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + start_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"colorgan serve exited: {proc.stdout.read()[-2000:]}")
            try:
                if requests.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                if time.time() > deadline:
                    raise RuntimeError("colorgan serve did not start") from None
                time.sleep(0.5)
        body = photo_bytes(*size)
        warm = requests.post(f"{url}/api/colorize", files={"file": ("warm.jpg", body)}, timeout=120)
        if warm.status_code != 200:
            raise RuntimeError(f"the warm-up upload got {warm.status_code}: {warm.text[:200]}")
        idle = memory(proc.pid)["VmRSS"]
        gate = threading.Barrier(uploads)

        def send(i: int) -> str:
            gate.wait()  # every upload leaves at the same instant
            try:
                reply = requests.post(f"{url}/api/colorize", files={"file": (f"p{i}.jpg", body)}, timeout=600)
            except requests.RequestException as exc:
                return f"error: {type(exc).__name__}"
            if reply.status_code == 200 and Image.open(io.BytesIO(reply.content)).size != size:
                return "200 of the wrong size"
            if reply.status_code == 503:  # uvicorn's over max_connections, or the app's full pixel budget
                return "503 connections" if reply.text.startswith("Service Unavailable") else "503 busy"
            return str(reply.status_code)

        started = time.monotonic()
        with ThreadPoolExecutor(uploads) as pool:
            statuses = Counter(pool.map(send, range(uploads)))
        seconds = time.monotonic() - started
        mem = memory(proc.pid)
        time.sleep(1.0)
        return {"statuses": statuses, "seconds": seconds, "idle": idle, "peak": mem["VmHWM"],
                "after": memory(proc.pid)["VmRSS"], "alive": proc.poll() is None}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="shipped", help="the model reference to serve (default: %(default)s)")
    p.add_argument("--uploads", type=int, default=100)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    args = p.parse_args(argv)
    got = run(args.model, args.uploads, (args.width, args.height))
    gb = 2**30
    print(f"{args.uploads} uploads of a {args.width}x{args.height} JPEG at once to `colorgan serve --model "
          f"{args.model}`: {dict(sorted(got['statuses'].items()))} in {got['seconds']:.1f} s; resident memory idle "
          f"{got['idle'] / gb:.2f} GB, peak {got['peak'] / gb:.2f} GB, after {got['after'] / gb:.2f} GB; server "
          f"{'up' if got['alive'] else 'DOWN'}")
    return 0 if ok(got) else 1


def ok(got: dict) -> bool:
    """Every answer 200 or 503 and the server still up."""
    return all(status.split()[0] in ("200", "503") for status in got["statuses"]) and got["alive"]


if __name__ == "__main__":
    sys.exit(main())
