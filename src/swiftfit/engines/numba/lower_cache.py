"""The kernel tables of a model structure, kept between multifit calls (issue #16).

:func:`.lower.lower` turns a :class:`~swiftfit.problem.problem.Problem` into
the arrays the kernel reads. Most of that depends only on the model's
*structure* — which components, their compiled forms and register programs,
which parameters are free, the coordinates and bin scales, the loss and
whether bounds are used — and is the same at every call of a repeated
``multifit``; only the fixed parameter values (``fixed``) and where each
component is active (``active``) change with the data and the values. Here the
structural part is kept, keyed by everything it is computed from, and the two
value arrays are taken fresh from each problem.

The key holds, exactly: each component's class (its compiled form is a class
attribute) and, for an ``Expression``, its sympy expression, derivatives,
symbols and ``compute_gradients``; each parameter's plan (free/fixed and its
column); the parameter count of each component; the coordinates and bin
scales (their bytes); ``N``, ``P``, the gradient mode, whether any bound is
finite, ``bounded`` and the loss (its class and name). Any change of those —
a parameter freed or fixed, a component added or removed, bounds put on or
off, another signal axis — gives another key, so nothing stale is served.
A tie (``twin``, ``expr``) is part of the key by its kind, its
dependencies and its expression (its register program, and whether a twin
is the identity, come from that); an identity twin's row of ``fixed`` is
its source's, copied again from each problem. Structures whose tables read
parameter *values* or other state are not cached (lowered afresh every
time, as before): a power law whose origin differs between pixels (one origin, the same at every
pixel, is part of the key: its table is computed from it), a
ScalableFixedPattern (its pattern), and any problem the kernel refuses.

``ENABLED`` (default True) turns the cache off, for tests that compare the
two.

Examples
--------
>>> import swiftfit as sf
>>> from swiftfit.engines.numba import lower_cache
>>> s = sf.signals.Signal1D(np.random.default_rng(0).normal(size=(2, 30)))
>>> m = s.create_model()
>>> m.append(sf.model.components1D.Expression("a*x + b", name="line", a=1.0, b=0.0))
>>> lower_cache.clear()
>>> m.multifit()
>>> m.multifit()
>>> lower_cache.stats()["hits"]
1
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict

import numpy as np

from ...problem.problem import Problem

ENABLED = True
_SIZE = 16
_LOCK = threading.Lock()
_CACHE: OrderedDict = OrderedDict()
_STATS = {"hits": 0, "misses": 0}
# kinds whose tables read values or state other than the structure
_VALUE_KINDS = ("powerlaw", "spline")


def clear() -> None:
    """Forget every kept structure (and the hit counts)."""
    with _LOCK:
        _CACHE.clear()
        _STATS.update(hits=0, misses=0)


def stats() -> dict:
    """``{"hits": …, "misses": …, "size": …}`` since the last :func:`clear`."""
    with _LOCK:
        return {**_STATS, "size": len(_CACHE)}


def _component_key(comp, declared_form):
    form = declared_form(type(comp))
    if isinstance(form, str) or (form[0] == "kind" and form[1] in _VALUE_KINDS):
        return None
    expr = getattr(comp, "_internal_expr", None)
    if expr is None:
        return (type(comp), form, getattr(comp, "_ndim", 1))
    return (type(comp), form, getattr(comp, "_ndim", 1), expr, tuple(comp._grad_exprs),
            tuple(comp._internal_symbols), bool(getattr(comp, "compute_gradients", True)))


def _powerlaw_key(problem, c, comp, declared_form):
    """A power law's key: its class and the origin its table is computed from
    (``lower_tables._powerlaw_table`` reads ``fixed[:, origin]``), when that origin is
    one finite number at every pixel; else None (lowered afresh, as before).
    """
    form = declared_form(type(comp))
    if isinstance(form, str) or form != ("kind", "powerlaw") or len(problem.slots[c]) < 3:
        return None
    origin = problem.fixed[:, problem.slots[c][0] + 2]
    if origin.size == 0 or not np.isfinite(origin[0]) or not (origin == origin[0]).all():
        return None
    return (type(comp), form, getattr(comp, "_ndim", 1), "origin", float(origin[0]))


_F8 = np.dtype(float).str
_PACK = struct.Struct("=d").pack  # a float64's bytes, as np.float64(v).tobytes()


def _array_key(a) -> tuple:
    """``(dtype.str, shape, C-order bytes)`` of ``np.asarray(a)``; a float (an
    unbinned model's bin width) and an array without conversions (each NumPy
    call is a fixed cost of every multifit call, several µs after a model build).

    >>> _array_key(1.0) == _array_key(np.array(1.0)), _array_key(np.arange(3.0)[::2]) == _array_key(np.array([0.0, 2.0]))
    (True, True)
    """
    if type(a) is float:
        return _F8, (), _PACK(a)
    if type(a) is not np.ndarray:
        a = np.asarray(a)
    return a.dtype.str, a.shape, a.tobytes()  # tobytes: C order, as of a contiguous copy


def structure_key(problem, loss, bounded, declared_form):
    """The key of ``problem``'s structure, or None when it is not cached."""
    if not isinstance(problem, Problem) or problem.transform is not None or len(problem.segments) > 1:
        return None
    comps, powerlaw = [], False
    for c, comp in enumerate(problem.components):
        key = _component_key(comp, declared_form)
        if key is None:
            key = _powerlaw_key(problem, c, comp, declared_form)
            if key is None:
                return None
            powerlaw = True
        comps.append(key)
    plans = []
    for plan in problem.plans:
        if plan.kind in ("free", "fixed"):
            plans.append((plan.kind, plan.column))
        elif plan.kind in ("twin", "expr") and plan.sym is not None and not powerlaw:
            # (not with a power law: its origin's key reads problem.fixed, which a twin rewrites)
            # a tie's tables are its register program (from its expression) and
            # its dependencies; a twin's function is compiled from the same text
            # as its expression (Parameter.twin_function_expr), so the expression
            # decides whether it is the identity (lower_tables._is_identity)
            deps = (plan.source,) if plan.kind == "twin" else tuple(plan.deps)
            plans.append((plan.kind, deps, plan.sym[0], tuple(plan.sym[1])))
        else:
            return None
    coords = tuple(_array_key(c) for c in problem.coords)
    return (tuple(comps), tuple(plans), tuple(len(s) for s in problem.slots), coords,
            _array_key(problem.binscale), problem.N, problem.P,
            problem.grad, bool(problem.bounded), bool(bounded),
            None if loss is None else (type(loss), loss.name))


def lowered(problem, loss, bounded, lower_fn, declared_form):
    """``lower_fn(problem, loss, bounded)``, its structural part from the cache
    when the structure was lowered before; ``fixed`` and ``active`` always
    from ``problem``.
    """
    key = structure_key(problem, loss, bounded, declared_form) if ENABLED else None
    if key is None:
        return lower_fn(problem, loss, bounded)
    with _LOCK:
        template = _CACHE.get(key)
        if template is not None:
            _CACHE.move_to_end(key)
            _STATS["hits"] += 1
    if template is None:
        low = lower_fn(problem, loss, bounded)
        if isinstance(low, str):  # refused: not kept (its reason may depend on more than the key)
            return low
        # an identity twin reads its source's column: lower copied the source's values
        # into its row of `fixed` (in problem.order); the copies are repeated on a hit
        col = low["col"]
        copies = tuple((i, problem.plans[i].source) for i in problem.order
                       if problem.plans[i].kind == "twin" and col[i] == col[problem.plans[i].source])
        with _LOCK:
            _STATS["misses"] += 1
            _CACHE[key] = ({k: v for k, v in low.items() if k not in ("fixed", "active")}, copies)
            while len(_CACHE) > _SIZE:
                _CACHE.popitem(last=False)
        return low
    template, copies = template
    low = dict(template)
    # what lower computes from the values: fixed is the problem's, copied (and an
    # identity twin's row its source's, as lower writes it)
    fixed = np.array(problem.fixed, dtype=float, order="C")
    for i, source in copies:
        fixed[:, i] = fixed[:, source]
    low["fixed"] = fixed
    low["active"] = np.ascontiguousarray(problem.active, dtype=np.bool_)
    return low
