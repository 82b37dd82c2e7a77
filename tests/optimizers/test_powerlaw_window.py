"""The compiled PowerLaw's window (engines/numba/forms1d.py ``_window``,
``_powerlaw``): on ascending channels it is evaluated only past
``max(origin, left_cutoff)``, elsewhere every channel is masked. Truth: the
NumPy component's values and gradients, to 1e-12 of each column's largest
entry (check_problems.assert_kernel_equals_numpy)."""

from __future__ import annotations

import numpy as np
import pytest
from check_problems import assert_kernel_equals_numpy

import swiftfit as sf
from swiftfit.engines.numba import forms1d as _model
from swiftfit.engines.numba import lower as _fused

pytest.importorskip("numba")
C = sf.model.components1D


def _problem(x, origin, cutoff, fixed=("left_cutoff",)):
    pl = C.PowerLaw(A=1e8, r=2.5, origin=origin, left_cutoff=cutoff)
    comps = [pl, C.Lorentzian(A=900, gamma=3.0, centre=float(np.median(x)))]
    s = sf.signals.Signal1D(np.ones((3, x.size)), axes=[{"size": 3}, {"axis": x}])
    m = s.create_model()
    m.extend(comps)
    for name in fixed:
        getattr(pl, name).free = False
    m.assign_current_values_to_all()
    return m._problem(list(np.ndindex(3)))


@pytest.mark.parametrize("x, origin, cutoff", [
    (np.linspace(400.0, 800.0, 300), 300.0, 450.0),      # cut-off inside the data: a suffix
    (np.linspace(400.0, 800.0, 300), 520.0, 450.0),      # the origin inside, past the cut-off
    (np.linspace(800.0, 400.0, 300), 300.0, 450.0),      # descending channels: masked
    (np.linspace(800.0, 400.0, 300), 520.0, 450.0),      # descending, the origin inside: masked
])
def test_powerlaw_window_equals_numpy(x, origin, cutoff):
    problem = _problem(x, origin, cutoff)
    low = _fused.lower(problem)
    theta = problem.p0 * np.array([[1.0], [1.02], [0.98]])
    assert_kernel_equals_numpy(problem, theta, low)


def test_powerlaw_window_is_the_suffix_past_origin_and_cutoff():
    x = np.linspace(400.0, 800.0, 401)
    q = np.array([1.0, 3.0, 520.0, 450.0])
    lo, hi = _model._window(_model.POWERLAW, q, 0, x, True)
    assert (lo, hi) == (121, 401) and x[lo - 1] <= 520.0 < x[lo]
    q[3] = np.nan
    assert _model._window(_model.POWERLAW, q, 0, x, True) == (0, 401)
