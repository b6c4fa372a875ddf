"""Power-of-two weights by bitshift-accumulate (``Arithmetic: bitshift``): ``nnet::arith::shift_kernel``.

Every non-zero weight code is ``+-2**e``; the kernel adds ``+-(x << (e + pre_shift))``
to the accumulator, so the binary point moves instead of a multiplication
(docs/arithmetic.md, "Power-of-two weights").  A zero weight's sign is 0: its
term is masked to a constant 0, which synthesis removes.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from toolchain.arith import pot
from toolchain.kernels.base import Kernel, WeightArray
from toolchain.kernels.plan import DotCore, DotPlan

CONFIG_TEMPLATE = """struct config{index} : nnet::arith::bitshift_config {{
{dot_config}
    typedef {shift_t} shift_t;
    typedef {sign_t} sign_t;
}};
"""
FUNCTION_TEMPLATE = ("nnet::arith::dot_frame<nnet::arith::shift_kernel, {input_t}, {output_t}, {config}>"
                     "({input}, {output}, {weights});")


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
    function_template = FUNCTION_TEMPLATE
    stream_layer = "nnet::arith::dot_layer<nnet::arith::shift_kernel>"

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
        return [WeightArray("arith_shift", "ash", "shift_t", enc.shifts, signed=False),
                WeightArray("arith_sign", "asg", "sign_t", enc.signs, signed=True)]


KERNEL = ShiftKernel()
