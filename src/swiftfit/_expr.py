"""Safe parsing of user expressions into sympy.

Strings from users and from files are turned into sympy expressions by walking
Python's ``ast`` and accepting only a whitelist: numbers, names, arithmetic
operators and known functions. Nothing is ever ``eval``-ed; in particular
``sympy.sympify``/``parse_expr`` are not used because they call ``eval``.
"""

from __future__ import annotations

import ast
import keyword
import operator
from collections.abc import Iterable

import sympy

from .errors import ExpressionError

__all__ = ["parse_expression", "parse_with_substitutions", "free_symbol_names"]

# name in user text -> sympy callable
FUNCTIONS: dict[str, object] = {
    "exp": sympy.exp,
    "log": sympy.log,
    "ln": sympy.log,
    "log10": lambda a: sympy.log(a, 10),
    "sqrt": sympy.sqrt,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "arcsin": sympy.asin,
    "asin": sympy.asin,
    "arccos": sympy.acos,
    "acos": sympy.acos,
    "arctan": sympy.atan,
    "atan": sympy.atan,
    "arctan2": sympy.atan2,
    "atan2": sympy.atan2,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "arcsinh": sympy.asinh,
    "asinh": sympy.asinh,
    "arccosh": sympy.acosh,
    "acosh": sympy.acosh,
    "arctanh": sympy.atanh,
    "atanh": sympy.atanh,
    "abs": sympy.Abs,
    "Abs": sympy.Abs,
    "sign": sympy.sign,
    "erf": sympy.erf,
    "erfc": sympy.erfc,
    "gamma": sympy.gamma,
    "loggamma": sympy.loggamma,
    "heaviside": sympy.Heaviside,
    "Heaviside": sympy.Heaviside,
    "min": sympy.Min,
    "Min": sympy.Min,
    "max": sympy.Max,
    "Max": sympy.Max,
    "floor": sympy.floor,
    "ceiling": sympy.ceiling,
}

CONSTANTS: dict[str, object] = {"pi": sympy.pi, "E": sympy.E, "e": sympy.E, "oo": sympy.oo}

_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: sympy.Mod,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}

# sympy attaches meanings to these single letters (S, N, Q, I, ...); treat them as
# plain symbols instead so a user's "I" is a parameter, not the imaginary unit.
_MAX_LENGTH = 10_000


_MAX_EXACT_BITS = 100_000


def _snippet(node: ast.AST, limit: int = 60) -> str:
    """Source text of ``node`` (shortened) for error messages."""
    try:
        text = ast.unparse(node)
    except Exception:  # pragma: no cover - unparse handles every parsed node
        text = type(node).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail(text: str, what: str) -> ExpressionError:
    return ExpressionError(f"expression {text!r}: {what}")


class _Builder:
    def __init__(
        self,
        text: str,
        allow_dotted: bool,
        symbols: dict[str, sympy.Symbol],
        definitions: dict[str, ast.AST] | None = None,
    ):
        self.text = text
        self.allow_dotted = allow_dotted
        self.symbols = symbols
        # substitutions ``name = expression``: a name with a definition is built
        # from that definition's tree, so numbers are folded while building
        self.definitions = definitions or {}
        self._defined: dict[str, sympy.Expr] = {}
        self._expanding: list[str] = []

    def name(self, name: str):
        if name not in self.definitions:
            return self.symbol(name)
        if name not in self._defined:
            if name in self._expanding:
                cycle = " -> ".join(self._expanding[self._expanding.index(name):] + [name])
                raise _fail(self.text, f"circular substitutions: {cycle}")
            self._expanding.append(name)
            try:
                self._defined[name] = self.build(self.definitions[name])
            finally:
                self._expanding.pop()
        return self._defined[name]

    def symbol(self, name: str) -> sympy.Symbol:
        if name.startswith("_"):
            raise _fail(self.text, f"names starting with '_' are not allowed, got {name!r}")
        if name not in self.symbols:
            self.symbols[name] = sympy.Symbol(name, real=True)
        return self.symbols[name]

    def build(self, node: ast.AST):
        if isinstance(node, ast.Expression):
            return self.build(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise _fail(self.text, f"only numeric constants are allowed, got {node.value!r}")
            return sympy.Float(node.value) if isinstance(node.value, float) else sympy.Integer(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self.build(node.left), self.build(node.right)
            if isinstance(node.op, ast.Pow):
                return self._power(left, right)
            return _BINOPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.build(node.operand))
        if isinstance(node, ast.Name):
            if node.id in self.definitions:  # a substitution may shadow a built-in name
                return self.name(node.id)
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            if node.id in FUNCTIONS:
                raise _fail(self.text, f"function {node.id!r} used as a value")
            return self.name(node.id)
        if isinstance(node, ast.Attribute):
            dotted = self._dotted(node)
            if not self.allow_dotted or dotted is None:
                raise _fail(self.text, f"attribute access {_snippet(node)!r} is not allowed")
            return self.symbol(dotted)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                name = node.func.id if isinstance(node.func, ast.Name) else _snippet(node.func)
                raise _fail(
                    self.text,
                    f"call of {name!r} is not allowed; known functions are {sorted(FUNCTIONS)}",
                )
            if node.keywords:
                raise _fail(self.text, "keyword arguments are not allowed")
            return FUNCTIONS[node.func.id](*[self.build(a) for a in node.args])
        raise _fail(
            self.text, f"{type(node).__name__} {_snippet(node)!r} is not allowed in an expression"
        )

    def _power(self, base, exponent):
        """``base ** exponent``; an exact numeric power whose result would need
        more than ``_MAX_EXACT_BITS`` bits (``9**9**9``) would make sympy build an
        enormous integer, so such powers are computed in floating point."""
        if isinstance(base, sympy.Rational) and isinstance(exponent, sympy.Rational):
            size = max(int(base.p).bit_length(), int(base.q).bit_length())
            if size * abs(float(exponent)) > _MAX_EXACT_BITS:
                return sympy.Float(base) ** sympy.Float(exponent)
        return base**exponent

    def _dotted(self, node: ast.AST) -> str | None:
        """``Carbon.A`` -> ``"Carbon.A"``, ``m0.Carbon.A`` -> ``"m0.Carbon.A"``
        (a parameter of another model of a joint fit); anything deeper, or a
        part starting with ``_``, -> None."""
        parts = []
        while isinstance(node, ast.Attribute) and len(parts) < 2:
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or not parts:
            return None
        parts.append(node.id)
        if any(part.startswith("_") for part in parts):
            return None
        return ".".join(reversed(parts))


def _parse_tree(text: str) -> ast.Expression:
    if not isinstance(text, str):
        raise ExpressionError(f"expression must be a string, got {type(text).__name__}")
    if len(text) > _MAX_LENGTH:
        raise _fail(text[:40] + "...", f"longer than {_MAX_LENGTH} characters")
    stripped = text.strip()
    if not stripped:
        raise _fail(text, "empty expression")
    try:
        return ast.parse(stripped.replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise _fail(text, f"does not parse ({exc.msg})") from None


def parse_expression(
    text: str,
    *,
    allow_dotted: bool = False,
    symbols: dict[str, sympy.Symbol] | None = None,
) -> sympy.Expr:
    """Parse ``text`` into a sympy expression through a whitelist.

    Parameters
    ----------
    text : str
        The expression, in Python syntax (``**`` for powers).
    allow_dotted : bool
        Accept ``Component.parameter`` references (for ``Parameter.expr``); each
        becomes one symbol named with the dot.
    symbols : dict, optional
        Symbols already created, reused by name (and extended).

    Returns
    -------
    sympy.Expr

    Raises
    ------
    ExpressionError
        For anything outside the whitelist: attribute access, lambdas,
        subscripts, unknown function calls, strings, names starting with ``_``.
        The message quotes the offending part.

    Examples
    --------
    >>> parse_expression("A * exp(-x / tau)")
    A*exp(-x/tau)
    """
    tree = _parse_tree(text)
    return _Builder(text, allow_dotted, {} if symbols is None else symbols).build(tree)


def parse_with_substitutions(
    text: str,
    *,
    allow_dotted: bool = False,
    symbols: dict[str, sympy.Symbol] | None = None,
) -> sympy.Expr:
    """Parse ``"main ; a = ... ; b = ..."``: the first part is the expression,
    the rest are substitutions (symbolic or numeric) in any order.

    Every name that has a definition is replaced by it, recursively (numbers
    are folded as the tree is built); circular definitions raise
    ExpressionError.

    Examples
    --------
    >>> parse_with_substitutions("h / sqrt(p2) ; p2 = 2 * m * x ; m = 2")
    h/(2*sqrt(x))
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expression must be a string, got {type(text).__name__}")
    if len(text) > _MAX_LENGTH:
        raise _fail(text[:40] + "...", f"longer than {_MAX_LENGTH} characters")
    parts = [p.strip() for p in text.split(";") if p.strip()]
    if not parts:
        raise _fail(text, "empty expression")
    main = _parse_tree(parts[0])
    definitions: dict[str, ast.AST] = {}
    for part in parts[1:]:
        name, sep, rhs = part.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or keyword.iskeyword(name):
            raise _fail(text, f"substitution {part!r} must read 'name = expression'")
        if name.startswith("_"):
            raise _fail(text, f"names starting with '_' are not allowed, got {name!r}")
        if name in definitions:
            raise _fail(text, f"{name!r} is defined twice")
        definitions[name] = _parse_tree(rhs)
    builder = _Builder(text, allow_dotted, {} if symbols is None else symbols, definitions)
    result = builder.build(main)
    for tree in definitions.values():  # unused definitions must pass the whitelist too
        builder.build(tree)
    return result


def free_symbol_names(expr: sympy.Expr) -> list[str]:
    """Names of the free symbols of ``expr``, sorted."""
    return sorted(str(s) for s in expr.free_symbols)


def lambdify(
    symbols: Iterable[sympy.Symbol], expr: sympy.Expr, module: str = "numpy", *, cse: bool = False
):
    """Compile a whitelisted expression to a numeric function.

    ``sympy.lambdify`` generates source from the sympy tree (not from user
    text), so only whitelisted operations can appear in it. ``expr`` may be a
    list of expressions (the function then returns a list); ``cse=True`` shares
    common subexpressions between them (ignored for numexpr).
    """
    modules = {"numpy": ["numpy", "scipy"], "scipy": ["scipy", "numpy"], "numexpr": ["numexpr"]}
    if module is None:
        module = "numpy"
    if module not in modules:
        raise ExpressionError(f"module must be one of {sorted(modules)}, got {module!r}")
    if module == "numexpr":
        from ._optional import require

        require("numexpr", extra="numexpr")
        return sympy.lambdify(list(symbols), expr, modules=modules[module])
    return sympy.lambdify(list(symbols), expr, modules=modules[module], cse=cse)
