"""SAMFire: Smart Adaptive Multi-dimensional Fitting (HyperSpy's), see
:class:`~swiftfit.samfire.samfire.Samfire`; created by ``m.create_samfire()``.
"""

from __future__ import annotations

from .goodness import (
    AIC_test,
    AICc_test,
    BIC_test,
    information_criteria,
    red_chisq_test,
)
from .samfire import Samfire, StrategyList
from .strategies import (
    GlobalStrategy,
    HistogramStrategy,
    LocalStrategy,
    ReducedChiSquaredStrategy,
    ReducedChiSquaredWeight,
)

__all__ = [
    "AIC_test",
    "AICc_test",
    "BIC_test",
    "GlobalStrategy",
    "HistogramStrategy",
    "LocalStrategy",
    "ReducedChiSquaredStrategy",
    "ReducedChiSquaredWeight",
    "Samfire",
    "StrategyList",
    "create_samfire",
    "information_criteria",
    "red_chisq_test",
]


def create_samfire(model, workers=None, ipyparallel: bool = False, setup: bool = True, **kwargs) -> Samfire:
    """A :class:`Samfire` for ``model`` (what ``m.create_samfire`` calls).

    Parameters
    ----------
    model : BaseModel
        With its seed pixels fitted.
    workers : int, optional
        None: one process per CPU but one (serial on a machine of 1–2 CPUs);
        1: serial.
    ipyparallel : bool
        Not supported: pass a ``dask.distributed.Client`` as ``client=``.
    setup : bool
        Prepare the optional components and the pool now.
    **kwargs
        ``client``, ``random_state``, ``show_progressbar``, ``batch_size``.

    Examples
    --------
    >>> samf = create_samfire(m, workers=1)        # doctest: +SKIP
    """
    from ..errors import InvalidInputError

    if ipyparallel:
        raise InvalidInputError(
            "ipyparallel=True is not supported: SAMFire runs serially, on a multiprocessing pool "
            "(workers=N) or on a dask.distributed cluster (client=Client(...)); pass ipyparallel=False"
        )
    return Samfire(model, workers=workers, setup=setup, **kwargs)
