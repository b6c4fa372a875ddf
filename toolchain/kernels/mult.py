"""Ordinary products (``Arithmetic: mult``): ``nnet::arith::mult_kernel``, for weights that are
neither power-of-two nor ternary (``quantized_bits``, float, BatchNorm folded into the weights)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from toolchain.kernels.base import Kernel, WeightArray
from toolchain.kernels.plan import DotCore, DotPlan

CONFIG_TEMPLATE = """struct config{index} : nnet::arith::dot_config {{
{dot_config}
    typedef {weight_t} weight_t;
}};
"""
FUNCTION_TEMPLATE = ("nnet::arith::dot_frame<nnet::arith::mult_kernel, {input_t}, {output_t}, {config}>"
                     "({input}, {output}, {weights});")


class MultKernel(Kernel):
    name = "mult"
    arithmetic = "mult"
    header = "nnet_utils/nnet_arith_common.h"
    config_template = CONFIG_TEMPLATE
    function_template = FUNCTION_TEMPLATE
    stream_layer = "nnet::arith::dot_layer<nnet::arith::mult_kernel>"
    multiplies = True

    def encode(self, core: DotCore, options: Mapping[str, Any]) -> np.ndarray:
        """The weight codes already shifted onto the accumulator grid (n_in, n_out)."""
        return core.w_codes << np.int64(core.pre_shift)

    def accumulate(self, plan: DotPlan, cols: np.ndarray) -> np.ndarray:
        return cols @ plan.encoding

    def weight_arrays(self, plan: DotPlan) -> list[WeightArray]:
        return [WeightArray("arith_weight", "aw", "weight_t", plan.encoding, signed=True)]


KERNEL = MultKernel()
