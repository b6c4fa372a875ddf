"""Power-of-two weights by bitshift-accumulate (``Arithmetic: bitshift``): ``nnet::arith::shift_kernel``.

Every non-zero weight code is ``+-2**e``; the kernel adds ``+-(x << (e + pre_shift))``
to the accumulator, so the binary point moves instead of a multiplication
(docs/arithmetic.md, "Power-of-two weights").  A zero weight's sign is 0: its
term is masked to a constant 0, which synthesis removes.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from toolchain.arith import pot
from toolchain.kernels.base import Kernel, WeightArray
from toolchain.kernels.plan import DotCore, DotPlan

if TYPE_CHECKING:
    from toolchain.rtl.verilog import RtlUnit

CONFIG_TEMPLATE = """struct config{index} : nnet::arith::bitshift_config {{
{dot_config}
    typedef {shift_t} shift_t;
    typedef {sign_t} sign_t;
}};
"""


@dataclass(frozen=True)
class ShiftEncoding:
    shifts: np.ndarray  # int64 (n_in, n_out): e + pre_shift, >= 0 (0 where the weight is 0)
    signs: np.ndarray  # int64 (n_in, n_out) in {-1, 0, +1}


def pow2_exponents(w_codes: np.ndarray) -> np.ndarray | None:
    """log2 |w| of every non-zero code (0 where w = 0), or None if some non-zero |w| is not a power of two."""
    mag = np.abs(w_codes)
    nz = mag != 0
    if np.any((mag[nz] & (mag[nz] - 1)) != 0):
        return None
    exps = np.zeros(w_codes.shape, dtype=np.int64)
    exps[nz] = np.log2(mag[nz].astype(np.float64)).astype(np.int64)
    return exps


class ShiftKernel(Kernel):
    name = "shift"
    arithmetic = "bitshift"
    header = "nnet_utils/nnet_bitshift.h"
    config_template = CONFIG_TEMPLATE
    cpp_kernel = "nnet::arith::shift_kernel"

    def unsuitable(self, core: DotCore, options: Mapping[str, Any]) -> str | None:
        if pow2_exponents(core.w_codes) is None:
            mags = np.unique(np.abs(core.w_codes[core.w_codes != 0]))
            odd = [int(m) for m in mags if m & (m - 1)][:3]
            return (f"power-of-two weights (+-2^e or 0); the weight codes (x 2^-{core.w_frac}) include magnitudes "
                    f"{odd}")
        return None

    def encode(self, core: DotCore, options: Mapping[str, Any]) -> ShiftEncoding:
        exps = pow2_exponents(core.w_codes)
        assert exps is not None, "encode() called on weights unsuitable() rejects"
        nz = core.w_codes != 0
        return ShiftEncoding(shifts=np.where(nz, exps + core.pre_shift, 0).astype(np.int64),
                             signs=np.sign(core.w_codes).astype(np.int64))

    def accumulate(self, plan: DotPlan, cols: np.ndarray) -> np.ndarray:
        enc: ShiftEncoding = plan.encoding
        codes = pot.PotCodes(sign=(enc.signs < 0).astype(np.int8), exponent=enc.shifts.astype(np.int8),
                             zero=enc.signs == 0)
        dot, _ = pot.bac_dot(cols, codes, e_min=0)  # shifts already include pre_shift
        return dot

    def weight_arrays(self, plan: DotPlan) -> list[WeightArray]:
        enc: ShiftEncoding = plan.encoding
        return [WeightArray("arith_shift", "ash", "shift_t", enc.shifts, signed=False, folded=True),
                WeightArray("arith_sign", "asg", "sign_t", enc.signs, signed=True, folded=True)]

    def cost(self, plan: DotPlan, io_type: str = "io_parallel"):
        """Latency: per non-zero weight an add/sub of the accumulator's width (the shift by a constant is wiring).
        Folded (Resource): per unit also a barrel shifter of the input code by the shift its ROM word gives."""
        from dataclasses import replace

        from toolchain import estimate as est

        cost = super().cost(plan, io_type)
        if not est.folded(plan):
            return cost
        enc: ShiftEncoding = plan.encoding
        max_shift = int(enc.shifts.max()) if enc.shifts.size else 0
        barrel = est.barrel_luts(min(plan.x_type.width + max_shift, plan.acc_type_width), max_shift)
        return replace(cost, lut=cost.lut + cost.units * barrel)

    def operations(self, plan: DotPlan):
        """Per non-zero weight a shift then an add/sub of the accumulator's width: Latency, the shift is by a
        constant (wiring: ``shift_add``); folded, by the amount its ROM word gives (a barrel shifter of the input
        code, ``shift``, then an ``add``), plus the weight ROM reads."""
        from toolchain.energy import Op

        terms = self.generated_terms(plan)
        acc = plan.acc_type_width
        if plan.schedule.steps <= 1:
            return [Op("shift_add", (acc,), terms)]
        enc: ShiftEncoding = plan.encoding
        max_shift = int(enc.shifts.max()) if enc.shifts.size else 0
        width = min(plan.x_type.width + max_shift, acc)
        return [Op("shift", (width, max_shift), terms), Op("add", (acc,), terms), *self.weight_rom_ops(plan)]

    def rtl_layer(self, plan: DotPlan, name: str) -> RtlUnit:
        """Bitshift-accumulate with the constant shifts and signs (pre_shift included): ``toolchain.rtl.dot.pot_dot``;
        a zero weight generates no term."""
        from toolchain.rtl.dot import pot_dot

        enc: ShiftEncoding = plan.encoding
        return pot_dot(enc.shifts, enc.signs, plan.bias_acc, plan.x_type.width, plan.x_type.signed,
                       plan.acc_type_width, name)


KERNEL = ShiftKernel()
