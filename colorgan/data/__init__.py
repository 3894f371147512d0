"""Pixels and files: colour spaces, decoding an image, the built-in samples, the data set as tf.data.

The data set is files -> tf.data of (L*, a*b*) with its splits, bad-file skips and grey filter; the one
image decoder and the L*a*b* conversions are shared with serving.
"""
