"""Plot methods of models, components and parameters (mixed into those classes)."""

from __future__ import annotations


class ModelPlotMixin:
    """``plot``, ``plot_results``, ``gui`` of a model."""


class ComponentPlotMixin:
    """``plot`` of a component (its parameter maps)."""


class ParameterPlotMixin:
    """``plot`` of a parameter (its map)."""
