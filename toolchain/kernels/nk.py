"""Structured sparse ternary weights, (N,k)-coded (``Arithmetic: nk``): ``nnet::arith::nk_kernel``.

Each output's weights are ``{-a, 0, +a}`` with ``a = 2**e`` per output; every group of
``N`` consecutive inputs holds at most ``k`` non-zeros and is stored as one index
into the canonical codebook of ``toolchain.arith.ternary`` (129 patterns for (8,2):
one 8-bit code per 8 weights).  The kernel decodes each index with the pattern table
and adds or subtracts the selected inputs, shifted by the output's ``e``
(docs/arithmetic.md, "Ternary and structured (N,k) coding").
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from toolchain.arith import ternary
from toolchain.errors import ArithValueError
from toolchain.kernels.base import Kernel, Option, WeightArray
from toolchain.kernels.plan import DotCore, DotPlan

if TYPE_CHECKING:
    from toolchain.rtl.verilog import RtlUnit

DEFAULT_NK = (8, 2)  # when Arithmetic: nk names no NK (and the quantizer has none): one 8-bit code per 8 weights
CONFIG_TEMPLATE = """struct config{index} : nnet::arith::bitshift_config {{
{dot_config}
    static const unsigned group_size = {group_size}, n_groups = {n_groups}, n_patterns = {n_patterns};
    typedef {code_t} code_t;
    typedef {pattern_t} pattern_t;
    typedef {shift_t} shift_t;
}};
"""


def check_nk(value: Any) -> tuple[int, int]:
    """``[N, k]`` as a tuple of ints with 1 <= N and 0 <= k <= N."""
    ok = (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
          and value[0] >= 1 and 0 <= value[1] <= value[0])
    if not ok:
        raise ArithValueError(f"NK must be [N, k] with integers 0 <= k <= N, e.g. [8, 2]; got {value!r}", key="NK")
    return int(value[0]), int(value[1])


def nk_of_quantizer(quantizer: Any) -> tuple[int, int] | None:
    """(N, k) of arith4ml's structured ternary weight quantizer (``nk_ternary``), else None.

    hls4ml wraps QKeras quantizers; the (N, k) attributes sit on the wrapper or the object inside.
    """
    inner = getattr(quantizer, "quantizer_object", None) or getattr(quantizer, "quantizer", None)
    for obj in (inner, quantizer):
        if obj is not None and hasattr(obj, "group_size") and hasattr(obj, "max_nonzero"):
            return int(obj.group_size), int(obj.max_nonzero)
    return None


NK_OPTION = Option("n_k", "NK", "(N, k) structured ternary code: at most k non-zeros per N weights",
                   from_quantizer=nk_of_quantizer, check=check_nk)


@dataclass(frozen=True)
class NKEncoding:
    group_size: int  # N
    max_nonzero: int  # k
    codes: np.ndarray  # int64 (n_groups, n_out): codebook index of each group
    shifts: np.ndarray  # int64 (n_out,): log2 a of the output + pre_shift


def per_output_pow2(w_codes: np.ndarray) -> np.ndarray | None:
    """log2 of the single magnitude per output column (0 for an all-zero column), or None."""
    out = np.zeros(w_codes.shape[1], dtype=np.int64)
    for o in range(w_codes.shape[1]):
        mags = np.unique(np.abs(w_codes[:, o][w_codes[:, o] != 0]))
        if mags.size == 0:
            continue
        if mags.size > 1 or (int(mags[0]) & (int(mags[0]) - 1)) != 0:
            return None
        out[o] = int(mags[0]).bit_length() - 1
    return out


class NKKernel(Kernel):
    name = "nk"
    arithmetic = "nk"
    header = "nnet_utils/nnet_bitshift.h"
    config_template = CONFIG_TEMPLATE
    cpp_kernel = "nnet::arith::nk_kernel"
    options = (NK_OPTION,)
    opt_in = True  # auto picks it only for layers with an (N, k) code (config NK or an nk_ternary quantizer)

    def unsuitable(self, core: DotCore, options: Mapping[str, Any]) -> str | None:
        if per_output_pow2(core.w_codes) is None:
            mags = np.unique(np.abs(core.w_codes[core.w_codes != 0]))
            return f"ternary weights {{-a, 0, a}} with a power of two a per output; got magnitudes {mags[:5].tolist()}"
        return None

    def encode(self, core: DotCore, options: Mapping[str, Any]) -> NKEncoding:
        n, k = options.get("n_k") or DEFAULT_NK
        shifts = per_output_pow2(core.w_codes)
        if shifts is None:
            raise ArithValueError(f"(N,k)=({n}, {k}) coding needs {self.unsuitable(core, options)}", key="NK")
        try:
            codes = ternary.encode_nk(np.sign(core.w_codes).astype(np.int8), n, k)
        except ArithValueError as exc:
            raise ArithValueError(str(exc), key="NK") from None
        return NKEncoding(group_size=n, max_nonzero=k, codes=codes.astype(np.int64),
                          shifts=(shifts + core.pre_shift).astype(np.int64))

    def accumulate(self, plan: DotPlan, cols: np.ndarray) -> np.ndarray:
        enc: NKEncoding = plan.encoding
        return ternary.nk_dot(cols, enc.codes, enc.group_size, enc.max_nonzero, plan.n_in) << enc.shifts[None, :]

    def rtl_layer(self, plan: DotPlan, name: str) -> RtlUnit:
        """Verilog of the layer (``toolchain.rtl.nk.nk_dense_layer``): the group codes and the codebook are module
        constants; per output one add/subtract of ``x[i] << shift`` per non-zero weight, a balanced adder tree and
        the bias, on the exact accumulator's width.  ``acc == bias_acc + accumulate(plan, x)`` bit for bit."""
        from toolchain.rtl.nk import nk_dense_layer

        enc: NKEncoding = plan.encoding
        return nk_dense_layer(enc.codes, enc.group_size, enc.max_nonzero, plan.n_in, plan.x_type.width,
                              plan.x_type.signed, plan.acc_type_width, enc.shifts, plan.bias_acc, name)

    def weight_arrays(self, plan: DotPlan) -> list[WeightArray]:
        enc: NKEncoding = plan.encoding
        return [WeightArray("arith_code", "anc", "code_t", enc.codes, signed=False, folded=True),
                WeightArray("arith_pattern", "anp", "pattern_t", ternary.codebook(enc.group_size, enc.max_nonzero),
                            signed=True),
                WeightArray("arith_shift", "ash", "shift_t", enc.shifts, signed=False)]

    def config_params(self, plan: DotPlan) -> dict[str, Any]:
        enc: NKEncoding = plan.encoding
        return {"group_size": enc.group_size, "n_groups": -(-plan.n_in // enc.group_size),
                "n_patterns": ternary.n_patterns(enc.group_size, enc.max_nonzero)}

    def fold_units(self, plan: DotPlan) -> int:
        """ReuseFactor folds whole groups: one group code is read per group and output."""
        return -(-plan.n_in // plan.encoding.group_size)

    def report_fields(self, plan: DotPlan) -> dict[str, Any]:
        enc: NKEncoding = plan.encoding
        return {"nk": [enc.group_size, enc.max_nonzero]}

    def report_details(self, plan: DotPlan) -> str:
        enc: NKEncoding = plan.encoding
        return f"(N,k)=({enc.group_size},{enc.max_nonzero})"

    def word_bits(self, plan: DotPlan) -> int:
        """One group code per (group, output) unit, as wide as its C++ type."""
        from toolchain.arith import fixed

        codes = plan.encoding.codes
        return fixed.bits_for_range(0, int(codes.max()) if codes.size else 0, False)

    def cost(self, plan: DotPlan, io_type: str = "io_parallel"):
        """Latency: the group codes are constants, so each non-zero weight is one add/sub of the accumulator's
        width (the output's shift is wiring).  Folded: per unit (one group of one output) a decode table of its
        code (n_patterns x 2N bits of LUT ROM), k selects of one of the group's N inputs and k add/subs; and
        n_out barrel shifters by the outputs' shifts (the result loop is unrolled)."""
        from dataclasses import replace

        from toolchain import estimate as est

        cost = super().cost(plan, io_type)
        if not est.folded(plan):
            return cost
        enc: NKEncoding = plan.encoding
        n, k = enc.group_size, enc.max_nonzero
        acc = plan.acc_type_width
        table = 2 * n * -(-ternary.n_patterns(n, k) // est.ROM_BITS_PER_LUT)
        per_unit = table + k * est.mux_luts(n, plan.x_type.width) + k * est.adder_luts(acc)
        max_shift = int(enc.shifts.max()) if enc.shifts.size else 0
        shifters = plan.n_out * est.barrel_luts(acc, max_shift)  # every output's result (unrolled)
        return replace(cost, lut=cost.units * per_unit + shifters)

    def operations(self, plan: DotPlan):
        """Latency: the group codes are constants, so decoding is wiring and each non-zero weight is one add/sub
        of the accumulator's width, the output's shift a constant (``shift_add``).  Folded: per unit (one group
        of one output) a read of the decode table (n_patterns words of 2N sign bits), an add/sub per non-zero
        weight, per output a barrel shift of its sum by its shift, and the group-code ROM reads."""
        from toolchain.energy import Op

        terms = self.generated_terms(plan)
        acc = plan.acc_type_width
        if plan.schedule.steps <= 1:
            return [Op("shift_add", (acc,), terms)]
        enc: NKEncoding = plan.encoding
        n, k = enc.group_size, enc.max_nonzero
        units = self.fold_units(plan) * plan.n_out
        max_shift = int(enc.shifts.max()) if enc.shifts.size else 0
        return [Op("rom", (ternary.n_patterns(n, k), 2 * n), units), Op("add", (acc,), terms),
                Op("shift", (acc, max_shift), plan.n_out), *self.weight_rom_ops(plan)]


KERNEL = NKKernel()
