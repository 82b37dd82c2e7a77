"""Lower a :class:`~swiftfit.problem.problem.Problem` to a pure JAX function.

The JAX engine fits one pixel's model ``f(θ) -> (N,)`` vmapped over the
batch, so :func:`lower_problem` builds the model of a *single* pixel:

    ``model(theta (P,), fixed (K,), active (C,), consts) -> (N,)``

``fixed`` holds every parameter's value at that pixel (the fixed ones are
read from it), ``active`` the component switches (a component switched off
contributes exactly 0, also where its function is not finite), ``consts``
the arrays that do not change during a fit (each segment's coordinates and
bin widths): they are arguments, not baked in, so another signal axis does
not recompile. (A ScalableFixedPattern's spline is baked in: its structure
key holds a digest of the pattern, so another pattern compiles anew.) Ties are resolved as in the
NumPy problem, in the same topological order: a twin through its
``twin_function_expr``, an ``expr`` through its sympy expression, both
lambdified with ``modules="jax"`` from the already-parsed (whitelisted)
sympy trees -- user text is never evaluated.

Each component's maths comes from the component itself, through
:meth:`~swiftfit.problem.problem.Problem.component_function`: the same
function the NumPy problem evaluates (and broadcasts), written against an
array namespace (:mod:`swiftfit._xp`), here called on JAX tracers with one
pixel's scalar values (so the engine imports no component class). A component is tried once per structure key with
``jax.eval_shape`` before it is compiled into a solver.

What cannot be lowered raises :class:`NotLowerable`, naming the component and
why: a HyperSpy-style ``function(self, x)`` (it reads its parameters' values
one pixel at a time), a ``function`` written with NumPy-only code (it fails
on a JAX tracer: the error is quoted), and segments with a ``transform``
(the PSF convolution / oversampling operator of Model2D). The JAX solver
catches it and falls back to the NumPy engine with a logged message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy

from ... import _expr
from ...problem.problem import Problem

__all__ = ["LoweredProblem", "lower_problem", "NotLowerable"]

_X = sympy.Symbol("x", real=True)
_TRIED: set = set()  # component structure keys that ran on JAX tracers


class NotLowerable(ValueError):
    """The problem (or one of its components) has no JAX form."""


@dataclass(frozen=True)
class LoweredProblem:
    """A problem's single-pixel JAX model (see the module docstring).

    Attributes
    ----------
    model : callable
        ``model(theta, fixed, active, consts) -> (N,)``.
    consts : tuple
        NumPy arrays passed as ``consts`` (cast to the run's dtype by the solver).
    key : tuple
        Hashable structure of the problem: equal keys give the same ``model``
        up to ``consts``, so a compiled solver can be reused.
    """

    model: Callable
    consts: tuple
    key: tuple


def _parameters(problem: Problem) -> list:
    return [p for c in problem.components for p in c.parameters]


def _twin_function(p):
    expr = _expr.parse_expression(p.twin_function_expr)
    f = _expr.lambdify([_X], expr, "jax")
    return f, ("twin", sympy.srepr(expr))


def _expr_function(p):
    deps = p._expr_dependencies()
    syms = [sympy.Symbol(n, real=True) for n, _ in deps]
    # "Comp.param" is not a valid Python name: rename for lambdify (as compile_tie)
    dummies = [sympy.Symbol(f"_d{k}", real=True) for k in range(len(syms))]
    expr = p._expr_sympy.subs(dict(zip(syms, dummies)))
    f = _expr.lambdify(dummies, expr, "jax")
    return f, ("expr", sympy.srepr(expr))


def lower_problem(problem: Problem) -> LoweredProblem:
    """Build the single-pixel JAX model of ``problem``.

    Raises
    ------
    NotLowerable
        When a component or a segment has no JAX form (see the module docstring).

    Examples
    --------
    >>> low = lower_problem(m.compile())      # doctest: +SKIP
    >>> low.model(theta, fixed, active, consts)    # doctest: +SKIP
    """
    params = _parameters(problem)
    comps = []
    comp_keys = []
    for c in range(len(problem.components)):
        fn, key, label = problem.component_function(c)
        if key is None:
            raise NotLowerable(
                f"component {label} has no JAX form: it is not written as static `function`/`gradients` against "
                "the array namespace of swiftfit._xp (a HyperSpy-style `function(self, x)` reads its parameters' "
                "values one pixel at a time); written that way it runs on backend='jax'"
            )
        comps.append(fn)
        comp_keys.append(key)
    seg_info = []
    seg_consts = []
    for seg in problem.segments:
        if seg.transform is not None:
            raise NotLowerable(
                "the model has a PSF/oversampling operator (Model2D.set_psf / oversampling): "
                "it has no JAX form yet"
            )
        coords = tuple(np.asarray(c, dtype=float) for c in seg.coords)
        scale = np.asarray(seg.binscale, dtype=float)
        size = problem._segment_size(seg)
        seg_info.append((tuple(seg.components), len(coords), scale.ndim, size))
        seg_consts.append((coords, scale))
    plan_funcs = []
    plan_keys = []
    for i, plan in enumerate(problem.plans):
        if plan.kind == "twin":
            f, key = _twin_function(params[i])
            plan_funcs.append(f)
            plan_keys.append((plan.kind, plan.source, key))
        elif plan.kind == "expr":
            f, key = _expr_function(params[i])
            plan_funcs.append(f)
            plan_keys.append((plan.kind, tuple(plan.deps), key))
        else:
            plan_funcs.append(None)
            plan_keys.append((plan.kind, plan.column))
    slots = [list(s) for s in problem.slots]
    order = list(problem.order)
    plans = list(problem.plans)

    def model(theta, fixed, active, consts):
        import jax.numpy as jnp

        segs = consts
        values = [None] * len(plans)
        for i in order:
            plan = plans[i]
            if plan.kind == "free":
                values[i] = theta[plan.column]
            elif plan.kind == "fixed":
                values[i] = fixed[i]
            elif plan.kind == "twin":
                values[i] = jnp.asarray(plan_funcs[i](values[plan.source]), dtype=theta.dtype)
            else:
                values[i] = jnp.asarray(plan_funcs[i](*[values[k] for k in plan.deps]), dtype=theta.dtype)
        blocks = []
        for (members, _, _, _), (coords, scale) in zip(seg_info, segs):
            M = coords[0].shape[0]
            total = jnp.zeros((M,), dtype=theta.dtype)
            for c in members:
                # the component's own maths, on one pixel's scalar values (XLA
                # compiles it as the scalar code it is: shaped (1, 1) values
                # changed float32 results by an ulp)
                f = comps[c](coords, [values[i] for i in slots[c]])
                f = jnp.broadcast_to(f, (1, M)).reshape(M).astype(theta.dtype)
                total = total + jnp.where(active[c], f, 0.0)
            blocks.append(total * scale)
        return blocks[0] if len(blocks) == 1 else jnp.concatenate(blocks)

    for c, key in enumerate(comp_keys):
        if key not in _TRIED:
            _try_on_jax(problem, c, seg_consts)
            _TRIED.add(key)
    key = (tuple(comp_keys), tuple(seg_info), tuple(plan_keys), tuple(order), tuple(map(tuple, slots)))
    return LoweredProblem(model, tuple(seg_consts), key)


def _try_on_jax(problem: Problem, c: int, seg_consts) -> None:
    """Trace component ``c``'s callback on JAX (shapes only, nothing runs);
    NumPy-only code fails here, with the component named.
    """
    import jax

    fn, _, label = problem.component_function(c)
    seg = next((k for k, s in enumerate(problem.segments) if c in s.components), 0)
    dt = jax.dtypes.canonicalize_dtype(np.float64)  # float32 where x64 is off
    coords = tuple(jax.ShapeDtypeStruct(np.shape(a), dt) for a in seg_consts[seg][0])
    values = [jax.ShapeDtypeStruct((), dt) for _ in problem.slots[c]]
    try:
        jax.eval_shape(fn, coords, values)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise NotLowerable(
            f"component {label} has no JAX form: its `function` is NumPy-only code, which fails on a JAX "
            f"array ({type(exc).__name__}: {reason}); written against the array namespace of swiftfit._xp "
            "(`xp = namespace(x, ...)`, `xp.exp`, ...) it runs on backend='jax'"
        ) from exc
