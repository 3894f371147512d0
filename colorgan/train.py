"""One training run: config -> data -> model -> fit() with per-epoch evaluation, tracked in MLflow."""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from colorgan import (
    budget,
    color,
    curves,
    data,
    fullstore,
    gan,
    grids,
    hardware,
    heartbeat,
    losses,
    metrics,
    paths,
    references,
    schedule,
    tracking,
    warmstart,
)
from colorgan import config as config_mod
from colorgan.config import Config
from colorgan.tracking import checkpoints

EPOCH_LINE = ("psnr", "ssim", "colorfulness", "colorfulness_gap")  # metrics.QUALITY names on the epoch line
PRECISION_TAG = "colorgan.precision_reason"  # why the run trained in precision_resolved (auto: the hardware)
EPOCH_KEY = "epoch_seconds"  # logged at every epoch's end, whether or not it evaluated the whole eval split
PER_IMAGE_ARTIFACT = "eval/per_image.csv"  # the last epoch's per-image eval scores (paired comparisons read them)


class NonFiniteLoss(config_mod.UsageError):
    """A loss became NaN or infinite: the run is marked FAILED rather than training on garbage. An expected
    failure (the CLI prints one line): the fix is in the config (lower rates or lambda_recon)."""


@dataclass(frozen=True)
class RunResult:
    run_id: str
    epochs: int
    final: dict[str, float]  # the last epoch's logged metrics


def configure_threads(threads: int) -> None:
    """Size TF's thread pools (e.g. to a worker's share of the cores); must run before TF does any work."""
    if threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))


def evaluate_split(model: gan.ColorGAN, dataset: tf.data.Dataset,
                   step_fn=None) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """(figures, per-image scores): inference-mode losses and image quality over a whole split, batch by batch
    through ``model.test_step`` (the losses weighted by batch size); ``step_fn`` is that step as a tf.function,
    reused epoch after epoch. The per-image scores are in the split's order (what paired comparisons read)."""
    step_fn = step_fn or tf.function(model.test_step, reduce_retracing=True)
    acc = metrics.QualityAccumulator()
    sums: dict[str, float] = {}
    count = 0
    for l_in, target in dataset:
        batch = step_fn((l_in, target))
        n = int(l_in.shape[0])
        for key, value in batch["losses"].items():
            sums[key] = sums.get(key, 0.0) + float(value) * n
        acc.update(batch["scores"])
        count += n
    if count == 0:
        raise data.DataError("the evaluation split is empty: lower grey_threshold or raise eval_fraction")
    out = {key: total / count for key, total in sums.items()}
    per_image = acc.per_image()
    out.update(metrics.summarise(per_image))
    return out, per_image


def per_image_table(files, per_image: dict[str, np.ndarray]) -> str:
    """The eval split's per-image scores as CSV (file, then metrics.PAIRED's scores): what a study's paired
    comparisons of its trials read, image by image."""
    names = [name for name, _ in metrics.PAIRED]
    rows = ["file," + ",".join(names)] + [
        f"{_csv_field(rel)}," + ",".join(f"{per_image[name][i]:.6g}" for name in names) for i, rel in enumerate(files)]
    return "\n".join(rows) + "\n"


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def epoch_line(step: int, epochs: int, phase: str, values: dict[str, float], gray: dict[str, float],
               seconds: float) -> str:
    """The line printed after each epoch: its phase, train losses, then EPOCH_LINE's eval figures next to the
    gray image's."""
    train_part = f"train g_total {values['train/g_total']:.3f}" + (
        f"  d_loss {values['train/d_loss']:.3f}" if "train/d_loss" in values else "")
    quality = "  ".join(f"{m.label} {m.show(values['eval/' + m.name])} (gray {gray[m.name]:.{m.digits}f})"
                        for m in (metrics.QUALITY[name] for name in EPOCH_LINE)) if "eval/psnr" in values else \
        "the whole split after the last epoch (full_eval = last_epoch)"
    return (f"epoch {step}/{epochs} ({phase})  {train_part}  | eval {quality}"
            f"  | {values['images_per_sec']:.1f} img/s  {seconds:.0f}s")


def gray_baseline(dataset: tf.data.Dataset, color_space: str) -> dict[str, float]:
    """The gray image itself (a*b* = 0) scored on a split: what every PSNR must be read against."""
    return metrics.split_scores(dataset, color_space)


class SameEveryRun:
    """What every run of a study on the same data computes alike (the gray image's scores on the eval split and
    its curve subset, the a*b* prior), computed once per process: a study worker's runs then skip ~7 CPU-seconds
    each of start-up. Keyed by the data set's fingerprint (names and sizes) and every setting the value reads."""

    def __init__(self, size: int = 8):
        self.size, self.values = size, {}

    def get(self, key: tuple, compute):
        if key not in self.values:
            if len(self.values) >= self.size:
                self.values.pop(next(iter(self.values)))
            self.values[key] = compute()
        return self.values[key]


SAME_EVERY_RUN = SameEveryRun()


RATES_AND_NAMES = ("lr_g", "lr_d", "seed", "run_name")  # what no traced step reads: the rates are variables


class ReusableModel:
    """The last model built in this process, kept with its traced step functions: a run whose config differs from
    it only in RATES_AND_NAMES (a study's trials of one graph, each configuration's repeats) takes it over, set to
    a freshly built model's state (gan.ColorGAN.take_state_of), instead of tracing its steps again (~18 CPU-seconds
    of a 64x64 trial). A fresh model is still built for its initial weights, so a run's numbers do not depend on
    what ran before it in the process (tests/test_train.py holds the two equal)."""

    def __init__(self):
        self.key, self.model = None, None

    def get(self, cfg: Config, recon_weights) -> gan.ColorGAN:
        fresh = gan.build(cfg, recon_weights=recon_weights)
        graph = {k: v for k, v in cfg.to_dict().items() if k not in RATES_AND_NAMES}
        key = (json.dumps(graph, sort_keys=True, default=str),
               None if recon_weights is None else np.asarray(recon_weights, np.float32).tobytes())
        if key != self.key or self.model is None:
            self.key, self.model = key, fresh
            return fresh
        self.model.take_state_of(fresh)
        return self.model


REUSABLE_MODEL = ReusableModel()


def reusable_model(cfg: Config, recon_weights) -> gan.ColorGAN:
    return REUSABLE_MODEL.get(cfg, recon_weights)


def _data_key(cfg: Config, bundle: data.DataBundle) -> tuple:
    """The data a run reads, as a memo key: the files (fingerprint) and how they are split, filtered and sized."""
    return (bundle.info["data_dir"], bundle.info["fingerprint"], cfg.eval_fraction, cfg.test_fraction,
            cfg.grey_threshold, cfg.image_size, cfg.color_space)


class LearningRates(keras.callbacks.Callback):
    """Sets both networks' learning rates at each epoch's start (schedule.learning_rates), so a resumed run
    recomputes them from its epoch and never keeps a stale rate restored with the optimizer's state."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg

    def on_epoch_begin(self, epoch, logs=None):
        lr_g, lr_d = schedule.learning_rates(self.cfg, epoch)
        self.model.g_optimizer.learning_rate = lr_g
        if self.model.d_optimizer is not None:
            self.model.d_optimizer.learning_rate = lr_d


class EpochEnd(keras.callbacks.Callback):
    """After each epoch: evaluate, draw the sample grid, checkpoint, log to MLflow, print one line (unless a
    study's trial, which prints one line per trial).

    The eval figures are also written into ``logs`` so callbacks after this one (a study's pruner) see them.
    """

    def __init__(self, cfg: Config, bundle: data.DataBundle, tracker: tracking.RunTracker, checkpoint,
                 gray: dict[str, float], spend: budget.Spend, guard: fullstore.Guard, print_lines: bool = True):
        super().__init__()
        self.cfg, self.bundle, self.tracker, self.checkpoint, self.gray = cfg, bundle, tracker, checkpoint, gray
        self.guard = guard  # stops the run with one line when a store cannot take this epoch's writes
        self.spend, self.print_lines = spend, print_lines
        self.step = 0  # the last logged epoch (1-based)
        self.per_image: dict[str, np.ndarray] = {}  # the last evaluation's per-image scores
        self.last: dict[str, float] = {}
        self.eval_cpu = 0.0  # CPU seconds of this session's whole-split evaluations
        self._started = 0.0
        self.sample_l, _ = color.encode(tf.constant(bundle.eval_rgb_sample), cfg.color_space)

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        bad = {k: float(v) for k, v in (logs or {}).items() if not math.isfinite(float(v))}
        if bad:
            raise NonFiniteLoss(f"non-finite loss in batch {batch + 1}: {bad}")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        seconds = time.perf_counter() - self._started
        step = epoch + 1
        model = self.model
        values = {f"train/{name}": float(logs[name]) for name in model.loss_names}
        if self.evaluates_whole_split(step):
            cpu = time.process_time()
            evaluated, self.per_image = evaluate_split(model, self.bundle.eval, model.eval_step())
            self.eval_cpu += time.process_time() - cpu
            values["eval_cpu_seconds"] = self.eval_cpu  # the run's whole-split evaluations so far
            values.update({f"eval/{k}": v for k, v in evaluated.items() if k != "images"})
            values["eval/psnr_gain"] = values["eval/psnr"] - self.gray["psnr"]
        values["images_per_sec"] = self.spend.epoch_images() / seconds
        values["epoch_seconds"] = seconds
        values["eval_seconds"] = time.perf_counter() - self._started - seconds
        values.update(self._schedule_values(epoch))
        values.update(self.spend.close_epoch())
        self.guard.before_writes(step)
        if self.cfg.checkpoint:
            self.tracker.save_checkpoint(self.checkpoint.write, step, values)
            self.guard.kept = step
        self.tracker.log_metrics(values, step=step)
        self.guard.logged = step
        self.tracker.log_image(self._grid(), f"samples/epoch_{step:03d}.png")
        logs.update(values)
        self.last, self.step = values, step
        if self.print_lines:
            print(epoch_line(step, schedule.total_epochs(self.cfg), schedule.phase_at(self.cfg, epoch).name, values,
                             self.gray, seconds), flush=True)

    def evaluates_whole_split(self, step: int) -> bool:
        """Every epoch, or with ``full_eval = "last_epoch"`` only the run's last (planned, or the one the CPU budget
        stopped in): the curve points' fixed subset follows training in between."""
        return (self.cfg.full_eval == "every_epoch" or step >= schedule.total_epochs(self.cfg)
                or self.spend.exhausted or bool(self.model.stop_training))

    def _schedule_values(self, epoch: int) -> dict[str, float]:
        """The epoch's phase and the learning rates it trained with (``lr/d`` only when D was trained)."""
        model = self.model
        out = {"phase": float(schedule.phase_at(self.cfg, epoch).index),
               "lr/g": float(keras.ops.convert_to_numpy(model.g_optimizer.learning_rate))}
        if model.adversarial_now:
            out["lr/d"] = float(keras.ops.convert_to_numpy(model.d_optimizer.learning_rate))
        return out

    def _grid(self) -> np.ndarray:
        pred = self.model.inference_generator(self.sample_l, training=False)
        return grids.sample_grid([
            np.asarray(color.gray_rgb(self.sample_l)),
            np.asarray(color.decode(self.sample_l, pred, self.cfg.color_space)),
            self.bundle.eval_rgb_sample,
        ])


def _checkpoint(model: gan.ColorGAN) -> tf.train.Checkpoint:
    # Build the optimizers' slots first so a restore fills them instead of being deferred and lost.
    model.g_optimizer.build(model.generator.trainable_variables)
    parts = {"generator": model.generator, "g_optimizer": model.g_optimizer}
    if model.ema_generator is not None:
        parts["ema_generator"] = model.ema_generator
    if model.discriminator is not None:
        model.d_optimizer.build(model.discriminator.trainable_variables)
        parts.update(discriminator=model.discriminator, d_optimizer=model.d_optimizer)
    if model.recon_weights is not None:
        parts["recon_weights"] = model.recon_weights
    return tf.train.Checkpoint(**parts)


def rebalance_prior(cfg: Config, root: Path) -> tuple[str, np.ndarray, int] | None:
    """(the prior as CSV, the weight table, images counted) for recon_weighting = "rebalance", else None."""
    if cfg.recon_weighting != "rebalance":
        return None
    counts, images = data.ab_histogram(cfg, root)
    prior, weights = losses.rebalance_weights(counts, cfg.rebalance_mix)
    bins = cfg.rebalance_bins
    centre = (np.arange(bins) + 0.5) * (2.0 / bins) - 1.0  # cell centres in network units (x color.AB_SCALE)
    rows = ["a_bin,b_bin,a_centre,b_centre,count,prior,weight"] + [
        f"{i},{j},{centre[i] * color.AB_SCALE:.2f},{centre[j] * color.AB_SCALE:.2f},{counts[i, j]},"
        f"{prior[i, j]:.6g},{weights[i, j]:.6g}" for i in range(bins) for j in range(bins)]
    return "\n".join(rows) + "\n", weights, images


def _requirements() -> list[str]:
    return [f"tensorflow-cpu=={tf.__version__}", f"keras=={keras.__version__}"]


def run(cfg: Config, config_path: Path | None = None, resume_run_id: str | None = None,
        study_run: references.StudyRun | None = None,
        callbacks: tuple = (), parent_run_id: str | None = None, tags: dict | None = None,
        root: Path | None = None, verbose: int = 0, on_start=None, epoch_lines: bool = True,
        heartbeat: heartbeat.Settings | None = None) -> RunResult:
    """Train one model; every epoch is tracked: ``pretrain_epochs`` of the generator alone, then ``epochs`` of the
    GAN, in one run. With ``resume_run_id`` the same run continues from its last completed epoch, in whichever
    phase that is (``cfg`` then comes from that run, with only ``epochs`` taken from the caller).
    ``on_start(run_id)`` is called as soon as the MLflow run exists (a study records it on its trial).
    ``verbose`` is Keras' (1: its progress bar); ``epoch_lines`` prints our one line per epoch.
    ``heartbeat``: how often the run beats and its grace period (colorgan.heartbeat; a study passes its own)."""
    root = root or paths.repo_root()
    cpu_start = time.process_time()
    warmstart.parse(cfg)  # a misspelt init_from fails before the data is read
    if resume_run_id:
        check_resume(resume_run_id, root)
    precision, why = hardware.resolve_precision(cfg.precision, gpus=len(tf.config.list_physical_devices("GPU")))
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bf16" else "float32")
    if epoch_lines and cfg.precision == "auto":
        print(f"precision: {precision} ({why})", flush=True)
    keras.utils.set_random_seed(cfg.seed)
    bundle = data.load(cfg, root)
    prior = SAME_EVERY_RUN.get(("prior", *_data_key(cfg, bundle), cfg.max_train_images, cfg.recon_weighting,
                                cfg.rebalance_bins, cfg.rebalance_mix), lambda: rebalance_prior(cfg, root))
    model = reusable_model(cfg, prior[1] if prior else None)
    checkpoint = _checkpoint(model)
    gray = dict(SAME_EVERY_RUN.get(("gray", *_data_key(cfg, bundle), bundle.eval_files),
                                   lambda: gray_baseline(bundle.eval, cfg.color_space)))
    # init_from, before the run exists (a bad source fails first); study_run finds study:NAME (the CLI's)
    lineage = warmstart.apply(model, cfg, root, study_run, resume_run_id, announce=epoch_lines)
    # the checkpoint is read (and a damaged one refused) before the run is touched: a failed resume changes nothing
    restored = restore(resume_run_id, root, checkpoint) if resume_run_id else None
    guard = fullstore.Guard(root, fullstore.state_bytes(_state_variables(model)) if cfg.checkpoint else 0,
                            resume_run_id)
    with guard.converting(), tracking.open_run(root, cfg.experiment, cfg.run_name, resume_run_id, parent_run_id,
                                               {**(tags or {}), **lineage}, heartbeat) as tracker, guard.converting():
        guard.run_id = tracker.run_id
        if on_start is not None:
            on_start(tracker.run_id)
        initial_epoch, spent = 0, {}
        if restored is not None:
            initial_epoch, spent = _resumed(tracker, restored)
            guard.kept = guard.logged = initial_epoch
        else:
            tracker.log_params({**cfg.to_dict(), **bundle.info, "tf_version": tf.__version__,
                                "keras_version": keras.__version__, "git_commit": tracking.git_commit(root)})
            tracker.log_params({"precision_resolved": precision})
            tracker.set_tags({"colorgan.data_source": bundle.info["data_source"], PRECISION_TAG: why})
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
        end_epoch = EpochEnd(cfg, bundle, tracker, checkpoint, gray, spend, guard, print_lines=epoch_lines)
        steps = math.ceil(n_train / cfg.batch_size)
        curve = curve_points(cfg, bundle, steps, tracker,
                             set(tracker.metric_steps(curves.EPOCH_KEY)) if resume_run_id else set())
        try:
            fit_phases(model, cfg, bundle.train, initial_epoch,
                       [spend, LearningRates(cfg), end_epoch, *curve, *callbacks], verbose, steps, spend)
        except NonFiniteLoss as exc:
            raise NonFiniteLoss(f"run {tracker.run_id} FAILED: {exc} (lower lr_g, lr_d or lambda_recon)") from exc
        if spend.exhausted:
            why = (f"max_cpu_minutes = {cfg.max_cpu_minutes:g} spent after {int(spend.images_before)} images, "
                   f"in epoch {end_epoch.step} of {schedule.total_epochs(cfg)}")
            tracker.set_tags({"colorgan.stopped": why})
            print(f"stopped: {why}", flush=True)
        if end_epoch.per_image:
            tracker.log_text(per_image_table(bundle.eval_files, end_epoch.per_image), PER_IMAGE_ARTIFACT)
        example = np.asarray(end_epoch.sample_l[:1], np.float32)
        tracker.log_generator(model.inference_generator, example, _requirements())
        return RunResult(tracker.run_id, end_epoch.step or initial_epoch, end_epoch.last)


def fit_phases(model: gan.ColorGAN, cfg: Config, dataset: tf.data.Dataset, initial_epoch: int, callbacks: list,
               verbose: int, steps_per_epoch: int, spend: budget.Spend | None = None) -> None:
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
        model.start_phase(pretraining=phase.index == schedule.PRETRAIN)
        model.fit(dataset.repeat(), epochs=phase.stop, steps_per_epoch=steps_per_epoch, shuffle=False,
                  initial_epoch=max(initial_epoch, phase.start), verbose=verbose, callbacks=callbacks)


def curve_points(cfg: Config, bundle: data.DataBundle, steps_per_epoch: int, tracker: tracking.RunTracker,
                 logged: set[int] = frozenset()) -> list[curves.CurvePoints]:
    """The within-epoch curve logger (colorgan.curves) on the first ``curve_eval_images`` eval images; none with
    ``curve_points = 0``. ``logged``: the steps a resumed run logged already (an epoch it trains again after a crash
    before that epoch's checkpoint), which are not logged twice."""
    if not cfg.curve_points:
        return []
    subset = curves.take_images(bundle.eval, cfg.curve_eval_images, cfg.batch_size)
    gray = dict(SAME_EVERY_RUN.get(("gray", *_data_key(cfg, bundle), bundle.eval_files[:cfg.curve_eval_images]),
                                   lambda: gray_baseline(subset, cfg.color_space)))
    return [curves.CurvePoints(steps_per_epoch, cfg.curve_points, subset, evaluate_split, gray, tracker.log_metrics,
                               logged)]


def check_resume(run_id: str, root: Path) -> None:
    """Refuse, before any work, to resume a run that another process is training (liveness.RunBusy), or one with
    no checkpoint that already logged epochs: it would train them again from epoch 0 and log each step twice.
    A run stopped before its first epoch ended (nothing logged) starts over in the same run."""
    tracking.check_resumable(root, run_id)
    if tracking.has_checkpoint(root, run_id):
        return
    steps = tracking.run_tracker(root, run_id).metric_steps(EPOCH_KEY)
    if steps:
        why = " (it trained with checkpoint = false, as study trials do)" if tracking.run_data(
            root, run_id).params.get("checkpoint") == "False" else ""
        raise tracking.RunError(f"run {run_id} has no checkpoint to resume from{why} and logged epochs "
                                f"{min(steps)}..{max(steps)}: start a new run instead")


def _state_variables(model: gan.ColorGAN) -> list:
    """What a checkpoint holds (train._checkpoint): the networks' weights and the optimizers' state."""
    optimizers = [model.g_optimizer] + ([model.d_optimizer] if model.discriminator is not None else [])
    return [*model.weights, *(v for opt in optimizers for v in opt.variables)]


def restore(run_id: str, root: Path, checkpoint: tf.train.Checkpoint) -> checkpoints.Candidate | None:
    """Read the run's newest whole checkpoint into ``checkpoint`` (None: the run saved none). A damaged newer one is
    named in one line and passed over; with no whole one left, CheckpointDamaged, and the run is not touched."""
    with tempfile.TemporaryDirectory() as tmp:
        found, damaged = tracking.run_tracker(root, run_id).newest_whole(
            Path(tmp), lambda prefix: _unreadable(checkpoint, prefix))
    if damaged and found is None:
        older = f" (and {len(damaged) - 1} older one{'s' * (len(damaged) > 2)} too)" if len(damaged) > 1 else ""
        raise checkpoints.CheckpointDamaged(
            f"run {run_id} cannot resume: checkpoint {damaged[0].problem}{older}, and there is no earlier whole "
            "checkpoint: put a good copy of that file back, or start a new run (this run was left unchanged)")
    if damaged:
        logged = tracking.run_tracker(root, run_id).metric_steps(EPOCH_KEY)
        again = [s for s in logged if s > found.epoch]
        print(f"colorgan: warning: run {run_id}: checkpoint {damaged[0].problem}; resuming from the previous whole "
              f"checkpoint ({found.folder}, epoch {found.epoch}), which the next save no longer overwrites"
              + (f"; epochs {min(again)}..{max(again)} are trained and logged again" if again else ""),
              file=sys.stderr, flush=True)
    return found


def _unreadable(checkpoint: tf.train.Checkpoint, prefix: str) -> str | None:
    """None when TensorFlow reads the checkpoint at ``prefix`` whole, else which file is damaged and how."""
    try:
        checkpoint.read(prefix).assert_existing_objects_matched()
        return None
    except Exception as exc:  # a cut file gives IndexError, DataLossError, OutOfRangeError... all mean the same
        why = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}"
    try:
        tf.train.load_checkpoint(prefix)  # reads the index alone
        name = ", ".join(sorted(p.name for p in Path(prefix).parent.glob(f"{Path(prefix).name}.data-*")))
    except Exception:
        name = f"{Path(prefix).name}.index"
    return f"{name} is unreadable ({why})"


def _resumed(tracker: tracking.RunTracker, restored: checkpoints.Candidate) -> tuple[int, dict[str, float]]:
    """The restored epoch and its metrics (what the run had spent: images_seen, cpu_seconds); that epoch's metrics
    are logged when the interruption lost them, and the next save goes to the other slot."""
    epoch, metrics_ = restored.epoch, dict(restored.state["metrics"])
    tracker.checkpoint_slot = checkpoints.other_slot(restored.slot)
    if epoch not in tracker.metric_steps(EPOCH_KEY):
        tracker.log_metrics(metrics_, step=epoch)
    print(f"resuming run {tracker.run_id} after epoch {epoch}", flush=True)
    return epoch, metrics_


def resume_config(run_id: str, overrides: dict, root: Path | None = None) -> Config:
    """The config a run was started with; only ``epochs`` may change (to extend a finished run)."""
    _, values = tracking.run_config(run_id, root or paths.repo_root())
    extra = set(overrides) - {"epochs"}
    if extra:
        raise config_mod.ConfigError(f"--resume keeps the run's config; only epochs may be set, not {sorted(extra)}")
    return config_mod.build({**values, **overrides})
