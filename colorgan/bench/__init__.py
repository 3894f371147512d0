"""The benchmarks: how fast the harness trains and serves on this host, against what the host can do.

`make bench`: how fast the harness trains, against what the host can do.

One table from one run (``__main__``): the CPU and its flags; its ceiling (``ceiling``: 3x3 convolution and
matmul, measured here); per image size and natively-run precision the training step's FLOPs per image (TF
profiler, ``step``), the harness step's images/s, GFLOP/s and % of the ceiling, a plain reference step of the
same networks (``reference``: a measuring stick, not a product path), and ``fit`` on real data with the input
pipeline's share and each epoch's speed. Every figure is the median of ``repeats`` timings of ``steps`` steps.
"""
