"""One configuration (image size, precision), in its own process since the precision policy is global: the
training step's FLOPs per image (TF profiler), the harness step and the reference step on synthetic batches,
and ``fit`` on real data (each epoch's images/s; the share of a later epoch not in the step; the input pipeline
alone)."""

from __future__ import annotations

import statistics
import time

import keras
import tensorflow as tf

from colorgan.base import config, paths
from colorgan.bench import reference
from colorgan.bench.timing import interleaved, rate
from colorgan.data import datasets
from colorgan.model import gan


def profiled_flops(model: gan.ColorGAN, batch: int, size: int) -> float:
    """FLOPs of one harness training step (forward, backward, both networks), counted by TF's profiler over the
    step's graph (every Conv2D, its two backprop ops, MatMul, ...), divided by the batch: per image."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    spec = (tf.TensorSpec((batch, size, size, 1)), tf.TensorSpec((batch, size, size, 2)))
    graph = tf.function(model.train_step).get_concrete_function(spec).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return model_analyzer.profile(graph, options=options).total_float_ops / batch


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def pipeline_rate(dataset: tf.data.Dataset, repeats: int) -> float:
    """Images/s of the input pipeline alone (after fit: decoded and cached; crop, flip, encode), the median of
    ``repeats`` passes."""
    rates = []
    for _ in range(repeats):
        start, count = time.perf_counter(), 0
        for l_in, _ in dataset:
            count += int(l_in.shape[0])
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def measure(size: int, precision: str, batch: int, steps: int, repeats: int, epochs: int,
            threads_only: bool = False) -> dict:
    """Every figure of one table row. ``threads_only``: the harness step alone (the one-thread figure)."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bf16" else "float32")
    keras.utils.set_random_seed(0)
    fit_images = batch * max(steps, 30)  # 30 steps an epoch: long enough for an epoch's time to mean something
    cfg = config.build({"image_size": size, "precision": precision, "batch_size": batch,
                        "max_train_images": fit_images, "max_eval_images": batch, "epochs": epochs})
    model = gan.build_colorgan(cfg)
    rng = tf.random.Generator.from_seed(0)
    l_in = rng.uniform((batch, size, size, 1), -1, 1)
    target = rng.uniform((batch, size, size, 2), -1, 1)
    harness = tf.function(model.train_step)
    calls = {"harness": lambda: harness((l_in, target))["g_total"]}
    if threads_only:
        return {"harness": batch * rate(calls["harness"], float, steps, repeats)}
    flops = profiled_flops(model, batch, size)
    plain = reference.make_step(model.generator, model.discriminator, cfg.lambda_recon, cfg.label_smoothing,
                                cfg.lr_g, cfg.lr_d, cfg.beta1)
    # The two steps take turns, repeat by repeat: their ratio is then measured on the same machine state.
    rates = interleaved({**calls, "reference": lambda: plain(l_in, target)}, float, steps, repeats)
    harness_rate, reference_rate = (batch * statistics.median(rates[k]) for k in ("harness", "reference"))
    ratio = statistics.median(h / r for h, r in zip(rates["harness"], rates["reference"], strict=True))

    bundle = datasets.load(cfg, paths.repo_root())
    fitted = gan.build_colorgan(cfg)
    timer = EpochTimer()
    fitted.fit(bundle.train, epochs=epochs, verbose=0, callbacks=[timer])
    n_train = bundle.info["n_train"]
    fit_rates = [n_train / s for s in timer.seconds]
    later = statistics.median(fit_rates[1:])  # epoch 1 decodes the photos and traces the step
    return {"image_size": size, "precision": precision, "batch_size": batch, "steps": steps, "repeats": repeats,
            "flops_per_image": flops, "harness": harness_rate, "reference": reference_rate, "harness_ratio": ratio,
            "fit_epochs": fit_rates, "fit_images": n_train, "pipeline": pipeline_rate(bundle.train, repeats),
            "input_share": max(0.0, 1.0 - later / harness_rate)}
