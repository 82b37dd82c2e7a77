"""The PSF specialisation of the fused kernel in the background compile
(engines/numba/warmup.py, problem/warmup.py).

A Model2D with a PSF, oversampling or masked pixels runs the kernels with one
more table (engines/numba/psf.py), a second compiled signature. Truths:

* the background compile fits one warm-up problem per signature and writes
  one marker per signature; afterwards a user's PSF, oversampled or masked
  fit, and plain 1-D and 2-D fits, add no signature to the kernel's
  dispatcher (``fit_pixels.signatures`` unchanged: nothing left to compile);
* until the PSF signature's marker exists, a PSF fit asks for (and starts) the
  compile of its own signature first and fits on the NumPy path, with the
  maps of the compiled path to 1e-8 relative (test_fused_psf.py's tolerance);
* a fresh process loads both signatures from numba's cache (no compile, no
  crash: a PSF dispatch inside model.py once segfaulted there).

None of these needs a cold cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.engines.numba import lower as _fused
from swiftfit.engines.numba import warmup
from swiftfit.problem.warmup import warmup_problems

pytest.importorskip("numba")
C2 = sf.model.components2D


def _psf(k=5, s=1.0):
    a = np.arange(k) - (k - 1) / 2
    p = np.exp(-0.5 * (a[:, None] ** 2 + a[None, :] ** 2) / s**2)
    return p / p.sum()


def _model2d(psf=None, oversampling=1, mask=False, B=3, seed=4):
    """Gaussian2D + Offset on 12×13 frames (the NumPy path's own model plus
    N(0, 0.5²) noise), starts 5–10 % off."""
    rng = np.random.default_rng(seed)
    truth = sf.signals.Signal2D(np.zeros((12, 13))).create_model()
    truth.extend([C2.Gaussian2D(A=400.0, sigma_x=1.4, sigma_y=1.7, centre_x=6.3, centre_y=5.6), C2.Offset(offset=3.0)])
    if psf is not None or oversampling > 1:
        truth.set_psf(psf, oversampling=oversampling)
    clean = truth.as_signal().data
    m = sf.signals.Signal2D(clean + rng.normal(0, 0.5, (B, 12, 13))).create_model()
    m.extend([C2.Gaussian2D(A=430.0, sigma_x=1.5, sigma_y=1.6, centre_x=6.5, centre_y=5.4), C2.Offset(offset=3.3)])
    if psf is not None or oversampling > 1:
        m.set_psf(psf, oversampling=oversampling)
    if mask:
        keep = np.ones((12, 13), dtype=bool)
        keep[0, :4] = False
        keep[7, 9] = False
        m.set_signal_range_from_mask(keep)
    return m


def _model1d(B=3, seed=2):
    rng = np.random.default_rng(seed)
    x = np.arange(60.0)
    data = 200 * np.exp(-0.5 * ((x - 30 - rng.uniform(-2, 2, (B, 1))) / 4) ** 2) + 5 + rng.normal(0, 1, (B, 60))
    m = sf.signals.Signal1D(data).create_model()
    m.extend([sf.model.components1D.Gaussian(A=2000.0, sigma=4.4, centre=29.0), sf.model.components1D.Offset(offset=4.0)])
    return m


def _maps(m):
    return np.array([p.map["values"] for c in m for p in c.parameters])


def test_warmup_problems_cover_plain_and_psf_signatures():
    problems = warmup_problems()
    lows = {k: _fused.lower(p) for k, p in problems.items()}
    assert {k: warmup.variant(low) for k, low in lows.items()} == {"plain": "plain", "psf": "psf"}
    assert len(lows["plain"]["ex"]) == warmup.PLAIN_TABLES
    assert set(problems) == set(warmup.VARIANTS)
    # a user's PSF, oversampling-only and masked models all take the PSF signature; plain 2-D does not
    for m, want in [(_model2d(_psf()), "psf"), (_model2d(None, oversampling=2), "psf"),
                    (_model2d(_psf(3), mask=True), "psf"), (_model2d(), "plain"), (_model1d(), "plain")]:
        assert warmup.variant(_fused.lower(m.compile([(0,)]))) == want


def _compiled():
    """Every (dispatcher, signature) numba holds for the engine's modules."""
    import importlib

    from numba.core.registry import CPUDispatcher

    out = set()
    for name in ("kernels", "driver", "lm_linalg", "lm_rules", "endcheck", "model", "forms1d", "gram", "model2d", "separable2d",
                 "roi2d", "psf", "newton", "svd", "linear_start",
                 "expression_vm", "vexp", "voigt", "spline"):
        mod = importlib.import_module(f"swiftfit.engines.numba.{name}")
        for attr, d in vars(mod).items():
            if isinstance(d, CPUDispatcher):
                out |= {(name, attr, str(sig)) for sig in d.signatures}
    return out


def test_warmup_compiles_every_signature_users_fits_need(monkeypatch, tmp_path):
    """After compile_now, no fit — PSF 5×5, 4×4 with 2× oversampling,
    oversampling alone, PSF with masked pixels, plain 2-D, plain 1-D —
    compiles anything new (no numba function of the engine gains a
    signature)."""
    from swiftfit.engines.numba import driver as k

    monkeypatch.setattr(warmup, "_marker", lambda which="plain": tmp_path / f"{which}.compiled")
    monkeypatch.setattr(warmup, "_STATE", {"loaded": set(), "proc": {}, "failed": False})
    assert warmup.compile_now(warmup_problems(), first="psf") == ["psf", "plain"]
    for which in warmup.VARIANTS:
        assert warmup._cached(tmp_path / f"{which}.compiled")
    assert warmup._STATE["loaded"] == {"plain", "psf"}
    assert len(k.fit_block.signatures) >= 2
    sigs = _compiled()
    for m in [_model2d(_psf()), _model2d(_psf(4), oversampling=2), _model2d(None, oversampling=2),
              _model2d(_psf(3), mask=True), _model2d(), _model1d()]:
        m.multifit(kernel="numba")
        assert int(np.asarray(m.multifit_output.slow_path.data).sum()) == 0
        assert (m._status > 0).all()
        assert _compiled() == sigs, f"compiled beyond the warm-up: {sorted(_compiled() - sigs)}"


class _FakeProcess:
    def __init__(self, codes):
        self.codes = list(codes)

    def poll(self):
        return self.codes.pop(0)


def test_a_psf_fit_waits_for_its_own_marker(monkeypatch, tmp_path):
    """The plain signature cached, the PSF one not: a PSF fit starts the
    compile with its signature first and is not ready until that marker is
    written; plain fits stay ready throughout."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("SWIFTFIT_COMPILE", "background")
    monkeypatch.setattr(warmup, "_STATE", {"loaded": set(), "proc": {}, "failed": False})
    started = []
    monkeypatch.setattr(warmup, "_start", lambda first: started.append(first) or _FakeProcess([None, None, 0]))
    (tmp_path / "swiftfit_fused.compiled").write_text(warmup._signature())
    psf_low = {"ex": (0,) * (warmup.PLAIN_TABLES + 1)}
    assert warmup.ready() is True  # plain: cached, starts nothing
    assert started == []
    assert warmup.ready(low=psf_low) is False  # starts the compile, PSF first
    assert started == ["psf"]
    assert warmup.ready(low=psf_low) is False  # still running
    assert warmup.ready() is True
    (tmp_path / "swiftfit_fused_psf.compiled").write_text(warmup._signature())
    assert warmup.ready(low=psf_low) is True
    assert started == ["psf"]
    assert not warmup._STATE["failed"]


def test_start_refuses_an_unknown_signature():
    with pytest.raises(ValueError, match=r"first must be one of \('plain', 'psf', 'newton', 'newton_psf'\), got 'other'"):
        warmup._start("other")


def test_psf_fit_on_numpy_path_while_its_signature_compiles(monkeypatch):
    """ready() False for the PSF signature only: the PSF multifit fits on the
    NumPy path (every pixel counted slow) with the compiled path's maps to
    1e-8; ready was asked about the PSF signature."""
    ref = _model2d(_psf(), B=4)
    ref.multifit(chunk_size=2)
    assert int(np.asarray(ref.multifit_output.slow_path.data).sum()) == 0
    asked = []
    monkeypatch.setattr(warmup, "ready",
                        lambda wait=False, low=None: asked.append(warmup.variant(low)) or wait or warmup.variant(low) == "plain")
    m = _model2d(_psf(), B=4)
    m.multifit(chunk_size=2)
    assert set(asked) == {"psf"}
    assert int(np.asarray(m.multifit_output.slow_path.data).sum()) == 4
    np.testing.assert_allclose(_maps(m), _maps(ref), rtol=1e-8)
    p = _model1d()
    p.multifit()
    assert int(np.asarray(p.multifit_output.slow_path.data).sum()) == 0


_CHILD = r"""
import json
import numpy as np
import swiftfit as sf
from swiftfit.engines.numba import driver as k
from swiftfit.problem.warmup import warmup_problems
from swiftfit.engines.numba.lower import fused_lm, lower
out = {}
for key, problem in warmup_problems().items():
    sol = fused_lm(problem, lower(problem), ftol=1e-12, xtol=1e-10, max_nfev=None, radius0=1.0)
    out[key] = [int(s) for s in sol.status]
out["hits"] = int(sum(k.fit_block.stats.cache_hits.values()))
out["misses"] = int(sum(k.fit_block.stats.cache_misses.values()))
print(json.dumps(out))
"""


def test_fresh_process_loads_plain_and_psf_kernels_from_the_cache():
    """Both signatures cached (compile_now here, in this suite's cache): a new
    process fits both warm-up problems, loading both from the cache (two hits,
    no miss) and exiting cleanly."""
    warmup.compile_now(warmup_problems())
    src = str(Path(sf.__file__).resolve().parents[1])
    env = dict(os.environ, SWIFTFIT_COMPILE="inline", NUMBA_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert all(s > 0 for s in out["plain"] + out["psf"])
    assert out["hits"] == 2 and out["misses"] == 0
