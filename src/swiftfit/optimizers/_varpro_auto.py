"""The default optimizer: compiled variable projection where it wins, else Levenberg–Marquardt.

When no optimizer is named (``m.fit()``, ``m.multifit()``), the request
(:func:`swiftfit.problem.request.make_request`) takes ``"lm"`` through
:func:`solve_default`: a problem the fused kernel lowers (:mod:`swiftfit.engines.numba.lower`),
fitted by least squares without bounds, that is separable
(:func:`.varpro.plan`: free columns the model is affine in) *and* that
:func:`wins` picks, is searched by the compiled variable projection
(:mod:`swiftfit.engines.numba.varpro`) and finished by the fused LM from
there; any other problem goes to ``"lm"`` unchanged. ``optimizer="lm"``
named explicitly always runs LM; ``optimizer="varpro"`` the batched NumPy
variable projection (:mod:`.varpro`).

The rule (:func:`wins`), from the battery (``benchmarks/battery.py``; the
README's table): variable projection pays where the start's linear values
are far from their best values (amplitudes started 20× low: they cost LM
iterations and minima, the linear solve finds them at once); where the
starts are close, the fused LM takes fewer evaluations — one accepted step
of variable projection also solves the linear block and may re-evaluate,
and its answer is polished by the LM — so LM stays the default there.
"""

from __future__ import annotations

import numpy as np

from ..problem.problem import Problem
from ..problem.solution import Solution

__all__ = ["compiled_plan", "wins", "solve_default"]

MAX_NONLINEAR = 64  # the compiled kernel has no limit of its own; Q×Q work arrays
PROBE = 8  # pixels :func:`wins` looks at
FAR = 0.5  # relative change of a linear value that makes its start "far" (see :func:`wins`)


def compiled_plan(problem: Problem, loss=None, bounded: bool = False):
    """``(low, vp)`` for the compiled variable projection of ``problem``, or None.

    None where the fused kernel cannot lower the problem (see
    :func:`swiftfit.engines.numba.lower.lower`), where it is not separable
    (:func:`.varpro.plan`) or not affine in its linear columns at the start.

    Examples
    --------
    >>> low, vp = compiled_plan(m._problem([()]))
    >>> vp.linear.tolist(), vp.nonlinear.tolist()
    ([0, 3], [1, 2])
    """
    from ..engines.numba import lower as _fused

    if not _fused.available():
        return None
    low = _fused.lower(problem, loss, bounded)
    if low is None or problem.B == 0:
        return None
    from .varpro import _affine, plan

    vp = plan(problem, loss, max_nonlinear=MAX_NONLINEAR)
    if vp is None or vp.nonlinear.size == 0:
        return None
    if not _affine(problem, vp, np.asarray(problem.p0, dtype=float)):
        return None
    return low, vp


def wins(problem: Problem, low: dict, vp) -> bool:
    """Whether the compiled variable projection is the default for ``problem``.

    The measured rule (README, "Variable projection by default"): the linear
    values of the start are far from their best values for the start's
    non-linear ones — on at least half of up to ``PROBE`` pixels spread over
    the chunk, the best value of some linear column differs from its start by
    more than ``FAR`` of itself (a start below ~2/3 or above 2× of it). The
    compiled kernel's own evaluation gives ``JᵀJ`` and ``Jᵀr`` there (one
    evaluation of those pixels, no fit). Where the starts are close, the fused
    LM takes fewer evaluations (variable projection adds its polishing stage),
    so it stays the default.

    Examples
    --------
    ``m`` (a Gaussian and an Offset) starts at its true values: no.

    >>> p = m._problem([()])
    >>> low, vp = compiled_plan(p)
    >>> wins(p, low, vp)
    False
    >>> p.p0[:, vp.linear] *= 0.05  # amplitude and offset started 20× low
    >>> wins(p, low, vp)
    True
    """
    from ..engines.numba import lower as _fused

    _fused._refresh_kernel_cache()
    from ..engines.numba import kernels as _k

    B = problem.B
    rows = np.unique(np.linspace(0, B - 1, min(B, PROBE)).round().astype(int))
    W = np.ones((1, problem.N)) if problem.weights is None else np.ascontiguousarray(problem.weights[rows], dtype=float)
    theta = np.ascontiguousarray(problem.p0[rows], dtype=float)
    _, _, G, g, _, _ = _k.evaluate_pixels(
        low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"],
        np.ascontiguousarray(problem.data[rows], dtype=float), W, problem.weights is not None, low["kinds"],
        low["qoff"], low["nq"], np.ascontiguousarray(low["active"][rows]), np.ascontiguousarray(low["fixed"][rows]),
        low["col"], theta, low["ex"], low["n_reg"], False)
    lin = vp.linear
    Gl = G[:, lin[:, None], lin[None, :]]
    gl = g[:, lin]
    d = np.sqrt(np.einsum("bkk->bk", Gl))
    d = np.where((d > 0) & np.isfinite(d), d, 1.0)
    with np.errstate(all="ignore"):
        dc = np.stack([np.linalg.lstsq(Gl[b] / np.outer(d[b], d[b]), gl[b] / d[b], rcond=1e-12)[0]
                       for b in range(rows.size)]) / d
        new = theta[:, lin] + dc
        far = np.abs(dc) > FAR * np.abs(new)
    counted = (d > 1.0) | (np.einsum("bkk->bk", Gl) > 0)  # columns that reach the model
    far = (far & counted & np.isfinite(dc)).any(axis=1)
    return bool(2 * far.sum() >= rows.size)


def solve_default(problem: Problem, loss=None, *, bounded: bool = False, **options) -> Solution:
    """``"lm"`` as the default optimizer: compiled variable projection where
    :func:`wins`, with the same options (``ftol``, ``xtol``, ``max_nfev``,
    ``radius0``), else :func:`.lm.levenberg_marquardt`. Any other LM option
    (a damping, ``kernel``, ``geodesic``…) keeps the problem on LM.
    """
    from .lm import levenberg_marquardt

    if set(options) <= {"ftol", "xtol", "max_nfev", "radius0"} and not getattr(problem, "prefer_varpro", False):
        found = compiled_plan(problem, loss, bounded)
        if found is not None and wins(problem, *found):
            from ..engines.numba.varpro import fused_varpro

            low, vp = found
            return fused_varpro(problem, low, vp, ftol=options.get("ftol", 1e-12), xtol=options.get("xtol", 1e-10),
                                max_nfev=options.get("max_nfev"), radius0=options.get("radius0", 1.0))
    return levenberg_marquardt(problem, loss, bounded=bounded, **options)
