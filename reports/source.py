"""What a report shows, read from MLflow (runs, metric histories, evaluations) and Optuna (trials, search space).

Nothing here trains or predicts: a missing run or evaluation is a ``Missing`` error that lists the commands
(`make train`, `make study`, `colorgan evaluate`) which produce it.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from mlflow.tracking import MlflowClient
from PIL import Image

from reports.locations import cache_dir, optuna_url, tracking_uri, ui_url
from reports.spec import ReportSpec

BASELINE_EXPERIMENT = "baselines"  # where `colorgan evaluate` logs the non-learned baselines
EVALUATION_DIR = "evaluation"
EVALUATED_TAG = "colorgan.evaluated."  # + a data key, on each run an evaluation was logged to
TEST_SPLIT = "test"  # the data key of the default test split (evaluation/test/)


class Missing(LookupError):
    """Runs or evaluations the report needs are not in the store; ``commands`` produce them."""

    def __init__(self, what: str, commands: list[str]):
        self.commands = commands
        super().__init__(f"{what}. Run:\n" + "\n".join(f"  {c}" for c in commands))


@dataclass(frozen=True)
class Entry:
    """One column of the tables: a trained run or a baseline's evaluation run."""

    label: str
    run_id: str
    kind: str  # "model" | "baseline"
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluated:
    entry: Entry
    summary: pd.DataFrame
    per_image: pd.DataFrame
    info: dict
    samples: np.ndarray  # the evaluation's gray | prediction | original grid


def gray_figures(metrics: dict, params: dict) -> dict[str, float]:
    """The gray image's figures on a training run's eval split, by metric name ({"psnr": 21.1, ...}): the one
    place the report reads them. Accepts metrics ``baseline/gray_<name>`` (step 0, how colorgan.training.train logs them
    today) and params or metrics ``gray_<name>`` or ``<prefix>/gray_<name>`` or ``gray/<name>``; metrics win."""
    found: dict[str, float] = {}
    for logged in (params, metrics):  # later wins: a metric over a param of the same name
        for key, value in logged.items():
            head, _, tail = key.rpartition("/")
            if tail.startswith("gray_"):
                name = tail.removeprefix("gray_")
            elif head.rpartition("/")[2] == "gray":
                name = tail
            else:
                continue
            try:
                found[name] = float(value)
            except (TypeError, ValueError):
                continue
    return found


def evaluation_key(tags: dict[str, str], folder: str | None) -> str | None:
    """The data key `colorgan evaluate` filed a run's evaluation of ``folder`` (None: the default test split)
    under, read from the run's tags (``colorgan.evaluated.<key>`` = "<data dir> @ <size>px"), so the report keeps
    no copy of how colorgan makes the key; None when the run holds no such evaluation."""
    if folder is None:
        return TEST_SPLIT if EVALUATED_TAG + TEST_SPLIT in tags else None
    where = str(Path(folder).resolve())
    return next((key.removeprefix(EVALUATED_TAG) for key, value in tags.items()
                 if key.startswith(EVALUATED_TAG) and key != EVALUATED_TAG + TEST_SPLIT
                 and value.rsplit(" @ ", 1)[0] == where), None)


def evaluate_command(*args: str) -> str:
    return shlex.join([sys.executable, "-m", "colorgan", "evaluate", *args])


def tag_filter(tags: dict, status: str | None = None) -> str:
    """An MLflow filter for runs with these tag values. MLflow reads a quoted value verbatim (it has no escape),
    so a value holding a quote or a backslash becomes a LIKE pattern with "_" in their place, which find_runs
    then checks exactly. ``colorgan.tracking.find_runs`` does the same on the writing side."""
    clauses = []
    for key, value in tags.items():
        pattern = str(value).translate({ord(c): "_" for c in "'\"\\"})
        clauses.append(f"tags.`{key}` {'=' if pattern == str(value) else 'LIKE'} '{pattern}'")
    return " and ".join(clauses + [f"attributes.status = '{status}'"] * bool(status))


def find_runs(client: MlflowClient, experiment_ids: list[str], tags: dict, status: str | None = None,
              order_by: tuple[str, ...] = (), max_results: int = 1) -> list:
    """The runs (at most ``max_results``, in ``order_by``) whose tags equal ``tags``: how the reports find runs."""
    want, found, token = {k: str(v) for k, v in tags.items()}, [], None
    while True:
        page = client.search_runs(experiment_ids, tag_filter(tags, status), order_by=list(order_by),
                                  max_results=max_results, page_token=token)
        found += [r for r in page if want.items() <= r.data.tags.items()]
        token = page.token
        if len(found) >= max_results or not token:
            return found[:max_results]


class Source:
    def __init__(self, root: Path, storage: str | None = None):
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per small file is noise
        self.root = Path(root)
        self.client = MlflowClient(tracking_uri(self.root))
        self.storage = storage or optuna_url(self.root)

    # --- runs ----------------------------------------------------------------------------------------------

    def runs(self, spec: ReportSpec) -> list[Entry]:
        """The newest FINISHED run of each declared name, in the declared order."""
        exp = self.client.get_experiment_by_name(spec.experiment)
        found, missing = [], []
        for name in spec.runs:
            runs = [] if exp is None else find_runs(self.client, [exp.experiment_id], {"mlflow.runName": name},
                                                    "FINISHED", order_by=("attributes.start_time DESC",))
            if runs:
                found.append(Entry(name, runs[0].info.run_id, "model", dict(runs[0].data.params)))
            else:
                missing.append(name)
        if missing:
            raise Missing(f"no finished run of {', '.join(missing)} in MLflow experiment {spec.experiment!r}",
                          [f"make train EXP={name}" for name in missing]
                          + ["(or `make reproduce` for the whole seed_graphs set)"] * (spec.name == "seed_graphs"))
        return found

    def study(self, name: str) -> optuna.Study:
        if self.storage.startswith("sqlite:///") and not Path(self.storage.removeprefix("sqlite:///")).is_file():
            raise Missing(f"no Optuna storage at {self.storage}", [f"make study NAME={name}"])
        try:
            study = optuna.load_study(study_name=name, storage=self.storage)
        except KeyError:
            raise Missing(f"no study {name!r} in {self.storage}", [f"make study NAME={name}"]) from None
        if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            raise Missing(f"study {name!r} has no completed trial yet", [f"make study NAME={name}"])
        return study

    def objective_names(self, study: optuna.Study) -> list[str]:
        """The objective metric names, from the study file logged on the study's parent run."""
        parent = study.user_attrs.get("mlflow_parent_run_id")
        text = self.artifact_text(parent, f"study/{study.study_name}.toml") if parent else None
        names = tomllib.loads(text).get("objective", {}).get("metrics", []) if text else []
        if len(names) != len(study.directions):
            names = [f"objective {i}" for i in range(len(study.directions))]
        return list(names)

    def trials(self, study: optuna.Study) -> list[Entry]:
        """Every completed or pruned trial that has an MLflow run, by trial number."""
        done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        out = []
        for t in sorted(study.get_trials(deepcopy=False, states=done), key=lambda t: t.number):
            run_id = t.user_attrs.get("run_id")
            if run_id:
                out.append(Entry(f"trial {t.number}", run_id, "model", {k: str(v) for k, v in t.params.items()}))
        return out

    def best_trials(self, study: optuna.Study) -> list[Entry]:
        best = sorted(study.best_trials, key=lambda t: t.number) if len(study.directions) > 1 else [study.best_trial]
        return [Entry(f"best trial {t.number}", t.user_attrs["run_id"], "model",
                      {k: str(v) for k, v in t.params.items()}) for t in best]

    # --- metric histories ----------------------------------------------------------------------------------

    def histories(self, entries: list[Entry], keys: tuple[str, ...]) -> pd.DataFrame:
        """Long table (run, metric, step, value) of every logged point, sorted: what the curves plot."""
        rows = [(e.label, key, m.step, m.value) for e in entries for key in keys
                for m in self.client.get_metric_history(e.run_id, key)]
        frame = pd.DataFrame(rows, columns=["run", "metric", "step", "value"])
        order = {e.label: i for i, e in enumerate(entries)}
        frame["order"] = frame["run"].map(order)
        return frame.sort_values(["order", "metric", "step"]).drop(columns="order").reset_index(drop=True)

    def metric_keys(self, entries: list[Entry]) -> set[str]:
        """Every metric key any of these runs logged: which curve keys there are to read."""
        return {key for e in entries for key in self.client.get_run(e.run_id).data.metrics}

    def gray(self, entries: list[Entry], name: str = "psnr") -> dict[str, float]:
        """Run label -> the gray image's ``name`` on that run's eval split (runs that logged none are left out)."""
        out = {}
        for e in entries:
            data = self.client.get_run(e.run_id).data
            value = gray_figures(data.metrics, data.params).get(name)
            if value is not None:
                out[e.label] = value
        return out

    # --- evaluations ---------------------------------------------------------------------------------------

    def baseline(self, name: str, data_dir: str, size: int) -> Entry | None:
        exp = self.client.get_experiment_by_name(BASELINE_EXPERIMENT)
        if exp is None:
            return None
        tags = {"colorgan.baseline": name, "colorgan.data_dir": data_dir, "colorgan.image_size": size}
        found = find_runs(self.client, [exp.experiment_id], tags, order_by=("attributes.start_time ASC",))
        return Entry(name, found[0].info.run_id, "baseline") if found else None

    def comparisons(self, study: optuna.Study) -> pd.DataFrame | None:
        """The study's paired comparisons (the runner logs comparisons.csv on its parent run), None if none."""
        parent = study.user_attrs.get("mlflow_parent_run_id")
        text = self.artifact_text(parent, "comparisons.csv") if parent else None
        return pd.read_csv(io.StringIO(text)) if text else None

    def pareto(self, study: optuna.Study) -> tuple[pd.DataFrame | None, dict[str, str]]:
        """A two-objective study's Pareto table (pareto.csv on its parent run) and the parent's tags (the rule and
        its pick); (None, tags) before the runner logged one."""
        parent = study.user_attrs.get("mlflow_parent_run_id")
        if not parent:
            return None, {}
        text = self.artifact_text(parent, "pareto.csv")
        return (pd.read_csv(io.StringIO(text)) if text else None), dict(self.client.get_run(parent).data.tags)

    def artifact_text(self, run_id: str, path: str) -> str | None:
        try:
            local = self.client.download_artifacts(run_id, path, str(self._scratch(run_id)))
        except Exception:  # MLflow raises several types for a missing artifact
            return None
        return Path(local).read_text()

    def _scratch(self, run_id: str) -> Path:
        folder = cache_dir(self.root) / "reports" / run_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def evaluation(self, entry: Entry, data: str | None) -> Evaluated | None:
        """The entry's evaluation of the folder ``data`` (None: the default test split), None when not logged."""
        key = evaluation_key(self.client.get_run(entry.run_id).data.tags, data)
        if key is None:
            return None
        folder = f"{EVALUATION_DIR}/{key}"
        summary = self.artifact_text(entry.run_id, f"{folder}/summary.csv")
        if summary is None:
            return None
        per_image = self.artifact_text(entry.run_id, f"{folder}/per_image.csv") or ""
        info = json.loads(self.artifact_text(entry.run_id, f"{folder}/info.json") or "{}")
        local = self.client.download_artifacts(entry.run_id, f"{folder}/samples.png", str(self._scratch(entry.run_id)))
        samples = np.asarray(Image.open(local).convert("RGB"))
        return Evaluated(entry, pd.read_csv(io.StringIO(summary), keep_default_na=False),
                         pd.read_csv(io.StringIO(per_image), keep_default_na=False), info, samples)

    def config_text(self, run_id: str) -> str:
        """The resolved config a model trained with; for a baseline, what its evaluation recorded."""
        text = self.artifact_text(run_id, "config/resolved.toml")
        if text is None:
            text = "\n".join(f"{k} = {v}" for k, v in sorted(self.client.get_run(run_id).data.tags.items())
                             if k.startswith("colorgan."))
        return text

    def run_link(self, run_id: str) -> str:
        """The run's page in the MLflow UI at locations.ui_url (one setting: $COLORGAN_UI_URL)."""
        run = self.client.get_run(run_id)
        return f"{ui_url(self.client.tracking_uri)}/#/experiments/{run.info.experiment_id}/runs/{run_id}"
