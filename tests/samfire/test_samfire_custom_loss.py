"""SAMFire with a custom loss passes the request's own keywords to each
pixel's fit (issue 15, item 8): ``errordef`` (and ``rescale_covariance``)
reached the seeds' ``m.fit`` but not SAMFire's pixels, whose standard errors
then used errordef=1.

Truth: a direct ``m.fit`` at each pixel with the same loss and keywords, from
the same start; errordef=0.5 makes the covariance ``2·0.5·H⁻¹``, a factor
√2 smaller in the standard errors than errordef=1 (checked, so the test can
tell the two apart).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_samfire import domain_data, domain_model

from swiftfit.errors import FitWarning


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        yield


def chi2(model, values, data, weights=None):
    """χ² of the data with the noise variance the signal carries."""
    model.fetch_values_from_array(values)
    return float((((data - model(onlyactive=True)) * weights) ** 2).sum())


KW = dict(optimizer="Powell", loss_function=chi2, errordef=0.5, rescale_covariance=False)


def _samfire_result(**kw):
    data, _, _ = domain_data(n=3, seed=2, disc_at=(20, 20))  # centre 25 everywhere
    m, g = domain_model(data, seeds=((1, 1, 25.0),))
    m.axes_manager.indices = (1, 1)
    m.fit(**kw)  # the seed, with the same loss and keywords
    samf = m.create_samfire(workers=None, ipyparallel=False, setup=True)
    samf.start(**kw)
    assert samf.pixels_done == 9
    return m, g


def test_samfire_custom_loss_keeps_errordef_and_matches_a_direct_fit():
    m, g = _samfire_result(**KW)
    params = [g.A, g.centre, g.sigma, m[1].offset]
    values = np.stack([p.map["values"].ravel() for p in params], axis=1)
    stds = np.stack([p.map["std"].ravel() for p in params], axis=1)
    # the direct fit with the same loss and keywords, from SAMFire's answer at each pixel
    direct = np.empty_like(stds)
    for k, (iy, ix) in enumerate(np.ndindex(3, 3)):
        m.axes_manager.indices = (ix, iy)
        m.fit(**KW)
        direct[k] = [p.std for p in params]
        np.testing.assert_allclose([p.value for p in params], values[k], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(stds, direct, rtol=0.02)
    # errordef=1 (what SAMFire used to give every pixel) is √2 off
    m.axes_manager.indices = (0, 0)
    m.fit(**dict(KW, errordef=1.0))
    assert g.A.std / stds[0, 0] == pytest.approx(np.sqrt(2), rel=0.02)
