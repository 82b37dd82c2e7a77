"""The NIST StRD nonlinear least-squares reference problems.

The 27 ``.dat`` files in ``nist_strd/`` are the files published by NIST
(https://www.itl.nist.gov/div898/strd/nls/nls_main.shtml), public domain.
Each states its model, two starting points ("Start 1" far from the solution,
"Start 2" closer), the certified values and standard deviations of the
parameters (computed by NIST in 128-bit arithmetic, to 11 significant digits)
and the certified residual sum of squares. The loader parses a file by the
line spans its own header announces, checks the counts it states, and pairs it
with the model transcribed into :class:`~swiftfit.components.Expression`
syntax (``x`` and ``b1 .. bk``).

Examples
--------
>>> from swiftfit.reference_data import load_nist
>>> p = load_nist("Misra1a")
>>> p.expression, p.x.size, p.start1
('b1*(1-exp(-b2*x))', 14, (500.0, 0.0001))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["NistProblem", "load_nist", "log_relative_error", "NIST_DATASETS", "NIST_1D", "MODELS"]

_DIR = Path(__file__).with_name("nist_strd")

_RATIONAL3 = "(b1 + b2*x + b3*x**2 + b4*x**3)/(1 + b5*x + b6*x**2 + b7*x**3)"
_GAUSS = "b1*exp(-b2*x) + b3*exp(-(x - b4)**2/b5**2) + b6*exp(-(x - b7)**2/b8**2)"
_LANCZOS = "b1*exp(-b2*x) + b3*exp(-b4*x) + b5*exp(-b6*x)"

#: model of each dataset, transcribed from its header (``[..]`` -> ``(..)``)
MODELS: dict[str, str] = {
    "Misra1a": "b1*(1-exp(-b2*x))",
    "Chwirut2": "exp(-b1*x)/(b2 + b3*x)",
    "Chwirut1": "exp(-b1*x)/(b2 + b3*x)",
    "Lanczos3": _LANCZOS,
    "Gauss1": _GAUSS,
    "Gauss2": _GAUSS,
    "DanWood": "b1*x**b2",
    "Misra1b": "b1*(1 - (1 + b2*x/2)**(-2))",
    "Kirby2": "(b1 + b2*x + b3*x**2)/(1 + b4*x + b5*x**2)",
    "Hahn1": _RATIONAL3,
    # two predictors and a log response: log(y) = b1 - b2*x1*exp(-b3*x2)
    "Nelson": "b1 - b2*x1*exp(-b3*x2)",
    "MGH17": "b1 + b2*exp(-x*b4) + b3*exp(-x*b5)",
    "Lanczos1": _LANCZOS,
    "Lanczos2": _LANCZOS,
    "Gauss3": _GAUSS,
    "Misra1c": "b1*(1 - (1 + 2*b2*x)**(-0.5))",
    "Misra1d": "b1*b2*x*((1 + b2*x)**(-1))",
    "Roszman1": "b1 - b2*x - arctan(b3/(x - b4))/pi",
    "ENSO": (
        "b1 + b2*cos(2*pi*x/12) + b3*sin(2*pi*x/12) + b5*cos(2*pi*x/b4) + b6*sin(2*pi*x/b4)"
        " + b8*cos(2*pi*x/b7) + b9*sin(2*pi*x/b7)"
    ),
    "MGH09": "b1*(x**2 + x*b2)/(x**2 + x*b3 + b4)",
    "Thurber": _RATIONAL3,
    "BoxBOD": "b1*(1 - exp(-b2*x))",
    "Rat42": "b1/(1 + exp(b2 - b3*x))",
    "MGH10": "b1*exp(b2/(x + b3))",
    "Eckerle4": "(b1/b2)*exp(-0.5*((x - b3)/b2)**2)",
    "Rat43": "b1/((1 + exp(b2 - b3*x))**(1/b4))",
    "Bennett5": "b1*(b2 + x)**(-1/b3)",
}

#: every dataset, in NIST's order (lower, average, higher difficulty)
NIST_DATASETS: tuple[str, ...] = tuple(MODELS)
#: the datasets with one predictor (all but Nelson), fittable as a Signal1D
NIST_1D: tuple[str, ...] = tuple(n for n in NIST_DATASETS if n != "Nelson")


@dataclass(frozen=True)
class NistProblem:
    """One NIST StRD problem.

    Attributes
    ----------
    name : str
    x : ndarray (N,) or (N, 2)
        Predictor(s), in file order (Nelson has two columns, ``x1, x2``).
    y : ndarray (N,)
        Response, in file order (for Nelson the model is for ``log(y)``).
    expression : str
        The model in Expression syntax, in ``x`` (``x1``, ``x2``) and ``b1..bk``.
    start1, start2 : tuple of float
        NIST's starting values ("Start 1" is the far one).
    certified_values, certified_std : tuple of float
        Certified parameter values and standard deviations.
    certified_rss : float
        Certified residual sum of squares.
    difficulty : {"lower", "average", "higher"}
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    expression: str
    start1: tuple
    start2: tuple
    certified_values: tuple
    certified_std: tuple
    certified_rss: float
    difficulty: str

    @property
    def parameter_names(self) -> list[str]:
        return [f"b{k + 1}" for k in range(len(self.certified_values))]

    def starts(self) -> dict[int, tuple]:
        """``{1: start1, 2: start2}``."""
        return {1: self.start1, 2: self.start2}

    def monotonic(self) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` ordered by ``x`` with a strictly increasing ``x``.

        A signal axis must be strictly monotonic, while several datasets
        (Chwirut1/2, Kirby2, Hahn1) list ``x`` unsorted and with repeats. The
        points are sorted (stably) and each repeat of a value is moved up by
        one more unit in the last place (``np.nextafter``), a relative change
        of about 1e-16 per repeat: the least-squares problem is the same to
        machine precision.
        """
        if self.x.ndim != 1:
            raise ValueError(f"{self.name} has {self.x.shape[1]} predictors")
        order = np.argsort(self.x, kind="stable")
        x = self.x[order].copy()
        for k in range(1, x.size):
            if x[k] <= x[k - 1]:
                x[k] = np.nextafter(x[k - 1], np.inf)
        return x, self.y[order].copy()


def _span(header: str, label: str, text: str) -> tuple[int, int]:
    m = re.search(label + r"\s*\(lines\s+(\d+)\s+to\s+(\d+)\)", header)
    if m is None:
        raise ValueError(f"{text}: no '{label}' line span in the header")
    return int(m.group(1)), int(m.group(2))


def _number(pattern: str, text: str, what: str, name: str) -> str:
    m = re.search(pattern, text)
    if m is None:
        raise ValueError(f"{name}: no {what!r} in the file")
    return m.group(1)


@lru_cache(maxsize=None)
def load_nist(name: str) -> NistProblem:
    """Load one NIST StRD problem by name (case-insensitive), e.g. ``"MGH09"``.

    Raises
    ------
    KeyError
        For a name that is not one of :data:`NIST_DATASETS`.
    ValueError
        When the file does not hold what its header announces.
    """
    canonical = {n.lower(): n for n in NIST_DATASETS}.get(str(name).lower())
    if canonical is None:
        raise KeyError(f"unknown NIST StRD dataset {name!r}; choose from {NIST_DATASETS}")
    text = (_DIR / f"{canonical}.dat").read_text()
    lines = text.splitlines()
    s_lo, s_hi = _span(text, "Starting Values", canonical)
    _, c_hi = _span(text, "Certified Values", canonical)
    d_lo, d_hi = _span(text, r"Data\s", canonical)
    n_obs = int(_number(r"(\d+)\s+Observations", text, "Observations", canonical))
    n_par = int(_number(r"(\d+)\s+Parameters", text, "Parameters", canonical))
    difficulty = _number(r"(Lower|Average|Higher) Level of Difficulty", text, "difficulty", canonical).lower()
    start1, start2, values, std = [], [], [], []
    for k, line in enumerate(lines[s_lo - 1:s_hi]):
        fields = line.split()
        if len(fields) != 6 or fields[0] != f"b{k + 1}" or fields[1] != "=":
            raise ValueError(f"{canonical}: line {s_lo + k} is not a parameter line: {line!r}")
        a, b, v, s = map(float, fields[2:])
        start1.append(a)
        start2.append(b)
        values.append(v)
        std.append(s)
    if len(values) != n_par:
        raise ValueError(f"{canonical}: {len(values)} parameter lines for {n_par} parameters")
    rss = float(_number(r"Residual Sum of Squares:\s+(\S+)", "\n".join(lines[:c_hi]), "Residual Sum of Squares", canonical))
    rows = [line.split() for line in lines[d_lo - 1:d_hi] if line.strip()]
    data = np.array(rows, dtype=float)
    if data.shape[0] != n_obs or d_hi - d_lo + 1 != n_obs:
        raise ValueError(f"{canonical}: {data.shape[0]} data rows, the header announces {n_obs}")
    if any(line.strip() for line in lines[d_hi:]):
        raise ValueError(f"{canonical}: text after the announced data block")
    x = data[:, 1].copy() if data.shape[1] == 2 else data[:, 1:].copy()
    y = data[:, 0].copy()
    x.flags.writeable = y.flags.writeable = False  # cached: shared by every caller
    return NistProblem(
        name=canonical,
        x=x,
        y=y,
        expression=MODELS[canonical],
        start1=tuple(start1),
        start2=tuple(start2),
        certified_values=tuple(values),
        certified_std=tuple(std),
        certified_rss=rss,
        difficulty=difficulty,
    )


def log_relative_error(fitted, certified) -> np.ndarray:
    """NIST's log relative error, ``-log10(|fitted - certified| / |certified|)``, elementwise.

    About the number of digits ``fitted`` shares with ``certified`` (inf where equal).

    Examples
    --------
    >>> float(log_relative_error(1.2345, 1.2346).round(2))
    4.09
    """
    fitted = np.asarray(fitted, dtype=float)
    certified = np.asarray(certified, dtype=float)
    with np.errstate(divide="ignore"):
        return -np.log10(np.abs(fitted - certified) / np.abs(certified))
