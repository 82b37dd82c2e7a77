"""The numba engine: problems lowered to instruction tables and fitted by one fused, compiled LM kernel.

:mod:`.lower` turns a :class:`~swiftfit.problem.Problem` into the tables,
:mod:`.model` evaluates a model and its Jacobian from them, :mod:`.expression_vm`
runs lowered Expressions and :mod:`.kernels` holds the compiled LM loop.
"""
