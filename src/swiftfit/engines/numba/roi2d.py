"""One unrotated Gaussian2D (plus an Offset) on a small ROI, in one pass.

A small raster (``grid[0] > 0``, columns kept as flat ranges: ``grid[6] == 0``,
fewer than :data:`.model2d.BOX_PIXELS` pixels) with exactly one active
unrotated Gaussian2D, optionally followed by one active Offset, every
parameter free (a width may be twinned to the other: ``sigma_y.twin =
sigma_x`` gives both the same column) and no tie rows: Gpufit's and Cpufit's
``GAUSS_2D`` problem, a spot cut out of a frame. The general path
(:func:`.model.evaluate`) zeroes the Jacobian's rows, visits the components
one after the other (the Gaussian by :func:`.model2d._gauss_rows`, the offset
by :func:`.forms1d._polynomial`), each adding into ``f`` and ``J``; here the
model and the whole Jacobian are written in one pass over the pixels, each
entry stored once, with the same expressions in the same order: every value
is bit for bit the general path's (``0 + v`` is ``v``; the residuals and their
sums come from the same :func:`.gram._residuals`). Issue 16: on a 5×5 ROI the
evaluation was ~0.7 µs of a ~1.6 µs iteration, of which the zeroing, the
component dispatch and the second pass of the offset were most.

:func:`evaluate_gram` also sums ``JᵀJ``, ``Jᵀr`` in the residuals' pass
(issue 16, Cpufit 5×5): the kernel then needs no second sweep over the
Jacobian at an accepted point (as :mod:`.expr_gram` for one Expression).

Where it does not apply (:func:`plan` is False: the Gaussian's box of
:data:`.model2d.WINDOW` widths does not cover the frame, a parameter is fixed,
another component, a rotation, ties), the general path runs unchanged.
"""

from __future__ import annotations

import math

from numba import njit

from . import model2d as _m2
from .forms1d import OFFSET as _OFFSET
from .gram import _residuals


@njit(cache=True, error_model="numpy", _nrt=False)
def plan(kinds, qoff, nq, active, col, q, grid, P, N):
    """True where :func:`evaluate` gives the general path's values (see the
    module docstring): one active unrotated Gaussian2D first, at most one active
    Offset after it, every parameter on a free column (:func:`fits`: the
    same for every evaluation of a pixel), the Gaussian's box the whole frame
    (:func:`covers`: at these parameters).
    """
    return fits(kinds, qoff, nq, active, col, grid, P, N) and covers(q, qoff, grid, N)


@njit(cache=True, error_model="numpy", _nrt=False)
def fits(kinds, qoff, nq, active, col, grid, P, N):
    """The part of :func:`plan` that does not depend on the parameters' values:
    asked once per pixel, not per evaluation (issue 16: ~50 ns of a ~0.4 µs
    evaluation on a 5×5 ROI).
    """
    if grid[0] <= 0 or grid[6] > 0 or kinds.size < 1 or kinds.size > 2:
        return False
    if kinds[0] != _m2.GAUSSIAN2D or nq[0] != 5 or not active[0]:
        return False
    if kinds.size == 2 and (kinds[1] != _OFFSET or nq[1] != 1 or not active[1]):
        return False
    n_q = qoff[kinds.size - 1] + nq[kinds.size - 1]
    for k in range(n_q):
        if not (0 <= col[k] < P):
            return False
    for j in range(P):  # every free column written (no row left with an old range)
        hit = False
        for k in range(n_q):
            hit |= col[k] == j
        if not hit:
            return False
    return int(grid[0]) * int(grid[1]) == N


@njit(cache=True, error_model="numpy", _nrt=False)
def covers(q, qoff, grid, N):
    """The part of :func:`plan` asked at each evaluation: the Gaussian's box
    (:func:`.model2d.box`, at ``q``) is the whole frame.
    """
    r0, r1, c0, c1 = _m2.box(_m2.GAUSSIAN2D, q, qoff[0], grid, N)
    return r0 == 0 and r1 == int(grid[1]) and c0 == 0 and c1 == int(grid[0])


@njit(cache=True, error_model="numpy", _nrt=False)
def evaluate(kinds, qoff, q, col, x, y, grid, bs, w, use_w, f, J, jlo, jhi, R, P):
    """Model into ``f`` and the weighted Jacobian into ``J`` (rows of the free
    columns, whole range: ``jlo = 0``, ``jhi = N``) where :func:`plan` holds;
    the same expressions as :func:`.model2d._elliptical`'s separable branch,
    :func:`.model2d._gauss_rows` and :func:`.forms1d._polynomial` (``R`` holds the
    column and row factors, as there).
    """
    N = x.size
    W = int(grid[0])
    H = int(grid[1])
    k0 = qoff[0]
    A, a1, a2, cx, cy = q[k0], q[k0 + 1], q[k0 + 2], q[k0 + 3], q[k0 + 4]
    j0, j1, j2, j3, j4 = col[k0], col[k0 + 1], col[k0 + 2], col[k0 + 3], col[k0 + 4]
    off = kinds.size == 2
    b = q[qoff[1]] if off else 0.0
    jb = col[qoff[1]] if off else 0
    i1 = 1.0 / a1
    i2 = 1.0 / a2
    norm = 1.0 / (_m2._TWO_PI * a1 * a2)
    for i in range(W):
        p = (x[i] - cx) * i1
        R[0, i] = math.exp(-0.5 * p * p)
    for r in range(H):
        qq = (y[r * W] - cy) * i2
        R[1, r] = math.exp(-0.5 * qq * qq)
    same = j1 == j2
    for r in range(H):
        ey = R[1, r]
        for i in range(W):
            n = r * W + i
            sn = bs[n] * (w[n] if use_w else 1.0)
            p = (x[n] - cx) * i1
            qq = (y[n] - cy) * i2
            g = R[0, i] * ey * norm
            fv = A * g
            d1 = fv * (p * p - 1.0) * i1
            d2 = fv * (qq * qq - 1.0) * i2
            J[j0, n] = g * sn
            if same:
                J[j1, n] = d1 * sn + d2 * sn
            else:
                J[j1, n] = d1 * sn
                J[j2, n] = d2 * sn
            J[j3, n] = fv * p * i1 * sn
            J[j4, n] = fv * qq * i2 * sn
            if off:
                f[n] = (0.0 + fv) + b
                J[jb, n] = 0.0 + (bs[n] * w[n] if use_w else bs[n])
            else:
                f[n] = 0.0 + fv
    for j in range(jlo.size):
        if j != P:  # row P: scratch, as on the general path
            jlo[j] = N
            jhi[j] = 0
    for k in range(qoff[0], qoff[0] + (6 if off else 5)):
        jlo[col[k]] = 0
        jhi[col[k]] = N



@njit(cache=True, error_model="numpy", _nrt=False)
def evaluate_residuals(kinds, qoff, q, col, x, xy, grid, bs, yd, w, use_w, f, J, jlo, jhi, r, R, P):
    """:func:`evaluate` and then :func:`.gram._residuals` (``r = (y − f·bs)·w``,
    returns ``(Σ r², noise sum)``, its sums reassociated as there) in one
    call from the kernel: every value bit for bit theirs.
    """
    evaluate(kinds, qoff, q, col, x, xy, grid, bs, w, use_w, f, J, jlo, jhi, R, P)
    return _residuals(yd, f, bs, w, use_w, r)


@njit(cache=True, error_model="numpy", _nrt=False, fastmath={"reassoc", "nsz"})
def _tail5(u0, u1, u2, u3, u4, y, f, bs, w, use_w, r):
    """``r = (y − f·bs)·w`` (the same numbers as :func:`.gram._residuals`: no
    ``contract``, so no FMA), and in the same loop ``Σ r²``, the noise sum and
    the 15 products of the rows ``u0 … u4`` (upper triangle, row by row) and
    their five with ``r``: 22 sums, reassociated so the loop vectorises.
    """
    s00 = s01 = s02 = s03 = s04 = s11 = s12 = s13 = s14 = s22 = s23 = s24 = s33 = s34 = s44 = 0.0
    g0 = g1 = g2 = g3 = g4 = 0.0
    cost = 0.0
    noise = 0.0
    for n in range(y.size):
        if use_w:
            rn = (y[n] - f[n] * bs[n]) * w[n]
            t = rn * (2.0 * abs(y[n] * w[n]) + abs(rn))
        else:
            rn = y[n] - f[n] * bs[n]
            t = rn * (2.0 * abs(y[n]) + abs(rn))
        r[n] = rn
        cost += rn * rn
        noise += t * t
        a0 = u0[n]
        a1 = u1[n]
        a2 = u2[n]
        a3 = u3[n]
        a4 = u4[n]
        s00 += a0 * a0
        s01 += a0 * a1
        s02 += a0 * a2
        s03 += a0 * a3
        s04 += a0 * a4
        s11 += a1 * a1
        s12 += a1 * a2
        s13 += a1 * a3
        s14 += a1 * a4
        s22 += a2 * a2
        s23 += a2 * a3
        s24 += a2 * a4
        s33 += a3 * a3
        s34 += a3 * a4
        s44 += a4 * a4
        g0 += a0 * rn
        g1 += a1 * rn
        g2 += a2 * rn
        g3 += a3 * rn
        g4 += a4 * rn
    return (s00, s01, s02, s03, s04, s11, s12, s13, s14, s22, s23, s24, s33, s34, s44, g0, g1, g2, g3, g4,
            cost, noise)


@njit(cache=True, error_model="numpy", _nrt=False, fastmath={"reassoc", "nsz"})
def _tail6(u0, u1, u2, u3, u4, u5, y, f, bs, w, use_w, r):
    """:func:`_tail5` for six rows: 21 products, six with ``r``, 29 sums."""
    s00 = s01 = s02 = s03 = s04 = s05 = s11 = s12 = s13 = s14 = s15 = 0.0
    s22 = s23 = s24 = s25 = s33 = s34 = s35 = s44 = s45 = s55 = 0.0
    g0 = g1 = g2 = g3 = g4 = g5 = 0.0
    cost = 0.0
    noise = 0.0
    for n in range(y.size):
        if use_w:
            rn = (y[n] - f[n] * bs[n]) * w[n]
            t = rn * (2.0 * abs(y[n] * w[n]) + abs(rn))
        else:
            rn = y[n] - f[n] * bs[n]
            t = rn * (2.0 * abs(y[n]) + abs(rn))
        r[n] = rn
        cost += rn * rn
        noise += t * t
        a0 = u0[n]
        a1 = u1[n]
        a2 = u2[n]
        a3 = u3[n]
        a4 = u4[n]
        a5 = u5[n]
        s00 += a0 * a0
        s01 += a0 * a1
        s02 += a0 * a2
        s03 += a0 * a3
        s04 += a0 * a4
        s05 += a0 * a5
        s11 += a1 * a1
        s12 += a1 * a2
        s13 += a1 * a3
        s14 += a1 * a4
        s15 += a1 * a5
        s22 += a2 * a2
        s23 += a2 * a3
        s24 += a2 * a4
        s25 += a2 * a5
        s33 += a3 * a3
        s34 += a3 * a4
        s35 += a3 * a5
        s44 += a4 * a4
        s45 += a4 * a5
        s55 += a5 * a5
        g0 += a0 * rn
        g1 += a1 * rn
        g2 += a2 * rn
        g3 += a3 * rn
        g4 += a4 * rn
        g5 += a5 * rn
    return (s00, s01, s02, s03, s04, s05, s11, s12, s13, s14, s15, s22, s23, s24, s25, s33, s34, s35, s44, s45, s55,
            g0, g1, g2, g3, g4, g5, cost, noise)


@njit(cache=True, error_model="numpy", _nrt=False)
def _put(G, i, j, v, P):
    """``G[i, j] = G[j, i] = v`` where both are below ``P`` (a sum of a repeated row is not stored)."""
    if i < P and j < P:
        G[i, j] = v
        G[j, i] = v


@njit(cache=True, error_model="numpy", _nrt=False)
def _putg(g, i, v, P):
    """``g[i] = v`` where ``i`` is below ``P``."""
    if i < P:
        g[i] = v


@njit(cache=True, error_model="numpy", _nrt=False)
def evaluate_gram(kinds, qoff, q, col, x, xy, grid, bs, yd, w, use_w, f, J, jlo, jhi, r, R, P, G, g):
    """:func:`evaluate_residuals`, and ``G = JᵀJ``, ``g = Jᵀr`` at the same
    point summed in the residuals' pass (:func:`.gram.gram_grid`'s values to
    rounding). Returns ``(Σ r², noise sum, summed)``: ``summed`` is False (``G``,
    ``g`` untouched, the residuals as :func:`evaluate_residuals`) where two
    parameters other than the twinned widths share a column. ``f``, ``J`` and
    ``r`` are bit for bit :func:`evaluate_residuals`'.
    """
    evaluate(kinds, qoff, q, col, x, xy, grid, bs, w, use_w, f, J, jlo, jhi, R, P)
    k0 = qoff[0]
    off = kinds.size == 2
    # the columns are 0 … P−1 (fits), one per parameter but the twinned widths'; written
    # out, not looped over a tuple: a tuple indexed by a loop variable is a jump table
    # per read (31 in this function, ~80 ns of a ~300 ns evaluation on 5×5; issue 16)
    c0, c1, c2, c3, c4 = col[k0], col[k0 + 1], col[k0 + 2], col[k0 + 3], col[k0 + 4]
    c5 = col[qoff[1]] if off else c0
    twin = c1 == c2
    shared = c0 == c1 or c0 == c3 or c0 == c4 or c1 == c3 or c1 == c4 or c3 == c4
    if not twin:
        shared = shared or c2 == c0 or c2 == c3 or c2 == c4
    if off:
        shared = shared or c5 == c0 or c5 == c1 or c5 == c3 or c5 == c4 or (not twin and c5 == c2)
    if shared:
        cost, noise = _residuals(yd, f, bs, w, use_w, r)
        return cost, noise, False
    if P == 6:
        s = _tail6(J[0], J[1], J[2], J[3], J[4], J[5], yd, f, bs, w, use_w, r)
        _put(G, 0, 0, s[0], P)
        _put(G, 0, 1, s[1], P)
        _put(G, 0, 2, s[2], P)
        _put(G, 0, 3, s[3], P)
        _put(G, 0, 4, s[4], P)
        _put(G, 0, 5, s[5], P)
        _put(G, 1, 1, s[6], P)
        _put(G, 1, 2, s[7], P)
        _put(G, 1, 3, s[8], P)
        _put(G, 1, 4, s[9], P)
        _put(G, 1, 5, s[10], P)
        _put(G, 2, 2, s[11], P)
        _put(G, 2, 3, s[12], P)
        _put(G, 2, 4, s[13], P)
        _put(G, 2, 5, s[14], P)
        _put(G, 3, 3, s[15], P)
        _put(G, 3, 4, s[16], P)
        _put(G, 3, 5, s[17], P)
        _put(G, 4, 4, s[18], P)
        _put(G, 4, 5, s[19], P)
        _put(G, 5, 5, s[20], P)
        g[0] = s[21]
        g[1] = s[22]
        g[2] = s[23]
        g[3] = s[24]
        g[4] = s[25]
        g[5] = s[26]
        return s[27], s[28], True
    # P = 4 repeats its last row, as expr_gram (sums not stored)
    s = _tail5(J[0], J[1], J[2], J[3], J[min(4, P - 1)], yd, f, bs, w, use_w, r)
    _put(G, 0, 0, s[0], P)
    _put(G, 0, 1, s[1], P)
    _put(G, 0, 2, s[2], P)
    _put(G, 0, 3, s[3], P)
    _put(G, 0, 4, s[4], P)
    _put(G, 1, 1, s[5], P)
    _put(G, 1, 2, s[6], P)
    _put(G, 1, 3, s[7], P)
    _put(G, 1, 4, s[8], P)
    _put(G, 2, 2, s[9], P)
    _put(G, 2, 3, s[10], P)
    _put(G, 2, 4, s[11], P)
    _put(G, 3, 3, s[12], P)
    _put(G, 3, 4, s[13], P)
    _put(G, 4, 4, s[14], P)
    _putg(g, 0, s[15], P)
    _putg(g, 1, s[16], P)
    _putg(g, 2, s[17], P)
    _putg(g, 3, s[18], P)
    _putg(g, 4, s[19], P)
    return s[20], s[21], True


@njit(cache=True, error_model="numpy", _nrt=False)
def evaluate_gram_at(kinds, qoff, q, col, x, xy, grid, bs, yd, w, use_w, fb, Jb, jlob, jhib, rb, k, R, P, Gf, gf):
    """:func:`evaluate_gram` into the kernel's buffer ``k`` (``fb[k]``, ``Jb[k]``,
    ``jlob[k]``, ``jhib[k]``, ``rb[k]``, ``Gf[k]``, ``gf[k]``): the rows are taken
    here, where numba counts no references, not at the kernel's call (seven views
    made and released per evaluation; issue 16, Cpufit 5×5).
    """
    return evaluate_gram(kinds, qoff, q, col, x, xy, grid, bs, yd, w, use_w, fb[k], Jb[k], jlob[k], jhib[k], rb[k], R,
                         P, Gf[k], gf[k])
