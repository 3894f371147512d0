"""Study files (``studies/NAME.toml``): reading and checking them, before any trial starts.

Pure: no Optuna here (a test holds it so), so a study file is checked, and the CLI's errors are known, without
loading Optuna or TensorFlow. ``storage`` turns a checked ``StudySpec`` into an Optuna study;
``settings`` holds what each table may set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import colorgan.studies.settings as settings
from colorgan.base import config as config_mod
from colorgan.base import heartbeat as heartbeat_mod
from colorgan.base import paths
from colorgan.studies.settings import PRUNERS, SAMPLERS, StudyError, check_recommend, options

SPEC_KEYS = {"base", "fixed", "search", "objective", "budget", "sampler", "pruner", "trials", "repeats", "pretrain",
             "recommend"}
RENAMED = {"runner": "trials"}  # an old table's name -> its name now: one line saying so, not "unknown section"
DEFAULT_OBJECTIVE = "eval/psnr_gain"  # dB over the gray image on the same eval images: readable on its own
# The shared warm starts of every study live in one experiment, found again by their resolved config: a second
# study (or a later call) with the same [pretrain] table trains none of its own.
PRETRAIN_EXPERIMENT = "study-warm-starts"


def resolve_path(name_or_path: str) -> Path:
    """``lr_sweep`` -> studies/lr_sweep.toml; a path is taken as it is."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return path
    return paths.studies_dir() / f"{name_or_path}.toml"


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # float | int | categorical
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()


@dataclass(frozen=True)
class StudySpec:
    name: str
    path: Path | None
    base: str
    fixed: dict = field(default_factory=dict)
    params: tuple[Param, ...] = ()
    metrics: tuple[str, ...] = (DEFAULT_OBJECTIVE,)
    directions: tuple[str, ...] = ("maximize",)
    trials: int = 8
    repeats: int = 1  # seeds per configuration: Optuna sees their mean, the CI is recorded
    include_base: bool = True  # trial 0 is the base experiment's own values: what "against the default" reads
    pretrain: dict = field(default_factory=dict)  # [pretrain]: trained once, every trial starts from it
    timeout_minutes: float = 0.0  # 0 = no time budget
    sampler: dict = field(default_factory=lambda: {"name": "tpe", "seed": 0})
    pruner: dict = field(default_factory=lambda: {"name": "median"})
    trial_settings: dict = field(default_factory=dict)  # [trials]: heartbeat_interval, grace_period, max_retry
    recommend: dict = field(default_factory=dict)  # two objectives: best, require, margin (studies.pareto.Rule)

    def base_config(self, overrides: dict | None = None) -> config_mod.Config:
        base = config_mod.load(paths.experiments_dir() / f"{self.base}.toml")
        return config_mod.build({**self.fixed, **(overrides or {}), "experiment": f"study-{self.name}"}, base)

    def pretrain_config(self) -> config_mod.Config | None:
        """The shared warm start's config ([pretrain]: ``experiment`` and overrides), None without one."""
        if not self.pretrain:
            return None
        table = dict(self.pretrain)
        experiment = table.pop("experiment", self.base)
        path = paths.experiments_dir() / f"{experiment}.toml"
        if not path.is_file():
            raise StudyError(f"pretrain.experiment {experiment!r} not found in experiments/")
        base = config_mod.load(path)
        return config_mod.build({**table, "experiment": PRETRAIN_EXPERIMENT, "run_name": "pretrain"}, base)

    def base_values(self) -> dict:
        """The searched parameters' values in the base experiment (with [fixed]) when all lie in the search space,
        else {}: run as the first trial, the default every other configuration is compared with."""
        cfg = self.base_config()
        values = {p.name: getattr(cfg, p.name) for p in self.params}
        inside = all(v in p.choices if p.kind == "categorical" else p.low <= v <= p.high
                     for p, v in zip(self.params, values.values(), strict=True))
        return values if inside else {}

    @property
    def heartbeat(self) -> heartbeat_mod.Settings:
        """The interval and grace of Optuna's trial heartbeats and of the study's MLflow runs (base.heartbeat)."""
        default = heartbeat_mod.Settings()
        return heartbeat_mod.Settings(float(self.trial_settings.get("heartbeat_interval", default.interval_s)),
                                      float(self.trial_settings.get("grace_period", default.grace_s)))

    @property
    def multi_objective(self) -> bool:
        return len(self.metrics) > 1

    @property
    def directions_by_metric(self) -> dict[str, str]:
        return dict(zip(self.metrics, self.directions, strict=True))


def _param(name: str, table: dict) -> Param:
    if not isinstance(table, dict):
        raise StudyError(f"search.{name}: must be a table ([search.{name}] with type, low, high...), got {table!r}")
    kind = config_mod.field_type(name) if name in config_mod.KEYS else None
    if kind is None:
        raise StudyError(f"search.{name}: unknown config key; known keys: {', '.join(config_mod.KEYS)}")
    ptype = table.get("type")
    if ptype not in ("float", "int", "categorical"):
        raise StudyError(f"search.{name}: type must be float, int or categorical, got {ptype!r}")
    unknown = set(table) - {"type", "low", "high", "log", "step", "choices"}
    if unknown:
        raise StudyError(f"search.{name}: unknown setting(s) {', '.join(sorted(unknown))}")
    if ptype == "categorical":
        choices = table.get("choices")
        if not isinstance(choices, list) or not choices:
            raise StudyError(f"search.{name}: categorical needs a non-empty list of choices")
        for choice in choices:
            try:
                config_mod.build({name: choice})
            except config_mod.ConfigError as exc:
                raise StudyError(f"search.{name}: bad choice {choice!r}: {exc}") from None
        return Param(name, ptype, choices=tuple(choices))
    if kind not in ("int", "float") or (ptype == "float" and kind == "int"):
        raise StudyError(f"search.{name}: {ptype} range for a {kind} key; use type = \"{kind}\" or categorical")
    low, high = table.get("low"), table.get("high")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
        raise StudyError(f"search.{name}: low and high must be numbers")
    if not low < high:
        raise StudyError(f"search.{name}: low ({low}) must be below high ({high})")
    log = bool(table.get("log", False))
    if log and low <= 0:
        raise StudyError(f"search.{name}: a log range needs low > 0, got {low}")
    if log and table.get("step"):
        raise StudyError(f"search.{name}: log and step cannot be combined")
    for bound in (low, high):
        try:
            config_mod.build({name: int(bound) if kind == "int" else float(bound)})
        except config_mod.ConfigError as exc:
            raise StudyError(f"search.{name}: bound {bound} is not a valid value: {exc}") from None
    return Param(name, ptype, float(low), float(high), log, table.get("step"))


def load_spec(path: str | Path) -> StudySpec:
    """Read and check a study file; every problem is a StudyError naming it, before any trial starts."""
    path = Path(path)
    raw = config_mod.read_toml(path, "study file", StudyError)
    try:
        return _spec(path, raw)
    except (StudyError, config_mod.ConfigError) as exc:
        raise StudyError(f"{path}: {exc}") from None


def _spec(path: Path, raw: dict) -> StudySpec:
    for old, new in RENAMED.items():
        if old in raw:
            raise StudyError(f"the [{old}] table is now called [{new}] (the same settings): rename it")
    unknown = set(raw) - SPEC_KEYS
    if unknown:
        raise StudyError(f"unknown section(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(SPEC_KEYS))}")
    for section in SPEC_KEYS - {"base", "repeats"}:  # repeats: a number, checked below
        if not isinstance(raw.get(section, {}), dict):
            raise StudyError(f"{section}: must be a table ([{section}] with key = value lines), got "
                             f"{raw[section]!r}")
    base = raw.get("base", "lab_advanced")
    if not isinstance(base, str) or not (paths.experiments_dir() / f"{base}.toml").is_file():
        raise StudyError(f"base experiment {base!r} not found in experiments/")
    search = raw.get("search", {})
    if not search:
        raise StudyError("the [search] section declares no hyper-parameter")
    params = tuple(_param(name, table) for name, table in search.items())
    overlap = set(raw.get("fixed", {})) & set(search)
    if overlap:
        raise StudyError(f"{', '.join(sorted(overlap))}: both fixed and searched")
    objective = raw.get("objective", {})
    options("objective", objective, {"metrics": "list", "directions": "list"})
    metrics = tuple(objective.get("metrics", [DEFAULT_OBJECTIVE]))
    directions = tuple(objective.get("directions", ["maximize"] * len(metrics)))
    if not all(isinstance(m, str) and m for m in metrics):
        raise StudyError("objective.metrics: must be a list of metric names, e.g. [\"eval/psnr\"]")
    if len(metrics) != len(directions) or not metrics or any(d not in ("maximize", "minimize") for d in directions):
        raise StudyError("objective: give one direction (maximize/minimize) per metric")
    budget = raw.get("budget", {})
    options("budget", budget, settings.BUDGET)
    sampler = {"name": "tpe", "seed": 0, **raw.get("sampler", {})}
    pruner = {"name": "median", **raw.get("pruner", {})}
    if sampler["name"] not in SAMPLERS:
        raise StudyError(f"sampler: {sampler['name']!r} is not one of {', '.join(SAMPLERS)}")
    if pruner["name"] not in PRUNERS:
        raise StudyError(f"pruner: {pruner['name']!r} is not one of {', '.join(PRUNERS)}")
    options(f"sampler ({sampler['name']})", sampler, {"name": "str", **settings.SAMPLER_OPTIONS[sampler["name"]]})
    options(f"pruner ({pruner['name']})", pruner, {"name": "str", **settings.PRUNER_OPTIONS[pruner["name"]]})
    if sampler["name"] == "grid" and any(p.kind != "categorical" for p in params):
        raise StudyError("sampler: grid needs categorical search parameters")
    trial_settings = raw.get("trials", {})
    options("trials", trial_settings, settings.TRIALS)
    recommend = raw.get("recommend", {})
    check_recommend(recommend, metrics)
    spec = StudySpec(name=path.stem, path=path, base=base, fixed=raw.get("fixed", {}), params=params,
                     metrics=metrics, directions=directions, trials=budget.get("trials", 8),
                     timeout_minutes=float(budget.get("timeout_minutes", 0)), sampler=sampler, pruner=pruner,
                     trial_settings=trial_settings, repeats=raw.get("repeats", 1),
                     include_base=budget.get("include_base", True), pretrain=raw.get("pretrain", {}),
                     recommend=recommend)
    if spec.heartbeat.grace_s <= spec.heartbeat.interval_s:
        raise StudyError(f"trials.grace_period ({spec.heartbeat.grace_s:g} s) must be longer than "
                         f"trials.heartbeat_interval ({spec.heartbeat.interval_s:g} s)")
    if not isinstance(spec.repeats, int) or isinstance(spec.repeats, bool) or spec.repeats < 1:
        raise StudyError(f"repeats: must be a whole number of seeds, at least 1, got {spec.repeats!r}")
    trial_cfg = spec.base_config()  # fixed overrides: unknown keys and bad values fail here
    _check_pretrain(spec, trial_cfg)
    return spec


def _check_pretrain(spec: StudySpec, trial_cfg: config_mod.Config) -> None:
    if not isinstance(spec.pretrain, dict):
        raise StudyError("pretrain: must be a table ([pretrain] with experiment = NAME and config overrides)")
    pre = spec.pretrain_config()
    if pre is None:
        return
    if trial_cfg.init_from:
        raise StudyError(f"[pretrain] and fixed.init_from = {trial_cfg.init_from!r}: give one warm start, not both")
    design = config_mod.CRITIC_DESIGN if pre.critic_pretrain_steps and pre.adversarial else ()
    for key in ("image_size", "color_space", "generator", *design):  # a pre-trained critic: the trials' design
        if getattr(pre, key) != getattr(trial_cfg, key):
            raise StudyError(f"pretrain: {key} = {getattr(pre, key)!r} but the trials use "
                             f"{getattr(trial_cfg, key)!r}; a warm start needs the same {key}")
