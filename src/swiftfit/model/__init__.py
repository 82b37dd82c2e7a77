"""Models and the component namespaces (``swiftfit.model.components1D``)."""

from ..components import components1d as components1D  # noqa: N812 (HyperSpy's name)
from ..components import components2d as components2D  # noqa: N812
from .joint import JointModel
from .model1d import Model1D
from .model2d import Model2D

__all__ = ["JointModel", "Model1D", "Model2D", "components1D", "components2D"]
