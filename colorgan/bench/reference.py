"""A plain Keras GAN step of the same two networks: two tapes, no trackers, no EMA, no extras. The bench times
the harness's ``ColorGAN.train_step`` against it; it is a measuring stick and never trains a tracked model."""

from __future__ import annotations

import keras
import tensorflow as tf


def make_step(generator: keras.Model, discriminator: keras.Model, lambda_recon: float, smoothing: float,
              lr_g: float, lr_d: float, beta1: float):
    g_opt = keras.optimizers.Adam(lr_g, beta_1=beta1)
    d_opt = keras.optimizers.Adam(lr_d, beta_1=beta1)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def step(l_in, target):
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = generator(l_in, training=True)
            real_logits = tf.cast(discriminator([l_in, target], training=True), tf.float32)
            fake_logits = tf.cast(discriminator([l_in, fake], training=True), tf.float32)
            recon = tf.reduce_mean(tf.abs(tf.cast(target, tf.float32) - tf.cast(fake, tf.float32)))
            g_loss = bce(tf.ones_like(fake_logits), fake_logits) + lambda_recon * recon
            d_loss = (bce(tf.fill(tf.shape(real_logits), 1.0 - smoothing), real_logits)
                      + bce(tf.zeros_like(fake_logits), fake_logits))
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, generator.trainable_variables),
                                  generator.trainable_variables, strict=True))
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables, strict=True))
        return g_loss

    return step
