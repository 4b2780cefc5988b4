"""The chat-template sandbox: a model's own Jinja chat template, rendered safely.

Chat templates come from model files, so they are untrusted. They run in Jinja's immutable
sandbox (no Python internals, no files: there is no loader to include from), and:
- whatever the template does, the render stops at a deadline: a trace function on the
  rendering thread checks it on every line of the compiled template and every Python call
  made while it runs (a loop that calls nothing is still a line per turn);
- every operation that can build something much larger than its inputs (repetition,
  concatenation, ``%`` and ``format`` widths, the padding, joining and replacing filters and
  str methods, ``tojson``, list and dict literals, a macro's output, big integers) checks
  the size of its result before building it, and the render has a budget of characters it
  may build in all; nothing is folded at compile time;
- a template that refuses a system message (Gemma 2, older Mistral) is rendered again with
  the system prompt at the start of the first user message, as llama.cpp does.
This module is the only one that imports jinja2.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import BlockReference, Context
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    safe_range,
)
from markupsafe import Markup

from desktopchat.core.chat import Role, ToolCall
from desktopchat.core.errors import TemplateError
from desktopchat.core.inference.template_limits import (
    HOSTILE,
    MAX_RENDER_CHARS,
    PRECHECKS,
    REMOVED_FILTERS,
    REMOVED_GLOBALS,
    RenderBudget,
    RenderStopped,
    check_binop,
    check_method,
    cost,
    format_widths,
    strftime_now,
    tojson,
    too_large,
    weight,
)
from desktopchat.core.inference.template_messages import (
    PROBE_RESULT,
    PROBE_TOOL,
    ChatMessage,
    TemplateCapabilities,
    TemplateOptions,
    adapt_tools,
    message_dict,
)

log = logging.getLogger(__name__)

MAX_TEMPLATE_CHARS = 256_000
RENDER_SECONDS = 0.5  # the deadline for a small conversation...
RENDER_CHARS_PER_SECOND = 4_000_000  # ...plus a second for every 4 MB of messages

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
OWN_DESCRIPTION = "the model's own"
SYSTEM_FOLDED = (
    "with a fallback for the system prompt, which this template does not accept: "
    "it is sent at the start of the first user message"
)


@dataclass(frozen=True)
class RenderedPrompt:
    text: str
    system_folded: bool = False  # the system prompt went into the first user message


class TemplateLimitError(TemplateError):
    """The model's chat template went past a limit (time or size): it is refused."""


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` with every field's width checked before it is formatted."""

    def __init__(self, env: _Sandbox, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._sandbox = env

    def format_field(self, value: Any, format_spec: str) -> Any:
        size = self._sandbox.measure(value) + format_widths(format_spec)
        if size > MAX_RENDER_CHARS:
            raise too_large("a formatted field")
        self._sandbox.charge(size)
        return super().format_field(value, format_spec)


class _BoundedEscapeFormatter(_BoundedFormatter, SandboxedEscapeFormatter):
    pass


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with list, tuple and dict literals and ``~`` checked."""

    def _checked(self, visit: Callable[[], None]) -> None:
        self.write("environment.checked(")
        visit()
        self.write(")")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:  # noqa: N802 (Jinja's names)
        self._checked(lambda: super(_BoundedCodeGenerator, self).visit_List(node, frame))

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:  # noqa: N802
        self._checked(lambda: super(_BoundedCodeGenerator, self).visit_Dict(node, frame))

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:  # noqa: N802
        if node.ctx != "load":  # an assignment target
            super().visit_Tuple(node, frame)
            return
        self._checked(lambda: super(_BoundedCodeGenerator, self).visit_Tuple(node, frame))

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802
        self.write("environment.concat_values((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _environment_of(first: object) -> _Sandbox:
    env = first if isinstance(first, jinja2.Environment) else first.environment  # type: ignore[attr-defined]
    assert isinstance(env, _Sandbox)
    return env


def _bounded_filter(
    name: str, func: Callable[..., Any], precheck: Callable[..., None] | None
) -> Callable[..., Any]:
    """``func`` with its arguments checked first (when it can multiply) and its result
    checked and charged after."""
    pass_arg = getattr(func, "jinja_pass_arg", None)

    def bounded(first: Any, *args: Any, **kwargs: Any) -> Any:
        env = _environment_of(first)
        if precheck is not None:
            precheck(*args, **kwargs)
        result = func(first, *args, **kwargs) if pass_arg is not None else func(*args, **kwargs)
        return env.built(result)

    bounded.__name__ = f"bounded_{name}"
    if pass_arg is None:
        return jinja2.pass_environment(bounded)
    bounded.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return bounded


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with every growth bounded and the render's budget charged."""

    intercepted_binops = frozenset(["*", "**", "+", "%"])
    code_generator_class = _BoundedCodeGenerator

    def __init__(self) -> None:
        super().__init__(
            loader=jinja2.BaseLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.loopcontrols"],
            optimized=False,  # nothing runs at compile time, outside the deadline
            finalize=self.finalize_output,
        )
        self.budget: RenderBudget | None = None
        for name in REMOVED_GLOBALS:
            self.globals.pop(name, None)
        self.globals["range"] = safe_range
        self.globals["raise_exception"] = _raise_exception
        self.globals["strftime_now"] = strftime_now
        self.filters["tojson"] = tojson
        self.filters["join"] = self.join_filter
        self.filters["sum"] = self.sum_filter
        for name in REMOVED_FILTERS:
            self.filters.pop(name, None)
        self.filters = {
            name: _bounded_filter(name, func, PRECHECKS.get(name))
            for name, func in self.filters.items()
        }

    def charge(self, chars: int) -> None:
        if self.budget is not None:
            self.budget.charge(chars)

    def measure(self, value: object) -> int:
        """The printed size of ``value`` (raises when too large), with the render's cache."""
        return weight(value, self.budget.weights if self.budget is not None else None)

    def built(self, value: object) -> Any:
        """A value an operation built: checked, and charged to the render."""
        self.measure(value)
        self.charge(cost(value))
        return value

    @jinja2.pass_context
    def finalize_output(self, context: Context, value: object) -> object:
        """Every ``{{ }}``: its printed size, checked and charged (runs only at render
        time, as it takes the context: no output is computed while compiling)."""
        self.charge(self.measure(value))
        return value

    def checked(self, value: object) -> object:
        """A list, tuple or dict literal."""
        return self.built(value)

    def concat_values(self, values: tuple[object, ...]) -> str:
        """``a ~ b``."""
        size = sum(self.measure(v) for v in values)
        if size > MAX_RENDER_CHARS:
            raise too_large("a joined text")
        self.charge(size)
        return "".join(map(str, values))

    def concat(self, parts: Iterable[str]) -> str:
        """A macro's output, a ``{% set %}`` block, a filter block."""
        pieces = list(parts)
        size = sum(map(len, pieces))
        if size > MAX_RENDER_CHARS:
            raise too_large("a block of output")
        self.charge(size)
        return "".join(pieces)

    def join_filter(self, value: Iterable[object], d: object = "", attribute: object = None) -> str:
        items = list(value)
        if attribute is not None:
            get = jinja2.filters.make_attrgetter(self, attribute)  # type: ignore[arg-type]
            items = [get(item) for item in items]
        sep = str(d)
        size = len(sep) * max(len(items) - 1, 0)
        if size > MAX_RENDER_CHARS:
            raise too_large("a joined text")
        size += sum(self.measure(i) for i in items)
        if size > MAX_RENDER_CHARS:
            raise too_large("a joined text")
        return sep.join(map(str, items))

    def sum_filter(
        self, iterable: Iterable[object], attribute: object = None, start: object = 0
    ) -> object:
        total = start
        get = (
            jinja2.filters.make_attrgetter(self, attribute)  # type: ignore[arg-type]
            if attribute is not None
            else None
        )
        for item in iterable:
            value = get(item) if get is not None else item
            total = self._binop("+", total, value)
        return total

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator not in self.intercepted_binops:
            return super().call_binop(context, operator, left, right)
        return self._binop(operator, left, right)

    def _binop(self, operator: str, left: Any, right: Any) -> Any:
        cache = self.budget.weights if self.budget is not None else None
        size = check_binop(operator, left, right, cache)
        result = self.binop_table[operator](left, right)
        if size is None:
            return self.built(result)
        if cache is not None:  # a joined list: its weight is known without walking it
            cache.put(result, size)
        self.charge(cost(result))
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Any call in the template: str and bytes methods that can multiply are checked
        before they run; every result is checked and charged after."""
        if isinstance(obj, BlockReference):  # self.name(): its output joined by our concat
            return self.concat(obj._stack[obj._depth](obj._context))
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str | bytes):
            name = getattr(obj, "__name__", "")
            if name == "join" and len(args) == 1 and not kwargs:
                args = (list(args[0]),)  # counted before joining, even from a generator
            check_method(owner, name, args, kwargs)
        return self.built(super().call(context, obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        f_self = value.__self__
        formatter: _BoundedFormatter
        if isinstance(f_self, Markup):
            formatter = _BoundedEscapeFormatter(self, escape=f_self.escape)
        else:
            formatter = _BoundedFormatter(self)
        is_format_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            text: str = type(f_self)(formatter.vformat(f_self, args, kwargs))
            return text

        return bounded


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)


def fold_system(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The system messages moved to the start of the first user message (a user message
    of their own when there is none), as llama.cpp does for templates without a system
    role."""
    system = "\n\n".join(m.content for m in messages if m.role is Role.SYSTEM)
    rest = [m for m in messages if m.role is not Role.SYSTEM]
    for i, message in enumerate(rest):
        if message.role is Role.USER:
            rest[i] = replace(message, content=f"{system}\n\n{message.content}")
            return rest
    return [ChatMessage(Role.USER, system), *rest]


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
        self.description = FALLBACK_DESCRIPTION if self.is_fallback else OWN_DESCRIPTION
        self._env = _Sandbox()
        self._lock = threading.Lock()  # the budget lives on the environment: one render at a time
        # Reasoning goes back only to templates that read it (Qwen3's keeps it for the turns
        # of a tool loop, gpt-oss's for its last); others never see earlier thinking.
        self.reads_reasoning = not self.is_fallback and (
            "reasoning_content" in text or "message.thinking" in text
        )
        self.source = "" if self.is_fallback else text
        self._null_content = False  # see capabilities
        try:
            self._template = self._env.from_string(text)
        except Exception as exc:  # a syntax error, or source nested too deep to compile
            raise TemplateError(f"The model's chat template is invalid: {exc}") from None

    @functools.cached_property
    def capabilities(self) -> TemplateCapabilities:
        """What the template does with tools, found by rendering probes (as llama.cpp's
        minja does): does it print the ``tools`` it is given, an assistant's ``tool_calls``,
        a ``tool`` message? What it does not, ``render_prompt`` writes in for it."""
        if self.is_fallback:
            return TemplateCapabilities(False, False, False)

        def shows(marker: str, messages: list[ChatMessage], options: TemplateOptions) -> bool:
            try:
                return marker in self._render(messages, True, options)
            except TemplateError:
                return False

        user = ChatMessage(Role.USER, "Hi")
        probe = {
            "type": "function",
            "function": {
                "name": PROBE_TOOL,
                "description": "probe",
                "parameters": {"type": "object", "properties": {}},
            },
        }
        with_tools = TemplateOptions(tools=(probe,))
        call = ToolCall("probe0001", PROBE_TOOL, {"probe_arg": 1})
        asked = ChatMessage(Role.ASSISTANT, "", tool_calls=(call,))
        result = ChatMessage(Role.TOOL, PROBE_RESULT, tool_call_id=call.id, name=PROBE_TOOL)
        tools = shows(PROBE_TOOL, [user], with_tools)
        conversation = [user, asked, result]
        calls = shows("probe_arg", conversation, with_tools)
        role = shows(PROBE_RESULT, conversation, with_tools)
        null_content = False
        if not calls:  # some show tool calls only with a null content, as OpenAI sends it
            self._null_content = True
            if shows("probe_arg", conversation, with_tools):
                calls, null_content = True, True
                role = shows(PROBE_RESULT, conversation, with_tools)
        self._null_content = null_content
        return TemplateCapabilities(tools, calls, role, null_content)

    def render(
        self,
        messages: Sequence[ChatMessage],
        *,
        add_generation_prompt: bool = True,
        options: TemplateOptions | None = None,
    ) -> str:
        return self.render_prompt(
            messages, add_generation_prompt=add_generation_prompt, options=options
        ).text

    def render_prompt(
        self,
        messages: Sequence[ChatMessage],
        *,
        add_generation_prompt: bool = True,
        options: TemplateOptions | None = None,
    ) -> RenderedPrompt:
        """The prompt for ``messages``. A template that fails on them while they hold a
        system message gets them again with the system prompt folded into the first user
        message (decided by rendering, whatever the model is called). Tools, calls and
        results it cannot show are written in as text (``adapt_tools``), as they are when
        it fails on them in the shape it showed in the probes."""
        options = options or TemplateOptions()
        if options.tools or any(m.tool_calls or m.role is Role.TOOL for m in messages):
            try:
                adapted, adapted_options = adapt_tools(messages, options, self.capabilities)
                return self._render_folding(adapted, add_generation_prompt, adapted_options)
            except TemplateLimitError:
                raise
            except TemplateError as exc:
                log.info("the template failed with tools (%s): they are written in as text", exc)
            plain = TemplateCapabilities(False, False, False)
            messages, options = adapt_tools(messages, options, plain)
        return self._render_folding(messages, add_generation_prompt, options)

    def _render_folding(
        self, messages: Sequence[ChatMessage], add_generation_prompt: bool, options: TemplateOptions
    ) -> RenderedPrompt:
        try:
            return RenderedPrompt(self._render(messages, add_generation_prompt, options))
        except TemplateLimitError:
            raise
        except TemplateError:
            if self.is_fallback or not any(m.role is Role.SYSTEM for m in messages):
                raise
        folded = fold_system(messages)
        return RenderedPrompt(
            self._render(folded, add_generation_prompt, options), system_folded=True
        )

    def _variables(
        self,
        messages: Sequence[ChatMessage],
        add_generation_prompt: bool,
        options: TemplateOptions,
    ) -> dict[str, Any]:
        variables: dict[str, Any] = {
            "messages": [
                message_dict(m, self.reads_reasoning, self._null_content) for m in messages
            ],
            "add_generation_prompt": add_generation_prompt,
            "bos_token": self.bos_text,
            "eos_token": self.eos_text,
            # Llama 3.x's templates print it in their system header (their default is 2024's).
            "date_string": datetime.date.today().strftime("%d %b %Y"),
        }
        if options.tools:
            variables["tools"] = [dict(t) for t in options.tools]
        if options.enable_thinking is not None:
            variables["enable_thinking"] = options.enable_thinking
            variables["thinking"] = options.enable_thinking
        if options.reasoning_effort:
            variables["reasoning_effort"] = options.reasoning_effort
        variables.update(options.extra)
        return variables

    def _render(
        self,
        messages: Sequence[ChatMessage],
        add_generation_prompt: bool,
        options: TemplateOptions | None = None,
    ) -> str:
        options = options or TemplateOptions()
        chars = sum(len(m.content) + len(m.reasoning) for m in messages)
        chars += sum(len(json.dumps(t, default=str)) for t in options.tools)
        budget = RenderBudget(RENDER_SECONDS + chars / RENDER_CHARS_PER_SECOND)
        parts: list[str] = []
        size = 0
        with self._lock:
            self._env.budget = budget
            previous = sys.gettrace()
            sys.settrace(budget.tracer())
            try:
                for chunk in self._template.generate(
                    self._variables(messages, add_generation_prompt, options)
                ):
                    size += len(chunk)
                    if size > MAX_RENDER_CHARS:
                        raise TemplateLimitError(
                            "The model's chat template produced a prompt of more than "
                            f"{MAX_RENDER_CHARS:,} characters."
                        )
                    budget.check_time()
                    parts.append(chunk)
            except RenderStopped as stop:
                raise TemplateLimitError(stop.message) from None
            except RecursionError:
                raise TemplateLimitError(
                    f"The model's chat template calls itself too deeply; {HOSTILE}"
                ) from None
            except TemplateError:
                raise
            except Exception as exc:  # the template's own error, whatever its type
                raise TemplateError(f"The model's chat template failed: {exc}") from None
            finally:
                sys.settrace(previous)
                self._env.budget = None
        return "".join(parts)
