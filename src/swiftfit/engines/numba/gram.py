"""The Gram matrix ``JᵀJ`` and ``Jᵀr`` of the kernel's weighted Jacobian,
over each column's own range of channels, two rows at a time from
``GRAM_BLOCK`` channels; on a 2-D raster (``grid``) through
:mod:`.separable2d`'s factored sums; and the weighted residuals.
"""

from __future__ import annotations

from numba import njit

from . import model2d as _m2
from . import separable2d as _sep
from .gram1 import gram_one_pass as _gram_one_pass
from .gram1 import one_pass_ok as _one_pass_ok


@njit(cache=True, error_model="numpy", _nrt=False, fastmath={"reassoc", "contract", "nsz"})
def _residuals(y, f, bs, w, use_w, r):
    """``r = (y − f·bs)·w``; returns ``(Σ r², Σ (r (2|y w| + |r|))²)``, the
    cost and what its rounding noise is computed from (see ``_lm_steps.cost_noise``).
    """
    cost = 0.0
    noise = 0.0
    if use_w:
        for n in range(y.size):
            rn = (y[n] - f[n] * bs[n]) * w[n]
            r[n] = rn
            cost += rn * rn
            t = rn * (2.0 * abs(y[n] * w[n]) + abs(rn))
            noise += t * t
    else:
        for n in range(y.size):
            rn = y[n] - f[n] * bs[n]
            r[n] = rn
            cost += rn * rn
            t = rn * (2.0 * abs(y[n]) + abs(rn))
            noise += t * t
    return cost, noise


@njit(cache=True, error_model="numpy", _nrt=False, fastmath={"reassoc", "contract", "nsz"})
def reduction(r, rn):
    """``Σ (r − rn)(r + rn)``: the actual reduction of ``Σ r²`` from the
    residuals ``r`` to ``rn`` (the LM's gain ratio), reassociated so it
    vectorises (issue 16: the serial sum cost 0.32 µs over 400 channels per
    iteration, 0.04 this way). NaN/inf semantics are kept; the sum differs
    from the serial one in its rounding only (relative ε·N at most).
    """
    s = 0.0
    for n in range(r.size):
        s += (r[n] - rn[n]) * (r[n] + rn[n])
    return s


@njit(cache=True, error_model="numpy", _nrt=False, fastmath={"reassoc", "contract", "nsz"})
def _dot(a, b, lo, hi):
    """``Σ a[n]·b[n]`` over ``lo:hi``, reassociated so it vectorises.

    Over slices, with an index from 0: a loop ``for n in range(lo, hi)``
    indexes with a signed ``n`` that numba must wrap when negative, and the
    vectoriser then gathers lane by lane (measured: 6× slower on the Gram
    matrix of 8 columns × 800 channels). NaN/inf semantics are kept.
    """
    aa = a[lo:hi]
    bb = b[lo:hi]
    s = 0.0
    for n in range(aa.size):
        s += aa[n] * bb[n]
    return s


@njit(cache=True, error_model="numpy", _nrt=False, fastmath={"reassoc", "contract", "nsz"})
def _dot2x4(J, i, k, lo, hi):
    """The eight products ``Σ J[i+u]·J[k+v]`` (``u < 2``, ``v < 4``) over
    ``lo:hi`` in one pass, row ``i``'s four first:
    six loads for eight multiply-adds where eight :func:`_dot` load sixteen
    (the Gram matrix of 800 channels is bound by loads, not arithmetic).
    Rows by index and sliced unconditionally (a view chosen by a branch
    keeps numba's reference counting in the caller), indexed from 0 as
    :func:`_dot`.
    """
    x0 = J[i, lo:hi]
    x1 = J[i + 1, lo:hi]
    c0 = J[k, lo:hi]
    c1 = J[k + 1, lo:hi]
    c2 = J[k + 2, lo:hi]
    c3 = J[k + 3, lo:hi]
    s0 = s1 = s2 = s3 = t0 = t1 = t2 = t3 = 0.0
    for n in range(x0.size):
        u = x0[n]
        v = x1[n]
        s0 += u * c0[n]
        s1 += u * c1[n]
        s2 += u * c2[n]
        s3 += u * c3[n]
        t0 += v * c0[n]
        t1 += v * c1[n]
        t2 += v * c2[n]
        t3 += v * c3[n]
    return s0, s1, s2, s3, t0, t1, t2, t3


@njit(cache=True, error_model="numpy", _nrt=False, fastmath={"reassoc", "contract", "nsz"})
def _dot2x1(J, i, k, lo, hi):
    """``Σ J[i]·J[k]`` and ``Σ J[i+1]·J[k]`` over ``lo:hi``."""
    x0 = J[i, lo:hi]
    x1 = J[i + 1, lo:hi]
    c0 = J[k, lo:hi]
    s0 = t0 = 0.0
    for n in range(x0.size):
        s0 += x0[n] * c0[n]
        t0 += x1[n] * c0[n]
    return s0, t0


@njit(cache=True, error_model="numpy", _nrt=False)
def _gram_pair(J, G, g, i, lo, hi):
    """Rows ``i`` and ``i + 1`` of ``G`` from column ``i`` on, and ``g[i]``,
    ``g[i + 1]``, over ``[lo, hi)``: the two rows' common range, which every
    later column's contains (:func:`gram` checks), and the residuals are row
    ``P`` of ``J`` here. Four columns at a time (:func:`_dot2x4`), then one.
    Writes ``G[i + 1, i]`` too (:func:`gram`'s symmetric fill overwrites it).
    """
    P = G.shape[0]
    t = i
    while t + 4 <= P + 1:
        s0, s1, s2, s3, t0, t1, t2, t3 = _dot2x4(J, i, t, lo, hi)
        G[i, t] = s0
        G[i + 1, t] = t0
        G[i, t + 1] = s1
        G[i + 1, t + 1] = t1
        G[i, t + 2] = s2
        G[i + 1, t + 2] = t2
        if t + 3 < P:
            G[i, t + 3] = s3
            G[i + 1, t + 3] = t3
        else:
            g[i] = s3
            g[i + 1] = t3
        t += 4
    while t <= P:
        s0, t0 = _dot2x1(J, i, t, lo, hi)
        if t < P:
            G[i, t] = s0
            G[i + 1, t] = t0
        else:
            g[i] = s0
            g[i + 1] = t0
        t += 1


@njit(cache=True, error_model="numpy", _nrt=False)
def _gram_row(J, jlo, jhi, r, G, g, i):
    """Row ``i`` of ``G`` from the diagonal on, and ``g[i]``, one product at a time."""
    a = J[i]
    g[i] = _dot(a, r, jlo[i], jhi[i])
    for j in range(i, G.shape[0]):
        lo = max(jlo[i], jlo[j])
        hi = min(jhi[i], jhi[j])
        G[i, j] = _dot(a, J[j], lo, hi) if hi > lo else 0.0


@njit(cache=True, error_model="numpy", _nrt=False)
def _copy_row(r, J, P):
    """``J[P] = r``."""
    JP = J[P]
    for n in range(r.size):
        JP[n] = r[n]


@njit(cache=True, error_model="numpy", _nrt=False)
def _paired(jlo, jhi, i, P):
    """Whether rows ``i``, ``i + 1`` go by :func:`_gram_pair`: the same range
    of at least ``GRAM_BLOCK`` channels, contained in every later column's.
    """
    lo = jlo[i]
    hi = jhi[i]
    if i + 1 >= P or jlo[i + 1] != lo or jhi[i + 1] != hi or hi - lo < GRAM_BLOCK:
        return False
    for t in range(i + 2, P):
        if jlo[t] > lo or jhi[t] < hi:
            return False
    return True


GRAM_BLOCK = 160  # channels from which two rows at a time pay (measured: 100 channels slower, 200 faster)


@njit(cache=True, error_model="numpy", _nrt=False)
def _any_paired(jlo, jhi, P):
    """Whether :func:`_paired` holds for some row."""
    for i in range(P - 1):
        if jhi[i] - jlo[i] >= GRAM_BLOCK and _paired(jlo, jhi, i, P):
            return True
    return False


@njit(cache=True, error_model="numpy", _nrt=False)
def _gram_paired(J, jlo, jhi, r, G, g):
    """:func:`gram` with some rows in pairs (:func:`_gram_pair`), the others
    by :func:`_gram_row`; then the lower triangle from the upper. Row ``P``
    of ``J`` (its scratch row: the fixed parameters' derivatives, spent once
    :func:`evaluate` returns) is overwritten with ``r``.
    """
    P = G.shape[0]
    _copy_row(r, J, P)
    i = 0
    while i < P:
        if _paired(jlo, jhi, i, P):
            _gram_pair(J, G, g, i, jlo[i], jhi[i])
            i += 2
        else:
            _gram_row(J, jlo, jhi, r, G, g, i)
            i += 1
    for i in range(P):
        for j in range(i + 1, P):
            G[j, i] = G[i, j]
    if r.size > 0:
        J[P, 0] = 0.0  # a residual never reads as separable2d's factor mark (.separable2d.stored)


@njit(cache=True, error_model="numpy", _nrt=False)
def gram(J, jlo, jhi, r, G, g):
    """``G = JᵀJ`` and ``g = Jᵀr`` over the overlaps of the column ranges.

    Two rows at a time (:func:`_gram_paired`) where :func:`_paired` says
    so for some row (a component's columns share its window; a Lorentzian's
    and a power law's cover every channel), else one product at a time.
    Measured on 8 columns × 800 channels: 2.3 µs instead of 4.6; row ``P``
    of ``J`` is then overwritten with ``r``. Three to five rows over one
    long range (an Expression's columns): all in one pass (:mod:`.gram1`).
    """
    P = G.shape[0]
    if _one_pass_ok(jlo, jhi, P, r.size):
        _gram_one_pass(J, P, jlo[0], jhi[0], r, G, g)
        return
    if _any_paired(jlo, jhi, P):
        _gram_paired(J, jlo, jhi, r, G, g)
        return
    for i in range(P):
        a = J[i]
        g[i] = _dot(a, r, jlo[i], jhi[i])
        for j in range(i, P):
            lo = max(jlo[i], jlo[j])
            hi = min(jhi[i], jhi[j])
            s = _dot(a, J[j], lo, hi) if hi > lo else 0.0
            G[i, j] = s
            G[j, i] = s


@njit(cache=True, error_model="numpy")
def gram_grid(J, jlo, jhi, grid, r, G, g):
    """:func:`gram`, or on a large 2-D raster (``grid[6] > 0``) from the
    1-D factors the evaluation stored in ``J[P]`` (:func:`.separable2d.gram`:
    spots and an offset), else over the intersections of the columns' boxes
    (:func:`.model2d.gram`).
    """
    if grid[6] > 0 and _sep.stored(J, G.shape[0]):
        _sep.gram(J, r, int(grid[0]), G, g)
    elif grid[6] > 0 and _m2.narrow(jlo, jhi, grid):
        _m2.gram(J, jlo, jhi, grid, r, G, g)
    else:
        gram(J, jlo, jhi, r, G, g)
