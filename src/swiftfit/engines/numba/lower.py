"""The fused fast path of ``"lm"``: a Problem lowered to arrays for numba.

:func:`lower` turns a :class:`~swiftfit.problem.problem.Problem` into the
flat description the compiled kernels (:mod:`.kernels`) take — one
kind code per component, where each component's parameters sit in a vector
``q``, which ``theta`` column (or fixed value) feeds each of them — or
returns None when the problem needs something only the NumPy path does:

* a component that is not one of the built-ins below or an ``Expression``
  (user components and subclasses, which may override ``function``), or an
  Expression using something the register machine does not run (derivatives
  sympy cannot take; see :mod:`.expression_vm`);
* ``expr`` ties and twins through a function (an identity twin is fine:
  both parameters read the same column);
* a PSF/operator, several datasets, more than two coordinates,
  finite-difference gradients asked for explicitly, a loss other than least
  squares, bounds.

2-D problems (Model2D: Gaussian2D with or without rotation, Lorentzian2D,
Moffat2D, Sersic2D, Polynomial2D, Offset and 2-D Expressions; see :mod:`.model2d`)
reach the same kernel as flattened pixel coordinates ``x`` and ``xy``.

:func:`fused_lm` runs the kernels and returns the same
:class:`~swiftfit.problem.solution.Solution` as the NumPy reference.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np

from ...optimizers import _lm_steps as steps
from ...problem.problem import Problem, relevance
from ...problem.solution import Solution, Status

__all__ = ["available", "lower", "fused_lm"]


def available() -> bool:
    """True when numba can be imported (the fast path needs it)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


_CACHE_CHECKED = False


def _refresh_kernel_cache() -> None:
    """Drop numba's on-disk cache of the fused kernels when their sources changed.

    numba invalidates a cached function when *its own* file changes, not when
    a function it calls from another module does: ``fit_pixels`` compiled
    against an older ``model.evaluate`` would be loaded stale. A stamp
    of all six sources, kept next to the cache, catches that.
    """
    global _CACHE_CHECKED
    if _CACHE_CHECKED:
        return
    _CACHE_CHECKED = True
    here = Path(__file__).parent
    names = ("expression_vm", "model2d", "model", "svd", "newton", "kernels", "varpro")
    sources = [here / f"{name}.py" for name in names]
    try:
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
        cache = Path(os.environ.get("NUMBA_CACHE_DIR", "")) if os.environ.get("NUMBA_CACHE_DIR") else here / "__pycache__"
        stamp = cache / "swiftfit_fused.stamp"
        if stamp.is_file() and stamp.read_text() == digest:
            return
        for name in names:
            for f in cache.rglob(f"{name}.*.nb[ic]"):
                f.unlink(missing_ok=True)
        cache.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only install: numba then caches elsewhere, or not at all
        return


def _kinds() -> dict:
    from ...components import background, galaxy, peaks, two_d
    from ...components.expression import Expression

    _refresh_kernel_cache()
    from . import model as k
    from . import model2d as k2

    return {
        two_d.Gaussian2D: k2.GAUSSIAN2D,
        two_d.Lorentzian2D: k2.LORENTZIAN2D,
        galaxy.Moffat2D: k2.MOFFAT2D,
        galaxy.Sersic2D: k2.SERSIC2D,
        two_d.Polynomial2D: k2.POLYNOMIAL2D,
        two_d.Offset: k.OFFSET,  # a constant: the 1-D evaluation does

        peaks.Gaussian: k.GAUSSIAN,
        peaks.GaussianHF: k.GAUSSIAN_HF,
        peaks.Lorentzian: k.LORENTZIAN,
        background.Offset: k.OFFSET,
        background.Polynomial: k.POLYNOMIAL,
        background.Exponential: k.EXPONENTIAL,
        background.PowerLaw: k.POWERLAW,
        Expression: k.EXPRESSION,
    }


@functools.lru_cache(maxsize=256)
def _program(expr, grads, params, ndim=1):
    """An Expression's register program (cached: sympy's cse is not free)."""
    from . import expression_vm as _fused_vm

    try:
        return _fused_vm.lower(expr, list(grads), list(params), ndim)
    except _fused_vm.Unsupported:
        return None


def _expression_tables(programs):
    """Pack the programs of the model's Expression components into the flat
    arrays the kernel takes (see ``model._expression``).
    """
    meta, ins, vec, creg, cval, out = [], [], [], [], [], []
    n_reg = 1
    for prog_ins, isvec, consts, outputs in programs:
        meta.append((len(ins), len(prog_ins), len(vec), len(isvec), len(creg), len(consts), len(out)))
        ins.extend(map(tuple, prog_ins))
        vec.extend(isvec)
        creg.extend(r for r, _ in consts)
        cval.extend(v for _, v in consts)
        out.extend(outputs)
        n_reg = max(n_reg, len(isvec))
    return (np.array(meta, dtype=np.int64).reshape(-1, 7), np.array(ins, dtype=np.int64).reshape(-1, 4),
            np.array(vec, dtype=np.bool_), np.array(creg, dtype=np.int64), np.array(cval, dtype=float),
            np.array(out, dtype=np.int64)), n_reg


def _is_identity(plan) -> bool:
    v = np.array([-2.5, 0.0, 1.0, 3.75e3])
    try:
        return bool(np.array_equal(np.asarray(plan.func(v), dtype=float), v)
                    and np.allclose(np.asarray(plan.dfunc(v), dtype=float), 1.0))
    except Exception:  # a twin function that cannot take an array is not the identity
        return False


def lower(problem: Problem, loss=None, bounded: bool = False):
    """The kernel's description of ``problem``, or None if it needs the NumPy path."""
    if not isinstance(problem, Problem):  # e.g. a user's residual function (lmfit API)
        return None
    if loss is not None and loss.name != "ls":
        return None
    if bounded and problem.bounded:
        return None
    ndim = len(problem.coords)
    if problem.transform is not None or len(problem.segments) > 1 or ndim not in (1, 2):
        return None
    if problem.grad not in ("auto", "analytical"):
        return None
    from ...components import background
    from ...components.expression import Expression

    kinds_of = _kinds()
    kinds, programs, cexpr = [], [], []
    for comp in problem.components:
        kind = kinds_of.get(type(comp))
        if kind is None or getattr(comp, "_ndim", 1) != ndim:
            return None
        cexpr.append(-1)
        if kind == kinds_of[Expression]:
            if not comp.compute_gradients:
                return None
            prog = _program(comp._internal_expr, tuple(comp._grad_exprs), tuple(comp._internal_symbols), ndim)
            if prog is None:
                return None
            cexpr[-1] = len(programs)
            programs.append(prog)
        kinds.append(kind)
    tables, n_reg = _expression_tables(programs)
    ex = (*tables, np.array(cexpr, dtype=np.int64))
    nq = np.array([len(s) for s in problem.slots], dtype=np.int64)
    qoff = np.array([s[0] if s else 0 for s in problem.slots], dtype=np.int64)
    col = np.full(len(problem.plans), -1, dtype=np.int64)
    fixed = np.array(problem.fixed, dtype=float, order="C")
    for i in problem.order:
        plan = problem.plans[i]
        if plan.kind == "free":
            col[i] = plan.column
        elif plan.kind == "twin" and _is_identity(plan):
            col[i] = col[plan.source]
            fixed[:, i] = fixed[:, plan.source]
        elif plan.kind != "fixed":
            return None
    for c, kind in enumerate(kinds):
        if kind == kinds_of[background.PowerLaw] and col[qoff[c] + 3] >= 0:
            return None  # a free left cut-off: its derivative is a delta (finite differences)
    x = np.ascontiguousarray(problem.coords[0], dtype=float)
    if x.ndim != 1 or x.size != problem.N:
        return None
    xy, grid = np.empty(0), np.zeros(7)
    if ndim == 2:
        xy = np.ascontiguousarray(problem.coords[1], dtype=float)
        if xy.shape != x.shape:
            return None
        grid = _raster(x, xy)
        n_reg = max(n_reg, 2)  # model2d's separable Gaussian2D keeps its factors in R[0], R[1]
    bs = np.ascontiguousarray(np.broadcast_to(np.asarray(problem.binscale, dtype=float), x.shape))
    step = np.diff(x)
    ascending = bool(np.all(step > 0))
    # a uniform grid lets Gaussians be evaluated by a recurrence (see kernels._gauss_shape)
    uniform = ascending and x.size > 1 and bool(np.allclose(step, step[0], rtol=1e-9, atol=0.0))
    return dict(x=x, xy=xy, grid=grid, ascending=ascending, dx=float(step[0]) if uniform else 0.0, bs=bs, kinds=np.array(kinds, dtype=np.int64), qoff=qoff, nq=nq,
                fixed=fixed, col=col, active=np.ascontiguousarray(problem.active, dtype=np.bool_), ex=ex, n_reg=n_reg)


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


def _weights(problem: Problem):
    if problem.weights is None:
        return np.ones((1, problem.N)), False
    return np.ascontiguousarray(problem.weights, dtype=float), True


def evaluate(problem: Problem, theta: np.ndarray, low=None, dense: bool = True, norms: bool = False):
    """Model, weighted residuals, ``JᵀJ``, ``Jᵀr`` and ``J`` (unless ``dense``
    is False: then an empty (B, 0, P) array) from the kernel, and with
    ``norms`` the unweighted Jacobian's column norms (the tests compare them
    with the NumPy path).
    """
    _refresh_kernel_cache()
    from . import kernels as k

    low = lower(problem) if low is None else low
    W, use_w = _weights(problem)
    out = k.evaluate_pixels(low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"], np.ascontiguousarray(problem.data, dtype=float),
                             W, use_w, low["kinds"], low["qoff"], low["nq"], low["active"], low["fixed"], low["col"],
                             np.ascontiguousarray(theta, dtype=float), low["ex"], low["n_reg"], dense)
    return out if norms else out[:5]


def _bounds(problem: Problem):
    P = problem.P
    lo = np.ascontiguousarray(np.broadcast_to(np.asarray(problem.lower, dtype=float), (P,)))
    hi = np.ascontiguousarray(np.broadcast_to(np.asarray(problem.upper, dtype=float), (P,)))
    return lo, hi


def _relevant(low: dict, B: int, P: int) -> np.ndarray:
    """(B, P): the columns the kernel counts as reaching the model (a free
    parameter of a component active at the pixel), as ``problem.relevance``.
    """
    rel = np.zeros((B, P), dtype=bool)
    col, qoff, nq, active = low["col"], low["qoff"], low["nq"], low["active"]
    for c in range(len(nq)):
        cols = col[qoff[c]:qoff[c] + nq[c]]
        cols = cols[cols >= 0]
        if cols.size:
            rel[:, cols] |= active[:, c, None]
    return rel


def checks(problem: Problem, theta: np.ndarray, low=None):
    """What the compiled kernel hands the verification, at any ``theta``.

    A dict (see :func:`swiftfit.problem.verify.verify`'s ``checks``): ``gram``
    ``JwᵀJw`` (B, P, P), ``model_sq`` ``Σ (w·model)²`` (B,), ``gap`` the Newton
    gap (B,) and ``relevant`` (B, P), computed by the same code as at the end of
    each pixel's fit; None when ``problem`` cannot be lowered. The tests hold it
    to the NumPy verification.
    """
    _refresh_kernel_cache()
    from . import kernels as k

    low = lower(problem) if low is None else low
    if low is None:
        return None
    W, use_w = _weights(problem)
    lo, hi = _bounds(problem)
    gram, check, rel = k.check_pixels(
        low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"],
        np.ascontiguousarray(problem.data, dtype=float), W, use_w,
        low["kinds"], low["qoff"], low["nq"], low["active"], low["fixed"], low["col"],
        np.ascontiguousarray(theta, dtype=float), low["ex"], low["n_reg"], lo, hi)
    return {"gram": gram, "model_sq": check[:, 0], "gap": check[:, 1], "relevant": rel}


def fused_lm(problem: Problem, low: dict, *, ftol: float, xtol: float, max_nfev: int | None,
             radius0: float) -> Solution:
    """Levenberg–Marquardt on every pixel of ``problem`` by the compiled kernel."""
    _refresh_kernel_cache()
    from . import kernels as k

    _, _, limit, theta, *_ = steps.start(problem, False, max_nfev)  # unbounded: bounds take the NumPy path
    W, use_w = _weights(problem)
    lo, hi = _bounds(problem)
    status, nfev, njev, nit, cost, cov, nsvd, gram, check = k.fit_pixels(
        low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"],
        np.ascontiguousarray(problem.data, dtype=float), W, use_w,
        low["kinds"], low["qoff"], low["nq"], low["active"], low["fixed"], low["col"], theta,
        float(ftol), float(xtol), limit, float(radius0), low["ex"], low["n_reg"], lo, hi)
    # rank-deficient and ill-conditioned Jacobians are solved in the kernel
    # too (SVD of J D⁻¹, see engines/numba/svd.py): no pixel is handed back to NumPy
    status = status.astype(int)
    relevant = relevance(problem, theta).any(axis=1)
    singular = np.isnan(cov).all(axis=(1, 2)) & (status > 0) & relevant
    status[singular] = Status.SINGULAR
    info = {"chisq": cost.copy(), "kernel": "numba", "compiled": np.ones(problem.B, dtype=bool),
            "svd_factorizations": nsvd.astype(int)}
    # the verification's inputs at the answer (problem.verify's `checks`); the kernel's
    # column norms divide by the weights, so only where every weight is positive
    if problem.weights is None or (np.asarray(problem.weights) > 0).all():
        info["checks"] = {"gram": gram, "model_sq": check[:, 0], "gap": check[:, 1],
                          "relevant": _relevant(low, problem.B, problem.P)}
    return Solution(theta, status, nfev.astype(int), cost, cov, njev.astype(int), nit.astype(int), info=info)
