"""Backends of :class:`swiftfit.datasets_fit.Fit` beyond the model optimizers (scipy, sherpa, HESSE) and the trace."""
