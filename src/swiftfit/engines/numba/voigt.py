"""The Voigt profile in the fused kernel: the Faddeeva function in numba.

:func:`faddeeva` is Weideman's rational expansion (J. A. C. Weideman, SIAM
J. Numer. Anal. 31, 1497 (1994)) with ``N = 40`` terms,

.. math::

    w(z) = \\frac{2\\,p(Z)}{(L - iz)^2} + \\frac{1/\\sqrt\\pi}{L - iz},
    \\qquad Z = \\frac{L + iz}{L - iz}, \\quad L = \\sqrt{N/\\sqrt2},

valid for ``Im z ≥ 0`` (below the real axis ``w(z) = 2 e^{-z²} − w(−z)``).
The coefficients of the degree-``N−1`` polynomial ``p`` are computed once, by
an FFT, at import. From ``|z| ≥ 8`` Laplace's continued fraction (10 terms,
6 from ``|z| ≥ 15``) replaces it: as accurate there (≤ 1e-14 relative) and
about half the work (the far Lorentzian tails are most of a spectrum's
channels). Accuracy against ``scipy.special.wofz`` on the grid
``x ∈ ±[1e-3, 1e3]`` (logarithmic, and 0), ``y ∈ {0} ∪ [1e-6, 1e3]``
(tests/optimizers/test_fused_components.py): ``|Δw| ≤ 2e-14 |w|``
everywhere; the real part (what the Voigt profile uses) to ``1e-12``
relative where it is above ``1e-3 |w|`` — below that it is the far Gaussian
tail of a profile, and its error stays under ``2e-14 |w|`` in absolute terms.
The derivative is ``w'(z) = −2 z w(z) + 2i/√π``, as in the NumPy component.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_N = 40
_SQRT_PI = math.sqrt(math.pi)
_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


def _coefficients(N: int):
    M = 2 * N
    k = np.arange(-M + 1, M)
    L = math.sqrt(N / math.sqrt(2.0))
    t = L * np.tan(k * np.pi / (2.0 * M))
    f = np.concatenate([[0.0], np.exp(-t * t) * (L * L + t * t)])
    a = np.real(np.fft.fft(np.fft.fftshift(f))) / (2.0 * M)
    return L, np.ascontiguousarray(a[1:N + 1][::-1])  # highest degree first (Horner)


_L, _A = _coefficients(_N)


@njit(cache=True, error_model="numpy")
def _upper(z):
    d = _L - 1j * z
    Z = (_L + 1j * z) / d
    p = 0.0 + 0.0j
    for i in range(_A.size):
        p = p * Z + _A[i]
    return 2.0 * p / (d * d) + (1.0 / _SQRT_PI) / d


@njit(cache=True, error_model="numpy")
def _far(z, K):
    """Laplace's continued fraction ``w(z) = (i/√π) / (z − ½/(z − 1/(z − 3/2/(z − …))))``,
    ``K`` terms: far from the origin it is as accurate as :func:`_upper` and cheaper.
    """
    t = z
    for k in range(K, 0, -1):
        t = z - (0.5 * k) / t
    return (1j / _SQRT_PI) / t


@njit(cache=True, error_model="numpy")
def _upper_fast(z):
    a = z.real * z.real + z.imag * z.imag
    if a >= 225.0:  # |z| ≥ 15: 6 terms (≤ 7e-15 relative against wofz)
        return _far(z, 6)
    if a >= 64.0:  # |z| ≥ 8: 10 terms (≤ 1e-14)
        return _far(z, 10)
    return _upper(z)


@njit(cache=True, error_model="numpy")
def faddeeva(z):
    """``w(z) = e^{−z²} erfc(−iz)`` for a complex ``z`` (see the module)."""
    if z.imag >= 0.0:
        return _upper_fast(z)
    return 2.0 * np.exp(-z * z) - _upper_fast(-z)


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
    s = sigma * _SQRT2
    k = 1.0 / (sigma * _SQRT2PI)
    two_i = 2.0j / _SQRT_PI
    for n in range(lo, hi):
        z = complex(x[n] - centre, gamma) / s
        wz = faddeeva(z)
        dw = -2.0 * z * wz + two_i
        f[n] += area * k * wz.real
        sn = bs[n] * (w[n] if use_w else 1.0)
        J[jc, n] += -area * k * dw.real / s * sn
        J[ja, n] += k * wz.real * sn
        J[jg, n] += -area * k * dw.imag / s * sn
        J[js, n] += -area * k * (wz.real + (z * dw).real) / sigma * sn
