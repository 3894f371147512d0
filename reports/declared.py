"""The metric declarations colorgan logs with every evaluation (``info.json``'s ``metrics``: name, label, unit,
better, digits, mean_of, gain_of, one per figure of ``scoring.metrics.QUALITY``): the one source of the report's
labels, units, decimals and directions; and what each curve figure graphs, in panel order (``info.json``'s
``plots``, from ``model.gan.PLOTS`` and ``scoring.metrics.PLOTS``), so a figure or loss colorgan adds there is
graphed without editing the report. The report keeps no copy of them, and never imports colorgan.
"""

from __future__ import annotations

from collections.abc import Iterable

GAIN_SUFFIX = "_gain"  # eval/psnr_gain: the model's figure minus the gray image's on the same images
# What colorgan graphed before it logged ``plots`` with each evaluation: the fallback for evaluations logged before
# that (and a report of runs with no evaluation) only. What is logged wins; a figure is never added here.
PLOTS_BEFORE = {"losses": ("g_total", "d_loss"), "quality": ("psnr", "colorfulness"),
                "loss_curves": ("g_gan", "g_recon", "d_loss_real", "d_loss_fake"),
                "score_curves": ("psnr_gain", "color_auc_rebal", "colorfulness_gap")}


class Declared:
    """The logged declarations, by name; a key nobody declared is shown as itself."""

    def __init__(self, metrics: Iterable[dict] = (), plots: dict[str, Iterable[str]] | None = None):
        self.by_name = {m["name"]: m for m in metrics}
        self.plotted = {figure: tuple(names) for figure, names in (PLOTS_BEFORE if plots is None else plots).items()}

    @classmethod
    def logged(cls, evaluations: Iterable) -> Declared:
        """The declarations the first evaluation that logged any carries (every one logs the same)."""
        evaluations = list(evaluations)
        return cls(next((ev.info["metrics"] for ev in evaluations if ev.info.get("metrics")), []),
                   next((ev.info["plots"] for ev in evaluations if ev.info.get("plots")), None))

    def plots(self, figure: str) -> tuple[str, ...]:
        """The names ``figure`` graphs, in panel order, as colorgan logged them: "quality" -> ("psnr", ...), each
        read as eval/NAME; a loss figure's as train/NAME and eval/NAME; a curve figure's as curve/SPLIT/NAME."""
        return self.plotted.get(figure, ())

    def __iter__(self):
        return iter(self.by_name.values())

    def metric(self, key: str) -> dict | None:
        """The declaration behind a logged key ("eval/psnr", "psnr"); a gain ("eval/psnr_gain") is its figure's,
        labelled as the gain over the gray image (the figure minus the gray image's; the same unit and direction)."""
        name = key.rsplit("/", 1)[-1]
        if name in self.by_name:
            return self.by_name[name]
        gain = self.by_name.get(name.removesuffix(GAIN_SUFFIX)) if name.endswith(GAIN_SUFFIX) else None
        return None if gain is None else {**gain, "name": name, "label": f"{gain['label']} gain over the gray image"}

    def name(self, key: str) -> str:
        """The declared label without its unit ("PSNR pooled"), else the key."""
        m = self.metric(key)
        return key if m is None else m["label"]

    def label(self, key: str) -> str:
        """An axis label with its unit for a logged key: "eval/psnr" -> "PSNR pooled (dB)"; else the key."""
        m = self.metric(key)
        if m is None:
            return key
        return m["label"] + (f" ({m['unit']})" if m.get("unit") else "")

    def better(self, key: str) -> str:
        """ "higher", "lower" or "" (read against something else, or undeclared)."""
        m = self.metric(key)
        return "" if m is None else m.get("better", "")

    def mean(self, score: str) -> tuple[str, str, int]:
        """(label, unit, digits) of the declared mean over images of a per-image ``score``: what a paired
        difference of ``score`` is a difference of ("PSNR mean", "dB", 2); (score, "", 2) when none is declared."""
        m = next((m for m in self if m.get("mean_of") == score), None)
        return (score, "", 2) if m is None else (m["label"], m["unit"], int(m["digits"]))

    def paired(self) -> set[str]:
        """The per-image scores the declared means are of (what a paired comparison can compare)."""
        return {m["mean_of"] for m in self if m.get("mean_of")}
