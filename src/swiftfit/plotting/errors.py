"""Plots of fit uncertainties: profiles, contours, correlations, model bands.

Every function returns a matplotlib ``Figure`` (pyplot-managed unless an
``ax`` is given, in which case its figure) and never calls ``plt.show()``.

Examples
--------
>>> _ = m.fit()
>>> fig = plot_profile(hs.stats.stat_profile(m, "Gaussian.sigma", n_values=21))
>>> fig = plot_contours(m, "Gaussian.A", "Gaussian.sigma")
>>> fig = plot_correlation(m); fig = plot_butterfly(m)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError
from ._common import new_figure

__all__ = ["plot_profile", "plot_contours", "plot_correlation", "plot_butterfly"]

_LEVEL_STYLES = ("--", "-.", ":")


def _axes(ax, figsize=(5.0, 4.0)):
    """``(figure, axes)``: the given axes' figure, or a new figure."""
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(figsize)
    return fig, fig.add_subplot()


def _current_free(m) -> tuple[Any, np.ndarray, list[str]]:
    """The model's compiled problem at the current position, its free values
    there and their names (the covariance's order).
    """
    problem = m.compile()
    return problem, np.asarray(problem.p0[0], dtype=float), list(problem.names)


def _covariance(m, names: list[str]) -> np.ndarray:
    cov = getattr(m, "covariance", None)
    if cov is None:
        raise InvalidInputError("the model has no covariance; fit it first (fit() with errors)")
    cov = np.asarray(cov, dtype=float)
    if cov.shape != (len(names), len(names)):
        raise InvalidInputError(
            f"the covariance ({cov.shape}) does not match the free parameters now ({names}); refit the model")
    return cov


def plot_profile(profile, ax=None, *, errordef: float | None = None, levels=(1, 2, 3)):
    """The fit statistic along a parameter scan, with the ``n σ`` levels.

    Horizontal lines mark ``stat_min + n²·errordef`` for ``n`` in ``levels``
    (Δstat = 1, 4, 9 for a χ²): where a profile likelihood crosses them lie
    the ``n σ`` confidence limits.

    Parameters
    ----------
    profile : dict or (values, stat)
        :func:`swiftfit.stats.stat_profile`'s result (``values``, ``stat``,
        and ``stat_min``, ``parameter`` when known), or two arrays.
    ax : matplotlib Axes, optional
    errordef : float, optional
        Δstat of one σ: 1 for χ² (default), 0.5 for a −ln L (ML-poisson); a
        profile dict's ``errordef`` is used when given.
    levels : sequence of int
        The ``n`` of the lines.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_profile(([0.0, 1.0, 2.0], [1.0, 0.0, 1.0]))
    """
    if isinstance(profile, dict):
        try:
            values, stat = profile["values"], profile["stat"]
        except KeyError as err:
            raise InvalidInputError(f"`profile` needs 'values' and 'stat' (stat_profile's dict), missing {err}") from None
        stat_min = profile.get("stat_min")
        name = profile.get("parameter", "parameter")
        errordef = profile.get("errordef", errordef)
    elif isinstance(profile, (tuple, list)) and len(profile) == 2:
        values, stat = profile
        stat_min, name = None, "parameter"
    else:
        raise InvalidTypeError(f"`profile` must be stat_profile's dict or (values, stat), got {type(profile).__name__}")
    values, stat = np.asarray(values, dtype=float).ravel(), np.asarray(stat, dtype=float).ravel()
    if values.shape != stat.shape or values.size == 0:
        raise InvalidInputError(f"`profile` values and stat must be equal-length arrays, got {values.shape} and {stat.shape}")
    errordef = 1.0 if errordef is None else float(errordef)
    if not errordef > 0:
        raise InvalidInputError(f"`errordef` must be > 0, got {errordef!r}")
    if stat_min is None or not np.isfinite(stat_min):
        stat_min = float(np.nanmin(stat))
    fig, ax = _axes(ax)
    ax.plot(values, stat, "o-", color="C0", label="profile")
    for k, n in enumerate(levels):
        ax.axhline(stat_min + n**2 * errordef, color="0.4", lw=0.9, ls=_LEVEL_STYLES[k % 3], label=f"{n}σ")
    ax.set_xlabel(str(name))
    ax.set_ylabel("fit statistic")
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_contours(m, x, y, sigmas=(1, 2, 3), ax=None, *, numpoints: int = 24):
    """The ``n σ`` contours of two parameters (profile likelihood, MINUIT's
    ``mncontour``; :func:`swiftfit.stats.stat_contour`), best fit marked.

    Parameters
    ----------
    m : Model1D or Model2D
        Fitted, at the current navigation position.
    x, y : Parameter or str
        Two free parameters (``"Component.parameter"`` or objects).
    sigmas : sequence of float
        One contour each (Δstat = σ²·errordef).
    ax : matplotlib Axes, optional
    numpoints : int
        Points per contour.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> _ = m.fit()
    >>> fig = plot_contours(m, "Gaussian.A", "Gaussian.sigma", sigmas=(1, 2))
    """
    from ..stats.profile import _Context, stat_contour

    sigmas = [float(s) for s in np.atleast_1d(sigmas)]
    if not sigmas or not all(s > 0 for s in sigmas):
        raise InvalidInputError(f"`sigmas` must be positive numbers, got {sigmas!r}")
    fig, ax = _axes(ax)
    names = None
    ctx = _Context(m)  # compiled once for every contour (and its held problems shared)
    for k, s in enumerate(sigmas):
        res = stat_contour(ctx, x, y, numpoints=numpoints, sigma=s)
        names = [key for key in res if key not in ("angles", "success", "nfev")]
        xs, ys = res[names[0]], res[names[1]]
        ax.plot(np.append(xs, xs[:1]), np.append(ys, ys[:1]), "-", color=f"C{k}", label=f"{s:g}σ")
    best = _best(m, names)
    ax.plot([best[0]], [best[1]], "k+", ms=10, label="best fit")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.legend(loc="best", fontsize="small")
    return fig


def _best(m, names) -> list[float]:
    _, values, free = _current_free(m)
    return [float(values[free.index(n)]) if n in free else np.nan for n in names]


def plot_correlation(m, ax=None, *, fmt: str = "{:+.2f}"):
    """The correlation matrix of the last fit as an image, with the parameter
    names on the axes and each coefficient written in its cell.

    Parameters
    ----------
    m : model
        Fitted (``m.correlation`` is not None).
    ax : matplotlib Axes, optional
    fmt : str
        Format of the numbers in the cells.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> _ = m.fit()
    >>> fig = plot_correlation(m)
    """
    corr = getattr(m, "correlation", None)
    if corr is None:
        raise InvalidInputError("the model has no covariance to correlate; fit it first")
    names = list(getattr(corr, "names", None) or m.fit_output.parameter_names)
    a = np.asarray(corr, dtype=float)
    P = len(names)
    fig, ax = _axes(ax, figsize=(1.6 + 0.8 * P, 1.2 + 0.7 * P))
    im = ax.imshow(a, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(P), names, rotation=45, ha="right")
    ax.set_yticks(range(P), names)
    for i in range(P):
        for j in range(P):
            text = "nan" if not np.isfinite(a[i, j]) else fmt.format(a[i, j])
            ax.text(j, i, text, ha="center", va="center", fontsize="small",
                    color="white" if np.isfinite(a[i, j]) and abs(a[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, label="correlation")
    return fig


def plot_butterfly(m, n_samples: int | None = None, ax=None, *, sigma: float = 1.0, seed=None):
    """The model with its ``± sigma`` band from the parameter covariance.

    Analytic (default): ``var f(x) = J Σ Jᵀ`` per channel, with ``J`` the
    model's Jacobian at the best fit and ``Σ`` the fit's covariance (linear
    error propagation). With ``n_samples``: parameters drawn from
    ``N(θ̂, Σ)`` and the band between the 16th and 84th percentiles of the
    sampled models (``sigma`` = 1), which also follows non-linearity.

    Parameters
    ----------
    m : Model1D
        Fitted, at the current navigation position.
    n_samples : int, optional
        Draw this many parameter sets instead of propagating linearly.
    ax : matplotlib Axes, optional
    sigma : float
        Band half-width in standard deviations (analytic band).
    seed : int or Generator, optional
        For the samples.

    Returns
    -------
    matplotlib.figure.Figure
        The axes hold the data, the model, the band (``fill_between``) and its
        edges as lines with ``gid`` ``"band_upper"`` and ``"band_lower"``.

    Examples
    --------
    >>> _ = m.fit()
    >>> fig = plot_butterfly(m); fig = plot_butterfly(m, n_samples=500, seed=0)
    """
    if len(m.axes_manager.signal_axes) != 1:
        raise InvalidInputError("plot_butterfly draws 1-D models; this model has "
                                f"{len(m.axes_manager.signal_axes)} signal dimensions")
    if not (np.isfinite(sigma) and sigma > 0):
        raise InvalidInputError(f"`sigma` must be a positive number, got {sigma!r}")
    problem, theta, names = _current_free(m)
    cov = _covariance(m, names)
    best = problem.evaluate(theta[None])[0]
    if n_samples is None:
        J = m._jacobian(theta)  # (P, N)
        with np.errstate(invalid="ignore"):
            std = np.sqrt(np.einsum("pn,pq,qn->n", J, cov, J))
        lower, upper = best - sigma * std, best + sigma * std
    else:
        if isinstance(n_samples, (bool, np.bool_)) or not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
            raise InvalidInputError(f"`n_samples` must be an integer >= 2 or None, got {n_samples!r}")
        if not np.isfinite(cov).all():
            raise InvalidInputError("the covariance has undetermined entries (NaN); cannot sample parameters")
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(theta, cov, size=int(n_samples), method="eigh")
        curves = np.array([problem.evaluate(d[None])[0] for d in draws])
        lower, upper = np.percentile(curves, [15.865525393145708, 84.13447460685429], axis=0)
    x = np.asarray(m.axis.axis, dtype=float)[np.asarray(m._channel_switches, bool).ravel()]
    data = m._rows(m.signal.data, [tuple(m.axes_manager._array_indices) if m._nav_shape else ()])[0]
    fig, ax = _axes(ax, figsize=(6.0, 4.0))
    ax.plot(x, data, ".", color="0.5", ms=3, label="data")
    ax.fill_between(x, lower, upper, color="C1", alpha=0.35, lw=0,
                    label="band" if n_samples is None else f"68% of {n_samples} samples")
    ax.plot(x, upper, "-", color="C1", lw=0.6, gid="band_upper")  # the edges, findable by gid
    ax.plot(x, lower, "-", color="C1", lw=0.6, gid="band_lower")
    ax.plot(x, best, "-", color="C0", lw=1.2, label="model")
    ax.set_xlabel(str(getattr(m.axis, "name", "x")))
    ax.legend(loc="best", fontsize="small")
    return fig
