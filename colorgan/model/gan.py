"""The conditional GAN as a keras.Model: fit() trains it, train_step/test_step share one loss computation."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from colorgan.base.config import Config
from colorgan.data import color
from colorgan.model import losses, networks
from colorgan.scoring import critic, metrics

ADVERSARIAL_LOSSES = ("g_total", "g_gan", "g_recon", "d_loss", "d_loss_real", "d_loss_fake", "d_real", "d_fake")
REGRESSION_LOSSES = ("g_total", "g_recon")
COLOR_LOSS = "g_color"  # DDColor's colourfulness term, tracked in every phase where its weight is above 0
# The losses the reports graph, by report figure, in panel order: each as train/NAME and eval/NAME after each epoch
# ("losses") or curve/train|eval/NAME at each curve point ("loss_curves"). Logged with every evaluation (info.json
# "plots", beside scoring.metrics.PLOTS), so a loss named here is graphed without editing reports/.
PLOTS: dict[str, tuple[str, ...]] = {
    "losses": ("g_total", "d_loss"),
    "loss_curves": ("g_gan", "g_recon", "d_loss_real", "d_loss_fake"),
}


class ColorGAN(keras.Model):
    """Trains the networks it is given (keras-io's ConditionalGAN way): a generator L -> colour channels and a
    conditional critic of (L, colour); with ``discriminator=None`` it is the lambda*L1 regression baseline.

    ``pretraining`` (set through ``start_phase``) leaves the critic out of every step: the generator alone on
    lambda*recon. With ``ema_decay`` > 0 a shadow copy of the generator holds the exponential moving average of
    its weights, and everything that infers (test_step, ``inference_generator``) uses the shadow."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model | None, *, color_space: str,
                 recon_loss: str, lambda_recon: float, label_smoothing: float, smoothing_mode: str,
                 ema_decay: float = 0.0, recon_weights=None, critic_batches: str = "joint",
                 colorfulness_weight: float = 0.0, critic_real_saturation: float = 1.0,
                 colorfulness_loss: str = "ddcolor", **kwargs):
        super().__init__(**kwargs)
        # The rebalancing table (losses.rebalance_weights), a non-trainable variable so checkpoints carry it.
        self.recon_weights = None if recon_weights is None else keras.Variable(
            np.asarray(recon_weights, np.float32), trainable=False, name="recon_weights")
        self.generator = generator
        self.discriminator = discriminator
        self.color_space = color_space
        self.recon_loss, self.lambda_recon = recon_loss, lambda_recon
        self.label_smoothing, self.smoothing_mode = label_smoothing, smoothing_mode
        self.critic_batches = critic_batches
        self.colorfulness_weight, self.critic_real_saturation = colorfulness_weight, critic_real_saturation
        self.colorfulness_loss = colorfulness_loss
        self.pretraining = False
        self.ema_decay = ema_decay
        self.ema_generator = _shadow(generator) if ema_decay > 0 else None
        names = (ADVERSARIAL_LOSSES if discriminator is not None else REGRESSION_LOSSES) + self._color_names
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self._phase_steps: dict[bool, dict] = {}  # pretraining flag -> that phase's traced step functions

    def compile(self, g_optimizer, d_optimizer=None, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    @property
    def adversarial_now(self) -> bool:
        """Whether the critic takes part in this phase's steps and losses."""
        return self.discriminator is not None and not self.pretraining

    @property
    def loss_names(self) -> tuple[str, ...]:
        """The losses this phase has: a pre-training epoch has no critic, so no d_loss (nor g_gan) to log."""
        return (ADVERSARIAL_LOSSES if self.adversarial_now else REGRESSION_LOSSES) + self._color_names

    @property
    def _color_names(self) -> tuple[str, ...]:
        return (COLOR_LOSS,) if self.colorfulness_weight > 0 else ()

    @property
    def metrics(self):
        return [self.trackers[name] for name in self.loss_names]

    @property
    def inference_generator(self) -> keras.Model:
        """The generator to evaluate, draw samples with and log: the EMA shadow when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def start_phase(self, pretraining: bool) -> None:
        """Enter pre-training or the GAN. The steps read the flag when traced, so each phase has its own step
        functions: traced on the phase's first entry, then kept (tracing costs seconds on a small CPU, and a
        study's worker trains model after model of the same graph: process_cache.REUSABLE_MODEL)."""
        self.pretraining = pretraining
        kept = self._phase_steps.get(pretraining)
        if kept is None:
            self.make_train_function(force=True)
            self.make_test_function(force=True)
            kept = self._phase_steps[pretraining] = {
                "train": self.train_function, "test": self.test_function,
                "eval": tf.function(self.test_step, reduce_retracing=True)}
        self.train_function, self.test_function = kept["train"], kept["test"]

    def eval_step(self):
        """This phase's ``test_step`` as a tf.function (epoch.evaluate_split and the curve points share it)."""
        if self.pretraining not in self._phase_steps:
            self.start_phase(self.pretraining)
        return self._phase_steps[self.pretraining]["eval"]

    def take_state_of(self, fresh: ColorGAN) -> None:
        """Become ``fresh`` (a model just built with the same graph): its variables (networks, EMA shadow, seed
        states, the rebalancing table, the trackers), the optimizers back to step 0 with empty moments. The step
        functions traced for this model stay valid: they read these variables, whose values are all replaced."""
        # variables, not weights: Keras' weights leave out the dropout layers' seed states and the trackers' state
        pairs = list(zip(self.variables, fresh.variables, strict=True))
        if any(mine.shape != theirs.shape or mine.dtype != theirs.dtype for mine, theirs in pairs):
            raise ValueError("take_state_of: the fresh model's variables do not line up with this one's")
        for mine, theirs in pairs:
            mine.assign(theirs.value)
        for optimizer in (self.g_optimizer, self.d_optimizer):
            for variable in (optimizer.variables if optimizer is not None else ()):
                variable.assign(tf.zeros(variable.shape, variable.dtype))
        self.pretraining = False

    def call(self, l_in, training=False):
        return (self.generator if training else self.inference_generator)(l_in, training=training)

    def critic_logits(self, l_in, target, fake, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """(logits on the real photos, logits on the generated ones). ``critic_batches = "joint"``: one call on the
        two stacked, so a training-mode BatchNorm normalises both kinds with the same statistics; "separate" (the
        report's): one call each, whose batch statistics alone tell the kinds apart (docs/results/critic.md). The real
        photos' a*b* are saturated by ``critic_real_saturation`` first, in training and in the skill measured."""
        target = losses.saturate_ab(target, self.critic_real_saturation)
        if self.critic_batches == "separate":
            return (self.discriminator([l_in, target], training=training),
                    self.discriminator([l_in, fake], training=training))
        both = self.discriminator([tf.concat([l_in, l_in], 0),
                                   tf.concat([tf.cast(target, fake.dtype), fake], 0)], training=training)
        n = tf.shape(l_in)[0]
        return both[:n], both[n:]

    def compute_losses(self, l_in, target, training: bool) -> tuple[dict[str, tf.Tensor], tf.Tensor, dict]:
        """Every loss of one batch, the generator's output and the critic's per-photo scores (critic.SCORES: its
        mean logit on each real and each generated photo; {} without a critic in this phase); the single source
        for train and test."""
        fake = (self.generator if training else self.inference_generator)(l_in, training=training)
        recon = losses.reconstruction_loss(target, fake, self.recon_loss, self.recon_weights)
        out = {"g_recon": recon}
        g_total = self.lambda_recon * recon
        if self.colorfulness_weight > 0:
            photo = color.decode(l_in, target, self.color_space) if self.colorfulness_loss == "match" else None
            out[COLOR_LOSS] = losses.colorfulness_loss(color.decode(l_in, fake, self.color_space), photo,
                                                       self.colorfulness_loss)
            g_total += self.colorfulness_weight * out[COLOR_LOSS]
        if not self.adversarial_now:
            out["g_total"] = g_total
            return out, fake, {}
        real_logits, fake_logits = self.critic_logits(l_in, target, fake, training)
        out["g_gan"] = losses.adversarial_loss(fake_logits)
        out["g_total"] = out["g_gan"] + g_total
        out["d_loss_real"], out["d_loss_fake"] = losses.discriminator_parts(real_logits, fake_logits,
                                                                             self.label_smoothing, self.smoothing_mode)
        out["d_loss"] = 0.5 * (out["d_loss_real"] + out["d_loss_fake"])  # losses.discriminator_loss
        # Mean D(real) and D(fake) probabilities: the first thing to look at when a GAN misbehaves (the mean of the
        # per-photo means, every photo having the same number of patches).
        scores = critic.photo_scores(real_logits, fake_logits)
        out["d_real"] = tf.reduce_mean(scores["critic_real_p"])
        out["d_fake"] = tf.reduce_mean(scores["critic_fake_p"])
        return out, fake, scores

    def _track(self, values: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        for name in self.loss_names:
            self.trackers[name].update_state(values[name])
        return {name: self.trackers[name].result() for name in self.loss_names}

    def train_step(self, data):
        l_in, target = data
        with tf.GradientTape(persistent=True) as tape:
            values, _, _ = self.compute_losses(l_in, target, training=True)
        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(values["g_total"], g_vars), g_vars, strict=True))
        if self.adversarial_now:
            # D's loss sees G's output, but only D's variables move here, so one forward pass serves both.
            d_vars = self.discriminator.trainable_variables
            self.d_optimizer.apply_gradients(zip(tape.gradient(values["d_loss"], d_vars), d_vars, strict=True))
        del tape
        if self.ema_generator is not None:
            self._update_ema()
        return self._track(values)

    def _update_ema(self) -> None:
        """shadow <- d*shadow + (1-d)*weights after each generator step, for every float weight: the trainable
        ones and BatchNorm's moving statistics (and spectral norm's u), so the statistics that normalise the
        averaged weights come from the same stretch of training as those weights. The decay ramps up as
        min(ema_decay, (t-1)/(t+9)) over the generator's steps t (TF's ExponentialMovingAverage num_updates):
        the first step copies the generator (so a warm start is taken over, never averaged with the random
        initialisation) and a short run is not dominated by its early weights. t is the optimizer's step
        count, which the checkpoint restores, so a resumed run continues the same average."""
        step = tf.cast(self.g_optimizer.iterations, tf.float32)
        decay = tf.minimum(tf.constant(self.ema_decay, tf.float32), (step - 1.0) / (step + 9.0))
        for shadow, weight in _ema_pairs(self.ema_generator, self.generator):
            shadow.assign(decay * shadow.value + (1.0 - decay) * weight.value)

    def test_step(self, data) -> dict[str, dict[str, tf.Tensor]]:
        """One inference-mode batch: ``{"losses": batch means, "scores": per-image quality vs the original}``.

        It returns the batch's own figures instead of running means, so that evaluation (epoch.evaluate_split)
        can weight the losses by batch size and pool the per-image scores over a whole split."""
        l_in, target = data
        values, fake, critic_scores = self.compute_losses(l_in, target, training=False)
        pred_rgb = color.decode(l_in, fake, self.color_space)
        true_rgb = color.decode(l_in, target, self.color_space)
        return {"losses": values, "scores": {**metrics.image_scores(pred_rgb, true_rgb), **critic_scores}}

    def critic_scores(self, data) -> dict[str, tf.Tensor]:
        """The critic's per-photo scores (critic.photo_scores) on a batch and on the generator's colouring of it, in
        inference mode: what its held-out skill is measured from."""
        l_in, target = data
        fake = self.inference_generator(l_in, training=False)
        return critic.photo_scores(*self.critic_logits(l_in, target, fake, training=False))

    def critic_step(self, data) -> dict[str, tf.Tensor]:
        """One step of the critic alone against the frozen generator's inference-mode output (DeOldify's critic
        pre-training, colorgan.scoring.critic): the generator's weights and statistics do not move."""
        l_in, target = data
        fake = tf.stop_gradient(self.inference_generator(l_in, training=False))
        with tf.GradientTape() as tape:
            real_logits, fake_logits = self.critic_logits(l_in, target, fake, training=True)
            d_real, d_fake = losses.discriminator_parts(real_logits, fake_logits, self.label_smoothing,
                                                        self.smoothing_mode)
            d_loss = 0.5 * (d_real + d_fake)
        d_vars = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars, strict=True))
        return {"d_loss": d_loss}


def _shadow(generator: keras.Model) -> keras.Model:
    """A copy of the generator (same architecture from its config, same weights) to hold the moving average."""
    shadow = keras.models.clone_model(generator)
    shadow.set_weights(generator.get_weights())
    return shadow


def _ema_pairs(shadow: keras.Model, generator: keras.Model) -> list[tuple]:
    """(shadow variable, generator variable) for every float weight, trainable or not; seeds are left out."""
    pairs = [(s, w) for s, w in zip(shadow.weights, generator.weights, strict=True)
             if tf.as_dtype(w.dtype).is_floating]
    if any(s.shape != w.shape for s, w in pairs):
        raise ValueError("the EMA shadow's weights do not line up with the generator's")
    return pairs


def make_optimizer(learning_rate: float, beta1: float) -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta1)


def build_colorgan(cfg: Config, recon_weights=None) -> ColorGAN:
    """A compiled model ready for fit(): the networks from networks.build, each with its own Adam (shared beta1).
    ``recon_weights``: the a*b* weight table that ``recon_weighting = "rebalance"`` needs (train.run_training
    makes it)."""
    if (cfg.recon_weighting == "rebalance") != (recon_weights is not None):
        raise ValueError(f"recon_weighting = {cfg.recon_weighting!r} and a weight table "
                         f"{'missing' if recon_weights is None else 'given'}: pass one exactly for 'rebalance'")
    generator, discriminator = networks.build(cfg)
    model = ColorGAN(generator, discriminator, color_space=cfg.color_space, recon_loss=cfg.recon_loss,
                     lambda_recon=cfg.lambda_recon, label_smoothing=cfg.label_smoothing,
                     smoothing_mode=cfg.smoothing_mode, ema_decay=cfg.ema_decay, recon_weights=recon_weights,
                     critic_batches=cfg.critic_batches, colorfulness_weight=cfg.colorfulness_weight,
                     critic_real_saturation=cfg.critic_real_saturation, colorfulness_loss=cfg.colorfulness_loss)
    model.compile(
        g_optimizer=make_optimizer(cfg.lr_g, cfg.beta1),
        d_optimizer=make_optimizer(cfg.lr_d, cfg.beta1) if discriminator is not None else None,
        jit_compile=cfg.jit_compile,
    )
    return model
