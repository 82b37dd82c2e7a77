"""The built-in 1-D component forms of the compiled evaluation
(:func:`.model.evaluate`): Gaussian (by a recurrence on a uniform grid),
Lorentzian, Polynomial, PowerLaw, the ``Expression`` register program, and
the helpers that add a row into the model and the weighted Jacobian. Each
writes its columns only over the channels where it is not negligible
(:func:`_window`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .expression_vm import _row, expx_scratch
from .expression_vm import run_mapped as _run_mapped
from .vexp import exp_into as _vexp

# component kinds (lower.KINDS maps the names components declare to these)
GAUSSIAN, GAUSSIAN_HF, LORENTZIAN, OFFSET, POLYNOMIAL, EXPONENTIAL, EXPRESSION, POWERLAW = 0, 1, 2, 3, 4, 5, 6, 7
VOIGT = 8  # maths in .voigt
SPLINE = 9  # ScalableFixedPattern, maths in .spline (its tables: an empty expression program's constants)
WINDOW = 9.0  # half-width of a Gaussian's evaluation window, in standard deviations
_SQRT2PI = math.sqrt(2.0 * math.pi)
_FOUR_LN2 = 4.0 * math.log(2.0)
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@njit(cache=True, error_model="numpy")
def _window(kind, q, k0, x, ascending):
    """Channels ``[lo, hi)`` where a component is not negligible."""
    N = x.size
    if ascending and kind == POWERLAW:
        # x > left_cutoff and x > origin: a suffix (see _powerlaw)
        x0 = q[k0 + 2]
        xc = q[k0 + 3]
        if not (math.isfinite(x0) and math.isfinite(xc)):
            return 0, N
        return np.searchsorted(x, max(x0, xc), side="right"), N
    if not ascending or (kind != GAUSSIAN and kind != GAUSSIAN_HF):
        return 0, N
    if kind == GAUSSIAN:
        half = WINDOW * abs(q[k0 + 1])
    else:
        half = WINDOW * abs(q[k0 + 1]) / _FWHM_PER_SIGMA
    c = q[k0 + 2]
    if not (math.isfinite(half) and math.isfinite(c)):
        return 0, N
    lo = np.searchsorted(x, c - half)
    hi = np.searchsorted(x, c + half, side="right")
    return lo, hi


@njit(cache=True, error_model="numpy")
def _gauss_shape(x, lo, hi, c0, inv, dx, buf):
    """``exp(-u²/2)``, ``u = (x - c0)·inv``, for the channels ``[lo, hi)``.

    On a uniform grid (``dx > 0``) by a recurrence outward from the channel
    nearest the centre — ``g[n+1] = g[n]·ρ``, ``ρ ← ρ·exp(-δ²)`` with
    ``δ = dx·inv`` — three exponentials per peak instead of one per channel.
    Each step adds about an ulp of relative error: after the ≤ 9σ/dx steps of
    a window, ~1e-13 of values that are themselves below 1e-4 of the peak
    beyond a few σ. Elsewhere (``dx == 0``) one exponential per channel.
    """
    out = buf[:max(hi - lo, 0)]
    if hi <= lo:
        return out
    if dx <= 0.0:
        for n in range(lo, hi):
            u = (x[n] - c0) * inv
            out[n - lo] = math.exp(-0.5 * u * u)
        return out
    m = int(round((c0 - x[0]) / dx))
    m = min(max(m, lo), hi - 1)
    d = dx * inv
    um = (x[m] - c0) * inv
    kappa = math.exp(-d * d)
    g0 = math.exp(-0.5 * um * um)
    out[m - lo] = g0
    g = g0
    rho = math.exp(-d * um - 0.5 * d * d)
    for n in range(m + 1, hi):
        g *= rho
        rho *= kappa
        out[n - lo] = g
    g = g0
    rho = math.exp(d * um - 0.5 * d * d)
    for n in range(m - 1, lo - 1, -1):
        g *= rho
        rho *= kappa
        out[n - lo] = g
    return out


@njit(cache=True, error_model="numpy")
def _gaussian(q, k0, col, x, lo, hi, dx, bs, w, use_w, f, J, P, scratch, assign=False):
    """``A/(σ√(2π)) exp(−u²/2)``, ``u = (x − c)/σ``, and its derivatives over
    ``[lo, hi)``; the shape in ``scratch`` (a free row of ``R``: no
    allocation per evaluation), the loops over row slices indexed from 0 so
    they vectorise (see :func:`_lorentzian`). With ``assign`` the columns
    are written, not added to (see :func:`_claim`).
    """
    A = q[k0]
    s = q[k0 + 1]
    c0 = q[k0 + 2]
    # a fixed parameter's derivative goes to the scratch row P
    ja = col[k0] if col[k0] >= 0 else P
    js = col[k0 + 1] if col[k0 + 1] >= 0 else P
    jc = col[k0 + 2] if col[k0 + 2] >= 0 else P
    norm = 1.0 / (s * _SQRT2PI)
    inv = 1.0 / s
    if hi <= lo:
        return
    gb = _gauss_shape(x, lo, hi, c0, inv, dx, scratch)
    xs = x[lo:hi]
    fs = f[lo:hi]
    bss = bs[lo:hi]
    ws = w[lo:hi] if use_w else bss
    Ja = J[ja, lo:hi]
    Js = J[js, lo:hi]
    Jc = J[jc, lo:hi]
    if assign:
        for n in range(xs.size):
            u = (xs[n] - c0) * inv
            g = norm * gb[n]
            fs[n] += A * g
            sn = bss[n] * ws[n] if use_w else bss[n]
            gs = g * sn
            ags = A * gs * inv
            Ja[n] = gs
            Js[n] = ags * (u * u - 1.0)
            Jc[n] = ags * u
        return
    for n in range(xs.size):
        u = (xs[n] - c0) * inv
        g = norm * gb[n]
        fs[n] += A * g
        sn = bss[n] * ws[n] if use_w else bss[n]
        gs = g * sn
        ags = A * gs * inv
        Ja[n] += gs
        Js[n] += ags * (u * u - 1.0)
        Jc[n] += ags * u


@njit(cache=True, error_model="numpy")
def _polynomial(q, k0, m, col, x, lo, hi, bs, w, use_w, f, J, scratch, assign=False):
    """``Σ_i q_i x^i`` (``m`` coefficients; an offset is ``m = 1``) over
    ``[lo, hi)`` by Horner, and the columns ``x^i`` by running products in
    ``scratch``; loops over row slices indexed from 0 (see :func:`_lorentzian`).
    With ``assign`` the columns are written, not added to (see :func:`_claim`).
    """
    if hi <= lo:
        return
    xs = x[lo:hi]
    fs = f[lo:hi]
    bss = bs[lo:hi]
    ws = w[lo:hi] if use_w else bss
    if m == 1:
        k = q[k0]
        for n in range(xs.size):
            fs[n] += k
    else:
        for n in range(xs.size):
            acc = q[k0 + m - 1]
            for i in range(m - 2, -1, -1):
                acc = acc * xs[n] + q[k0 + i]
            fs[n] += acc
    pw = scratch[:xs.size]
    for n in range(xs.size):
        pw[n] = bss[n] * ws[n] if use_w else bss[n]
    for i in range(m):
        j = col[k0 + i]
        if j >= 0:
            Jj = J[j, lo:hi]
            if assign:
                for n in range(xs.size):
                    Jj[n] = pw[n]
            else:
                for n in range(xs.size):
                    Jj[n] += pw[n]
        if i + 1 < m:
            for n in range(xs.size):
                pw[n] *= xs[n]


@njit(cache=True, error_model="numpy", inline="always")
def expression_owns(col, k0, m):
    """Whether no other parameter slot has any free column of an Expression's
    ``m`` parameters (from ``k0``): then :func:`_expression` stores every one
    of them over all channels (computed in the row, or stored from its
    register), so the evaluation's claims need not zero them first
    (``model._evaluate_claimed``).
    """
    for i in range(m):
        j = col[k0 + i]
        if j >= 0 and not _sole(col, j):
            return False
    return True


@njit(cache=True, error_model="numpy", inline="always")
def _sole(col, j):
    """Whether exactly one parameter slot has column ``j``."""
    seen = 0
    for kk in range(col.size):
        seen += col[kk] == j
    return seen == 1


@njit(cache=True, error_model="numpy")
def own_rows(out, o0, isvec, col, k0, m, has_y, own, pairs):
    """Which of an Expression's derivatives :func:`_expression` stores
    (``own[i] = 1``: its column is no other slot's) and which of those it
    computes in their Jacobian rows (``own[i] = 2``: a vector register that an
    instruction writes and no other output shares); those are listed in
    ``pairs`` as ``(register, Jacobian row)`` for :func:`.expression_vm.run_mapped`.
    Returns how many pairs. Depends only on the program and ``col``.
    """
    nin = 1 + m + (1 if has_y else 0)  # x, the parameters (and y): registers no instruction writes
    npairs = 0
    for i in range(m):
        own[i] = 0
        j = col[k0 + i]
        if j < 0:
            continue
        if not _sole(col, j):
            continue
        own[i] = 1
        gr = out[o0 + 1 + i]
        if gr < nin or not isvec[gr]:
            continue
        twice = gr == out[o0]
        for u in range(m):
            twice = twice or (u != i and out[o0 + 1 + u] == gr)
        if not twice:
            own[i] = 2
            pairs[2 * npairs] = gr
            pairs[2 * npairs + 1] = j
            npairs += 1
    return npairs


@njit(cache=True, error_model="numpy")
def _expression(ex, R, c, k0, m, q, col, x, y, bs, w, use_w, f, J, P):
    """An Expression component: run its program over every channel, add the
    value to ``f`` and the derivatives to the Jacobian columns.

    A column that no other parameter slot has (:func:`expression_owns`) is
    written here over every channel and nothing else adds to it (it holds
    zeros from ``evaluate``, or on the claimed path, ``model._evaluate_claimed``,
    the last evaluation's values, overwritten): a derivative computed by an instruction
    (and the output of no other parameter) is computed in that Jacobian row
    itself (``expression_vm.run_mapped``) and scaled there by ``bs·w``
    (nothing to do for unit bin scales without weights); another is stored
    from its register, not added to zeros, and so is the value of a
    one-component model. The same numbers, fewer passes over the channels.
    An empty ``f``: the value is left in its register, ``R[out[o0]]``.
    (:func:`.expr_gram.evaluate_gram` does this work itself, with what depends
    on the pixel's structure only found once per pixel.)
    """
    meta, ins, vec, creg, cval, out, cexpr = ex[0], ex[1], ex[2], ex[3], ex[4], ex[5], ex[6]
    e = cexpr[c]
    i0, ni, r0, nr, k0c, nk, o0 = meta[e, 0], meta[e, 1], meta[e, 2], meta[e, 3], meta[e, 4], meta[e, 5], meta[e, 6]
    N = x.size
    isvec = vec[r0:r0 + nr]
    prog = ins[i0:i0 + ni]
    own = np.zeros(m, dtype=np.int64)  # 1: stored, 2: computed in its Jacobian row
    pairs = np.empty(2 * m)  # (register, Jacobian row) of the own[i] = 2 derivatives: see run_mapped
    where = pairs[:2 * own_rows(out, o0, isvec, col, k0, m, y.size > 0, own, pairs)]
    need = expx_scratch(N)
    tmp = R[nr] if nr < R.shape[0] and R.shape[1] >= need else np.empty(need)  # lower.py reserves the row
    _run_mapped(prog, isvec, creg[k0c:k0c + nk], cval[k0c:k0c + nk], q[k0:k0 + m], x, y, 0, N, R, J, where, np.nan,
                tmp)
    v = out[o0]
    if f.size == 0:  # the value stays in its register
        pass
    elif isvec[v]:
        _add_row(_row(R, J, where, v, N), f, bs, w, use_w, False, cexpr.size == 1)
    else:
        s = R[v, 0]
        for n in range(N):
            f[n] += s
    ones = not use_w
    if ones:
        # counted, not searched with an early exit: a loop that vectorises (the
        # search cost ~0.2 µs over 400 channels per evaluation, issue 16)
        other = 0
        for n in range(N):
            other += bs[n] != 1.0
        ones = other == 0
    derivative_rows(R, J, out, o0, col, k0, m, isvec, own, ones, bs, w, use_w)


@njit(cache=True, error_model="numpy", inline="always")
def derivative_rows(R, J, out, o0, col, k0, m, isvec, own, ones, bs, w, use_w):
    """An Expression's free derivatives into their Jacobian rows once its
    program has run (``own`` from :func:`own_rows`): a row computed in place
    (``own[i] = 2``) scaled by ``bs·w`` unless ``ones`` (unit bin scales, no
    weights), another register's row or scalar stored (``own[i] = 1``) or
    added. :func:`_expression` and :func:`.expr_gram.evaluate_gram` both end so.
    """
    for i in range(m):
        j = col[k0 + i]
        if j < 0:  # a fixed parameter's derivative: not needed
            continue
        gr = out[o0 + 1 + i]
        Jj = J[j]
        if own[i] == 2:
            if not ones:
                _scale_row(Jj, bs, w, use_w)
        elif isvec[gr]:
            _add_row(R[gr], Jj, bs, w, use_w, True, own[i] == 1)
        else:
            _add_const(R[gr, 0], Jj, bs, w, use_w, own[i] == 1)


@njit(cache=True, error_model="numpy")
def _scale_row(dst, bs, w, use_w):
    """``dst ·= bs·w`` (``bs`` without weights): as :func:`_add_row` scales."""
    if use_w:
        for n in range(dst.size):
            dst[n] = dst[n] * (bs[n] * w[n])
    else:
        for n in range(dst.size):
            dst[n] = dst[n] * bs[n]


@njit(cache=True, error_model="numpy")
def _add_row(rv, dst, bs, w, use_w, scale, put):
    """``dst += rv`` (a value), or with ``scale`` ``dst += rv·bs·w`` (a
    derivative; ``bs`` without weights); with ``put`` stored, not added.
    """
    if not scale:
        if put:
            for n in range(dst.size):
                dst[n] = rv[n]
        else:
            for n in range(dst.size):
                dst[n] += rv[n]
    elif use_w:
        if put:
            for n in range(dst.size):
                dst[n] = rv[n] * (bs[n] * w[n])
        else:
            for n in range(dst.size):
                dst[n] += rv[n] * (bs[n] * w[n])
    elif put:
        for n in range(dst.size):
            dst[n] = rv[n] * bs[n]
    else:
        for n in range(dst.size):
            dst[n] += rv[n] * bs[n]


@njit(cache=True, error_model="numpy")
def _add_const(s, dst, bs, w, use_w, put):
    """``dst += s·bs·w`` (``bs`` without weights); with ``put`` stored."""
    if use_w:
        if put:
            for n in range(dst.size):
                dst[n] = s * (bs[n] * w[n])
        else:
            for n in range(dst.size):
                dst[n] += s * (bs[n] * w[n])
    elif put:
        for n in range(dst.size):
            dst[n] = s * bs[n]
    else:
        for n in range(dst.size):
            dst[n] += s * bs[n]


@njit(cache=True, error_model="numpy")
def _lorentzian(q, k0, col, x, lo, hi, bs, w, use_w, f, J, P, assign=False):
    """``A γ / (π ((x − c)² + γ²))`` and its derivatives over ``[lo, hi)``:
    one division per channel (``1/D``), and loops over row slices indexed from
    0 so they vectorise (a signed index from ``lo`` makes numba check for a
    negative index and the loop gather). A fixed parameter's derivative goes
    to the scratch row ``P`` (no test per channel: a loop with one was 0.3 µs
    slower over 800 channels). With ``assign`` the columns are written, not
    added to (see :func:`_claim`).
    """
    A = q[k0]
    gam = q[k0 + 1]
    c0 = q[k0 + 2]
    ja = col[k0] if col[k0] >= 0 else P
    jg = col[k0 + 1] if col[k0 + 1] >= 0 else P
    jc = col[k0 + 2] if col[k0 + 2] >= 0 else P
    xs = x[lo:hi]
    fs = f[lo:hi]
    bss = bs[lo:hi]
    ws = w[lo:hi] if use_w else bs[lo:hi]
    Ja = J[ja, lo:hi]
    Jg = J[jg, lo:hi]
    Jc = J[jc, lo:hi]
    a = gam / math.pi
    b = A / math.pi
    g2 = gam * gam
    if assign:
        for n in range(xs.size):
            u = xs[n] - c0
            iD = 1.0 / (u * u + g2)
            sn = bss[n] * ws[n] if use_w else bss[n]
            v = a * iD
            fs[n] += A * v
            Ja[n] = v * sn
            bi = b * iD * iD * sn
            Jg[n] = (u * u - g2) * bi
            Jc[n] = 2.0 * gam * u * bi
        return
    for n in range(xs.size):
        u = xs[n] - c0
        iD = 1.0 / (u * u + g2)
        sn = bss[n] * ws[n] if use_w else bss[n]
        v = a * iD
        fs[n] += A * v
        Ja[n] += v * sn
        bi = b * iD * iD * sn
        Jg[n] += (u * u - g2) * bi
        Jc[n] += 2.0 * gam * u * bi


@njit(cache=True, error_model="numpy")
def _powerlaw(q, k0, col, x, lo, hi, ascending, bs, w, use_w, f, J, R, ex, c, P, assign=False):
    """``A (x − origin)^−r`` where ``x > left_cutoff`` and ``x > origin``, else
    0 (the left cut-off is fixed on this path: its derivative is a delta).

    As ``exp(−r · log d)``, ``d = x − origin``: ``log d`` and ``1/d`` come from
    the table :mod:`.lower` makes when the origin is the same fixed number in
    every pixel (the constants of the component's empty program, checked
    against the origin here), else once per channel; the exponential is
    :func:`.vexp.exp_into` over contiguous rows. One vector exponential per
    channel instead of a ``pow`` and a ``log``; the value differs from
    ``d**−r`` by about ``|r log d|`` ulp. Rows 0–3 of ``R`` are its scratch
    (``lower`` reserves them).

    On ascending channels with a finite origin and cut-off, ``[lo, hi)`` is
    where both conditions hold (:func:`_window`) and nothing is masked;
    elsewhere every channel, masked. The value and the amplitude's and
    exponent's columns in one loop without a test (a fixed parameter's
    derivative goes to the scratch row ``P``, as in :func:`_lorentzian`; a
    loop with a test per column does not vectorise); the origin's column,
    rarely free, in its own. With ``assign`` the columns are written, not
    added to (see :func:`_claim`).
    """
    A = q[k0]
    rr = q[k0 + 1]
    x0 = q[k0 + 2]
    xc = q[k0 + 3]
    N = x.size
    if hi <= lo:
        return
    e = ex[6][c]
    L = R[1]
    iD = R[2]
    table = False
    if e >= 0:
        t0 = ex[0][e, 4]
        tab = ex[4][t0:t0 + ex[0][e, 5]]
        if tab.size == 2 * N + 1 and tab[0] == x0:
            L = tab[1:N + 1]
            iD = tab[N + 1:]
            table = True
    if not table:
        for n in range(lo, hi):
            d = x[n] - x0
            if d > 0:
                L[n] = math.log(d)
                iD[n] = 1.0 / d
            else:
                L[n] = 0.0
                iD[n] = 0.0
    Ls = L[lo:hi]
    iDs = iD[lo:hi]
    ts = R[3, lo:hi]
    gs = R[0, lo:hi]
    for n in range(ts.size):
        ts[n] = -rr * Ls[n]
    _vexp(ts, gs)
    if not (ascending and math.isfinite(x0) and math.isfinite(xc)):
        xs = x[lo:hi]
        for n in range(gs.size):
            gs[n] = gs[n] if (xs[n] > xc and xs[n] - x0 > 0) else 0.0
    fs = f[lo:hi]
    bss = bs[lo:hi]
    ws = w[lo:hi] if use_w else bss
    ja = col[k0] if col[k0] >= 0 else P
    jr = col[k0 + 1] if col[k0 + 1] >= 0 else P
    jo = col[k0 + 2]
    Ja = J[ja, lo:hi]
    Jr = J[jr, lo:hi]
    if assign:
        for n in range(gs.size):
            sn = bss[n] * ws[n] if use_w else bss[n]
            fs[n] += A * gs[n]
            Ja[n] = gs[n] * sn
            Jr[n] = -A * gs[n] * Ls[n] * sn
    else:
        for n in range(gs.size):
            sn = bss[n] * ws[n] if use_w else bss[n]
            fs[n] += A * gs[n]
            Ja[n] += gs[n] * sn
            Jr[n] += -A * gs[n] * Ls[n] * sn
    if jo >= 0:
        Jj = J[jo, lo:hi]
        if assign:
            for n in range(Jj.size):
                Jj[n] = A * rr * gs[n] * iDs[n] * (bss[n] * ws[n] if use_w else bss[n])
        else:
            for n in range(Jj.size):
                Jj[n] += A * rr * gs[n] * iDs[n] * (bss[n] * ws[n] if use_w else bss[n])
