"""A safe arithmetic expression over arrays: numbers, ``+ - * / **``, unary ``-``/``+``,
parentheses, ``min``/``max``/``abs``, and references (``$(memory.usage)`` for a
meter, or names the caller allows, such as ``volume``).

The text is parsed with :mod:`ast` and every node checked against that list;
nothing is ever evaluated by Python's ``eval``.  The checked tree becomes a tree
of closures over numpy arrays, evaluated with floating-point errors ignored: a
division by zero or an overflow gives inf or NaN, which the caller drops.
"""
from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from heat_alarming.metering.pipeline.base import PipelineError

MAX_LENGTH = 1000  # characters of an expression
MAX_NODES = 200  # nodes of its parsed tree
MAX_REFERENCES = 32  # distinct meters it names
_REF = re.compile(r"\$\(\s*([A-Za-z0-9_.:/-]{1,255})\s*\)")
_PLACEHOLDER = "_ref{}_"
_BINARY = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
           ast.Div: np.true_divide, ast.Pow: np.power}
_FUNCTIONS = {"min": np.minimum, "max": np.maximum}

Evaluator = Callable[[Sequence[np.ndarray]], np.ndarray]


class Expression:
    """A checked expression: ``references`` (the meters or names it reads, in order)
    and :meth:`evaluate` (their arrays, in that order, to the result array)."""

    def __init__(self, text: str, field: str, *, meters: bool = True,
                 names: Iterable[str] = ()) -> None:
        self.field = field
        if not isinstance(text, str) or not text.strip():
            raise PipelineError(field, "must be a non-empty text")
        if len(text) > MAX_LENGTH:
            raise PipelineError(field, f"is longer than {MAX_LENGTH} characters")
        self.text = text
        refs: list[str] = []

        def placeholder(match: re.Match) -> str:
            name = match.group(1)
            if name not in refs:
                refs.append(name)
            return _PLACEHOLDER.format(refs.index(name))

        if meters:
            if re.search(r"_ref\d+_", text):
                raise PipelineError(field, "must not use the name "
                                           f"{re.search(r'_ref[0-9]+_', text).group()}")
            source = _REF.sub(placeholder, text)
            if "$" in source:
                bad = source[source.index("$"):][:30]
                raise PipelineError(field, f"{bad!r} is not a meter reference "
                                           "($(meter.name))")
        else:
            source = text
        allowed = {_PLACEHOLDER.format(i): i for i in range(len(refs))}
        for name in names:
            allowed[name] = len(refs)
            refs.append(name)
        if len(refs) > MAX_REFERENCES:
            raise PipelineError(field, f"names more than {MAX_REFERENCES} meters")
        self.references = tuple(refs)
        self._shown = {p: f"$({refs[i]})" if p.startswith("_ref") else p
                       for p, i in allowed.items()}
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError as exc:
            raise PipelineError(field, f"is not an expression ({exc.msg})") from None
        except (RecursionError, MemoryError, ValueError):
            raise PipelineError(field, "is nested too deeply") from None
        self._nodes = 0
        self._allowed = allowed
        self._evaluate = self._compile(tree.body)
        if not refs:
            raise PipelineError(field, "names no meter" if meters else "names no value")

    def _bad(self, node: ast.AST, what: str) -> PipelineError:
        try:
            part = ast.unparse(node)
        except Exception:  # an unparseable fragment: name its kind alone
            part = type(node).__name__
        for p, shown in self._shown.items():
            part = part.replace(p, shown)
        if len(part) > 40:
            part = part[:37] + "..."
        return PipelineError(self.field, f"{what}: {part!r}")

    def _compile(self, node: ast.AST) -> Evaluator:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise PipelineError(self.field, f"has more than {MAX_NODES} terms")
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self._bad(node, "only numbers may appear")
            try:
                number = float(value)
            except OverflowError:
                raise self._bad(node, "number too large") from None
            if not math.isfinite(number):
                raise self._bad(node, "number too large")
            return lambda values: number
        if isinstance(node, ast.Name):
            index = self._allowed.get(node.id)
            if index is None:
                raise self._bad(node, "unknown name (meters are written $(meter.name))")
            return lambda values: values[index]
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                raise self._bad(node, "operator not allowed (only + - * / **)")
            left, right = self._compile(node.left), self._compile(node.right)
            return lambda values: op(left(values), right(values))
        if isinstance(node, ast.UnaryOp):
            operand = self._compile(node.operand)
            if isinstance(node.op, ast.USub):
                return lambda values: np.negative(operand(values))
            if isinstance(node.op, ast.UAdd):
                return operand
            raise self._bad(node, "operator not allowed (only unary -)")
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name not in ("min", "max", "abs") or node.keywords:
                raise self._bad(node, "only min(), max() and abs() may be called")
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise self._bad(node, "arguments must be expressions")
            args = [self._compile(a) for a in node.args]
            if name == "abs":
                if len(args) != 1:
                    raise self._bad(node, "abs() takes one argument")
                (arg,) = args
                return lambda values: np.abs(arg(values))
            if len(args) < 2:
                raise self._bad(node, f"{name}() takes two or more arguments")
            fn = _FUNCTIONS[name]

            def reduce(values, args=args, fn=fn):
                result = args[0](values)
                for arg in args[1:]:
                    result = fn(result, arg(values))
                return result
            return reduce
        raise self._bad(node, "not allowed in an expression")

    def evaluate(self, values: Sequence[np.ndarray]) -> np.ndarray:
        """The result for arrays of the references (broadcast), as float64."""
        with np.errstate(all="ignore"):
            result = self._evaluate(values)
            return np.asarray(result, dtype=np.float64)
