"""lm_linalg._scale (stop 28): the scaled normal equations of an iteration,
one division per symmetric pair, against the kernel's former loop bit for bit;
and the kernel's hot helpers compiled without numba's reference counting.

Truth: the former loop of ``kernels._fit_rows`` (``Gs[i, j] = G[i, j] /
(Dn[i]·Dn[j])`` over the ``act`` columns, the identity's rows elsewhere;
``gs[i] = g[i] / Dn[i]``), transcribed in Python floats (IEEE doubles: the
same quotients).
"""

from __future__ import annotations

import numpy as np
import pytest

from swiftfit.engines.numba import endcheck, gram, kernel_at, kernels, lm_linalg, lm_rules, roi2d


def _before(G, g, Dn, act):
    P = G.shape[0]
    Gs = np.empty((P, P))
    gs = np.empty(P)
    for i in range(P):
        gs[i] = g[i] / Dn[i] if act[i] else 0.0
        for j in range(P):
            if act[i] and act[j]:
                Gs[i, j] = G[i, j] / (Dn[i] * Dn[j])
            else:
                Gs[i, j] = 1.0 if i == j else 0.0
    return Gs, gs


def _same_bits(a, b):
    return np.array_equal(np.asarray(a).view(np.int64), np.asarray(b).view(np.int64))


@pytest.mark.parametrize("P", [1, 2, 5, 6, 9])
def test_scale_equals_the_former_loop_bit_for_bit(P):
    """Symmetric Gram matrices, asymmetric ones, signed zeros, NaN and ±inf
    entries, some columns off ``act``: every entry's bits as before."""
    rng = np.random.default_rng(P)
    for trial in range(200):
        J = rng.normal(size=(P, 7)) * rng.uniform(1e-3, 1e3, (P, 1))
        G = J @ J.T
        G = (G + G.T) / 2  # exactly symmetric, as every Gram matrix the kernel builds
        if trial % 4 == 1:
            G[rng.integers(P), rng.integers(P)] *= 1 + 1e-12  # not symmetric
        if trial % 4 == 2 and P > 1:
            i, j = rng.choice(P, 2, replace=False)
            G[i, j], G[j, i] = 0.0, -0.0  # equal, of opposite signs
        if trial % 4 == 3:
            G[rng.integers(P), rng.integers(P)] = rng.choice([np.nan, np.inf, -np.inf])
        g = rng.normal(size=P)
        Dn = np.sqrt(np.abs(np.diag(G))) * rng.uniform(1.0, 2.0, P)
        Dn[~np.isfinite(Dn) | (Dn == 0)] = 1.0
        act = rng.uniform(size=P) < 0.8
        Gs = np.full((P, P), 7.0)
        gs = np.full(P, 7.0)
        lm_linalg._scale(G, g, Dn, act, Gs, gs)
        Gs0, gs0 = _before(G, g, Dn, act)
        assert _same_bits(Gs, Gs0), trial
        assert _same_bits(gs, gs0), trial


@pytest.mark.parametrize("func", [
    roi2d.evaluate, roi2d.evaluate_gram, roi2d.evaluate_gram_at, roi2d._tail5, roi2d._tail6, roi2d.covers, roi2d.fits,
    lm_linalg._gn_factor, lm_linalg._backward, lm_linalg._cov_reuse, lm_linalg._scale, lm_linalg._trust_step,
    lm_rules._unzigzag, gram.reduction, gram._residuals, endcheck._check_ready, kernels._fill_q,
    kernel_at.reduction_at, endcheck._square_sums, lm_linalg._solve_damped, lm_rules._settled,
])
def test_hot_helpers_run_without_reference_counting(func):
    """The helpers a 5×5 fit calls per iteration take their arrays without
    numba's reference counts (``_nrt=False``; NRT_incref/decref were 21 % of the
    kernel's samples, issue 16): a helper that drops the option, or starts to
    allocate (which then fails to compile), shows here."""
    assert func.targetoptions.get("_nrt") is False
