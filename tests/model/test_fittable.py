"""The fittable interface (swiftfit.problem.fittable) and the per-pixel results object.

A Model1D, a Model2D and a JointModel each go compile -> solve -> write back
through the interface and must give what their own ``fit`` gives, to 1e-12
(the truth here is the door's own result on a twin model built from the same
seeded data: the interface is the door's path, so any difference is a bug).
"""

import re
from pathlib import Path

import numpy as np
import pytest

import swiftfit as hs
import swiftfit as swiftfit_src
from swiftfit.errors import InvalidInputError, InvalidTypeError
from swiftfit.model.fit_results import FitResults
from swiftfit.model.joint import JointModel
from swiftfit.problem.fittable import Fittable
from swiftfit.problem.request import make_request
from swiftfit.problem.solution import Status

C1 = hs.model.components1D
C2 = hs.model.components2D
TOL = 1e-12


def _spectrum(seed=0, nav=None, centre=50.0):
    rng = np.random.default_rng(seed)
    x = np.arange(100.0)
    truth = 10 + 1000 / (5 * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((x - centre) / 5) ** 2)
    shape = (nav, 100) if nav else (100,)
    s = hs.signals.Signal1D(rng.poisson(np.broadcast_to(truth, shape)).astype(float))
    s.set_noise_variance(np.maximum(np.broadcast_to(truth, shape), 1.0))
    return s


def _model1d(s):
    m = s.create_model()
    m.append(C1.Gaussian(A=800.0, centre=48.0, sigma=4.0))
    m.append(C1.Offset(offset=8.0))
    if m._nav_shape:
        m.assign_current_values_to_all()
    return m


def _model2d():
    x = -3 + 0.1 * np.arange(60)
    X, Y = np.meshgrid(x, x)
    truth = C2.Gaussian2D(A=5, centre_x=0.3, centre_y=-0.2, sigma_x=1.0, sigma_y=1.5)
    rng = np.random.default_rng(3)
    im = hs.signals.Signal2D(truth.function(X, Y) + rng.normal(0, 0.01, X.shape))
    for i in (0, 1):
        im.axes_manager[i].scale = 0.1
        im.axes_manager[i].offset = -3.0
    m = im.create_model()
    m.append(C2.Gaussian2D(A=4, centre_x=0.0, centre_y=0.0, sigma_x=1.2, sigma_y=1.2))
    return m


def _joint():
    m1, m2 = _model1d(_spectrum(1)), _model1d(_spectrum(2, centre=51.0))
    m2[0].sigma.twin = m1[0].sigma  # shared across the datasets
    return JointModel([m1, m2])


def _state(models):
    out = []
    for m in models:
        for p in m.parameters():
            out.append(np.array([p.map["values"], p.map["std"]], dtype=float).ravel())
        r = m.fit_results
        out.append(np.array([r.chisq, r.dof, r.status, r.log_likelihood, r.n_free], dtype=float).ravel())
    return np.concatenate(out)


def _through_interface(f, request, pixels=None):
    """compile -> solve -> write back, nothing else."""
    problem = f.compile(pixels, request)
    solution = request.optimizer.solve(problem, request.loss, bounded=request.bounded, **request.options)
    return f.write_back(problem, solution, pixels, loss=request.loss, rescale=request.rescale_covariance)


@pytest.mark.parametrize("kind", ["Model1D", "Model2D", "JointModel"])
def test_interface_gives_what_fit_gives(kind):
    build = {"Model1D": lambda: _model1d(_spectrum()), "Model2D": _model2d, "JointModel": _joint}[kind]
    ref, f = build(), build()
    assert isinstance(f, Fittable)
    out = ref.fit()
    assert out.success
    if kind == "JointModel":
        request = make_request("lm", "ls", n_datasets=2)
        models_ref, models_f = ref.models, f.models
    else:
        request = f.fit_request()
        models_ref, models_f = [ref], [f]
    stats = _through_interface(f, request)
    assert int(stats["status"][0]) == int(out.status) > 0
    np.testing.assert_allclose(stats["chisq"][0], out.chisq, rtol=TOL, atol=0)
    np.testing.assert_allclose(stats["covariance"][0], out.covariance, rtol=TOL, atol=0)
    np.testing.assert_allclose(_state(models_f), _state(models_ref), rtol=TOL, atol=0)


def test_fit_pixels_gives_what_multifit_gives():
    """Three pixels: m.multifit (batched) and fit_pixels of the same request agree exactly."""
    ref, m = _model1d(_spectrum(4, nav=3)), _model1d(_spectrum(4, nav=3))
    ref.multifit()
    m.fit_pixels([(0,), (1,), (2,)], m.fit_request())
    assert m.fit_results.success.all()
    np.testing.assert_allclose(_state([m]), _state([ref]), rtol=TOL, atol=0)


def test_joint_multifit_pixels_through_interface():
    """A joint problem compiled at given pixels (the same in every model)."""
    def build():
        m1, m2 = _model1d(_spectrum(5, nav=2)), _model1d(_spectrum(6, nav=2, centre=51.0))
        m2[0].sigma.twin = m1[0].sigma
        return JointModel([m1, m2])

    ref, jm = build(), build()
    ref.multifit()
    request = make_request("lm", "ls", n_datasets=2)
    problem = jm.compile([(0,), (1,)], request)
    assert problem.B == 2 and problem.names[0] == "m0.Gaussian.A"
    _through_interface(jm, request, [(0,), (1,)])
    np.testing.assert_allclose(_state(jm.models), _state(ref.models), rtol=TOL, atol=0)


def test_free_parameters_are_the_problem_columns():
    jm = _joint()
    m1, m2 = jm.models
    m2[1].active = False
    m1[0].A.free = False
    names = jm.compile().names
    free = jm.free_parameters()
    assert len(free) == len(names) == 5  # m1: centre, sigma, offset; m2: A, centre (sigma twinned, offset off)
    owner = {id(p): f"m{k}.{c.name}.{p.name}" for k, m in enumerate(jm.models) for c in m for p in c.parameters}
    assert [owner[id(p)] for p in free] == names
    assert [p.name for p in m1.free_parameters()] == [n.split(".")[-1] for n in m1.compile().names]
    assert len(jm.parameters()) == 8


def test_profile_of_a_joint_model_needs_no_adapter():
    """The profiles take the JointModel itself; joint_view is now the identity."""
    from swiftfit.stats.profile import confidence, joint_view

    jm = _joint()
    jm.fit()
    assert joint_view(jm) is jm
    a = confidence(jm, "m0.Gaussian.centre")
    m = _model1d(_spectrum(1))
    m.fit()
    b = confidence(m, "Gaussian.centre")
    assert a["success"] and b["success"]
    # the joint interval is the model's when the other dataset shares only sigma: not equal,
    # but the same order (about 0.16 channels for 1000 counts of width 5)
    assert 0.1 < a["errp"] < 0.3 and 0.1 < b["errp"] < 0.3


def test_fit_target_takes_fittables_only():
    from swiftfit.astrophot_api._target import FitTarget

    with pytest.raises(InvalidTypeError, match="`model` must be a Model1D, Model2D or JointModel"):
        FitTarget(object())
    jm = _joint()
    t = FitTarget(jm)
    assert t.joint and t.writable and t.names[0] == "m0.Gaussian.A"
    assert not t.restrict(np.arange(t.P) == 0, t.x0).writable


# ----------------------------------------------------------- FitResults
def test_fit_results_is_a_live_view_of_the_stored_results():
    m = _model1d(_spectrum(7, nav=3))
    r = m.fit_results
    assert isinstance(r, FitResults)
    assert (r.status == 0).all() and np.isnan(r.chisq).all()  # nothing fitted yet
    m.multifit()
    assert r.success.all()  # the same object sees the new fits
    np.testing.assert_array_equal(r.red_chisq, m.red_chisq.data)
    np.testing.assert_array_equal(r.aic, m.aic.data)
    np.testing.assert_array_equal(r.bic, m.bic.data)
    np.testing.assert_array_equal(r.values["Gaussian.centre"], m[0].centre.map["values"])
    np.testing.assert_array_equal(r.std["Offset.offset"], m[1].offset.map["std"])
    out = r.as_signals()
    np.testing.assert_array_equal(out.status.data, r.status)
    np.testing.assert_array_equal(out.slow_path.data, r.slow_path)


def test_fit_results_rows_round_trip_and_mark_failed():
    m = _model1d(_spectrum(8, nav=3))
    m.multifit()
    r = m.fit_results
    saved = r.rows((1,))
    r.mark_failed((1,), Status.BAD_DATA)
    assert r.status[1] == -4 and np.isnan(r.chisq[1])
    r.set_rows((1,), saved)
    assert r.status[1] == saved["status"] > 0 and r.chisq[1] == saved["chisq"]
    with pytest.raises(InvalidInputError, match="`status` must be a failure"):
        r.mark_failed((1,), Status.FTOL)
    with pytest.raises(InvalidInputError, match=r"`rows` holds \['_chisq'\]"):
        r.set_rows((1,), {"_chisq": 1.0})
    with pytest.raises(AttributeError, match="view of the model's results"):
        r.chisq = np.zeros(3)


# -------------------------------------------------- no private reach-ins
_PRIVATE = re.compile(
    r"\b(?:m|model|jm|self\.model|self\._model|state\.jm|models\[0\])\."
    r"_(?:status|chisq|dof|nfev|lnl|nfree|compiled|varpro|goodness_failed|multifit_refitted|multifit_time"
    r"|problem|write_back|fit_output|remember_fit|solve_pixels|solve_options|mark_failed|check_problem)\b")


def test_no_door_outside_the_model_package_reads_a_models_private_fit_state():
    """Doors and packages fit through the Fittable interface and read m.fit_results;
    only the model package (and the EELS/EDS models, which extend its compile and
    write-back hooks) may touch the arrays and hooks behind them.
    """
    root = Path(swiftfit_src.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("model/", "eels/", "eds/")):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _PRIVATE.search(line):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []
    # the pattern does find what it is meant to find
    assert _PRIVATE.search("x = model._chisq[ind] / model._dof[ind]")
    assert _PRIVATE.search("stats = jm.models[0]._write_back(problem, solution)")
    assert _PRIVATE.search("self.problem = model._problem([pixel])")
    assert _PRIVATE.search("m.fit_results.chisq") is None
