"""Bounded parser of user expressions into a small syntax tree.

Why hand-written, when sympy has ``parse_expr`` (with ``evaluate=False``,
custom transformations and a restricted namespace)? Because ``parse_expr``
ends in ``eval`` of the transformed text, and a restricted namespace does not
make ``eval`` of hostile text safe; the project runs no ``eval`` of user
strings. Python's own ``ast`` (used before) is safe, but its trees are binary
and recursive: a 3,000-term sum or 3,000 nested powers overflow its C stack
(``RecursionError``, an empty ``MemoryError``), and folding a binary tree into
sympy one operator at a time is quadratic in the number of terms.

This parser reads Python's tokens (``tokenize``, linear, no recursion) and
builds n-ary sums and products, so a long sum is one node and parsing is
linear in the length. Its recursion is bounded by :data:`MAX_DEPTH` levels of
nesting (parentheses, calls, powers), checked as it descends. Only the
whitelisted grammar is read here: numbers, names, ``Comp.param`` references,
calls, ``+ - * / % **`` and parentheses. For anything else the caller asks
:func:`explain_refusal`, which walks Python's ``ast`` (without building
anything) to say which construct is refused (``lambda``, subscripts, ...).
"""

from __future__ import annotations

import ast
import io
import keyword
import tokenize
from typing import NamedTuple

__all__ = ["MAX_DEPTH", "Node", "TooDeep", "Unsupported", "explain_refusal", "parse_tree"]

#: levels of nesting (parentheses, function calls, right operands of ``**``)
#: a user expression may have; sums, products and unary signs do not count.
MAX_DEPTH = 20


class Node(NamedTuple):
    """One node: ``kind`` in ``num name dotted call sum prod pow neg``;
    ``value`` the number, the name, or the operators of a sum/product;
    ``children`` the operands; ``start``/``end`` its place in the text.
    """

    kind: str
    value: object
    children: tuple
    start: int
    end: int


class Unsupported(Exception):
    """A token outside the whitelisted grammar (caller explains it)."""

    def __init__(self, token: str, position: int):
        super().__init__(token, position)
        self.token, self.position = token, position


class TooDeep(Exception):
    """Nesting beyond :data:`MAX_DEPTH`."""


def _tokens(text: str) -> list[tuple[int, str, int, int]]:
    """``(type, string, start, end)`` with offsets into ``text``."""
    line_starts = [0]
    for line in text.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.COMMENT):
                if tok.type == tokenize.COMMENT:
                    raise Unsupported(tok.string, line_starts[tok.start[0] - 1] + tok.start[1])
                continue
            start = line_starts[tok.start[0] - 1] + tok.start[1]
            end = line_starts[tok.end[0] - 1] + tok.end[1]
            out.append((tok.type, tok.string, start, end))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        raise Unsupported(text[-1:], len(text) - 1) from None
    return out


def _number(token: str, position: int) -> int | float:
    """A NUMBER token as Python reads it (``1e-3``, ``0x1f``, ``1_000``);
    complex literals and anything odd are left to :func:`explain_refusal`.
    """
    try:
        value = ast.parse(token, mode="eval").body
    except (SyntaxError, ValueError):  # int-str digit limit, leading zeros, ...
        raise Unsupported(token, position) from None
    if not isinstance(value, ast.Constant) or type(value.value) not in (int, float):
        raise Unsupported(token, position)
    return value.value


class _Parser:
    def __init__(self, text: str, allow_dotted: bool):
        self.text = text
        self.allow_dotted = allow_dotted
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, offset: int = 0):
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else (tokenize.ENDMARKER, "", len(self.text), len(self.text))

    def is_op(self, *ops: str, offset: int = 0) -> bool:
        typ, string, _, _ = self.peek(offset)
        return typ == tokenize.OP and string in ops

    def unexpected(self):
        _, string, start, _ = self.peek()
        return Unsupported(string or "end of text", start)

    def expect(self, op: str) -> int:
        if not self.is_op(op):
            raise self.unexpected()
        end = self.peek()[3]
        self.i += 1
        return end

    def parse(self) -> Node:
        node = self.sum(0)
        if self.i != len(self.toks):
            raise self.unexpected()
        return node

    def sum(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise TooDeep
        first = self.product(depth)
        signs, terms = ["+"], [first]
        while self.is_op("+", "-"):
            signs.append(self.peek()[1])
            self.i += 1
            terms.append(self.product(depth))
        if len(terms) == 1:
            return first
        return Node("sum", tuple(signs), tuple(terms), first.start, terms[-1].end)

    def product(self, depth: int) -> Node:
        first = self.unary(depth)
        ops, factors = ["*"], [first]
        while self.is_op("*", "/", "%"):
            ops.append(self.peek()[1])
            self.i += 1
            factors.append(self.unary(depth))
        if len(factors) == 1:
            return first
        return Node("prod", tuple(ops), tuple(factors), first.start, factors[-1].end)

    def unary(self, depth: int) -> Node:
        # a run of signs folds into one (no recursion: "-----x" is not deep)
        start, negative = self.peek()[2], False
        while self.is_op("+", "-"):
            negative ^= self.peek()[1] == "-"
            self.i += 1
        node = self.power(depth)
        return Node("neg", None, (node,), start, node.end) if negative else node

    def power(self, depth: int) -> Node:
        base = self.atom(depth)
        if not self.is_op("**"):
            return base
        self.i += 1
        if depth + 1 > MAX_DEPTH:
            raise TooDeep
        exponent = self.unary(depth + 1)  # right-associative, -x**-y == -(x**(-y))
        return Node("pow", None, (base, exponent), base.start, exponent.end)

    def atom(self, depth: int) -> Node:
        typ, string, start, end = self.peek()
        if typ == tokenize.NUMBER:
            self.i += 1
            return Node("num", _number(string, start), (), start, end)
        if typ == tokenize.NAME and not keyword.iskeyword(string):
            self.i += 1
            if self.is_op("("):
                return self.call(string, start, depth)
            if self.is_op("."):
                return self.dotted(string, start)
            return Node("name", string, (), start, end)
        if self.is_op("("):
            self.i += 1
            inner = self.sum(depth + 1)
            close = self.expect(")")
            return inner._replace(start=start, end=close)
        raise self.unexpected()

    def call(self, name: str, start: int, depth: int) -> Node:
        self.i += 1  # "("
        args = []
        if not self.is_op(")"):
            args.append(self.sum(depth + 1))
            while self.is_op(","):
                self.i += 1
                args.append(self.sum(depth + 1))
        end = self.expect(")")
        return Node("call", name, tuple(args), start, end)

    def dotted(self, name: str, start: int) -> Node:
        """``Comp.param`` or ``model.Comp.param``; anything else (more parts,
        a part starting with ``_``, no dotted names allowed) is refused.
        """
        parts, end = [name], self.peek(-1)[3]
        while self.is_op("."):
            typ, string, _, tok_end = self.peek(1)
            if typ != tokenize.NAME or keyword.iskeyword(string):
                raise self.unexpected()
            parts.append(string)
            end = tok_end
            self.i += 2
        if not self.allow_dotted or len(parts) > 3 or any(p.startswith("_") for p in parts):
            raise Unsupported(".".join(parts), start)
        if self.is_op("("):
            raise self.unexpected()
        return Node("dotted", ".".join(parts), (), start, end)


def parse_tree(text: str, allow_dotted: bool = False) -> Node:
    """Syntax tree of ``text`` (already stripped, ``^`` already ``**``).

    Raises :class:`Unsupported` (with the token and its offset) for anything
    outside the grammar and :class:`TooDeep` past :data:`MAX_DEPTH`.

    Examples
    --------
    >>> parse_tree("a*x + 2").kind
    'sum'
    """
    return _Parser(text, allow_dotted).parse()


def _snippet(node: ast.AST, limit: int = 60) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # pragma: no cover - unparse handles every parsed node
        text = type(node).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def explain_refusal(text: str, functions, allow_dotted: bool) -> str | None:
    """Why ``text`` is outside the whitelist, from Python's ``ast``: the first
    refused construct (``"Subscript 'a[0]' is not allowed ..."``), or None when
    Python cannot parse it that far either. Builds nothing and evaluates
    nothing.
    """
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        return f"does not parse ({exc.msg})"
    except (RecursionError, MemoryError, ValueError):
        return None
    try:
        return _refusal(tree.body, functions, allow_dotted)
    except RecursionError:
        return None


def _refusal(node: ast.AST, functions, allow_dotted: bool) -> str | None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            return f"only numeric constants are allowed, got {node.value!r}"
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div,
                                                           ast.Pow, ast.Mod)):
        return (_refusal(node.left, functions, allow_dotted)
                or _refusal(node.right, functions, allow_dotted))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _refusal(node.operand, functions, allow_dotted)
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            return f"names starting with '_' are not allowed, got {node.id!r}"
        return None
    if isinstance(node, ast.Attribute):
        parts, root = [], node
        while isinstance(root, ast.Attribute):
            parts.append(root.attr)
            root = root.value
        if (allow_dotted and isinstance(root, ast.Name) and len(parts) <= 2
                and not any(p.startswith("_") for p in [*parts, root.id])):
            return None
        return f"attribute access {_snippet(node)!r} is not allowed"
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in functions:
            name = node.func.id if isinstance(node.func, ast.Name) else _snippet(node.func)
            return f"call of {name!r} is not allowed; known functions are {sorted(functions)}"
        if node.keywords:
            return "keyword arguments are not allowed"
        for arg in node.args:
            why = _refusal(arg, functions, allow_dotted)
            if why:
                return why
        return None
    return f"{type(node).__name__} {_snippet(node)!r} is not allowed in an expression"
