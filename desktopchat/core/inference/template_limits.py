"""Size and time limits for rendering untrusted chat templates (plain Python, no jinja2).

What any operation of a template may build is computed here before it is built: the
printed size of a value (``weight``), ``%`` and ``format`` widths, padding, replacing,
joining, repetition, big numbers, JSON; and one render's budget: its deadline (checked by a
trace function on the rendering thread) and the characters it may build in all.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Callable, ItemsView, Iterable, KeysView, Mapping, ValuesView
from types import FrameType
from typing import Any

MAX_RENDER_CHARS = 8_000_000  # the longest prompt, and the longest value any operation builds
RENDER_BUDGET_CHARS = 16 * MAX_RENDER_CHARS  # all that one render may build, in characters
MAX_INT_BITS = 1 << 16
MAX_JSON_INDENT = 64
MAX_SLICES = 100_000
LISTED_CHAR = 8  # the printed size of one character in a list: "'x', "
TEMPLATE_FILENAME = "<template>"  # what Jinja names the code it compiles from a string
HOSTILE = "it is broken or hostile. Use another model file."


class RenderStopped(BaseException):
    """Ends a render from inside it. A BaseException, so that no ``except Exception`` in
    Jinja's or Python's code on the way can swallow it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def too_large(what: str) -> RenderStopped:
    return RenderStopped(
        f"The model's chat template tried to build {what} of more than "
        f"{MAX_RENDER_CHARS:,} characters; {HOSTILE}"
    )


class WeightCache:
    """The weights of the last few containers measured in one render (held while cached,
    so that an id stays its object's), so that a list built one item at a time, as some
    real templates do, is measured in linear time."""

    SIZE = 16

    def __init__(self) -> None:
        self._items: dict[int, tuple[object, int]] = {}

    def get(self, value: object) -> int | None:
        hit = self._items.get(id(value))
        return hit[1] if hit is not None and hit[0] is value else None

    def put(self, value: object, size: int) -> None:
        if len(self._items) >= self.SIZE:
            del self._items[next(iter(self._items))]
        self._items[id(value)] = (value, size)


class RenderBudget:
    """One render's deadline, the characters it may still build, and its weight cache."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.left = RENDER_BUDGET_CHARS
        self.weights = WeightCache()

    def charge(self, chars: int) -> None:
        self.left -= chars
        if self.left < 0:
            raise RenderStopped(
                f"The model's chat template built more than {RENDER_BUDGET_CHARS:,} "
                f"characters while rendering; {HOSTILE}"
            )

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderStopped(
                f"The model's chat template took more than {self.seconds:.1f} seconds to "
                f"render; {HOSTILE}"
            )

    def tracer(self) -> Callable[[FrameType, str, object], Any]:
        """A trace function: the deadline on calls, and on lines of template code (the
        clock is read every 32 events: a line of template code takes a microsecond or so)."""
        events = 0
        deadline = self.deadline
        clock = time.monotonic

        def line(frame: FrameType, event: str, arg: object) -> Any:
            nonlocal events
            events += 1
            if not events & 31 and clock() > deadline:
                self.check_time()
            return line

        def call(frame: FrameType, event: str, arg: object) -> Any:
            nonlocal events
            events += 1
            if not events & 31 and clock() > deadline:
                self.check_time()
            return line if frame.f_code.co_filename == TEMPLATE_FILENAME else None

        return call


def _scalar(item: object, inner: bool) -> int | None:
    """The printed size of a string, number or bytes (inside a container: its repr);
    None for containers and other objects."""
    if isinstance(item, str):
        if not inner:
            return len(item)
        return 2 + (2 if item.isprintable() else 10) * len(item)  # repr's escapes
    if isinstance(item, bool | float | None):
        return 24
    if isinstance(item, int):
        return 2 + item.bit_length() // 3
    if isinstance(item, bytes | bytearray):
        return 3 + 4 * len(item)
    return None


def cost(value: object) -> int:
    """What building ``value`` took, in characters (or references, for containers)."""
    if isinstance(value, str | bytes | bytearray | list | tuple | dict | set | frozenset):
        return len(value)
    return 1


def weight(value: object, cache: WeightCache | None = None) -> int:
    """An upper bound of the length of ``str(value)``; raises once it passes
    MAX_RENDER_CHARS (shared parts count each time they would be printed, but are walked
    once)."""
    size = _scalar(value, False)
    if size is None:
        size = cache.get(value) if cache is not None else None
        if size is None:
            size = _walk(value, MAX_RENDER_CHARS, {}, cache)
            if cache is not None:
                cache.put(value, size)
    if size > MAX_RENDER_CHARS:
        raise too_large("a value")
    return size


def _walk(item: object, limit: int, memo: dict[int, int], cache: WeightCache | None) -> int:
    if type(item).__name__ == "Namespace":  # jinja2's: prints as its attributes
        item = object.__getattribute__(item, "_Namespace__attrs")
    parts: Iterable[object]
    if isinstance(item, Mapping):
        parts = (x for pair in item.items() for x in pair)
    elif isinstance(item, list | tuple | set | frozenset | KeysView | ValuesView):
        parts = item
    elif isinstance(item, ItemsView):
        parts = (x for pair in item for x in pair)
    else:
        return 100  # other objects (loops, macros, methods) print as a short name
    key = id(item)
    if key in memo:
        return memo[key]
    cached = cache.get(item) if cache is not None else None
    if cached is not None:
        return cached
    memo[key] = 16  # a cycle prints as "[...]"
    total = 16
    for part in parts:  # the common cases inline: a call per item is a trace event too
        if isinstance(part, str):
            size = 2 + (2 if part.isprintable() else 10) * len(part)
        elif type(part) is int:
            size = 2 + part.bit_length() // 3
        else:
            scalar = _scalar(part, True)
            size = _walk(part, limit, memo, cache) if scalar is None else scalar
        total += 4 + size
        if total > limit:
            raise too_large("a value")
    memo[key] = total
    return total


def check_number(value: object, what: str) -> None:
    """A width, count or repetition from the template: refused when too large."""
    if isinstance(value, int) and value > MAX_RENDER_CHARS:
        raise too_large(what)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def format_widths(spec: str) -> int:
    """The sum of the numbers in a format spec (widths and precisions)."""
    total = 0
    for run in _DIGITS.findall(spec):
        if len(run) > 9:
            raise too_large("a formatted field")
        total += int(run)
    return total


def check_percent(fmt: str | bytes, values: object) -> int:
    """The most that ``fmt % values`` can build; raises when it is too much."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    total = len(text) + weight(values)
    for match in _PERCENT_SPEC.finditer(text):
        if "*" in match.group(0):  # widths from the values: count every number among them
            args = values if isinstance(values, tuple) else (values,)
            total += sum(abs(a) for a in args if isinstance(a, int))
        total += format_widths(match.group(0))
    if total > MAX_RENDER_CHARS:
        raise too_large("a formatted text")
    return total


def replace_size(text: str | bytes, old: object, new: object, count: object) -> int:
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
        return len(text)
    found = len(text) + 1 if not old else text.count(old)  # type: ignore[arg-type]
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(0, len(new) - len(old))


def _pre_center(value: object, width: object = 80) -> None:
    check_number(width, "a centered text")


def _pre_indent(value: object, width: object = 4, *args: object, **kwargs: object) -> None:
    text = str(value)
    each = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    if len(text) + (text.count("\n") + 1) * max(each, 0) > MAX_RENDER_CHARS:
        raise too_large("an indented text")


def _pre_format(value: object, *args: object, **kwargs: object) -> None:
    check_percent(str(value), kwargs or args)


def _pre_wordwrap(value: object, width: object = 79, *args: object, **kwargs: object) -> None:
    wrap = kwargs.get("wrapstring", args[1] if len(args) > 1 else "\n")
    text = str(value)
    if len(text) + (len(text) + 1) * len(str(wrap or "\n")) > MAX_RENDER_CHARS:
        raise too_large("a wrapped text")


def _pre_replace(value: object, old: object, new: object, count: object = None) -> None:
    if replace_size(str(value), str(old), str(new), count) > MAX_RENDER_CHARS:
        raise too_large("a replaced text")


def _pre_batch(value: object, linecount: object, fill_with: object = None) -> None:
    if isinstance(linecount, int) and linecount * (1 + weight(fill_with)) > MAX_RENDER_CHARS:
        raise too_large("a batch")


def _pre_slice(value: object, slices: object, fill_with: object = None) -> None:
    _pre_listing(value)
    if isinstance(slices, int) and slices > MAX_SLICES:
        raise too_large("a list of slices")


def _pre_listing(value: object, *args: object, **kwargs: object) -> None:
    """Filters that make a list of a text's characters: one object per character."""
    if isinstance(value, str) and LISTED_CHAR * len(value) > MAX_RENDER_CHARS:
        raise too_large("a list of characters")


PRECHECKS: dict[str, Callable[..., None]] = {
    "center": _pre_center,
    "indent": _pre_indent,
    "format": _pre_format,
    "wordwrap": _pre_wordwrap,
    "replace": _pre_replace,
    "batch": _pre_batch,
    "slice": _pre_slice,
    "list": _pre_listing,
    "sort": _pre_listing,
    "unique": _pre_listing,
    "groupby": _pre_listing,
}
REMOVED_FILTERS = ("pprint", "urlize")  # unbounded output, and no chat template needs them
REMOVED_GLOBALS = ("lipsum",)


def tojson(
    value: object,
    indent: object = None,
    separators: object = None,
    sort_keys: object = False,
    ensure_ascii: object = True,
) -> str:
    """JSON as Hugging Face's templates expect it (not HTML-escaped), built piece by piece
    so that its size is counted before it is all there."""
    if isinstance(indent, int) and indent > MAX_JSON_INDENT:
        raise too_large("an indented JSON text")
    if isinstance(indent, str) and len(indent) > MAX_JSON_INDENT:
        raise too_large("an indented JSON text")
    encoder = json.JSONEncoder(
        indent=indent,  # type: ignore[arg-type]
        separators=separators,  # type: ignore[arg-type]
        sort_keys=bool(sort_keys),
        ensure_ascii=bool(ensure_ascii),
        default=str,
    )
    parts: list[str] = []
    size = 0
    for chunk in encoder.iterencode(value):
        size += len(chunk)
        if size > MAX_RENDER_CHARS:
            raise too_large("a JSON text")
        parts.append(chunk)
    return "".join(parts)


def check_method(
    owner: str | bytes, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    def arg(i: int, key: str, default: object) -> object:
        return args[i] if len(args) > i else kwargs.get(key, default)

    if name in ("center", "ljust", "rjust", "zfill"):
        check_number(arg(0, "width", 0), "a padded text")
    elif name == "expandtabs":
        size = arg(0, "tabsize", 8)
        tab = b"\t" if isinstance(owner, bytes) else "\t"
        if isinstance(size, int) and len(owner) + owner.count(tab) * size > MAX_RENDER_CHARS:  # type: ignore[arg-type]
            raise too_large("an expanded text")
    elif name == "replace":
        old, new, count = arg(0, "old", ""), arg(1, "new", ""), arg(2, "count", -1)
        if replace_size(owner, old, new, count) > MAX_RENDER_CHARS:
            raise too_large("a replaced text")
    elif name == "join":
        items = arg(0, "iterable", ())
        if isinstance(items, list):
            size = len(owner) * max(len(items) - 1, 0) + sum(weight(i) for i in items)
            if size > MAX_RENDER_CHARS:
                raise too_large("a joined text")
    elif name in ("split", "rsplit", "splitlines"):
        sep = arg(0, "sep", None) if name != "splitlines" else None
        pieces = (  # on any whitespace or line break: at most a piece per character or two
            owner.count(sep) + 1  # type: ignore[arg-type]
            if isinstance(sep, str | bytes) and sep
            else len(owner) // (1 if name == "splitlines" else 2) + 1
        )
        if LISTED_CHAR * pieces + 2 * len(owner) > MAX_RENDER_CHARS:
            raise too_large("a list of pieces")
    elif name == "translate":
        table = arg(0, "table", None)
        if isinstance(table, Mapping) and table:
            longest = max(weight(v) for v in table.values())
            if len(owner) * longest > MAX_RENDER_CHARS:
                raise too_large("a translated text")


def strftime_now(fmt: str) -> str:
    if len(fmt) > 1000:
        raise too_large("a date format")
    return datetime.datetime.now().strftime(fmt)


def check_add(left: object, right: object, cache: WeightCache | None = None) -> int | None:
    """Raises when ``left + right`` would be too large; the weight of a joined list."""
    if isinstance(left, str | bytes) and isinstance(right, type(left)):
        if len(left) + len(right) > MAX_RENDER_CHARS:
            raise too_large("a joined value")
    elif isinstance(left, list | tuple) and isinstance(right, type(left)):
        size = weight(left, cache) + weight(right, cache)
        if size > MAX_RENDER_CHARS:
            raise too_large("a joined value")
        return size
    return None


def check_binop(
    operator: str, left: object, right: object, cache: WeightCache | None = None
) -> int | None:
    """``left operator right`` for the operators that can build something large: raises
    when it would be too large; the weight of a joined list."""
    if operator == "+":
        return check_add(left, right, cache)
    elif operator == "*":
        for sized, count in ((left, right), (right, left)):
            if (
                isinstance(sized, str | bytes | list | tuple)
                and isinstance(count, int)
                and count > 0
                and weight(sized, cache) * count > MAX_RENDER_CHARS
            ):
                raise too_large("a repetition")
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > MAX_INT_BITS
        ):
            raise too_large("a number")
    elif operator == "**":
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and max(left.bit_length(), 1) * right > MAX_INT_BITS
        ):
            raise too_large("a power")
    elif operator == "%" and isinstance(left, str | bytes):
        check_percent(left, right)
    return None
