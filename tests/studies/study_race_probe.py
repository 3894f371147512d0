"""Probe: N ``colorgan study studies/smoke.toml`` processes started at once on one SQLite Optuna store.

``python tests/studies/study_race_probe.py --processes 2`` makes a throw-away ``COLORGAN_HOME`` with a tiny image
folder, starts the processes together (``make study NAME=smoke`` is this command), waits for them, and reads what
they left in Optuna and MLflow: each process's exit code and error lines, the trials by state, COMPLETE trials with
the same values (a configuration trained twice), MLflow parent runs of the study (one expected), trial numbers with
more than one run, and the wall time. tests/studies/test_study_race.py runs it and asserts the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's colorgan, whichever the environment installed
STUDY = ROOT / "studies" / "smoke.toml"


def probe(processes: int, base: Path, extra: tuple[str, ...] = (), log=print) -> dict:
    """Start ``processes`` study commands at once in a fresh store under ``base``; the figures."""
    from conftest import write_colour_images

    home, photos = base / "home", base / "photos"
    home.mkdir(parents=True)
    write_colour_images(photos, 60)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(COLORGAN_HOME=str(home), COLORGAN_DATA=str(photos), PYTHONPATH=str(ROOT),
               MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
    cmd = [sys.executable, "-m", "colorgan", "study", str(STUDY), *extra]
    started = time.time()
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(processes)]
    outputs = [p.communicate(timeout=1800) for p in procs]
    wall = time.time() - started
    for i, (p, (out, err)) in enumerate(zip(procs, outputs, strict=True)):
        log(f"process {i}: exit {p.returncode}; stdout {len(out.splitlines())} lines; stderr tail: "
            f"{err.strip().splitlines()[-1] if err.strip() else ''}")
    return {**_read(home), "wall seconds": round(wall, 1), "exit codes": [p.returncode for p in procs],
            "error lines": [line for _, err in outputs for line in err.splitlines() if "error" in line.lower()
                            or "Traceback" in line]}


def _read(home: Path) -> dict:
    """What the processes left: Optuna's trials and MLflow's runs of the study."""
    import optuna

    from colorgan import tracking
    from colorgan.base import paths

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    study = optuna.load_study(study_name="smoke", storage=paths.sqlite_url(paths.optuna_db(home)))
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    same = Counter(tuple(sorted(t.params.items())) for t in complete)
    client = tracking.store.connect(home)
    exp = client.get_experiment_by_name("study-smoke")
    parents = tracking.find_runs(client, [exp.experiment_id], {"colorgan.role": "parent"}, max_results=100)
    runs = tracking.find_runs(client, [exp.experiment_id], {"colorgan.role": "trial"}, max_results=1000)
    per_trial = Counter(r.data.tags.get("colorgan.trial") for r in runs)
    return {"trials": len(trials), "states": dict(Counter(t.state.name for t in trials)),
            "complete": len(complete), "configurations trained twice": sum(n - 1 for n in same.values()),
            "base trials": sum(bool(t.user_attrs.get("base")) for t in trials),
            "parent runs": len(parents), "trial numbers with more than one run": sum(n > 1 for n in per_trial.values()),
            "trial runs": len(runs), "budget": 3,
            "parent status": parents[0].info.status if parents else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--epochs", type=int, help="override the study's 2 epochs per trial")
    args = parser.parse_args()
    extra = ("--epochs", str(args.epochs)) if args.epochs else ()
    with tempfile.TemporaryDirectory(prefix="colorgan-race-") as tmp:
        figures = probe(args.processes, Path(tmp), extra)
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
