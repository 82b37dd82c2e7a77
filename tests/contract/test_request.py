"""One request (issue 15, item 2): ``make_request`` resolves and checks every door's options."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.components import components1d as C1
from swiftfit.errors import FitWarning, InvalidInputError, OptimizerError
from swiftfit.priors import GaussianPrior
from swiftfit.problem.request import REQUEST_KEYWORDS, FitRequest, make_request


def test_request_is_frozen_and_leaves_the_options_alone():
    opts = {"ftol": 1e-9, "huber_delta": 2.0, "rescale_covariance": True, "verify": True}
    req = make_request("lm", "huber", options=opts)
    assert opts == {"ftol": 1e-9, "huber_delta": 2.0, "rescale_covariance": True, "verify": True}
    assert dict(req.options) == {"ftol": 1e-9}
    assert req.loss.delta == 2.0 and req.rescale_covariance is True and req.verify is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        req.bounded = True
    with pytest.raises(TypeError):
        req.options["ftol"] = 1.0
    assert set(REQUEST_KEYWORDS) == {"backend", "dtype", "huber_delta", "errordef", "rescale_covariance", "verify"}


@pytest.mark.parametrize("kwargs, error, text", [
    ({"optimizer": "newton"}, OptimizerError, "`optimizer` must be one of"),
    ({"loss_function": "chi2"}, InvalidInputError, "loss_function must be one of"),
    ({"grad": "exact"}, InvalidInputError, "`grad` must be one of ('auto', 'analytical', 'fd')"),
    ({"fd_scheme": "5-point"}, InvalidInputError, "`fd_scheme` must be one of"),
    ({"bounded": "yes"}, InvalidInputError, "`bounded` must be True or False, got 'yes'"),
    ({"options": {"backend": "cuda"}}, InvalidInputError, "`backend` must be one of"),
    ({"options": {"dtype": "float32"}}, InvalidInputError, "`dtype` ('float32') applies to backend='jax' only"),
    ({"options": {"rescale_covariance": 1}}, InvalidInputError, "`rescale_covariance` must be True or False"),
    ({"optimizer": "BFGS", "bounded": True}, OptimizerError, "optimizer 'BFGS' does not support bounds"),
    ({"optimizer": "trf", "loss_function": "ML-poisson"}, OptimizerError,
     "optimizer 'trf' supports loss_function in ['huber', 'ls'], got 'ML-poisson'"),
    ({"grad": lambda *a: 0.0}, InvalidInputError, "a callable `grad` is the gradient of a custom `loss_function`"),
])
def test_bad_options_name_argument_value_and_expectation(kwargs, error, text):
    with pytest.raises(error) as info:
        make_request(**kwargs)
    assert text in str(info.value)


def test_joint_request_has_one_loss_per_dataset():
    req = make_request(loss_function=["ls", "ML-poisson"], n_datasets=2)
    assert [loss.name for loss in req.losses] == ["ls", "ML-poisson"]
    with pytest.raises(InvalidInputError, match="one loss or 3"):
        make_request(loss_function=["ls", "ls"], n_datasets=3)


def test_priors_make_a_map_request():
    s = hs.signals.Signal1D(np.ones(10))
    m = s.create_model()
    m.append(C1.Offset())
    m[0].offset.prior = GaussianPrior(1.0, 0.5)
    params = [p for c in m for p in c.parameters]
    req = make_request("lm", parameters=params)
    assert type(req.loss).__name__ == "PriorLoss" and req.optimizer.solve is not make_request("lm").optimizer.solve
    with pytest.raises(OptimizerError, match="cannot fit priors"):
        make_request("trf", parameters=params)


def _model():
    rng = np.random.default_rng(0)
    x = np.arange(80.0)
    s = hs.signals.Signal1D(50 * np.exp(-0.5 * ((x - 40) / 4) ** 2) + 5 + rng.normal(0, 1, x.size))
    m = s.create_model()
    m.extend([C1.Gaussian(A=400.0, sigma=5.0, centre=38.0), C1.Offset(offset=4.0)])
    return m


def test_every_door_gives_the_solver_the_request(monkeypatch):
    """The request each door builds reaches the solver: the same spec, the
    same options (less the request's own keywords), whichever door."""
    import swiftfit.problem.request as rq

    seen = []
    real = rq.make_request

    def spy(*args, **kwargs):
        req = real(*args, **kwargs)
        seen.append(req)
        return req

    for module in ("swiftfit.model.fit_mixin", "swiftfit.model.joint", "swiftfit.gammapy_api.fit",
                   "swiftfit.lmfit_api.minimizer"):
        monkeypatch.setattr(f"{module}.make_request", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        m = _model()
        m.fit(optimizer="trf", ftol=1e-12, rescale_covariance=False)
        from swiftfit.model.joint import JointModel

        JointModel([_model()]).fit(optimizer="trf", ftol=1e-12, rescale_covariance=False)
        hs.Fit(optimize_opts={"method": "trf", "ftol": 1e-12}).run(_model())
    assert len(seen) == 3 and all(isinstance(r, FitRequest) for r in seen)
    assert {r.name for r in seen} == {"trf"} and all(dict(r.options) == {"ftol": 1e-12} for r in seen)
    assert [r.rescale_covariance for r in seen] == [False, False, None]
