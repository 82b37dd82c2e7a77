"""The problem layer: a model compiled into plain arrays and pure batched functions."""

from .problem import Problem
from .solution import STATUS_MESSAGES, Solution, Status

__all__ = ["Problem", "Solution", "STATUS_MESSAGES", "Status"]
