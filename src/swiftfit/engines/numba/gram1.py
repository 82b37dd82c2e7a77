"""The Gram matrix of up to five Jacobian rows that share one range of
channels, in one pass (issue 16, multiexp).

:func:`.gram.gram` takes a Gram matrix as dot products of row pairs: for
five rows and ``Jᵀr``, seven passes over the channels (``_dot2x4`` /
``_dot2x1`` / ``_dot``), each a call with its own slices and its own
horizontal sum. Here the fifteen products of the upper triangle and the five
of ``Jᵀr`` are twenty sums of one loop that reads each row once (six loads
for twenty multiply-adds per channel; AVX-512 holds the twenty accumulators
in registers). Reassociated as :func:`.gram._dot` is: the entries differ from
the pairwise sums in their rounding only (``≤ 2Nε`` of ``Σ|J_i J_j|``,
tested in ``tests/optimizers/test_gram_one_pass.py``).
"""

from __future__ import annotations

from numba import njit

ONE_PASS_MAX = 5  # rows: 15 + 5 accumulators (more would spill the 32 vector registers)
ONE_PASS_MIN = 3  # fewer rows: the padded rows' products would be most of the work


@njit(cache=True, error_model="numpy")
def one_pass_ok(jlo, jhi, P, N):
    """Whether :func:`gram_one_pass` takes the Gram matrix: ``ONE_PASS_MIN ≤
    P ≤ ONE_PASS_MAX`` rows, all over one range of at least ``min_channels``
    channels (the short ranges of small problems keep :func:`.gram.gram`'s
    summation order: their kernel is tuned there, issue 16's Cpufit 5×5).
    """
    if P < ONE_PASS_MIN or P > ONE_PASS_MAX:
        return False
    lo = jlo[0]
    hi = jhi[0]
    if hi - lo < MIN_CHANNELS or lo < 0 or hi > N:
        return False
    for j in range(1, P):
        if jlo[j] != lo or jhi[j] != hi:
            return False
    return True


MIN_CHANNELS = 160  # as gram.GRAM_BLOCK: where the pairwise sums already pay


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
def _sums5(a0, a1, a2, a3, a4, rr):
    """The 15 products of the upper triangle of five rows and their 5 with ``rr``."""
    s00 = s01 = s02 = s03 = s04 = s11 = s12 = s13 = s14 = s22 = s23 = s24 = s33 = s34 = s44 = 0.0
    g0 = g1 = g2 = g3 = g4 = 0.0
    for n in range(rr.size):
        u0 = a0[n]
        u1 = a1[n]
        u2 = a2[n]
        u3 = a3[n]
        u4 = a4[n]
        v = rr[n]
        s00 += u0 * u0
        s01 += u0 * u1
        s02 += u0 * u2
        s03 += u0 * u3
        s04 += u0 * u4
        s11 += u1 * u1
        s12 += u1 * u2
        s13 += u1 * u3
        s14 += u1 * u4
        s22 += u2 * u2
        s23 += u2 * u3
        s24 += u2 * u4
        s33 += u3 * u3
        s34 += u3 * u4
        s44 += u4 * u4
        g0 += u0 * v
        g1 += u1 * v
        g2 += u2 * v
        g3 += u3 * v
        g4 += u4 * v
    return (s00, s01, s02, s03, s04, s11, s12, s13, s14, s22, s23, s24, s33, s34, s44, g0, g1, g2, g3, g4)


@njit(cache=True, error_model="numpy")
def gram_one_pass(J, P, lo, hi, r, G, g):
    """``G = JᵀJ`` and ``g = Jᵀr`` of rows ``0..P-1`` of ``J`` over ``[lo, hi)``
    (every row zero outside it), ``P ≤ ONE_PASS_MAX``, in one pass: rows
    past ``P`` read row 0 again and their sums are dropped. ``G`` is
    symmetric exactly (one sum per pair).
    """
    t = (J[0, lo:hi], J[min(1, P - 1), lo:hi], J[min(2, P - 1), lo:hi], J[min(3, P - 1), lo:hi],
         J[min(4, P - 1), lo:hi])
    s = _sums5(t[0], t[1], t[2], t[3], t[4], r[lo:hi])
    k = 0
    for i in range(5):
        for j in range(i, 5):
            if i < P and j < P:
                G[i, j] = s[k]
                G[j, i] = s[k]
            k += 1
    for i in range(P):
        g[i] = s[15 + i]
