"""The Problems the background compile of the fused kernel fits.

They live in the problem layer, not in the engine, because building them needs
component classes (and, for the PSF one, a Model2D), which the engines may not
import (``.importlinter``).
"""

from __future__ import annotations

import numpy as np

from ..components.background import Offset
from ..components.peaks import Gaussian
from .problem import ParamPlan, Problem

__all__ = ["warmup_problem", "warmup_psf_problem", "warmup_problems"]


def warmup_problem() -> Problem:
    """Two pixels of a Gaussian on an offset, built as a model builds a
    Problem: what the background compile (:mod:`swiftfit.engines.numba.warmup`) fits, so that it
    compiles the kernel for the argument types every fit without a PSF passes
    (1-D and 2-D share them).

    >>> p = warmup_problem()
    >>> p.B, p.N, p.P
    (2, 40, 4)
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


def warmup_psf_problem() -> Problem:
    """Two 9×9 frames of a Gaussian2D spot on an offset, convolved with a 3×3
    PSF (``Model2D.set_psf``): the argument types of every fit through the
    kernel's PSF path (:mod:`swiftfit.engines.numba.psf` — a PSF, oversampling
    or masked pixels all pass one more float table), the background compile's
    second signature. Built by a Model2D, as a user's fit builds it.

    >>> p = warmup_psf_problem()
    >>> p.B, p.N, p.P
    (2, 81, 6)
    """
    from ..components.two_d import Gaussian2D
    from ..components.two_d import Offset as Offset2D
    from ..signals import Signal2D

    yy, xx = np.mgrid[:9, :9].astype(float)
    data = np.stack([80 * np.exp(-0.5 * ((xx - c) ** 2 + (yy - 4.0) ** 2) / 1.5**2) + 5 for c in (3.8, 4.2)])
    m = Signal2D(data).create_model()
    m.extend([Gaussian2D(A=700.0, sigma_x=1.6, sigma_y=1.6, centre_x=4.0, centre_y=4.1), Offset2D(offset=4.0)])
    a = np.array([0.25, 0.5, 0.25])
    m.set_psf(np.outer(a, a))
    return m.compile([(0,), (1,)])


def warmup_problems(family: str = "lm") -> dict:
    """What the background compile fits, by the kernel signature each
    compiles (the keys of :func:`swiftfit.engines.numba.warmup.variant`):
    ``"plain"`` and ``"psf"`` for the least-squares kernel (``family="lm"``),
    ``"newton"`` and ``"newton_psf"`` for the Poisson/Huber one
    (``family="newton"``: the same problems, fitted with the Poisson loss; their
    data are counts-like and positive).

    >>> sorted(warmup_problems()), sorted(warmup_problems("newton"))
    (['plain', 'psf'], ['newton', 'newton_psf'])
    """
    if family not in ("lm", "newton"):
        raise ValueError(f"family must be 'lm' or 'newton', got {family!r}")
    names = ("plain", "psf") if family == "lm" else ("newton", "newton_psf")
    return dict(zip(names, (warmup_problem(), warmup_psf_problem())))
