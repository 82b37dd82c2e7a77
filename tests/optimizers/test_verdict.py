"""The compiled verification (engines/numba/verdict.py) against verify's NumPy code.

Truth: :func:`swiftfit.problem.verify.verify` with the compiled branch switched
off, on the same inputs; statuses and gaps must be equal bit for bit.
"""

import numpy as np
import pytest

pytest.importorskip("numba")

import swiftfit as sf  # noqa: E402
from swiftfit import losses  # noqa: E402
from swiftfit.problem import verify as V  # noqa: E402
from swiftfit.problem.solution import Status  # noqa: E402


def _problem(B, N, rng, weights=False):
    x = np.arange(float(N))
    data = 50 + 10 * rng.standard_normal((B, N))
    s = sf.signals.Signal1D(data)
    if weights:
        var = np.full(data.shape, 4.0)
        var[1, 3] = 1e-320  # subnormal: weights overflow
        s.metadata.set_item("Signal.Noise_properties.variance", var)
    m = s.create_model()
    m.extend([sf.model.components1D.Gaussian(), sf.model.components1D.Offset()])
    m[0].centre.value = N / 2
    m.assign_current_values_to_all()
    problem = m.compile(list(np.ndindex(B)), check=False)
    assert problem.N == x.size
    return problem


def _case(rng, B, P):
    """Statuses, answers and kernel checks with every branch represented."""
    codes = np.array([1, 2, 3, int(Status.CLOSED_FORM), int(Status.MAX_NFEV), int(Status.NONFINITE),
                      int(Status.BAD_DATA), int(Status.NOT_FITTED), int(Status.NO_SIGNAL)])
    status = rng.choice(codes, B)
    theta = rng.standard_normal((B, P)) * 10.0 ** rng.integers(-3, 4, (B, P))
    theta[0, 1] = 0.0
    theta[2, 0] = np.nan
    a = rng.standard_normal((B, 8, P))
    gram = a.transpose(0, 2, 1) @ a
    gram[3, 1, :] = gram[3, :, 1] = 0.0  # a dead column
    gram[4, 2, 2] = np.nan
    gram[5, 0, 0] = np.inf
    gram[6, 1, 1] = -1.0  # sqrt of a negative diagonal
    gram[7, 2, :] *= 1e-30
    gram[7, :, 2] *= 1e-30  # tiny, but compared with its own size
    gram[8] *= 1e-40  # everything tiny
    model_sq = rng.uniform(1e3, 1e6, B)
    model_sq[9] = np.nan
    gap = rng.uniform(0, 2, B)
    gap[10] = np.nan
    rel = rng.random((B, P)) > 0.15
    rel[11] = False
    return status, theta, gram, model_sq, gap, rel


@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("exact", [True, False])
def test_compiled_verdict_equals_numpy(weights, exact, monkeypatch):
    rng = np.random.default_rng(7)
    B, N = 64, 30
    problem = _problem(B, N, rng, weights)
    P = problem.P
    loss = losses.get("ls")
    for trial in range(20):
        status, theta, gram, model_sq, gap, rel = _case(rng, B, P)
        if trial % 4 == 1:
            problem.p0[:] = np.where(rng.random(problem.p0.shape) > 0.5, 0.0, problem.p0)
        checks = {"gram": gram, "model_sq": model_sq, "gap": gap, "relevant": rel}
        fast = V._compiled(problem, loss, theta, status.copy(), rel, checks, exact)
        assert fast is not None
        with monkeypatch.context() as mp:
            mp.setattr(V, "_compiled", lambda *a: None)
            want = V.verify(problem, loss, theta, status, rel, closed_form_exact=exact, checks=checks)
        got = V.verify(problem, loss, theta, status, rel, closed_form_exact=exact, checks=checks)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(fast[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])  # NaN where not judged, in both
        assert got[0].dtype == want[0].dtype
    # every branch was reached
    assert {int(Status.SINGULAR), int(Status.NONFINITE), int(Status.NOT_A_MINIMUM)} <= set(want[0].tolist())


def test_compiled_verdict_hands_back_to_numpy(monkeypatch):
    """Where only the NumPy code can decide (a tiny ‖w·d‖², the kernel's gap over
    other columns, another loss), the compiled branch declines."""
    rng = np.random.default_rng(3)
    problem = _problem(16, 30, rng)
    status, theta, gram, model_sq, gap, rel = _case(rng, 16, problem.P)
    status[:] = 1
    rel[:] = True
    checks = {"gram": gram, "model_sq": model_sq, "gap": gap, "relevant": rel.copy()}
    ls = losses.get("ls")
    assert V._compiled(problem, ls, theta, status.copy(), rel, checks, True) is not None
    other = rel.copy()
    other[13, 0] = False  # a pixel judged by its gap (the others here fail earlier checks)
    assert V._compiled(problem, ls, theta, status.copy(), other, checks, True) is None
    assert V._compiled(problem, losses.get("huber"), theta, status.copy(), rel, checks, True) is None
    problem.data[4] = 1e-200  # squares underflow
    assert V._compiled(problem, ls, theta, status.copy(), rel, checks, True) is None


_COLD = r"""
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import test_verdict as T
from swiftfit import losses
from swiftfit.engines.numba import warmup
from swiftfit.engines.numba.verdict import gram_verdict
from swiftfit.problem import verify as V
rng = np.random.default_rng(3)
problem = T._problem(16, 30, rng)
status, theta, gram, model_sq, gap, rel = T._case(rng, 16, problem.P)
checks = {"gram": gram, "model_sq": model_sq, "gap": gap, "relevant": rel}
got = V.verify(problem, losses.get("ls"), theta, status, rel, checks=checks)
print(V._compiled(problem, losses.get("ls"), theta, status, rel, checks, True) is None,
      len(gram_verdict.signatures), not warmup._STATE["proc"], warmup.any_cached(), int(got[0].sum()))
"""


def test_cold_process_verifies_with_numpy_and_compiles_nothing(tmp_path):
    """A cold first fit (background compile mode, numba's cache empty) verifies
    with the NumPy code: compiling the verdict there cost the first multifit
    ~1.8 s (measured, issue 16's 5 s start-up). Truth: nothing compiled, no
    background process started, the NumPy code's statuses."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, SWIFTFIT_COMPILE="background", NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", _COLD, str(Path(__file__).parent)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    declined, signatures, no_proc, cached, total = out.stdout.split()
    assert (declined, signatures, no_proc, cached) == ("True", "0", "True", "False")
    rng = np.random.default_rng(3)
    problem = _problem(16, 30, rng)
    status, theta, gram, model_sq, gap, rel = _case(rng, 16, problem.P)
    want = V.verify(problem, losses.get("ls"), theta, status, rel,
                    checks={"gram": gram, "model_sq": model_sq, "gap": gap, "relevant": rel})
    assert int(total) == int(want[0].sum())
