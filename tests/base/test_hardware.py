"""precision = "auto": bfloat16 only where the hardware runs it natively, and the run records what it used; a
logged model asks for the TensorFlow build it was trained with."""

from __future__ import annotations

import pytest

from colorgan.base import hardware

ZEN4 = frozenset(["fpu", "sse2", "avx2", "avx512f", "avx512bw", "avx512_bf16", "avx512_vnni"])
SAPPHIRE_RAPIDS = frozenset(["avx2", "avx512f", "amx_bf16", "amx_tile", "amx_int8"])
AVX2_ONLY = frozenset(["fpu", "sse2", "avx", "avx2", "fma", "f16c"])


@pytest.mark.parametrize("flags, gpus, expected, said", [
    (ZEN4, 0, "bf16", "AVX512_BF16"),
    (SAPPHIRE_RAPIDS, 0, "bf16", "AMX_BF16"),
    (AVX2_ONLY, 0, "fp32", "emulated"),
    (frozenset(), 0, "fp32", "emulated"),
    (AVX2_ONLY, 1, "bf16", "1 GPU"),
])
def test_auto_picks_bf16_only_where_it_is_native(flags, gpus, expected, said):
    precision, why = hardware.resolve_precision("auto", flags, gpus)
    assert precision == expected and said in why


@pytest.mark.parametrize("requested", ["fp32", "bf16"])
def test_an_explicit_precision_is_kept_on_any_hardware(requested):
    for flags in (ZEN4, AVX2_ONLY):
        assert hardware.resolve_precision(requested, flags) == (requested, "set in the config")


def test_cpu_flags_read_the_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu AVX2 avx512_bf16\n\nprocessor\t: 1\n")
    assert hardware.cpu_flags(info) == {"fpu", "avx2", "avx512_bf16"}
    assert hardware.cpu_model(info) == "AMD EPYC"
    assert hardware.cpu_flags(tmp_path / "absent") == frozenset()
    assert hardware.resolve_precision("auto", hardware.cpu_flags(tmp_path / "absent"))[0] == "fp32"


def test_a_logged_model_asks_for_the_tensorflow_build_this_environment_has(monkeypatch):
    """The CPU build here (requirements.lock); the CUDA build once `make setup GPU=1` swapped it in; one line when
    neither is installed. The GPU host is played by hiding tensorflow-cpu from the package metadata."""
    from importlib import metadata

    import tensorflow as tf

    assert hardware.tensorflow_requirement() == f"tensorflow-cpu=={tf.__version__}"
    real = metadata.version

    def without(*hidden):
        def version(name):
            if name in hidden:
                raise metadata.PackageNotFoundError(name)
            return tf.__version__ if name == "tensorflow" else real(name)
        return version

    monkeypatch.setattr(metadata, "version", without("tensorflow-cpu"))
    assert hardware.tensorflow_requirement() == f"tensorflow=={tf.__version__}"
    monkeypatch.setattr(metadata, "version", without("tensorflow-cpu", "tensorflow"))
    with pytest.raises(RuntimeError, match="none of tensorflow-cpu, tensorflow is installed"):
        hardware.tensorflow_requirement()
