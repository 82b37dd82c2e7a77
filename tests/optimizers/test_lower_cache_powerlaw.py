"""A power law's kernel tables kept between multifit calls, keyed by its origin
(swiftfit.engines.numba.lower_cache._powerlaw_key).

Truth: the same fits with the cache off (every call lowered from scratch), to
the bit; a change of the origin between calls must be lowered afresh (its
table is computed from it), and an origin that differs between pixels is not
cached at all.
"""

import numpy as np
import pytest

import swiftfit as sf

pytest.importorskip("numba")
from swiftfit.engines.numba import lower_cache  # noqa: E402


def _data(B=6):
    rng = np.random.default_rng(5)
    x = np.linspace(400.0, 800.0, 300)
    A = rng.uniform(0.8, 1.2, (B, 1)) * 1000 * 400.0**3
    lam = A * (x - 100.0) ** -3.0 + 900 / np.pi * 2.0 / ((x - 640.0) ** 2 + 4.0)
    return rng.poisson(lam).astype(float), x


def _fit(data, x, origin, origins=None):
    s = sf.signals.Signal1D(data)
    s.axes_manager[-1].offset = x[0]
    s.axes_manager[-1].scale = x[1] - x[0]
    m = s.create_model()
    pl = sf.model.components1D.PowerLaw()
    pl.A.value, pl.r.value, pl.origin.value = 0.7e3 * 400.0**3, 2.8, origin
    pl.origin.free = pl.left_cutoff.free = False
    lo = sf.model.components1D.Lorentzian()
    lo.A.value, lo.gamma.value, lo.centre.value = 800.0, 3.0, 641.0
    m.extend([pl, lo])
    m.assign_current_values_to_all()
    if origins is not None:
        pl.origin.map["values"][:] = origins
    m.multifit()
    return np.concatenate([p.map["values"].ravel() for c in m for p in c.parameters]), m


@pytest.mark.parametrize("origins", [None, "per pixel"])
def test_powerlaw_cached_by_origin(origins, monkeypatch):
    data, x = _data()
    per_pixel = None if origins is None else np.linspace(0.0, 150.0, data.shape[0])
    lower_cache.clear()
    got = [_fit(data, x, o, per_pixel)[0] for o in (0.0, 0.0, 100.0, 0.0)]
    stats = lower_cache.stats()
    monkeypatch.setattr(lower_cache, "ENABLED", False)
    want = [_fit(data, x, o, per_pixel)[0] for o in (0.0, 0.0, 100.0, 0.0)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    if origins is None:
        # the origin matters (the fits differ) and is part of the key: two
        # structures lowered (origins 0 and 100), every other solve reuses them
        # (the refit pass of failed pixels solves again)
        assert not np.array_equal(got[0], got[2])
        assert stats["misses"] == 2 and stats["hits"] >= 2
    else:  # an origin per pixel: never cached
        assert stats["misses"] == 0 and stats["hits"] == 0
