"""Loss functions.

A loss is named (``"ls"``) or a user callable; robust losses follow scipy's
``ρ(z)`` form (value, first and second derivative in one call) so every
least-squares solver can take them. The Foundation provides ``"ls"``; the
others plug in here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import InvalidInputError

__all__ = ["Loss", "get", "LOSSES"]


@dataclass(frozen=True)
class Loss:
    """A loss: ``name`` and ``rho(z) -> (ρ, ρ', ρ'')`` of the squared residual ``z``."""

    name: str
    rho: Callable | None = None
    user: Callable | None = None


def _rho_ls(z: np.ndarray):
    return z, np.ones_like(z), np.zeros_like(z)


LOSSES: dict[str, Loss] = {"ls": Loss("ls", _rho_ls)}


def get(loss) -> Loss:
    """The loss named ``loss`` (or wrapping a user callable)."""
    if isinstance(loss, Loss):
        return loss
    if callable(loss):
        return Loss("custom", None, loss)
    if loss not in LOSSES:
        raise InvalidInputError(f"`loss_function` must be one of {tuple(LOSSES)} or a callable, got {loss!r}")
    return LOSSES[loss]
