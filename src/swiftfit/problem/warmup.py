"""The Problem the background compile of the fused kernel fits.

It lives in the problem layer, not in the engine, because building it needs
component classes, which the engines may not import (``.importlinter``).
"""

from __future__ import annotations

import numpy as np

from ..components.background import Offset
from ..components.peaks import Gaussian
from .problem import ParamPlan, Problem

__all__ = ["warmup_problem"]


def warmup_problem() -> Problem:
    """Two pixels of a Gaussian on an offset, built as a model builds a
    Problem: what the background compile (:mod:`swiftfit.engines.numba.warmup`) fits, so that it
    compiles the kernel for the argument types every fit passes.
    """
    x = np.arange(40.0)
    data = np.stack([100 * np.exp(-0.5 * ((x - c) / 3) ** 2) + 5 for c in (19.0, 21.0)])
    names = ["Gaussian.A", "Gaussian.sigma", "Gaussian.centre", "Offset.offset"]
    p0 = np.array([[700.0, 3.3, 20.0, 4.0]] * 2)
    return Problem(components=[Gaussian(), Offset()], slots=[[0, 1, 2], [3]],
                   plans=[ParamPlan(name=n, kind="free", column=i) for i, n in enumerate(names)],
                   order=[0, 1, 2, 3], fixed=p0.copy(), coords=(x,), data=data, weights=None, binscale=1.0,
                   active=np.ones((2, 2), dtype=bool), p0=p0, lower=np.array([0.0, -np.inf, -np.inf, -np.inf]),
                   upper=np.full(4, np.inf), names=names)
