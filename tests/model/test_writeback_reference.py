"""The multifit write-back against stop 25's, kept here verbatim (issue 16).

The write-back of this stop (``FittingMixin._write_back``) takes other routes
to the same numbers: the kernel's relevance, ``row_counts`` and
``all_nan_blocks`` (problem/fastops.py), the free parameters' and identity
twins' errors from the scaled diagonal, the returned covariance and
information criteria computed when read (``LazyStats``), slices of the maps
for a chunk of consecutive pixels (``PixelChunk``), ties kept in the lowering
cache. The truth is the previous code itself: ``_old_write_back`` below is
stop 25's (commit cc14a98) with its helpers, run with the NumPy verification,
fancy-index stores, the nav index built one dimension at a time and the
lowering cache off. Maps, errors, ``is_set``, statuses, χ², dof, evaluation
counts, ``multifit_output`` and a single fit's statistics (AIC, AICc, BIC, the
covariance) must be equal bit for bit, on models with failed pixels (no
signal, data not finite, undetermined parameters with NaN errors), NaN noise
variance, bounds, an identity twin, a scaled twin, an ``expr`` tie, a mask,
1-D and 2-D navigation.
"""

import numpy as np
import pytest

import swiftfit as sf
from swiftfit import losses as _losses
from swiftfit.engines.numba import lower_cache
from swiftfit.model import fit_mixin, write_back
from swiftfit.problem import verify as V
from swiftfit.problem.goodness import goodness, scale_covariance
from swiftfit.problem.problem import nonzero_columns, relevance
from swiftfit.problem.solution import Status
from swiftfit.problem.verify import status_in

_UNDETERMINED = write_back._UNDETERMINED


def _old_positions(idx, sel):
    if idx == ():
        return () if sel.size else None
    return tuple(i[sel] for i in idx)


def _old_store(target, field, pos, values, take=None):
    if pos is None:
        return
    arr = target if field is None else target[field]
    values = np.asarray(values)
    if pos == ():
        arr[()] = values[0 if take is None else take[0]]
        return
    arr[pos] = values if take is None else values[take]


def _old_nav_index(self, pixels):
    if not self._nav_shape:
        return ()
    pixels = list(pixels)
    return tuple(np.array([p[k] for p in pixels], dtype=np.intp) for k in range(len(self._nav_shape)))


def _old_write_back(self, problem, solution, pixels, rescale=None, loss=None, parts=None,
                verify: bool = True):
    """stop 25's FittingMixin._write_back, verbatim but for the names below."""
    loss = _losses.get("ls") if loss is None else loss
    parts = [(self, pixels)] if parts is None else parts
    idx_of = {id(m): m._nav_index(px) for m, px in parts}
    theta = solution.theta
    status = np.array(solution.status, dtype=int)
    written = status != Status.BAD_DATA
    # the derivatives serve the ties (their relevance and std) only
    tied = any(plan.kind in ("twin", "expr") for plan in problem.plans)
    values, dvals = problem.parameter_values(theta, derivatives=True) if tied else \
        (problem.parameter_values(theta), [None] * len(problem.plans))
    with np.errstate(all="ignore"):
        chisq = solution.info.get("chisq")
        if chisq is None:  # a solver that knows the weighted χ² at theta passes it on
            resid = problem.residuals(theta)
            chisq = np.einsum("bn,bn->b", resid, resid)
        objective = chisq if loss.name == "ls" else loss.value(problem, theta)
    status[(status > 0) & ~np.isfinite(objective)] = Status.NONFINITE
    n = problem.N
    k = problem.P
    # free parameters that reach the model at each pixel (a component
    # inactive there takes its own out), as a single fit there would count
    rel = relevance(problem, theta, dvals) if k else np.zeros((problem.B, 0), dtype=bool)
    kk = rel.sum(axis=1)
    if verify:  # success means verified, whichever door and optimizer (swiftfit.problem.verify)
        # a solver hands over what the checks need at its answer (no second evaluation)
        status, gap = V.verify(problem, loss, theta, status, rel, checks=solution.info.get("checks"))
        solution.info.setdefault("newton_gap", gap)
    with np.errstate(all="ignore"):
        lnl = loss.log_likelihood_from_chisq(problem, chisq) if loss.name == "ls" else loss.log_likelihood(problem, theta)
        if isinstance(loss, _losses.PriorLoss) and loss.name == "ls":
            lnl = lnl + loss.log_prior(problem, theta)  # the log posterior, as the objective
    good = goodness(chisq, n, kk, lnl)
    dof, red = good.dof, good.red_chisq
    cov = solution.covariance
    # calculate_errors=False (linear optimizers): no covariance, std left NaN
    if cov is None and k and solution.info.get("errors", True):
        with np.errstate(all="ignore"):
            cov = loss.covariance(problem, theta)
    if cov is not None and k:
        singular = np.isnan(cov).all(axis=(1, 2)) & (status > 0)
        status[singular] = Status.SINGULAR
        if rescale is None:  # ls only: the others' covariances carry their own scale
            rescale = problem.weights is None and loss.name == "ls"
        cov = scale_covariance(cov, red, rescale)
        # not determined: no error bars at all (NaN, never a std of 0)
        undetermined = status_in(status, _UNDETERMINED)
        if undetermined.any():
            cov = np.array(cov, dtype=float)
            cov[undetermined] = np.nan
    aic, aicc, bic = good.aic, good.aicc, good.bic
    params = [p for c in problem.components for p in c.parameters]
    sel = np.flatnonzero(written)
    # where each model's maps are written, found once (not per parameter and field)
    take = None if sel.size == problem.B else sel
    pos_of = {key: _old_positions(idx, sel) for key, idx in idx_of.items()}
    ones = np.ones(problem.B, bool)
    if cov is not None:
        cov_diag = np.einsum("bpp->bp", cov)
        with np.errstate(invalid="ignore"):
            std_free = np.sqrt(cov_diag)  # the free columns' errors, NaN where undetermined
    for i, p in enumerate(params):
        plan = problem.plans[i]
        if plan.kind == "fixed":  # as HyperSpy: every parameter of a fitted pixel is set
            _old_store(p._map, "is_set", pos_of[id(p.component.model)], ones, take)
            continue
        v = values[i] if np.shape(values[i]) == (problem.B,) else np.broadcast_to(values[i], (problem.B,))
        if cov is not None and plan.kind == "free":
            std = std_free[:, plan.column]
        elif cov is not None and dvals[i] is not None:
            # only the columns it depends on somewhere (a twin: one; the
            # others add exact zeros to the sum)
            on = np.flatnonzero(nonzero_columns(dvals[i]))
            d = dvals[i][:, on]
            with np.errstate(invalid="ignore"):
                cov_known = np.nan_to_num(cov[:, on[:, None], on], nan=0.0)
                std = np.sqrt(np.einsum("bp,bpq,bq->b", d, cov_known, d))
            # undetermined if it depends on a column whose variance is unknown
            undetermined = (np.isnan(cov_diag[:, on]) & (d != 0)).any(axis=1)
            std = np.where(undetermined, np.nan, std)
        else:
            std = np.full(problem.B, np.nan)
        idx = pos_of[id(p.component.model)]
        _old_store(p._map, "values", idx, v, take)
        _old_store(p._map, "std", idx, std, take)
        _old_store(p._map, "is_set", idx, ones, take)
    for m, _ in parts:
        idx = pos_of[id(m)]
        _old_store(m._chisq, None, idx, chisq, take)
        _old_store(m._dof, None, idx, dof.astype(float), take)
        _old_store(m._nfev, None, idx, solution.nfev, take)
        _old_store(m._status, None, idx, status, take)
        compiled = getattr(m, "_compiled", None)
        if compiled is not None and compiled.shape == m._status.shape:
            _old_store(compiled, None, idx, solution.info.get("compiled", np.zeros(problem.B, dtype=bool)), take)
        vp = getattr(m, "_varpro", None)
        if vp is not None and vp.shape == m._status.shape:
            _old_store(vp, None, idx, solution.info.get("varpro", np.zeros(problem.B, dtype=bool)), take)
        _old_store(m._lnl, None, idx, lnl, take)
        _old_store(m._nfree, None, idx, kk.astype(float), take)
    return {"chisq": chisq, "dof": dof, "red_chisq": red, "covariance": cov, "status": status,
            "log_likelihood": lnl, "aic": aic, "aicc": aicc, "bic": bic}


def _old_relevant(low, B, P, everywhere=None):
    """stop 25's engines.numba.lower._relevant (``everywhere``, the caller's
    ``active.all()`` since stop 28, is not read)."""
    rel = np.zeros((B, P), dtype=bool)
    col, qoff, nq, active = low["col"], low["qoff"], low["nq"], low["active"]
    ties, tcols = low["ex"][7], low["ex"][9]
    for c in range(len(nq)):
        cols = []
        for j in col[qoff[c]:qoff[c] + nq[c]]:
            if 0 <= j < P:
                cols.append(j)
            elif j > P:
                t = ties[j - P - 1]
                cols.extend(tcols[t[4]:t[4] + t[5]])
        if cols:
            rel[:, cols] |= active[:, c, None]
    return rel


def _model(nav, tie, variance):
    rng = np.random.default_rng(5)
    x = np.arange(120.0)
    B = int(np.prod(nav))
    c = 60 + rng.uniform(-2, 2, B)
    lam = 5 + 400 * np.exp(-0.5 * ((x - c[:, None]) / 4.0) ** 2) + 150 * np.exp(-0.5 * ((x - 30) / 4.0) ** 2) \
        + 200 * np.exp(-0.5 * ((x - 90) / 3.0) ** 2)
    data = rng.poisson(lam).astype(float)
    data[3] = 0.0  # no signal
    data[5, 7] = np.nan  # not finite
    s = sf.signals.Signal1D(data.reshape(nav + (x.size,)))
    if variance:
        s.metadata.set_item("Signal.Noise_properties.variance", np.maximum(data, 1.0).reshape(s.data.shape))
    m = s.create_model()
    g1, g2 = sf.model.components1D.Gaussian(), sf.model.components1D.Gaussian()
    g1.A.value, g1.sigma.value, g1.centre.value = 9000.0, 5.0, 59.0
    g2.A.value, g2.sigma.value, g2.centre.value = 3000.0, 5.0, 31.0
    off = sf.model.components1D.Offset()
    off.offset.value = 4.0
    m.extend([g1, g2, off])
    if tie == "twin":
        g2.sigma.twin = g1.sigma
    elif tie == "scaled":
        g2.sigma.twin = g1.sigma
        g2.sigma.twin_function_expr = "1.0*x + 0.0"  # equal values, through a register program
    elif tie == "expr":
        g2.sigma.expr = f"{g1.name}.sigma * 1.0"
    g1.sigma.bmin, g1.sigma.bmax = 1.0, 20.0
    m.assign_current_values_to_all()
    g3 = sf.model.components1D.Gaussian()  # fixed amplitude 0 at two pixels: SINGULAR, NaN errors
    g3.sigma.value, g3.centre.value = 3.0, 90.0
    m.append(g3)
    g3.A.free = False
    m.assign_current_values_to_all()
    flat = g3.A.map["values"].reshape(-1)
    flat[:] = 200 * 3.0 * np.sqrt(2 * np.pi)
    flat[[8, 9]] = 0.0
    return m


def _outputs(m):
    out = {}
    for c in m:
        for p in c.parameters:
            for f in ("values", "std", "is_set"):
                out[f"{c.name}.{p.name}.{f}"] = p.map[f].copy()
    for a in ("_chisq", "_dof", "_nfev", "_status", "_lnl", "_nfree", "_compiled"):
        out[a] = np.array(getattr(m, a))
    mo = m.multifit_output
    for a in ("status", "nfev", "chisq", "success", "refitted"):
        out["mo." + a] = np.asarray(getattr(mo, a).data).copy()
    for a in ("aic", "aicc", "bic", "red_chisq"):
        out[a] = np.asarray(getattr(m, a).data).copy()
    return out


def _previous_code(mp):
    from swiftfit.engines.numba import lower

    mp.setattr(fit_mixin.FittingMixin, "_write_back", _old_write_back)
    mp.setattr(fit_mixin.FittingMixin, "_nav_index", _old_nav_index)
    mp.setattr(V, "_compiled", lambda *a: None)
    mp.setattr(lower, "_relevant", _old_relevant)
    mp.setattr(lower, "all_nan_blocks", lambda cov: np.isnan(cov).all(axis=(1, 2)))
    mp.setattr(lower_cache, "ENABLED", False)


def _same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert np.asarray(a[key]).dtype == np.asarray(b[key]).dtype, key


@pytest.mark.parametrize("nav", [(12,), (3, 4)])
@pytest.mark.parametrize("tie", ["twin", "scaled", "expr"])
@pytest.mark.parametrize("variance", [False, True])
def test_multifit_maps_as_the_previous_write_back(nav, tie, variance, monkeypatch):
    mask = np.zeros(nav, dtype=bool)
    mask.reshape(-1)[10] = True
    new = _model(nav, tie, variance)
    new.multifit(mask=mask, bounded=True)
    new.multifit(mask=mask, bounded=True)  # a second call: the lowering cache serves it
    with monkeypatch.context() as mp:
        _previous_code(mp)
        old = _model(nav, tie, variance)
        old.multifit(mask=mask, bounded=True)
        old.multifit(mask=mask, bounded=True)
    a, b = _outputs(new), _outputs(old)
    _same(a, b)
    status = a["_status"].reshape(-1)
    # the pixels built to fail, failed as stated
    assert status[3] == Status.NO_SIGNAL and status[5] == Status.BAD_DATA and status[10] == 0
    assert set(status[[8, 9]].tolist()) == {int(Status.SINGULAR)}
    g1, g2, _, g3 = (c.name for c in new)
    for name in (f"{g3}.centre", f"{g3}.sigma"):  # undetermined: NaN, never 0
        assert np.isnan(a[f"{name}.std"].reshape(-1)[[8, 9]]).all()
    fitted = np.setdiff1d(np.arange(12), [3, 5, 8, 9, 10])
    assert (status[fitted] > 0).all()
    # the tie: sigma of the second Gaussian is the first's (a tied value's error from the chain rule)
    np.testing.assert_array_equal(a[f"{g2}.sigma.values"], a[f"{g1}.sigma.values"])
    np.testing.assert_array_equal(a[f"{g2}.sigma.std"], a[f"{g1}.sigma.std"])


@pytest.mark.parametrize("tie", ["twin", "expr"])
def test_single_fit_statistics_as_the_previous_write_back(tie, monkeypatch):
    """``fit()`` reads every statistic (LazyStats computes them then): the summary's
    χ², AIC, AICc, BIC and the covariance equal the previous code's."""
    new = _model((12,), tie, False)
    new.axes_manager.indices = (2,)
    res_new = new.fit(bounded=True)
    with monkeypatch.context() as mp:
        _previous_code(mp)
        old = _model((12,), tie, False)
        old.axes_manager.indices = (2,)
        res_old = old.fit(bounded=True)
    for key in ("chisq", "aic", "aicc", "bic", "red_chisq", "success"):
        assert np.array_equal(np.asarray(res_new[key]), np.asarray(res_old[key])), key
    np.testing.assert_array_equal(np.asarray(new.covariance), np.asarray(old.covariance))
    assert np.isfinite(res_new["aic"]) and res_new["success"]
    # AIC = 2k − 2 ln L from the model's own maps (stated formula)
    k = float(new._nfree[2])
    assert res_new["aic"] == pytest.approx(2 * k - 2 * float(new._lnl[2]), rel=1e-12)
