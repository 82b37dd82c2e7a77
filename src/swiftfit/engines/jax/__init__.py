"""The JAX engine: components lowered to ``jax.numpy``, problems to one jitted function, a vmapped LM.

Chosen per call with ``backend="jax"`` or globally with :func:`swiftfit.set_backend`.
"""
