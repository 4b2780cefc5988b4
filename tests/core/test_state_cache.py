"""The saved-context cache and the GPU offload planner: pure logic, no model needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktopchat.core.chat import GenerationParams
from desktopchat.core.inference.state_cache import StateCache, common_prefix
from desktopchat.core.models.fit import (
    ALL_GPU_LAYERS,
    AUTO_GPU_LAYERS,
    GPU_RESERVE_BYTES,
    GpuDevice,
    MemoryEstimate,
    estimate,
    plan_offload,
)
from desktopchat.core.models.gguf import read_gguf

MIB = 1 << 20
GIB = 1 << 30


@given(st.lists(st.integers(0, 3)), st.lists(st.integers(0, 3)))
def test_common_prefix_matches_a_plain_loop(a: list[int], b: list[int]) -> None:
    expected = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        expected += 1
    assert common_prefix(a, b) == expected
    assert common_prefix(tuple(a), b) == expected


def test_best_is_the_longest_shared_prefix_and_take_removes_it() -> None:
    cache = StateCache()
    cache.put([1, 2, 3, 4], b"a")
    cache.put([1, 2, 9], b"b")
    found = cache.best([1, 2, 3, 4, 5])
    assert found is not None and found[0].data == b"a" and found[1] == 4
    cache.take(found[0])
    found = cache.best([1, 2, 3, 4, 5])
    assert found is not None and found[0].data == b"b" and found[1] == 2
    assert cache.best([7]) is None


def test_a_longer_context_supersedes_the_one_it_extends() -> None:
    cache = StateCache()
    cache.put([1, 2], b"old")
    cache.put([1, 2, 3], b"new")
    assert len(cache) == 1 and cache.best([1, 2, 3])[0].data == b"new"  # type: ignore[index]


def test_least_recently_saved_go_first_by_count_and_by_bytes() -> None:
    cache = StateCache(max_entries=2, max_bytes=1000)
    cache.put([1], b"x" * 100)
    cache.put([2], b"x" * 100)
    cache.put([3], b"x" * 100)
    assert cache.best([1]) is None and len(cache) == 2
    cache.put([4], b"x" * 900)  # with [3] it would be over budget
    assert len(cache) == 1 and cache.best([4]) is not None
    assert not cache.put([5], b"x" * 2000)  # bigger than the budget: not kept
    assert cache.best([4]) is not None
    cache.clear()
    assert len(cache) == 0 and cache.size == 0


def model(layers: int = 10, layer: int = 100 * MIB, rest: int = 50 * MIB) -> MemoryEstimate:
    return MemoryEstimate(
        weights=layers * layer + rest,
        kv_cache=layers * 10 * MIB,
        overhead=160 * MIB,
        layers=layers,
        layer_weights=(layer,) * layers,
    )


def gpu(free: int) -> list[GpuDevice]:
    return [GpuDevice("Test GPU", free + GPU_RESERVE_BYTES, 8 * GIB)]


def test_without_a_gpu_everything_stays_in_ram() -> None:
    plan = plan_offload(model(), [], AUTO_GPU_LAYERS)
    assert plan.n_gpu_layers == 0 and plan.gpu_bytes == 0
    assert plan.ram_bytes == model().total
    assert plan.describe().startswith("CPU only")


def test_a_model_that_fits_goes_entirely_to_the_gpu() -> None:
    plan = plan_offload(model(), gpu(2 * GIB))
    assert plan.n_gpu_layers == 11 and plan.full  # every layer and the output
    assert plan.gpu_bytes == model().weights + model().kv_cache
    assert plan.ram_bytes == model().overhead
    assert "fits fully on the GPU on Test GPU" in plan.describe()


def test_a_model_too_big_for_vram_is_split_by_layers() -> None:
    plan = plan_offload(model(), gpu(4 * 110 * MIB + 10 * MIB))
    assert plan.n_gpu_layers == 4 and not plan.full
    assert plan.gpu_bytes == 4 * 110 * MIB
    assert "4 of 10 layers" in plan.describe()
    assert plan_offload(model(), gpu(50 * MIB)).n_gpu_layers == 0


def test_an_explicit_choice_is_kept_and_costed() -> None:
    assert plan_offload(model(), gpu(50 * MIB), ALL_GPU_LAYERS).n_gpu_layers == 11
    assert plan_offload(model(), gpu(2 * GIB), 0).n_gpu_layers == 0
    three = plan_offload(model(), gpu(2 * GIB), 3)
    assert three.n_gpu_layers == 3 and three.gpu_bytes == 3 * 110 * MIB


def test_the_real_model_estimate_counts_each_layer(starter_model: Path) -> None:
    info = read_gguf(starter_model)
    f16 = estimate(info, 4096)
    assert f16.layers == info.block_count == len(f16.layer_weights) == 30
    assert 0 < sum(f16.layer_weights) < f16.weights
    q8 = estimate(info, 4096, "q8_0")
    assert q8.kv_cache < f16.kv_cache * 0.55
    assert plan_offload(f16, gpu(4 * GIB)).full


def test_kv_cache_settings_are_checked_and_round_trip() -> None:
    params = GenerationParams(flash_attn=True, kv_cache_type="q8_0").validated()
    again = GenerationParams.from_json(params.to_json())
    assert again.flash_attn is True and again.kv_cache_type == "q8_0"
    with pytest.raises(ValueError, match="needs flash attention"):
        GenerationParams(kv_cache_type="q8_0").validated()
    with pytest.raises(ValueError, match="KV cache type must be one of"):
        GenerationParams(kv_cache_type="f32").validated()
