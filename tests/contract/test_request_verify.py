"""``verify=False`` reaches what it switches off (issue 15): the write-back of
every door (batched ``multifit`` and joint fits included) and the optimizers
that check their own successes (scipy's minimizers and global optimizers).

The stated truth: a fit stopped after 3 evaluations with ``ftol = xtol = 0.5``
is 5 channels from the Gaussian's centre (40); the Newton check calls that
not a minimum (status -7), and without the check the optimizer's own word
(converged, status 2) stands.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.components import components1d as C1
from swiftfit.errors import FitWarning
from swiftfit.model.joint import JointModel
from swiftfit.problem.request import make_request

_EARLY = {"ftol": 0.5, "xtol": 0.5, "max_nfev": 3, "kernel": "numpy"}


def _model(n=3):
    rng = np.random.default_rng(0)
    x = np.arange(80.0)
    data = np.stack([50 * np.exp(-0.5 * ((x - 40) / 4) ** 2) + 5 + rng.normal(0, 1, x.size) for _ in range(n)])
    m = hs.signals.Signal1D(data).create_model()
    m.extend([C1.Gaussian(A=400.0, sigma=5.0, centre=30.0), C1.Offset(offset=4.0)])
    return m


@pytest.mark.parametrize("verify, expected", [(True, -7), (False, 2)])
def test_batched_multifit_honours_verify(verify, expected):
    m = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        m.multifit(verify=verify, **_EARLY)
    status = np.asarray(m.multifit_output.status.data)
    assert (status == expected).all(), status
    # the same answer either way: only the verdict differs, and it is far from the centre (40)
    assert np.all(np.abs(m[0].centre.map["values"] - 40) > 3)


@pytest.mark.parametrize("verify, expected", [(True, False), (False, True)])
def test_joint_fit_and_multifit_honour_verify(verify, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        m = _model(1)
        out = JointModel([m]).fit(verify=verify, **_EARLY)
        assert out.success is expected
        m2 = _model(2)
        JointModel([m2]).multifit(verify=verify, **_EARLY)
    status = np.asarray(m2.multifit_output.status.data)
    assert ((status > 0) == expected).all(), status


@pytest.mark.parametrize("optimizer", ["Nelder-Mead", "L-BFGS-B", "Differential Evolution", "Basin Hopping"])
def test_optimizers_that_check_themselves_receive_verify_false(optimizer):
    assert make_request(optimizer, options={"verify": False}).options["verify"] is False
    # the default (True) is their own default: nothing to pass
    assert "verify" not in make_request(optimizer).options


def test_batched_optimizers_do_not_receive_verify():
    req = make_request("lm", options={"verify": False, "ftol": 1e-9})
    assert dict(req.options) == {"ftol": 1e-9} and req.verify is False
