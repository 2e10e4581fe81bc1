"""Sweep constraints: small arithmetic/comparison expressions evaluated without ``eval``.

A constraint such as ``chiplets * chiplet_area_mm2 <= 20000`` or
``chiplet.array.rows >= 2 * chiplet.array.adc.bits and precision != "w16a16"`` is parsed with
``ast.parse(mode="eval")`` and only this whitelist is accepted: numbers, strings, booleans, None, names and
dotted names (resolved from the point), ``+ - * / // % **``, unary ``- + not``, comparisons (chains
included, ``in``/``not in`` against a literal list or tuple), ``and``/``or``, conditional expressions
and calls to ``min``, ``max``, ``abs``, ``log2``, ``sqrt``. Anything else (attribute access on values,
subscripts, lambdas, comprehensions, other calls) is refused when the sweep file is loaded.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from llmimc.sweep.sweep_file import SweepError

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_FUNCS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "log2": math.log2,
    "sqrt": math.sqrt,
}
_MAX_POW_EXPONENT = 64
MISSING = object()  # what a lookup returns for a name without a value (None is a value: YAML null)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base is not None else None
    return None


class Constraint:
    """One parsed constraint; ``names`` are the variables it reads."""

    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.where = where
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as err:
            raise SweepError(f"{where}: constraint '{text}' is not an expression ({err.msg})") from None
        self._tree = tree.body
        self.names: set[str] = set()
        self._check(self._tree)

    def _check(self, node: ast.expr) -> None:
        name = _dotted(node)
        if name is not None and not any(part.startswith("_") for part in name.split(".")):
            self.names.add(name)  # a dotted name is a key looked up in the point, never attribute access
            return
        if isinstance(node, ast.Constant) and (
            node.value is None or isinstance(node.value, (int, float, str, bool))
        ):
            return
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            children: list[ast.expr] = [node.left, node.right]
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            children = [node.operand]
        elif isinstance(node, ast.BoolOp):
            children = list(node.values)
        elif isinstance(node, ast.Compare) and all(type(op) in _CMPOPS for op in node.ops):
            children = [node.left, *node.comparators]
        elif isinstance(node, ast.IfExp):
            children = [node.test, node.body, node.orelse]
        elif isinstance(node, (ast.List, ast.Tuple)):
            children = list(node.elts)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCS
            and not node.keywords
        ):
            children = list(node.args)
        else:
            raise SweepError(
                f"{self.where}: constraint '{self.text}': '{ast.unparse(node)}' is not allowed "
                f"(use numbers, names, + - * / // % **, comparisons, and/or/not, {', '.join(_FUNCS)})"
            )
        for child in children:
            self._check(child)

    def holds(self, lookup: Callable[[str], Any]) -> bool:
        """Evaluate with ``lookup(name)`` giving a value (``MISSING``: none); SweepError names the constraint on failure."""
        try:
            return bool(self._eval(self._tree, lookup))
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as err:
            raise SweepError(f"{self.where}: constraint '{self.text}' cannot be evaluated: {err}") from None

    def _eval(self, node: ast.expr, values: Callable[[str], Any]) -> Any:
        name = _dotted(node)
        if name is not None:
            value = values(name)
            if value is MISSING:
                raise ValueError(f"'{name}' has no value for this point")
            return value
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BinOp):
            left, right = self._eval(node.left, values), self._eval(node.right, values)
            if isinstance(node.op, ast.Pow) and abs(right) > _MAX_POW_EXPONENT:
                raise ValueError(f"exponent {right} is too large")
            return _BINOPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            operand = self._eval(node.operand, values)
            if isinstance(node.op, ast.Not):
                return not operand
            return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(self._eval(v, values) for v in node.values)
            return any(self._eval(v, values) for v in node.values)
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, values)
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = self._eval(comp, values)
                if not _CMPOPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self._eval(node.body if self._eval(node.test, values) else node.orelse, values)
        if isinstance(node, (ast.List, ast.Tuple)):
            return tuple(self._eval(e, values) for e in node.elts)
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        return _FUNCS[node.func.id](*(self._eval(a, values) for a in node.args))
