"""Optimizers, found by name through :mod:`.registry`."""

from .registry import available, get, register

__all__ = ["available", "get", "register"]
