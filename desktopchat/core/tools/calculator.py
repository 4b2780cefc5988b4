"""The calculator tool: arithmetic from a model's (or a user's) text, safely.

The expression is parsed with ``ast`` and walked here: only numbers, the arithmetic
operators, parentheses and a fixed table of functions and constants are understood. Nothing
is ever evaluated by Python itself (no eval, exec or compile), and every step that could take
long or use much memory is bounded before it runs: the input's length and nesting, the
digits an integer result may have (a power is refused *before* it is computed), and the
argument of factorial.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable

MAX_EXPRESSION_CHARS = 1_000
MAX_DEPTH = 60  # nested operations, calls and parentheses
MAX_INT_DIGITS = 4_000  # under Python's own limit for turning an int into text (4,300)
MAX_FACTORIAL = 1_000
MAX_ROUND_DIGITS = 100

_LOG10_2 = math.log10(2)

Number = int | float


class CalculationError(ValueError):
    """The expression cannot be computed; the message says why, for the model or user."""


# What users type that Python spells otherwise.
_SPELLINGS = {
    "^": "**",
    "×": "*",
    "·": "*",
    "÷": "/",
    "−": "-",  # the minus sign
    "–": "-",  # an en dash
    "π": "pi",
    "τ": "tau",
}

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _digits(value: int) -> int:
    """About how many decimal digits ``value`` has (without turning it into text)."""
    return int(abs(value).bit_length() * _LOG10_2) + 1


def _checked(value: object) -> Number:
    """A result that may go on: a real, finite number of bounded size."""
    if isinstance(value, bool):  # True is an int; never a result here
        return int(value)
    if isinstance(value, int):
        if _digits(value) > MAX_INT_DIGITS:
            raise CalculationError(f"the result is too large (more than {MAX_INT_DIGITS:,} digits)")
        return value
    if isinstance(value, float):
        if math.isnan(value):
            raise CalculationError("the result is not a number")
        if math.isinf(value):
            raise CalculationError("the result is too large")
        return value
    if isinstance(value, complex):
        raise CalculationError("the result is not a real number")
    raise CalculationError("the result is not a number")


def _integer(value: Number, what: str) -> int:
    if isinstance(value, int):
        return value
    if value.is_integer():
        return int(value)
    raise CalculationError(f"{what} needs a whole number, not {format_number(value)}")


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, int) and isinstance(exponent, int) and exponent >= 0:
        # The digits of base ** exponent, before computing it: 9 ** 9 ** 9 is refused at once
        # (1 ** n, (-1) ** n and 0 ** n are small whatever n is).
        if abs(base) > 1 and exponent * math.log10(abs(base)) > MAX_INT_DIGITS:
            raise CalculationError(f"the result is too large (more than {MAX_INT_DIGITS:,} digits)")
        whole: int = base**exponent
        return whole
    try:
        result: object = float(base) ** float(exponent)
    except ZeroDivisionError:
        raise CalculationError("division by zero (zero to a negative power)") from None
    if not isinstance(result, float):  # a negative number to a fractional power
        raise CalculationError("the result is not a real number")
    return result


def _divide(a: Number, b: Number) -> Number:
    if b == 0:
        raise CalculationError("division by zero")
    if isinstance(a, int) and isinstance(b, int) and a % b == 0:
        return a // b  # exact: 10 / 2 is 5, and 10 ** 30 / 10 stays exact
    return a / b


def _floor_divide(a: Number, b: Number) -> Number:
    if b == 0:
        raise CalculationError("division by zero")
    return a // b


def _modulo(a: Number, b: Number) -> Number:
    if b == 0:
        raise CalculationError("division by zero (modulo zero)")
    return a % b


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: _divide,
    ast.FloorDiv: _floor_divide,
    ast.Mod: _modulo,
    ast.Pow: _power,
}

_OPERATOR_NAMES: dict[type[ast.AST], str] = {
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
    ast.Not: "not",
}


# -- functions ------------------------------------------------------------------------


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise CalculationError("sqrt of a negative number is not a real number")
    if isinstance(x, int):
        root = math.isqrt(x)
        if root * root == x:
            return root  # exact for perfect squares, however large
    return math.sqrt(x)


def _log(x: Number, base: Number | None = None) -> Number:
    if x <= 0:
        raise CalculationError("log is defined for positive numbers only")
    if base is None:
        return math.log(x)
    if base <= 0 or base == 1:
        raise CalculationError("log's base must be positive and not 1")
    return math.log(x, base)


def _positive_log(function: Callable[[float], float], name: str) -> Callable[[Number], Number]:
    def log(x: Number) -> Number:
        if x <= 0:
            raise CalculationError(f"{name} is defined for positive numbers only")
        return function(x)

    return log


def _factorial(n: Number) -> Number:
    whole = _integer(n, "factorial")
    if whole < 0:
        raise CalculationError("factorial is defined for numbers from 0 up")
    if whole > MAX_FACTORIAL:
        raise CalculationError(f"factorial is limited to numbers up to {MAX_FACTORIAL:,}")
    return math.factorial(whole)


def _round(x: Number, digits: Number | None = None) -> Number:
    if digits is None:
        return round(x)
    places = _integer(digits, "round's number of digits")
    if abs(places) > MAX_ROUND_DIGITS:
        raise CalculationError(f"round's number of digits is limited to {MAX_ROUND_DIGITS}")
    return round(x, places)


def _whole(function: Callable[[float], int]) -> Callable[[Number], Number]:
    def rounded(x: Number) -> Number:
        return x if isinstance(x, int) else function(x)

    return rounded


def _in_range(
    function: Callable[[float], float], name: str, low: float, high: float
) -> Callable[[Number], Number]:
    def bounded(x: Number) -> Number:
        if not low <= x <= high:
            raise CalculationError(f"{name} is defined for numbers from {low:g} to {high:g}")
        return function(x)

    return bounded


def _exp(x: Number) -> Number:
    if x > 709.78:
        raise CalculationError("the result is too large")
    return math.exp(x)


def _abs(x: Number) -> Number:
    return abs(x)


def _min(*values: Number) -> Number:
    return min(values)


def _max(*values: Number) -> Number:
    return max(values)


# name: (function, least arguments, most arguments; None: any number)
FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int | None]] = {
    "sqrt": (_sqrt, 1, 1),
    "log": (_log, 1, 2),
    "ln": (_positive_log(math.log, "ln"), 1, 1),
    "log10": (_positive_log(math.log10, "log10"), 1, 1),
    "log2": (_positive_log(math.log2, "log2"), 1, 1),
    "exp": (_exp, 1, 1),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
    "asin": (_in_range(math.asin, "asin", -1, 1), 1, 1),
    "acos": (_in_range(math.acos, "acos", -1, 1), 1, 1),
    "atan": (math.atan, 1, 1),
    "abs": (_abs, 1, 1),
    "round": (_round, 1, 2),
    "floor": (_whole(math.floor), 1, 1),
    "ceil": (_whole(math.ceil), 1, 1),
    "min": (_min, 1, None),
    "max": (_max, 1, None),
    "factorial": (_factorial, 1, 1),
}


# -- the walk ---------------------------------------------------------------------------


def _describe(node: ast.AST) -> str:
    """What a refused piece of syntax is, in words."""
    kinds: dict[type[ast.AST], str] = {
        ast.Attribute: "attribute access ('.')",
        ast.Lambda: "lambda",
        ast.Subscript: "indexing ('[…]')",
        ast.Compare: "comparison",
        ast.BoolOp: "'and'/'or'",
        ast.IfExp: "'if … else'",
        ast.NamedExpr: "assignment (':=')",
        ast.Starred: "'*' unpacking",
        ast.List: "a list",
        ast.Tuple: "a tuple (a ',' outside a function call)",
        ast.Dict: "a dictionary",
        ast.Set: "a set",
        ast.JoinedStr: "a string",
        ast.ListComp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.GeneratorExp: "a comprehension",
        ast.Await: "'await'",
        ast.Yield: "'yield'",
        ast.YieldFrom: "'yield'",
        ast.Slice: "a slice",
    }
    return kinds.get(type(node), type(node).__name__)


class _Evaluator:
    def __init__(self) -> None:
        self.depth = 0

    def value(self, node: ast.AST) -> Number:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CalculationError(f"the expression is nested too deeply (over {MAX_DEPTH} levels)")
        try:
            return _checked(self._value(node))
        finally:
            self.depth -= 1

    def _value(self, node: ast.AST) -> Number:
        if isinstance(node, ast.Expression):
            return self.value(node.body)
        if isinstance(node, ast.Constant):
            return self._constant(node.value)
        if isinstance(node, ast.BinOp):
            return self._chain(node)
        if isinstance(node, ast.UnaryOp):
            operand = self.value(node.operand)
            if isinstance(node.op, ast.USub):
                return -operand
            if isinstance(node.op, ast.UAdd):
                return +operand
            symbol = _OPERATOR_NAMES.get(type(node.op), type(node.op).__name__)
            raise CalculationError(f"the operator '{symbol}' is not supported")
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            if node.id in FUNCTIONS:
                raise CalculationError(f"'{node.id}' is a function: write {node.id}(…)")
            raise CalculationError(f"unknown name '{node.id}'")
        if isinstance(node, ast.Call):
            return self._call(node)
        raise CalculationError(f"{_describe(node)} is not allowed in a calculation")

    def _chain(self, node: ast.BinOp) -> Number:
        """``a + b - c * d …``: a chain of left-associative operations is walked in a loop,
        so that a long sum is not "nested too deeply" (its right operands are nested)."""
        chain = [node]
        while isinstance(chain[-1].left, ast.BinOp):
            chain.append(chain[-1].left)
        result = self.value(chain[-1].left)
        for link in reversed(chain):
            operation = _BINARY.get(type(link.op))
            if operation is None:
                symbol = _OPERATOR_NAMES.get(type(link.op), type(link.op).__name__)
                raise CalculationError(f"the operator '{symbol}' is not supported")
            right = self.value(link.right)
            result = _checked(self._arithmetic(operation, result, right))
        return result

    @staticmethod
    def _constant(value: object) -> Number:
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise CalculationError(f"'{value}' is not a number")
        if isinstance(value, int | float):
            if isinstance(value, float) and math.isinf(value):
                raise CalculationError("a number in the expression is too large")
            return value
        if isinstance(value, complex):
            raise CalculationError("complex numbers are not supported")
        if isinstance(value, str | bytes):
            raise CalculationError("text is not allowed in a calculation, only numbers")
        raise CalculationError("only numbers are allowed in a calculation")

    @staticmethod
    def _arithmetic(
        operation: Callable[[Number, Number], Number], left: Number, right: Number
    ) -> Number:
        try:
            return operation(left, right)
        except ZeroDivisionError:
            raise CalculationError("division by zero") from None
        except OverflowError:
            raise CalculationError("the result is too large") from None

    def _call(self, node: ast.Call) -> Number:
        if not isinstance(node.func, ast.Name):
            raise CalculationError(f"{_describe(node.func)} is not allowed in a calculation")
        name = node.func.id
        entry = FUNCTIONS.get(name)
        if entry is None:
            raise CalculationError(f"unknown function '{name}'")
        if node.keywords:
            raise CalculationError(f"{name}() takes no named arguments")
        function, least, most = entry
        count = len(node.args)
        if count < least or (most is not None and count > most):
            if most is None:
                wanted = f"at least {least}"
            elif least == most:
                wanted = str(least)
            else:
                wanted = f"{least} or {most}"
            plural = "" if (most or least) == 1 else "s"
            raise CalculationError(f"{name}() takes {wanted} argument{plural}, not {count}")
        arguments = [self.value(argument) for argument in node.args]
        try:
            return function(*arguments)
        except CalculationError:
            raise
        except ZeroDivisionError:
            raise CalculationError(f"division by zero in {name}()") from None
        except OverflowError:
            raise CalculationError(f"the result of {name}() is too large") from None
        except ValueError:
            raise CalculationError(f"{name}() is not defined for this value") from None


def _max_parentheses(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def format_number(value: Number) -> str:
    """Integers exactly; floats to 15 significant digits (0.1 + 0.2 is 0.3)."""
    if isinstance(value, int):
        return str(value)
    text = format(value, ".15g")
    return "0" if text == "-0" else text


def evaluate(expression: str) -> str:
    """The value of an arithmetic expression, as text. Raises CalculationError (a
    ValueError) with a message saying what is wrong: "division by zero", "unknown name 'x'",
    "the result is too large (…)"."""
    text = expression.strip()
    if not text:
        raise CalculationError("the expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise CalculationError(
            f"the expression is too long ({len(text):,} characters; at most"
            f" {MAX_EXPRESSION_CHARS:,})"
        )
    for typed, python in _SPELLINGS.items():
        text = text.replace(typed, python)
    if _max_parentheses(text) > MAX_DEPTH:
        raise CalculationError(f"the expression is nested too deeply (over {MAX_DEPTH} levels)")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError) as error:
        detail = error.msg if isinstance(error, SyntaxError) else str(error)
        raise CalculationError(f"the expression cannot be read: {detail}") from None
    except (RecursionError, MemoryError):
        raise CalculationError("the expression is nested too deeply") from None
    try:
        return format_number(_Evaluator().value(tree))
    except RecursionError:
        raise CalculationError("the expression is nested too deeply") from None
