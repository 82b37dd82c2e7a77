"""Which free columns the compiled Levenberg–Marquardt may project linearly.

The fused kernel (:func:`.kernels._fit_rows`) can move a pixel to the
weighted linear least-squares optimum of the parameters the model is affine
in (amplitudes, offsets, polynomial coefficients) at the current non-linear
values, before its damped steps: a start with amplitudes far off (20× low)
then costs one evaluation instead of a long walk down the linear directions.
The columns come from the same analysis as variable projection
(:func:`swiftfit.optimizers.varpro.plan`: every model parameter that depends
on the column is declared linear by its component, with a constant
derivative); the kernel keeps a projection only where ``χ²`` drops, so a
column wrongly taken as linear costs one evaluation, never the answer.

``LINEAR_TAU``: the projection is tried at the start when it promises to
remove more than this fraction of ``χ²`` and moves some linear value by more
than ``kernels.LINEAR_FACTOR`` (10×). Calibrated on the battery
(``benchmarks/battery.py``, README "Linear projection at the start"): broad3's
20×-low amplitudes pass both (their projection removes 97–98 % of ``χ²`` and
moves them 28–40×); of the other seven cases, the nearest are multiexp (65 %,
8×) and powerlaw_lor (99.8 %, but 1.6×: projecting a power law's ``A`` at a
wrong exponent costs 12 → 28 evaluations), and all seven run exactly the plain
iteration (identical maps).
"""

from __future__ import annotations

import numpy as np

from ...problem.problem import Problem

LINEAR_TAU = 0.8


def linear_columns(problem: Problem) -> np.ndarray:
    """``(P,)`` bool: the free columns the model is affine in (none where the
    analysis does not apply: finite-difference Jacobians, expression ties on
    them, a loss other than least squares).

    ``tests/optimizers/test_linear_start.py`` shows it on Gaussians + Offset.
    """
    from ...optimizers.varpro import plan

    out = np.zeros(problem.P, dtype=bool)
    # not for Expression models: on NIST StRD's far starts (Lanczos, MGH09/10/17)
    # projecting their linear coefficients first ends at singular points or the
    # evaluation limit (tests/optimizers/test_nist_strd.py); measured, not yet understood
    # (read from what the component declares: the engines import no component class)
    if any(getattr(c, "compiled_kind", None) == "expression" for c in getattr(problem, "components", ())):
        return out
    vp = plan(problem, None, max_nonlinear=max(problem.P, 1))
    if vp is not None:
        out[vp.linear] = True
    return out
