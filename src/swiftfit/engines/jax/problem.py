"""Lower a :class:`~swiftfit.problem.problem.Problem` to a pure JAX function.

The JAX engine fits one pixel's model ``f(θ) -> (N,)`` vmapped over the
batch, so :func:`lower_problem` builds the model of a *single* pixel:

    ``model(theta (P,), fixed (K,), active (C,), consts) -> (N,)``

``fixed`` holds every parameter's value at that pixel (the fixed ones are
read from it), ``active`` the component switches (a component switched off
contributes exactly 0, also where its function is not finite), ``consts``
the arrays that do not change during a fit (each segment's coordinates and
bin widths, a ScalableFixedPattern's spline): they are arguments, not baked
in, so another signal axis does not recompile. Ties are resolved as in the
NumPy problem, in the same topological order: a twin through its
``twin_function_expr``, an ``expr`` through its sympy expression, both
lambdified with ``modules="jax"`` from the already-parsed (whitelisted)
sympy trees -- user text is never evaluated.

What cannot be lowered raises :class:`~.jax_components.NotLowerable`:
components without a JAX form (user ``Component`` subclasses, HyperSpy-style
``function(self, x)`` components) and segments with a ``transform`` (the PSF
convolution / oversampling operator of Model2D). The JAX solver catches it
and falls back to the NumPy engine with a logged message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy

from ... import _expr
from ...problem.problem import Problem
from .components import NotLowerable, jax_lambdify, lower_component

__all__ = ["LoweredProblem", "lower_problem"]

_X = sympy.Symbol("x", real=True)


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
    f = jax_lambdify([_X], expr)
    return f, ("twin", sympy.srepr(expr))


def _expr_function(p):
    deps = p._expr_dependencies()
    syms = [sympy.Symbol(n, real=True) for n, _ in deps]
    # "Comp.param" is not a valid Python name: rename for lambdify (as compile_tie)
    dummies = [sympy.Symbol(f"_d{k}", real=True) for k in range(len(syms))]
    expr = p._expr_sympy.subs(dict(zip(syms, dummies)))
    f = jax_lambdify(dummies, expr)
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
    comp_consts = []
    for comp in problem.components:
        fn, consts, key = lower_component(comp)
        comps.append((fn, len(consts)))
        comp_keys.append(key)
        comp_consts.append(tuple(np.asarray(a) for a in consts))
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

        segs, cconsts = consts
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
                fn, _ = comps[c]
                f = jnp.broadcast_to(fn(coords, [values[i] for i in slots[c]], cconsts[c]), (M,))
                total = total + jnp.where(active[c], f, 0.0)
            blocks.append(total * scale)
        return blocks[0] if len(blocks) == 1 else jnp.concatenate(blocks)

    key = (tuple(comp_keys), tuple(seg_info), tuple(plan_keys), tuple(order), tuple(map(tuple, slots)))
    return LoweredProblem(model, (tuple(seg_consts), tuple(comp_consts)), key)
