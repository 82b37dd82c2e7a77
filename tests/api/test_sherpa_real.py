"""``Fit(backend="sherpa")`` against the real sherpa package (``make sherpa``).

Skipped where sherpa is not importable (it has no wheel for every platform;
``make sherpa`` installs its build tools and builds the sdist). Marked
``sherpa``: ``pytest -m sherpa`` runs only these.

The truth of each case:

* a Gaussian + offset simulated with a fixed seed (true area 751.98, σ 6,
  centre 48, offset 5): every sherpa method that reports success must reach
  the minimum ``Fit(backend="swiftfit")`` reaches on the same data, within
  ``|Δcost| ≤ 1e-6·cost`` (χ² for ls, −ln L for ML-poisson: a parameter
  0.001σ off its minimum raises χ² by 1e-6, so this is "the same minimum"),
  with the parameters within 0.01σ;
* NIST StRD problems (certified minima, both of NIST's starts): each success
  is the minimum ``m.fit`` reaches (NIST's certified RSS to 1e-8): every
  parameter within 0.1 of its standard error of it (the standard of the
  Newton check a success passes) and ≥ 4 certified digits (3 for MGH09,
  whose standard errors are 10-60 % of its values);
* a run that does not reach that minimum must not report success, although
  sherpa 4.19 itself calls several of them "successful termination" (BoxBOD
  from one start each for simplex and levmar, LevMar stopped by ``maxfev``, an
  unrefined grid search) — while ``m.fit()`` from the same start does solve
  the problem.
"""

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.errors import FitWarning, OptimizerError
from swiftfit.gammapy_api.fit import Datasets, Fit
from swiftfit.optimizers import sherpa as scalar
from swiftfit.reference_data import load_nist, log_relative_error

optmethods = pytest.importorskip(
    "sherpa.optmethods",
    reason="sherpa is not installed (no wheel here): `make sherpa` builds it and runs these tests")
pytestmark = pytest.mark.sherpa

TRUTH = {"A": 50 * 6 * np.sqrt(2 * np.pi), "sigma": 6.0, "centre": 48.0, "offset": 5.0}


def gaussian(seed=7, box=False):
    """Poisson counts of a Gaussian + offset (TRUTH), start off the truth."""
    rng = np.random.default_rng(seed)
    x = np.arange(0, 100, 1.0)
    y = rng.poisson(50 * np.exp(-((x - 48) ** 2) / (2 * 6**2)) + 5).astype(float)
    m = hs.signals.Signal1D(y).create_model()
    g, off = hs.model.components1D.Gaussian(), hs.model.components1D.Offset()
    m.extend([g, off])
    g.A.value, g.centre.value, g.sigma.value, off.offset.value = 600, 50, 5, 4
    g.sigma.bmin = 0.5
    if box:  # a grid search needs every parameter boxed
        for p, (lo, hi) in zip((g.A, g.sigma, g.centre, off.offset), ((0, 2000), (1, 20), (0, 100), (0, 20))):
            p.bmin, p.bmax = lo, hi
    return m, [g.A, g.sigma, g.centre, off.offset]


def nist(name, start, box=False):
    prob = load_nist(name)
    x, y = prob.monotonic()
    m = hs.signals.Signal1D(y, axes=[{"axis": x}]).create_model()
    comp = hs.model.components1D.Expression(
        prob.expression, name=prob.name,
        **dict(zip(prob.parameter_names, prob.start1 if start == 1 else prob.start2)))
    m.append(comp)
    pars = [getattr(comp, n) for n in prob.parameter_names]
    if box:  # the grid search's box: 0.5-1.5 x the certified values
        for p, v in zip(pars, prob.certified_values):
            p.bmin, p.bmax = sorted((0.5 * v, 1.5 * v))
    return m, pars, prob


def run(m, backend="sherpa", loss="ls", **opts):
    return Fit(backend=backend, loss_function=loss, store_trace=True, optimize_opts=opts).run(Datasets([m]))


# ---------------------------------------------------------------- the API
def test_real_api_is_the_one_the_adapter_calls():
    """The names, config keys, ``fit`` signature and return value the adapter
    relies on, and ``hugeval``, on sherpa's own optimisers."""
    import inspect

    from sherpa.models.parameter import hugeval

    assert scalar.SHERPA_HUGE == hugeval
    for method, cls in scalar.SHERPA_METHODS.items():
        opt = getattr(optmethods, cls)()
        assert {"ftol", "maxfev"} <= set(opt.config), method
        assert list(inspect.signature(opt.fit).parameters)[:4] == ["statfunc", "pars", "parmins", "parmaxes"]
    assert {"num", "sequence", "method"} <= set(optmethods.GridSearch().config)
    assert {"seed", "rng"} <= set(optmethods.MonCar().config)
    # a 2-parameter quadratic: (success, x, fval, message, {"nfev": ...}), x an array
    out = optmethods.LevMar().fit(lambda p: (float((p - [1, 2]) @ (p - [1, 2])), p - [1, 2]),
                                  np.zeros(2), np.full(2, -hugeval), np.full(2, hugeval))
    assert len(out) == 5 and out[0] is True and isinstance(out[4]["nfev"], int)
    np.testing.assert_allclose(out[1], [1, 2], atol=1e-6)
    assert out[2] < 1e-12


# ------------------------------------------------------- Gaussian + offset
@pytest.mark.parametrize("loss,method", [("ls", "simplex"), ("ls", "levmar"), ("ls", "moncar"),
                                         ("ML-poisson", "simplex"), ("ML-poisson", "moncar")])
def test_gaussian_offset_same_minimum_as_swiftfit(loss, method):
    m_ref, ref_pars = gaussian()
    ref = run(m_ref, "swiftfit", loss)
    sigma = np.sqrt(np.diag(m_ref.fit_output.covariance))
    assert ref.success
    for p, truth, s in zip(ref_pars, TRUTH.values(), sigma):  # the simulation is what it says
        assert abs(p.value - truth) < 3 * s, p.name
    m, pars = gaussian()
    res = run(m, loss=loss, method=method)
    opt = res.optimize_result
    assert opt.success, opt.message
    cost, ref_cost = opt.total_stat, ref.optimize_result.total_stat
    assert abs(cost - ref_cost) <= 1e-6 * abs(ref_cost)
    off = np.abs([p.value - q.value for p, q in zip(pars, ref_pars)]) / sigma
    assert np.all(off <= 0.01), off  # in standard deviations
    assert opt.nfev == len(opt.trace) > 0  # every objective call counted
    assert m.fit_output.status == 6


@pytest.mark.parametrize("method", ["simplex", "levmar", "moncar"])
def test_bounds_respected_with_the_minimum_on_a_bound(method):
    """offset ≤ 4.5 where the free minimum is ≈ 5.3: the constrained minimum
    sits on the bound. Every sherpa method stays inside the box; simplex and
    moncar find swiftfit's minimum. LevMar (MINPACK's lmdif, which clips at
    the bounds and then polishes with a short simplex) stops Δχ² ≈ 8 above
    it and sherpa 4.19 calls that "successful termination": the Fit says
    it failed (status -7)."""
    m_ref, ref_pars = gaussian()
    ref_pars[3].bmax = 4.5
    ref = run(m_ref, "swiftfit")
    assert ref.success and ref_pars[3].value == pytest.approx(4.5, abs=1e-9)
    ref_cost = ref.optimize_result.total_stat
    m, pars = gaussian()
    pars[3].bmax = 4.5
    res = run(m, method=method)
    table = res.optimize_result.trace
    assert np.all(table["m0.Offset.offset"] <= 4.5) and np.all(table["m0.Gaussian.sigma"] >= 0.5)
    assert pars[3].value == pytest.approx(4.5, abs=1e-6)
    cost = res.optimize_result.total_stat
    if method == "levmar":
        assert m.fit_output.optimizer_result.success  # sherpa's own verdict
        assert not res.success and m.fit_output.status == -7 and cost - ref_cost > 1
    else:
        assert res.success, res.optimize_result.message
        assert abs(cost - ref_cost) <= 1e-6 * ref_cost


def test_gridsearch_refined_finds_the_minimum_unrefined_says_it_did_not():
    m_ref, _ = gaussian(box=True)
    ref = run(m_ref, "swiftfit").optimize_result.total_stat
    m, pars = gaussian(box=True)
    coarse = run(m, method="gridsearch", num=6)
    opt = coarse.optimize_result
    # sherpa calls the best grid point a success; it is not a minimum (Newton check)
    assert m.fit_output.optimizer_result.success and not opt.success
    assert m.fit_output.status == -7 and opt.total_stat > ref + 100
    assert opt.nfev == 6**4 + 1  # the grid and the start
    # refined by sherpa's NelderMead from the best grid point (``refine``: GridSearch's ``method``)
    m, pars = gaussian(box=True)
    res = run(m, method="gridsearch", num=6, refine="neldermead")
    assert res.success, res.optimize_result.message
    assert abs(res.optimize_result.total_stat - ref) <= 1e-6 * ref


def test_evaluation_limit_is_a_failure_as_for_m_fit():
    """Cut short by ``maxfev``: simplex says so itself; LevMar (sherpa 4.19)
    calls it "successful termination" — both are status -1 here, as
    ``m.fit(optimizer="Nelder-Mead", max_nfev=...)`` is on the same model."""
    m, _ = gaussian()
    with pytest.warns(FitWarning, match="evaluation limit"):
        m.fit(optimizer="Nelder-Mead", max_nfev=50)
    assert not m.fit_output.success and m.fit_output.status == -1
    m, _ = gaussian()
    res = run(m, method="simplex", maxfev=50)
    assert not res.success and m.fit_output.status == -1
    assert "exceeded" in res.optimize_result.message and not m.fit_output.optimizer_result.success
    m, _ = gaussian()
    res = run(m, method="levmar", maxfev=8)
    assert m.fit_output.optimizer_result.success  # sherpa's own verdict
    assert not res.success and m.fit_output.status == -1


def test_levmar_refuses_priors():
    m, pars = gaussian()
    pars[1].prior = hs.priors.GaussianPrior(6, 1)
    with pytest.raises(OptimizerError, match="levmar.*priors"):
        run(m, method="levmar")
    res = run(m, method="simplex")  # the MAP fit, priors included, by the simplex
    ref_m, ref_pars = gaussian()
    ref_pars[1].prior = hs.priors.GaussianPrior(6, 1)
    ref = run(ref_m, "swiftfit")
    assert res.success and abs(res.optimize_result.total_stat - ref.optimize_result.total_stat) <= 1e-6 * abs(
        ref.optimize_result.total_stat)


def test_gridsearch_refuses_open_bounds_and_levmar_non_ls():
    m, _ = gaussian()
    with pytest.raises(OptimizerError, match=r"gridsearch.*bmin and bmax.*Gaussian.A"):
        run(m, method="gridsearch")
    with pytest.raises(OptimizerError, match="levmar.*'ML-poisson'"):
        run(gaussian()[0], loss="ML-poisson", method="levmar")
    with pytest.raises(OptimizerError, match="refine.*'bogus'"):
        run(gaussian(box=True)[0], method="gridsearch", refine="bogus")
    with pytest.raises(OptimizerError, match="refine.*only"):
        run(gaussian()[0], method="simplex", refine="levmar")
    with pytest.raises(OptimizerError, match="unknown.*nope"):
        run(gaussian()[0], method="simplex", nope=1)


def test_moncar_is_reproducible():
    a = run(gaussian()[0], method="moncar").optimize_result
    b = run(gaussian()[0], method="moncar").optimize_result
    assert (a.nfev, a.total_stat) == (b.nfev, b.total_stat)


# ------------------------------------------------------------ NIST StRD
NIST = ("Misra1a", "Chwirut2", "DanWood", "Eckerle4", "BoxBOD", "MGH09")
# measured with sherpa 4.19: the runs that stop away from the minimum (BoxBOD
# and MGH09 from one start) — sherpa reports success for every one of them
# (MGH09/levmar: stopped by maxfev, reported as "successful termination")
SHERPA_MISSES = {("BoxBOD", 1, "levmar"): -7, ("BoxBOD", 2, "simplex"): -7,
                 ("MGH09", 1, "simplex"): -7, ("MGH09", 1, "levmar"): -1}
# certified digits a success must reach: MGH09's b2-b4 have standard errors of
# 10-60 % of their values, where 0.1σ is 2-3 digits (measured 3.2-3.5)
DIGITS = {"MGH09": 3}


def _reference(name, start):
    m, pars, prob = nist(name, start)
    m.fit()  # the HyperSpy-style door, default "lm", from the same start
    assert m.fit_output.success
    assert m.fit_output.fun == pytest.approx(prob.certified_rss, rel=1e-8)
    return m.fit_output.fun, np.array([p.value for p in pars]), np.sqrt(np.diag(m.fit_output.covariance))


@pytest.mark.parametrize("method", ["simplex", "levmar", "moncar"])
@pytest.mark.parametrize("start", [1, 2])
@pytest.mark.parametrize("name", NIST)
def test_nist_success_means_the_certified_minimum(name, start, method):
    """A reported success is the minimum ``m.fit`` finds (= NIST's certified
    RSS to 1e-8): every parameter within a tenth of its standard error (the
    Newton check's standard) and ≥ 4 certified digits (MGH09: 3); a miss is reported as
    a failure, with the status of :data:`SHERPA_MISSES`."""
    ref_cost, ref_x, sigma = _reference(name, start)
    m, pars, prob = nist(name, start)
    res = run(m, method=method)
    x = np.array([p.value for p in pars])
    cost = res.optimize_result.total_stat
    assert res.optimize_result.nfev == len(res.optimize_result.trace)
    if (name, start, method) in SHERPA_MISSES:
        assert m.fit_output.optimizer_result.success, "sherpa itself reports success"
        assert not res.success and m.fit_output.status == SHERPA_MISSES[name, start, method]
        assert cost > ref_cost * (1 + 1e-3)
        return
    assert res.success, res.optimize_result.message
    assert cost >= ref_cost * (1 - 1e-9)  # m.fit's is the minimum
    assert np.all(np.abs(x - ref_x) <= 0.1 * sigma), (x - ref_x) / sigma
    lre = log_relative_error(x, prob.certified_values)
    assert lre.min() >= DIGITS.get(name, 4), lre


@pytest.mark.parametrize("name", ["Misra1a", "BoxBOD"])
def test_nist_gridsearch_coarse_fails_refined_solves(name):
    """In the box 0.5-1.5 × the certified values, 8 points a side: the best
    grid point is no minimum (sherpa: "successful termination"; here -7 or a
    singular Jacobian); refined by NelderMead it is."""
    ref_cost, ref_x, sigma = _reference(name, 2)
    m, pars, _ = nist(name, 2, box=True)
    res = run(m, method="gridsearch", num=8)
    assert m.fit_output.optimizer_result.success and not res.success
    assert res.optimize_result.nfev == 8 ** len(pars) + 1
    m, pars, _ = nist(name, 2, box=True)
    res = run(m, method="gridsearch", num=8, refine="neldermead")
    assert res.success, res.optimize_result.message
    assert np.all(np.abs([p.value for p in pars] - ref_x) <= 0.1 * sigma)


@pytest.mark.xfail(strict=True, reason="known gap, measured with sherpa 4.19: Eckerle4 from NIST's start 1 in its "
                   "box, the best grid point refined by sherpa's simplex stops on the plateau where the peak is "
                   "far from the data (RSS 0.70, the minimum is 0.00146); the parameters are undetermined there "
                   "(standard errors ~1e8), so the Newton check cannot see it is no minimum, and success is reported")
def test_nist_gridsearch_refined_on_a_plateau_is_not_reported_as_success():
    ref_cost, _, _ = _reference("Eckerle4", 1)
    m, pars, _ = nist("Eckerle4", 1, box=True)
    res = run(m, method="gridsearch", num=8, refine="neldermead")
    assert res.optimize_result.total_stat > 100 * ref_cost  # it did stop on the plateau
    assert not res.success
