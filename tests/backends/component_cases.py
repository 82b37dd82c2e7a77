"""Every built-in component class at parameter values in its domain, on 1-D
and 2-D grids (shared by the JAX engine's tests and the array-namespace tests).
"""

import numpy as np

from swiftfit.components import components1d as C1
from swiftfit.components import components2d as C2

X1 = np.linspace(0.5, 20.0, 60)
_G = np.linspace(-5.0, 5.0, 12) + 0.013  # off the grid points where a profile has its centre
X2 = tuple(a.ravel() for a in np.meshgrid(_G, _G + 0.007))
_XP = np.linspace(0.0, 25.0, 101)
_PATTERN = (_XP, np.exp(-((_XP - 10.0) ** 2) / 8.0) + 0.1 * np.sin(_XP))

# (component, coordinates): every class of components1d and components2d,
# parameter values in each one's domain
CASES_1D = [
    C1.Arctan(A=2.0, k=0.7, x0=8.0),
    C1.Bleasdale(a=1.0, b=0.5, c=1.3),
    C1.Doniach(centre=10.0, A=3.0, sigma=1.5, alpha=0.3),
    C1.Erf(A=2.0, sigma=2.0, origin=9.0),
    C1.Exponential(A=5.0, tau=6.0),
    C1.Gaussian(A=10.0, sigma=2.0, centre=9.0),
    C1.GaussianHF(height=3.0, fwhm=4.0, centre=9.0),
    C1.HeavisideStep(A=2.0, n=9.3),
    C1.Logistic(a=2.0, b=1.5, c=0.8, origin=9.0),
    C1.Lorentzian(A=10.0, gamma=1.5, centre=9.0),
    C1.Offset(offset=2.5),
    C1.Polynomial(order=3, a0=1.0, a1=-0.5, a2=0.1, a3=-0.003),
    C1.PowerLaw(A=1e3, r=2.5, origin=-1.0, left_cutoff=2.0),
    C1.RC(Vmax=2.0, V0=1.0, tau=5.0),
    C1.ScalableFixedPattern(_PATTERN, yscale=2.0, xscale=1.1, shift=0.7),
    C1.SEE(A=1e3, Phi=3.0, B=2.0),
    C1.SkewNormal(x0=9.0, A=5.0, scale=2.5, shape=2.0),
    C1.SplitVoigt(A=5.0, sigma1=1.5, sigma2=2.5, centre=9.1, fraction=0.3),
    C1.Voigt(centre=9.0, area=10.0, gamma=0.8, sigma=1.2),
    C1.VolumePlasmonDrude(intensity=2.0, plasmon_energy=12.0, fwhm=3.0),
    C1.Expression("A * exp(-b * x) * sin(c * x) + d * x**2 + erf(x - c)", "E1", A=2.0, b=0.1, c=0.7, d=0.01),
]
CASES_2D = [
    C2.Offset(offset=1.5),
    C2.Polynomial2D(order=2, a00=1.0, a10=0.2, a01=-0.3, a20=0.05, a11=0.02, a02=-0.04),
    C2.Gaussian2D(A=10.0, sigma_x=1.5, sigma_y=2.2, centre_x=0.3, centre_y=-0.4),
    C2.Gaussian2D(A=10.0, sigma_x=1.5, sigma_y=2.2, centre_x=0.3, centre_y=-0.4, add_rotation=True,
                  rotation_angle=0.4),
    C2.Lorentzian2D(A=10.0, gamma_x=1.5, gamma_y=2.2, centre_x=0.3, centre_y=-0.4),
    C2.Lorentzian2D(A=10.0, gamma_x=1.5, gamma_y=2.2, centre_x=0.3, centre_y=-0.4, add_rotation=True,
                    rotation_angle=-0.3),
    C2.Moffat2D(A=10.0, alpha=1.5, beta=2.5, centre_x=0.2, centre_y=-0.3),
    C2.Sersic2D(I_e=3.0, R_e=2.0, n=1.7, centre_x=0.13, centre_y=-0.21, ellipticity=0.3, position_angle=0.5),
    C2.Expression("A * exp(-((x - x0)**2 + (y - y0)**2) / (2 * s**2)) + k * x * y", "E2",
                  A=3.0, x0=0.2, y0=-0.1, s=1.3, k=0.05),
]


def _points(comp, seed=0, n=3):
    """n parameter points: the values above, each scaled by 1 ± 15 % (seeded)."""
    base = np.array([p.value for p in comp.parameters])
    u = np.random.default_rng(seed).uniform(-0.15, 0.15, (n, base.size))
    return [(base[k] * (1 + u[:, k]))[:, None] for k in range(base.size)]
