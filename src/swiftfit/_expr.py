"""Safe parsing of user expressions into sympy.

Strings from users and from files are turned into sympy expressions by the
bounded parser of :mod:`swiftfit._expr_parser`, which accepts only a whitelist:
numbers, names, arithmetic operators and known functions. Nothing is ever
``eval``-ed; in particular ``sympy.sympify``/``parse_expr`` are not used because
they call ``eval``. Parsing takes time linear in the length of the text, and
nothing unbounded is evaluated on the way (see the limits below).
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Iterable

import sympy

from ._expr_parser import (
    MAX_DEPTH,
    Node,
    TooDeep,
    Unsupported,
    explain_refusal,
    parse_tree,
)
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
# sympy's (and so HyperSpy's) names: ``e`` is a plain symbol, only ``E`` is Euler's number
SYMPY_CONSTANTS: dict[str, object] = {k: v for k, v in CONSTANTS.items() if k != "e"}

# sympy attaches meanings to these single letters (S, N, Q, I, ...); treat them as
# plain symbols instead so a user's "I" is a parameter, not the imaginary unit.
_MAX_LENGTH = 10_000

# Bounds that keep parsing cheap whatever the text (issue 19): exact numbers
# wider than float64 (2**1024) are kept as floats, so ``2**10**6`` or a huge
# literal never becomes a million-digit integer; numeric arguments of
# functions beyond ``_MAX_EXACT_ARGUMENT`` are evaluated in floating point, so
# ``gamma(10**8)`` is mpmath's Stirling value, not sympy's exact factorial;
# an integer power of a symbol beyond ``_MAX_INTEGER_POWER`` is refused (sympy
# would expand ``(a + b)**100000`` when simplifying); the built expression may
# hold at most ``_MAX_NODES`` nodes (substitutions can nest) and
# ``_MAX_SYMPY_DEPTH`` levels (sympy's own algorithms recurse).
_MAX_EXACT_BITS = 1024
_MAX_EXACT_ARGUMENT = 1000
_MAX_INTEGER_POWER = 1000
_MAX_NODES = 50_000
_MAX_SYMPY_DEPTH = 3 * MAX_DEPTH
_UNDEFINED = (sympy.S.ComplexInfinity, sympy.S.NaN)
AccumBounds = sympy.AccumBounds  # sin(oo): a range, not a value


def _fail(text: str, what: str) -> ExpressionError:
    shown = text if len(text) <= 200 else text[:100] + "..." + text[-40:]
    return ExpressionError(f"expression {shown!r}: {what}")


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Builder:
    """sympy expression of a :class:`~swiftfit._expr_parser.Node` tree.

    Every operation is checked where it happens, so the error names the part
    of the text at fault: a division by zero or a pole (``a/0``, ``log(0)``:
    sympy's ``zoo``/``nan``), a modulo by zero, a wrong number of arguments.
    """

    def __init__(
        self,
        text: str,
        allow_dotted: bool,
        symbols: dict[str, sympy.Symbol],
        definitions: dict[str, tuple[str, Node]] | None = None,
        constants: dict[str, object] | None = None,
    ):
        self.text = text
        self.constants = CONSTANTS if constants is None else constants
        self.allow_dotted = allow_dotted
        self.symbols = symbols
        # substitutions ``name = expression``: a name with a definition is built
        # from that definition's tree, so numbers are folded while building
        self.definitions = definitions or {}
        self._defined: dict[str, sympy.Expr] = {}
        self._expanding: list[str] = []

    def name(self, name: str, depth: int):
        if name not in self.definitions:
            return self.symbol(name)
        if name not in self._defined:
            if name in self._expanding:
                cycle = " -> ".join(self._expanding[self._expanding.index(name):] + [name])
                raise _fail(self.text, f"circular substitutions: {cycle}")
            self._expanding.append(name)
            try:
                source, tree = self.definitions[name]
                self._defined[name] = self.build(tree, source, depth + 1)
            finally:
                self._expanding.pop()
        return self._defined[name]

    def symbol(self, name: str) -> sympy.Symbol:
        if name.startswith("_"):
            raise _fail(self.text, f"names starting with '_' are not allowed, got {name!r}")
        if name not in self.symbols:
            self.symbols[name] = sympy.Symbol(name, real=True)
        return self.symbols[name]

    def build(self, node: Node, source: str, depth: int = 0):
        """``source`` is the text ``node`` was parsed from (the main part or
        one substitution); ``depth`` counts nesting through substitutions.
        """
        if depth > MAX_DEPTH:
            raise _fail(self.text, f"nested deeper than {MAX_DEPTH} levels (counting substitutions)")
        part = source[node.start:node.end]
        try:
            result = self._build(node, source, depth)
        except ExpressionError:
            raise
        except ZeroDivisionError:
            raise _fail(self.text, f"{_short(part)!r} divides by zero") from None
        except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:
            raise _fail(self.text, f"{_short(part)!r} cannot be evaluated ({type(exc).__name__}: "
                                   f"{_short(str(exc), 120)})") from None
        if result in _UNDEFINED or any(arg in _UNDEFINED for arg in result.args) or any(
            isinstance(arg, AccumBounds) for arg in (result, *result.args)
        ):
            raise _fail(self.text, f"{_short(part)!r} is undefined (a division by zero or a pole, "
                                   "e.g. 1/0 or log(0))")
        if result.is_Number and result.is_finite and not math.isfinite(float(result)):
            raise _fail(self.text, f"{_short(part)!r} = {_short(str(sympy.Float(result, 6)), 30)} does not fit in a "
                                   "64-bit float")
        if result.is_Float and float(result) == 0.0 and result != 0:
            result = sympy.Float(0.0)  # exp(-gamma(22)): below float64, an exponent no one can print
        if node.kind in ("pow", "call") and result.is_number and not result.is_Number:
            # a constant sympy keeps symbolic (pi**pi**pi**pi, (-pi)**0.5) is computed
            # in Python floats when evaluated: an OverflowError or a complex value there
            try:
                value = complex(result.evalf(15))
            except (ArithmeticError, ValueError, TypeError, KeyError):  # mpmath: a pole
                value = complex(math.nan)
            if not (math.isfinite(value.real) and value.imag == 0):
                raise _fail(self.text, f"{_short(part)!r} = {value:.6g} is not a finite real "
                                       "64-bit float")
            if any(max(abs(int(r.p)), int(r.q)) >= 2**63 for r in result.atoms(sympy.Rational)):
                result = sympy.Float(value.real)  # log(99!) would reach numpy as a Python int
        return result

    def _build(self, node: Node, source: str, depth: int):
        kind = node.kind
        if kind == "num":
            if isinstance(node.value, float):
                return sympy.Float(node.value)
            if node.value.bit_length() > _MAX_EXACT_BITS:
                return sympy.Float(node.value)
            return sympy.Integer(node.value)
        if kind == "name":
            name = node.value
            if name in self.definitions:  # a substitution may shadow a built-in name
                return self.name(name, depth)
            if name in self.constants:
                return self.constants[name]
            if name in FUNCTIONS:
                raise _fail(self.text, f"function {name!r} used as a value")
            return self.name(name, depth)
        if kind == "dotted":
            return self.symbol(node.value)
        if kind == "neg":
            return -self.build(node.children[0], source, depth)
        if kind == "sum":  # n-ary: one sympy Add, linear in the number of terms
            terms = [self.build(c, source, depth) for c in node.children]
            return sympy.Add(*[t if sign == "+" else -t for sign, t in zip(node.value, terms)])
        if kind == "prod":
            factors = [self.build(c, source, depth) for c in node.children]
            pending = [factors[0]]
            for op, factor in zip(node.value[1:], factors[1:]):
                if op == "%":  # same precedence as * and /: fold what came before
                    pending = [sympy.Mod(sympy.Mul(*pending), factor)]
                else:
                    pending.append(factor if op == "*" else sympy.Pow(factor, -1))
            return sympy.Mul(*pending)
        if kind == "pow":
            base = self.build(node.children[0], source, depth)
            exponent = self.build(node.children[1], source, depth + 1)
            return self._power(base, exponent, source[node.start:node.end])
        if kind == "call":
            name = node.value
            if name not in FUNCTIONS:
                raise _fail(
                    self.text,
                    f"call of {name!r} is not allowed; known functions are {sorted(FUNCTIONS)}",
                )
            args = [_inexact(self.build(a, source, depth + 1)) for a in node.children]
            if not args:
                raise _fail(self.text, f"{_short(source[node.start:node.end])!r}: {name!r} needs "
                                       "an argument")
            try:
                return FUNCTIONS[name](*args)
            except TypeError:
                raise _fail(self.text, f"{_short(source[node.start:node.end])!r}: wrong number of "
                                       f"arguments ({len(args)}) for {name!r}") from None
        raise AssertionError(f"unknown node {kind}")  # pragma: no cover

    def _power(self, base, exponent, part: str):
        """``base ** exponent``; an exact numeric power whose result would need
        more than ``_MAX_EXACT_BITS`` bits (``9**9**9``) would make sympy build an
        enormous integer, so such powers are computed in floating point.
        """
        if isinstance(base, sympy.Rational) and isinstance(exponent, sympy.Rational):
            size = max(int(base.p).bit_length(), int(base.q).bit_length())
            if size * abs(float(exponent)) > _MAX_EXACT_BITS:
                return sympy.Float(base) ** sympy.Float(exponent)
        elif isinstance(exponent, sympy.Rational) and not base.is_Number:
            if max(abs(int(exponent.p)), int(exponent.q)) > _MAX_INTEGER_POWER:
                raise _fail(self.text, f"{_short(part)!r}: exact powers of symbols are limited to "
                                       f"{_MAX_INTEGER_POWER} (write the exponent as a float, "
                                       f"e.g. {float(exponent):.6g})")
        return base**exponent


def _inexact(arg):
    """Function arguments that are large exact numbers become floats: sympy
    evaluates ``gamma(10**8)`` (and ``loggamma``) exactly, as a factorial of
    hundreds of millions of digits; with a float argument it is one mpmath call.
    """
    if isinstance(arg, sympy.Rational) and (
        abs(arg) > _MAX_EXACT_ARGUMENT or max(int(arg.p).bit_length(), int(arg.q).bit_length()) > 64
    ):
        return sympy.Float(arg)
    return arg


def _check_size(text: str, expr) -> None:
    """Refuse a built expression whose tree (substitutions expanded) is larger
    than ``_MAX_NODES`` or deeper than ``_MAX_SYMPY_DEPTH``; counted over the
    shared DAG without recursion, so the check itself is linear.
    """
    stats: dict[int, tuple[int, int]] = {}
    stack = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in stats:
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if id(a) not in stats)
            continue
        sizes = [stats[id(a)] for a in node.args]
        size = 1 + sum(s for s, _ in sizes)
        depth = 1 + max((d for _, d in sizes), default=0)
        if size > _MAX_NODES:
            raise _fail(text, f"expands to more than {_MAX_NODES} terms")
        if depth > _MAX_SYMPY_DEPTH:
            raise _fail(text, f"nested deeper than {_MAX_SYMPY_DEPTH} levels once built")
        stats[id(node)] = (size, depth)


def _parse_tree(text: str, allow_dotted: bool = False, whole: str | None = None) -> tuple[str, Node]:
    """``(source, tree)`` of one part of an expression; ``whole`` is the full
    text named in errors.
    """
    whole = text if whole is None else whole
    if not isinstance(text, str):
        raise ExpressionError(f"expression must be a string, got {type(text).__name__}")
    if len(text) > _MAX_LENGTH:
        raise _fail(text[:40] + "...", f"longer than {_MAX_LENGTH} characters")
    stripped = text.strip()
    if not stripped:
        raise _fail(whole, "empty expression")
    source = stripped.replace("^", "**")
    try:
        return source, parse_tree(source, allow_dotted)
    except TooDeep:
        raise _fail(whole, f"nested deeper than {MAX_DEPTH} levels (parentheses, calls, powers)") from None
    except Unsupported as exc:
        why = explain_refusal(source, FUNCTIONS, allow_dotted)
        if why is None:
            why = f"{_short(exc.token)!r} at character {exc.position} is not allowed"
        raise _fail(whole, why) from None


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
    source, tree = _parse_tree(text, allow_dotted)
    expr = _Builder(text, allow_dotted, {} if symbols is None else symbols).build(tree, source)
    _check_size(text, expr)
    return expr


def parse_with_substitutions(
    text: str,
    *,
    allow_dotted: bool = False,
    symbols: dict[str, sympy.Symbol] | None = None,
    constants: dict[str, object] | None = None,
) -> sympy.Expr:
    """Parse ``"main ; a = ... ; b = ..."``: the first part is the expression,
    the rest are substitutions (symbolic or numeric) in any order.
    ``constants``: the names read as numbers (default :data:`CONSTANTS`;
    :data:`SYMPY_CONSTANTS` makes ``e`` a symbol, as sympy and HyperSpy do).

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
    main = _parse_tree(parts[0], allow_dotted, text)
    definitions: dict[str, tuple[str, Node]] = {}
    for part in parts[1:]:
        name, sep, rhs = part.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or keyword.iskeyword(name):
            raise _fail(text, f"substitution {part!r} must read 'name = expression'")
        if name.startswith("_"):
            raise _fail(text, f"names starting with '_' are not allowed, got {name!r}")
        if name in definitions:
            raise _fail(text, f"{name!r} is defined twice")
        definitions[name] = _parse_tree(rhs, allow_dotted, text)
    builder = _Builder(text, allow_dotted, {} if symbols is None else symbols, definitions, constants)
    result = builder.build(main[1], main[0])
    for name in definitions:  # unused definitions must pass the whitelist too
        builder.name(name, 0)
    _check_size(text, result)
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
    modules = {"numpy": ["numpy", "scipy"], "scipy": ["scipy", "numpy"], "numexpr": ["numexpr"], "jax": None}
    if module is None:
        module = "numpy"
    if module not in modules:
        raise ExpressionError(f"module must be one of {sorted(modules)}, got {module!r}")
    if module == "numexpr":
        from ._optional import require

        require("numexpr", extra="numexpr")
        return sympy.lambdify(list(symbols), expr, modules=modules[module])
    if module == "jax":
        # sympy's JAX printer maps erf, erfc, gamma and loggamma to the scalar
        # ``math`` functions: jax.scipy.special's instead
        from jax.scipy import special

        overrides = {"erf": special.erf, "erfc": special.erfc, "gamma": special.gamma,
                     "lgamma": special.gammaln, "loggamma": special.gammaln}
        return sympy.lambdify(list(symbols), expr, modules=[overrides, "jax"], cse=cse)
    printer = None
    if _many_symbols(expr):
        from sympy.printing.numpy import SciPyPrinter

        # the settings sympy.lambdify gives its own SciPy printer, plus the
        # tree's order of terms (see ``unordered_str``)
        printer = SciPyPrinter({"fully_qualified_modules": False, "inline": True,
                                "allow_unknown_functions": True, "user_functions": {},
                                "order": "none"})
    return sympy.lambdify(list(symbols), expr, modules=modules[module], cse=cse, printer=printer)


# sympy prints a sum's terms sorted as monomials over all of the expression's
# symbols, which costs terms x symbols: quadratic for a long sum of terms with a
# parameter each. Above this many symbols the terms print in the tree's own
# (canonical, deterministic) order instead; below it printing is sympy's default,
# so every ordinary model compiles to the same source as before.
_ORDERED_PRINT_SYMBOLS = 32


def _many_symbols(expr) -> bool:
    exprs = expr if isinstance(expr, (list, tuple)) else [expr]
    symbols: set = set()
    for e in exprs:
        symbols |= e.free_symbols
        if len(symbols) > _ORDERED_PRINT_SYMBOLS:
            return True
    return False


def unordered_str(expr: sympy.Expr) -> str:
    """``str(expr)``, in linear time for a long sum (see ``_ORDERED_PRINT_SYMBOLS``)."""
    return sympy.sstr(expr, order="none") if _many_symbols(expr) else str(expr)
