"""The compiled kernel's solver for ill-conditioned and rank-deficient steps.

Where the scaled Gram matrix ``Gs = D⁻¹JᵀJD⁻¹`` is singular or too ill
conditioned for Cholesky (``cond(J D⁻¹) > GRAM_MAX_COND``), the fused
Levenberg–Marquardt (:mod:`.kernels`) factorises the scaled Jacobian
itself, as the NumPy reference does (:func:`._lm_steps.factorize`), instead of
handing the pixel back to NumPy (20 ms an iteration there, against tens of
microseconds here).

Why this factorisation. Three candidates were weighed:

* a regularised normal-equation step (``Gs + μI``) is cheap but squares the
  condition number: singular values below ``√ε·s_max`` are lost, so the
  steps and the final polishing differ from the reference exactly on the
  pixels that need care, and it has no rank test for the covariance;
* QR with column pivoting gives a rank-revealing triangle but the damped
  step for each trial ``λ`` of the trust region then needs a new
  ``(P+N)×P`` factorisation (MINPACK's ``qrsolv``), and the
  Newton iteration on ``‖z(λ)‖ = Δ`` a triangular solve each;
* Householder QR of the ``N×P`` scaled Jacobian (``2NP²`` flops, backward
  stable: the singular values of ``R`` are those of ``J D⁻¹`` to
  ``ε‖J‖``, as LAPACK's SVD) followed by a one-sided Jacobi SVD of the small
  ``P×P`` triangle (Hestenes; converges quadratically, accurate even for tiny
  singular values) gives ``J D⁻¹ = U diag(s) Vᵀ`` — the reference's own
  factorisation. One factorisation then serves every ``λ`` tried at a point
  (``z(λ) = V diag(s/(s²+λ)) Uᵀr``), the Gauss–Newton step is the
  minimum-norm pseudo-inverse over the singular values above the
  reference's rank cut, and the covariance uses the same rank test.

The third is used: the same equations as the reference, so the same minima,
with no Python and no allocation per iteration (the work arrays are made once
per pixel, when first needed).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_RCOND = 1e-13  # as _lm_steps.RCOND
_JACOBI_SWEEPS = 60


@njit(cache=True, error_model="numpy")
def factor(J, jlo, jhi, r, Dn, rel, A, qtr, Rt, vt, s, c):
    """SVD of the scaled Jacobian ``J D⁻¹`` (columns not in ``rel`` zeroed).

    ``J`` is (≥P, N) with column ``j`` of the Jacobian in row ``J[j]``, zero
    outside ``[jlo[j], jhi[j])``; ``r`` the residuals. Fills ``s`` (P) with the
    singular values, ``vt`` (P, P) with the right singular vectors as rows and
    ``c = Uᵀr`` (0 where ``s = 0``). ``A`` (P, N), ``qtr`` (N) and ``Rt``
    (P, P) are work arrays.
    """
    P = s.size
    N = r.size
    for j in range(P):
        for n in range(N):
            A[j, n] = 0.0
        if rel[j]:
            for n in range(jlo[j], jhi[j]):
                A[j, n] = J[j, n] / Dn[j]
    for n in range(N):
        qtr[n] = r[n]
    for i in range(P):
        for j in range(P):
            Rt[i, j] = 0.0
    # Householder QR: A = Q R, R stored transposed (Rt[j] is column j of R)
    for k in range(min(N, P)):
        norm = 0.0
        for n in range(k, N):
            norm += A[k, n] * A[k, n]
        norm = math.sqrt(norm)
        if norm == 0.0:
            for j in range(k + 1, P):
                Rt[j, k] = A[j, k]
            continue
        alpha = -norm if A[k, k] >= 0.0 else norm
        A[k, k] -= alpha  # A[k, k:] is now the Householder vector v
        beta = 0.0
        for n in range(k, N):
            beta += A[k, n] * A[k, n]
        beta = 2.0 / beta
        for j in range(k + 1, P):
            t = 0.0
            for n in range(k, N):
                t += A[k, n] * A[j, n]
            t *= beta
            for n in range(k, N):
                A[j, n] -= t * A[k, n]
            Rt[j, k] = A[j, k]
        t = 0.0
        for n in range(k, N):
            t += A[k, n] * qtr[n]
        t *= beta
        for n in range(k, N):
            qtr[n] -= t * A[k, n]
        Rt[k, k] = alpha
    # one-sided Jacobi (Hestenes) on the columns of R: R V = U diag(s)
    for i in range(P):
        for j in range(P):
            vt[i, j] = 1.0 if i == j else 0.0
    eps = np.finfo(np.float64).eps
    for _ in range(_JACOBI_SWEEPS):
        rotated = False
        for p in range(P - 1):
            for q in range(p + 1, P):
                a = 0.0
                b = 0.0
                g = 0.0
                for i in range(P):
                    a += Rt[p, i] * Rt[p, i]
                    b += Rt[q, i] * Rt[q, i]
                    g += Rt[p, i] * Rt[q, i]
                if g == 0.0 or abs(g) <= eps * math.sqrt(a * b):
                    continue
                rotated = True
                zeta = (b - a) / (2.0 * g)
                t = (1.0 if zeta >= 0.0 else -1.0) / (abs(zeta) + math.sqrt(1.0 + zeta * zeta))
                cs = 1.0 / math.sqrt(1.0 + t * t)
                sn = cs * t
                for i in range(P):
                    u = Rt[p, i]
                    w = Rt[q, i]
                    Rt[p, i] = cs * u - sn * w
                    Rt[q, i] = sn * u + cs * w
                    u = vt[p, i]
                    w = vt[q, i]
                    vt[p, i] = cs * u - sn * w
                    vt[q, i] = sn * u + cs * w
        if not rotated:
            break
    m = min(N, P)
    for k in range(P):
        nrm = 0.0
        for i in range(P):
            nrm += Rt[k, i] * Rt[k, i]
        s[k] = math.sqrt(nrm)
        acc = 0.0
        for i in range(m):
            acc += Rt[k, i] * qtr[i]
        c[k] = acc / s[k] if s[k] > 0.0 else 0.0


@njit(cache=True, error_model="numpy")
def cut(s, N):
    """The reference's rank cut: singular values at or below it are dropped."""
    big = 0.0
    for k in range(s.size):
        big = max(big, s[k])
    return _RCOND * big * max(N, s.size)


@njit(cache=True, error_model="numpy")
def gauss_newton(s, vt, c, N, z):
    """Minimum-norm Gauss–Newton step over the kept singular values into
    ``z``; returns the reduction it predicts, ``Σ c²`` over them.
    """
    P = s.size
    floor = cut(s, N)
    gain = 0.0
    for i in range(P):
        z[i] = 0.0
    for k in range(P):
        if s[k] > floor:
            gain += c[k] * c[k]
            a = c[k] / s[k]
            for i in range(P):
                z[i] += a * vt[k, i]
    return gain


@njit(cache=True, error_model="numpy")
def trust_step(s, vt, c, N, delta, lam, z):
    """``λ`` with ``‖z(λ)‖ ≈ Δ`` and the step ``z(λ) = V diag(s/(s²+λ)) c``:
    the reference's ``_lm_steps.trust_lambda`` (same start, bounds, twelve
    Newton iterations on the secular equation) followed by ``damped``.
    """
    P = s.size
    floor_s = cut(s, N)
    total = 0.0
    for k in range(P):
        if s[k] > floor_s:
            total += (s[k] * c[k]) ** 2
    upper = math.sqrt(total) / delta
    floor = 1e-15 * upper
    if not (lam > 0.0) or not math.isfinite(lam):
        lam = 1e-3 * upper
    lam = min(max(lam, floor), upper)
    for _ in range(12):
        n2 = 0.0
        d3 = 0.0
        for k in range(P):
            if s[k] > floor_s:
                sc2 = (s[k] * c[k]) ** 2
                d = s[k] * s[k] + lam
                n2 += sc2 / (d * d)
                d3 += sc2 / (d * d * d)
        n = math.sqrt(n2)
        dn = -d3 / n
        new = lam + (n / dn) * (delta - n) / delta
        if not math.isfinite(new):
            new = upper
        lam = min(max(new, floor), upper)
    if not math.isfinite(lam):
        lam = 0.0
    for i in range(P):
        z[i] = 0.0
    for k in range(P):
        if lam > 0.0:
            a = s[k] / (s[k] * s[k] + lam) * c[k]
        elif s[k] > floor_s:
            a = c[k] / s[k]
        else:
            a = 0.0
        for i in range(P):
            z[i] += a * vt[k, i]
    return lam


@njit(cache=True, error_model="numpy")
def predicted(s, vt, c, z):
    """Reduction of ``‖r‖²`` the linear model predicts for the scaled step
    ``z``: ``2 cᵀw − ‖w‖²`` with ``w = diag(s) Vᵀ z`` (no cancellation).
    """
    P = s.size
    pred = 0.0
    for k in range(P):
        w = 0.0
        for i in range(P):
            w += vt[k, i] * z[i]
        w *= s[k]
        pred += w * (2.0 * c[k] - w)
    return pred


@njit(cache=True, error_model="numpy")
def covariance(s, vt, rel, D, N, out):
    """``(JᵀJ)⁻¹`` from the SVD of ``J D⁻¹`` over the relevant columns, NaN
    where the relevant columns are rank deficient by the reference's cut.
    """
    P = s.size
    for i in range(P):
        for j in range(P):
            out[i, j] = np.nan
    n_rel = 0
    for i in range(P):
        if rel[i]:
            n_rel += 1
    floor = cut(s, N)
    kept = 0
    for k in range(P):
        if s[k] > floor:
            kept += 1
    if n_rel == 0 or kept < n_rel:
        return
    for i in range(P):
        if not rel[i]:
            continue
        for j in range(P):
            if not rel[j]:
                continue
            acc = 0.0
            for k in range(P):
                if s[k] > floor:
                    acc += vt[k, i] * vt[k, j] / (s[k] * s[k])
            out[i, j] = acc / (D[i] * D[j])
