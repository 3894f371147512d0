"""Probe: SIGKILL at random moments during checkpoint writes, then ``--resume``; prints the figures.

``python tests/training/sigkill_probe.py --tries 20`` trains a tiny run (smoke, 32x32, one batch per epoch) in a
throw-away store and, ``tries`` times, starts ``colorgan train`` (then ``--resume``), waits until that process
begins writing a checkpoint (files appearing in its temporary ``files/ckpt.*`` or in the run's ``checkpoint/``
folder), kills it with SIGKILL after a random delay within the write, and reads what the kill left: each slot whole
or damaged. A last ``--resume`` finishes the run; every epoch must then be logged exactly once (``epoch_seconds``
and the curve points), and each resume must have continued from the last epoch logged before its kill (or the one
after it, whose checkpoint was whole but whose metrics the kill lost: they are logged from the checkpoint).
tests/training/test_sigkill.py runs it with a few tries.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's colorgan, whichever the environment installed
SMOKE = ROOT / "experiments" / "smoke.toml"
TINY = ["eval_fraction=0.2", "test_fraction=0.1", "max_train_images=8", "max_eval_images=8", "curve_points=1"]


def _checkpoint_files(home: Path, tmp: Path) -> set:
    found = set()
    for base, pattern in ((home / "mlruns" / "artifacts", "/checkpoint/"), (tmp, "/files/ckpt")):
        for dirpath, _, names in os.walk(base):
            for name in names:
                path = os.path.join(dirpath, name)
                if pattern in path:
                    try:
                        st = os.stat(path)
                    except OSError:
                        continue
                    found.add((path, st.st_size, st.st_mtime_ns))
    return found


def _kill_during_write(proc: subprocess.Popen, home: Path, tmp: Path, rng: random.Random, window_s: float,
                       timeout_s: float = 600) -> float | None:
    """SIGKILL ``proc`` a random moment after it starts writing a checkpoint; the delay, or None if it ended first."""
    before = _checkpoint_files(home, tmp)
    deadline = time.time() + timeout_s
    while proc.poll() is None and time.time() < deadline:
        now = _checkpoint_files(home, tmp)
        if now - before:
            delay = rng.uniform(0.0, window_s)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return delay
        time.sleep(0.005)
    return None


def _saves_cut(tmp: Path) -> set[Path]:
    """The temporary folders of saves that a kill cut short (a finished save removes its own)."""
    return {p for p in tmp.iterdir() if (p / "files").is_dir()}


def _slots(home: Path, run_id: str, dest: Path) -> str:
    """What the kill left in the run's checkpoint folder, e.g. "a=partial b=4": each slot's epoch when whole (its
    files match its state.json), "damaged" when not, "partial" for files without a state.json (a save cut short)."""
    from colorgan import tracking
    from colorgan.tracking import checkpoints

    client = tracking.store.connect(home)
    folder = next((home / "mlruns" / "artifacts").rglob(f"{run_id}/artifacts/checkpoint"), None)
    out = []
    for slot in checkpoints.SLOTS:
        if folder is None or not (folder / slot).is_dir() or not any((folder / slot).iterdir()):
            continue
        if not (folder / slot / checkpoints.STATE_FILE).is_file():
            out.append(f"{slot}=partial")
            continue
        cand = checkpoints._read_state(client, run_id, f"checkpoint/{slot}", dest / f"s{slot}")
        if cand.problem is None:
            checkpoints._fetch(client, run_id, cand, dest / f"f{slot}")
        out.append(f"{slot}={'damaged' if cand.problem else cand.epoch}")
    return " ".join(out) or "none"


def probe(tries: int, base: Path, window_s: float = 0.3, seed: int = 0, log=print) -> dict:
    from conftest import write_colour_images

    from colorgan import tracking
    from colorgan.training import epoch

    photos, home, tmp = base / "photos", base / "home", base / "tmp"
    write_colour_images(photos, 40)
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(COLORGAN_HOME=str(home), COLORGAN_DATA=str(photos), PYTHONPATH=str(ROOT), TMPDIR=str(tmp),
               MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    attempts = 3 * tries  # kills that land after a save ended do not count as tries: at most this many processes
    epochs = attempts + 3
    rng = random.Random(seed)
    run_id, rows, fell_back, bad_resumes, i = None, [], 0, [], 0
    while True:
        last_one = sum(inside for *_, inside in rows) >= tries or i >= attempts
        cut_before = _saves_cut(tmp)
        cmd = [sys.executable, "-m", "colorgan", "train"] + (
            ["--resume", run_id] if run_id else [str(SMOKE), "--set", *TINY, f"epochs={epochs}"])
        logged = sorted(m.step for m in tracking.store.connect(home).get_metric_history(run_id, epoch.EPOCH_KEY)) \
            if run_id else []
        with open(base / f"out{i}", "w") as out, open(base / f"err{i}", "w") as err:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
            delay = (proc.wait(), None)[1] if last_one else _kill_during_write(proc, home, tmp, rng, window_s)
        text, errs = (base / f"out{i}").read_text(), (base / f"err{i}").read_text()
        if run_id is None:
            runs = tracking.store.connect(home).search_runs([tracking.experiment_id("colorgan-smoke", home)])
            run_id = runs[0].info.run_id
        resumed = re.search(r"resuming run \w+ after epoch (\d+)", text)
        last = max(logged) if logged else 0
        # from the last logged epoch, or the one after it when the kill fell between its checkpoint and its metrics
        if i and int(resumed.group(1) if resumed else 0) not in (last, last + 1):
            bad_resumes.append((i, resumed.group(1) if resumed else None, last))
        fell_back += "resuming from the previous whole checkpoint" in errs
        if last_one:
            assert proc.returncode == 0, errs[-2000:]
            break
        inside = bool(_saves_cut(tmp) - cut_before)
        left = _slots(home, run_id, Path(tempfile.mkdtemp(dir=base)))
        rows.append((i, delay, left, inside))
        log(f"process {i + 1:2d}: killed {delay:.3f} s after its first checkpoint file, "
            f"{'inside' if inside else 'after'} the save; slots left: {left}"
            + (f"; it had resumed after epoch {resumed.group(1)}" if resumed else ""))
        i += 1
    client = tracking.store.connect(home)
    steps = [m.step for m in client.get_metric_history(run_id, epoch.EPOCH_KEY)]
    curve = [m.step for m in client.get_metric_history(run_id, "curve/epoch")]
    figures = {
        "processes killed": len(rows),
        "kills inside a save (the tries)": sum(inside for *_, inside in rows),
        "kills that left a slot partial or damaged": sum("partial" in left or "damaged" in left
                                                         for _, _, left, _ in rows),
        "resumes that fell back to the previous slot": fell_back,
        "resumes not from the last logged epoch": len(bad_resumes),
        "epochs logged": len(steps),
        "epochs planned": epochs,
        "epoch steps repeated": sum(n - 1 for n in Counter(steps).values()),
        "epoch steps missing": len(set(range(1, epochs + 1)) - set(steps)),
        "curve steps repeated": sum(n - 1 for n in Counter(curve).values()),
        "final status": client.get_run(run_id).info.status,
        "temporary checkpoint folders the kills left in TMPDIR": len(_saves_cut(tmp)),  # at the end
    }
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--window", type=float, default=0.3, help="the kill lands uniformly in [0, window] s after "
                        "the first checkpoint file of a process appears")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.time()
        figures = probe(args.tries, Path(tmp), args.window, args.seed)
    for key, value in figures.items():
        print(f"{key}: {value}")
    print(f"wall: {time.time() - started:.0f} s")
    ok = (figures["epoch steps repeated"] == figures["epoch steps missing"] == 0
          and figures["resumes not from the last logged epoch"] == 0 and figures["final status"] == "FINISHED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
