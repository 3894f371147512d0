"""This host's TensorFlow ceiling: the best GFLOP/s of a 3x3 convolution and of a square matmul, per dtype, over
a few shapes (one shape can fall on a slow kernel path: on a Zen 4, fp32 conv at 128 channels and batch 8 ran at
half the speed of the model's own step), measured."""

from __future__ import annotations

from colorgan.bench.timing import rate

CONV_SHAPES = ((16, 32, 256), (16, 64, 128), (8, 64, 128), (16, 16, 512))  # batch, side, channels (in = out)
MATMUL_SIZES = (1024, 2048)


def measure(dtype: str, steps: int, repeats: int, quick: bool = False) -> dict[str, float | str]:
    """{"conv": GFLOP/s, "conv_shape": the best one, "matmul": GFLOP/s, "matmul_n": n} in ``dtype``."""
    import tensorflow as tf

    rng = tf.random.Generator.from_seed(0)

    def finish(out):
        return float(tf.reduce_sum(tf.cast(out[..., :1], tf.float32)))

    conv = {}
    for batch, side, channels in CONV_SHAPES[-1:] if quick else CONV_SHAPES:
        x = tf.cast(rng.normal((batch, side, side, channels)), dtype)
        w = tf.cast(rng.normal((3, 3, channels, channels)), dtype)
        fn = tf.function(lambda x=x, w=w: tf.nn.conv2d(x, w, 1, "SAME"))
        flops = 2 * batch * side * side * channels * channels * 9
        conv[f"{batch}x{side}x{side}x{channels}"] = flops * rate(fn, finish, steps, repeats) / 1e9
    matmul = {}
    for n in MATMUL_SIZES[:1] if quick else MATMUL_SIZES:
        a = tf.cast(rng.normal((n, n)), dtype)
        matmul[n] = 2 * n**3 * rate(tf.function(lambda a=a: tf.matmul(a, a)), finish, steps, repeats) / 1e9
    best_conv, best_n = max(conv, key=conv.get), max(matmul, key=matmul.get)
    return {"conv": conv[best_conv], "conv_shape": best_conv, "matmul": matmul[best_n], "matmul_n": best_n}
