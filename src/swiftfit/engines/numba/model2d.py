"""Compiled (numba) 2-D components of the fused Levenberg–Marquardt.

A 2-D problem reaches the kernel as flattened pixel coordinates: two arrays
``x`` and ``y`` of length ``N`` (one entry per pixel, in the order of the
data), so the channel loop of :func:`.model.evaluate` and the Gram matrix do
not change; a component here reads ``(x[n], y[n])``. The formulas are those
of :mod:`swiftfit.components.two_d` and :mod:`swiftfit.components.galaxy`
(the NumPy reference the tests hold these to, per component and parameter).

When the pixels form a raster — ``x[n] = x0 + (n mod W)·dx``,
``y[n] = y0 + (n div W)·dy``, as Model2D's full frames and small ROIs do —
``grid = [W, H, x0, dx, y0, dy, boxes]`` (else zeros) lets a Gaussian2D be
evaluated only in the box of ``WINDOW`` widths around its centre (beyond it
the profile is below ``exp(-WINDOW²/2) ≈ 3e-18`` of its peak), and, without
rotation, as the product of one exponential per column and one per row
(``W + H`` exponentials instead of ``W·H``). On frames of at least
``BOX_PIXELS`` pixels (``boxes = 1``) each Jacobian column is also kept as a
box (:func:`extend`) and the Gram matrix summed over the intersections of
boxes (:func:`gram`): a frame with many spots then costs the spots' overlaps,
not whole rows; on small ROIs the boxes span the frame and the integer
arithmetic would only cost time.

Sersic2D's ``b_n`` and ``db_n/dn`` are computed once per evaluation
(:func:`sersic_bn`: Newton's method on the incomplete-gamma series and the
series of :mod:`swiftfit.components.galaxy` for the derivative).

Kind codes start at :data:`FIRST` so the 1-D kinds of :mod:`.model` can grow
without renumbering.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

FIRST = 100
GAUSSIAN2D, LORENTZIAN2D, MOFFAT2D, POLYNOMIAL2D, SERSIC2D = 100, 101, 102, 103, 104
BOX_PIXELS = 1024  # frames from 32×32 up keep Jacobian columns as boxes
WINDOW = 9.0  # as forms1d.WINDOW: half-width of a Gaussian's box, in its larger sigma
_TWO_PI = 2.0 * math.pi


@njit(cache=True, error_model="numpy", _nrt=False)
def _span(c, half, a0, step, size):
    """Indices ``[i0, i1)`` of the grid points ``a0 + i·step`` within ``half`` of ``c``."""
    t0 = (c - half - a0) / step
    t1 = (c + half - a0) / step
    if t0 > t1:
        t0, t1 = t1, t0
    i0 = max(int(math.ceil(t0)), 0) if t0 > -1.0 else 0
    i1 = min(int(math.floor(t1)) + 1, size) if t1 < size else size
    return i0, max(i1, i0)


@njit(cache=True, error_model="numpy", _nrt=False)
def box(kind, q, k0, grid, N):
    """Rows ``[r0, r1)`` and columns ``[c0, c1)`` of the raster where a
    component is not negligible (the whole image unless it is a Gaussian2D on
    a raster with finite parameters).
    """
    W = int(grid[0])
    if W <= 0:
        return 0, 1, 0, N
    H = int(grid[1])
    if kind != GAUSSIAN2D:
        return 0, H, 0, W
    half = WINDOW * max(abs(q[k0 + 1]), abs(q[k0 + 2]))
    cx = q[k0 + 3]
    cy = q[k0 + 4]
    if not (math.isfinite(half) and math.isfinite(cx) and math.isfinite(cy)):
        return 0, H, 0, W
    c0, c1 = _span(cx, half, grid[2], grid[3], W)
    r0, r1 = _span(cy, half, grid[4], grid[5], H)
    return r0, r1, c0, c1


@njit(cache=True, error_model="numpy")
def window(kind, q, k0, grid, N):
    """The flattened range ``[lo, hi)`` of pixels a component's Jacobian covers."""
    r0, r1, c0, c1 = box(kind, q, k0, grid, N)
    if r1 <= r0 or c1 <= c0:
        return 0, 0
    W = int(grid[0])
    if W <= 0:
        return c0, c1
    return r0 * W + c0, (r1 - 1) * W + c1


@njit(cache=True, error_model="numpy")
def _ipow(a, k):
    out = 1.0
    for _ in range(k):
        out *= a
    return out


@njit(cache=True, error_model="numpy")
def _row(col, k, P):
    # the Jacobian row of parameter k: its theta column, or the scratch row P when fixed
    return col[k] if col[k] >= 0 else P


@njit(cache=True, error_model="numpy")
def _polynomial(q, k0, m, col, x, y, bs, w, use_w, f, J, P):
    order = 0
    while (order + 1) * (order + 2) // 2 < m:
        order += 1
    for n in range(x.size):
        sn = bs[n] * (w[n] if use_w else 1.0)
        acc = 0.0
        k = 0
        for d in range(order + 1):
            for e in range(d + 1):
                t = _ipow(x[n], d - e) * _ipow(y[n], e)
                acc += q[k0 + k] * t
                J[_row(col, k0 + k, P), n] += t * sn
                k += 1
        f[n] += acc


@njit(cache=True, error_model="numpy")
def _moffat(q, k0, col, x, y, bs, w, use_w, f, J, P):
    A, alpha, beta, cx, cy = q[k0], q[k0 + 1], q[k0 + 2], q[k0 + 3], q[k0 + 4]
    j0, j1, j2 = _row(col, k0, P), _row(col, k0 + 1, P), _row(col, k0 + 2, P)
    j3, j4 = _row(col, k0 + 3, P), _row(col, k0 + 4, P)
    ia = 1.0 / alpha
    norm = 1.0 / (math.pi * alpha * alpha)
    for n in range(x.size):
        sn = bs[n] * (w[n] if use_w else 1.0)
        p = (x[n] - cx) * ia
        qq = (y[n] - cy) * ia
        Q = 1.0 + p * p + qq * qq
        shape = Q ** (-beta) * norm
        g = (beta - 1.0) * shape
        fv = A * g
        k = 2.0 * beta * fv / Q * ia
        f[n] += fv
        J[j0, n] += g * sn
        J[j1, n] += (k * (p * p + qq * qq) - 2.0 * fv * ia) * sn
        J[j2, n] += A * shape * (1.0 - (beta - 1.0) * math.log(Q)) * sn
        J[j3, n] += k * p * sn
        J[j4, n] += k * qq * sn


@njit(cache=True, error_model="numpy")
def _gauss_rows(A, cx, cy, i1, i2, norm, j0, j1, j2, j3, j4, r0, r1, c0, c1, W, x, y, bs, w, use_w, f, J, R):
    """An unrotated Gaussian2D on a raster, from its factors ``R[0, i]``
    (column) and ``R[1, r]`` (row): the same expressions as the general loop
    of :func:`_elliptical` at angle 0 (``cos = 1``, ``sin = 0`` dropped, so no
    rotated coordinates and no branch per pixel); a twin's shared column (``sigma_y`` twinned to
    ``sigma_x``: ``j1 == j2``) gets one sum per pixel.
    """
    same = j1 == j2
    for r in range(r0, r1):
        ey = R[1, r]
        for i in range(c0, c1):
            n = r * W + i
            sn = bs[n] * (w[n] if use_w else 1.0)
            p = (x[n] - cx) * i1
            qq = (y[n] - cy) * i2
            g = R[0, i] * ey * norm
            fv = A * g
            d1 = fv * (p * p - 1.0) * i1
            d2 = fv * (qq * qq - 1.0) * i2
            f[n] += fv
            J[j0, n] += g * sn
            if same:
                J[j1, n] += d1 * sn + d2 * sn
            else:
                J[j1, n] += d1 * sn
                J[j2, n] += d2 * sn
            J[j3, n] += fv * p * i1 * sn
            J[j4, n] += fv * qq * i2 * sn


@njit(cache=True, error_model="numpy")
def _elliptical(kind, q, k0, m, col, x, y, grid, bs, w, use_w, f, J, P, R):
    """Gaussian2D and Lorentzian2D, with or without rotation, over the box of
    :func:`box` (the whole image for a Lorentzian2D or a point set).
    """
    N = x.size
    W = int(grid[0])
    r0, r1, c0, c1 = box(kind, q, k0, grid, N)
    if W <= 0:
        W = N  # not a raster: one "row" of all the pixels
    A, a1, a2, cx, cy = q[k0], q[k0 + 1], q[k0 + 2], q[k0 + 3], q[k0 + 4]
    j0, j1, j2 = _row(col, k0, P), _row(col, k0 + 1, P), _row(col, k0 + 2, P)
    j3, j4 = _row(col, k0 + 3, P), _row(col, k0 + 4, P)
    rot = m > 5
    j5 = _row(col, k0 + 5, P) if rot else P
    cs = math.cos(q[k0 + 5]) if rot else 1.0
    sn_ = math.sin(q[k0 + 5]) if rot else 0.0
    i1 = 1.0 / a1
    i2 = 1.0 / a2
    norm = 1.0 / (_TWO_PI * a1 * a2)
    gauss = kind == GAUSSIAN2D
    separable = gauss and not rot and int(grid[0]) > 0
    if separable:  # exp(-p²/2) per column in R[0], exp(-q²/2) per row in R[1]
        for i in range(c0, c1):
            p = (x[i] - cx) * i1
            R[0, i] = math.exp(-0.5 * p * p)
        for r in range(r0, r1):
            qq = (y[r * W] - cy) * i2
            R[1, r] = math.exp(-0.5 * qq * qq)
        _gauss_rows(A, cx, cy, i1, i2, norm, j0, j1, j2, j3, j4, r0, r1, c0, c1, W, x, y, bs, w, use_w, f, J, R)
        return
    for r in range(r0, r1):
        for i in range(c0, c1):
            n = r * W + i
            dx = x[n] - cx
            dy = y[n] - cy
            u = cs * dx + sn_ * dy
            v = cs * dy - sn_ * dx
            sn = bs[n] * (w[n] if use_w else 1.0)
            p = u * i1
            qq = v * i2
            if gauss:
                e = R[0, i] * R[1, r] if separable else math.exp(-0.5 * (p * p + qq * qq))
                g = e * norm
                fv = A * g
                d1 = fv * (p * p - 1.0) * i1
                d2 = fv * (qq * qq - 1.0) * i2
                fu = -fv * p * i1
                fw = -fv * qq * i2
            else:  # LORENTZIAN2D: a1, a2 = gamma_x, gamma_y
                Q = 1.0 + p * p + qq * qq
                g = norm / (Q * math.sqrt(Q))
                fv = A * g
                k = 3.0 * fv / Q
                d1 = (k * p * p - fv) * i1
                d2 = (k * qq * qq - fv) * i2
                fu = -k * p * i1
                fw = -k * qq * i2
            f[n] += fv
            J[j0, n] += g * sn
            J[j1, n] += d1 * sn
            J[j2, n] += d2 * sn
            # du/dx0 = -c, dv/dx0 = s, du/dy0 = -s, dv/dy0 = -c, du/dθ = v, dv/dθ = -u
            J[j3, n] += (sn_ * fw - cs * fu) * sn
            J[j4, n] += (-sn_ * fu - cs * fw) * sn
            if rot:
                J[j5, n] += (v * fu - u * fw) * sn


@njit(cache=True, error_model="numpy")
def _digamma(z):
    """ψ(z) for z > 0: the recurrence ψ(z) = ψ(z + 1) − 1/z up to z ≥ 10, then
    the asymptotic series to z⁻¹⁰ (next term below 2e-14).
    """
    r = 0.0
    while z < 10.0:
        r -= 1.0 / z
        z += 1.0
    f = 1.0 / (z * z)
    return r + math.log(z) - 0.5 / z - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))))


@njit(cache=True, error_model="numpy")
def _gamma_p(a, x):
    """The regularised lower incomplete gamma P(a, x) by its series (all terms
    positive; ``b_n``, the median of Gamma(a), lies below ``a``).
    """
    term = 1.0 / a
    s = term
    for k in range(1, 100000):
        term *= x / (a + k)
        s += term
        if term < 1e-17 * s:
            break
    return s * math.exp(a * math.log(x) - x - math.lgamma(a))


@njit(cache=True, error_model="numpy")
def sersic_bn(n):
    """``(b_n, db_n/dn)`` as :func:`swiftfit.components.galaxy.sersic_bn`:
    ``P(2n, b_n) = 1/2`` by Newton's method from Ciotti & Bertin's expansion,
    and the derivative by the same series (see that module's docstring).
    """
    a = 2.0 * n
    if not (a > 0.0) or not math.isfinite(a):
        return np.nan, np.nan
    b = max(a - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n * n), 1e-3 * a)
    for _ in range(100):
        dens = math.exp((a - 1.0) * math.log(b) - b - math.lgamma(a))
        step = (_gamma_p(a, b) - 0.5) / dens
        new = b - step
        if not (new > 0.0):
            new = 0.5 * b
        done = abs(new - b) <= 1e-15 * b
        b = new
        if done:
            break
    logx = math.log(b)
    dens = math.exp((a - 1.0) * logx - b - math.lgamma(a))
    terms = int(40 + 10 * math.sqrt(min(a, 1e6) + 1.0))
    psi = _digamma(a + 1.0)
    dp = 0.0
    for k in range(terms):
        ak1 = a + k + 1.0
        dp += math.exp((ak1 - 1.0) * logx - b - math.lgamma(ak1)) * (logx - psi)
        psi += 1.0 / ak1  # ψ(z + 1) = ψ(z) + 1/z
    return b, -2.0 * dp / dens


@njit(cache=True, error_model="numpy")
def _sersic(q, k0, col, x, y, bs, w, use_w, f, J, P):
    I_e, R_e, n, cx, cy, ell, ang = q[k0], q[k0 + 1], q[k0 + 2], q[k0 + 3], q[k0 + 4], q[k0 + 5], q[k0 + 6]
    j0, j1, j2 = _row(col, k0, P), _row(col, k0 + 1, P), _row(col, k0 + 2, P)
    j3, j4 = _row(col, k0 + 3, P), _row(col, k0 + 4, P)
    j5, j6 = _row(col, k0 + 5, P), _row(col, k0 + 6, P)
    b, db = sersic_bn(n)
    cs = math.cos(ang)
    sn_ = math.sin(ang)
    qa = 1.0 - ell
    inv_n = 1.0 / n
    for i in range(x.size):
        sn = bs[i] * (w[i] if use_w else 1.0)
        dx = x[i] - cx
        dy = y[i] - cy
        u = cs * dx + sn_ * dy
        v = cs * dy - sn_ * dx
        wv = v / qa
        R = math.sqrt(u * u + wv * wv)
        Rs = R if R != 0.0 else 1.0  # u = v = 0 there, and t = 0 multiplies what R_safe enters
        t = (R / R_e) ** inv_n
        e = math.exp(-b * (t - 1.0))
        fv = I_e * e
        K = fv * b * t / (n * Rs * Rs)
        fu = -K * u
        fw = -K * wv / qa
        f[i] += fv
        J[j0, i] += e * sn
        J[j1, i] += fv * b * t / (n * R_e) * sn
        J[j2, i] += fv * (b * t * math.log(Rs / R_e) / (n * n) - db * (t - 1.0)) * sn
        J[j3, i] += (sn_ * fw - cs * fu) * sn
        J[j4, i] += (-sn_ * fu - cs * fw) * sn
        J[j5, i] += -K * wv * wv / qa * sn
        J[j6, i] += (v * fu - u * fw) * sn


@njit(cache=True, error_model="numpy")
def evaluate(kind, q, k0, m, col, x, y, grid, bs, w, use_w, f, J, P, R):
    """Add component ``kind`` (parameters ``q[k0:k0+m]``) to the model ``f``
    and its weighted derivatives to the rows ``col[k0:k0+m]`` of ``J`` (row
    ``P`` for fixed parameters). ``R`` (at least 2 rows of ``N``) is scratch.
    """
    if kind == POLYNOMIAL2D:
        _polynomial(q, k0, m, col, x, y, bs, w, use_w, f, J, P)
    elif kind == MOFFAT2D:
        _moffat(q, k0, col, x, y, bs, w, use_w, f, J, P)
    elif kind == SERSIC2D:
        _sersic(q, k0, col, x, y, bs, w, use_w, f, J, P)
    else:
        _elliptical(kind, q, k0, m, col, x, y, grid, bs, w, use_w, f, J, P, R)


@njit(cache=True, error_model="numpy")
def _decode(lo, hi, W):
    """The box ``(r0, r1, c0, c1)`` of a flattened range ``[lo, hi)`` on a raster of width ``W``."""
    if hi <= lo:
        return 0, 0, 0, 0
    r0 = lo // W
    r1 = (hi - 1) // W + 1
    c0 = lo % W
    c1 = (hi - 1) % W + 1
    if c1 <= c0:  # not a box (cannot come from window()): whole rows
        c0, c1 = 0, W
    return r0, r1, c0, c1


@njit(cache=True, error_model="numpy")
def extend(jlo, jhi, j, lo, hi, grid):
    """Widen the range of Jacobian row ``j`` to cover ``[lo, hi)``: on a raster
    to the bounding box of both boxes (so that :func:`gram` may take the range
    as a box), else to the union of the ranges.
    """
    if hi <= lo:
        return
    if jhi[j] <= jlo[j]:
        jlo[j] = lo
        jhi[j] = hi
        return
    W = int(grid[0])
    if W <= 0:
        jlo[j] = min(jlo[j], lo)
        jhi[j] = max(jhi[j], hi)
        return
    a0, a1, b0, b1 = _decode(jlo[j], jhi[j], W)
    r0, r1, c0, c1 = _decode(lo, hi, W)
    r0, r1, c0, c1 = min(a0, r0), max(a1, r1), min(b0, c0), max(b1, c1)
    jlo[j] = r0 * W + c0
    jhi[j] = (r1 - 1) * W + c1


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
def _dot(a, b, lo, hi):
    # reassociation lets the sum vectorise; NaN/inf semantics are kept (model.py uses it too)
    s = 0.0
    for n in range(lo, hi):
        s += a[n] * b[n]
    return s


@njit(cache=True, error_model="numpy")
def narrow(jlo, jhi, grid):
    """True when some Jacobian column's box is not the whole raster: then
    :func:`gram` (tiles over the intersections of boxes) does less work than
    the flat products over the flattened ranges, which on a frame with spots
    also cover the pixels of the rows in between.
    """
    N = int(grid[0]) * int(grid[1])
    for j in range(jlo.size):
        if jhi[j] > jlo[j] and not (jlo[j] == 0 and jhi[j] == N):
            return True
    return False


@njit(cache=True, error_model="numpy")
def _flat(r0, r1, c0, c1, W):
    """The loop of a box for :func:`_tile`: its rows, or — when the box is at
    least half the raster's width — the one flattened range from its first to
    its last pixel (the pixels in between are outside a column's box, where
    its Jacobian is zero, so the sums are the same; long runs vectorise).
    """
    if 2 * (c1 - c0) >= W or r1 - r0 == 1:
        return 0, 1, r0 * W + c0, (r1 - 1) * W + c1, 0
    return r0, r1, c0, c1, W


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
def _tile(a0, a1, a2, a3, b0, b1, b2, b3, r0, r1, c0, c1, W, out):
    """The 16 products ``Σ a_i·b_j`` (i, j < 4) over the box rows ``[r0, r1)``,
    columns ``[c0, c1)`` of a raster of width ``W``, into ``out`` (row-major):
    one pass over the pixels for 16 sums (8 loads for 16 multiply-adds, against
    2 for 1 in separate dot products).
    """
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = 0.0
    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = 0.0
    for row in range(r0, r1):
        for n in range(row * W + c0, row * W + c1):
            x0 = a0[n]
            x1 = a1[n]
            x2 = a2[n]
            x3 = a3[n]
            y0 = b0[n]
            y1 = b1[n]
            y2 = b2[n]
            y3 = b3[n]
            s00 += x0 * y0
            s01 += x0 * y1
            s02 += x0 * y2
            s03 += x0 * y3
            s10 += x1 * y0
            s11 += x1 * y1
            s12 += x1 * y2
            s13 += x1 * y3
            s20 += x2 * y0
            s21 += x2 * y1
            s22 += x2 * y2
            s23 += x2 * y3
            s30 += x3 * y0
            s31 += x3 * y1
            s32 += x3 * y2
            s33 += x3 * y3
    out[0], out[1], out[2], out[3] = s00, s01, s02, s03
    out[4], out[5], out[6], out[7] = s10, s11, s12, s13
    out[8], out[9], out[10], out[11] = s20, s21, s22, s23
    out[12], out[13], out[14], out[15] = s30, s31, s32, s33


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
def _tile_sym(a0, a1, a2, a3, r0, r1, c0, c1, W, out):
    """:func:`_tile` of four columns with themselves: the 10 sums ``i ≤ j``."""
    s00 = s01 = s02 = s03 = s11 = s12 = s13 = s22 = s23 = s33 = 0.0
    for row in range(r0, r1):
        for n in range(row * W + c0, row * W + c1):
            x0 = a0[n]
            x1 = a1[n]
            x2 = a2[n]
            x3 = a3[n]
            s00 += x0 * x0
            s01 += x0 * x1
            s02 += x0 * x2
            s03 += x0 * x3
            s11 += x1 * x1
            s12 += x1 * x2
            s13 += x1 * x3
            s22 += x2 * x2
            s23 += x2 * x3
            s33 += x3 * x3
    out[0], out[1], out[2], out[3] = s00, s01, s02, s03
    out[4], out[5], out[6], out[7] = s01, s11, s12, s13
    out[8], out[9], out[10], out[11] = s02, s12, s22, s23
    out[12], out[13], out[14], out[15] = s03, s13, s23, s33


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
def _tile_1(a, b, r0, r1, c0, c1, W):
    """``Σ a·b`` over a box."""
    s = 0.0
    for row in range(r0, r1):
        for n in range(row * W + c0, row * W + c1):
            s += a[n] * b[n]
    return s


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
def _tile_r(a0, a1, a2, a3, r, r0, r1, c0, c1, W, out):
    """``Σ a_i·r`` (i < 4) over a box, into ``out[:4]``."""
    s0 = s1 = s2 = s3 = 0.0
    for row in range(r0, r1):
        for n in range(row * W + c0, row * W + c1):
            v = r[n]
            s0 += a0[n] * v
            s1 += a1[n] * v
            s2 += a2[n] * v
            s3 += a3[n] * v
    out[0], out[1], out[2], out[3] = s0, s1, s2, s3


@njit(cache=True, error_model="numpy")
def gram(J, jlo, jhi, grid, r, G, g):
    """``G = JᵀJ`` and ``g = Jᵀr`` on a raster whose column ranges are boxes
    (``grid[6] > 0``, see :func:`extend`), each product over the intersection
    of the two columns' boxes (a spot's Jacobian is zero outside its box).

    Consecutive columns with the same box (a component's parameters) form a
    group; each pair of groups is summed in 4×4 tiles (:func:`_tile`) over
    the intersection of their boxes, the diagonal blocks once (``G`` is
    symmetric). A tile short of 4 columns repeats its last column and drops
    those sums. The same products as one dot product per pair, summed in
    another order (the last bits differ).
    """
    W = int(grid[0])
    P = G.shape[0]
    out = np.empty(16)
    starts = np.empty(P + 1, dtype=np.int64)
    ng = 0
    i = 0
    while i < P:
        starts[ng] = i
        k = i + 1
        while k < P and jlo[k] == jlo[i] and jhi[k] == jhi[i]:
            k += 1
        ng += 1
        i = k
    starts[ng] = P
    for i in range(P):
        g[i] = 0.0
        for j in range(P):
            G[i, j] = 0.0
    for ga in range(ng):
        a_lo, a_hi = starts[ga], starts[ga + 1]
        ar0, ar1, ac0, ac1 = _decode(jlo[a_lo], jhi[a_lo], W)
        if ar1 <= ar0 or ac1 <= ac0:
            continue
        for ia in range(a_lo, a_hi, 4):
            na = min(4, a_hi - ia)
            i0, i1, i2, i3 = ia, ia + min(1, na - 1), ia + min(2, na - 1), ia + min(3, na - 1)
            _tile_r(J[i0], J[i1], J[i2], J[i3], r, *_flat(ar0, ar1, ac0, ac1, W), out)
            for u in range(na):
                g[ia + u] = out[u]
        for gb in range(ga, ng):
            b_lo, b_hi = starts[gb], starts[gb + 1]
            br0, br1, bc0, bc1 = _decode(jlo[b_lo], jhi[b_lo], W)
            r0, r1 = max(ar0, br0), min(ar1, br1)
            c0, c1 = max(ac0, bc0), min(ac1, bc1)
            if r1 <= r0 or c1 <= c0:
                continue
            r0, r1, c0, c1, Wl = _flat(r0, r1, c0, c1, W)
            for ia in range(a_lo, a_hi, 4):
                na = min(4, a_hi - ia)
                i0, i1, i2, i3 = ia, ia + min(1, na - 1), ia + min(2, na - 1), ia + min(3, na - 1)
                for ib in range(ia if gb == ga else b_lo, b_hi, 4):
                    nb = min(4, b_hi - ib)
                    j0, j1, j2, j3 = ib, ib + min(1, nb - 1), ib + min(2, nb - 1), ib + min(3, nb - 1)
                    if nb == 1 and na == 1:
                        out[0] = _tile_1(J[i0], J[j0], r0, r1, c0, c1, Wl)
                    elif nb == 1:
                        _tile_r(J[i0], J[i1], J[i2], J[i3], J[j0], r0, r1, c0, c1, Wl, out)
                        for u in range(1, na):
                            out[4 * u] = out[u]
                    elif na == 1:
                        _tile_r(J[j0], J[j1], J[j2], J[j3], J[i0], r0, r1, c0, c1, Wl, out)
                    elif ib == ia and na == 4:
                        _tile_sym(J[i0], J[i1], J[i2], J[i3], r0, r1, c0, c1, Wl, out)
                    else:
                        _tile(J[i0], J[i1], J[i2], J[i3], J[j0], J[j1], J[j2], J[j3], r0, r1, c0, c1, Wl, out)
                    for u in range(na):
                        for v in range(nb):
                            if ia + u <= ib + v:
                                G[ia + u, ib + v] = out[4 * u + v]
                                G[ib + v, ia + u] = out[4 * u + v]
