"""The Voigt profile in the fused kernel: the Faddeeva function in numba.

``w(z) = e^{−z²} erfc(−iz)`` for ``Im z ≥ 0`` is computed by region, on
``a = |z|²`` (below the real axis ``w(z) = 2 e^{−z²} − w(−z)``):

* ``|z| < 6.5`` (the core of a line): Weideman's rational expansion
  (J. A. C. Weideman, "Computation of the complex error function",
  SIAM J. Numer. Anal. 31, 1497 (1994)) with ``N = 40`` terms,

  .. math::

      w(z) = \\frac{2\\,p(Z)}{(L - iz)^2} + \\frac{1/\\sqrt\\pi}{L - iz},
      \\qquad Z = \\frac{L + iz}{L - iz}, \\quad L = \\sqrt{N/\\sqrt2},

  the coefficients of the degree-``N−1`` polynomial ``p`` computed once, by
  an FFT, at import;
* ``|z| ≥ 6.5`` (the wings, most channels of a spectrum): Laplace's
  continued fraction ``w(z) = (i/√π) / (z − ½/(z − 1/(z − 3/2/(z − …))))``
  (used for large ``|z|`` by W. Gautschi, "Efficient computation of the
  complex error function", SIAM J. Numer. Anal. 7, 187 (1970)) cut after ``K`` terms, ``K = 16`` from 6.5,
  10 from 8, 6 from 15.5. Its ``K``-th convergent is a ratio of two
  polynomials (the numerator and denominator recurrences of the fraction),
  even or odd in ``z``: they are evaluated by Horner's rule in ``z²`` with
  real coefficients (built exactly, from fractions, at import) and one
  complex division, rather than ``K`` dependent divisions. Beyond
  ``|z| = 10⁶`` one term, ``(i/√π)/(z − ½/z)``, is exact to rounding and
  cannot overflow.

The boundaries were chosen against ``mpmath`` (30 digits) on a grid of
``x, y ∈ [0, 80]``: every region is within ``1.5e-15 |w|`` of it. Against
``scipy.special.wofz`` on the grid ``x ∈ ±[1e-3, 1e3]`` (logarithmic, and
0, and linear to ±30), ``y ∈ {0} ∪ [1e-8, 1e3]`` the worst relative
difference is ``2.1e-14 |w|`` — ``wofz``'s own error near ``|z| ≈ 8``, where
mpmath agrees with this module to ``1e-15``
(tests/optimizers/test_voigt_faddeeva.py prints both).

:func:`evaluate` (the Voigt component) computes ``w`` for all its channels
at once: with ``z = (x − centre + iγ)/(σ√2)`` the imaginary part is the same
for every channel, consecutive channels of one region form a run (at most
nine on a sorted axis), and each run's polynomial is evaluated with the
channel loop innermost, two Horner steps per pass, so the compiler
vectorises it (about 4 ns per ``w`` in the wings, 8 ns in the core, against
77 ns for the per-channel Weideman before). The derivative is
``w'(z) = −2 z w(z) + 2i/√π``, from the same ``w`` (one ``w`` per channel
and evaluation). No channel is skipped: the Lorentzian wings fall as
``1/x²``, and a window would change the model.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numba import njit

_N = 40
_SQRT_PI = math.sqrt(math.pi)
_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_RSQPI = 1.0 / _SQRT_PI


def _coefficients(N: int):
    M = 2 * N
    k = np.arange(-M + 1, M)
    L = math.sqrt(N / math.sqrt(2.0))
    t = L * np.tan(k * np.pi / (2.0 * M))
    f = np.concatenate([[0.0], np.exp(-t * t) * (L * L + t * t)])
    a = np.real(np.fft.fft(np.fft.fftshift(f))) / (2.0 * M)
    return L, np.ascontiguousarray(a[1:N + 1][::-1])  # highest degree first (Horner)


def _convergent(K: int):
    """Laplace's continued fraction cut after an even number ``K`` of terms as
    ``(i/√π) P(z²) / (z Q(z²))``: ``(P, Q)``, highest degree first.

    The tail ``t = z − (k/2)/t`` (``k = K … 1``, from ``t = z``) is a ratio
    ``num/den`` of polynomials (``num`` odd, ``den`` even for even ``K``);
    ``w = (i/√π) den/num``. Exact in fractions.
    """
    if K % 2:
        raise ValueError(f"K must be even, got {K}")
    num = [Fraction(0), Fraction(1)]  # lowest degree first
    den = [Fraction(1)]
    for k in range(K, 0, -1):
        znum = [Fraction(0)] + num
        kden = [Fraction(k, 2) * c for c in den] + [Fraction(0)] * (len(znum) - len(den))
        num, den = [p - q for p, q in zip(znum, kden)], num
    as_array = lambda c: np.array([float(v) for v in c[::-1]])  # noqa: E731
    return as_array(den[0::2]), as_array(num[1::2])


def _padded(*coefficients, to=2):
    """The coefficient arrays (highest degree first) padded in front with zeros to
    one length, a multiple of ``to`` (Horner from ``p = 0``: leading zeros are exact).
    """
    n = max(c.size for c in coefficients)
    n += -n % to
    return tuple(np.ascontiguousarray(np.concatenate([np.zeros(n - c.size), c])) for c in coefficients)


_L, _A = _coefficients(_N)
(_A,) = _padded(_A)
_P6, _Q6 = _padded(*_convergent(6), to=6)  # 4 coefficients each, run by _fraction_short
_P10, _Q10 = _padded(*_convergent(10), to=6)  # 6 each
_P16, _Q16 = _padded(*_convergent(16))  # 9 each → 10, run by _fraction

# region boundaries on a = |z|² (see the module docstring)
_A_ONE = 1e12  # |z| ≥ 1e6: one term
_A_K6 = 15.5 ** 2
_A_K10 = 8.0 ** 2
_A_K16 = 6.5 ** 2

# ``fastmath`` here only lets the compiler fuse a*b + c into one FMA (fewer
# roundings, not more); tests/optimizers/test_voigt_faddeeva.py holds the
# result to 3e-15 |w| of mpmath.
_FAST = {"contract"}


# region r covers _EDGES[r + 1] ≤ |z|² < _EDGES[r]
_EDGES = np.array([np.inf, _A_ONE, _A_K6, _A_K10, _A_K16, -np.inf])


@njit(cache=True, error_model="numpy")
def _region(a):
    if a >= _A_K6:
        return 0 if a >= _A_ONE else 1
    if a >= _A_K10:
        return 2
    return 3 if a >= _A_K16 else 4  # (and NaN)


@njit(cache=True, error_model="numpy")
def _one_term(tt, y, wr, wi):
    for k in range(tt.size):
        z = complex(tt[k], y)
        w = (1j * _RSQPI) / (z - 0.5 / z)
        wr[k] = w.real
        wi[k] = w.imag


@njit(cache=True, error_model="numpy", fastmath=_FAST)
def _fraction_short(tt, y, P, Q, wr, wi):
    """``w`` at ``tt + iy`` from the convergent ``(i/√π) P(z²) / (z Q(z²))`` with
    6 coefficients each (padded), in registers: one vectorised pass.
    """
    y2 = y * y
    a0, a1, a2, a3, a4, a5 = P[0], P[1], P[2], P[3], P[4], P[5]
    b0, b1, b2, b3, b4, b5 = Q[0], Q[1], Q[2], Q[3], Q[4], Q[5]
    for k in range(tt.size):
        t = tt[k]
        Zr = t * t - y2
        Zi = 2.0 * t * y
        u = a0 * Zr + a1
        v = a0 * Zi
        r = u * Zr - v * Zi + a2
        v = u * Zi + v * Zr
        u = r
        r = u * Zr - v * Zi + a3
        v = u * Zi + v * Zr
        u = r
        r = u * Zr - v * Zi + a4
        v = u * Zi + v * Zr
        u = r
        r = u * Zr - v * Zi + a5
        v = u * Zi + v * Zr
        u = r
        p = b0 * Zr + b1
        q = b0 * Zi
        r = p * Zr - q * Zi + b2
        q = p * Zi + q * Zr
        p = r
        r = p * Zr - q * Zi + b3
        q = p * Zi + q * Zr
        p = r
        r = p * Zr - q * Zi + b4
        q = p * Zi + q * Zr
        p = r
        r = p * Zr - q * Zi + b5
        q = p * Zi + q * Zr
        p = r
        _quotient(t, y, u, v, p, q, wr, wi, k)


@njit(cache=True, error_model="numpy", fastmath=_FAST, inline="always")
def _quotient(t, y, u, v, p, q, wr, wi, k):
    """``w[k] = (i/√π) (u + iv) / ((t + iy)(p + iq))``."""
    nr = -v  # i (u + iv)
    ni = u
    dr = t * p - y * q
    di = t * q + y * p
    g = _RSQPI / (dr * dr + di * di)
    wr[k] = (nr * dr + ni * di) * g
    wi[k] = (ni * dr - nr * di) * g


@njit(cache=True, error_model="numpy", fastmath=_FAST)
def _fraction(tt, y, P, Q, wr, wi, pr, pi, qr, qi):
    """``w`` at ``tt + iy`` from the convergent ``(i/√π) P(z²) / (z Q(z²))``
    (padded to one even length) into ``wr, wi`` (``pr … qi``: scratch); two
    Horner steps of both polynomials per pass, the channel loop innermost
    (vectorised).
    """
    m = tt.size
    y2 = y * y
    for k in range(m):
        pr[k] = 0.0
        pi[k] = 0.0
        qr[k] = 0.0
        qi[k] = 0.0
    for i in range(0, P.size, 2):
        a0 = P[i]
        a1 = P[i + 1]
        b0 = Q[i]
        b1 = Q[i + 1]
        for k in range(m):
            t = tt[k]
            Zr = t * t - y2
            Zi = 2.0 * t * y
            u = pr[k]
            v = pi[k]
            r = u * Zr - v * Zi + a0
            v = u * Zi + v * Zr
            u = r
            r = u * Zr - v * Zi + a1
            pi[k] = u * Zi + v * Zr
            pr[k] = r
            u = qr[k]
            v = qi[k]
            r = u * Zr - v * Zi + b0
            v = u * Zi + v * Zr
            u = r
            r = u * Zr - v * Zi + b1
            qi[k] = u * Zi + v * Zr
            qr[k] = r
    for k in range(m):
        _quotient(tt[k], y, pr[k], pi[k], qr[k], qi[k], wr, wi, k)


@njit(cache=True, error_model="numpy", fastmath=_FAST)
def _weideman(tt, y, wr, wi, pr, pi, Zr, Zi):
    """Weideman's ``w`` at ``tt + iy`` into ``wr, wi``; two Horner steps per
    pass, the channel loop innermost (vectorised).
    """
    m = tt.size
    # d = L − iz = (L + y) − i t;  Z = (L + iz)/d = (L − y + i t)/d
    a = _L + y
    b = _L - y
    for k in range(m):
        t = tt[k]
        g = 1.0 / (a * a + t * t)  # 1/|d|²
        # (b + i t)(a + i t) / |d|²
        Zr[k] = (b * a - t * t) * g
        Zi[k] = (b * t + t * a) * g
        pr[k] = 0.0
        pi[k] = 0.0
    for i in range(0, _A.size, 2):
        c0 = _A[i]
        c1 = _A[i + 1]
        for k in range(m):
            zr = Zr[k]
            zi = Zi[k]
            u = pr[k]
            v = pi[k]
            r = u * zr - v * zi + c0
            v = u * zi + v * zr
            u = r
            r = u * zr - v * zi + c1
            pi[k] = u * zi + v * zr
            pr[k] = r
    for k in range(m):
        t = tt[k]
        g = 1.0 / (a * a + t * t)
        er = a * g  # e = 1/d = (a + i t)/|d|²
        ei = t * g
        # w = (2 p e + 1/√π) e
        ur = 2.0 * (pr[k] * er - pi[k] * ei) + _RSQPI
        ui = 2.0 * (pr[k] * ei + pi[k] * er)
        wr[k] = ur * er - ui * ei
        wi[k] = ur * ei + ui * er


@njit(cache=True, error_model="numpy")
def faddeeva_block(t, y, wr, wi):
    """``w(t[n] + iy)`` for every ``n`` into ``wr, wi``; ``y ≥ 0`` (see the module).

    Consecutive channels of one region are one run (sorted ``x``: at most nine
    runs), each run computed by its region's vectorised loop.
    """
    n = t.size
    S = np.empty((4, 0))  # scratch of the multi-pass regions, made when one comes
    y2 = y * y
    j0 = 0
    while j0 < n:
        r = _region(t[j0] * t[j0] + y2)
        lo = _EDGES[r + 1] - y2  # the run goes on while lo ≤ t² < hi
        hi = _EDGES[r] - y2
        j1 = j0 + 1
        while j1 < n:
            s2 = t[j1] * t[j1]
            if s2 < lo or s2 >= hi:
                break
            j1 += 1
        m = j1 - j0
        tt = t[j0:j1]
        br = wr[j0:j1]
        bi = wi[j0:j1]
        if r >= 3 and S.shape[1] < m:
            S = np.empty((4, n))
        if r == 0:
            _one_term(tt, y, br, bi)
        elif r == 1:
            _fraction_short(tt, y, _P6, _Q6, br, bi)
        elif r == 2:
            _fraction_short(tt, y, _P10, _Q10, br, bi)
        elif r == 3:
            _fraction(tt, y, _P16, _Q16, br, bi, S[0, :m], S[1, :m], S[2, :m], S[3, :m])
        else:
            _weideman(tt, y, br, bi, S[0, :m], S[1, :m], S[2, :m], S[3, :m])
        j0 = j1


@njit(cache=True, error_model="numpy")
def faddeeva(z):
    """``w(z) = e^{−z²} erfc(−iz)`` for one complex ``z`` (see the module)."""
    up = z if z.imag >= 0.0 else -z
    t = np.empty(1)
    t[0] = up.real
    wr = np.empty(1)
    wi = np.empty(1)
    faddeeva_block(t, up.imag, wr, wi)
    w = complex(wr[0], wi[0])
    if z.imag >= 0.0:
        return w
    return 2.0 * np.exp(-z * z) - w


@njit(cache=True, error_model="numpy")
def evaluate(q, k0, col, x, lo, hi, bs, w, use_w, f, J, P):
    """Add a Voigt component (``q[k0:k0+4]`` = centre, area, gamma, sigma) to
    the model ``f`` and its weighted derivatives to ``J`` (a fixed parameter's
    to the scratch row ``P``), as ``components.lineshapes.Voigt``.
    """
    centre = q[k0]
    area = q[k0 + 1]
    gamma = q[k0 + 2]
    sigma = q[k0 + 3]
    jc = col[k0] if col[k0] >= 0 else P
    ja = col[k0 + 1] if col[k0 + 1] >= 0 else P
    jg = col[k0 + 2] if col[k0 + 2] >= 0 else P
    js = col[k0 + 3] if col[k0 + 3] >= 0 else P
    if hi <= lo:
        return
    s = sigma * _SQRT2
    k = 1.0 / (sigma * _SQRT2PI)
    y = gamma / s
    n = hi - lo
    tw = np.empty((3, n))
    t = tw[0]
    wr = tw[1]
    wi = tw[2]
    for i in range(n):
        t[i] = (x[lo + i] - centre) / s
    if y >= 0.0 or y != y:
        faddeeva_block(t, y, wr, wi)
    else:  # gamma < 0 or sigma < 0 (a free fit can step there): w(z) = 2 e^{−z²} − w(−z)
        for i in range(n):
            t[i] = -t[i]
        faddeeva_block(t, -y, wr, wi)
        for i in range(n):
            t[i] = -t[i]
            e = 2.0 * np.exp(-complex(t[i], y) ** 2)
            wr[i] = e.real - wr[i]
            wi[i] = e.imag - wi[i]
    two = 2.0 * _RSQPI
    ak = area * k
    for i in range(n):
        nn = lo + i
        ti = t[i]
        # w' = −2 z w + 2i/√π, z = t + iy
        dr = -2.0 * (ti * wr[i] - y * wi[i])
        di = -2.0 * (ti * wi[i] + y * wr[i]) + two
        f[nn] += ak * wr[i]
        sn = bs[nn] * (w[nn] if use_w else 1.0)
        J[jc, nn] += -ak * dr / s * sn
        J[ja, nn] += k * wr[i] * sn
        J[jg, nn] += -ak * di / s * sn
        # Re(z w') = t dr − y di
        J[js, nn] += -ak * (wr[i] + ti * dr - y * di) / sigma * sn
