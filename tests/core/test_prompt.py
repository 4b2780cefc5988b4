from __future__ import annotations

from pathlib import Path

import pytest

from desktopchat.core.chat import Role
from desktopchat.core.errors import ContextOverflowError, TemplateError
from desktopchat.core.inference.prompt import (
    FALLBACK_STOP,
    ChatMessage,
    ChatTemplate,
    TemplateLimitError,
    plan_prompt,
    reply_reserve,
)
from desktopchat.core.inference.stops import StopMatcher

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def words(text: str) -> list[int]:
    return [len(w) for w in text.split()]


def turns(n: int, size: int = 10) -> list[ChatMessage]:
    history = []
    for i in range(n):
        history.append(ChatMessage(Role.USER, f"question{i} " + "word " * size))
        history.append(ChatMessage(Role.ASSISTANT, f"answer{i} " + "word " * size))
    return history


def test_renders_the_models_template() -> None:
    template = ChatTemplate(CHATML)
    text = template.render([ChatMessage(Role.SYSTEM, "sys"), ChatMessage(Role.USER, "hi")])
    assert text == "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n" + (
        "<|im_start|>assistant\n"
    )
    assert not template.is_fallback and template.stop == ()


def test_fallback_for_models_without_a_template() -> None:
    template = ChatTemplate(None)
    text = template.render([ChatMessage(Role.SYSTEM, "Be kind."), ChatMessage(Role.USER, "hi")])
    assert text == "Be kind.\n\nUser: hi\nAssistant:"
    assert template.is_fallback
    assert template.stop == FALLBACK_STOP
    assert "fallback" in template.description


def test_template_sandbox_blocks_python_internals() -> None:
    hostile = ChatTemplate("{{ messages.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError):
        hostile.render([ChatMessage(Role.USER, "x")])
    with pytest.raises(TemplateError, match="invalid"):
        ChatTemplate("{% for %}")
    with pytest.raises(TemplateError, match="at most"):
        ChatTemplate("x" * 300_000)
    raising = ChatTemplate("{{ raise_exception('roles must alternate') }}")
    with pytest.raises(TemplateError, match="roles must alternate"):
        raising.render([])


def test_everything_fits() -> None:
    plan = plan_prompt(ChatTemplate(CHATML), words, "sys", turns(2), n_ctx=1000, max_tokens=100)
    assert plan.dropped_messages == 0
    assert "question0" in plan.text and plan.reserve == 100


def test_oldest_turns_are_dropped_and_the_system_prompt_kept() -> None:
    history = [*turns(10), ChatMessage(Role.USER, "final question")]
    plan = plan_prompt(ChatTemplate(CHATML), words, "KEEP-ME", history, n_ctx=120, max_tokens=40)
    assert plan.dropped_messages > 0
    assert plan.dropped_messages % 2 == 0  # cut before a user message: roles still alternate
    assert "KEEP-ME" in plan.text and "final question" in plan.text
    assert "question0" not in plan.text
    assert plan.n_tokens <= 120 - 40
    # the earliest cut that fits: keeping one more turn would not fit
    kept_one_more = [ChatMessage(Role.SYSTEM, "KEEP-ME"), *history[plan.dropped_messages - 2 :]]
    assert len(words(ChatTemplate(CHATML).render(kept_one_more))) > 80


def test_a_message_longer_than_the_context_is_refused() -> None:
    history = [ChatMessage(Role.USER, "word " * 500)]
    with pytest.raises(ContextOverflowError, match="too long for the context"):
        plan_prompt(ChatTemplate(CHATML), words, "", history, n_ctx=256, max_tokens=64)


def test_reply_reserve_is_at_most_half_the_context() -> None:
    assert reply_reserve(512, 4096) == 512
    assert reply_reserve(10_000, 4096) == 2048


@pytest.mark.parametrize(
    ("pieces", "shown", "hit"),
    [
        (["Hello", " world"], "Hello world", False),
        (["Hi\nUs", "er: more"], "Hi", True),
        (["Hi\nUs", "eful"], "Hi\nUseful", False),
        (["a\n", "User:"], "a", True),
    ],
)
def test_stop_matcher(pieces: list[str], shown: str, hit: bool) -> None:
    matcher = StopMatcher(("\nUser:",))
    out = ""
    reached = False
    for piece in pieces:
        text, reached = matcher.feed(piece)
        out += text
        if reached:
            break
    if not reached:
        out += matcher.flush()
    assert (out, reached) == (shown, hit)


def test_a_huge_message_is_refused_from_a_prefix_without_rendering_it() -> None:
    seen: list[int] = []

    def counting(text: str) -> list[int]:
        seen.append(len(text))
        return words(text)

    huge = "word " * 2_000_000  # 10 MB
    history = [*turns(2), ChatMessage(Role.USER, huge)]
    with pytest.raises(ContextOverflowError, match="needs at least"):
        plan_prompt(ChatTemplate(CHATML), counting, "", history, n_ctx=4096, max_tokens=256)
    assert seen and max(seen) <= 4096 * 16  # only a prefix was ever tokenized


def test_a_long_message_that_fits_is_planned_normally() -> None:
    message = ChatMessage(Role.USER, "word " * 1000)  # 5,000 characters, 1,000 "tokens"
    plan = plan_prompt(ChatTemplate(CHATML), words, "", [message], n_ctx=4096, max_tokens=256)
    assert plan.dropped_messages == 0 and len(plan.tokens) >= 1000


HOSTILE_TEMPLATES = {
    "mro walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals through a global": "{{ cycler.__init__.__globals__.os.popen('touch {marker}') }}",
    "lipsum globals": "{{ lipsum.__globals__['os'].system('touch {marker}') }}",
    "include a file": "{% include '/etc/passwd' %}",
    "import a file": "{% import '/etc/passwd' as p %}",
    "mutate the messages": "{{ messages.append(1) }}{{ messages.clear() }}",
    "huge repetition": "{{ 'x' * 10**9 }}",
    "huge power": "{{ 7 ** 999999 }}",
    "huge range": "{% for i in range(10**9) %}x{% endfor %}",
}


@pytest.mark.parametrize("source", HOSTILE_TEMPLATES.values(), ids=HOSTILE_TEMPLATES.keys())
def test_a_hostile_template_fails_cleanly_and_runs_nothing(source: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    template = ChatTemplate(source.replace("{marker}", str(marker)))
    with pytest.raises(TemplateError, match="chat template"):
        template.render([ChatMessage(Role.USER, "hi")])
    assert not marker.exists()


def test_template_internals_render_as_nothing() -> None:
    template = ChatTemplate("[{{ self._TemplateReference__context }}{{ ''.__class__ }}]")
    assert template.render([ChatMessage(Role.USER, "hi")]) == "[]"


def test_a_template_that_loops_forever_is_stopped_by_the_time_limit() -> None:
    endless = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    template = ChatTemplate(endless)
    with pytest.raises(TemplateLimitError, match=r"took more than [\d.]+ seconds"):
        template.render([ChatMessage(Role.USER, "hi")])
    assert ChatTemplate(CHATML).render([ChatMessage(Role.USER, "hi")])  # others unaffected
