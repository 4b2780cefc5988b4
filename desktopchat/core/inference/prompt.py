"""From a conversation to the exact prompt text and tokens the model sees.

Chat templates come from model files, so they are untrusted: they are rendered in Jinja's
immutable sandbox (no attribute access to Python internals, no file access: there is no
loader to include from), with limits on the template's size, the output's size, the
render time (checked in every range() loop and between output chunks) and the size of
anything multiplied or raised to a power. Models without a template get a
plain "User:/Assistant:" fallback, and the UI says so.
"""

from __future__ import annotations

import datetime
import operator
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from desktopchat.core.chat import Role
from desktopchat.core.errors import ContextOverflowError, TemplateError

MAX_TEMPLATE_CHARS = 256_000
MAX_RENDER_CHARS = 8_000_000
RENDER_SECONDS = 2.0
MAX_PRODUCT = 1_000_000  # the longest string or list "*" may build, the largest "**" result
PREFIX_CHARS_PER_TOKEN = 16  # generous: English averages about 4 characters per token

FALLBACK_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{{ m.content }}\n\n"
    "{% elif m.role == 'user' %}User: {{ m.content }}\n"
    "{% else %}Assistant: {{ m.content }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)
FALLBACK_STOP = ("\nUser:", "\nAssistant:")
FALLBACK_DESCRIPTION = "plain User:/Assistant: fallback (the model has no chat template)"


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


class _OutOfTimeError(Exception):
    pass


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus a render deadline and bounded arithmetic."""

    intercepted_binops = frozenset(["*", "**"])

    def __init__(self) -> None:
        super().__init__(
            loader=jinja2.BaseLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.loopcontrols"],
        )
        self.deadline = float("inf")
        self.globals["range"] = self.range
        self.globals["raise_exception"] = _raise_exception
        self.globals["strftime_now"] = _strftime_now

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise _OutOfTimeError

    def range(self, *args: int) -> Iterator[int]:
        for i, value in enumerate(safe_range(*args)):
            if i % 1024 == 0:
                self.check_time()
            yield value

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            for sized, count in ((left, right), (right, left)):
                if (
                    isinstance(sized, (str, list, tuple))
                    and isinstance(count, int)
                    and len(sized) * count > MAX_PRODUCT
                ):
                    raise jinja2.TemplateError("a repetition is too large")
            return operator.mul(left, right)
        if operator_name == "**":
            if isinstance(right, int) and abs(right) > 64:
                raise jinja2.TemplateError("a power is too large")
            return operator.pow(left, right)
        return super().call_binop(context, operator_name, left, right)


class ChatTemplate:
    """A compiled chat template (the model's own, or our fallback)."""

    def __init__(self, source: str | None, *, bos_text: str = "", eos_text: str = "") -> None:
        self.is_fallback = source is None
        text = FALLBACK_TEMPLATE if source is None else source
        if len(text) > MAX_TEMPLATE_CHARS:
            raise TemplateError(
                f"The model's chat template is {len(text):,} characters long; "
                f"at most {MAX_TEMPLATE_CHARS:,} are accepted."
            )
        self.bos_text = bos_text
        self.eos_text = eos_text
        self.stop: tuple[str, ...] = FALLBACK_STOP if self.is_fallback else ()
        self.description = FALLBACK_DESCRIPTION if self.is_fallback else "the model's own"
        self._env = _Sandbox()
        try:
            self._template = self._env.from_string(text)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"The model's chat template is invalid: {exc}") from None

    def render(self, messages: Sequence[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        self._env.deadline = time.monotonic() + RENDER_SECONDS
        parts: list[str] = []
        size = 0
        try:
            for chunk in self._template.generate(
                messages=[{"role": m.role.value, "content": m.content} for m in messages],
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_text,
                eos_token=self.eos_text,
            ):
                size += len(chunk)
                if size > MAX_RENDER_CHARS:
                    raise TemplateError(
                        "The model's chat template produced an absurdly long prompt."
                    )
                self._env.check_time()
                parts.append(chunk)
        except _OutOfTimeError:
            raise TemplateError(
                f"The model's chat template took more than {RENDER_SECONDS:g} seconds to "
                "render; it is broken or hostile. Use another model file."
            ) from None
        except (jinja2.TemplateError, OverflowError) as exc:
            raise TemplateError(f"The model's chat template failed: {exc}") from None
        finally:
            self._env.deadline = float("inf")
        return "".join(parts)


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


@dataclass(frozen=True)
class PromptPlan:
    """The prompt as the model will see it, and what had to be left out."""

    text: str
    tokens: list[int]
    dropped_messages: int
    reserve: int  # tokens kept free for the reply
    preamble_tokens: int = 0  # the system prompt and examples (never left out)

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)


Tokenizer = Callable[[str], list[int]]


def reply_reserve(max_tokens: int, n_ctx: int) -> int:
    """Tokens kept free for the reply: max new tokens, but at most half the context."""
    return max(1, min(max_tokens, n_ctx // 2))


def plan_prompt(
    template: ChatTemplate,
    tokenize: Tokenizer,
    system_prompt: str,
    history: Sequence[ChatMessage],
    *,
    n_ctx: int,
    max_tokens: int,
    prefill: str = "",
    examples: Sequence[ChatMessage] = (),
) -> PromptPlan:
    """Render ``history`` (ending with the new user message), dropping the oldest turns
    until the prompt plus the reply reserve fits the context.

    The system prompt and the few-shot ``examples`` are always kept. A cut only happens
    before a user message, so the remaining history still alternates as templates expect.
    Raises ContextOverflowError when even the last message alone does not fit.
    ``prefill`` is the start of the reply (continuing an interrupted one): it follows the
    generation prompt verbatim.
    """
    reserve = reply_reserve(max_tokens, n_ctx)
    budget = n_ctx - reserve
    system = [*system_messages(system_prompt), *examples]
    cuts = [i for i, m in enumerate(history) if m.role is Role.USER and i > 0]
    new = history[-1].content
    if len(new) * 4 > budget:  # a character is at most 4 tokens: only then can it overflow alone
        # Before rendering megabytes through the template: if a prefix alone overflows, so
        # does the message (tokenizing 10 MB takes seconds; its first part, milliseconds).
        prefix = new[: budget * PREFIX_CHARS_PER_TOKEN]
        alone = len(tokenize(prefix))
        if alone > budget:
            at_least = "at least " if len(prefix) < len(new) else ""
            raise ContextOverflowError(_too_long(alone, budget, n_ctx, reserve, at_least))

    def attempt(start: int) -> tuple[str, list[int]]:
        text = template.render([*system, *history[start:]]) + prefill
        return text, tokenize(text)

    preamble = _preamble_tokens(template, tokenize, system)
    text, tokens = attempt(0)
    if len(tokens) <= budget:
        return PromptPlan(text, tokens, 0, reserve, preamble)
    # Binary search for the earliest cut that fits: fewer kept messages, fewer tokens.
    low, high = 0, len(cuts) - 1
    best: tuple[int, str, list[int]] | None = None
    while low <= high:
        mid = (low + high) // 2
        mid_text, mid_tokens = attempt(cuts[mid])
        if len(mid_tokens) <= budget:
            best = (cuts[mid], mid_text, mid_tokens)
            high = mid - 1
        else:
            low = mid + 1
    if best is None:
        last = attempt(cuts[-1])[1] if cuts else tokens
        raise ContextOverflowError(_too_long(len(last), budget, n_ctx, reserve, ""))
    start, text, tokens = best
    return PromptPlan(text, tokens, start, reserve, preamble)


def _preamble_tokens(
    template: ChatTemplate, tokenize: Tokenizer, preamble: Sequence[ChatMessage]
) -> int:
    """Tokens of the part of the prompt that is always sent (for the context meter)."""
    if not preamble:
        return 0
    try:
        return len(tokenize(template.render(preamble, add_generation_prompt=False)))
    except TemplateError:  # some templates insist on a user message: count the text alone
        return len(tokenize("\n".join(m.content for m in preamble)))


def example_messages(examples: Sequence[tuple[str, str]]) -> list[ChatMessage]:
    """Few-shot example exchanges as template messages."""
    return [
        message
        for user, answer in examples
        for message in (ChatMessage(Role.USER, user), ChatMessage(Role.ASSISTANT, answer))
    ]


def _too_long(needed: int, budget: int, n_ctx: int, reserve: int, at_least: str) -> str:
    return (
        f"The message is too long for the context: the prompt needs {at_least}{needed:,} tokens "
        f"but only {budget:,} of the {n_ctx:,}-token context are free "
        f"({reserve:,} are kept for the reply). Shorten the message, lower max new tokens, "
        "or raise the context length in the chat settings."
    )


def system_messages(system_prompt: str) -> list[ChatMessage]:
    """The system prompt as the first template message, when there is one."""
    return [ChatMessage(Role.SYSTEM, system_prompt)] if system_prompt.strip() else []


M = TypeVar("M", bound=Any)


def turns(messages: Sequence[M]) -> list[M]:
    """The user and assistant messages: stored system messages are skipped (the
    conversation's system prompt is the one that counts)."""
    return [m for m in messages if m.role in (Role.USER, Role.ASSISTANT)]


def history_from(messages: Sequence[Any]) -> list[ChatMessage]:
    """Stored messages (their turns) to template messages."""
    return [ChatMessage(m.role, m.content) for m in turns(messages)]
