"""The 1-D components, under HyperSpy's names (``hs.model.components1D``).

=====================  ===========================================  ==========
Component              Parameters (in order)                        Linear
=====================  ===========================================  ==========
Arctan                 A, k, x0                                     A
Bleasdale              a, b, c                                      --
Doniach                centre, A, sigma, alpha                      A
Erf                    A, sigma, origin                             A
Exponential            A, tau                                       A
Gaussian               A, sigma, centre                             A
GaussianHF             height, fwhm, centre                         height
HeavisideStep          A, n                                         A
Logistic               a, b, c, origin                              a
Lorentzian             A, gamma, centre                             A
Offset                 offset                                       offset
Polynomial             a0 ... a{order}                              all
PowerLaw               A, r, origin, left_cutoff                    A
RC                     Vmax, V0, tau                                Vmax, V0
ScalableFixedPattern   yscale, xscale, shift                        yscale
SEE                    A, Phi, B                                    A
SkewNormal             x0, A, scale, shape                          A
SplitVoigt             A, sigma1, sigma2, centre, fraction          A, fraction
Voigt                  centre, area, gamma, sigma                   area
VolumePlasmonDrude     intensity, plasmon_energy, fwhm              intensity
=====================  ===========================================  ==========

The order is that of HyperSpy's constructor keywords (so positional
arguments match), except SplitVoigt, which keeps HyperSpy's declared
parameter order. (HyperSpy 2.x lists the parameters of components it builds
from an ``Expression`` alphabetically; the names and defaults are the same.)

Every gradient is analytic except ``HeavisideStep.n`` and
``PowerLaw.left_cutoff`` (step positions, whose derivative is a delta
function): their ``gradients`` entry is None.

``Expression`` (a component from a formula string) is re-exported here.
"""

from __future__ import annotations

from .background import RC, SEE, Bleasdale, Exponential, Offset, Polynomial, PowerLaw
from .expression import Expression
from .lineshapes import Doniach, SkewNormal, SplitVoigt, Voigt, VolumePlasmonDrude
from .pattern import ScalableFixedPattern
from .peaks import Gaussian, GaussianHF, Lorentzian
from .steps import Arctan, Erf, HeavisideStep, Logistic

__all__ = [
    "Expression",
    "Arctan",
    "Bleasdale",
    "Doniach",
    "Erf",
    "Exponential",
    "Gaussian",
    "GaussianHF",
    "HeavisideStep",
    "Logistic",
    "Lorentzian",
    "Offset",
    "Polynomial",
    "PowerLaw",
    "RC",
    "ScalableFixedPattern",
    "SEE",
    "SkewNormal",
    "SplitVoigt",
    "Voigt",
    "VolumePlasmonDrude",
]

