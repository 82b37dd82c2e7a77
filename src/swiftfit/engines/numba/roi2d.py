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


@njit(cache=True, error_model="numpy")
def plan(kinds, qoff, nq, active, col, q, grid, P, N):
    """True where :func:`evaluate` gives the general path's values (see the
    module docstring): one active unrotated Gaussian2D first, at most one active
    Offset after it, every parameter on a free column (:func:`fits`: the
    same for every evaluation of a pixel), the Gaussian's box the whole frame
    (:func:`covers`: at these parameters).
    """
    return fits(kinds, qoff, nq, active, col, grid, P, N) and covers(q, qoff, grid, N)


@njit(cache=True, error_model="numpy")
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


@njit(cache=True, error_model="numpy")
def covers(q, qoff, grid, N):
    """The part of :func:`plan` asked at each evaluation: the Gaussian's box
    (:func:`.model2d.box`, at ``q``) is the whole frame.
    """
    r0, r1, c0, c1 = _m2.box(_m2.GAUSSIAN2D, q, qoff[0], grid, N)
    return r0 == 0 and r1 == int(grid[1]) and c0 == 0 and c1 == int(grid[0])


@njit(cache=True, error_model="numpy")
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



@njit(cache=True, error_model="numpy")
def evaluate_residuals(kinds, qoff, q, col, x, xy, grid, bs, yd, w, use_w, f, J, jlo, jhi, r, R, P):
    """:func:`evaluate` and then :func:`.gram._residuals` (``r = (y − f·bs)·w``,
    returns ``(Σ r², noise sum)``, its sums reassociated as there) in one
    call from the kernel: every value bit for bit theirs.
    """
    evaluate(kinds, qoff, q, col, x, xy, grid, bs, w, use_w, f, J, jlo, jhi, R, P)
    return _residuals(yd, f, bs, w, use_w, r)
