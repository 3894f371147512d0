"""The original report's claims, checked: each claim of ``reports/claims.toml`` measured on the runs `make
reproduce` trained, as an effect (a - b) with its 95% CI and a verdict: supported / contradicted / inconclusive
at this budget.

Two kinds of score. Paired (psnr, colorfulness_gap: what training.train logs per image, shown as colorgan declared
the mean over images of each, read from the evaluations' info.json): per eval image, each configuration's scores
averaged over its seeds, the mean per-image difference with a Student-t interval, so image-to-image variation
cancels. Per run (colorfulness, overfit_gap, d_loss_variation, d_loss_step_variation,
images_per_sec): one value per seed (per epoch for images/s), the difference of means with Welch's interval, so
the seed's noise is in the interval.

An inconclusive claim says what it would need: for each part within noise, the smallest effect this budget
detects (80% power, two-sided 5%) and the samples (images; seeds or epochs per configuration) whose 95% interval
would resolve the observed effect, from the measured variances.
"""

from __future__ import annotations

import io
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from reports import captions, claim_figures, critic
from reports.declared import Declared
from reports.source import Entry, Missing, Source, find_runs

PER_IMAGE = "eval/per_image.csv"  # colorgan.training.train logs the last epoch's per-image eval scores here
RUN_SCORES = {"colorfulness": ("colourfulness (eval split, last epoch)", "", 1),
              "overfit_gap": ("over-fitting gap (eval / train L1 - 1, last epoch)", "", 3),
              "d_loss_variation": ("D loss variation (SD of epoch-to-epoch change from epoch 3)", "", 4),
              "d_loss_step_variation": ("D loss variation (SD of its change from one quarter epoch to the next, "
                                        "from GAN epoch 3)", "", 4),
              "images_per_sec": ("training speed", "images/s", 1)}
CURVE_X, CURVE_D_LOSS = "curve/epoch", "curve/train/d_loss"  # colorgan.training.curves' keys (a point's x, its D loss)
HISTORY_KEYS = ("train/g_recon", "eval/g_recon", "train/d_loss", "images_per_sec", "eval/colorfulness", CURVE_X,
                CURVE_D_LOSS, *critic.KEYS)  # the critic's: the claim figures' critic panel
EXPECT = ("higher", "lower", "same")
# The first epochs of a fresh discriminator are a steep descent every run shares; counted, it would read as
# "variation". The SD of the changes (around their mean: the trend) is taken from this epoch index on (per curve
# point: from the points after the GAN phase's epoch D_LOSS_SKIP).
D_LOSS_SKIP = 2
RULES = ("all", "any")


@dataclass(frozen=True)
class Effect:
    claim: str
    score: str
    a: str
    b: str
    expect: str
    mean: float
    low: float
    high: float
    samples: str  # "654 images" or "3 + 3 runs"
    holds: str  # "holds" / "against" / "within noise"
    detectable: float = math.nan  # the smallest effect this budget detects (80% power, two-sided 5%)
    needed: int | None = None  # samples that would resolve the observed effect (None: no number would)
    per: str = "images"  # what `needed` counts: "images", or "seeds" / "epochs" per configuration
    margin: float = 0.0  # of an expect = "same" part

    def text(self, scores: dict[str, tuple[str, str, int]]) -> str:
        label, unit, digits = scores[self.score]
        unit = f" {unit}" if unit else ""
        return (f"{label} {self.mean:+.{digits}f}{unit} [{self.low:+.{digits}f}, {self.high:+.{digits}f}] "
                f"({self.a} - {self.b}, {self.samples})")

    def smallest(self, scores: dict[str, tuple[str, str, int]]) -> str:
        """The smallest effect this budget detects, as text: "±0.03 dB"."""
        _, unit, digits = scores[self.score]
        return f"±{self.detectable:.{digits}f}" + (f" {unit}" if unit else "")

    def resolve(self, scores: dict[str, tuple[str, str, int]]) -> str:
        """How many samples would settle this part: its interval clear of 0, or within the margin for "same"."""
        per = self.per if self.per == "images" else f"{self.per} per configuration"
        goal = f"fit its interval within ±{self.margin:g}" if self.expect == "same" else "resolve the observed effect"
        if self.needed is None:
            why = ("its spread is unmeasured (one sample)" if not math.isfinite(self.detectable)
                   else f"it lies outside ±{self.margin:g}" if self.expect == "same" else "it is 0")
            return f"no number of {per} would {goal} ({why})"
        _, _, digits = scores[self.score]
        return f"about {self.needed:,} {per} would {goal} ({self.mean:+.{digits}f})"


def load(path: Path) -> dict:
    raw = tomllib.loads(path.read_text())
    for claim in raw.get("claims", []):
        if claim.get("rule", "all") not in RULES:
            raise ValueError(f"{path}: claim {claim.get('id')}: rule must be one of {', '.join(RULES)}")
        for part in claim["parts"]:
            if part["expect"] not in EXPECT:
                raise ValueError(f"{path}: claim {claim.get('id')}: unknown expect {part['expect']!r}")
            if part["expect"] == "same" and not part.get("margin"):
                raise ValueError(f"{path}: claim {claim.get('id')}: expect = \"same\" needs a margin (how large a "
                                 f"difference still counts as the same)")
    return raw


def scores(declared: Declared) -> dict[str, tuple[str, str, int]]:
    """Score -> (label, unit, digits): each per-image score colorgan declared a mean over images of (paired), then
    the per-run scores (a run score of the same name, colorfulness, is the run's: its eval split, last epoch)."""
    return {score: declared.mean(score) for score in sorted(declared.paired())} | RUN_SCORES


def names(raw: dict) -> dict[str, list[str]]:
    """Configuration -> its run names (NAME-sSEED), as colorgan.training.reproduce names them."""
    return {name: [f"{name}-s{seed}" for seed in run.get("seeds", raw.get("seeds", [0]))]
            for name, run in raw.get("runs", {}).items()}


def find(source: Source, raw: dict) -> dict[str, list[Entry]]:
    """Configuration -> the newest FINISHED run of each of its seeds; Missing names `make reproduce`."""
    exp = source.client.get_experiment_by_name(raw.get("experiment", "reproduce"))
    found, missing = {}, []
    for config, runs in names(raw).items():
        found[config] = []
        for run_name in runs:
            hits = [] if exp is None else find_runs(source.client, [exp.experiment_id], {"mlflow.runName": run_name},
                                                    "FINISHED", order_by=("attributes.start_time DESC",))
            if hits:
                found[config].append(Entry(run_name, hits[0].info.run_id, "model"))
            else:
                missing.append(run_name)
    if missing:
        raise Missing(f"the claims need runs not trained yet: {', '.join(missing)}", ["make reproduce"])
    return found


def per_image(source: Source, entries: list[Entry]) -> pd.DataFrame:
    """One configuration's per-image eval scores, averaged over its seeds (rows: files)."""
    tables = []
    for e in entries:
        text = source.artifact_text(e.run_id, PER_IMAGE)
        if text is None:
            raise Missing(f"run {e.label} ({e.run_id}) logged no {PER_IMAGE}", ["make reproduce"])
        tables.append(pd.read_csv(io.StringIO(text), keep_default_na=False).set_index("file"))
    return pd.concat(tables).groupby(level=0).mean(numeric_only=True)


def run_values(hist: pd.DataFrame, entries: list[Entry], score: str) -> np.ndarray:
    """The samples of a per-run score for one configuration (one per seed; one per epoch for images/s)."""
    def series(label: str, key: str) -> np.ndarray:
        sub = hist[(hist["run"] == label) & (hist["metric"] == key)].sort_values("step")
        return sub["value"].to_numpy(np.float64)

    out = []
    for e in entries:
        if score == "overfit_gap":
            train, held = series(e.label, "train/g_recon"), series(e.label, "eval/g_recon")
            out.append(held[-1] / train[-1] - 1.0)
        elif score == "colorfulness":
            out.append(series(e.label, "eval/colorfulness")[-1])
        elif score == "d_loss_variation":
            out.append(float(np.std(np.diff(series(e.label, "train/d_loss")[D_LOSS_SKIP:]), ddof=1)))
        elif score == "d_loss_step_variation":
            out.append(step_variation(hist, e))
        else:
            out.extend(series(e.label, score))
    return np.asarray(out, np.float64)


def step_variation(hist: pd.DataFrame, entry: Entry) -> float:
    """The SD of the training D loss's change from one curve point to the next (each point the mean over a fraction
    of an epoch), over the points after the GAN phase's first D_LOSS_SKIP epochs (the GAN phase starts where the
    D loss does: after any in-run pre-training)."""
    run = hist[hist["run"] == entry.label]
    wide = run[run["metric"].isin((CURVE_X, CURVE_D_LOSS))].pivot_table(index="step", columns="metric",
                                                                           values="value").dropna()
    x = wide[CURVE_X].to_numpy(np.float64) if len(wide) else np.zeros(0)
    start = np.floor(x.min() - 1e-6) if len(x) else 0.0  # the epoch the GAN phase (and the D loss) begins after
    kept = wide[x > start + D_LOSS_SKIP]
    if len(kept) < 3:
        raise Missing(f"run {entry.label} ({entry.run_id}) logged {len(kept)} D-loss curve points after its GAN "
                      f"phase's epoch {D_LOSS_SKIP}; the step-to-step D loss needs 3 or more (curve_points >= 1, "
                      f"more than {D_LOSS_SKIP} GAN epochs)", ["make reproduce"])
    return float(np.std(np.diff(kept[CURVE_D_LOSS].to_numpy(np.float64)), ddof=1))


def t_interval(diff: np.ndarray) -> tuple[float, float, float]:
    mean = float(np.mean(diff))
    half = float(stats.t.ppf(0.975, len(diff) - 1) * np.std(diff, ddof=1) / np.sqrt(len(diff)))
    return mean, mean - half, mean + half


def welch_se(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(standard error of mean(a) - mean(b), Welch-Satterthwaite degrees of freedom)."""
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else 1.0
    return se, float(dof)


def welch_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    se, dof = welch_se(a, b)
    mean = float(np.mean(a) - np.mean(b))
    half = float(stats.t.ppf(0.975, dof) * se)
    return mean, mean - half, mean + half


def detectable(se: float, dof: float) -> float:
    """The smallest effect this budget detects in a two-sided 5% test with 80% power: (t_{.975,df} + t_{.80,df})
    * SE. (colorgan.scoring.metrics has the paired twin; reports never imports colorgan.)"""
    return float((stats.t.ppf(0.975, dof) + stats.t.ppf(0.80, dof)) * se)


def needed(sd: float, room: float, dof_per: float = 1.0) -> int | None:
    """The fewest samples n whose 95% half-width t_{.975, dof_per*(n-1)} * sd / sqrt(n) is at most ``room`` (|effect|
    to exclude 0; margin - |effect| to fit within +-margin), None when room <= 0. Paired: sd of the per-image
    differences. Welch, n seeds in each configuration: sd = sqrt(sd_a² + sd_b²), dof_per = (sd_a² + sd_b²)² /
    (sd_a⁴ + sd_b⁴)."""
    if not (room > 0 and math.isfinite(sd)):
        return None
    # The normal quantile is below every t quantile, so its n is a lower bound; walk up from it as df grows.
    n = max(2, math.ceil((stats.norm.ppf(0.975) * sd / room) ** 2))
    while stats.t.ppf(0.975, dof_per * (n - 1)) * sd / math.sqrt(n) > room:
        n += 1
    return n


def holds(expect: str, low: float, high: float, margin: float = 0.0) -> str:
    """Whether one part of a claim holds, from the 95% interval of a - b. "same" is an equivalence test: it holds
    when the whole interval lies within +-margin, is against when the whole interval lies outside it."""
    if expect == "same":
        if -margin <= low and high <= margin:
            return "holds"
        return "against" if low > margin or high < -margin else "within noise"
    above, below = low > 0.0, high < 0.0
    if not (above or below):
        return "within noise"
    return "holds" if above == (expect == "higher") else "against"


def verdict(rule: str, parts: list[str]) -> str:
    """supported / contradicted / inconclusive at this budget, from the parts' outcomes and the claim's rule."""
    held, against = parts.count("holds"), parts.count("against")
    if rule == "all":
        return "supported" if held == len(parts) else "contradicted" if against else "inconclusive at this budget"
    if held and not against:
        return "supported"
    if against and not held:
        return "contradicted"
    return "inconclusive at this budget" + (" (a trade-off)" if held and against else "")


def measure(claim: dict, part: dict, found: dict[str, list[Entry]], hist: pd.DataFrame,
            tables: dict[str, pd.DataFrame]) -> Effect:
    a, b, score, margin = part["a"], part["b"], part["score"], float(part.get("margin", 0.0))
    if score not in RUN_SCORES:
        joined = tables[a][[score]].join(tables[b][[score]], how="inner", lsuffix="_a", rsuffix="_b")
        diff = (joined[f"{score}_a"] - joined[f"{score}_b"]).to_numpy(np.float64)
        mean, low, high = t_interval(diff)
        samples = f"paired over {len(joined)} eval images, each the mean of {len(found[a])} and {len(found[b])} seeds"
        sd, dof_per, per = float(np.std(diff, ddof=1)), 1.0, "images"
        se, dof = sd / math.sqrt(len(diff)), len(diff) - 1.0
    else:
        va, vb = run_values(hist, found[a], score), run_values(hist, found[b], score)
        mean, low, high = welch_interval(va, vb)
        per = "epochs" if score == "images_per_sec" else "seeds"
        samples = f"{len(va)} + {len(vb)} {per}"
        se, dof = welch_se(va, vb)
        var_a, var_b = np.var(va, ddof=1), np.var(vb, ddof=1)
        sd = float(np.sqrt(var_a + var_b))
        dof_per = float((var_a + var_b) ** 2 / (var_a**2 + var_b**2)) if sd > 0 else 1.0
    room = margin - abs(mean) if part["expect"] == "same" else abs(mean)
    return Effect(str(claim["id"]), score, a, b, part["expect"], mean, low, high, samples,
                  holds(part["expect"], low, high, margin), detectable(se, dof), needed(sd, room, dof_per), per, margin)


def _expected(effect: Effect, claim: dict) -> str:
    part = next(p for p in claim["parts"] if p["score"] == effect.score and p["a"] == effect.a and p["b"] == effect.b)
    return f"the same within +-{part['margin']:g}" if effect.expect == "same" else effect.expect


def judged(claim: dict, measured: list[Effect], scores: dict[str, tuple[str, str, int]]) -> tuple[dict, str]:
    """One claim's row of the table and its sentence, each score shown as ``scores`` says. An inconclusive claim
    says, for each part within noise, the smallest effect this budget detects and the samples that would resolve
    it."""
    said = verdict(claim.get("rule", "all"), [m.holds for m in measured])
    open_ = [m for m in measured if said.startswith("inconclusive") and m.holds == "within noise"]
    label = {m.score: scores[m.score][0] for m in open_}
    row = {"claim": claim["id"], "the claim": claim["text"],
           "effect (a - b), 95% CI": "; ".join(m.text(scores) for m in measured), "verdict": said,
           "smallest detectable effect": "; ".join(f"{label[m.score]} {m.smallest(scores)}" for m in open_),
           "would resolve it": "; ".join(f"{label[m.score]}: {m.resolve(scores)}" for m in open_),
           "figure": f"claim_{claim['figure']}"}
    line = (f"Claim {claim['id']}, \"{claim['text']}\": {said}. "
            + "; ".join(f"{m.text(scores)}: {m.holds} (expected {_expected(m, claim)})" for m in measured) + "."
            + "".join(f" Inconclusive at this budget, {label[m.score]}: the smallest effect it can detect is "
                      f"{m.smallest(scores)}; {m.resolve(scores)}." for m in open_))
    return row, line


def title(path: Path) -> str:
    """The heading of the claims' section: the file's ``title``, else what reports/claims.toml checks."""
    return load(path).get("title", "The original report's claims")


def check(source: Source, path: Path, folder: Path, declared: Declared
          ) -> tuple[pd.DataFrame, list[str], dict, dict]:
    """(the claims table, one sentence per claim, figure name -> plotted data, figure name -> caption); the
    paired scores shown as ``declared`` (the metric declarations logged with the report's evaluations)."""
    raw = load(path)
    shown = scores(declared)
    unknown = sorted({p["score"] for c in raw["claims"] for p in c["parts"]} - set(shown))
    if unknown:
        raise ValueError(f"{path}: unknown score {', '.join(map(repr, unknown))}; known: {', '.join(shown)}")
    found = find(source, raw)
    wanted = {p["a"] for c in raw["claims"] for p in c["parts"]} | {p["b"] for c in raw["claims"] for p in c["parts"]}
    entries = [e for name in wanted for e in found[name]]
    hist = source.histories(entries, HISTORY_KEYS)
    paired = [p for c in raw["claims"] for p in c["parts"] if p["score"] not in RUN_SCORES]
    tables = {name: per_image(source, found[name]) for name in sorted(wanted)
              if any(name in (p["a"], p["b"]) for p in paired)}
    rows, lines, effects = [], [], []
    for claim in raw["claims"]:
        measured = [measure(claim, part, found, hist, tables) for part in claim["parts"]]
        effects += measured
        row, line = judged(claim, measured, shown)
        rows.append(row)
        lines.append(line)
    plotted, caps = {}, {}
    by_config = {e.label: name for name, es in found.items() for e in es}
    for claim in raw["claims"]:
        key, pair = claim["figure"], (claim["parts"][0]["a"], claim["parts"][0]["b"])
        name = f"claim_{key}"
        if name in plotted:
            continue
        if key == "effects":
            plotted[name] = claim_figures.effects(pd.DataFrame([vars(m) for m in effects if m.claim in
                                                          {c["id"] for c in raw["claims"] if c["figure"] == key}]),
                                            shown, folder, name)
            caps[name] = captions.claim_effects()
        else:
            sub = hist[hist["run"].map(by_config).isin(pair)].assign(config=lambda f: f["run"].map(by_config))
            score = claim["parts"][0]["score"]
            per_run = pd.DataFrame([{"config": c, "run": e.label, "value": v} for c in pair
                                    for e, v in zip(found[c], run_values(hist, found[c], score), strict=True)])
            plotted[name] = claim_figures.claim_curves(sub, key, folder, name, per_run=per_run,
                                                 skip=D_LOSS_SKIP if key == "d_loss" else 0.0,
                                                 per_run_label=RUN_SCORES[score][0].split(" (")[0])
            caps[name] = captions.claim_curves(key, pair, {c: len(found[c]) for c in pair})
    return pd.DataFrame(rows), lines, plotted, caps
