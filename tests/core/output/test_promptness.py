"""Answer and reasoning text are passed on as soon as they cannot be markup: only what
could still be the start of a marker is held back."""

from __future__ import annotations

import pytest

from desktopchat.core.inference.output import OutputParser, ToolCallEvent, ToolFormat

from .cases import FUNC32, GPT_OSS, LLAMA32, QWEN3, QWEN25
from .helpers import TEMPLATES, K, T, U, run, template_format

NAMES = sorted(p.stem for p in TEMPLATES.glob("*.jinja"))


@pytest.mark.parametrize("name", NAMES)
def test_plain_text_is_passed_on_at_once(name: str) -> None:
    fmt = template_format(name)
    parser = OutputParser(fmt)
    if fmt.tools is ToolFormat.FUNCTIONARY_V3_2:
        assert parser.feed("all\n") == []
    sentence = "Hello there, the answer is 42."
    assert parser.feed(sentence) == [T(sentence)]
    assert parser.feed(" More") == [T(" More")]


def test_only_a_possible_marker_is_held_back() -> None:
    parser = OutputParser(QWEN25)
    assert parser.feed("Hello <tool_c") == [T("Hello ")]
    assert parser.feed("x> world") == [T("<tool_cx> world")]
    assert parser.feed("<|im_") == []
    assert parser.feed("end|>") == []
    assert parser.finish() == []


def test_a_partial_marker_at_the_end_is_text() -> None:
    parser = OutputParser(QWEN25)
    assert parser.feed("a < b and <tool") == [T("a < b and ")]
    assert parser.finish() == [T("<tool")]


def test_reasoning_streams_and_only_trailing_blanks_wait() -> None:
    parser = OutputParser(QWEN3)
    assert parser.feed("<think>\nStep one.") == [K("Step one.")]
    assert parser.feed("\n\n") == []
    assert parser.feed("Step two.</th") == [K("\n\nStep two.")]
    assert parser.feed("ink>\n\nDone") == [T("Done")]


def test_a_call_is_given_only_when_complete() -> None:
    parser = OutputParser(QWEN25)
    assert parser.feed('<tool_call>{"name": "f", "arguments": {}}') == []
    events = parser.feed("</tool_call>")
    assert len(events) == 1


def test_llama3_holds_a_leading_brace_only_while_it_could_be_a_call() -> None:
    parser = OutputParser(LLAMA32)
    assert parser.feed('{"name": "f", ') == []
    parser = OutputParser(LLAMA32)
    assert parser.feed('{"title": "x"') == [T('{"title": "x"')]
    parser = OutputParser(LLAMA32)
    assert parser.feed("{ 1 + 1 }") == [T("{ 1 + 1 }")]


def test_functionary_recipient_that_is_not_a_tool_is_text() -> None:
    parser = OutputParser(FUNC32, tool_names=["get_weather"])
    assert run(parser, ["Sure\nHello"]) == [T("Sure\nHello")]
    parser = OutputParser(FUNC32)
    assert run(parser, ["Hello there"]) == [T("Hello there")]


def test_harmony_header_without_message_is_not_lost() -> None:
    parser = OutputParser(GPT_OSS)
    text = "<|start|>assistant<|channel|>commentary to=functions.get_weather"
    assert run(parser, [text]) == [
        U(text, "the call was not closed before the reply ended"),
    ]
    long_text = "<|channel|>" + "x" * 1500
    assert run(OutputParser(GPT_OSS), [long_text]) == [T(long_text)]


def test_generated_ids_count_per_parser() -> None:
    parser = OutputParser(QWEN25)
    call = '<tool_call>{"name": "f", "arguments": {}}</tool_call>'
    events = run(parser, [call, "text", call])
    ids = [e.call.id for e in events if isinstance(e, ToolCallEvent)]
    assert ids == ["call_1", "call_2"]
    assert run(OutputParser(QWEN25), [call])[0] == events[0]
