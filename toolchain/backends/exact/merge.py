"""Add: the exact sum of two inputs whose binary points may differ."""
from __future__ import annotations

from hls4ml.model.layers import Merge

from toolchain.arith import fixed
from toolchain.backends.exact.dispatch import exact_type
from toolchain.backends.exact.node import input_type, set_if_unspecified
from toolchain.errors import UnsupportedError
from toolchain.kernels.plan import capped_type


@exact_type.register
def _(node: Merge) -> None:
    op = str(node.get_attr("op", "")).lower()
    if op != "add":
        raise UnsupportedError(f"layer {node.name}: merge '{op}' is not supported (add is)", layer=node.name)
    # the two branches may have different types (a BatchNorm and a quantized relu, say): align the
    # binary points, add the ranges; hls4ml's add computes the full-precision sum before the cast
    a, b = input_type(node, 0), input_type(node, 1)
    frac = max(a.frac, b.frac)
    lo = (a.min_code << (frac - a.frac)) + (b.min_code << (frac - b.frac))
    hi = (a.max_code << (frac - a.frac)) + (b.max_code << (frac - b.frac))
    if fixed.bits_for_range(min(lo, 0), max(hi, 0), True) > fixed.MAX_WIDTH:
        raise UnsupportedError(f"layer {node.name}: adding {a} and {b} exactly needs more than {fixed.MAX_WIDTH} "
                               "bits (their binary points are too far apart); force narrower input types",
                               layer=node.name)
    set_if_unspecified(node, capped_type(lo, hi, frac))
