"""The problems of the contract battery (issue 15, item 9), with their closed forms.

Each :class:`Case` holds a seeded dataset, its model written again in NumPy
(``f(x, theta)``, in swiftfit's parameter order), the start, bounds, loss and,
where known, the certified truth. :meth:`Case.fisher_cov` and
:meth:`Case.observed_cov` compute the inverse Fisher and observed information
from that closed form by central differences, independently of swiftfit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


# ---------------------------------------------------------------- closed forms
def gauss(x, A, centre, sigma):
    return A / (sigma * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((x - centre) / sigma) ** 2)


def _gauss_offset(x, th):
    # swiftfit's parameter order: Gaussian (A, sigma, centre), Offset (offset)
    return gauss(x, th[0], th[2], th[1]) + th[3]


def _line(x, th):
    return th[0] + th[1] * x


def _mgh09(x, th):
    b1, b2, b3, b4 = th
    return b1 * (x**2 + x * b2) / (x**2 + x * b3 + b4)


def _joint(x, th):
    # two spectra on the same axis, one shared centre: (A1, s1, c, o1, A2, s2, o2)
    return np.r_[gauss(x, th[0], th[2], th[1]) + th[3], gauss(x, th[4], th[2], th[5]) + th[6]]


def jacobian(f, x, th):
    """Central-difference Jacobian of the closed form, ``(N, P)``."""
    th = np.asarray(th, dtype=float)
    cols = []
    for j in range(th.size):
        h = 1e-6 * max(1.0, abs(th[j]))
        up, dn = th.copy(), th.copy()
        up[j] += h
        dn[j] -= h
        cols.append((f(x, up) - f(x, dn)) / (2 * h))
    return np.stack(cols, axis=1)


# ------------------------------------------------------------------ problems
@dataclass
class Case:
    """One problem of the battery."""

    name: str
    x: np.ndarray
    data: np.ndarray            # (N,) or (B, N) for the map problems, (2, N) for the joint one
    f: object                   # closed form f(x, theta)
    names: list                 # "Component.parameter" of the free parameters, in theta's order
    start: list
    loss: str = "ls"
    variance: np.ndarray | None = None
    bounds: dict = field(default_factory=dict)   # name -> (bmin, bmax)
    bounded: bool = False
    truth: np.ndarray | None = None              # the minimum; None: m.fit with "lm" is the reference
    expect_success: bool = True
    fixed_at_bound: tuple = ()                   # names that end on their bound (no covariance check)
    kind: str = "single"                         # "single", "map", "joint"

    def fisher_cov(self, theta, data=None) -> np.ndarray:
        """``F⁻¹`` at ``theta`` from the closed form (rescaled by χ²/dof without variance)."""
        x = self.x
        y = self.stacked() if data is None else data
        J = jacobian(self.f, x, theta)
        mu = self.f(x, theta)
        if self.loss == "ML-poisson":
            w = 1.0 / mu
        elif self.variance is not None:
            w = 1.0 / np.ravel(self.variance)
        else:
            w = np.ones_like(mu)
        cov = np.linalg.inv(J.T @ (J * w[:, None]))
        if self.loss == "ls" and self.variance is None:
            cov = cov * float(np.sum((y - mu) ** 2)) / (y.size - len(theta))
        return cov

    def observed_cov(self, theta) -> np.ndarray:
        """The inverse observed information: ``(H/2)⁻¹`` for the Hessian H of χ²
        (or of 2·(−ln L) for counts) at ``theta``, by central differences of the closed form."""
        y = self.stacked()
        w = 1.0 / np.ravel(self.variance) if self.variance is not None else np.ones_like(y)

        def stat(t):
            mu = self.f(self.x, t)
            if self.loss == "ML-poisson":
                return 2 * np.sum(mu - y * np.log(mu))
            return np.sum((mu - y) ** 2 * w)

        th = np.asarray(theta, dtype=float)
        P = th.size
        h = 1e-4 * np.maximum(1.0, np.abs(th))
        H = np.zeros((P, P))
        for i in range(P):
            for j in range(P):
                a, b = np.zeros(P), np.zeros(P)
                a[i], b[j] = h[i], h[j]
                H[i, j] = (stat(th + a + b) - stat(th + a - b) - stat(th - a + b) + stat(th - a - b)) / (4 * h[i] * h[j])
        return np.linalg.inv(H / 2)

    def stacked(self) -> np.ndarray:
        return np.ravel(self.data) if self.kind == "joint" else (self.data if self.data.ndim == 1 else self.data[0])


def _noise(truth, seed):
    rng = np.random.default_rng(seed)
    return truth + rng.normal(0.0, np.sqrt(truth))


def make_cases() -> dict:
    """The shared list of problems, seeded."""
    x = np.arange(100.0)
    th_g = np.array([1000.0, 5.0, 50.0, 10.0])
    g_truth = _gauss_offset(x, th_g)
    gnames = ["Gaussian.A", "Gaussian.sigma", "Gaussian.centre", "Offset.offset"]
    cases = {}
    xl = np.arange(50.0)
    rng = np.random.default_rng(1)
    cases["linear"] = Case("linear", xl, 3.0 + 0.2 * xl + rng.normal(0, 1.0, xl.size), _line,
                           ["Polynomial.a0", "Polynomial.a1"], [1.0, 0.0], variance=np.ones(xl.size))
    cases["gauss_offset"] = Case("gauss_offset", x, _noise(g_truth, 2), _gauss_offset, gnames,
                                 [800.0, 4.0, 48.0, 8.0], variance=g_truth)
    # the offset's truth is -2 under a bound at 0: the minimum is the fit with the offset held at 0
    b_truth = _gauss_offset(x, np.array([1000.0, 5.0, 50.0, -2.0]))
    cases["on_bound"] = Case("on_bound", x, b_truth + np.random.default_rng(3).normal(0, 1.0, x.size),
                             _gauss_offset, gnames, [800.0, 4.0, 48.0, 8.0], variance=np.ones(x.size),
                             bounds={"Gaussian.A": (0.0, 5000.0), "Gaussian.centre": (30.0, 70.0),
                                     "Gaussian.sigma": (1.0, 20.0), "Offset.offset": (0.0, 100.0)},
                             bounded=True, fixed_at_bound=("Offset.offset",))
    cases["poisson"] = Case("poisson", x, np.random.default_rng(4).poisson(g_truth).astype(float),
                            _gauss_offset, gnames, [800.0, 4.0, 48.0, 8.0], loss="ML-poisson")
    nan_map = np.stack([_noise(g_truth, 5), _noise(g_truth, 6), _noise(g_truth, 7)])
    nan_map[1, 10] = np.nan
    cases["nan_pixel"] = Case("nan_pixel", x, nan_map, _gauss_offset, gnames, [800.0, 4.0, 48.0, 8.0],
                              variance=g_truth, kind="map")
    cases["zero_pixel"] = Case("zero_pixel", x, np.zeros(x.size), _gauss_offset, gnames,
                               [800.0, 4.0, 48.0, 8.0], expect_success=False)
    j1 = _noise(g_truth, 8)
    j2 = _noise(gauss(x, 500.0, 50.0, 8.0) + 20.0, 9)
    cases["joint"] = Case("joint", x, np.stack([j1, j2]), _joint,
                          ["m0.Gaussian.A", "m0.Gaussian.sigma", "m0.Gaussian.centre", "m0.Offset.offset",
                           "m1.Gaussian.A", "m1.Gaussian.sigma", "m1.Offset.offset"],
                          [800.0, 4.0, 48.0, 8.0, 400.0, 6.0, 15.0],
                          variance=np.r_[g_truth, gauss(x, 500.0, 50.0, 8.0) + 20.0], kind="joint")
    from swiftfit.reference_data import load_nist

    p = load_nist("MGH09")
    xm, ym = p.monotonic()
    cases["rational"] = Case("rational", xm, ym, _mgh09, ["MGH09.b1", "MGH09.b2", "MGH09.b3", "MGH09.b4"],
                             list(p.start2), truth=np.array(p.certified_values))
    cases["rational"].certified_std = np.array(p.certified_std)
    return cases
