"""The 2-D components (``hs.model.components2D``).

=============  =====================================================  ==========
Component      Parameters (in order)                                  Linear
=============  =====================================================  ==========
Expression     from the expression (alphabetical)                     detected
Gaussian2D     A, sigma_x, sigma_y, centre_x, centre_y                A
               (+ rotation_angle with ``add_rotation=True``)
Lorentzian2D   A, gamma_x, gamma_y, centre_x, centre_y                A
               (+ rotation_angle with ``add_rotation=True``)
Moffat2D       A, alpha, beta, centre_x, centre_y                     A
Offset         offset                                                 offset
Polynomial2D   a00, a10, a01, a20, a11, a02, ... (``a{i}{j}``        all
               multiplies ``x**i * y**j``)
Sersic2D       I_e, R_e, n, centre_x, centre_y, ellipticity,          I_e
               position_angle
=============  =====================================================  ==========

Every component is pure and batched, with an analytic gradient for every
parameter; ``rotation_angle`` and Sersic2D's ``position_angle`` turn the
profile counter-clockwise about its centre, with the convention of
``Expression(..., add_rotation=True)``. Gaussian2D integrates to ``A``, as do
Lorentzian2D (the elliptical Cauchy profile) and Moffat2D (``beta > 1``).
"""

from __future__ import annotations

from .expression import Expression
from .galaxy import Moffat2D, Sersic2D
from .two_d import Gaussian2D, Lorentzian2D, Offset, Polynomial2D

__all__ = [
    "Expression",
    "Gaussian2D",
    "Lorentzian2D",
    "Moffat2D",
    "Offset",
    "Polynomial2D",
    "Sersic2D",
]
