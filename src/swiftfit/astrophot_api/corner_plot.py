"""Corner plots of posterior draws: the ``corner`` package when installed, matplotlib otherwise."""

from __future__ import annotations

import importlib.util

import numpy as np

from ..errors import InvalidInputError

__all__ = ["corner_plot"]


def corner_plot(samples, names=None, truths=None, bins: int = 30, quantiles=(0.16, 0.5, 0.84),
                use_corner: bool | None = None, fig=None, **kwargs):
    """Histograms of each parameter and 2-D histograms of each pair.

    Parameters
    ----------
    samples : array_like (n, P)
        Draws (e.g. ``sampler.flat_chain``).
    names : list of str, optional
        Axis labels.
    truths : array_like (P,), optional
        Values to mark with lines.
    bins : int
        Histogram bins.
    quantiles : tuple of float
        Marked on the 1-D histograms.
    use_corner : bool, optional
        ``None``: the ``corner`` package when it is installed; ``False``: the
        matplotlib fallback; ``True``: ``corner`` (ImportError when missing).
    fig : matplotlib Figure, optional
        Draw into it.
    **kwargs
        Passed to ``corner.corner``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fig = corner_plot(rng.normal(size=(500, 2)), names=["a", "b"], use_corner=False)
    >>> len(fig.axes)
    4
    """
    X = np.asarray(samples, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] < 2:
        raise InvalidInputError(f"`samples` must have shape (n_draws, n_params) with n_draws >= 2, got {X.shape}")
    P = X.shape[1]
    names = [f"x{j}" for j in range(P)] if names is None else list(names)
    if len(names) != P:
        raise InvalidInputError(f"`names` must have {P} entries, got {len(names)}")
    if truths is not None and np.shape(truths) != (P,):
        raise InvalidInputError(f"`truths` must have shape ({P},), got {np.shape(truths)}")
    if use_corner is None:
        use_corner = importlib.util.find_spec("corner") is not None
    if use_corner:
        from .._optional import require

        corner = require("corner", "corner")
        return corner.corner(X, labels=names, truths=truths, bins=bins, quantiles=list(quantiles), fig=fig, **kwargs)
    return _matplotlib_corner(X, names, truths, bins, quantiles, fig)


def _matplotlib_corner(X, names, truths, bins, quantiles, fig):
    import matplotlib.pyplot as plt

    P = X.shape[1]
    if fig is None:
        fig = plt.figure(figsize=(2.2 * P + 1, 2.2 * P + 1))
    axes = fig.subplots(P, P, squeeze=False)
    for i in range(P):
        for j in range(P):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                ax.hist(X[:, j], bins=bins, histtype="step", color="k")
                for q in np.quantile(X[:, j], quantiles):
                    ax.axvline(q, ls="--", color="k", lw=0.8)
                ax.set_yticks([])
            else:
                ax.hist2d(X[:, j], X[:, i], bins=bins, cmap="Greys")
                if truths is not None:
                    ax.axhline(truths[i], color="tab:blue")
            if truths is not None:
                ax.axvline(truths[j], color="tab:blue")
            if i == P - 1:
                ax.set_xlabel(names[j])
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(names[i])
            elif i != j:
                ax.set_yticklabels([])
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig
