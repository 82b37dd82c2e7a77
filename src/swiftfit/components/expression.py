"""Expression: a component defined by a mathematical expression string.

The string is parsed through the whitelist of :mod:`swiftfit._expr` (nothing
is ever ``eval``-ed), differentiated symbolically with sympy and compiled once
to numeric functions of the coordinates and of one array per parameter, which
makes the component batched: it evaluates many pixels in one call.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

import numpy as np
import sympy

from .. import _expr
from .._xp import namespace
from ..component import Component
from ..errors import InvalidInputError, InvalidTypeError
from ..preferences import preferences

__all__ = ["Expression"]

_X = sympy.Symbol("x", real=True)
_Y = sympy.Symbol("y", real=True)
_ANGLE = "rotation_angle"
_MAX_SIMPLIFY_OPS = 200
_MAX_DERIVATIVE_WORK = 100_000
_LAZY = object()  # a gradient compiled when first used (see Expression._grad_fn)


def _is_linear(d1: sympy.Expr, sym: sympy.Symbol) -> bool:
    """True when the second derivative in ``sym`` vanishes (``d1`` is the first).

    A first derivative free of ``sym`` is accepted at once; otherwise a cheap
    numeric screen (``d1`` at two values of ``sym``, random other values)
    rejects clearly non-linear parameters before the second derivative is
    taken and sympy's ``simplify`` is asked to confirm a zero. Both are
    unbounded (the second derivative of nested functions grows as the cube of
    the nesting, ``simplify`` expands powers of sums), so they are only asked
    about small derivatives; a larger one the screen could not decide counts
    as non-linear, which is always safe (the parameter is then fitted
    iteratively instead of solved for).
    """
    try:
        if sym not in d1.free_symbols:
            return True
        symbols = sorted(d1.free_symbols, key=lambda s: s.name)
        try:
            fn = sympy.lambdify(symbols, d1, modules=["numpy", "scipy"])
            rng = np.random.default_rng(0)
            points = {s: rng.uniform(0.3, 1.7, 7) for s in symbols}
            moved = dict(points)
            moved[sym] = points[sym] + rng.uniform(0.2, 0.5, 7)
            with np.errstate(all="ignore"):
                before = np.asarray(fn(*[points[s] for s in symbols]), dtype=complex)
                after = np.asarray(fn(*[moved[s] for s in symbols]), dtype=complex)
                change = np.abs(after - before)
                moves = np.isfinite(change) & (change > 1e-8 * (1.0 + np.abs(before)))
            if np.any(moves):
                return False
        except Exception:  # unprintable derivative: let sympy decide
            pass
        if sympy.count_ops(d1) > _MAX_SIMPLIFY_OPS:
            return False
        d2 = sympy.diff(d1, sym)
        if d2 == 0:
            return True
        if sympy.count_ops(d2) > _MAX_SIMPLIFY_OPS or any(
            p.exp.is_Integer and abs(p.exp) > 16 for p in d2.atoms(sympy.Pow)
        ):
            return False
        return sympy.simplify(d2) == 0
    except Exception:
        return False


def _size_and_depth(expr: sympy.Expr) -> tuple[int, int]:
    """Tree size and depth of ``expr``, without recursion."""
    size, depth, stack = 0, 0, [(expr, 1)]
    while stack:
        node, level = stack.pop()
        size += 1
        depth = max(depth, level)
        stack.extend((a, level + 1) for a in node.args)
    return size, depth


def _first_derivatives(expr: sympy.Expr, syms) -> dict:
    """``{symbol: d expr / d symbol}``, or None (finite differences, fitted
    iteratively) past a fixed budget of work.

    The terms of a sum are differentiated one by one, only in the symbols
    they hold, so the n parameters of an n-term sum cost linear time, not
    quadratic (sympy's ``diff`` visits every term for every symbol). sympy's
    ``diff`` of one term costs about its size times its depth (it collects
    free symbols at every level), so ``a0*(x + a1*(x + ...))`` costs the cube
    of its nesting: the work charged (size x depth of the terms holding each
    symbol, plus the size of each derivative) is capped at
    ``_MAX_DERIVATIVE_WORK``, which keeps building any Expression to about a
    second, whatever the text.
    """
    wanted = set(syms)
    terms: dict = {s: [] for s in syms}
    cost: dict = dict.fromkeys(syms, 0)
    for term in sympy.Add.make_args(expr):
        held = term.free_symbols & wanted
        if held:
            size, depth = _size_and_depth(term)
            for s in held:
                terms[s].append(term)
                cost[s] += size * depth
    out, spent = {}, 0
    for sym in syms:
        spent += cost[sym]
        if spent > _MAX_DERIVATIVE_WORK:
            out[sym] = None
            continue
        d1 = sympy.diff(sympy.Add(*terms[sym]), sym)
        spent += _size_and_depth(d1)[0]
        out[sym] = d1 if spent <= _MAX_DERIVATIVE_WORK else None
    return out


def _analytic(grad: sympy.Expr) -> sympy.Expr | None:
    """The derivative made numerically usable, or None when sympy could not
    take it (an unevaluated ``Derivative``/``Subs``). ``DiracDelta`` terms (from
    ``Heaviside``, ``sign``) are zero almost everywhere and are dropped.
    """
    grad = grad.replace(sympy.DiracDelta, lambda *args: sympy.S.Zero)
    if grad.has(sympy.Derivative, sympy.Subs):
        return None
    return grad


def _call_with(fn, used: tuple, *args):
    """``fn`` of the arguments at positions ``used`` (see ``_lambdify``)."""
    return fn(*[args[i] for i in used])


class Expression(Component):
    """Component defined by a mathematical expression string.

    Parameters
    ----------
    expression : str
        Expression in ``x`` (1-D) or ``x`` and ``y`` (2-D), in Python syntax,
        optionally followed by ``;``-separated substitutions ``name = expr``
        (``"h / sqrt(p2) ; p2 = 2 * m0 * x ; m0 = 9.1e-31"``). Every remaining
        free symbol other than ``x``/``y`` becomes a parameter; parameters are
        ordered alphabetically by their name in the expression, as in HyperSpy.
        Only numbers, names, ``+ - * / ** %`` and the functions of
        :data:`swiftfit._expr.FUNCTIONS` are accepted; anything else (attribute
        access, calls of other functions, lambdas, subscripts, strings, ...)
        raises :class:`~swiftfit.errors.ExpressionError` naming it.
    name : str
        Component name.
    position : str or (str, str), optional
        Parameter giving the component position (1-D) or the ``(x, y)``
        position parameters (2-D); used by position tools and as the default
        rotation centre.
    module : {"numpy", "scipy", "numexpr", None}
        Backend of the compiled functions; None means numpy. ``"numexpr"``
        needs ``pip install swiftfit[numexpr]``.
    autodoc : bool
        Put the expression and parameters in the instance docstring.
    add_rotation : bool
        2-D only: add a parameter ``rotation_angle`` (radians, default 0) and
        evaluate the expression at rotated coordinates::

            x' =  cos(t) (x - cx) + sin(t) (y - cy) + cx
            y' = -sin(t) (x - cx) + cos(t) (y - cy) + cy

        so the shape turns by ``+t`` about ``(cx, cy)``: a feature of the
        unrotated shape at ``(cx + 1, cy)`` moves to ``(cx + cos t, cy + sin t)``
        (counter-clockwise with ``y`` pointing up). With ``sx != sy``, a
        Gaussian rotated by ``pi/2`` equals the unrotated one with the two
        widths swapped.
    rotation_center : (float or str, float or str), optional
        ``(cx, cy)`` as numbers or parameter names. By default the position
        parameters (the component turns about its own centre), or ``(0, 0)``
        when ``position`` is not given.
    rename_pars : dict, optional
        ``{"name in expression": "parameter name"}``, e.g. to call a parameter
        ``gamma`` (a function name in expressions) by writing ``gamma_``.
    compute_gradients : bool
        Differentiate symbolically (default). Otherwise, and for parameters
        sympy cannot differentiate, gradients are central finite differences.
    linear_parameter_list : sequence of str, optional
        Parameters the component is linear in. By default a parameter ``p`` is
        linear when ``d2f/dp2 == 0``.
    **kwargs
        Initial parameter values by (final) name.

    Examples
    --------
    >>> g = Expression("height * exp(-(x - x0) ** 2 * 4 * log(2) / fwhm ** 2)",
    ...                "Gaussian", position="x0", height=1, fwhm=1, x0=0)
    >>> [p.name for p in g.parameters]
    ['fwhm', 'height', 'x0']
    >>> float(g.function(0.5))
    0.5
    """

    compiled_kind = "expression"

    def __init__(
        self,
        expression: str,
        name: str,
        position=None,
        module: str | None = "numpy",
        autodoc: bool = True,
        add_rotation: bool = False,
        rotation_center=None,
        rename_pars: dict | None = None,
        compute_gradients: bool = True,
        linear_parameter_list: Iterable[str] | None = None,
        **kwargs: float,
    ):
        if not isinstance(expression, str):
            raise InvalidTypeError(f"`expression` must be a string, got {type(expression).__name__}")
        if module is None:
            module = "numpy"
        if module not in ("numpy", "scipy", "numexpr"):
            raise InvalidInputError(f"`module` must be 'numpy', 'scipy', 'numexpr' or None, got {module!r}")
        rename_pars = dict(rename_pars or {})
        self._init_kwargs = dict(
            expression=expression, name=name, position=position, module=module, autodoc=autodoc,
            add_rotation=add_rotation, rotation_center=rotation_center, rename_pars=dict(rename_pars),
            compute_gradients=compute_gradients,
            linear_parameter_list=None if linear_parameter_list is None else list(linear_parameter_list),
        )
        self._str_expression = expression
        self._module = module
        self._add_rotation = bool(add_rotation)
        self._rename_pars = rename_pars
        self.compute_gradients = bool(compute_gradients)

        # HyperSpy's conventions (swiftfit.preferences): ``e`` is a parameter, as in sympy
        parsed = _expr.parse_with_substitutions(
            expression, constants=_expr.SYMPY_CONSTANTS if preferences.hyperspy else None)
        free = parsed.free_symbols
        if not free & {_X, _Y}:
            raise InvalidInputError(
                f"`expression` {expression!r} uses neither x nor y: a component is a function of the "
                "coordinates (for a constant, use Offset)"
            )
        is2d = _Y in free
        ndim = 2 if is2d else 1
        originals = {s.name: s for s in free - {_X, _Y}}
        for old, new in rename_pars.items():
            if old not in originals:
                raise InvalidInputError(
                    f"rename_pars: {old!r} is not a parameter of {expression!r}; parameters are {sorted(originals)}"
                )
            if not isinstance(new, str) or not new.isidentifier():
                raise InvalidInputError(f"rename_pars: new name for {old!r} must be an identifier, got {new!r}")
        inverse = {new: old for old, new in rename_pars.items()}

        def symbol_of(pname: str, what: str) -> sympy.Symbol:
            if not isinstance(pname, str):
                raise InvalidTypeError(f"`{what}` must name a parameter, got {pname!r}")
            key = inverse.get(pname, pname)
            if key not in originals:
                raise InvalidInputError(
                    f"`{what}` {pname!r} is not a parameter of {expression!r}; "
                    f"parameters are {sorted(rename_pars.get(n, n) for n in originals)}"
                )
            return originals[key]

        # ---- position
        if position is not None:
            if is2d:
                if isinstance(position, str) or len(position) != 2:
                    raise InvalidInputError(f"a 2-D expression needs `position=(px, py)`, got {position!r}")
                pos_syms = tuple(symbol_of(p, "position") for p in position)
            else:
                if not isinstance(position, str):
                    raise InvalidInputError(f"a 1-D expression needs `position` as one name, got {position!r}")
                pos_syms = (symbol_of(position, "position"),)
        else:
            pos_syms = ()

        # ---- rotation, built symbolically so gradients stay analytic
        if self._add_rotation:
            if not is2d:
                raise InvalidInputError("`add_rotation=True` needs a 2-D expression (one using both x and y)")
            if _ANGLE in originals:
                raise InvalidInputError(f"`add_rotation=True` adds {_ANGLE!r}, which the expression already uses")
            theta = sympy.Symbol(_ANGLE, real=True)
            if rotation_center is None:
                center = pos_syms if pos_syms else (sympy.S.Zero, sympy.S.Zero)
            else:
                if isinstance(rotation_center, str) or len(rotation_center) != 2:
                    raise InvalidInputError(f"`rotation_center` must be (cx, cy), got {rotation_center!r}")
                center = tuple(
                    symbol_of(c, "rotation_center") if isinstance(c, str) else sympy.Float(float(c))
                    for c in rotation_center
                )
            cx, cy = center
            cos_t, sin_t = sympy.cos(theta), sympy.sin(theta)
            parsed = parsed.xreplace({
                _X: cos_t * (_X - cx) + sin_t * (_Y - cy) + cx,
                _Y: -sin_t * (_X - cx) + cos_t * (_Y - cy) + cy,
            })
            originals[_ANGLE] = theta
        elif rotation_center is not None:
            raise InvalidInputError("`rotation_center` is only used with `add_rotation=True`")

        order = sorted(originals)  # HyperSpy orders by the names in the expression
        names = [rename_pars.get(n, n) for n in order]
        param_syms = [originals[n] for n in order]
        self._sympy_expression = parsed.xreplace(
            {originals[o]: sympy.Symbol(n, real=True) for o, n in zip(order, names) if o != n}
        )
        # compile over private symbols: parameter names may be Python keywords
        internal = [sympy.Symbol(f"_p{i}", real=True) for i in range(len(order))]
        self._internal_expr = parsed.xreplace(dict(zip(param_syms, internal)))
        self._internal_symbols = internal
        self._ndim = ndim

        reserved = set(dir(type(self))) | {"model", "compute_gradients"}
        for n in names:
            if n in reserved or n.startswith("_") or f"grad_{n}" in names:
                raise InvalidInputError(
                    f"parameter name {n!r} of {expression!r} clashes with a component attribute; "
                    f"rename it with `rename_pars={{{inverse.get(n, n)!r}: 'new_name'}}`"
                )
        if linear_parameter_list is None or self.compute_gradients:
            first = _first_derivatives(self._internal_expr, internal)
        if linear_parameter_list is None:
            linear_parameter_list = [
                n for n, sym in zip(names, internal)
                if first[sym] is not None and _is_linear(first[sym], sym)
            ]
        super().__init__(names, linear_parameter_list, name=name, **kwargs)
        if self._add_rotation:
            self.rotation_angle.units = "rad"

        pos_names = tuple(names[param_syms.index(sym)] for sym in pos_syms)
        self._position = None if not pos_names else pos_names if is2d else pos_names[0]
        self._position_x = getattr(self, pos_names[0]) if pos_names else None
        self._position_y = getattr(self, pos_names[1]) if is2d and pos_names else None
        self._position_parameter = (
            None if not pos_syms else (self._position_x, self._position_y) if is2d else self._position_x
        )

        if self.compute_gradients:
            self._grad_exprs = [None if first[sym] is None else _analytic(first[sym]) for sym in internal]
        else:
            self._grad_exprs = [None] * len(internal)
        self._compile()
        for i, p in enumerate(self.parameters):
            grad = functools.partial(Expression._grad_at_current, self, i)
            object.__setattr__(self, f"grad_{p.name}", grad)
            p.grad = grad
        if autodoc:
            self.__doc__ = self._autodoc()

    # ------------------------------------------------------------ compile
    @property
    def _coordinate_symbols(self) -> list[sympy.Symbol]:
        return [_X, _Y] if self._ndim == 2 else [_X]

    def _lambdify(self, expr):
        """Compile ``expr`` with the chosen backend; numexpr evaluates only a
        subset of the functions, so what it cannot run is compiled with numpy.
        """
        args = self._coordinate_symbols + self._internal_symbols
        # compiled over the symbols it uses only (a gradient of a long sum uses
        # few), then called with all: lambdify's cost grows with its arguments,
        # and n gradients of n arguments each would make compiling quadratic
        free = expr.free_symbols
        used = [i for i, a in enumerate(args) if a in free]
        if self._module != "numexpr":
            fn = _expr.lambdify([args[i] for i in used], expr, self._module)
        else:
            fn = _expr.lambdify([args[i] for i in used], expr, "numexpr")
            try:
                with np.errstate(all="ignore"):
                    fn(*[np.full(2, 0.5) for _ in used])
            except Exception:
                fn = _expr.lambdify([args[i] for i in used], expr, "numpy")
        if len(used) == len(args):
            return fn
        return functools.partial(_call_with, fn, tuple(used))

    def _compile(self) -> None:
        self._f = self._lambdify(self._internal_expr)
        self._grad_fns = [None if g is None else _LAZY for g in self._grad_exprs]
        analytic = [i for i, g in enumerate(self._grad_exprs) if g is not None]
        self._all_grads = None
        if self._module != "numexpr" and analytic:
            # one function for all analytic gradients, sharing subexpressions
            args = self._coordinate_symbols + self._internal_symbols
            exprs = [self._grad_exprs[i] for i in analytic]
            try:
                joint = _expr.lambdify(args, exprs, self._module, cse=True)
                # a trial on batched shapes: numpy.select (from Heaviside(Min(...)))
                # does not broadcast (B, 1) parameters against (N,) coordinates
                with np.errstate(all="ignore"):
                    joint(*[np.full(3, 0.5) for _ in self._coordinate_symbols],
                          *[np.full((2, 1), 0.5) for _ in self._internal_symbols])
                self._all_grads = (analytic, joint)
            except Exception:
                self._all_grads = None
                self._grad_fns = [None] * len(self._grad_exprs)  # finite differences
                return
        if self._all_grads is None:  # no joint function: compile each now
            for i in analytic:
                self._grad_fn(i)

    def _grad_fn(self, i: int):
        """Compiled gradient ``i`` (None: finite differences). Compiled when
        first asked for when the joint function covers it: fits use the joint
        one, and compiling n gradients one by one is most of the cost of a
        long expression.
        """
        fn = self._grad_fns[i]
        if fn is _LAZY:
            try:
                fn = self._lambdify(self._grad_exprs[i])
            except Exception:  # no numeric form: finite differences instead
                fn = None
            self._grad_fns[i] = fn
        return fn

    def compile_function(self, module: str | None = "numpy", position: bool = False) -> None:
        """Recompile the function and gradients for another backend (HyperSpy API)."""
        module = "numpy" if module is None else module
        if module not in ("numpy", "scipy", "numexpr"):
            raise InvalidInputError(f"`module` must be 'numpy', 'scipy', 'numexpr' or None, got {module!r}")
        old = self._module
        self._module = module
        try:
            self._compile()
        except Exception:
            self._module = old
            self._compile()
            raise

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_f", "_grad_fns", "_all_grads", "_jax_forms"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._compile()

    def _autodoc(self) -> str:
        names = ", ".join(p.name for p in self.parameters) or "none"
        linear = ", ".join(p.name for p in self.parameters if p._linear) or "none"
        return (
            f"{self.name}: Expression component\n\n"
            f"    f = {_expr.unordered_str(self._sympy_expression)}\n\n"
            f"from {self._str_expression!r}.\n\n"
            f"Parameters: {names}\nLinear parameters: {linear}\n"
        )

    # --------------------------------------------------------- properties
    @property
    def expression(self) -> str:
        """The expression string as given."""
        return self._str_expression

    @property
    def _is2D(self) -> bool:
        return self._ndim == 2

    @property
    def _has_gradients(self) -> bool:
        return self.compute_gradients and all(f is not None for f in self._grad_fns)  # _LAZY: printable, the joint function compiled

    # --------------------------------------------------------- evaluation
    def _prepare(self, coords, values):
        if len(coords) != self._ndim:
            raise InvalidInputError(
                f"{self!r} is {self._ndim}-D: it needs {self._ndim} coordinate array(s), got {len(coords)}"
            )
        xp = namespace(*coords, *values)
        coords = [xp.asarray(c, dtype=float) for c in coords]
        values = [xp.asarray(v, dtype=float) for v in values]
        if len(values) != len(self.parameters):
            raise InvalidInputError(f"{self!r} needs {len(self.parameters)} parameter arrays, got {len(values)}")
        return coords, values

    def _array_key(self):
        """The structure of :meth:`_function_nd` (array-namespace code): the expression."""
        return ("Expression", sympy.srepr(self._internal_expr), self._ndim)

    def _array_function(self):
        return self._function_nd  # (B, 1) values or scalars: the shape broadcasts

    def _jax(self):
        """``(function, (indices, joint gradients))`` lambdified to JAX (sympy's
        JAX printer), compiled when first asked for.
        """
        forms = self.__dict__.get("_jax_forms")
        if forms is None:
            args = self._coordinate_symbols + self._internal_symbols
            f = _expr.lambdify(args, self._internal_expr, "jax")
            analytic = [i for i, g in enumerate(self._grad_exprs) if g is not None]
            joint = _expr.lambdify(args, [self._grad_exprs[i] for i in analytic], "jax", cse=True) if analytic else None
            forms = self._jax_forms = (f, (analytic, joint))
        return forms

    @staticmethod
    def _batch_shape(coords, values) -> tuple[int, ...]:
        shape = np.broadcast_shapes(*(c.shape for c in coords), *(v.shape for v in values))
        return (1,) * (2 - len(shape)) + shape  # always (B, N), B = 1 without parameters

    def _function_nd(self, coords: Sequence[np.ndarray], values: Sequence[np.ndarray]) -> np.ndarray:
        """``(B, N)`` values for ``coords`` of shape ``(N,)`` and ``(B, 1)`` values."""
        coords, values = self._prepare(coords, values)
        shape = self._batch_shape(coords, values)
        xp = namespace(*coords)
        f = self._jax()[0] if xp.is_jax else self._f
        return xp.broadcast_to(xp.asarray(f(*coords, *values), dtype=float), shape)

    def _gradients_nd(self, coords: Sequence[np.ndarray], values: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One ``(B, N)`` array per parameter (symbolic, finite differences as fallback)."""
        coords, values = self._prepare(coords, values)
        shape = self._batch_shape(coords, values)
        xp = namespace(*coords)
        out: list = [None] * len(values)
        all_grads = self._jax()[1] if xp.is_jax else self._all_grads
        if all_grads is not None and all_grads[1] is not None:
            indices, joint = all_grads
            for i, g in zip(indices, joint(*coords, *values)):
                out[i] = g
        for i in range(len(out)):
            if out[i] is None:
                fn = None if xp.is_jax else self._grad_fn(i)
                out[i] = fn(*coords, *values) if fn is not None else self._finite_difference(coords, values, i)
        return [xp.broadcast_to(xp.asarray(g, dtype=float), shape) for g in out]

    def _finite_difference(self, coords, values, i) -> np.ndarray:
        xp = namespace(*coords, *values)
        f = self._jax()[0] if xp.is_jax else self._f
        v = values[i]
        h = 1e-6 * xp.maximum(xp.abs(v), 1.0)
        up, down = list(values), list(values)
        up[i], down[i] = v + h, v - h
        return (xp.asarray(f(*coords, *up), dtype=float) - xp.asarray(f(*coords, *down), dtype=float)) / (2 * h)

    def _current_values(self) -> list[float]:
        return [p.value for p in self.parameters]

    def function(self, *coords):
        """Evaluate at the current parameter values: ``function(x)`` (1-D) or
        ``function(x, y)`` (2-D); arrays of any (broadcastable) shape.
        """
        coords, values = self._prepare(coords, self._current_values())
        shape = np.broadcast_shapes(*(c.shape for c in coords))
        out = np.broadcast_to(np.asarray(self._f(*coords, *values), dtype=float), shape)
        return out.copy() if shape else out[()]

    def _grad_at_current(self, index: int, *coords):
        coords, values = self._prepare(coords, self._current_values())
        shape = np.broadcast_shapes(*(c.shape for c in coords))
        fn = self._grad_fn(index)
        g = fn(*coords, *values) if fn is not None else self._finite_difference(coords, values, index)
        out = np.broadcast_to(np.asarray(g, dtype=float), shape)
        return out.copy() if shape else out[()]

    def function_nd(self, *coords, parameters_values=None):
        """Evaluate at every navigation position of the parameter maps (HyperSpy API).

        The result has shape ``navigation_shape + coordinate shape``; with maps
        of a single position it equals ``function``. ``parameters_values``
        (one value, or one array broadcasting against the maps, per parameter
        in ``parameters`` order) replaces the maps.

        Examples
        --------
        >>> from swiftfit.components.expression import Expression
        >>> c = Expression("a * x + b", name="line")
        >>> c.function_nd(np.arange(3.0), parameters_values=[2.0, 1.0]).tolist()
        [1.0, 3.0, 5.0]
        """
        maps = self._parameter_maps(parameters_values)
        if all(m.ndim == 0 for m in maps):
            coords, values = self._prepare(coords, maps)
            shape = np.broadcast_shapes(*(c.shape for c in coords))
            out = np.broadcast_to(np.asarray(self._f(*coords, *values), dtype=float), shape)
            return out.copy() if shape else out[()]
        coords, _ = self._prepare(coords, [0.0] * len(maps))
        extra = (np.newaxis,) * max(c.ndim for c in coords)
        values = [m[(Ellipsis, *extra)] for m in maps]
        shape = np.broadcast_shapes(*(c.shape for c in coords), *(v.shape for v in values))
        return np.broadcast_to(np.asarray(self._f(*coords, *values), dtype=float), shape).copy()

    @property
    def _constant_term(self) -> float:
        """The additive part of the expression free of the free linear parameters,
        at the current values (HyperSpy's ``_constant_term``; linear fitting
        subtracts it).

        Examples
        --------
        >>> from swiftfit.components.expression import Expression
        >>> c = Expression("a * x + b", name="line", a=20.0, b=4.0)
        >>> c._constant_term
        0.0
        >>> c.b.free = False
        >>> c._constant_term
        4.0
        """
        free_linear = [s for s, p in zip(self._internal_symbols, self.parameters) if p._linear and p._free]
        constant, _ = self._internal_expr.as_independent(*free_linear, as_Add=True)
        if constant.free_symbols & {_X, _Y}:
            raise InvalidInputError(
                f"the part of {self._str_expression!r} without free linear parameters, {constant}, "
                "depends on the coordinates: it is no constant term"
            )
        values = {s: p.value for s, p in zip(self._internal_symbols, self.parameters)}
        return float(constant.xreplace(values))
