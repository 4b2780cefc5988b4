"""Which llama.cpp build runs: what the About dialog, `desktopchat about` and the status
bar say, and that the engine we compile is the portable one."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest

from desktopchat.core.inference.engine import BackendInfo
from desktopchat.core.inference.llama import LlamaEngine

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_summary_names_the_gpu_backend_and_what_it_found() -> None:
    cuda = BackendInfo(("CUDA", "CPU"), ("NVIDIA GeForce RTX 4090",), ("AVX2", "FMA"))
    assert cuda.accelerator == "CUDA"
    assert cuda.summary() == "CUDA on NVIDIA GeForce RTX 4090, and CPU (AVX2 FMA)"
    no_gpu = BackendInfo(("Vulkan", "CPU"), (), ("AVX2",))
    assert no_gpu.summary() == "Vulkan build, but no usable GPU was found: CPU (AVX2)"
    cpu = BackendInfo(("CPU", "BLAS"), (), ())
    assert cpu.accelerator == "" and cpu.summary() == "CPU"


@pytest.mark.real_model
def test_this_build_is_the_portable_cpu_engine() -> None:
    info = LlamaEngine().backend_info()
    assert info.backends == ("CPU",) and info.gpus == ()
    stamp = Path(sys.prefix) / ".desktopchat-engine"
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
    portable = stamp.is_file() and "-DGGML_NATIVE=OFF -DGGML_AVX=ON" in stamp.read_text()
    if platform.machine() == "x86_64" and portable:
        # AVX2 but not AVX-512 (nor AMX): a build tuned to a machine with AMX crashed here
        assert "AVX2" in info.cpu_features and "AVX512" not in info.cpu_features
    assert 'PORTABLE_CMAKE_ARGS="-DGGML_NATIVE=OFF"' in bootstrap
