"""``arith_merge_linear_activation``: hls4ml's merge of a linear activation into its parent, except a QKeras one.

hls4ml folds a linear activation into the Dense/Conv/BatchNorm before it when that layer's type is still
'auto', carrying over a QONNX quantizer's type only.  A QKeras ``QActivation(quantized_bits(...))`` has its
quantizer under ``activation_quantizer``, which hls4ml's pass does not read: the rounding and saturation
Keras applies there would be lost, and the parent's exact type would take its place.  This pass keeps such
an activation as its own layer (a cast to the quantizer's exact type, ``exact/activation.py``).
"""
from __future__ import annotations

from hls4ml.model.optimizer.passes.linear import MergeLinearActivation


class ArithMergeLinearActivation(MergeLinearActivation):
    def match(self, node) -> bool:
        return node.get_attr("activation_quantizer") is None and super().match(node)
