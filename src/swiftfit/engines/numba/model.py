"""Compiled (numba) evaluation of a model for the fused Levenberg–Marquardt.

One call of :func:`evaluate` computes, for one pixel, the model, the weighted
residuals and the weighted Jacobian of the built-in components and of
``Expression`` components (through :mod:`.expression_vm`), and only where each
component is not negligible: a Gaussian is evaluated within ``WINDOW``
widths of its centre (beyond that it is below 3e-18 of its height, far under
the rounding of any sum it enters). The Jacobian is kept per column with the
range of channels it covers, so the Gram matrix ``JᵀJ`` (:func:`.gram.gram`)
costs the overlaps of those ranges, not ``N·P²``.

Here: the dispatch over components (:func:`evaluate`; from ``CLAIM_MIN``
channels :func:`_evaluate_claimed`, which writes Jacobian columns instead of
zeroing and adding), ties (:func:`_ties`, :func:`_fold_ties`) and the
relevance mask. The 1-D forms are in :mod:`.forms1d`, the 2-D ones in
:mod:`.model2d`, the Gram matrix and residuals in :mod:`.gram`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import model2d as _m2
from . import separable2d as _sep
from . import spline as _spline
from . import voigt as _voigt
from .expression_vm import run as _run_program
from .forms1d import (
    _FOUR_LN2,
    _FWHM_PER_SIGMA,
    EXPRESSION,
    GAUSSIAN,
    GAUSSIAN_HF,
    LORENTZIAN,
    OFFSET,
    POLYNOMIAL,
    POWERLAW,
    SPLINE,
    VOIGT,
    _expression,
    _gauss_shape,
    _gaussian,
    _lorentzian,
    _polynomial,
    _powerlaw,
    _window,
)
from .forms1d import expression_owns as _expression_owns
from .gram import _residuals


@njit(cache=True, error_model="numpy")
def mark_relevant(kinds, qoff, nq, active, col, ex, P, rel):
    """``rel[j] = True`` for every free column ``j`` that reaches an active
    component, directly or through a tie (``col ≥ P + 1``: a tie's row, whose
    free columns ``ex[9]`` lists; see :func:`_ties`).
    """
    ties, tcols = ex[7], ex[9]
    for c in range(kinds.size):
        if active[c]:
            for i in range(nq[c]):
                j = col[qoff[c] + i]
                if 0 <= j < P:
                    rel[j] = True
                elif j > P:
                    t = j - P - 1
                    for u in range(ties[t, 4], ties[t, 4] + ties[t, 5]):
                        rel[tcols[u]] = True


@njit(cache=True, error_model="numpy")
def _ties(ex, q, x, y, R, coef):
    """Tied parameters (twins through a function, ``expr`` ties), in order:
    ``q[k]`` from the values of the parameters it depends on, by its
    register program (parameters only: run over no channel), and its partial
    derivatives into ``coef`` (one per dependency, as ``ex[8]`` lists them).
    ``ex[7]`` rows: ``(k, program, first dependency, dependencies, first
    column, columns)``.
    """
    meta, ins, vec, creg, cval, out, ties, tdeps = ex[0], ex[1], ex[2], ex[3], ex[4], ex[5], ex[7], ex[8]
    for t in range(ties.shape[0]):
        k, e, d0, nd = ties[t, 0], ties[t, 1], ties[t, 2], ties[t, 3]
        i0, ni, r0, nr, k0c, nk, o0 = meta[e, 0], meta[e, 1], meta[e, 2], meta[e, 3], meta[e, 4], meta[e, 5], meta[e, 6]
        vals = np.empty(nd)
        for i in range(nd):
            vals[i] = q[tdeps[d0 + i]]
        _run_program(ins[i0:i0 + ni], vec[r0:r0 + nr], creg[k0c:k0c + nk], cval[k0c:k0c + nk], vals, x, y, 0, 0, R)
        q[k] = R[out[o0], 0]
        for i in range(nd):
            coef[d0 + i] = R[out[o0 + 1 + i], 0]


@njit(cache=True, error_model="numpy")
def _fold_ties(ex, col, coef, J, jlo, jhi, P, grid):
    """Add each tie's Jacobian row (``P + 1 + t``) to its dependencies' rows,
    times the tie's partial derivatives (the chain rule), last tie first so a
    tie of a tie reaches the free columns; then the tie rows are spent. On a
    large raster (``grid[6] > 0``) the ranges are boxes: widened to the
    bounding box (:func:`.model2d.extend`), not to the union of flat ranges.
    """
    ties, tdeps = ex[7], ex[8]
    for t in range(ties.shape[0] - 1, -1, -1):
        v = P + 1 + t
        lo = jlo[v]
        hi = jhi[v]
        if hi <= lo:
            continue
        for i in range(ties[t, 3]):
            d = ties[t, 2] + i
            j = col[tdeps[d]]
            if j < 0:
                continue
            a = coef[d]
            for n in range(lo, hi):
                J[j, n] += a * J[v, n]
            if grid[6] > 0:
                _m2.extend(jlo, jhi, j, lo, hi, grid)
                continue
            if lo < jlo[j]:
                jlo[j] = lo
            if hi > jhi[j]:
                jhi[j] = hi


CLAIM_MIN = 200  # channels from which columns are claimed (1-D 25 points: 14 % slower per fit with the claims, loaded machine)


@njit(cache=True, error_model="numpy", inline="always")
def _zero(J, j, lo, hi):
    """``J[j, lo:hi] = 0`` (an empty range when ``hi <= lo``)."""
    Jj = J[j, max(lo, 0):max(hi, 0)]  # a slice from 0: a contiguous store
    for n in range(Jj.size):
        Jj[n] = 0.0


@njit(cache=True, error_model="numpy", inline="always")
def _claim(J, jlo, jhi, j, lo, hi, assign):
    """Column ``j`` gets the channels ``[lo, hi)`` of a component.

    On the 1-D path (see :func:`evaluate`) a column is not zeroed before the
    components run: its range from the last evaluation is kept as
    ``-1 - lo``, ``-1 - hi`` until a component claims it (``jlo[j] < 0``:
    fresh). The first claim zeroes what the last evaluation left outside
    ``[lo, hi)`` when the component writes (``assign``) its values there,
    else the whole old range; later claims widen the range, outside which
    the row is then zero. So the row is zero outside ``[jlo, jhi)`` when
    :func:`evaluate` returns, as when every row was zeroed first, without a
    store and a load per channel of the window.
    """
    if jlo[j] >= 0:
        if lo < jlo[j]:
            jlo[j] = lo
        if hi > jhi[j]:
            jhi[j] = hi
        return
    olo = -1 - jlo[j]
    ohi = -1 - jhi[j]
    if assign:
        _zero(J, j, olo, min(ohi, lo))
        _zero(J, j, max(olo, hi), ohi)
    else:
        _zero(J, j, olo, ohi)
    jlo[j] = lo
    jhi[j] = hi


@njit(cache=True, error_model="numpy", inline="always")
def _fresh(col, k0, m, jlo):
    """Whether every free column of a component's ``m`` parameters is fresh
    (unclaimed in this evaluation, see :func:`_claim`) and none is shared by
    two of its parameters: then the component may write its columns.
    """
    for i in range(m):
        j = col[k0 + i]
        if j < 0:
            continue
        if jlo[j] >= 0:
            return False
        for i2 in range(i):
            if col[k0 + i2] == j:
                return False
    return True


@njit(cache=True, error_model="numpy")
def _evaluate_claimed(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r, J, jlo, jhi, ex, R):
    """:func:`evaluate` on 1-D problems without ties from ``CLAIM_MIN``
    channels: the Jacobian's rows are zeroed as the components claim them
    (:func:`_claim`), not all first. Its own function so that
    :func:`evaluate`'s body (small problems, 2-D, ties) stays as it was: the
    claims inside it measured slower on the 1-D 25-point problem (and 5×5,
    not isolated).
    """
    N = x.size
    P = J.shape[0] - 1  # row P is scratch (derivatives of fixed parameters)
    for n in range(N):
        f[n] = 0.0
    for j in range(P):  # the last ranges, kept until claimed
        jlo[j] = -1 - max(jlo[j], 0)
        jhi[j] = -1 - max(jhi[j], 0)
    for c in range(kinds.size):
        if not active[c]:
            continue
        kind = kinds[c]
        k0 = qoff[c]
        lo, hi = _window(kind, q, k0, x, ascending)
        # the components that can write their columns (not add to them) when fresh
        assign = ((kind == LORENTZIAN or kind == GAUSSIAN or kind == POWERLAW or kind == OFFSET
                   or kind == POLYNOMIAL) and _fresh(col, k0, nq[c], jlo)
                  or kind == EXPRESSION and _expression_owns(col, k0, nq[c]))  # stores every column it owns
        for i in range(nq[c]):
            j = col[k0 + i]
            if j >= 0:
                _claim(J, jlo, jhi, j, lo, hi, assign)
        if kind == GAUSSIAN:
            _gaussian(q, k0, col, x, lo, hi, dx, bs, w, use_w, f, J, P, R[0], assign)
        elif kind == GAUSSIAN_HF:  # as in evaluate
            h = q[k0]
            fw = q[k0 + 1]
            c0 = q[k0 + 2]
            jh = col[k0]
            jf = col[k0 + 1]
            jc = col[k0 + 2]
            inv = 1.0 / fw
            gb = _gauss_shape(x, lo, hi, c0, inv * _FWHM_PER_SIGMA, dx, R[0])
            for n in range(lo, hi):
                u = (x[n] - c0) * inv
                e = gb[n - lo]
                f[n] += h * e
                sn = bs[n] * (w[n] if use_w else 1.0)
                k = 2.0 * _FOUR_LN2 * h * e * u / fw
                if jh >= 0:
                    J[jh, n] += e * sn
                if jf >= 0:
                    J[jf, n] += k * u * sn
                if jc >= 0:
                    J[jc, n] += k * sn
        elif kind == LORENTZIAN:
            _lorentzian(q, k0, col, x, lo, hi, bs, w, use_w, f, J, P, assign)
        elif kind == OFFSET or kind == POLYNOMIAL:
            _polynomial(q, k0, nq[c], col, x, lo, hi, bs, w, use_w, f, J, R[0], assign)
        elif kind == POWERLAW:
            _powerlaw(q, k0, col, x, lo, hi, ascending, bs, w, use_w, f, J, R, ex, c, P, assign)
        elif kind == VOIGT:
            _voigt.evaluate(q, k0, col, x, lo, hi, bs, w, use_w, f, J, P)
        elif kind == SPLINE:
            sp_e = ex[6][c]
            sp_0 = ex[0][sp_e, 4]
            _spline.evaluate(q, k0, col, x, bs, w, use_w, f, J, P, ex[4][sp_0:sp_0 + ex[0][sp_e, 5]])
        elif kind == EXPRESSION:
            _expression(ex, R, c, k0, nq[c], q, col, x, xy, bs, w, use_w, f, J, P)
        else:  # EXPONENTIAL, as in evaluate (1-D: no 2-D kinds here)
            A = q[k0]
            tau = q[k0 + 1]
            ja = col[k0]
            jt = col[k0 + 1]
            for n in range(lo, hi):
                e = math.exp(-x[n] / tau)
                f[n] += A * e
                sn = bs[n] * (w[n] if use_w else 1.0)
                if ja >= 0:
                    J[ja, n] += e * sn
                if jt >= 0:
                    J[jt, n] += A * e * x[n] / (tau * tau) * sn
    for j in range(P):  # columns no active component claimed: zero, with an empty range
        if jlo[j] < 0:
            _zero(J, j, -1 - jlo[j], -1 - jhi[j])
            jlo[j] = N
            jhi[j] = 0
    return _residuals(y, f, bs, w, use_w, r)


@njit(cache=True, error_model="numpy")
def evaluate(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r, J, jlo, jhi, ex, R):
    """Model → residuals ``r = (y − f·bs)·w`` and the weighted
    Jacobian ``J[j, n]`` (zero outside ``[jlo[j], jhi[j])``). Returns
    ``(Σ r², noise sum)`` (see :func:`_residuals`). A 2-D problem gives its
    pixels' second coordinate in ``xy`` (empty in 1-D) and its raster in
    ``grid`` (see :mod:`.model2d`).
    """
    N = x.size
    T = ex[7].shape[0]  # tied parameters: rows P + 1 ... P + T of J (see _ties)
    if T == 0 and xy.size == 0 and N >= CLAIM_MIN:
        return _evaluate_claimed(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r, J,
                                 jlo, jhi, ex, R)
    P = J.shape[0] - 1 - T  # row P is scratch (derivatives of fixed parameters)
    for n in range(N):
        f[n] = 0.0
    for j in range(P + 1 + T):
        if j == P:
            continue
        Jj = J[j, max(jlo[j], 0):max(jhi[j], 0)]  # a slice from 0: a contiguous store
        for n in range(Jj.size):
            Jj[n] = 0.0
        jlo[j] = N
        jhi[j] = 0
    if T == 0 and not use_w and grid[6] > 0 and _sep.plan(kinds, qoff, nq, active, col, q, grid, bs, P) >= 0:
        # spots on a raster: the Gram matrix from 1-D sums (see .separable2d)
        _sep.evaluate(kinds, qoff, nq, active, q, col, x, xy, grid, bs, f, J, jlo, jhi, P)
        return _residuals(y, f, bs, w, use_w, r)
    coef = np.empty(ex[8].size) if T > 0 else q[:0]  # no allocation per evaluation without ties
    if T > 0:
        _ties(ex, q, x, xy, R, coef)
    for c in range(kinds.size):
        if not active[c]:
            continue
        kind = kinds[c]
        k0 = qoff[c]
        if kind >= _m2.FIRST:
            lo, hi = _m2.window(kind, q, k0, grid, N)
        else:
            lo, hi = _window(kind, q, k0, x, ascending)
        for i in range(nq[c]):
            j = col[k0 + i]
            if j >= 0:
                if grid[6] > 0:  # a large raster: ranges are kept as boxes
                    _m2.extend(jlo, jhi, j, lo, hi, grid)
                    continue
                if lo < jlo[j]:
                    jlo[j] = lo
                if hi > jhi[j]:
                    jhi[j] = hi
        if kind == GAUSSIAN:
            _gaussian(q, k0, col, x, lo, hi, dx, bs, w, use_w, f, J, P, R[0])
        elif kind == GAUSSIAN_HF:
            h = q[k0]
            fw = q[k0 + 1]
            c0 = q[k0 + 2]
            jh = col[k0]
            jf = col[k0 + 1]
            jc = col[k0 + 2]
            inv = 1.0 / fw
            # exp(-4 ln2 u²) = exp(-v²/2) with v = u·sqrt(8 ln2)
            gb = _gauss_shape(x, lo, hi, c0, inv * _FWHM_PER_SIGMA, dx, R[0])
            for n in range(lo, hi):
                u = (x[n] - c0) * inv
                e = gb[n - lo]
                f[n] += h * e
                sn = bs[n] * (w[n] if use_w else 1.0)
                k = 2.0 * _FOUR_LN2 * h * e * u / fw
                if jh >= 0:
                    J[jh, n] += e * sn
                if jf >= 0:
                    J[jf, n] += k * u * sn
                if jc >= 0:
                    J[jc, n] += k * sn
        elif kind == LORENTZIAN:
            _lorentzian(q, k0, col, x, lo, hi, bs, w, use_w, f, J, P)
        elif kind == OFFSET or kind == POLYNOMIAL:
            _polynomial(q, k0, nq[c], col, x, lo, hi, bs, w, use_w, f, J, R[0])
        elif kind == POWERLAW:
            _powerlaw(q, k0, col, x, lo, hi, ascending, bs, w, use_w, f, J, R, ex, c, P)
        elif kind == VOIGT:
            _voigt.evaluate(q, k0, col, x, lo, hi, bs, w, use_w, f, J, P)
        elif kind == SPLINE:
            sp_e = ex[6][c]
            sp_0 = ex[0][sp_e, 4]
            _spline.evaluate(q, k0, col, x, bs, w, use_w, f, J, P, ex[4][sp_0:sp_0 + ex[0][sp_e, 5]])
        elif kind == EXPRESSION:
            _expression(ex, R, c, k0, nq[c], q, col, x, xy, bs, w, use_w, f, J, P)
        elif kind >= _m2.FIRST:
            _m2.evaluate(kind, q, k0, nq[c], col, x, xy, grid, bs, w, use_w, f, J, P, R)
        else:  # EXPONENTIAL
            A = q[k0]
            tau = q[k0 + 1]
            ja = col[k0]
            jt = col[k0 + 1]
            for n in range(lo, hi):
                e = math.exp(-x[n] / tau)
                f[n] += A * e
                sn = bs[n] * (w[n] if use_w else 1.0)
                if ja >= 0:
                    J[ja, n] += e * sn
                if jt >= 0:
                    J[jt, n] += A * e * x[n] / (tau * tau) * sn
    if T > 0:
        _fold_ties(ex, col, coef, J, jlo, jhi, P, grid)
    if grid[6] > 0:
        J[P, 0] = 0.0  # row P holds no factors (.separable2d.MARK)
    return _residuals(y, f, bs, w, use_w, r)
