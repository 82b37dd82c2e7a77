"""ScalableFixedPattern in the fused kernel: a stored pattern, scaled and shifted.

The component (``compiled_kind = "spline"``) hands its tables over through
``compiled_tables()``; :mod:`.lower` packs them as one flat float vector
(the constants of an empty expression program, so the kernel's signature
does not change), read here:

* ``[0, n, y_0 … y_{n-1}]``: ``interpolate=False``, ``f = yscale · y`` on the
  pattern's own axis;
* ``[1, k, nt, nc, t…, c…, k', nt', nc', t'…, c'…, x_first, x_last]``: the
  B-spline ``s`` (degree ``k``, knots ``t``, coefficients ``c``) and its
  derivative's, evaluated by de Boor's algorithm as
  ``scipy.interpolate.BSpline`` does, at ``u = xscale·x − shift``, and 0
  outside ``[x_first, x_last]``.

``f = yscale · s(u)``, ``∂f/∂yscale = s(u)``, ``∂f/∂xscale = yscale · s'(u) · x``,
``∂f/∂shift = −yscale · s'(u)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def _deboor(t, c, k, u, d):
    """The spline ``Σ c_i B_{i,k}(u)`` for ``t[k] ≤ u ≤ t[nc]`` (``d``: scratch of ``k + 1``)."""
    nc = c.size
    ell = np.searchsorted(t, u, side="right") - 1
    ell = min(max(ell, k), nc - 1)
    for j in range(k + 1):
        d[j] = c[j + ell - k]
    for r in range(1, k + 1):
        for j in range(k, r - 1, -1):
            i = j + ell - k
            den = t[i + k + 1 - r] - t[i]
            a = (u - t[i]) / den if den != 0.0 else 0.0
            d[j] = (1.0 - a) * d[j - 1] + a * d[j]
    return d[k]


@njit(cache=True, error_model="numpy")
def evaluate(q, k0, col, x, bs, w, use_w, f, J, P, data):
    """Add a ScalableFixedPattern (``q[k0:k0+3]`` = yscale, xscale, shift;
    ``data`` its tables, see the module) to ``f`` and its weighted
    derivatives to ``J`` (fixed parameters' to the scratch row ``P``).
    """
    yscale = q[k0]
    xscale = q[k0 + 1]
    shift = q[k0 + 2]
    jy = col[k0] if col[k0] >= 0 else P
    jx = col[k0 + 1] if col[k0 + 1] >= 0 else P
    js = col[k0 + 2] if col[k0 + 2] >= 0 else P
    N = x.size
    if data[0] == 0.0:  # the pattern as it is
        n = int(data[1])
        for i in range(min(n, N)):
            v = data[2 + i]
            f[i] += yscale * v
            J[jy, i] += v * bs[i] * (w[i] if use_w else 1.0)
        return
    k = int(data[1])
    nt = int(data[2])
    nc = int(data[3])
    t = data[4:4 + nt]
    c = data[4 + nt:4 + nt + nc]
    o = 4 + nt + nc
    k2 = int(data[o])
    nt2 = int(data[o + 1])
    nc2 = int(data[o + 2])
    t2 = data[o + 3:o + 3 + nt2]
    c2 = data[o + 3 + nt2:o + 3 + nt2 + nc2]
    x_first = data[o + 3 + nt2 + nc2]
    x_last = data[o + 4 + nt2 + nc2]
    d = np.empty(k + 1)
    for n in range(N):
        u = xscale * x[n] - shift
        if not (u >= x_first and u <= x_last):
            continue
        s = _deboor(t, c, k, u, d)
        ds = yscale * _deboor(t2, c2, k2, u, d) if nc2 > 0 else 0.0
        f[n] += yscale * s
        sn = bs[n] * (w[n] if use_w else 1.0)
        J[jy, n] += s * sn
        J[jx, n] += ds * x[n] * sn
        J[js, n] += -ds * sn
