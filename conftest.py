"""Shared test set-up: matplotlib without a screen, and the names docstring examples may use.

The package's docstring examples are collected by ``--doctest-modules``.

``m`` is a fresh, unfitted model of one seeded spectrum: a Gaussian
(A = 1000, centre = 50, sigma = 5) on an offset of 10, Poisson noise, channels
0..99; ``s`` is its signal. Each example runs in its own temporary folder, so
examples that write files leave nothing behind.
"""

import logging
import os
import warnings

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
# tests that ask for the compiled path get it: compile in this process, not in the
# background (engines/numba/warmup.py; tests/optimizers/test_warmup.py tests that mode)
os.environ.setdefault("SWIFTFIT_COMPILE", "inline")


def _spectrum():
    import swiftfit as hs

    rng = np.random.default_rng(0)
    x = np.arange(100.0)
    truth = 10 + 1000 / (5 * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((x - 50) / 5) ** 2)
    s = hs.signals.Signal1D(rng.poisson(truth).astype(float))
    s.set_noise_variance(np.maximum(truth, 1.0))
    m = s.create_model()
    m.append(hs.model.components1D.Gaussian(A=800.0, centre=48.0, sigma=4.0))
    m.append(hs.model.components1D.Offset(offset=8.0))
    return s, m


@pytest.fixture(autouse=True)
def _doctest_names(request, tmp_path, monkeypatch):
    from _pytest.doctest import DoctestItem

    if isinstance(request.node, DoctestItem):
        import swiftfit as hs

        monkeypatch.chdir(tmp_path)
        s, m = _spectrum()
        ns = request.getfixturevalue("doctest_namespace")
        ns.update(np=np, hs=hs, s=s, m=m)
    yield


@pytest.fixture
def quiet_peers():
    """Silence warnings and log records while a test runs peer packages (HyperSpy, exspy, RosettaSciIO).

    Use with ``pytestmark = pytest.mark.usefixtures("quiet_peers")``.
    """
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    logging.disable(logging.NOTSET)
