"""The seed-002 optimizer classes (AstroPhot's ``fit`` package) on swiftfit models.

Truths: ``m.fit`` (our batched LM, itself tested against NIST StRD and lmfit)
on the same model; the bounded minimum of ``m.fit(bounded=True)``; twins as
the hard form of an LM soft constraint; the values stored in a file compared
with the states the fitter recorded.
"""

from __future__ import annotations

import time

import h5py
import numpy as np
import pytest

import swiftfit as hs
from swiftfit.astrophot_api import LM, Grad, Iter, IterParam, LMConstraint, ScipyFit, Slalom
from swiftfit.astrophot_api._target import FitTarget
from swiftfit.errors import InvalidInputError

C1 = hs.model.components1D
C2 = hs.model.components2D
SQRT2PI = np.sqrt(2 * np.pi)


# --------------------------------------------------------------- models
def _values(model):
    models = model.models if hasattr(model, "models") and not hasattr(model, "signal") else [model]
    return np.array([p.value for m in models for c in m for p in c.parameters if p.free and p.twin is None])


def _stds(model):
    models = model.models if hasattr(model, "models") and not hasattr(model, "signal") else [model]
    return np.array([p.std for m in models for c in m for p in c.parameters if p.free and p.twin is None])


def _peaks(seed=0):
    """Three Gaussians (areas 50–150, σ 3–8) on an offset of 10, unweighted, σ_noise 0.3."""
    rng = np.random.default_rng(seed)
    x = np.arange(300.0)
    cen, A, sig = np.array([60.0, 140.0, 220.0]), rng.uniform(50, 150, 3), rng.uniform(3, 8, 3)
    y = 10 + sum(A[k] * np.exp(-(x - cen[k]) ** 2 / (2 * sig[k] ** 2)) / (sig[k] * SQRT2PI) for k in range(3))
    m = hs.signals.Signal1D(y + rng.normal(0, 0.3, x.size)).create_model()
    for k in range(3):
        m.append(C1.Gaussian(A=A[k] * rng.uniform(0.8, 1.2), sigma=sig[k] * rng.uniform(0.8, 1.2),
                             centre=cen[k] + rng.uniform(-1, 1)))
    m.append(C1.Offset(offset=8.0))
    return m


def _small(seed=1, bmax=None):
    """One Gaussian (A 5, σ 0.7, centre 4.8) + offset 1, noise σ 0.05 given as the variance."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 10, 200)
    y = 1.0 + 5 * np.exp(-(x - 4.8) ** 2 / (2 * 0.7 ** 2)) / (0.7 * SQRT2PI) + rng.normal(0, 0.05, x.size)
    s = hs.signals.Signal1D(y)
    s.axes_manager[-1].scale = x[1] - x[0]
    s.metadata.set_item("Signal.Noise_properties.variance", 0.05 ** 2)
    m = s.create_model()
    m.append(C1.Gaussian(A=4.0, sigma=0.9, centre=5.2))
    m.append(C1.Offset(offset=0.8))
    if bmax is not None:
        m[0].sigma.bmin, m[0].sigma.bmax = 0.1, bmax
    return m


def _image(seed=2):
    """Gaussian2D (A 50, centre (0.3, −0.2), σ (1, 1.6)) + offset 2 on a 40×40 grid, noise σ 0.05."""
    rng = np.random.default_rng(seed)
    x = -5 + 0.25 * np.arange(40)
    X, Y = np.meshgrid(x, x)
    truth = C2.Gaussian2D(A=50, centre_x=0.3, centre_y=-0.2, sigma_x=1.0, sigma_y=1.6)
    im = hs.signals.Signal2D(truth.function(X, Y) + 2.0 + rng.normal(0, 0.05, X.shape))
    for i in (0, 1):
        im.axes_manager[i].scale, im.axes_manager[i].offset = 0.25, -5.0
    m = im.create_model()
    m.append(C2.Gaussian2D(A=40, centre_x=0.0, centre_y=0.0, sigma_x=1.3, sigma_y=1.3))
    m.append(C2.Offset(offset=1.5))
    return m


def _joint(seed=3):
    """Two spectra of one Gaussian (shared centre and σ, own areas) on offsets 5 and 2.5."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 2, 150)
    models, gs = [], []
    for A, off in ((10.0, 5.0), (6.0, 2.5)):
        y = A * np.exp(-(x - 1) ** 2 / (2 * 0.25)) / (0.5 * SQRT2PI) + off + rng.normal(0, 0.2, x.size)
        s = hs.signals.Signal1D(y)
        s.axes_manager[-1].scale = x[1] - x[0]
        m = s.create_model()
        g = C1.Gaussian(A=A * 0.8, sigma=0.6, centre=0.9)
        m.extend([g, C1.Offset(offset=off - 0.5)])
        models.append(m)
        gs.append(g)
    gs[1].centre.twin = gs[0].centre
    gs[1].sigma.twin = gs[0].sigma
    return hs.JointModel(models)


def _spectrum30(seed=5):
    """30 well-separated Gaussians + offset 10 on 3000 channels; start: areas and σ
    perturbed by ±20 %, centres by ±1, offset 9.9."""
    rng = np.random.default_rng(seed)
    K, x = 30, np.arange(3000.0)
    cen, A, sig = 50 + 100 * np.arange(K), rng.uniform(50, 150, K), rng.uniform(3, 8, K)
    y = 10 + sum(A[k] * np.exp(-(x - cen[k]) ** 2 / (2 * sig[k] ** 2)) / (sig[k] * SQRT2PI) for k in range(K))
    m = hs.signals.Signal1D(y + rng.normal(0, 0.3, x.size)).create_model()
    for k in range(K):
        m.append(C1.Gaussian(A=A[k] * rng.uniform(0.8, 1.2), sigma=sig[k] * rng.uniform(0.8, 1.2),
                             centre=cen[k] + rng.uniform(-1, 1)))
    m.append(C1.Offset(offset=9.9))
    return m


def _chi2(model) -> float:
    t = FitTarget(model)
    return t.chi2(t.x0)


# ------------------------------------------------------ LM == m.fit
@pytest.mark.parametrize("build", [_peaks, _image, _joint], ids=["1d-3peaks", "2d", "joint"])
def test_lm_reproduces_mfit(build):
    """Truth: m.fit(optimizer='lm') on an identical model. Values to 1e-8
    (measured ≤ 2e-9), std to 1e-6, χ² to 1e-12 (relative)."""
    ref, mine = build(), build()
    ref.fit(optimizer="lm")
    fitter = LM(mine, relative_tolerance=1e-15, verbose=0).fit()
    assert fitter.success, fitter.message
    np.testing.assert_allclose(_values(mine), _values(ref), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(_stds(mine), _stds(ref), rtol=1e-6)
    assert fitter.res_loss() == pytest.approx(_chi2(ref), rel=1e-12)
    first = mine.models[0] if hasattr(mine, "models") else mine
    first_ref = ref.models[0] if hasattr(ref, "models") else ref
    np.testing.assert_allclose(first.red_chisq.data, first_ref.red_chisq.data, rtol=1e-10)
    # update_uncertainty writes the same std again; covariance_matrix is m.fit's covariance
    fitter.update_uncertainty()
    np.testing.assert_allclose(_stds(mine), _stds(ref), rtol=1e-6)
    np.testing.assert_allclose(fitter.covariance_matrix, np.asarray(ref.covariance), rtol=1e-6, atol=1e-14)


def test_lm_poisson_matches_mfit_ml_poisson():
    """Truth: m.fit(loss_function='ML-poisson'): the same Poisson minimum (values 1e-7)."""
    def build():
        rng = np.random.default_rng(7)
        x = np.arange(200.0)
        lam = 3 + 400 * np.exp(-(x - 90) ** 2 / (2 * 36)) / (6 * SQRT2PI)
        m = hs.signals.Signal1D(rng.poisson(lam).astype(float)).create_model()
        m.extend([C1.Gaussian(A=300, sigma=8, centre=95), C1.Offset(offset=2.0)])
        return m
    ref, mine = build(), build()
    ref.fit(loss_function="ML-poisson")
    fitter = LM(mine, likelihood="poisson", relative_tolerance=1e-15, verbose=0).fit()
    assert fitter.success, fitter.message
    np.testing.assert_allclose(_values(mine), _values(ref), rtol=1e-7)
    np.testing.assert_allclose(_stds(mine), _stds(ref), rtol=1e-5)
    t = FitTarget(ref, likelihood="poisson")
    assert fitter.res_loss() == pytest.approx(t.chi2(t.x0), rel=1e-12)
    assert fitter.poisson_2nll_ndf() == pytest.approx(fitter.res_loss() / fitter.ndf, rel=1e-12)


def test_lm_history_res_and_chi2min():
    """res() is the state of the lowest loss; chi2min = min χ² / (N − P); chi2_ndf at res()."""
    m = _small()
    fitter = LM(m, relative_tolerance=1e-12, verbose=0).fit()
    k = int(np.argmin(fitter.loss_history))
    np.testing.assert_array_equal(fitter.res(), fitter.lambda_history[k])
    assert fitter.res_loss() == min(fitter.loss_history)
    assert fitter.chi2min() == pytest.approx(min(fitter.loss_history) / (200 - 4), rel=1e-14)
    assert fitter.chi2_ndf() == pytest.approx(fitter.chi2min(), rel=1e-12)
    assert fitter.loss_history == sorted(fitter.loss_history, reverse=True)  # LM only accepts improvements
    assert np.ravel(m.red_chisq.data)[0] == pytest.approx(fitter.chi2min(), rel=1e-10)


def test_lm_without_uncertainty_writes_values_only():
    """update_uncertainty=False: the values are res(), std and χ² maps stay unset (NaN / None)."""
    m = _small()
    fitter = LM(m, verbose=0).fit(update_uncertainty=False)
    np.testing.assert_array_equal([p.value for c in m for p in c.parameters], fitter.res())
    assert np.isnan(np.ravel(m.red_chisq.data)[0])
    assert all(p.std is None or np.isnan(p.std) for c in m for p in c.parameters)


def test_lm_initial_state_overrides_model_values():
    """Starting from the LM minimum itself, the first recorded state is it and the loss cannot drop."""
    best = LM(_small(), relative_tolerance=1e-14, verbose=0).fit()
    m = _small()
    fitter = LM(m, initial_state=best.res(), relative_tolerance=1e-14, verbose=0)
    np.testing.assert_array_equal(fitter.current_state, best.res())
    fitter.fit()
    assert fitter.loss_history[0] == pytest.approx(best.res_loss(), rel=1e-14)
    assert fitter.res_loss() == pytest.approx(best.res_loss(), rel=1e-12)


def test_lm_soft_constraint_approaches_twin():
    """Truth: two Gaussians with the second's σ twinned to the first's (m.fit);
    LM with the soft constraint σ₀ − σ₁ = 0 (tolerance 1e-6) reaches it to 1e-6."""
    def build(twin):
        rng = np.random.default_rng(11)
        x = np.linspace(0, 20, 400)
        y = 2 + sum(A * np.exp(-(x - c) ** 2 / 2) / SQRT2PI for A, c in ((8, 6), (5, 13)))
        s = hs.signals.Signal1D(y + rng.normal(0, 0.05, x.size))
        s.axes_manager[-1].scale = x[1] - x[0]
        m = s.create_model()
        g0, g1 = C1.Gaussian(A=7, sigma=1.2, centre=6.2), C1.Gaussian(A=6, sigma=0.8, centre=12.8)
        m.extend([g0, g1, C1.Offset(offset=1.5)])
        if twin:
            g1.sigma.twin = g0.sigma
        return m
    ref = build(True)
    ref.fit()
    m = build(False)
    names = FitTarget(m).names
    i, j = names.index("Gaussian.sigma"), names.index("Gaussian_0.sigma")
    c = LMConstraint(m, lambda x: [x[i] - x[j]], sigma=1e-6)  # a very stiff penalty
    fitter = LM(m, constraint=c, relative_tolerance=1e-14, verbose=0).fit()
    assert fitter.success, fitter.message
    assert m[1].sigma.value == pytest.approx(m[0].sigma.value, abs=1e-7)
    np.testing.assert_allclose([p.value for comp in m for p in comp.parameters],
                               [p.value for comp in ref for p in comp.parameters], rtol=1e-6)


# ---------------------------------------------------- Iter, IterParam
_ITER_RUNS = {
    "Iter": lambda m: Iter(m, relative_tolerance=1e-9, verbose=0),
    "IterParam-seq": lambda m: IterParam(m, chunks=10, relative_tolerance=1e-9, verbose=0),
    "IterParam-rand": lambda m: IterParam(m, chunks=15, chunk_order="random", seed=3,
                                          relative_tolerance=1e-9, verbose=0),
}


@pytest.fixture(scope="module")
def lm_chi2_30():
    return LM(_spectrum30(), relative_tolerance=1e-12, verbose=0).fit().res_loss()


@pytest.mark.parametrize("name", list(_ITER_RUNS))
def test_iter_and_iterparam_reach_lm_chi2_on_30_components(name, lm_chi2_30):
    """Truth: LM's χ² on the same 30-Gaussian spectrum (91 parameters);
    block-wise fits reach it to 1e-6 relative (measured ≤ 4e-10), in about a second."""
    m = _spectrum30()
    start = time.perf_counter()
    fitter = _ITER_RUNS[name](m).fit()
    elapsed = time.perf_counter() - start
    rel = fitter.res_loss() / lm_chi2_30 - 1
    print(f"{name}: {fitter.iteration} cycles, {fitter.sub_fits} LM sub-fits, {elapsed:.2f} s, chi2/ref - 1 = {rel:.2e}")
    assert fitter.success, fitter.message
    assert -1e-9 < rel < 1e-6  # not below the LM minimum either
    assert _chi2(m) == pytest.approx(fitter.res_loss(), rel=1e-12)  # written back


def test_iterparam_chunks_as_masks_and_iter_on_2d_and_joint_model():
    """Truth: LM's χ² (to 1e-8). IterParam with two explicit masks; Iter over the components
    of a Model2D and over the two models of a JointModel."""
    ref = LM(_small(), relative_tolerance=1e-14, verbose=0).fit().res_loss()
    masks = (np.array([1, 1, 0, 0]), np.array([0, 0, 1, 1], dtype=bool))
    fitter = IterParam(_small(), chunks=masks, relative_tolerance=1e-12, verbose=0).fit()
    assert fitter.res_loss() == pytest.approx(ref, rel=1e-8)
    iref = LM(_image(), relative_tolerance=1e-14, verbose=0).fit().res_loss()
    assert Iter(_image(), relative_tolerance=1e-12, verbose=0).fit().res_loss() == pytest.approx(iref, rel=1e-8)
    jref = LM(_joint(), relative_tolerance=1e-14, verbose=0).fit().res_loss()
    jm = _joint()
    it = Iter(jm, relative_tolerance=1e-12, lm_kwargs={"relative_tolerance": 1e-12}, verbose=0)
    assert [g.sum() for g in it.groups] == [4, 2]  # m0: A, σ, centre, offset; m1: A, offset
    it.fit()
    assert it.res_loss() == pytest.approx(jref, rel=1e-8)


# --------------------------------------------------------- Grad, Slalom
@pytest.mark.parametrize("method, kwargs", [("Adam", {"lr": 0.01}), ("NAdam", {"lr": 0.01}),
                                            ("SGD", {"lr": 2e-6, "momentum": 0.9})])
def test_grad_reaches_minimum(method, kwargs):
    """Truth: LM's χ² minimum of the one-Gaussian model; Grad within 1e-3 relative."""
    ref = LM(_small(), relative_tolerance=1e-14, verbose=0).fit().res_loss()
    fitter = Grad(_small(), method=method, optim_kwargs=kwargs, max_iter=20000, patience=50,
                  relative_tolerance=1e-7, verbose=0).fit()
    print(f"{method}: {fitter.iteration} iterations, chi2/ref - 1 = {fitter.res_loss() / ref - 1:.2e}")
    assert fitter.success, fitter.message
    assert 0 <= fitter.res_loss() / ref - 1 < 1e-3


@pytest.mark.parametrize("S", [1e-4, 1e-1])
def test_slalom_reaches_minimum(S):
    """Truth: LM's χ² minimum; Slalom within 1e-3 relative from any initial S."""
    ref = LM(_small(), relative_tolerance=1e-14, verbose=0).fit().res_loss()
    fitter = Slalom(_small(), S=S, relative_tolerance=1e-7, verbose=0).fit()
    print(f"Slalom S={S}: {fitter.iteration} iterations, chi2/ref - 1 = {fitter.res_loss() / ref - 1:.2e}")
    assert fitter.success, fitter.message
    assert 0 <= fitter.res_loss() / ref - 1 < 1e-3
    assert fitter.iteration < 1000


# ------------------------------------------------------------- ScipyFit
TIGHT = {"Nelder-Mead": {"xatol": 1e-10, "fatol": 1e-10, "adaptive": True, "maxfev": 20000},
         "Powell": {"xtol": 1e-10, "ftol": 1e-13}}


@pytest.mark.parametrize("method", ["Nelder-Mead", "L-BFGS-B", "TNC", "SLSQP", "Powell", "trust-constr"])
def test_scipyfit_reaches_lm_minimum(method):
    """Truth: LM's χ² (unbounded) and m.fit(bounded=True)'s (σ ≤ 0.65, an active
    bound); every method within 1e-6 relative, inside the bounds."""
    ref = LM(_small(), relative_tolerance=1e-14, verbose=0).fit().res_loss()
    free = ScipyFit(_small(), method=method, options=TIGHT.get(method), verbose=0).fit()
    assert abs(free.res_loss() / ref - 1) < 1e-6
    # bounds that hold the minimum change nothing
    loose = _small()
    loose[0].sigma.bmin, loose[0].sigma.bmax = 0.2, 3.0
    assert ScipyFit(loose, method=method, options=TIGHT.get(method), verbose=0).fit().res_loss() == \
        pytest.approx(ref, rel=1e-6)
    bref = _small(bmax=0.65)
    bref.fit(bounded=True)
    m = _small(bmax=0.65)
    fitter = ScipyFit(m, method=method, options=TIGHT.get(method), verbose=0).fit()
    assert fitter.res_loss() == pytest.approx(_chi2(bref), rel=1e-6)
    assert all(0.1 <= s[1] <= 0.65 for s in fitter.lambda_history)
    assert m[0].sigma.value <= 0.65


# ------------------------------------------------------------ fit_valid
def test_fit_valid_keeps_parameters_in_bounds():
    """With σ ≤ 0.65 (unbounded minimum 0.699): every state of LM, Grad and Slalom
    stays in [0.1, 0.65] and LM reaches m.fit(bounded=True)'s minimum (1e-10);
    fit_valid=False lets LM reach the unbounded minimum."""
    bref = _small(bmax=0.65)
    bref.fit(bounded=True)
    for fitter in (LM(_small(bmax=0.65), relative_tolerance=1e-14, verbose=0),
                   Grad(_small(bmax=0.65), method="Adam", optim_kwargs={"lr": 0.01}, max_iter=3000, verbose=0),
                   Slalom(_small(bmax=0.65), S=1e-2, verbose=0)):
        fitter.fit()
        sig = np.array(fitter.lambda_history)[:, 1]
        assert (sig >= 0.1).all() and (sig <= 0.65).all(), type(fitter).__name__
    lm = LM(_small(bmax=0.65), relative_tolerance=1e-14, verbose=0).fit()
    assert lm.res_loss() == pytest.approx(_chi2(bref), rel=1e-10)
    unbounded = LM(_small(bmax=0.65), fit_valid=False, relative_tolerance=1e-14, verbose=0).fit()
    assert unbounded.res()[1] == pytest.approx(0.6991, abs=1e-3)
    # an initial state outside the bounds is moved inside
    assert LM(_small(bmax=0.65), initial_state=[4, 0.9, 5, 1], verbose=0).current_state[1] == 0.65


# ------------------------------------------------------------ save_steps
def test_save_steps_writes_readable_states(tmp_path):
    """Each file holds the model at the recorded state of its step (values to 1e-15)."""
    pattern = str(tmp_path / "model_step_{step}.h5")
    fitter = LM(_small(), save_steps=pattern, verbose=0).fit()
    assert len(fitter.lambda_history) >= 3
    for k, state in enumerate(fitter.lambda_history):
        restored = hs.load(pattern.replace("{step}", str(k))).models.restore("step")
        np.testing.assert_allclose([p.value for c in restored for p in c.parameters], state, rtol=1e-15)
    # a joint model: the state vector with its names and loss
    pattern = str(tmp_path / "joint_{step}.h5")
    fitter = Slalom(_joint(), S=1e-2, max_iter=3, save_steps=pattern, verbose=0).fit()
    with h5py.File(tmp_path / "joint_2.h5", "r") as f:
        np.testing.assert_array_equal(f["values"][()], fitter.lambda_history[2])
        assert [n.decode() for n in f["names"][()]] == FitTarget(_joint()).names
        assert f.attrs["loss"] == fitter.loss_history[2]


# -------------------------------------------------------------- verbose
def test_verbose_prints_progress_and_message(capsys):
    LM(_small(), verbose=1).fit()
    out = capsys.readouterr().out
    assert "chi2/ndf" in out and "success" in out
    LM(_small(), verbose=0).fit()
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("make, match", [
    (lambda m: LM(m, likelihood="cauchy"), "likelihood"),
    (lambda m: LM(m, initial_state=[1.0, 2.0]), "initial_state"),
    (lambda m: LM(m, initial_state=[1.0, np.nan, 1, 1]), "initial_state"),
    (lambda m: LM(m, relative_tolerance=-1), "relative_tolerance"),
    (lambda m: LM(m, max_iter=0), "max_iter"),
    (lambda m: LM(m, Lup=0.5), "Lup"),
    (lambda m: LM(m, save_steps="no_placeholder.h5"), "save_steps"),
    (lambda m: LM(m, forward=lambda x: x), "forward"),
    (lambda m: Grad(m, method="RMSprop"), "method"),
    (lambda m: Grad(m, method="Adam", optim_kwargs={"momentum": 0.9}), "optim_kwargs"),
    (lambda m: Grad(m, optim_kwargs={"lr": -1}), "lr"),
    (lambda m: ScipyFit(m, method="BFGS"), "method"),
    (lambda m: Slalom(m, momentum=1.5), "momentum"),
    (lambda m: Slalom(m, S=0), "S"),
    (lambda m: IterParam(m, chunks=0), "chunks"),
    (lambda m: IterParam(m, chunks=(np.array([1, 0, 0, 0]),)), "leave free parameters out"),
    (lambda m: IterParam(m, chunk_order="backwards"), "chunk_order"),
    (lambda m: IterParam(m, W=np.ones(200)), "W"),
    (lambda m: Iter(m, lm_kwargs={"Lsideways": 2}), "lm_kwargs"),
])
def test_bad_arguments_raise(make, match):
    with pytest.raises(InvalidInputError, match=match):
        make(_small())


def test_bad_types_raise():
    with pytest.raises(TypeError, match="verbose"):
        LM(_small(), verbose="loud")
    with pytest.raises(TypeError, match="constraint"):
        LM(_small(), constraint=3)
    with pytest.raises(TypeError, match="fit_valid"):
        LM(_small(), fit_valid="yes")
