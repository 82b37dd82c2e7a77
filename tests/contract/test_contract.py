"""The contract battery (issue 15, item 9): every problem × door × optimizer × engine.

See ``battery.py`` for the problems, the doors and the contract. The default
run covers every door with ``lm`` on every problem, every optimizer on the
Gaussian + offset problem and on the bounded one (the refusals included), and
the three engines on ``m.fit``/``m.multifit``; the full product is ``slow``.
``python tests/contract/table.py`` prints the optimizer × door table.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from battery import DOORS, GLOBAL, KNOWN, contract, make_cases, run_door

from swiftfit.optimizers import registry

CASES = make_cases()
_HAS_SHERPA = importlib.util.find_spec("sherpa") is not None


def _param(optimizer: str, *marks):
    """A sherpa optimizer's case is marked ``sherpa`` and skipped where sherpa is
    not installed (no wheel everywhere: ``make sherpa``)."""
    if optimizer.startswith("sherpa-"):
        marks = (*marks, pytest.mark.sherpa,
                 pytest.mark.skipif(not _HAS_SHERPA, reason="sherpa is not installed (`make sherpa`)"))
    return pytest.param(optimizer, marks=marks)


OPTIMIZERS = registry.available()
LOCAL = [o for o in OPTIMIZERS if o not in GLOBAL]


def _assert_contract(result: dict) -> None:
    fails = {door: detail for door, (verdict, detail) in result.items() if verdict == "FAIL"}
    assert not fails, fails
    for door, (verdict, detail) in result.items():
        if verdict == "xfail":
            pytest.xfail(detail)


@pytest.mark.parametrize("case", list(CASES))
def test_lm_every_door(case):
    """lm through every door that applies: same verdict, the truth, F⁻¹."""
    result = contract(CASES[case], "lm")
    _assert_contract(result)
    ran = [door for door, (verdict, _) in result.items() if verdict == "pass"]
    assert {"fit", "joint", "Fit.run", "LM"} <= set(ran)


# COBYLA and COBYQA take 3-110 s a door here (minimize gives them lmfit's 2·2000·(P+1) calls)
_SLOW = ("COBYLA", "COBYQA")
_DEFAULT = [_param(o, pytest.mark.slow) if o in _SLOW else _param(o) for o in LOCAL]


@pytest.mark.parametrize("optimizer", _DEFAULT)
def test_every_local_optimizer(optimizer):
    """Every local optimizer through every door on the Gaussian + offset problem
    (the refusals included: Fit respects bmin/bmax, linear solvers refuse it)."""
    _assert_contract(contract(CASES["gauss_offset"], optimizer))


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", [_param(o) for o in LOCAL])
def test_every_local_optimizer_on_a_bound(optimizer):
    _assert_contract(contract(CASES["on_bound"], optimizer))


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", [_param(o) for o in OPTIMIZERS])
@pytest.mark.parametrize("case", list(CASES))
def test_full_battery(case, optimizer):
    _assert_contract(contract(CASES[case], optimizer))


_ENGINES = [pytest.param("numba"), pytest.param("jax", marks=pytest.mark.slow)]  # JAX compiles for ~35 s


@pytest.mark.parametrize("engine", _ENGINES)
@pytest.mark.parametrize("case", ["linear", "gauss_offset", "rational", "joint"])
def test_engines_agree_with_numpy(case, engine):
    """lm on the compiled (numba) kernel and on JAX: the same answer and verdict
    as NumPy through fit and multifit; a joint fit (a twin: an expr tie) is
    refused by both by name."""
    pytest.importorskip(engine)
    c = CASES[case]
    for door in ("fit", "multifit"):
        ref = run_door(c, door, "lm", "numpy")
        out = run_door(c, door, "lm", engine)
        if case == "joint":
            assert out.state == "refused", out.message
            assert ("backend" if engine == "jax" else "kernel='numba'") in out.message
            continue
        assert out.state == "ok", out.message
        assert out.success == ref.success
        np.testing.assert_allclose(out.values, ref.values, rtol=1e-6)
        np.testing.assert_allclose(out.std, ref.std, rtol=1e-5)
    _assert_contract(contract(c, "lm", engine, doors=("fit", "multifit")))


@pytest.mark.parametrize("optimizer", ["trf", "L-BFGS-B", "minuit", "lstsq"])
def test_jax_refuses_every_optimizer_but_lm(optimizer):
    pytest.importorskip("jax")
    out = run_door(CASES["gauss_offset"], "fit", optimizer, "jax")
    assert out.state == "refused"
    assert "backend='jax' supports optimizer='lm'" in out.message and repr(optimizer) in out.message


# ------------------------------------------------------------ refusals, by name
@pytest.mark.parametrize("door", ["fit", "multifit", "joint", "minimize", "Fit.run"])
def test_unbounded_optimizer_with_bounds_is_refused_at_every_door(door):
    out = run_door(CASES["on_bound"], door, "BFGS")
    assert out.state == "refused"
    assert "'BFGS' does not support bounds" in out.message


@pytest.mark.parametrize("door", ["fit", "multifit", "joint"])
@pytest.mark.parametrize("optimizer", ["trf", "odr", "lstsq"])
def test_residual_optimizer_with_poisson_counts_is_refused(door, optimizer):
    out = run_door(CASES["poisson"], door, optimizer)
    assert out.state == "refused"
    assert f"optimizer {optimizer!r} supports loss_function in" in out.message and "'ML-poisson'" in out.message


def test_global_optimizer_without_finite_bounds_is_refused():
    for door in ("fit", "Fit.run", "minimize"):
        out = run_door(CASES["gauss_offset"], door, "Differential Evolution")
        assert out.state == "refused", door
        assert "finite" in out.message and ("bound" in out.message or "min and max" in out.message)


def test_nan_pixel_refused_by_the_single_doors_and_flagged_by_multifit():
    c = CASES["nan_pixel"]
    one = c.data.copy()
    c1 = type(c)(**{**c.__dict__, "data": one[1], "kind": "single"})
    for door in ("fit", "joint", "Fit.run", "LM"):
        out = run_door(c1, door, "lm")
        assert out.state == "refused" and "NaN" in out.message, (door, out.message)
    out = run_door(c, "multifit", "lm")  # asserts the NaN pixel fails, the others are fitted
    assert out.state == "ok" and out.success


def test_joint_model_of_one_poisson_dataset_uses_every_point():
    """Regression: a one-dataset problem's segment said -1 points, so the
    CompositeLoss of ``JointModel([m]).fit(loss_function="ML-poisson")`` left the
    last data point out (covariance 0.7 % off). Truth: ``m.fit`` on the same data."""
    c = CASES["poisson"]
    a = run_door(c, "fit", "lm")
    b = run_door(c, "joint", "lm")
    np.testing.assert_allclose(b.std, a.std, rtol=1e-6)
    np.testing.assert_allclose(b.values, a.values, rtol=1e-6)


def test_known_disagreements_are_stated():
    assert all(isinstance(v, str) and len(v) > 20 for v in KNOWN.values())
    assert set(DOORS) >= {door for (_, _, door) in KNOWN}
