"""Ordinary products (``Arithmetic: mult``): ``nnet::arith::mult_kernel``, for weights that are
neither power-of-two nor ternary (``quantized_bits``, float, BatchNorm folded into the weights)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from toolchain.kernels.base import Kernel, WeightArray
from toolchain.kernels.plan import DotCore, DotPlan

if TYPE_CHECKING:
    from toolchain.rtl.verilog import RtlUnit

CONFIG_TEMPLATE = """struct config{index} : nnet::arith::dot_config {{
{dot_config}
    typedef {weight_t} weight_t;
}};
"""


class MultKernel(Kernel):
    name = "mult"
    arithmetic = "mult"
    header = "nnet_utils/nnet_arith_common.h"
    config_template = CONFIG_TEMPLATE
    cpp_kernel = "nnet::arith::mult_kernel"
    multiplies = True

    def encode(self, core: DotCore, options: Mapping[str, Any]) -> np.ndarray:
        """The weight codes already shifted onto the accumulator grid (n_in, n_out)."""
        return core.w_codes << np.int64(core.pre_shift)

    def accumulate(self, plan: DotPlan, cols: np.ndarray) -> np.ndarray:
        return cols @ plan.encoding

    def weight_arrays(self, plan: DotPlan) -> list[WeightArray]:
        return [WeightArray("arith_weight", "aw", "weight_t", plan.encoding, signed=True, folded=True)]

    def cost(self, plan: DotPlan, io_type: str = "io_parallel"):
        """Per term a multiplier of the input code by the weight word (DSP slices when both are wider than
        ``estimate.DSP_MIN_BITS``, else LUTs) and an adder of the accumulator's width (the DSP's own post-adder
        when the product is in DSPs and the accumulator fits its 48 bits)."""
        from dataclasses import replace

        from toolchain import estimate as est

        cost = super().cost(plan, io_type)
        acc = plan.acc_type_width
        m_lut, m_dsp = est.multiplier(plan.x_type.width, cost.word_bits)
        add = 0.0 if m_dsp and acc <= est.DSP_ACC_BITS else est.adder_luts(acc)
        return replace(cost, lut=cost.units * (m_lut + add), dsp=cost.units * m_dsp)

    def operations(self, plan: DotPlan):
        """Per non-zero weight a multiply of the input code by the weight word (``word_bits``: the weight code
        on the accumulator grid, as the C++ ``weight_t`` holds it) and an add of the accumulator's width, plus the
        weight ROM reads of a folded layer."""
        from toolchain.energy import Op

        terms = self.generated_terms(plan)
        return [Op("mult", (plan.x_type.width, self.word_bits(plan)), terms), Op("add", (plan.acc_type_width,), terms),
                *self.weight_rom_ops(plan)]

    def rtl_layer(self, plan: DotPlan, name: str) -> RtlUnit:
        """Constant-weight multiply-accumulate with the weight codes on the accumulator grid (``w << pre_shift``):
        ``toolchain.rtl.dot.mac_dot``; a zero weight generates no term."""
        from toolchain.rtl.dot import mac_dot

        return mac_dot(plan.encoding, plan.bias_acc, plan.x_type.width, plan.x_type.signed, plan.acc_type_width,
                       name)


KERNEL = MultKernel()
