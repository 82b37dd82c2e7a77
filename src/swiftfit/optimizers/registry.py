"""Registry of optimizers: name -> object declaring its capabilities.

Capabilities are checked up front, in one place, with one clear message, so a
new optimizer is one file plus one ``register`` call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import OptimizerError

__all__ = ["OptimizerSpec", "register", "get", "available", "ALIASES"]


@dataclass(frozen=True)
class OptimizerSpec:
    """What an optimizer can do, and the function that runs it.

    ``solve(problem, loss, *, bounded, **options) -> Solution``. ``losses``
    holds the loss names it accepts ("ls", "ML-poisson", "huber", "custom").
    ``needs_finite_bounds``: every free parameter must have finite bmin/bmax
    (the bounded global optimizers); checked up front by the model.
    """

    name: str
    solve: Callable
    bounds: bool
    gradients: bool
    errors: bool
    losses: frozenset = frozenset({"ls"})
    batched: bool = False
    kind: str = "local"
    linear: bool = False
    needs_finite_bounds: bool = False
    description: str = ""
    aliases: tuple = field(default_factory=tuple)


_REGISTRY: dict[str, OptimizerSpec] = {}
ALIASES: dict[str, str] = {"leastsq": "lm"}


def register(spec: OptimizerSpec) -> OptimizerSpec:
    """Add ``spec`` (and its aliases) to the table of optimizers; returns it."""
    _REGISTRY[spec.name] = spec
    for alias in spec.aliases:
        ALIASES[alias] = spec.name
    return spec


def available() -> list[str]:
    """Names of every registered optimizer."""
    _load_builtin()
    return sorted(_REGISTRY)


def get(name: str) -> OptimizerSpec:
    """The optimizer registered under ``name`` (or an alias of it)."""
    _load_builtin()
    if not isinstance(name, str):
        raise OptimizerError(f"`optimizer` must be a string, got {name!r}")
    key = ALIASES.get(name, name)
    if key not in _REGISTRY:
        raise OptimizerError(f"`optimizer` must be one of {tuple(sorted(_REGISTRY))}, got {name!r}")
    return _REGISTRY[key]


def check_capabilities(spec: OptimizerSpec, *, loss_name: str, bounded: bool) -> None:
    """Refuse, with one message, a request the optimizer cannot honour."""
    if loss_name not in spec.losses:
        raise OptimizerError(
            f"optimizer {spec.name!r} supports loss_function in {sorted(spec.losses)}, "
            f"got {loss_name!r}; use e.g. optimizer='Nelder-Mead' or 'L-BFGS-B' for other losses"
        )
    if bounded and not spec.bounds:
        raise OptimizerError(f"optimizer {spec.name!r} does not support bounds; use bounded=False")


# each module registers its optimizers when imported
_BUILTIN_MODULES = ("lm", "scipy_lsq", "scipy_min", "scipy_global", "linear", "odr", "minuit", "varpro",
                    "sherpa")
_LOADED = False


def _load_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import importlib

    for name in _BUILTIN_MODULES:
        importlib.import_module(f"{__package__}.{name}")
