"""What each figure of a report shows and how to read it: the caption under it in index.html and report.md.

Each function returns one short paragraph; the numbers in it (the gray image's PSNR, counts of trials) come from
what the figure drew, so a caption never says more than the figure shows.
"""

from __future__ import annotations

GRAY = "the input itself with no colour added"
CRITIC = ("The critic's panel shows its rank AUC on held-out photos: how often it scores a real eval photo above a "
          "generated one (inference mode; 1 = always, 0.5 = chance, the dotted line). A critic at chance tells the "
          "generator nothing, so the adversarial and discriminator losses beside it come from no game, however "
          "smooth they look; L1-only runs and runs from before colorgan logged it have no critic points.")


def _gray(values: dict[str, float], where: str) -> str:
    """The sentence about the dotted gray-image line, or why there is none."""
    distinct = sorted({round(v, 2) for v in values.values()})
    if not distinct:
        return f"No gray-image figure was logged with these runs, so there is no {where} reference line."
    value = f"{distinct[0]:.2f} dB" if len(distinct) == 1 else f"{distinct[0]:.2f}–{distinct[-1]:.2f} dB by run"
    return (f"The dotted line is the gray image's PSNR on the {where} ({value}; {GRAY}): above it a model's "
            f"colour helps, below it the model does worse than leaving the photo gray.")


def losses() -> str:
    return ("Loss per epoch of each run (one colour per run): the generator's total loss (adversarial + λ·L1, top) "
            "and the discriminator's loss (bottom), on the train split (left) and the eval split (right). Losses "
            "have no unit and compare only between runs with the same loss settings; a train curve that keeps "
            "falling while its eval curve rises is overfitting. A dashed vertical line marks where a run went from "
            "generator pre-training to GAN training. Bottom row: the critic's AUC on the whole eval split after each "
            "epoch, the band its 95% interval (Hanley-McNeil). " + CRITIC)


def quality(gray: dict[str, float]) -> str:
    return ("Each run's PSNR pooled (dB, left; higher is better) and colourfulness (Hasler–Süsstrunk, right; the "
            "originals' level is the target, 0 is gray) on the eval split after every epoch. "
            + _gray(gray, "eval split"))


def trial_curves(param: str, log: bool, n_trials: int, n_pruned: int, ylabel: str, gray: dict[str, float]) -> str:
    pruned = (f" A cross ends each of the {n_pruned} pruned trials where the pruner stopped it: its last point is "
              "not a final value." if n_pruned else " No trial was pruned.")
    return (f"{ylabel} on the eval split of each of the {n_trials} trials after every epoch, coloured by the "
            f"trial's {param} (colour bar{', log scale' if log else ''}): read which values of {param} give the "
            f"curves that end highest.{pruned} " + _gray(gray, "eval split"))


def _points(counts: list[int], per_epoch: list[int]) -> str:
    """How many curve points each line has, and how many per epoch the runs logged."""
    n = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)} to {max(counts)}"
    rate = f", {per_epoch[0]} per epoch" if len(per_epoch) == 1 else ""
    return f"{n} points per run{rate}"


def _subset(sizes: list[int]) -> str:
    """The eval split's fixed curve subset: the first N images, the same at every point of every run."""
    if not sizes:
        return "a fixed subset of the eval split"
    n = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]} to {sizes[-1]} (by run)"
    return f"the first {n} images of the eval split"


def _colouring(key: str, numeric: bool, log: bool, n_runs: int, n_pruned: int) -> str:
    """How the lines are coloured: by run, or each trial by a searched hyper-parameter."""
    if key == "run":
        return f"Each of the {n_runs} runs has one colour (legend right)."
    how = f"colour bar{', log scale' if log else ''}" if numeric else "legend right, one colour per value"
    pruned = (f" {n_pruned} pruned trial{'s' * (n_pruned > 1)} end{'s' * (n_pruned == 1)} where the pruner stopped "
              f"{'them' if n_pruned > 1 else 'it'}." if n_pruned else "")
    return f"Each of the {n_runs} trials is one line coloured by its {key} ({how}).{pruned}"


def loss_curves(key: str, numeric: bool, log: bool, n_runs: int, counts: list[int], per_epoch: list[int],
                sizes: list[int], n_pruned: int = 0) -> str:
    return ("The original report's loss-vs-epoch graphs, " + _points(counts, per_epoch) + ": the generator's "
            "adversarial loss (top left; the BCE of the discriminator's verdict on its colourings against \"real\"), "
            "its L1 term (top right; unweighted, the total is adversarial + λ·L1), the discriminator's BCE on real "
            "patches (bottom left) and on generated ones (bottom right). Solid: the train split, each point the "
            "mean over the batches since the previous point; dashed, same colour: " + _subset(sizes) + ", the same "
            "images at every point, scored in inference mode. " + _colouring(key, numeric, log, n_runs, n_pruned)
            + " Losses have no unit and compare only between runs with the same loss settings; a generator-only "
            "pre-training phase has only the L1 term (a dash-dot line marks where its GAN phase starts). Bottom row, "
            "dashed: the critic's AUC on the same eval images at each point of the GAN phase. " + CRITIC)


def score_curves(key: str, numeric: bool, log: bool, n_runs: int, counts: list[int], per_epoch: list[int],
                 sizes: list[int], n_pruned: int = 0) -> str:
    return ("Scores at every curve point (" + _points(counts, per_epoch) + ") on " + _subset(sizes) + ", the "
            "same images at every point, scored in inference mode (dashed: eval split): PSNR pooled gain over the "
            f"gray image (dB; the dotted line at 0 is the gray image, {GRAY}), the rebalanced colour AuC (the "
            "share of pixels within a*b* error thresholds, each true colour weighted equally; 1 = exact) and the "
            "colourfulness gap to the originals (lower is better). "
            + _colouring(key, numeric, log, n_runs, n_pruned) + " A subset this small is noisy from point to "
            "point: read the trend, and the tables for the final figures.")


def no_curve_points(runs: list[str], total: int) -> str:
    """The note that stands in for (or completes) the curve figures when runs logged no curve/* points."""
    if len(runs) == total:
        return ("None of the runs logged curve points (curve/* metrics, several per epoch): they were trained before "
                "colorgan logged them, or with curve_points = 0, so the within-epoch loss and score figures are not "
                "drawn.")
    return (f"{len(runs)} of the {total} runs ({', '.join(runs)}) logged no curve points (curve/* metrics, several "
            f"per epoch): trained before colorgan logged them, or with curve_points = 0; the within-epoch loss and "
            f"score figures leave them out.")


def no_critic(n_runs: int) -> str:
    """The note that stands in for the critic's verdicts when no run logged its critic's held-out AUC."""
    return (f"None of the {n_runs} runs logged its critic's held-out AUC (eval/critic_auc): trained without a GAN "
            "phase, or before colorgan logged it, so no verdict says whether a GAN phase here was a game; the critic "
            "panels say \"not logged\".")


def _pruned(n_pruned: int) -> str:
    if not n_pruned:
        return "no trial was pruned"
    return (f"crosses: the {n_pruned} pruned trial{'s' * (n_pruned > 1)}, at the epoch the pruner stopped "
            f"{'them' if n_pruned > 1 else 'it'} (not a final value, not comparable with the dots)")


def objective_vs_params(ylabel: str, n_complete: int, n_pruned: int, gray: dict[str, float]) -> str:
    return (f"The study's objective, {ylabel} on the eval split, against each searched hyper-parameter (a log axis "
            f"where the search was log): read which values give the highest points. Dots: the {n_complete} "
            f"finished trials, at their final epoch; {_pruned(n_pruned)}. " + _gray(gray, "eval split"))


def importances(n_complete: int) -> str:
    return (f"How much of the spread of the objective over the {n_complete} finished trials each hyper-parameter "
            "explains (fANOVA; the bars sum to 1). With this few trials read it as a ranking, not a measurement.")


def importances_skipped(n_complete: int, needed: int, multi: bool) -> str:
    """The sentence that stands in for the importances figure."""
    if multi:
        return ("Hyper-parameter importances are not shown: fANOVA ranks parameters for one objective and this "
                "study has two.")
    return (f"Hyper-parameter importances are not shown: they need at least {needed} finished trials and this study "
            f"has {n_complete}; fANOVA on fewer would rank noise. Pruned trials do not count (their values are from "
            f"the epoch they stopped).")


def history(ylabel: str, maximize: bool, n_pruned: int, gray: dict[str, float]) -> str:
    return (f"{ylabel} on the eval split of each trial in the order the trials ran (dots: finished trials; "
            f"{_pruned(n_pruned)}), and the step line: the best finished trial so far "
            f"({'highest' if maximize else 'lowest'}). When the step line stays flat, more trials stopped helping. "
            + _gray(gray, "eval split"))


def pareto(labels: list[str]) -> str:
    return (f"The finished trials by their two objectives on the eval split, {labels[0]} (x) and {labels[1]} (y); "
            "the highlighted points are the Pareto front: no other trial is better on both. Pick along the front "
            "by which objective matters more; a dotted line marks the gray image on an axis where it has a value.")


def samples(rows: int, classes: list[str], where: str) -> str:
    kinds = ", ".join(dict.fromkeys(c for c in classes if c)) or "one folder"
    return (f"The same {rows} fixed images of the {where} in every column, taken in turn from each class ({kinds}; "
            "the label left of a row names its class): the gray input, then each model's and baseline's colouring, "
            "then the original. Compare each column with the original on the right; a column that looks like the "
            "gray one added little colour.")


def per_class(where: str, n_images: int | None, gray: bool) -> str:
    n = f" ({n_images} images in all)" if n_images else ""
    line = (" The dotted line across each class is the gray image's value there." if gray
            else " No gray baseline is in this report, so there is no gray-image line.")
    return (f"Per class of the {where}{n}: PSNR pooled (dB, left; higher is better) and the colourfulness gap to "
            "the originals (right; lower is better), one bar per model and baseline with its 95% interval (PSNR: "
            "from the Student-t interval of the images' mean squared error; gap: Student-t interval of the mean). "
            "The PSNR axis does not start at 0: compare bar tops and intervals, not bar lengths; overlapping "
            "intervals mean this many images do not resolve the difference in that class." + line)


def claim_curves(key: str, pair: tuple[str, str], seeds: dict[str, int]) -> str:
    runs = " and ".join(f"{name} ({seeds[name]} seeds)" for name in pair)
    if key == "overfit":
        return (f"The over-fitting gap per epoch of {runs}: the generator's L1 term on the eval split divided by "
                f"the same on the training images, minus 1 (0: no gap; the train figure is measured with dropout "
                f"on, so the gap is, if anything, understated). Lines are the mean over seeds, bands their 95% "
                f"interval; the claim reads the last epoch. Middle: each seed's gap at the last epoch (one dot per "
                f"run; the bar is the mean with a bootstrap 95% interval). Right: the critic's AUC on the whole eval "
                f"split after each epoch, mean over seeds with its 95% band. " + CRITIC)
    return (f"The discriminator's training loss of {runs}, one point per quarter epoch (the mean of that quarter's "
            f"steps): the claim is about how much it moves from one point to the next, counted from the GAN "
            f"phase's third epoch (the shaded first two are the fresh discriminator's descent, common to every "
            f"run). Lines are the mean over seeds, bands their 95% interval. Middle: each seed's SD of the "
            f"point-to-point change (one dot per run; the bar is the mean with a bootstrap 95% interval), the "
            f"samples of the claim's Welch interval. Right: the critic's AUC on the eval split's fixed subset at "
            f"each point, mean over seeds with its 95% band: a D loss that moves little means nothing if the critic "
            f"it belongs to sits at chance. " + CRITIC)


def claim_effects() -> str:
    return ("Each claim part as a difference a - b with its 95% interval (the dot and the bar), one panel per "
            "score, the dotted line at 0: a bar clear of 0 is a difference larger than the noise. PSNR and "
            "colourfulness are paired per eval image (each configuration averaged over its seeds); images/s "
            "uses each epoch of each seed as one sample.")
