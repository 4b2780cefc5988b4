"""detect_format on real chat templates (tests/data/templates), opens_thinking on the
prompts they render, and the forced-call schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jsonschema
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from desktopchat.core.inference.output import (
    OutputParser,
    ReasoningFormat,
    ToolFormat,
    detect_format,
    forced_call_schema,
    make_format,
    opens_thinking,
)

from .helpers import TEMPLATES, C, run, template_format

R = ReasoningFormat
F = ToolFormat

EXPECTED = {
    "qwen3": (F.HERMES, R.THINK_TAGS),
    "qwen2.5": (F.HERMES, R.NONE),
    "qwq": (F.HERMES, R.THINK_TAGS),
    "hermes-2-pro": (F.HERMES, R.NONE),
    "llama3.1": (F.LLAMA3, R.NONE),
    "llama3.2": (F.LLAMA3, R.NONE),
    "mistral-nemo": (F.MISTRAL, R.NONE),
    "mistral-small-3.2": (F.MISTRAL, R.NONE),
    "devstral": (F.MISTRAL, R.NONE),
    "magistral": (F.MISTRAL, R.THINK_BRACKETS),
    "gpt-oss": (F.HARMONY, R.HARMONY),
    "command-r7b": (F.COMMAND_R, R.NONE),
    "command-r-plus": (F.COMMAND_R, R.NONE),
    "granite3.3": (F.GRANITE, R.GRANITE),
    "deepseek-r1-distill": (F.DEEPSEEK, R.THINK_TAGS),
    "deepseek-v3.1": (F.DEEPSEEK, R.THINK_TAGS),
    "functionary-v3.1": (F.FUNCTIONARY_V3_1, R.NONE),
    "functionary-v3.2": (F.FUNCTIONARY_V3_2, R.NONE),
    "phi3.5": (F.NONE, R.NONE),
    # The older templates the other tests use: no tool support at all.
    "gemma-2-2b-it": (F.NONE, R.NONE),
    "llama-3-8b-instruct": (F.NONE, R.NONE),
    "smollm2-135m-instruct": (F.NONE, R.NONE),
    "mistral-7b-instruct-v0.1": (F.NONE, R.NONE),
    "mistral-7b-instruct-v0.2": (F.NONE, R.NONE),
}


def test_every_saved_template_is_covered() -> None:
    assert {p.stem for p in TEMPLATES.glob("*.jinja")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_detect_format(name: str) -> None:
    fmt = template_format(name)
    assert (fmt.tools, fmt.reasoning) == EXPECTED[name]
    assert fmt.description


def test_descriptions_say_what_is_read() -> None:
    assert template_format("qwen3").description == "Qwen/Hermes <tool_call> tags, <think> reasoning"


def test_end_markers_come_from_the_template() -> None:
    assert "<|im_end|>" in template_format("qwen3").end_markers
    assert "<|eot_id|>" in template_format("llama3.2").end_markers
    assert template_format("mistral-nemo").end_markers == ()


def test_generic_json_for_a_template_that_takes_tools_in_no_known_syntax() -> None:
    src = "{% if tools %}Tools: {{ tools | tojson }}{% endif %}{% for m in messages %}{% endfor %}"
    assert detect_format(src).tools is F.GENERIC_JSON
    assert detect_format("{% for m in messages %}{{ m.content }}{% endfor %}").tools is F.NONE


@pytest.mark.parametrize(
    "model_name",
    ["DeepSeek-R1-Distill-Llama-8B-Q4_K_M", "QwQ-32B", "Qwen3-4B-Thinking-2507", "phi-4-reasoning"],
)
def test_thinking_models_by_name(model_name: str) -> None:
    chatml = (TEMPLATES / "smollm2-135m-instruct.jinja").read_text(encoding="utf-8")
    assert detect_format(chatml, model_name).reasoning is R.THINK_TAGS


def test_plain_model_names_do_not_think() -> None:
    chatml = (TEMPLATES / "smollm2-135m-instruct.jinja").read_text(encoding="utf-8")
    for name in ("SmolLM2-135M-Instruct", "Llama-3.2-3B-Instruct", "Mistral-Nemo-Instruct"):
        assert detect_format(chatml, name).reasoning is R.NONE


def test_gpt_oss_architecture_without_its_template() -> None:
    assert detect_format("", architecture="gpt-oss").tools is F.HARMONY


# --- opens_thinking ---------------------------------------------------------------


def _render(name: str, **variables: Any) -> str:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime(2025, 1, 1).strftime(fmt)
    source = (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")
    return env.from_string(source).render(
        messages=[{"role": "user", "content": "What is 2 + 2?"}],
        add_generation_prompt=True,
        bos_token="",
        eos_token="",
        **variables,
    )


@pytest.mark.parametrize(
    ("name", "variables", "expected"),
    [
        ("deepseek-r1-distill", {}, True),
        ("qwq", {}, True),
        ("qwen3", {}, False),  # it thinks, but writes <think> itself
        ("qwen3", {"enable_thinking": False}, False),  # the empty block is closed
        ("deepseek-v3.1", {"thinking": True}, True),
        ("deepseek-v3.1", {"thinking": False}, False),
        ("gpt-oss", {}, False),
        ("qwen2.5", {}, False),
    ],
)
def test_opens_thinking_on_rendered_prompts(
    name: str, variables: dict[str, Any], expected: bool
) -> None:
    prompt = _render(name, **variables)
    assert opens_thinking(prompt, template_format(name)) is expected, prompt[-80:]


def test_opens_thinking_by_format() -> None:
    tags = make_format(R.THINK_TAGS, F.HERMES)
    assert opens_thinking("<|im_start|>assistant\n<think>\n", tags)
    assert not opens_thinking("<|im_start|>assistant\n<think>\n\n</think>\n\n", tags)
    assert not opens_thinking("<|im_start|>assistant\n", tags)
    assert not opens_thinking("<|im_start|>assistant\n<think>\n", make_format(R.NONE, F.HERMES))
    assert opens_thinking("[INST]hi[/INST][THINK]", make_format(R.THINK_BRACKETS, F.MISTRAL))
    assert opens_thinking("<|START_THINKING|>", make_format(R.NONE, F.COMMAND_R))
    assert not opens_thinking("<|start|>assistant", make_format(R.HARMONY, F.HARMONY))


def test_a_rendered_r1_prompt_starts_the_parser_in_thinking() -> None:
    fmt = template_format("deepseek-r1-distill")
    parser = OutputParser(
        fmt, starts_in_thinking=opens_thinking(_render("deepseek-r1-distill"), fmt)
    )
    events = run(parser, ["2 + 2 = 4.\n</think>\n\n**4**"])
    assert [type(e).__name__ for e in events] == ["ThinkingDelta", "TextDelta"]


# --- forced calls -----------------------------------------------------------------

ADD = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_forced_call_schema_for_one_tool() -> None:
    schema = forced_call_schema([("add", ADD)])
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate({"name": "add", "arguments": {"a": 1, "b": 2}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "sub", "arguments": {"a": 1, "b": 2}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "add", "arguments": {"a": "1"}}, schema)


def test_forced_call_schema_for_several_tools() -> None:
    schema = forced_call_schema([("add", ADD), ("get_weather", WEATHER)])
    assert len(schema["anyOf"]) == 2
    jsonschema.validate({"name": "get_weather", "arguments": {"city": "Paris"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "get_weather", "arguments": {"a": 1, "b": 2}}, schema)
    with pytest.raises(ValueError, match="at least one tool"):
        forced_call_schema([])


@pytest.mark.parametrize("tools", list(F))
def test_every_format_reads_a_forced_call(tools: ToolFormat) -> None:
    for reasoning in R:
        parser = OutputParser(make_format(reasoning, tools), forced=True, tool_names=["add"])
        text = '{"name": "add", "arguments": {"a": 1, "b": 2}}'
        assert run(parser, list(text)) == [C("add", {"a": 1, "b": 2})]
