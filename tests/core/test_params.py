"""Generation parameters are validated, and clamped where a value only hurts."""

from __future__ import annotations

import os

import pytest

from desktopchat.core.chat import GenerationParams


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"temperature": 99.0}, "temperature must be between 0 and 5"),
        ({"top_p": 1.5}, "top-p must be between 0 and 1"),
        ({"top_k": -1}, "top-k must be 0"),
        ({"repeat_penalty": 0.0}, "repeat penalty"),
        ({"max_tokens": 0}, "max new tokens must be at least 1"),
        ({"n_ctx": 10}, "context length must be at least 256"),
        ({"seed": 2**40}, "the seed must be -1"),
        ({"seed": -5}, "the seed must be -1"),
        ({"n_gpu_layers": -7}, "GPU layers"),
        # a schema the grammar cannot use is refused before any message is stored, in the
        # window's settings panel and the CLI alike
        ({"json_mode": True, "json_schema": "[1]"}, "must be a JSON object"),
        (
            {"json_mode": True, "json_schema": '{"type": "nonsense"}'},
            "has the type 'nonsense', which is not a JSON type",
        ),
        (
            {"json_mode": True, "json_schema": '{"properties": {"a": {"type": "strin"}}}'},
            "'strin' at a, which is not a JSON type",
        ),
        ({"json_mode": True, "json_schema": '{"required": "a"}'}, "not a list of property"),
    ],
)
def test_out_of_range_settings_are_refused_with_a_reason(
    changes: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        GenerationParams().with_changes(**changes).validated()


def test_more_threads_than_cores_are_clamped() -> None:
    assert GenerationParams(n_threads=500).threads == (os.cpu_count() or 1)
    assert GenerationParams(n_threads=1).threads == 1


def test_the_system_prompt_is_always_valid_text() -> None:
    params = GenerationParams(system_prompt="be \ud800 kind")
    assert params.system_prompt == "be \ufffd kind"
    params.system_prompt.encode("utf-8")
    assert GenerationParams.from_json(params.to_json()) == params
