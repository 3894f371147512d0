"""The conditional GAN as a keras.Model: fit() trains it, train_step/test_step share one loss computation."""

from __future__ import annotations

import keras
import tensorflow as tf

from colorgan import color, losses, metrics, networks
from colorgan.config import Config

ADVERSARIAL_LOSSES = ("g_total", "g_gan", "g_recon", "d_loss", "d_real", "d_fake")
REGRESSION_LOSSES = ("g_total", "g_recon")


class ColorGAN(keras.Model):
    """U-Net generator + PatchGAN critic; with ``adversarial=False`` it is the lambda*L1 regression baseline."""

    def __init__(self, cfg: Config, **kwargs):
        super().__init__(**kwargs)
        self.cfg = cfg
        out = color.channels(cfg.color_space)
        g_power = cfg.power_iterations if cfg.spectral_norm_on == "both" else 0
        self.generator = networks.build_generator(cfg.image_size, out, cfg.dropout, g_power)
        self.discriminator = (networks.build_discriminator(cfg.image_size, out, cfg.power_iterations)
                              if cfg.adversarial else None)
        self.loss_names = ADVERSARIAL_LOSSES if cfg.adversarial else REGRESSION_LOSSES
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.loss_names}

    def compile(self, g_optimizer, d_optimizer=None, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, l_in, training=False):
        return self.generator(l_in, training=training)

    def compute_losses(self, l_in, target, training: bool) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """Every loss of one batch, and the generator's output; the single source for train and test."""
        cfg = self.cfg
        fake = self.generator(l_in, training=training)
        recon = losses.reconstruction_loss(target, fake, cfg.recon_loss)
        out = {"g_recon": recon}
        if not cfg.adversarial:
            out["g_total"] = cfg.lambda_recon * recon
            return out, fake
        real_logits = self.discriminator([l_in, target], training=training)
        fake_logits = self.discriminator([l_in, fake], training=training)
        out["g_gan"] = losses.adversarial_loss(fake_logits)
        out["g_total"] = out["g_gan"] + cfg.lambda_recon * recon
        out["d_loss"] = losses.discriminator_loss(real_logits, fake_logits, cfg.label_smoothing, cfg.smoothing_mode)
        # Mean D(real) and D(fake) probabilities: the first thing to look at when a GAN misbehaves.
        out["d_real"] = tf.reduce_mean(tf.sigmoid(tf.cast(real_logits, tf.float32)))
        out["d_fake"] = tf.reduce_mean(tf.sigmoid(tf.cast(fake_logits, tf.float32)))
        return out, fake

    def _track(self, values: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        for name in self.loss_names:
            self.trackers[name].update_state(values[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        l_in, target = data
        with tf.GradientTape(persistent=True) as tape:
            values, _ = self.compute_losses(l_in, target, training=True)
        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(values["g_total"], g_vars), g_vars, strict=True))
        if self.cfg.adversarial:
            # D's loss sees G's output, but only D's variables move here, so one forward pass serves both.
            d_vars = self.discriminator.trainable_variables
            self.d_optimizer.apply_gradients(zip(tape.gradient(values["d_loss"], d_vars), d_vars, strict=True))
        del tape
        return self._track(values)

    def test_step(self, data):
        l_in, target = data
        values, _ = self.compute_losses(l_in, target, training=False)
        return self._track(values)

    def evaluate_batch(self, l_in, target) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        """Inference-mode losses and per-image quality scores (RGB vs the original) of one batch."""
        values, fake = self.compute_losses(l_in, target, training=False)
        pred_rgb = color.decode(l_in, fake, self.cfg.color_space)
        true_rgb = color.decode(l_in, target, self.cfg.color_space)
        return values, metrics.image_scores(pred_rgb, true_rgb)


def make_optimizer(learning_rate: float, beta1: float) -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta1)


def build(cfg: Config) -> ColorGAN:
    """A compiled model ready for fit(): each network gets its own Adam, sharing beta1."""
    model = ColorGAN(cfg)
    model.compile(
        g_optimizer=make_optimizer(cfg.lr_g, cfg.beta1),
        d_optimizer=make_optimizer(cfg.lr_d, cfg.beta1) if cfg.adversarial else None,
        jit_compile=cfg.jit_compile,
    )
    return model
