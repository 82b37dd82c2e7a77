"""Information criteria exactly as HyperSpy 2.5 computes them (``hs.utils.model_selection``).

HyperSpy's ``AIC``/``AICc``/``BIC`` count the noise variance as one more
parameter (``k`` = free parameters + 1) and take as "ln L" the value of its
Poisson fit objective, ``−Σ (y·ln μ − μ)`` over the signal range — with the
signal *axis values* in place of the counts ``y``. These functions reproduce
those numbers so HyperSpy scripts that compare models by them get the same
ranking; they refuse models with navigation axes, as HyperSpy does, and ``n``
in AICc/BIC is the signal size. swiftfit's own ``m.aic``/``m.aicc``/``m.bic``
use the likelihood of the noise model in use and ``k`` = free parameters (see
the README's table of differences from HyperSpy).

Examples
--------
>>> import numpy as np, swiftfit as hs
>>> from swiftfit.utils.model_selection import AIC
>>> s = hs.signals.Signal1D(np.arange(1.0, 11.0))
>>> m = s.create_model(); m.append(hs.model.components1D.Offset())
>>> m[0].offset.value = 5.5
>>> round(AIC(m), 6)       # 2·2 + 2·Σ(x ln 5.5 − 5.5), x = 0..9
47.427328
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError

__all__ = ["AIC", "AICc", "BIC"]


def _lnl_k_n(model):
    if model._nav_shape:
        raise InvalidInputError(
            f"HyperSpy's information criteria need a model without navigation axes, got navigation shape "
            f"{model._nav_shape}; slice one pixel with m.inav[...] or use m.aic / m.aicc / m.bic"
        )
    switches = model._channel_switches
    x = np.asarray(model.axis.axis, dtype=float)[switches]
    mu = np.asarray(model(), dtype=float)[switches]
    with np.errstate(invalid="ignore", divide="ignore"):
        lnl = -float(np.sum(x * np.log(mu) - mu))
    k = len(model._free_parameters_at_current()) + 1  # + 1: the noise variance
    return lnl, k, int(np.prod(model._signal_shape_in_array))


def AIC(model) -> float:  # noqa: N802 (HyperSpy's name)
    """Akaike's criterion ``2k − 2 ln L`` (HyperSpy's ``k`` and ``ln L``, see module)."""
    lnl, k, _ = _lnl_k_n(model)
    return 2 * k - 2 * lnl


def AICc(model) -> float:  # noqa: N802
    """AIC corrected for small samples, ``AIC + 2k(k+1)/(n−k−1)``."""
    lnl, k, n = _lnl_k_n(model)
    return 2 * k - 2 * lnl + 2 * k * (k + 1) / (n - k - 1)


def BIC(model) -> float:  # noqa: N802
    """Schwarz's criterion ``k ln n − 2 ln L``."""
    lnl, k, n = _lnl_k_n(model)
    return k * np.log(n) - 2 * lnl
