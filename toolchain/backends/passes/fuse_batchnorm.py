"""``arith_fuse_batch_normalization``: hls4ml's BatchNorm folding, except where it costs a layer its arithmetic."""
from __future__ import annotations

import numpy as np
from hls4ml.model.optimizer.passes.bn_fuse import FuseBatchNormalization

from toolchain.backends.exact.batchnorm import bn_parameters
from toolchain.kernels.plan import is_pow2_valued


class ArithFuseBatchNormalization(FuseBatchNormalization):
    """hls4ml's BatchNorm-into-Dense/Conv fusion, except where it would cost the layer its arithmetic.

    Folding ``y = s * (W x + c) + b`` into ``W' = s W`` saves a layer, and stock hls4ml does it for
    float layers (and for quantized ones when ``s`` is exactly 1).  But ``s`` is an arbitrary real per
    channel: folded power-of-two or ternary weights stop being powers of two, the layer loses its
    shift-add (or add/subtract) kernel and falls back to ``mult``, and RNS needs wider codes and
    moduli.  A separate BatchNorm costs one multiplication per output value, the folded layer one per
    weight, so the arith4ml backends keep the BatchNorm as its own exact scale/bias layer whenever
    the layer's weights are power-of-two valued and the folded ones would not be (they still fold a
    power-of-two ``s``, which keeps the weights PoT).  Layers whose weights are not PoT (float,
    ``quantized_bits``) are folded as in stock hls4ml; their plan says ``mult``, which is what the
    report shows.  QBatchNormalization's quantizers are applied before folding.
    """

    def match(self, node) -> bool:
        if not super().match(node):
            return False
        parent = node.get_input_node()
        weights = np.asarray(parent.weights["weight"].data, dtype=np.float64)
        if not is_pow2_valued(weights):
            return True
        scale, _ = bn_parameters(node)
        return is_pow2_valued(np.asarray(scale, dtype=np.float64) * weights)

    def transform(self, model, node):
        bn_parameters(node)
        return super().transform(model, node)
