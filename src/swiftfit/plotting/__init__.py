"""Plots of models, parameters and results (matplotlib; safe with a non-interactive backend)."""
