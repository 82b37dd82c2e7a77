"""The tables :func:`.lower.lower` builds from a Problem's components and ties:
a component's declared compiled form, the register programs of Expressions,
declared formulas and ties, and the constant tables of splines, power laws,
a PSF operator and a 2-D raster.
"""

from __future__ import annotations

import functools

import numpy as np

from ...problem.problem import Problem

# what a component overrides to change its maths (Problem evaluates through these)
_EVALUATION = ("function", "gradients", "_function_nd", "_gradients_nd", "function_nd")


def declared_form(cls: type):
    """A component class's compiled form: ``("kind", name)`` or
    ``("expression", text)``, read from the nearest class of its MRO that
    declares ``compiled_kind`` or ``compiled_expression`` — or, as a string,
    why it has none: a class nearer than that one that overrides the
    evaluation (``function``, ``gradients``, ...) without declaring its own
    form is refused, so a subclass is never evaluated by its parent's maths.
    """
    for klass in cls.__mro__:
        attrs = vars(klass)
        if "compiled_kind" in attrs or "compiled_expression" in attrs:
            if attrs.get("compiled_kind") is not None:
                return ("kind", attrs["compiled_kind"])
            if attrs.get("compiled_expression") is not None:
                return ("expression", attrs["compiled_expression"])
            return f"{klass.__name__} declares no compiled form (compiled_kind and compiled_expression are None)"
        over = [name for name in _EVALUATION if name in attrs]
        if over:
            return (f"{klass.__name__} defines {', '.join(over)} without declaring its compiled form "
                    "(class attribute compiled_kind or compiled_expression)")
    return f"{cls.__name__} declares no compiled form"


@functools.lru_cache(maxsize=256)
def _declared_program(text: str, names: tuple):
    """The register program of a declared formula (``compiled_expression``)
    over the parameters ``names``, and the indices of parameters whose only
    derivative is a delta function (a step's position: they must be fixed);
    or a string saying why it cannot run.
    """
    import sympy

    from ... import _expr
    from . import expression_vm as _fused_vm

    symbols = {n: sympy.Symbol(n, real=True) for n in (*names, "x")}
    try:
        expr = _expr.parse_with_substitutions(text, symbols=symbols)
    except Exception as exc:  # a bad declaration: said, not raised, the NumPy path runs
        return f"its compiled_expression does not parse: {exc}"
    params = [symbols[n] for n in names]
    grads, delta_only = [], []
    for i, p in enumerate(params):
        g = sympy.diff(expr, p)
        if g.has(sympy.DiracDelta):
            # a jump's derivative: zero at every channel but the one the step sits on
            # (where the NumPy component's derivative ignores it too)
            g = g.replace(sympy.DiracDelta, lambda *args: sympy.S.Zero)
            if g == 0:
                delta_only.append(i)
        grads.append(g)
    internal = [sympy.Symbol(f"_p{i}", real=True) for i in range(len(params))]
    sub = dict(zip(params, internal))
    sub[symbols["x"]] = _fused_vm._X
    try:
        prog = _fused_vm.lower(expr.xreplace(sub), [g.xreplace(sub) for g in grads], internal, 1)
    except _fused_vm.Unsupported as exc:
        return f"its compiled_expression uses what the register machine does not run ({exc})"
    return prog, tuple(delta_only)


@functools.lru_cache(maxsize=256)
def _program(expr, grads, params, ndim=1):
    """An Expression's register program (cached: sympy's cse is not free)."""
    from . import expression_vm as _fused_vm

    try:
        return _fused_vm.lower(expr, list(grads), list(params), ndim)
    except _fused_vm.Unsupported:
        return None


def _spline_tables(comp, N: int):
    """A ScalableFixedPattern's tables (``compiled_tables()``) packed as the
    constants of an empty program (see :mod:`.spline`), or why not.
    """
    tables = getattr(comp, "compiled_tables", None)
    if tables is None:
        return "compiled_kind 'spline' without a compiled_tables() method"
    t = tables()
    if not t["interpolate"]:
        y = np.asarray(t["values"], dtype=float)
        if y.size != N:
            return f"interpolate=False on an axis of {N} points, the pattern has {y.size}"
        data = [0.0, float(y.size), *y]
    else:
        data = [1.0, t["degree"], t["knots"].size, t["coefficients"].size, *t["knots"], *t["coefficients"],
                t["d_degree"], t["d_knots"].size, t["d_coefficients"].size, *t["d_knots"], *t["d_coefficients"],
                *t["range"]]
    return np.zeros((0, 4), dtype=np.int64), np.ones(1, dtype=np.bool_), [(0, float(v)) for v in data], [0]


@functools.lru_cache(maxsize=256)
def _tie_program_cached(expr, names: tuple):
    import sympy

    from . import expression_vm as _fused_vm

    syms = {n: sympy.Symbol(n, real=True) for n in names}
    internal = [sympy.Symbol(f"_p{i}", real=True) for i in range(len(names))]
    e = expr.xreplace(dict(zip(syms.values(), internal)))
    if e.free_symbols - set(internal):
        return f"uses symbols other than its dependencies ({sorted(map(str, e.free_symbols))})"
    grads = [sympy.diff(e, p) for p in internal]
    if any(g.has(sympy.DiracDelta, sympy.Derivative, sympy.Subs) for g in grads):
        return "has a derivative the register machine cannot run"
    try:
        return _fused_vm.lower(e, grads, internal, 1)
    except _fused_vm.Unsupported as exc:
        return f"uses what the register machine does not run ({exc})"


def _tie_program(sym, n_deps: int):
    """The register program of a tie: value and partial derivatives in its
    dependencies (``ParamPlan.sym``), or why not.
    """
    if sym is None:
        return "has no symbolic form (built without one)"
    expr, names = sym
    if len(names) != n_deps:
        return "has dependencies that do not match its plan"
    return _tie_program_cached(expr, tuple(names))


def _powerlaw_table(problem: Problem, origin: np.ndarray):
    """``[origin, log d (N), 1/d (N)]`` with ``d = x − origin`` (0 where
    ``d ≤ 0``) as the constants of an empty program, when the origin is one
    finite number in every pixel (``forms1d._powerlaw`` checks it against the
    origin it is given, so a free origin simply computes its own); else None.
    """
    x = np.asarray(problem.coords[0], dtype=float)
    if origin.size == 0 or x.ndim != 1 or not np.all(origin == origin[0]) or not np.isfinite(origin[0]):
        return None
    d = x - origin[0]
    pos = d > 0
    L = np.zeros_like(d)
    inv = np.zeros_like(d)
    L[pos] = np.log(d[pos])
    inv[pos] = 1.0 / d[pos]
    data = np.concatenate([[origin[0]], L, inv])
    # the constants as two arrays (registers, values), not 2N + 1 pairs: packing
    # 1,601 Python tuples cost ~1 ms per multifit on an 800-channel spectrum
    return np.zeros((0, 4), dtype=np.int64), np.ones(1, dtype=np.bool_), (np.zeros(data.size, dtype=np.int64), data), [0]


def _expression_tables(programs):
    """Pack the programs of the model's Expression components into the flat
    arrays the kernel takes (see ``forms1d._expression``).
    """
    meta, ins, vec, creg, cval, out = [], [], [], [], [], []
    n_reg = 1
    n_const = 0
    for prog_ins, isvec, consts, outputs in programs:
        if isinstance(consts, tuple):  # (registers, values) as arrays: _powerlaw_table
            regs, vals = consts
        else:  # (register, value) pairs
            regs, vals = [r for r, _ in consts], [v for _, v in consts]
        meta.append((len(ins), len(prog_ins), len(vec), len(isvec), n_const, len(regs), len(out)))
        ins.extend(map(tuple, prog_ins))
        vec.extend(isvec)
        creg.append(np.asarray(regs, dtype=np.int64))
        cval.append(np.asarray(vals, dtype=float))
        n_const += len(regs)
        out.extend(outputs)
        # + a scratch row (expression_vm.run_mapped's EXPX) and one for expr_gram's plan (expr_gram.fusable)
        n_reg = max(n_reg, len(isvec) + 2)
    return (np.array(meta, dtype=np.int64).reshape(-1, 7), np.array(ins, dtype=np.int64).reshape(-1, 4),
            np.array(vec, dtype=np.bool_), np.concatenate(creg) if creg else np.zeros(0, dtype=np.int64),
            np.concatenate(cval) if cval else np.zeros(0), np.array(out, dtype=np.int64)), n_reg


def _is_identity(plan) -> bool:
    v = np.array([-2.5, 0.0, 1.0, 3.75e3])
    try:
        return bool(np.array_equal(np.asarray(plan.func(v), dtype=float), v)
                    and np.allclose(np.asarray(plan.dfunc(v), dtype=float), 1.0))
    except Exception:  # a twin function that cannot take an array is not the identity
        return False


def _psf_tables(problem: Problem):
    """``(ex[10:], x, y)`` for the kernel's PSF path (:mod:`.psf`): no
    table and None without a transform, Model2D's PSF/oversampling operator's
    tables and the data points' pixel centres with one; or why not.
    """
    from . import psf

    if problem.transform is None:
        return psf.no_tables(), None, None
    # what the operator declares (as components declare compiled_kind; engines import no model class)
    if getattr(problem.transform, "compiled_operator", None) != "image" or len(problem.coords) != 2:
        # e.g. the EELS low-loss convolution (eels.convolution.ConvolvedProblem): a
        # kernel per pixel and only some components convolved
        return (f"an operator other than Model2D's PSF/oversampling ({type(problem.transform).__name__}: "
                "the kernel convolves with one PSF image, as Model2D.set_psf)")
    return psf.tables(problem.transform, problem.N)


def _raster(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[W, H, x0, dx, y0, dy, boxes]`` when the pixels ``(x[n], y[n])``
    are a raster read row after row (``x[n] = x0 + (n mod W)·dx``,
    ``y[n] = y0 + (n div W)·dy``, to 1e-9 of a step), else zeros; ``boxes``
    is 1 from ``model2d.BOX_PIXELS`` pixels up (see :mod:`.model2d`).
    """
    from .model2d import BOX_PIXELS

    N = x.size
    if N < 2 or not np.isfinite(x).all() or not np.isfinite(y).all():
        return np.zeros(7)
    change = np.flatnonzero(y != y[0])
    W = int(change[0]) if change.size else N
    H = N // W
    if W * H != N:
        return np.zeros(7)
    dx = float(x[1] - x[0]) if W > 1 else 1.0
    dy = float(y[W] - y[0]) if H > 1 else 1.0
    if dx == 0.0 or dy == 0.0:
        return np.zeros(7)
    i = np.arange(N)
    ok = (np.allclose(x, x[0] + (i % W) * dx, rtol=0.0, atol=1e-9 * abs(dx))
          and np.allclose(y, y[0] + (i // W) * dy, rtol=0.0, atol=1e-9 * abs(dy)))
    return np.array([W, H, x[0], dx, y[0], dy, float(N >= BOX_PIXELS)], dtype=float) if ok else np.zeros(7)
