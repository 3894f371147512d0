"""What this machine runs natively, for ``precision = "auto"``: bfloat16 where the hardware has it (a GPU, or a
CPU with AVX512_BF16 or AMX-BF16), float32 elsewhere, since emulated bfloat16 is about 10x slower than float32
(measured on an AVX2-only CPU; docs/results/measurements.md).

Reads /proc/cpuinfo's flags (Linux; elsewhere no flags, so float32) and is told the GPU count by the caller, so
it stays free of TensorFlow and can be tested on any flag set. Which TensorFlow build is installed (CPU or CUDA)
is read from the package metadata, for the requirements a logged model names.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
TENSORFLOW_BUILDS = ("tensorflow-cpu", "tensorflow")  # the CPU build (requirements.lock), the CUDA one (GPU=1)
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo's names for native bfloat16 arithmetic


def _first(keys: tuple[str, ...], cpuinfo: Path) -> str | None:
    """The first processor's value for one of ``keys``; None where /proc/cpuinfo is absent or lacks them."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in keys:
            return value.strip()
    return None


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The first processor's flags, lower case; empty where /proc/cpuinfo is absent or unreadable."""
    return frozenset((_first(("flags", "Features"), cpuinfo) or "").lower().split())


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's model name as lscpu shows it, or what Python knows where /proc/cpuinfo has none."""
    import platform

    return _first(("model name",), cpuinfo) or platform.processor() or "unknown CPU"


def resolve_precision(requested: str, flags: frozenset[str] | None = None, gpus: int = 0) -> tuple[str, str]:
    """(fp32 | bf16, why): ``auto`` picks bf16 only where it runs natively; an explicit choice is kept."""
    if requested != "auto":
        return requested, "set in the config"
    if gpus:
        return "bf16", f"auto: {gpus} GPU{'s' if gpus > 1 else ''} (bfloat16 in hardware)"
    flags = cpu_flags() if flags is None else flags
    native = [f for f in BF16_FLAGS if f in flags]
    if native:
        return "bf16", f"auto: this CPU has {', '.join(f.upper() for f in native)} (bfloat16 in hardware)"
    return "fp32", "auto: this CPU has no AVX512_BF16 or AMX-BF16, so bfloat16 would be emulated (about 10x slower)"


def tensorflow_requirement() -> str:
    """The TensorFlow build this environment has, pinned (``tensorflow-cpu==2.21.0``, or ``tensorflow==2.21.0``
    after ``make setup GPU=1``), for the requirements of a logged model: a model trained on a GPU host then asks
    for the GPU build where it is served, not the CPU one."""
    for name in TENSORFLOW_BUILDS:
        try:
            return f"{name}=={metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    raise RuntimeError(f"none of {', '.join(TENSORFLOW_BUILDS)} is installed")
