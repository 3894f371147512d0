"""This host's TensorFlow ceiling: GFLOP/s of a 3x3 convolution and of a square matmul, per dtype, measured."""

from __future__ import annotations

from colorgan.bench.timing import rate

SHAPES = (8, 64, 128, 2048)  # conv: batch, size, channels (in = out); matmul: n. Large enough to reach the peak


def measure(dtype: str, steps: int, repeats: int) -> dict[str, float]:
    """{"conv": GFLOP/s, "matmul": GFLOP/s} in ``dtype`` ("float32" or "bfloat16")."""
    import tensorflow as tf

    batch, size, channels, n = SHAPES
    rng = tf.random.Generator.from_seed(0)
    x = tf.cast(rng.normal((batch, size, size, channels)), dtype)
    w = tf.cast(rng.normal((3, 3, channels, channels)), dtype)
    a = tf.cast(rng.normal((n, n)), dtype)
    conv = tf.function(lambda: tf.nn.conv2d(x, w, 1, "SAME"))
    matmul = tf.function(lambda: tf.matmul(a, a))
    conv_flops = 2 * batch * size * size * channels * channels * 9
    matmul_flops = 2 * n**3

    def finish(out):
        return float(tf.reduce_sum(tf.cast(out[..., :1], tf.float32)))

    return {"conv": conv_flops * rate(conv, finish, steps, repeats) / 1e9,
            "matmul": matmul_flops * rate(matmul, finish, steps, repeats) / 1e9}
