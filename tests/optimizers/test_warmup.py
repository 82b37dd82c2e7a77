"""The fused kernel's background compile (engines/numba/warmup.py).

Truth: the NumPy reference (``kernel="numpy"``), against which the kernel is
held to 1e-8 relative (``test_fused.py``). While the background process
compiles, "lm" fits on that reference; a multifit whose chunks took different
paths must give the same maps as one whose chunks all took the kernel, to the
same 1e-8, and count exactly the NumPy-path pixels as ``slow_path``.
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
from swiftfit.engines.numba import warmup

pytest.importorskip("numba")
C = sf.model.components1D


def _model(B=32, seed=1):
    rng = np.random.default_rng(seed)
    x = np.arange(100.0)
    centre = 50 + rng.uniform(-3, 3, (B, 1))
    data = rng.poisson(500 * np.exp(-0.5 * ((x - centre) / 5) ** 2) + 10).astype(float)
    m = sf.signals.Signal1D(data).create_model()
    m.extend([C.Gaussian(A=500 * np.sqrt(2 * np.pi) * 5.5, sigma=5.5, centre=49.0), C.Offset(offset=9.0)])
    return m


def _maps(m):
    return np.array([p.map["values"] for c in m for p in c.parameters])


def test_chunks_on_either_path_give_the_same_maps(monkeypatch):
    ref = _model()
    ref.multifit(chunk_size=8)
    assert int(np.asarray(ref.multifit_output.slow_path.data).sum()) == 0
    answers = iter([False, False, True, True])  # the compile finishes after two chunks
    monkeypatch.setattr(warmup, "ready", lambda wait=False, low=None: wait or next(answers))
    m = _model()
    m.multifit(chunk_size=8)
    slow = np.asarray(m.multifit_output.slow_path.data)
    assert slow.sum() == 16 and slow[:16].all()
    np.testing.assert_allclose(_maps(m), _maps(ref), rtol=1e-8)
    assert (m._status > 0).all()


class _FakeProcess:
    def __init__(self, codes):
        self.codes = list(codes)

    def poll(self):
        return self.codes.pop(0)


def test_ready_starts_one_compile_and_waits_for_its_marker(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("SWIFTFIT_COMPILE", "background")
    monkeypatch.setattr(warmup, "_STATE", {"loaded": set(), "proc": {}, "failed": False})
    started = []
    proc = _FakeProcess([None, 0])
    monkeypatch.setattr(warmup, "_start", lambda first: started.append(first) or proc)
    assert warmup.ready() is False  # starts it
    assert warmup.ready() is False  # still running (poll: None)
    (tmp_path / "swiftfit_fused.compiled").write_text(warmup._signature())
    assert warmup.ready() is True
    assert started == ["plain"]
    assert warmup.ready(wait=True) is True


def test_the_poisson_kernel_has_its_own_background_compile(monkeypatch, tmp_path):
    """A Poisson/Huber fit asks for the damped-Newton kernel's signature
    ("newton"): its own background process and marker, started only then, and
    the least-squares kernel's readiness is not changed by it (nor the other
    way round)."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("SWIFTFIT_COMPILE", "background")
    monkeypatch.setattr(warmup, "_STATE", {"loaded": set(), "proc": {}, "failed": False})
    started = []
    monkeypatch.setattr(warmup, "_start", lambda first: started.append(first) or _FakeProcess([None] * 5))
    assert warmup.ready(family="newton") is False
    assert started == ["newton"]
    assert warmup.ready() is False  # least squares: a process of its own
    assert started == ["newton", "plain"]
    (tmp_path / "swiftfit_fused_newton.compiled").write_text(warmup._signature())
    assert warmup.ready(family="newton") is True
    assert warmup.ready() is False  # its marker is not there yet
    assert warmup.ready(family="newton", low={"ex": (0,) * (warmup.PLAIN_TABLES + 1)}) is False  # newton_psf
    with pytest.raises(ValueError, match="family.*'gauss'"):
        warmup.variant(None, "gauss")


def test_a_failed_compile_falls_back_to_compiling_here(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("SWIFTFIT_COMPILE", "background")
    monkeypatch.setattr(warmup, "_STATE", {"loaded": set(), "proc": {}, "failed": False})
    monkeypatch.setattr(warmup, "_start", lambda first: _FakeProcess([1]))
    assert warmup.ready() is False
    assert warmup.ready() is True  # exit code 1 and no marker: compile inline
    assert warmup._STATE["failed"]
    # a stale marker (another numba, other sources) does not count as compiled
    (tmp_path / "swiftfit_fused.compiled").write_text("old")
    assert not warmup._cached(tmp_path / "swiftfit_fused.compiled")


def test_inline_mode_and_a_bad_mode(monkeypatch):
    monkeypatch.setenv("SWIFTFIT_COMPILE", "inline")
    assert warmup.ready() is True
    monkeypatch.setenv("SWIFTFIT_COMPILE", "later")
    with pytest.raises(ValueError, match="SWIFTFIT_COMPILE.*'later'"):
        warmup.mode()


_CHILD = r"""
import json, time
import numpy as np
t0 = time.perf_counter()
import swiftfit as sf
from swiftfit.engines.numba import warmup
rng = np.random.default_rng(1)
x = np.arange(100.0)
data = rng.poisson(500 * np.exp(-0.5 * ((x - 50 - rng.uniform(-3, 3, (64, 1))) / 5) ** 2) + 10).astype(float)
m = sf.signals.Signal1D(data).create_model()
m.extend([sf.model.components1D.Gaussian(A=6900.0, sigma=5.5, centre=49.0), sf.model.components1D.Offset(offset=9.0)])
t1 = time.perf_counter()
m.multifit()
t2 = time.perf_counter()
first = np.array([p.map["values"].copy() for c in m for p in c.parameters])
slow = int(np.asarray(m.multifit_output.slow_path.data).sum())
warmup._STATE["proc"]["lm"].wait()
m.multifit()
again = np.array([p.map["values"] for c in m for p in c.parameters])
print(json.dumps({"first": t2 - t1, "slow": slow, "slow2": int(np.asarray(m.multifit_output.slow_path.data).sum()),
                  "differ": float(np.max(np.abs(again - first) / np.abs(first)))}))
"""


@pytest.mark.slow
def test_cold_first_multifit_does_not_wait_for_numba(tmp_path):
    """An empty cache (a fresh install): the first multifit returns in
    seconds (NumPy path), the background compile fills the cache, and the
    next multifit runs compiled with the same answers."""
    src = str(Path(sf.__file__).resolve().parents[1])
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), SWIFTFIT_COMPILE="background",
               PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=1800)  # two signatures compiled
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["first"] < 5.0
    assert out["slow"] == 64 and out["slow2"] == 0
    assert out["differ"] < 1e-8


_POISSON_CHILD = r"""
import json, time
import numpy as np
import swiftfit as sf
from swiftfit.engines.numba import warmup
rng = np.random.default_rng(2)
x = np.arange(80.0)
data = rng.poisson(40 * np.exp(-0.5 * ((x - 40 - rng.uniform(-3, 3, (32, 1))) / 4) ** 2) + 3).astype(float)
m = sf.signals.Signal1D(data).create_model()
m.extend([sf.model.components1D.Gaussian(A=420.0, sigma=4.5, centre=39.0), sf.model.components1D.Offset(offset=2.5)])
m.assign_current_values_to_all()
t1 = time.perf_counter()
m.multifit(loss_function="ML-poisson")
t2 = time.perf_counter()
first = np.array([p.map["values"].copy() for c in m for p in c.parameters])
slow = int(np.asarray(m.multifit_output.slow_path.data).sum())
ok = bool(np.all(m._status > 0))
warmup._STATE["proc"]["newton"].wait()
m.assign_current_values_to_all()
for c in m:
    for p in c.parameters:
        p.map["values"][:] = p.map["values"][0]
m.multifit(loss_function="ML-poisson")
again = np.array([p.map["values"] for c in m for p in c.parameters])
from swiftfit.engines.numba import newton_loss
misses = int(sum(newton_loss.newton_pixels.stats.cache_misses.values()))
print(json.dumps({"first": t2 - t1, "slow": slow, "ok": ok, "lm_started": "lm" in warmup._STATE["proc"], "misses": misses,
                  "slow2": int(np.asarray(m.multifit_output.slow_path.data).sum()),
                  "differ": float(np.max(np.abs(again - first) / np.abs(first)))}))
"""


@pytest.mark.slow
def test_cold_first_poisson_multifit_does_not_wait_for_numba(tmp_path):
    """An empty cache and ``loss_function="ML-poisson"``: the first multifit
    fits on NumPy's damped Newton in seconds (it compiled inline for 60–300 s
    before), only the Poisson kernel's background compile starts, and the next
    multifit runs compiled, from the cache (no signature compiled here), to the
    same minima (truth: the NumPy twin's answer, to 1e-6 relative)."""
    src = str(Path(sf.__file__).resolve().parents[1])
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), SWIFTFIT_COMPILE="background",
               PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-c", _POISSON_CHILD], env=env, capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["first"] < 5.0
    assert out["ok"] and not out["lm_started"]
    assert out["slow"] == 32 and out["slow2"] == 0
    assert out["misses"] == 0  # the model's fit loads the signature the background cached (a C-ordered theta)
    assert out["differ"] < 1e-6
