"""Exact-type rules per layer class (one module per concern), dispatched by ``exact_type``.

Importing the package registers every rule.  What the rules do beyond hls4ml's
own ``infer_precision_types`` and ``bit_exact`` passes: see ``passes/exact_types.py``.
"""
from toolchain.backends.exact import activation, batchnorm, dot, merge, passthrough, pooling  # noqa: F401 (register)
from toolchain.backends.exact.dispatch import SUPPORTED, exact_type

__all__ = ["SUPPORTED", "exact_type"]
