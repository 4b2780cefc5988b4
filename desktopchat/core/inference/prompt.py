"""From a conversation to the exact prompt text and tokens the model sees.

The conversation is planned here (what fits the context, what is left out); the model's
chat template is rendered by the sandbox in ``template.py`` (re-exported here), which folds
the system prompt into the first user message for templates that refuse a system role.
Models without a template get a plain "User:/Assistant:" fallback, and the UI says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from desktopchat.core.chat import Role
from desktopchat.core.errors import ContextOverflowError, TemplateError
from desktopchat.core.inference.template import (
    FALLBACK_DESCRIPTION,
    FALLBACK_STOP,
    FALLBACK_TEMPLATE,
    MAX_TEMPLATE_CHARS,
    RENDER_SECONDS,
    SYSTEM_FOLDED,
    ChatTemplate,
    RenderedPrompt,
    TemplateLimitError,
    fold_system,
)
from desktopchat.core.inference.template_limits import MAX_RENDER_CHARS
from desktopchat.core.inference.template_messages import ChatMessage, TemplateOptions

__all__ = [
    "FALLBACK_DESCRIPTION",
    "FALLBACK_STOP",
    "FALLBACK_TEMPLATE",
    "MAX_RENDER_CHARS",
    "MAX_TEMPLATE_CHARS",
    "PREFIX_CHARS_PER_TOKEN",
    "RENDER_SECONDS",
    "SYSTEM_FOLDED",
    "ChatMessage",
    "ChatTemplate",
    "PromptPlan",
    "RenderedPrompt",
    "TemplateLimitError",
    "TemplateOptions",
    "Tokenizer",
    "example_messages",
    "fold_system",
    "history_from",
    "plan_prompt",
    "reply_reserve",
    "system_messages",
    "template_description",
    "turns",
]

PREFIX_CHARS_PER_TOKEN = 16  # generous: English averages about 4 characters per token


@dataclass(frozen=True)
class PromptPlan:
    """The prompt as the model will see it, and what had to be left out."""

    text: str
    tokens: list[int]
    dropped_messages: int
    reserve: int  # tokens kept free for the reply
    preamble_tokens: int = 0  # the system prompt and examples (never left out)
    system_folded: bool = False  # the template refused a system role: it went to a user turn
    documents_tokens: int = 0  # the attached documents' passages in the last user turn

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
    options: TemplateOptions | None = None,
) -> PromptPlan:
    """Render ``history`` (ending with the new user message), dropping the oldest turns
    until the prompt plus the reply reserve fits the context.

    The system prompt and the few-shot ``examples`` are always kept. A cut only happens
    before a user message, so the remaining history still alternates as templates expect.
    Raises ContextOverflowError when even the last message alone does not fit.
    ``prefill`` is the start of the reply (continuing an interrupted one): it follows the
    generation prompt verbatim. ``options``: the tools and thinking switches the template
    is given.
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

    folded = False

    def attempt(start: int) -> tuple[str, list[int]]:
        nonlocal folded
        rendered = template.render_prompt([*system, *history[start:]], options=options)
        folded = rendered.system_folded
        text = rendered.text + prefill
        return text, tokenize(text)

    preamble = _preamble_tokens(template, tokenize, system)
    text, tokens = attempt(0)
    if len(tokens) <= budget:
        return PromptPlan(text, tokens, 0, reserve, preamble, folded)
    # Binary search for the earliest cut that fits: fewer kept messages, fewer tokens.
    low, high = 0, len(cuts) - 1
    best: tuple[int, str, list[int], bool] | None = None
    while low <= high:
        mid = (low + high) // 2
        mid_text, mid_tokens = attempt(cuts[mid])
        if len(mid_tokens) <= budget:
            best = (cuts[mid], mid_text, mid_tokens, folded)
            high = mid - 1
        else:
            low = mid + 1
    if best is None:
        last = attempt(cuts[-1])[1] if cuts else tokens
        raise ContextOverflowError(_too_long(len(last), budget, n_ctx, reserve, ""))
    start, text, tokens, folded = best
    return PromptPlan(text, tokens, start, reserve, preamble, folded)


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
    """The user, assistant and tool messages: stored system messages are skipped (the
    conversation's system prompt is the one that counts)."""
    return [m for m in messages if m.role in (Role.USER, Role.ASSISTANT, Role.TOOL)]


def history_from(messages: Sequence[Any]) -> list[ChatMessage]:
    """Stored messages (their turns) to template messages, with an answer's reasoning and
    tool calls and a tool result's call id and tool (the template decides what it shows)."""
    return [
        ChatMessage(
            m.role,
            m.content,
            reasoning=m.reasoning,
            tool_calls=m.tool_calls,
            tool_call_id=m.tool_call_id,
            name=m.tool_name,
        )
        for m in turns(messages)
    ]


def template_description(template: ChatTemplate, plan: PromptPlan) -> str:
    """How the prompt was formatted, as the notice and the prompt inspector say it."""
    if plan.system_folded:
        return f"{template.description}, {SYSTEM_FOLDED}"
    return template.description
