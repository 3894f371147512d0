"""`colorgan reproduce FILE`: train every run a claims file (reports/claims.toml) declares, each once.

A run already FINISHED with the same resolved config on the same data (training.once, tag REPRODUCE_KEY_TAG) is
found again and not retrained, so an interrupted `make reproduce` goes on where it stopped; on other data
(COLORGAN_DATA, the built-in samples) it is trained again. The shared ``[pretrain]`` generator is
trained first; runs marked ``warm`` begin from it (``init_from``). The measuring is the report's job
(reports/claims.py); this module only trains.
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from colorgan.base import config, paths
from colorgan.tracking.tags import REPRODUCE_KEY_TAG, ROLE_TAG
from colorgan.training import once

# report: the report that checks the file; title: the heading of its claims section there
FILE_KEYS = {"experiment", "seeds", "set", "pretrain", "runs", "claims", "report", "title"}
RUN_KEYS = {"experiment", "warm", "seeds", "set"}


@dataclass(frozen=True)
class Planned:
    name: str  # the run name in MLflow: NAME-sSEED, or NAME-pretrain
    cfg: config.Config
    warm: bool


def _read(path: Path) -> dict:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise config.ConfigError(f"{path}: cannot be read as TOML: {exc}") from None
    unknown = sorted(set(raw) - FILE_KEYS)
    if unknown:
        raise config.ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; "
                                 f"allowed: {', '.join(sorted(FILE_KEYS))}")
    for name, run in raw.get("runs", {}).items():
        bad = sorted(set(run) - RUN_KEYS)
        if bad:
            raise config.ConfigError(f"{path}: runs.{name}: unknown key(s) {', '.join(bad)}; "
                                     f"allowed: {', '.join(sorted(RUN_KEYS))}")
    return raw


def _config(experiment: str, values: dict, where: str) -> config.Config:
    try:
        return config.build({**config.read_toml(paths.experiments_dir() / f"{experiment}.toml"), **values})
    except config.ConfigError as exc:
        raise config.ConfigError(f"{where}: {exc}") from None


def plan(path: Path, pretrain_run: str = "") -> tuple[config.Config | None, list[Planned]]:
    """(the pretrain config or None, every run with its resolved config). ``pretrain_run`` fills the warm runs'
    ``init_from``; without it they carry a placeholder (a dry plan, for checking the file)."""
    raw = _read(path)
    shared = {**raw.get("set", {}), "experiment": raw.get("experiment", "reproduce")}
    pretrain = None
    if "pretrain" in raw:
        table = raw["pretrain"]
        pretrain = _config(table["experiment"], {**shared, **table.get("set", {}), "seed": 0,
                                                 "run_name": "pretrain"}, f"{path}: [pretrain]")
    runs = []
    for name, run in raw.get("runs", {}).items():
        warm = bool(run.get("warm", False))
        if warm and pretrain is None:
            raise config.ConfigError(f"{path}: runs.{name} is warm but the file has no [pretrain]")
        for seed in run.get("seeds", raw.get("seeds", [0])):
            values = {**shared, **run.get("set", {}), "seed": seed, "run_name": f"{name}-s{seed}"}
            if warm:
                values["init_from"] = pretrain_run or "pretrain"
            runs.append(Planned(f"{name}-s{seed}", _config(run["experiment"], values, f"{path}: runs.{name}"), warm))
    # Seed by seed (every configuration's seed 1, then seed 2, ...): a machine that slows down part-way
    # slows every configuration alike instead of the last ones, which matters for the speed claims.
    runs.sort(key=lambda item: item.cfg.seed)
    return pretrain, runs


def _train_once(cfg: config.Config, role: str, root: Path, label: str) -> tuple[str, bool]:
    """(run id, trained now?): the FINISHED run of this exact config on its data, else a new one."""
    started = []

    def announce() -> None:
        print(f"{label}: training ({cfg.pretrain_epochs + cfg.epochs} epochs)", flush=True)
        started.append(time.monotonic())

    done = once.train_once(cfg, root, {ROLE_TAG: role}, REPRODUCE_KEY_TAG, announce=announce, epoch_lines=False)
    if done.result is None:
        return done.run_id, False
    gain = done.result.final.get("eval/psnr_gain")
    said = f", eval PSNR gain over the gray image {gain:+.2f} dB" if gain is not None else ""
    print(f"{label}: trained in {time.monotonic() - started[0]:.0f} s{said}", flush=True)
    return done.run_id, True


def report_name(path: Path) -> str:
    """The report that checks this file's claims (its ``report`` key; reports/claims.toml's is seed_graphs)."""
    return str(_read(path).get("report", "seed_graphs"))


def train_claims(path: Path, root: Path | None = None, only: tuple[str, ...] = ()) -> dict[str, str]:
    """Train what is missing; returns {run name: run id}. ``only``: these configuration names (tests, quick looks)."""
    root = root or paths.repo_root()
    pretrain, planned = plan(path)  # a bad file fails here, before anything trains
    done: dict[str, str] = {}
    pretrain_run = ""
    if pretrain is not None:
        pretrain_run, _ = _train_once(pretrain, "pretrain", root, "pretrain (the shared warm start)")
        done["pretrain"] = pretrain_run
    _, planned = plan(path, pretrain_run)
    wanted = [p for p in planned if not only or p.name.rsplit("-s", 1)[0] in only]
    for i, item in enumerate(wanted, start=1):
        run_id, trained = _train_once(item.cfg, "claim", root, f"run {i}/{len(wanted)} {item.name}")
        if not trained:
            print(f"run {i}/{len(wanted)} {item.name}: already trained (run {run_id})", flush=True)
        done[item.name] = run_id
    return done
