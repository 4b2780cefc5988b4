"""The fit planner against hand-made headers of 7B/8B-class models, with the memory their
published shapes imply worked out by hand, and the load-time retry with fewer GPU layers
(decided by the engine's own reading of the lines llama.cpp logs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np
import pytest

from desktopchat.core.inference.llama import LlamaEngine
from desktopchat.core.inference.llama.native import LogRouter, NativeLlama
from desktopchat.core.models.fit import (
    GPU_RESERVE_BYTES,
    OVERHEAD_BYTES,
    GpuDevice,
    OffloadPlan,
    estimate,
    load_with_fallback,
    plan_offload,
    verdict,
)
from desktopchat.core.models.gguf import GGUFInfo, parse_header

MIB = 1 << 20
GIB = 1 << 30
Q8_0 = gguf.GGMLQuantizationType.Q8_0


def q8_bytes(rows: int, columns: int) -> int:
    return rows * columns // 32 * 34  # 34 bytes hold 32 values


def header_only(
    path: Path,
    *,
    layers: int,
    embedding: int,
    heads: int,
    kv_heads: int,
    feed_forward: int,
    vocab: int,
    context: int,
) -> tuple[GGUFInfo, int]:
    """A llama-style GGUF header (the tensor list with Q8_0 sizes, no tensor data), read
    as the model manager reads a remote file: its first bytes and the file's full size.
    Returns the header and the bytes of one layer's weights."""
    kv = embedding // heads * kv_heads
    shapes = {
        "attn_q": (embedding, embedding),
        "attn_k": (kv, embedding),
        "attn_v": (kv, embedding),
        "attn_output": (embedding, embedding),
        "ffn_gate": (feed_forward, embedding),
        "ffn_up": (feed_forward, embedding),
        "ffn_down": (embedding, feed_forward),
    }
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(layers)
    writer.add_context_length(context)
    writer.add_embedding_length(embedding)
    writer.add_feed_forward_length(feed_forward)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    tensors = {"token_embd.weight": (vocab, embedding), "output.weight": (vocab, embedding)}
    for index in range(layers):
        for name, shape in shapes.items():
            tensors[f"blk.{index}.{name}.weight"] = shape
    total = 0
    for name, (rows, columns) in tensors.items():
        size = q8_bytes(rows, columns)
        total += size
        byte_shape = (rows, columns // 32 * 34)  # the writer takes Q8_0 rows in bytes
        writer.add_tensor_info(name, byte_shape, np.dtype(np.uint8), size, raw_dtype=Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    data = path.read_bytes()
    # Every tensor here is a multiple of 32 bytes: the data section is exactly their sum.
    data_offset = -(-len(data) // 32) * 32
    info = parse_header(data, data_offset + total, path.name)
    per_layer = sum(q8_bytes(*shape) for shape in shapes.values())
    return info, per_layer


@pytest.fixture
def llama3_8b(tmp_path: Path) -> tuple[GGUFInfo, int]:
    """Llama 3 8B's shapes: 32 layers, 32 heads, 8 KV heads of 128, FFN 14336."""
    return header_only(
        tmp_path / "llama3-8b.Q8_0.gguf",
        layers=32,
        embedding=4096,
        heads=32,
        kv_heads=8,
        feed_forward=14336,
        vocab=128256,
        context=8192,
    )


def test_an_8b_model_with_grouped_query_attention(llama3_8b: tuple[GGUFInfo, int]) -> None:
    info, per_layer = llama3_8b
    assert info.block_count == 32
    # One layer: q and o 4096x4096, k and v 1024x4096, three 14336x4096 FFN matrices,
    # 218,103,808 values at 34/32 bytes each.
    assert per_layer == 231_735_296
    embeddings = 128256 * 4096 // 32 * 34  # token_embd and output each
    needed = estimate(info, 8192)
    assert needed.weights == 32 * per_layer + 2 * embeddings == 8_531_869_696  # "8.5 GB"
    # KV cache: 32 layers x 8,192 tokens x 8 heads x (128 + 128) values x 2 bytes = 1 GiB.
    assert needed.kv_cache == GIB
    assert estimate(info, 4096).kv_cache == GIB // 2
    assert estimate(info, 8192, "q8_0").kv_cache == GIB * 34 // 64
    assert needed.layer_weights == (per_layer,) * 32
    assert needed.total == 8_531_869_696 + GIB + OVERHEAD_BYTES

    # CPU only: it needs 9.8 GB of RAM.
    assert "CPU only: 9.8 GB of RAM" in verdict(needed, 16 * GIB, []).text
    no_room = verdict(needed, 8 * GIB, [])
    assert not no_room.fits and no_room.text.startswith("won't fit: needs 9.8 GB of RAM")

    # A GPU with 6 GiB free (plus what is kept for compute buffers): each layer costs its
    # weights and its 32 MiB share of the KV cache; 6 GiB holds 24 of them (265 MB each).
    six = [GpuDevice("6 GB card", 6 * GIB + GPU_RESERVE_BYTES, 8 * GIB)]
    per_layer_on_gpu = per_layer + GIB // 32
    assert 24 * per_layer_on_gpu <= 6 * GIB < 25 * per_layer_on_gpu
    partly = verdict(needed, 16 * GIB, six)
    assert partly.plan.n_gpu_layers == 24 and partly.plan.gpu_bytes == 24 * per_layer_on_gpu
    assert "partly on the GPU on 6 GB card: 24 of 32 layers" in partly.text
    assert partly.plan.ram_bytes == needed.total - 24 * per_layer_on_gpu
    # 12 GiB free holds everything, the output layer too.
    twelve = [GpuDevice("12 GB card", 12 * GIB, 12 * GIB)]
    assert plan_offload(needed, twelve).full
    assert (
        "fits fully on the GPU on 12 GB card: 9.6 GB of VRAM"
        in verdict(needed, 16 * GIB, twelve).text
    )


def test_a_7b_model_without_grouped_query_attention(tmp_path: Path) -> None:
    """Llama 2 7B: 32 heads and 32 KV heads, so its cache is four times an 8B's."""
    info, _ = header_only(
        tmp_path / "llama-2-7b-chat.Q8_0.gguf",
        layers=32,
        embedding=4096,
        heads=32,
        kv_heads=32,
        feed_forward=11008,
        vocab=32000,
        context=4096,
    )
    needed = estimate(info, 4096)
    # 32 layers x 4,096 tokens x 32 heads x 256 values x 2 bytes: llama.cpp's
    # "KV self size = 2048.00 MiB" for this model.
    assert needed.kv_cache == 2 * GIB
    assert 7.1e9 < needed.weights < 7.2e9  # the published Q8_0 file is 7.16 GB


def test_a_load_that_runs_out_of_gpu_memory_retries_with_fewer_layers(
    llama3_8b: tuple[GGUFInfo, int],
) -> None:
    info, _ = llama3_8b
    needed = estimate(info, 8192)
    devices = [GpuDevice("GPU", 12 * GIB, 12 * GIB)]
    first = plan_offload(needed, devices)
    tried: list[int] = []

    def load(fits: int) -> Callable[[OffloadPlan], str]:
        def attempt(plan: OffloadPlan) -> str:
            tried.append(plan.n_gpu_layers)
            if plan.n_gpu_layers > fits:
                raise RuntimeError("ggml_backend_cuda_buffer_type_alloc_buffer: out of memory")
            return "model"

        return attempt

    def oom(exc: Exception) -> bool:
        return "out of memory" in str(exc)

    result, plan = load_with_fallback(needed, devices, first, load(10), oom)
    assert result == "model" and tried == [33, 16, 8] and plan.n_gpu_layers == 8
    assert "8 of 32 layers" in plan.describe()

    tried.clear()  # nothing fits on the GPU: the last try is the CPU
    _, plan = load_with_fallback(needed, devices, first, load(0), oom)
    assert tried == [33, 16, 8, 4, 2, 1, 0] and plan.n_gpu_layers == 0

    def broken(plan: OffloadPlan) -> str:
        raise RuntimeError("tensor data is not within the file bounds")

    with pytest.raises(RuntimeError, match="file bounds"):  # not memory: no retry
        load_with_fallback(needed, devices, first, broken, oom)


# What llama.cpp and ggml log when a load fails, as they print it (their format strings
# filled in): ggml-cuda.cu (cudaMalloc), ggml-alloc.c (alloc_tensor_range), ggml-metal,
# ggml-backend.cpp and ggml.c (the CPU buffer), llama-model.cpp and llama.cpp (the load).
# The CPU lines are what this build printed for a 440 GB KV cache (test_engine_real).
ERROR = 4  # GGML_LOG_LEVEL_ERROR
MEMORY_FAILURES = {
    "CUDA": [
        "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 4403.00 MiB on device 0: "
        "cudaMalloc failed: out of memory",
        "alloc_tensor_range: failed to allocate CUDA0 buffer of size 4616880128",
        "llama_model_load: error loading model: unable to allocate CUDA0 buffer",
        "llama_model_load_from_file_impl: failed to load model",
    ],
    "CUDA compute buffers": [
        "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 1100.06 MiB on device 0: "
        "cudaMalloc failed: out of memory",
        "ggml_gallocr_reserve_n: failed to allocate CUDA0 buffer of size 1153496064",
        "graph_reserve: failed to allocate compute buffers",
        "llama_init_from_model: failed to initialize the context: failed to allocate compute pp "
        "buffers",
    ],
    "Metal": [
        "ggml_metal_buffer_init: error: failed to allocate buffer, size =  4403.00 MiB",
        "alloc_tensor_range: failed to allocate MTL0 buffer of size 4616880128",
        "llama_model_load: error loading model: unable to allocate MTL0 buffer",
        "llama_model_load_from_file_impl: failed to load model",
    ],
    "Vulkan": [  # its "Device memory allocation ... failed" goes to stderr, not the log
        "alloc_tensor_range: failed to allocate Vulkan0 buffer of size 1037832192",
        "llama_model_load: error loading model: unable to allocate Vulkan0 buffer",
        "llama_model_load_from_file_impl: failed to load model",
    ],
    "CPU": [
        "ggml_aligned_malloc: insufficient memory (attempted to allocate 439453.12 MB)",
        "ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size 460800000000",
        "alloc_tensor_range: failed to allocate CPU buffer of size 460800000000",
        "llama_init_from_model: failed to initialize the context: failed to allocate buffer "
        "for kv cache",
    ],
    "mmap": [
        "llama_model_load: error loading model: mmap failed: Cannot allocate memory",
        "llama_model_load_from_file_impl: failed to load model",
    ],
}
OTHER_FAILURES = {
    "unknown architecture": [
        "llama_model_load: error loading model: unknown model architecture: 'nonsense-arch'",
        "llama_model_load_from_file_impl: failed to load model",
    ],
    "missing key": [
        "llama_model_load: error loading model: error loading model hyperparameters: key not "
        "found in model: llama.context_length",
        "llama_model_load_from_file_impl: failed to load model",
    ],
    "missing tensor": [
        "llama_model_load: error loading model: missing tensor 'blk.0.attn_norm.weight'",
        "llama_model_load_from_file_impl: failed to load model",
    ],
    "bad file": [
        "gguf_init_from_file_impl: invalid magic characters: 'ABCD', expected 'GGUF'",
        "llama_model_load: error loading model: llama_model_loader: failed to load model from "
        "/models/notes.gguf",
        "llama_model_load_from_file_impl: failed to load model",
    ],
    "file bounds": [
        "llama_model_load: error loading model: tensor 'blk.3.ffn_up.weight' data is not "
        "within the file bounds, model is corrupted or incomplete",
        "llama_model_load_from_file_impl: failed to load model",
    ],
}


def logged_load(
    router: LogRouter, engine: LlamaEngine, lines: list[str], fits: int, tried: list[int]
) -> Callable[[OffloadPlan], str]:
    """A load attempt that fails (as Llama() does: ValueError) after llama.cpp logged
    ``lines``, while more than ``fits`` layers are on the GPU; the lines go through the
    engine's log router, as llama.cpp's log callback sends them."""

    def attempt(plan: OffloadPlan) -> str:
        tried.append(plan.n_gpu_layers)
        with engine.capture_log():
            router.receive(2, b"llama_model_loader: loaded meta data with 33 key-value pairs\n")
            if plan.n_gpu_layers > fits:
                for line in lines:
                    router.receive(ERROR, line.encode() + b"\n")
                raise ValueError(f"Failed to load model from file: /models/{plan.layers}.gguf")
        return "model"

    return attempt


@pytest.mark.parametrize("backend", sorted(MEMORY_FAILURES))
def test_memory_failures_logged_by_llama_cpp_retry_with_fewer_layers_down_to_the_cpu(
    backend: str, llama3_8b: tuple[GGUFInfo, int]
) -> None:
    info, _ = llama3_8b
    needed = estimate(info, 8192)
    devices = [GpuDevice("GPU", 12 * GIB, 12 * GIB)]
    first = plan_offload(needed, devices)
    router = LogRouter()
    engine = LlamaEngine(native=NativeLlama(router))
    lines = MEMORY_FAILURES[backend]
    tried: list[int] = []
    attempt = logged_load(router, engine, lines, 10, tried)
    result, plan = load_with_fallback(needed, devices, first, attempt, engine.out_of_memory)
    assert result == "model" and tried == [33, 16, 8] and plan.n_gpu_layers == 8
    tried.clear()  # nothing fits on the GPU: the last try is the CPU
    attempt = logged_load(router, engine, lines, 0, tried)
    _, plan = load_with_fallback(needed, devices, first, attempt, engine.out_of_memory)
    assert tried == [33, 16, 8, 4, 2, 1, 0] and plan.n_gpu_layers == 0
    tried.clear()  # out of memory on the CPU too: nothing is left to take off the GPU
    attempt = logged_load(router, engine, lines, -1, tried)
    with pytest.raises(ValueError, match="Failed to load model"):
        load_with_fallback(needed, devices, first, attempt, engine.out_of_memory)
    assert tried == [33, 16, 8, 4, 2, 1, 0]


@pytest.mark.parametrize("failure", sorted(OTHER_FAILURES))
def test_other_failures_logged_by_llama_cpp_do_not_retry(
    failure: str, llama3_8b: tuple[GGUFInfo, int]
) -> None:
    info, _ = llama3_8b
    needed = estimate(info, 8192)
    devices = [GpuDevice("GPU", 12 * GIB, 12 * GIB)]
    router = LogRouter()
    engine = LlamaEngine(native=NativeLlama(router))
    tried: list[int] = []
    attempt = logged_load(router, engine, OTHER_FAILURES[failure], -1, tried)
    with pytest.raises(ValueError, match="Failed to load model"):
        load_with_fallback(
            needed, devices, plan_offload(needed, devices), attempt, engine.out_of_memory
        )
    assert tried == [33]
