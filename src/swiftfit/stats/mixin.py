"""Likelihood-profile methods of models (``m.confidence``, ``m.stat_profile``, ...)."""

from __future__ import annotations


class StatsMixin:
    """One-line access to :mod:`swiftfit.stats` from a model."""
