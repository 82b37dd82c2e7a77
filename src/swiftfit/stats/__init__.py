"""Statistics on fitted models: objective profiles, intervals, contours."""

from .profile import confidence, stat_contour, stat_profile, stat_surface

__all__ = ["confidence", "stat_contour", "stat_profile", "stat_surface"]
