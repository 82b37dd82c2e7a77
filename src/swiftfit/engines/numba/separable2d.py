"""The Gram matrix of a frame of unrotated Gaussian2D spots from 1-D sums.

On a raster (``x`` along the rows, ``y`` down the columns, see
:mod:`.model2d`), an unrotated Gaussian2D is ``A·norm·e(x)·h(y)`` with
``e = exp(-p²/2)``, ``p = (x − x₀)/σx`` and ``h = exp(-q²/2)``,
``q = (y − y₀)/σy``, and each of its Jacobian columns is a product of a
function of ``x`` and a function of ``y``, or a sum of two (a width twinned
to the other, ``sigma_y.twin = sigma_x``):

=========  ===============================  ====================
column     ``x`` factor                     ``y`` factor
=========  ===============================  ====================
A          ``e``                            ``h``          (× norm)
sigma_x    ``e·(p² − 1)``                   ``h``          (× A·norm/σx)
sigma_y    ``e``                            ``h·(q² − 1)`` (× A·norm/σy)
centre_x   ``e·p``                          ``h``          (× A·norm/σx)
centre_y   ``e``                            ``h·q``        (× A·norm/σy)
=========  ===============================  ====================

and an Offset's column is ``1·1``. Then every entry of ``JᵀJ`` is a sum of
products of two 1-D sums, ``Σₙ a(xₙ)b(yₙ)·c(xₙ)d(yₙ) = (Σᵢ a c)(Σᵣ b d)``,
over the intersection of the two boxes (the columns are zero outside their
box, as on the general path): ``O(W + H)`` per pair of factors instead of
``O(W·H)`` per pair of columns. ``Jᵀr`` still visits each pixel of a box once,
for three sums (the column sums ``Σᵣ r·h``, ``Σᵣ r·h·q``, ``Σᵣ r·h·(q² − 1)``,
then three short dots with the ``x`` factors), instead of one per column. The same products summed in another order: the
last bits differ from the dense sums, nothing else.

Where it applies (:func:`plan`): a raster whose columns are kept as boxes
(``grid[6] > 0``), no weights, a constant bin scale, no tie rows, and every
active component an unrotated Gaussian2D or an Offset. :func:`evaluate` then
computes the model and the dense Jacobian (which the SVD fallback, the
covariance check and the tests read, as before) and stores the factors in
the Jacobian's scratch row ``P`` (the row fixed parameters' derivatives are
thrown into on the general path, never read): a header ``[MARK, K, T]``, ``T``
terms ``(column, set, x factor, y factor, coefficient)``, ``K`` set headers
``(r0, r1, c0, c1, factors, offset)`` and each set's factors over its box.
:func:`gram` reads them back; the general path (:func:`.model.evaluate`)
writes 0 where ``MARK`` would be. The row is part of each evaluation buffer
(the kernel keeps the current and the trial point's), so the factors always
belong to the Jacobian beside them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import model2d as _m2
from .forms1d import OFFSET

MARK = 8191.5  # J[P, 0] when row P holds the factored columns (see the docstring)
_HEAD = 3
_TERM = 5
_SET = 6


@njit(cache=True, error_model="numpy")
def _gaussian_ok(kind, m, col, k0, P):
    # an unrotated Gaussian2D whose free columns are the kernel's own (no tie rows)
    if kind != _m2.GAUSSIAN2D or m != 5:
        return False
    for i in range(m):
        if col[k0 + i] >= P:
            return False
    return True


@njit(cache=True, error_model="numpy")
def plan(kinds, qoff, nq, active, col, q, grid, bs, P):
    """The length of row ``P`` the factors take, or -1 where the frame is
    not of the factored kind (see the module docstring) or they do not fit
    in one row of ``N`` pixels.
    """
    N = bs.size
    if grid[6] <= 0 or grid[0] <= 0:
        return -1
    b = bs[0]
    same = True
    for n in range(N):  # no early exit: the loop vectorises
        same &= bs[n] == b
    if not same:
        return -1
    W = int(grid[0])
    H = int(grid[1])
    K = 0
    T = 0
    size = 0
    for c in range(kinds.size):
        if not active[c]:
            continue
        k0 = qoff[c]
        if kinds[c] == OFFSET and nq[c] == 1:
            if col[k0] >= P:
                return -1
            size += W + H
            T += 1 if col[k0] >= 0 else 0
        elif _gaussian_ok(kinds[c], nq[c], col, k0, P):
            r0, r1, c0, c1 = _m2.box(kinds[c], q, k0, grid, N)
            size += 3 * (max(c1 - c0, 0) + max(r1 - r0, 0))
            for i in range(5):
                if col[k0 + i] >= 0:
                    T += 1  # one term per free parameter (a twinned width: one from each)
        else:
            return -1
        K += 1
    size += _HEAD + _TERM * T + _SET * K
    return size if size <= N else -1


@njit(cache=True, error_model="numpy")
def _term(row, t, j, s, xk, yk, coef):
    base = _HEAD + _TERM * t
    row[base] = j
    row[base + 1] = s
    row[base + 2] = xk
    row[base + 3] = yk
    row[base + 4] = coef


@njit(cache=True, error_model="numpy")
def _add_column(Jj, coef, X, Y, r0, r1, c0, c1, W):
    """``Jj[r, i] += coef·X[i]·Y[r]`` over the box (``X``, ``Y`` from its corner)."""
    w = c1 - c0
    for r in range(r0, r1):
        a = coef * Y[r - r0]
        seg = Jj[r * W + c0:r * W + c1]
        for i in range(w):
            seg[i] += a * X[i]


@njit(cache=True, error_model="numpy")
def evaluate(kinds, qoff, nq, active, q, col, x, y, grid, bs, f, J, jlo, jhi, P):
    """Add every active component to ``f`` and to the Jacobian rows
    ``J[j]`` (ranges ``jlo``/``jhi`` widened to their boxes, as
    :func:`.model2d.extend` does), and store the factors in ``J[P]``. The
    caller has zeroed ``f`` and the rows and checked :func:`plan`.
    """
    N = x.size
    W = int(grid[0])
    H = int(grid[1])
    b = bs[0]
    row = J[P]
    T = 0
    K = 0
    for c in range(kinds.size):
        if active[c]:
            K += 1
            k0 = qoff[c]
            if kinds[c] == OFFSET:
                T += 1 if col[k0] >= 0 else 0
            else:
                for i in range(5):
                    if col[k0 + i] >= 0:
                        T += 1  # one term per free parameter (a twinned width: one from each)
    row[0] = MARK
    row[1] = K
    row[2] = T
    sb = _HEAD + _TERM * T
    off = sb + _SET * K
    t = 0
    s = 0
    for c in range(kinds.size):
        if not active[c]:
            continue
        k0 = qoff[c]
        hd = sb + _SET * s
        if kinds[c] == OFFSET:
            X = row[off:off + W]
            Y = row[off + W:off + W + H]
            for i in range(W):
                X[i] = 1.0
            for r in range(H):
                Y[r] = 1.0
            v = q[k0]
            for n in range(N):
                f[n] += v
            row[hd], row[hd + 1], row[hd + 2], row[hd + 3], row[hd + 4], row[hd + 5] = 0, H, 0, W, 1, off
            off += W + H
            j = col[k0]
            if j >= 0:
                _m2.extend(jlo, jhi, j, 0, N, grid)
                Jj = J[j]
                for n in range(N):
                    Jj[n] += b
                _term(row, t, j, s, 0, 0, b)
                t += 1
            s += 1
            continue
        r0, r1, c0, c1 = _m2.box(kinds[c], q, k0, grid, N)
        c1 = max(c1, c0)
        r1 = max(r1, r0)
        wc = c1 - c0
        hr = r1 - r0
        row[hd], row[hd + 1], row[hd + 2], row[hd + 3], row[hd + 4], row[hd + 5] = r0, r1, c0, c1, 3, off
        X0 = row[off:off + wc]
        X1 = row[off + wc:off + 2 * wc]
        X2 = row[off + 2 * wc:off + 3 * wc]
        yo = off + 3 * wc
        Y0 = row[yo:yo + hr]
        Y1 = row[yo + hr:yo + 2 * hr]
        Y2 = row[yo + 2 * hr:yo + 3 * hr]
        off = yo + 3 * hr
        A, sx, sy, cx, cy = q[k0], q[k0 + 1], q[k0 + 2], q[k0 + 3], q[k0 + 4]
        i1 = 1.0 / sx
        i2 = 1.0 / sy
        norm = 1.0 / (2.0 * math.pi * sx * sy)
        for i in range(wc):
            p = (x[c0 + i] - cx) * i1
            e = math.exp(-0.5 * p * p)
            X0[i] = e
            X1[i] = e * p
            X2[i] = e * (p * p - 1.0)
        for r in range(hr):
            qq = (y[(r0 + r) * W] - cy) * i2
            e = math.exp(-0.5 * qq * qq)
            Y0[r] = e
            Y1[r] = e * qq
            Y2[r] = e * (qq * qq - 1.0)
        if wc > 0 and hr > 0:
            lo, hi = r0 * W + c0, (r1 - 1) * W + c1
            for i in range(5):
                if col[k0 + i] >= 0:
                    _m2.extend(jlo, jhi, col[k0 + i], lo, hi, grid)
        An = A * norm
        _add_column(f, An, X0, Y0, r0, r1, c0, c1, W)
        a1 = An * i1 * b
        a2 = An * i2 * b
        # (column of parameter i, x factor, y factor, coefficient): A, sigma_x, sigma_y, centre_x, centre_y
        for i in range(5):
            j = col[k0 + i]
            if j < 0:
                continue
            if i == 0:
                xk, yk, cf = 0, 0, norm * b
            elif i == 1:
                xk, yk, cf = 2, 0, a1
            elif i == 2:
                xk, yk, cf = 0, 2, a2
            elif i == 3:
                xk, yk, cf = 1, 0, a1
            else:
                xk, yk, cf = 0, 1, a2
            Xk = X0 if xk == 0 else (X1 if xk == 1 else X2)
            Yk = Y0 if yk == 0 else (Y1 if yk == 1 else Y2)
            _add_column(J[j], cf, Xk, Yk, r0, r1, c0, c1, W)
            _term(row, t, j, s, xk, yk, cf)
            t += 1
        s += 1


@njit(cache=True, error_model="numpy")
def stored(J, P):
    """True when ``J[P]`` holds factors written by :func:`evaluate`."""
    return J.shape[0] > P and J.shape[1] > 0 and J[P, 0] == MARK


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
def _dot(a, b):
    s = 0.0
    for i in range(a.size):
        s += a[i] * b[i]
    return s


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
def _axpy3(res, y0, y1, y2, z0, z1, z2, nk):
    """``z_k += y_k·res`` for ``k < nk`` (1 or 3): a pixel row into the
    column sums (no reduction per row, so the loop vectorises along it).
    """
    if nk == 3:
        for i in range(res.size):
            v = res[i]
            z0[i] += y0 * v
            z1[i] += y1 * v
            z2[i] += y2 * v
    else:
        for i in range(res.size):
            z0[i] += y0 * res[i]


@njit(cache=True, error_model="numpy")
def gram(J, r, W, G, g):
    """``G = JᵀJ`` and ``g = Jᵀr`` from the factors in ``J[P]`` (``P`` the
    size of ``G``), see the module docstring.
    """
    P = G.shape[0]
    row = J[P]
    K = int(row[1])
    T = int(row[2])
    sb = _HEAD + _TERM * T
    box = np.empty((K, 6), dtype=np.int64)
    for s in range(K):
        for k in range(6):
            box[s, k] = int(row[sb + _SET * s + k])
    DX = np.zeros((K, 3, K, 3))
    DY = np.zeros((K, 3, K, 3))
    V = np.zeros((K, 3, 3))  # V[s, kx, ky] = Σ_i X_kx[i] Σ_r Y_ky[r] r[r, i]
    Z = np.empty((3, W))  # Z[ky, i] = Σ_r Y_ky[r] r[r, i] over a box
    for a in range(K):
        ar0, ar1, ac0, ac1, ak, ao = box[a, 0], box[a, 1], box[a, 2], box[a, 3], box[a, 4], box[a, 5]
        aw = ac1 - ac0
        ah = ar1 - ar0
        ay = ao + ak * aw
        for k in range(ak):
            for i in range(aw):
                Z[k, i] = 0.0
        z0, z1, z2 = Z[0, :aw], Z[1, :aw], Z[2, :aw]
        for rr in range(ah):
            n0 = (ar0 + rr) * W + ac0
            y1 = row[ay + ah + rr] if ak == 3 else 0.0
            y2 = row[ay + 2 * ah + rr] if ak == 3 else 0.0
            _axpy3(r[n0:n0 + aw], row[ay + rr], y1, y2, z0, z1, z2, ak)
        for ky in range(ak):
            for kx in range(ak):
                V[a, kx, ky] = _dot(Z[ky, :aw], row[ao + kx * aw:ao + (kx + 1) * aw])
        for b in range(a, K):
            br0, br1, bc0, bc1, bk, bo = box[b, 0], box[b, 1], box[b, 2], box[b, 3], box[b, 4], box[b, 5]
            bw = bc1 - bc0
            bh = br1 - br0
            i0, i1 = max(ac0, bc0), min(ac1, bc1)
            j0, j1 = max(ar0, br0), min(ar1, br1)
            if i1 <= i0 or j1 <= j0:
                continue  # no common pixel: their products are 0
            by = bo + bk * bw
            for ka in range(ak):
                xa = row[ao + ka * aw + i0 - ac0:ao + ka * aw + i1 - ac0]
                ya = row[ay + ka * ah + j0 - ar0:ay + ka * ah + j1 - ar0]
                for kb in range(bk):
                    if b == a and kb < ka:
                        continue
                    dx = _dot(xa, row[bo + kb * bw + i0 - bc0:bo + kb * bw + i1 - bc0])
                    dy = _dot(ya, row[by + kb * bh + j0 - br0:by + kb * bh + j1 - br0])
                    DX[a, ka, b, kb] = dx
                    DX[b, kb, a, ka] = dx
                    DY[a, ka, b, kb] = dy
                    DY[b, kb, a, ka] = dy
    for i in range(P):
        g[i] = 0.0
        for j in range(P):
            G[i, j] = 0.0
    for t in range(T):
        bt = _HEAD + _TERM * t
        jt, st, xt, yt, ct = int(row[bt]), int(row[bt + 1]), int(row[bt + 2]), int(row[bt + 3]), row[bt + 4]
        g[jt] += ct * V[st, xt, yt]
        for t2 in range(T):
            b2 = _HEAD + _TERM * t2
            j2 = int(row[b2])
            if j2 < jt:
                continue
            s2, x2, y2, c2 = int(row[b2 + 1]), int(row[b2 + 2]), int(row[b2 + 3]), row[b2 + 4]
            G[jt, j2] += ct * c2 * DX[st, xt, s2, x2] * DY[st, yt, s2, y2]
    for i in range(P):
        for j in range(i + 1, P):
            G[j, i] = G[i, j]
