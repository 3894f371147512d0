"""One training run: config -> data -> model -> fit() per phase, each epoch ended by training.epoch; in MLflow."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from colorgan import tracking
from colorgan.base import hardware, heartbeat, paths
from colorgan.base.config import Config
from colorgan.data import color, datasets
from colorgan.model import colorbins, confidence, gan, losses
from colorgan.scoring import critic, metrics
from colorgan.serving import references
from colorgan.tracking.tags import CRITIC_PRETRAIN_TAG, DATA_SOURCE_TAG, PRECISION_TAG, STOPPED_TAG, VERDICT_TAG
from colorgan.training import budget, curves, epoch, fullstore, process_cache, resume, schedule, warmstart
from colorgan.training.epoch import NonFiniteLoss
from colorgan.training.process_cache import SAME_EVERY_RUN

PER_IMAGE_ARTIFACT = "eval/per_image.csv"  # the last epoch's per-image eval scores (paired comparisons read them)


@dataclass(frozen=True)
class RunResult:
    run_id: str
    epochs: int
    final: dict[str, float]  # the last epoch's logged metrics
    data_source: str = ""  # where its data came from (datasets.resolve_data_dir): datasets.BUILT_IN, the sample set


def configure_threads(threads: int) -> None:
    """Size TF's thread pools (e.g. to a worker's share of the cores); must run before TF does any work."""
    if threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))


def per_image_csv(files, per_image: dict[str, np.ndarray]) -> str:
    """The eval split's per-image scores as CSV (file, then metrics.PAIRED's scores): what a study's paired
    comparisons of its trials read, image by image."""
    names = [name for name, _ in metrics.PAIRED]
    rows = ["file," + ",".join(names)] + [
        f"{_csv_field(rel)}," + ",".join(f"{per_image[name][i]:.6g}" for name in names) for i, rel in enumerate(files)]
    return "\n".join(rows) + "\n"


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def gray_baseline(dataset: tf.data.Dataset, color_space: str) -> dict[str, float]:
    """The gray image itself (a*b* = 0) scored on a split: what every PSNR must be read against."""
    return metrics.split_scores(dataset, color_space)


def rebalance_prior(cfg: Config, root: Path) -> tuple[str, np.ndarray, int] | None:
    """(the prior as CSV, the weight table, images counted) for recon_weighting = "rebalance", else None."""
    if cfg.recon_weighting != "rebalance":
        return None
    counts, images = datasets.ab_histogram(cfg, root)
    prior, weights = losses.rebalance_weights(counts, cfg.rebalance_mix)
    bins = cfg.rebalance_bins
    centre = color.bin_centres(bins)
    rows = ["a_bin,b_bin,a_centre,b_centre,count,prior,weight"] + [
        f"{i},{j},{centre[i] * color.AB_SCALE:.2f},{centre[j] * color.AB_SCALE:.2f},{counts[i, j]},"
        f"{prior[i, j]:.6g},{weights[i, j]:.6g}" for i in range(bins) for j in range(bins)]
    return "\n".join(rows) + "\n", weights, images


def _requirements() -> list[str]:
    return [hardware.tensorflow_requirement(), f"keras=={keras.__version__}"]


def run_training(cfg: Config, config_path: Path | None = None, resume_run_id: str | None = None,
                 study_run: references.StudyRun | None = None,
                 callbacks: tuple = (), parent_run_id: str | None = None, tags: dict | None = None,
                 root: Path | None = None, verbose: int = 0, on_start=None, epoch_lines: bool = True,
                 heartbeat: heartbeat.Settings | None = None, on_epoch_end: epoch.OnEpochEnd | None = None,
                 ) -> RunResult:
    """Train one model; every epoch is tracked: ``pretrain_epochs`` of the generator alone, then ``epochs`` of the
    GAN, in one run. With ``resume_run_id`` the same run continues from its last completed epoch, in whichever
    phase that is (``cfg`` then comes from that run, with only ``epochs`` taken from the caller).
    ``on_start(run_id)`` is called as soon as the MLflow run exists (a study records it on its trial).
    ``verbose`` is Keras' (1: its progress bar); ``epoch_lines`` prints our one line per epoch.
    ``heartbeat``: how often the run beats and its grace period (colorgan.base.heartbeat; a study passes its own).
    ``critic_pretrain_steps``: the critic alone on the frozen generator before the GAN phase (``pretrain_critic``).
    ``on_epoch_end(step, values)``: the last call of each epoch's end (epoch.OnEpochEnd: a study reports to its
    trial). ``callbacks``: more Keras callbacks (tests), called after the epoch's end, so they see it logged."""
    root = root or paths.repo_root()
    cpu_start = time.process_time()
    warmstart.parse(cfg)  # a misspelt init_from fails before the data is read
    if resume_run_id:
        resume.check_resume(resume_run_id, root)
    precision, why = hardware.resolve_precision(cfg.precision, gpus=len(tf.config.list_physical_devices("GPU")))
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bf16" else "float32")
    if epoch_lines and cfg.precision == "auto":
        print(f"precision: {precision} ({why})", flush=True)
    keras.utils.set_random_seed(cfg.seed)
    bundle = datasets.load(cfg, root)
    prior = SAME_EVERY_RUN.get(("prior", *process_cache.memo_key(cfg, bundle), cfg.max_train_images,
                                cfg.recon_weighting, cfg.rebalance_bins, cfg.rebalance_mix),
                               lambda: rebalance_prior(cfg, root))
    model = process_cache.REUSABLE_MODEL.get(cfg, prior[1] if prior else None)
    checkpoint = resume.checkpoint_of(model)
    gray = dict(SAME_EVERY_RUN.get(("gray", *process_cache.memo_key(cfg, bundle), bundle.eval_files),
                                   lambda: gray_baseline(bundle.eval, cfg.color_space)))
    # init_from, before the run exists (a bad source fails first); study_run finds study:NAME (the CLI's)
    lineage = warmstart.apply(model, cfg, root, study_run, resume_run_id, announce=epoch_lines)
    # the checkpoint is read (and a damaged one refused) before the run is touched: a failed resume changes nothing
    restored = resume.restore(resume_run_id, root, checkpoint) if resume_run_id else None
    guard = fullstore.Guard(root, fullstore.state_bytes(resume.state_variables(model)) if cfg.checkpoint else 0,
                            resume_run_id)
    with guard.converting(), tracking.open_run(root, cfg.experiment, cfg.run_name, resume_run_id, parent_run_id,
                                               {**(tags or {}), **lineage}, heartbeat) as tracker, guard.converting():
        guard.run_id = tracker.run_id
        if on_start is not None:
            on_start(tracker.run_id)
        initial_epoch, spent = 0, {}
        if restored is not None:
            initial_epoch, spent = resume.continue_after(tracker, restored)
            guard.kept = guard.logged = initial_epoch
        else:
            tracker.log_params({**cfg.to_dict(), **bundle.info, "tf_version": tf.__version__,
                                "keras_version": keras.__version__, "git_commit": tracking.git_commit(root)})
            tracker.log_params({"precision_resolved": precision, "cpu_model": hardware.cpu_model()})
            tracker.set_tags({DATA_SOURCE_TAG: bundle.info["data_source"], PRECISION_TAG: why})
            tracker.log_config(cfg, config_path)
            tracker.log_params(tracking.gray_params(gray))
            if bundle.skipped:
                tracker.log_text("\n".join(f"{p}\t{why}" for p, why in bundle.skipped), "data/skipped_files.tsv")
            if prior:
                tracker.log_params({"ab_prior_images": prior[2]})
                tracker.log_text(prior[0], "data/ab_prior.csv")
        n_train = bundle.info["n_train"]
        spend = budget.Spend(cfg, n_train, spent.get("images_seen", initial_epoch * n_train),
                             spent.get("cpu_seconds", 0.0), cpu_start)
        epochs = epoch.RunEpochs(cfg, bundle, tracker, checkpoint, gray, spend, guard, epoch_lines, on_epoch_end)
        steps = math.ceil(n_train / cfg.batch_size)
        curve = curve_points(cfg, bundle, steps, tracker,
                             set(tracker.metric_steps(curves.EPOCH_KEY)) if resume_run_id else set(),
                             run_cpu=lambda: spend.cpu_seconds)
        warm_critic = None
        if wants_critic_pretraining(model, cfg, lineage, initial_epoch):
            def warm_critic():
                pretrain_critic(model, cfg, bundle, tracker, announce=epoch_lines)
        try:
            fit_phases(model, cfg, bundle.train, initial_epoch,
                       [spend, epoch.EpochBoundary(epochs), *curve, *callbacks], verbose, steps, spend, warm_critic)
        except NonFiniteLoss as exc:
            raise NonFiniteLoss(f"run {tracker.run_id} FAILED: {exc} (lower lr_g, lr_d or lambda_recon)") from exc
        if spend.exhausted:
            why = (f"max_cpu_minutes = {cfg.max_cpu_minutes:g} spent after {int(spend.images_before)} images, "
                   f"in epoch {epochs.step} of {schedule.total_epochs(cfg)}")
            tracker.set_tags({STOPPED_TAG: why})
            print(f"stopped: {why}", flush=True)
        judge_the_game(tracker, epochs.last, announce=epoch_lines)  # nothing to judge without a GAN epoch
        if epochs.per_image:
            tracker.log_text(per_image_csv(bundle.eval_files, epochs.per_image), PER_IMAGE_ARTIFACT)
        last_step, generator = epochs.step or initial_epoch, model.inference_generator
        if cfg.confidence_epochs and not spend.exhausted:  # after the last epoch: a resumed run fits it again
            generator = confidence.train_head(generator, cfg, bundle.train, bundle.eval, tracker, last_step,
                                              announce=epoch_lines)
        if cfg.bins_epochs and not spend.exhausted:  # the same: after the last epoch, on the generator logged
            generator = colorbins.train_head(generator, cfg, prior[1], bundle.train, bundle.eval, tracker, last_step,
                                             announce=epoch_lines)
        example = np.asarray(epochs.sample_l[:1], np.float32)
        tracker.log_generator(generator, example, _requirements())
        return RunResult(tracker.run_id, last_step, epochs.last, bundle.info["data_source"])


def wants_critic_pretraining(model: gan.ColorGAN, cfg: Config, lineage: dict[str, str], initial_epoch: int) -> bool:
    """Whether this run pre-trains its critic before the GAN phase: asked for (``critic_pretrain_steps``), a critic
    there, not loaded already trained from the warm start, and no GAN epoch done yet. A run resumed before its GAN
    phase pre-trains it again: its checkpoint, written at the end of the last pre-training epoch, holds the critic
    from before its pre-training (a crash in between leaves that one's checks logged twice)."""
    if not cfg.critic_pretrain_steps or model.discriminator is None:
        return False
    if lineage.get(warmstart.DISCRIMINATOR_TAG, "").startswith("loaded"):
        return False
    return initial_epoch <= cfg.pretrain_epochs


def pretrain_critic(model: gan.ColorGAN, cfg: Config, bundle: datasets.DataBundle, tracker: tracking.RunTracker,
                    announce: bool = True) -> dict[str, float]:
    """DeOldify's critic pre-training, after the generator's and before the GAN's epochs: the critic alone on the
    frozen generator's colourings (scoring.critic.pretrain), until its AUC on the first ``curve_eval_images`` eval
    photos reaches ``critic_pretrain_auc`` or ``critic_pretrain_steps`` are spent. Logged per check
    (``critic_pretrain/``), and the critic as the run's ``critic/`` artifact, which a warm start loads."""
    model.d_optimizer.learning_rate = cfg.lr_d  # the GAN phase's first rate (epoch.start_epoch sets it then)
    subset = curves.take_images(bundle.eval, cfg.curve_eval_images, cfg.batch_size)
    cpu = time.process_time()
    last = critic.pretrain(model, bundle.train, subset, cfg.critic_pretrain_steps, cfg.critic_pretrain_auc,
                           max(10, cfg.critic_pretrain_steps // 10), tracker.log_metrics)
    last["cpu_seconds"] = time.process_time() - cpu
    tracker.log_metrics({f"{critic.PRETRAIN_PREFIX}cpu_seconds": last["cpu_seconds"]}, step=int(last["steps"]))
    tracker.log_critic(tf.train.Checkpoint(discriminator=model.discriminator).write)
    line = (f"critic pre-trained: {int(last['steps'])} steps, held-out AUC {last['critic_auc']:.3f} "
            f"[{last['critic_auc_low']:.3f}, {last['critic_auc_high']:.3f}], D(real)-D(fake) {last['critic_gap']:+.3f}")
    tracker.set_tags({CRITIC_PRETRAIN_TAG: line})
    if announce:
        print(line, flush=True)
    return last


def judge_the_game(tracker: tracking.RunTracker, last: dict[str, float], announce: bool = True) -> None:
    """The run's verdict on its GAN phase (critic.verdict on the last whole-split evaluation), as a tag and a line."""
    found = critic.verdict(last)
    if found is None:
        return
    kind, line = found
    tracker.set_tags({VERDICT_TAG: f"{kind}: {line}"})
    if announce:
        print(f"GAN phase: {line}", flush=True)


def fit_phases(model: gan.ColorGAN, cfg: Config, dataset: tf.data.Dataset, initial_epoch: int, callbacks: list,
               verbose: int, steps_per_epoch: int, spend: budget.Spend | None = None, warm_critic=None) -> None:
    """One fit() per phase still to run (schedule.phases), from ``initial_epoch`` (0-based, counted over the whole
    run, so callbacks see one epoch numbering): the step functions are traced for their phase. A spent CPU budget
    ends the run, not only the phase.

    An epoch is ``steps_per_epoch`` batches (one pass over the training split) of the dataset repeated: tf.data
    cannot know the length of a split that drops unreadable files, and without a known length Keras counts
    "3/Unknown" steps and warns that the input ran out of data at the end of every epoch."""
    for phase in schedule.phases(cfg):
        if initial_epoch >= phase.stop:
            continue
        if spend is not None and spend.exhausted:
            return
        if phase.index == schedule.MAIN and warm_critic is not None:
            warm_critic()
            warm_critic = None
        model.start_phase(pretraining=phase.index == schedule.PRETRAIN)
        model.fit(dataset.repeat(), epochs=phase.stop, steps_per_epoch=steps_per_epoch, shuffle=False,
                  initial_epoch=max(initial_epoch, phase.start), verbose=verbose, callbacks=callbacks)
    if warm_critic is not None and not (spend is not None and spend.exhausted):  # no GAN phase (a shared warm start)
        warm_critic()


def curve_points(cfg: Config, bundle: datasets.DataBundle, steps_per_epoch: int, tracker: tracking.RunTracker,
                 logged: set[int] = frozenset(), run_cpu=None) -> list[curves.CurvePoints]:
    """The within-epoch curve logger (training.curves) on the first ``curve_eval_images`` eval images; none with
    ``curve_points = 0``. ``logged``: the steps a resumed run logged already (an epoch it trains again after a crash
    before that epoch's checkpoint), which are not logged twice. ``run_cpu()``: the run's CPU seconds, logged at
    each point (curves.RUN_CPU_KEY) so that a curve can be drawn against CPU time."""
    if not cfg.curve_points:
        return []
    subset = curves.take_images(bundle.eval, cfg.curve_eval_images, cfg.batch_size)
    key = ("gray", *process_cache.memo_key(cfg, bundle), bundle.eval_files[:cfg.curve_eval_images])
    gray = dict(SAME_EVERY_RUN.get(key, lambda: gray_baseline(subset, cfg.color_space)))
    return [curves.CurvePoints(steps_per_epoch, cfg.curve_points, subset, epoch.evaluate_split, gray,
                               tracker.log_metrics, logged, run_cpu)]

