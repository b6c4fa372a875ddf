"""``arith_exact_types``: every layer gets an exact type, and every Dense/Conv a plan, in graph order.

What it does beyond hls4ml's own passes, and why it is a pass of its own:

* hls4ml's ``infer_precision_types`` guesses accumulator and result widths from
  ``Model`` defaults (``ap_fixed<16,6>`` for 'auto' accumulators of power-of-two
  layers), which overflow on raw inputs; this pass derives them exactly from the
  actual weight codes and the input's type, so nothing can overflow.
* hls4ml's ``bit_exact`` pass propagates QKeras/HGQ quantizer ranges for its
  proxy models and leaves the weights to hls4ml's kernels; here the kernel itself
  is chosen per layer (shift-add, (N,k), residue channels, ...) and its encoding,
  accumulator and arrays planned from the exact weight codes.
* A type the user or a quantizer forced is kept (the reference models it); a
  dot layer whose forced type is narrower than exact gets a warning naming it.
  Inferred result types are exact up to ``RESULT_WIDTH_CAP`` bits
  (``toolchain.kernels.plan``); wider ones keep their integer bits and round the
  lowest fractional bits.

It runs before hls4ml's ``infer_precision_types`` in the backend's ``optimize``
flow, one layer at a time in graph order, so each layer sees its input's final
type.  The rules per layer class live in ``toolchain.backends.exact``.
"""
from __future__ import annotations

from hls4ml.model.optimizer import OptimizerPass

from toolchain.backends.exact import SUPPORTED, exact_type  # noqa: F401 (SUPPORTED: project.py)
from toolchain.errors import Arith4mlError, UnsupportedError


class ArithExactTypes(OptimizerPass):
    """Set exact types (and plan dot-product layers), layer by layer in graph order."""

    def match(self, node) -> bool:
        return not node.get_attr("arith_done")

    def transform(self, model, node) -> bool:
        try:
            exact_type(node)
        except Arith4mlError:
            raise
        except ValueError as exc:  # hls4ml/NumPy values that do not fit: name the layer
            raise UnsupportedError(f"layer {node.name}: {exc}", layer=node.name) from None
        node.set_attr("arith_done", True)
        return False
