"""Which llama.cpp build runs, and the GPUs it can offload to, asked of ggml itself.

llama-cpp-python does not bind ggml's backend and device registry, so ``BackendProbe``
opens the ggml library llama.cpp already loaded with ctypes. It answers from any thread
(the engine process asks from its probe thread while a reply streams).
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from pathlib import Path
from typing import Any

from desktopchat.core.inference.engine import BackendInfo
from desktopchat.core.inference.llama.native import NativeLlama
from desktopchat.core.models.fit import GpuDevice

log = logging.getLogger("desktopchat.llama")

# ggml_backend_dev_type: CPU, GPU, integrated GPU, accelerator
_GPU_DEVICE_TYPES = (1, 2)
# The instruction sets worth naming from llama_print_system_info (it lists many more).
_CPU_FEATURES = ("AVX", "AVX2", "AVX512", "AVX_VNNI", "FMA", "F16C", "NEON", "SVE", "DOTPROD")


class BackendProbe:
    """Backends, CPU features and GPUs of the llama.cpp that ``native`` loads. The build
    never changes while the process runs, so its BackendInfo is kept; free GPU memory
    does change, so ``gpu_devices`` asks every time."""

    def __init__(self, native: NativeLlama) -> None:
        self._native = native
        self._lock = threading.Lock()
        self._info: BackendInfo | None = None
        self._ggml: Any = None

    def backend_info(self) -> BackendInfo:
        with self._lock:
            if self._info is None:
                self._info = self._probe_build()
            return self._info

    def gpu_devices(self) -> list[GpuDevice]:
        """The GPUs this build can use, with their free memory; empty for a CPU build
        (what pip installs by default) or a machine without a GPU."""
        if not self._native.supports_gpu_offload():
            return []
        try:
            ggml = self._library()
        except (OSError, AttributeError) as exc:
            log.warning("cannot list GPU devices: %s", exc)
            return []
        devices = []
        for index in range(ggml.ggml_backend_dev_count()):
            device = ggml.ggml_backend_dev_get(index)
            if ggml.ggml_backend_dev_type(device) not in _GPU_DEVICE_TYPES:
                continue
            free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
            ggml.ggml_backend_dev_memory(device, ctypes.byref(free), ctypes.byref(total))
            name = (ggml.ggml_backend_dev_description(device) or b"GPU").decode("utf-8", "replace")
            devices.append(GpuDevice(name, int(free.value), int(total.value)))
        return devices

    def _probe_build(self) -> BackendInfo:
        system = self._native.system_info()
        flags = {
            part.split("=")[0].strip() for part in system.split("|") if part.strip().endswith("= 1")
        }
        features = tuple(f for f in _CPU_FEATURES if f in flags)
        try:
            ggml = self._library()
            names = [
                ggml.ggml_backend_reg_name(ggml.ggml_backend_reg_get(i)).decode("utf-8", "replace")
                for i in range(ggml.ggml_backend_reg_count())
            ]
        except (OSError, AttributeError) as exc:
            log.warning("cannot list llama.cpp backends: %s", exc)
            names = ["CPU"]
        gpus = tuple(d.name for d in self.gpu_devices())
        return BackendInfo(tuple(names), gpus, features, self._native.version())

    def _library(self) -> Any:
        if self._ggml is None:
            self._ggml = _ggml_library(Path(self._native.package_file()).parent / "lib")
        return self._ggml


def _ggml_library(folder: Path) -> Any:
    """The ggml library llama.cpp already loaded. By its SONAME first: in a PyInstaller
    bundle llama_cpp/lib/libggml.so is a copy, not a link, of the file the loader chose,
    and opening it by path would load a second ggml with its own device registry."""
    ggml = None
    if hasattr(os, "RTLD_NOLOAD"):
        try:
            ggml = ctypes.CDLL("libggml.so.0", mode=os.RTLD_NOLOAD)
        except OSError:
            ggml = None
    if ggml is None:
        names = ("libggml.so", "libggml.dylib", "ggml.dll")
        path = next((folder / n for n in names if (folder / n).exists()), None)
        if path is None:
            raise OSError(f"no ggml library in {folder}")
        ggml = ctypes.CDLL(str(path))
    ggml.ggml_backend_reg_count.restype = ctypes.c_size_t
    ggml.ggml_backend_reg_get.restype = ctypes.c_void_p
    ggml.ggml_backend_reg_get.argtypes = [ctypes.c_size_t]
    ggml.ggml_backend_reg_name.restype = ctypes.c_char_p
    ggml.ggml_backend_reg_name.argtypes = [ctypes.c_void_p]
    ggml.ggml_backend_dev_count.restype = ctypes.c_size_t
    ggml.ggml_backend_dev_get.restype = ctypes.c_void_p
    ggml.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    ggml.ggml_backend_dev_type.restype = ctypes.c_int
    ggml.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    ggml.ggml_backend_dev_description.restype = ctypes.c_char_p
    ggml.ggml_backend_dev_description.argtypes = [ctypes.c_void_p]
    ggml.ggml_backend_dev_memory.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.POINTER(ctypes.c_size_t),
    ]
    return ggml
