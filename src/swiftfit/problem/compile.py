"""Compile one or several models, each at a set of pixels, into a Problem.

A single model is the common case; a joint model passes one part per
dataset, all with the same number of pixels ``B``. Parameters are collected
over every part, so a twin or an ``expr`` may refer to a parameter of another
dataset's model; the data points of the parts are stacked, each part being
one :class:`~swiftfit.problem.problem.Segment`.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy

from .. import _expr
from ..errors import InvalidInputError
from .pixels import as_pixels, run_in
from .problem import ParamPlan, Problem, Segment, compile_tie

_X = sympy.Symbol("x", real=True)


@functools.lru_cache(maxsize=256)
def _twin_derivative(text: str):
    """The derivative of a twin function's expression, compiled once per text.

    Every chunk of a multifit compiles the same twins.
    """
    return sympy.lambdify([_X], sympy.diff(_expr.parse_expression(text), _X), modules=["numpy", "scipy"])


@functools.lru_cache(maxsize=256)
def _twin_expression(text: str):
    """A twin function's expression parsed once per text (sympy expressions are immutable)."""
    return _expr.parse_expression(text)


def _twin_plan(label, p, where):
    if id(p.twin) not in where:
        raise InvalidInputError(f"{label} is twinned to {p.twin!r}, which is not in the fitted model(s)")
    dfun = _twin_derivative(p.twin_function_expr)
    return ParamPlan(label, "twin", source=where[id(p.twin)], func=p.twin_function,
                     dfunc=lambda v, f=dfun: np.broadcast_to(f(v), np.shape(v)),
                     sym=(_twin_expression(p.twin_function_expr), ["x"]))


def _at(arr: np.ndarray, idx, run):
    """``arr[idx]`` of a navigation-shaped array; a view of its flattened
    positions ``run`` (``(first, stop)``, a chunk of consecutive pixels) when
    it is C-contiguous.
    """
    if run is not None and arr.flags.c_contiguous:
        return arr.reshape(-1)[run[0]:run[1]]
    return arr[idx]


def _expr_plan(label, p, where):
    deps = p._expr_dependencies()
    for _, q in deps:
        if id(q) not in where:
            raise InvalidInputError(f"{label}.expr refers to {q!r}, which is not in the fitted model(s)")
    func, dfuncs = compile_tie(p._expr_sympy, [n for n, _ in deps])
    return ParamPlan(label, "expr", func=func, dfunc=dfuncs, deps=[where[id(q)] for _, q in deps],
                     sym=(p._expr_sympy, [n for n, _ in deps]))


def _stacked(datas):
    """The parts' data points side by side; one part's rows as they are.

    A chunk of consecutive pixels is then a view of the signal's data, not a
    copy (nothing writes into a problem's data). It stays writeable: a
    read-only array is another type to the compiled kernels (a second
    compilation).
    """
    return datas[0] if len(datas) == 1 else np.concatenate(datas, axis=1)


def topological_order(plans) -> list[int]:
    """Indices of ``plans`` in an order where every tie comes after the parameters it reads."""
    order, state = [], [0] * len(plans)

    def visit(i):
        if state[i] == 2:
            return
        if state[i] == 1:
            raise InvalidInputError(f"parameter ties form a cycle at {plans[i].name}")
        state[i] = 1
        plan = plans[i]
        for j in ([plan.source] if plan.kind == "twin" else plan.deps if plan.kind == "expr" else []):
            visit(j)
        state[i] = 2
        order.append(i)

    for i in range(len(plans)):
        visit(i)
    return order


def compile_problem(parts, *, grad="auto", fd_scheme="2-point", check=True, prefix=None) -> Problem:
    """Compile ``parts`` — a list of ``(model, pixels)`` with equally many
    pixels — into one Problem. ``prefix`` (one string per part) qualifies the
    parameter names of a joint problem (``"m0.Gaussian.A"``).
    """
    B = len(parts[0][1])
    comps, owners, segments, datas, variances = [], [], [], [], []
    for k, (model, pixels) in enumerate(parts):
        pixels = as_pixels(pixels)  # a chunk keeps its index arrays
        if len(pixels) != B:
            raise InvalidInputError("every part of a joint problem needs the same number of pixels")
        if not model._components:
            raise InvalidInputError(f"{model!r} has no components; append some before fitting")
        first = len(comps)
        comps.extend(model._components)
        owners.extend([(k, model, pixels)] * len(model._components))
        coords, binscale, transform = model._evaluation()
        data = np.asarray(model._rows(model.signal.data, pixels), dtype=float)  # a view when it can be
        segments.append(Segment(list(range(first, len(comps))), coords, binscale, transform, data.shape[1]))
        datas.append(data)
        variances.append(model._variance_rows(pixels))
    params = [p for c in comps for p in c.parameters]
    where = {id(p): i for i, p in enumerate(params)}
    active = np.empty((B, len(comps)), dtype=bool)
    # every parameter's values at the pixels, written column by column (as float)
    fixed = np.empty((B, len(params)))
    slots, n, anywhere = [], 0, []  # anywhere: each component active at some pixel
    nav_index: dict = {}  # once per part, not per component
    for c, comp in enumerate(comps):
        k, model, pixels = owners[c]
        if k not in nav_index:
            # a chunk of consecutive pixels is read through slices of the maps
            run = run_in(pixels, model._nav_shape)
            nav_index[k] = (model._nav_index(pixels), run)
        idx, run = nav_index[k]
        if comp._active_array is not None:
            active[:, c] = _at(comp._active_array, idx, run) if idx != () else comp._active_array[()]
            anywhere.append(bool(active[:, c].any()))  # a column at a time: ~10x active.any(axis=0)
        else:
            active[:, c] = comp._active
            anywhere.append(B > 0 and bool(active[0, c]))
        slots.append(list(range(n, n + len(comp.parameters))))
        for p in comp.parameters:
            fixed[:, n] = _at(p._map, idx, run)["values"] if p._map.ndim else p._map["values"][()]
            n += 1
    owner_of = [c for c, comp in enumerate(comps) for _ in comp.parameters]
    plans, names, columns = [], [], []
    for i, p in enumerate(params):
        c = owner_of[i]
        label = f"{comps[c].name}.{p.name}"
        if prefix is not None:
            label = f"{prefix[owners[c][0]]}.{label}"
        if p.twin is not None:
            plans.append(_twin_plan(label, p, where))
        elif p._expr_sympy is not None:
            plans.append(_expr_plan(label, p, where))
        elif p.free and anywhere[c]:
            plans.append(ParamPlan(label, "free", column=len(names)))
            names.append(label)
            columns.append(i)
        else:
            plans.append(ParamPlan(label, "fixed"))
    order = topological_order(plans)
    p0 = fixed[:, columns] if columns else np.zeros((B, 0))
    bounds = [params[i]._bounds() for i in columns]
    lower = np.array([b[0] for b in bounds], dtype=float)
    upper = np.array([b[1] for b in bounds], dtype=float)
    weights = None
    if any(v is not None for v in variances):
        var = np.concatenate([np.ones_like(d) if v is None else v for d, v in zip(datas, variances)], axis=1)
        if check and not (np.isfinite(var).all() and (var > 0).all()):
            bad = var[~(np.isfinite(var) & (var > 0))]
            raise InvalidInputError(
                "the noise variance (metadata.Signal.Noise_properties.variance) must be positive "
                f"and finite in the signal range, got values such as {bad.ravel()[:3]}"
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            weights = 1.0 / np.sqrt(var)
    seg0 = segments[0]
    return Problem(
        components=comps, slots=slots, plans=plans, order=order, fixed=fixed,
        coords=seg0.coords, data=_stacked(datas), weights=weights, binscale=seg0.binscale,
        active=active, p0=p0, lower=lower, upper=upper, names=names, grad=grad, fd_scheme=fd_scheme,
        transform=seg0.transform, segments=segments if len(segments) > 1 else None,
    )
