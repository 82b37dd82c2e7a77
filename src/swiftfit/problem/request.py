"""One request: the resolved and validated options of a fit, whichever door it came in by.

Every front door (``m.fit``, ``m.multifit``, joint fits, ``Fit.run``,
``minimize``, the AstroPhot-style fitter classes, SAMFire, likelihood
profiles) turns what its user typed into one frozen :class:`FitRequest` by
calling :func:`make_request`. That function is the only place that

* looks the optimizer up in the registry (:mod:`swiftfit.optimizers.registry`),
* turns a loss name (or callable) into a :class:`~swiftfit.losses.Loss`,
* checks that the optimizer can honour the loss and the bounds,
* applies the priors of the free parameters (a MAP fit: :mod:`~swiftfit.optimizers.map_fit`),
* checks the engine (``"numpy"`` or ``"jax"``) and its precision,
* takes its own keywords (``backend``, ``dtype``, ``huber_delta``,
  ``errordef``, ``rescale_covariance``, ``verify``) out of the solver options,

so a bad option gets the same clear error (naming the argument, the value and
what was expected) at every door, and two doors given the same options ask
the solver for the same thing.

Examples
--------
>>> from swiftfit.problem.request import make_request
>>> req = make_request("trf", "ls", bounded=True, options={"ftol": 1e-10, "rescale_covariance": False})
>>> req.optimizer.name, req.loss.name, req.bounded, dict(req.options), req.rescale_covariance
('trf', 'ls', True, {'ftol': 1e-10}, False)
>>> make_request("BFGS", bounded=True)
Traceback (most recent call last):
...
swiftfit.errors.OptimizerError: optimizer 'BFGS' does not support bounds; use bounded=False
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from .. import losses as _losses
from ..errors import InvalidInputError, OptimizerError
from ..optimizers import registry
from .problem import FD_SCHEMES, GRAD_MODES

__all__ = ["FitRequest", "make_request", "REQUEST_KEYWORDS"]

#: the keywords :func:`make_request` takes out of the solver options
REQUEST_KEYWORDS = ("backend", "dtype", "huber_delta", "errordef", "rescale_covariance", "verify")


@dataclass(frozen=True)
class FitRequest:
    """What a fit asks for, resolved and checked (built by :func:`make_request` only).

    Attributes
    ----------
    optimizer : OptimizerSpec
        The solver to call (``optimizer.solve(problem, loss, bounded=..., **options)``),
        already the MAP solver when a free parameter has a prior, or the JAX
        one for ``engine="jax"``.
    loss : Loss
        The loss (with the priors' terms when any), of the first dataset for a
        joint request.
    losses : tuple of Loss
        One loss per dataset (without priors): a joint fit combines them once
        its problem is compiled.
    gradients : {"auto", "analytical", "fd"}
        Where the model's Jacobian comes from (a custom loss's callable
        gradient lives in the loss).
    fd_scheme : {"2-point", "3-point", "cs"}
    bounded : bool
    rescale_covariance : bool or None
        The covariance rule: multiply by the reduced χ² (True), never (False),
        or None, HyperSpy's rule (for ``ls`` without a noise variance only).
    engine : {"numpy", "jax"}
    dtype : str or None
        The JAX precision (``engine="jax"`` only).
    verify : bool
        Check the optimizer's success at the answer (:mod:`swiftfit.problem.verify`).
    options : Mapping
        What is left for the solver (read-only).
    """

    optimizer: Any
    loss: Any
    losses: tuple
    gradients: str
    fd_scheme: str
    bounded: bool
    rescale_covariance: bool | None
    engine: str
    dtype: str | None
    verify: bool
    options: Mapping = field(default_factory=lambda: MappingProxyType({}))

    @property
    def name(self) -> str:
        """The optimizer's registered name."""
        return self.optimizer.name


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"`{name}` must be True or False, got {value!r}")
    return bool(value)


def make_request(optimizer: str | None = None, loss_function="ls", grad="auto", bounded: bool = False, *,
                 fd_scheme: str = "2-point", options: Mapping | None = None, parameters=(), model=None,
                 n_datasets: int | None = None, default: str = "lm") -> FitRequest:
    """Resolve and validate the options of a fit into one :class:`FitRequest`.

    Parameters
    ----------
    optimizer : str or None
        A registered optimizer name or alias (``swiftfit.optimizers.available()``);
        None takes ``default``.
    loss_function : str, Loss or callable, or a list of them
        ``"ls"``, ``"ML-poisson"``, ``"huber"``, a :class:`~swiftfit.losses.Loss`
        or a custom loss ``f(model, values, data, weights=None)``; with
        ``n_datasets``, one for all or one per dataset (named losses only).
    grad : {"auto", "analytical", "fd"} or callable
        A callable is the gradient of a custom ``loss_function``.
    bounded : bool
    fd_scheme : {"2-point", "3-point", "cs"}
    options : mapping, optional
        The door's keyword arguments: :data:`REQUEST_KEYWORDS` are taken out,
        the rest go to the solver. Not modified.
    parameters : iterable of Parameter
        The parameters of the fit: the free ones with a ``prior`` make it a
        MAP fit (loss and solver are changed accordingly).
    model : optional
        The model a custom loss is called with.
    n_datasets : int, optional
        A joint request (``losses`` holds one loss per dataset).
    default : str
        The optimizer when ``optimizer`` is None.

    Returns
    -------
    FitRequest

    Raises
    ------
    InvalidInputError, InvalidTypeError, OptimizerError
        Naming the argument, the value and what was expected.

    Examples
    --------
    >>> req = make_request(loss_function="ML-poisson", options={"kernel": "numpy"})
    >>> req.name, req.loss.name, dict(req.options), req.engine
    ('lm', 'ML-poisson', {'kernel': 'numpy'}, 'numpy')
    >>> make_request(loss_function="chi2")
    Traceback (most recent call last):
    ...
    swiftfit.errors.InvalidInputError: loss_function must be one of ('ls', 'ML-poisson', 'huber') or a callable, got 'chi2'
    """
    check_backend, get_backend, with_priors = _late_imports()
    opts = dict(options or {})
    spec = registry.get(default if optimizer is None else optimizer)
    bounded = _check_bool("bounded", bounded)
    if not (callable(grad) or (isinstance(grad, str) and grad in GRAD_MODES)):
        raise InvalidInputError(f"`grad` must be one of {GRAD_MODES} or a callable, got {grad!r}")
    if not (isinstance(fd_scheme, str) and fd_scheme in FD_SCHEMES):
        raise InvalidInputError(f"`fd_scheme` must be one of {FD_SCHEMES}, got {fd_scheme!r}")
    engine = check_backend(opts.pop("backend", None) or get_backend()[0])
    dtype = opts.pop("dtype", None)  # the JAX precision
    if dtype is not None and engine != "jax":
        raise InvalidInputError(f"`dtype` ({dtype!r}) applies to backend='jax' only, got backend={engine!r}")
    huber_delta = opts.pop("huber_delta", None)
    huber_delta = 1.0 if huber_delta is None else huber_delta  # None: the default, as in HyperSpy
    errordef = opts.pop("errordef", None)
    rescale = opts.pop("rescale_covariance", None)
    if rescale is not None:
        rescale = _check_bool("rescale_covariance", rescale)
    verify = _check_bool("verify", opts.pop("verify", True))
    if verify is False and spec.name in _takes_verify():
        opts["verify"] = False  # scipy's minimizers and global optimizers check their own answers too
    custom_grad = grad if callable(grad) else None
    if n_datasets is None:
        if custom_grad is not None and not callable(loss_function):
            raise InvalidInputError(
                "a callable `grad` is the gradient of a custom `loss_function`; with a built-in "
                "loss use grad='auto', 'analytical' or 'fd'"
            )
        losses = (_losses.get(loss_function, huber_delta=huber_delta, grad=custom_grad, model=model,
                              errordef=errordef),)
    else:
        names = loss_function if isinstance(loss_function, (list, tuple)) else [loss_function] * n_datasets
        if len(names) != n_datasets:
            raise InvalidInputError(
                f"`loss_function` must be one loss or {n_datasets} (one per model), got {len(names)}")
        if any(callable(n) and not isinstance(n, _losses.Loss) for n in names) or custom_grad is not None:
            raise InvalidInputError("custom loss functions are for single models; a JointModel takes named losses")
        losses = tuple(_losses.get(n, huber_delta=huber_delta) for n in names)
    for loss in losses:
        registry.check_capabilities(spec, loss_name=loss.name, bounded=bounded)
    loss, spec = with_priors(losses[0], spec, list(parameters))
    if engine == "jax":  # the JAX engine: "lm" and "ls" only
        from ..engines.jax.lm import jax_spec

        spec = jax_spec(spec, loss, dtype)
    return FitRequest(optimizer=spec, loss=loss, losses=losses, gradients="auto" if custom_grad else grad,
                      fd_scheme=fd_scheme, bounded=bounded, rescale_covariance=rescale, engine=engine,
                      dtype=dtype, verify=verify, options=MappingProxyType(opts))


@functools.cache
def _late_imports():
    """``check_backend``, ``get_backend`` and ``with_priors``, imported on first
    use (their modules import this one) and kept: an import statement in
    :func:`make_request` costs ~5 µs a call.
    """
    from ..engines import check_backend, get_backend
    from ..optimizers.map_fit import with_priors

    return check_backend, get_backend, with_priors


def _takes_verify() -> frozenset:
    """The optimizers whose ``solve`` takes ``verify`` itself (scipy's minimizers,
    its global optimizers and sherpa's: each checks the successes it reports).
    """
    from ..optimizers.scipy_global import GLOBAL_METHODS
    from ..optimizers.scipy_min import METHODS
    from ..optimizers.sherpa import PREFIX, SHERPA_METHODS

    return frozenset(METHODS) | frozenset(GLOBAL_METHODS) | {PREFIX + m for m in SHERPA_METHODS}


def check_finite_bounds(spec, problem) -> None:
    """Refuse a problem without finite bounds on every free parameter for an
    optimizer that needs them (the bounded global optimizers).
    """
    if spec.needs_finite_bounds:
        missing = [n for n, lo, hi in zip(problem.names, problem.lower, problem.upper)
                   if not (np.isfinite(lo) and np.isfinite(hi))]
        if missing:
            raise OptimizerError(
                f"optimizer {spec.name!r} needs finite bounds (bmin and bmax) on every free "
                f"parameter; missing for {missing} (Finite upper and lower bounds are needed)"
            )
