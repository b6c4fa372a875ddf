"""The exact arithmetic plan of one Dense/Conv layer (no hls4ml imports).

A :class:`DotPlan` holds everything both the C++ kernel and the Python reference
need: integer weight codes in patch order, the exact accumulator grid, the bias
aligned to it, the chosen kernel and its encoding of the weights.  The
optimizer pass builds it from the hls4ml node (:func:`build_plan`); the templates
write it out; ``toolchain.reference`` recomputes the layer from it.

Notation (docs/arithmetic.md, "Fixed-point contract"): inputs are codes ``x`` with
``x_frac`` fractional bits, weights are integer codes ``w`` with ``w_frac``
fractional bits, the accumulator has ``acc_frac`` fractional bits and
``pre_shift = acc_frac - x_frac - w_frac``:
``acc = bias_acc + sum_i (x_i * w_i) << pre_shift`` exactly.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

import numpy as np

from toolchain.arith import fixed
from toolchain.arith.fixed import FixedType
from toolchain.errors import ArithValueError, UnsupportedError
from toolchain.kernels.base import AUTO, Kernel
from toolchain.kernels.fold import Fold

MAX_EXACT_FRAC = 40  # weights/biases needing more fractional bits are quantized to their hls4ml type
# Widest inferred result (activation) type.  Exact types grow with every layer (a dot product adds
# the weight width and log2(n_in), a BatchNorm the width of its scale), so a ResNet without
# quantized activations would pass 62 bits after a few layers.  A result whose exact type is wider
# keeps all its integer bits (nothing can overflow) and drops low fractional bits, rounding to
# nearest even.  Worst-case ranges overstate the integer bits needed (by ~3 bits a layer in a plain
# relu ResNet), so the cap must leave room for fractions (README, "contract"); it also leaves a dot
# product over 40-bit inputs room for its exact accumulator (<= 62 bits: 8-bit weight codes, 1024
# inputs) and a BatchNorm room for a 22-bit scale.  Accumulators stay exact whatever their width;
# types the user or a quantizer set are kept as they are; the reference models the rounding like
# any other result type.
RESULT_WIDTH_CAP = 40


def exact_codes(values: np.ndarray, fallback: FixedType | None = None) -> tuple[np.ndarray, int]:
    """Integer codes and fractional bits that represent ``values`` exactly (fewest fractional bits).

    Values that need more than ``MAX_EXACT_FRAC`` fractional bits are quantized
    to ``fallback`` (the layer's hls4ml weight/bias type), as stock hls4ml would.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or not np.any(v):
        return np.zeros(v.shape, dtype=np.int64), 0
    for frac in range(-8, MAX_EXACT_FRAC + 1):
        scaled = np.ldexp(v, frac)
        if np.all(scaled == np.round(scaled)) and np.max(np.abs(scaled)) < 2**61:
            return scaled.astype(np.int64), frac
    if fallback is None:
        raise ArithValueError(f"values need more than {MAX_EXACT_FRAC} fractional bits and no fixed-point type "
                              "was given")
    return fixed.quantize(v, fallback), fallback.frac


def is_pow2_valued(values: np.ndarray) -> bool:
    """True if every non-zero value is +-2**e exactly (PoT and PoT-scaled ternary weights)."""
    try:
        codes, _ = exact_codes(np.asarray(values, dtype=np.float64), None)
    except ArithValueError:
        return False
    mag = np.abs(codes[codes != 0])
    return bool(np.all((mag & (mag - 1)) == 0))


@dataclass
class Geometry:
    """Convolution frame (Dense: everything 1 except n_chan = n_in)."""

    in_height: int = 1
    in_width: int = 1
    n_chan: int = 1
    filt_height: int = 1
    filt_width: int = 1
    out_height: int = 1
    out_width: int = 1
    stride_height: int = 1
    stride_width: int = 1
    pad_top: int = 0
    pad_left: int = 0
    pad_bottom: int = 0
    pad_right: int = 0

    @property
    def n_in(self) -> int:
        return self.filt_height * self.filt_width * self.n_chan


@dataclass
class DotCore:
    """What every kernel starts from: exact integer weight codes, the input type and the accumulator grid."""

    layer: str
    geometry: Geometry
    x_type: FixedType
    w_codes: np.ndarray  # int64 (n_in, n_out), patch order (filt_h, filt_w, chan)
    w_frac: int
    bias_acc: np.ndarray  # int64 (n_out,), on the accumulator grid
    acc_frac: int

    @property
    def n_in(self) -> int:
        return int(self.w_codes.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.w_codes.shape[1])

    @property
    def pre_shift(self) -> int:
        """Left shift of an exact product x * w onto the accumulator grid (>= 0)."""
        return self.acc_frac - self.x_type.frac - self.w_frac

    @cached_property
    def exact_bounds(self) -> tuple[int, int, int]:
        """(lo, hi) of the exact accumulator over every input code (0 included), and max |dot| without bias."""
        return dot_bounds(self.w_codes, self.x_type.min_code, self.x_type.max_code, self.pre_shift, self.bias_acc)


@dataclass
class DotPlan(DotCore):
    """Exact plan of one dot-product layer: the core, the kernel chosen for it and the kernel's encoding."""

    kernel: Kernel = None  # type: ignore[assignment]  # always set by build_plan
    encoding: Any = None
    acc_lo: int = 0
    acc_hi: int = 0
    acc_type: FixedType = None  # type: ignore[assignment]  # exact accumulator (or the user's accum type)
    result_type: FixedType = None  # type: ignore[assignment]
    notes: list[str] = field(default_factory=list)
    fold: Fold | None = None  # Strategy/ReuseFactor schedule (None: fully parallel, one fold step)

    @property
    def schedule(self) -> Fold:
        """The layer's fold over its kernel's units (``Kernel.fold_units``) and outputs."""
        return self.fold if self.fold is not None else Fold(self.kernel.fold_units(self), self.n_out)

    @property
    def kind(self) -> str:
        """The kernel's short name (shift, nk, mult, rns, ...)."""
        return self.kernel.name

    @property
    def acc_type_width(self) -> int:
        """Width of the kernel's internal exact accumulator (never narrower than exact)."""
        return fixed.type_for_range(min(self.acc_lo, 0), max(self.acc_hi, 0), self.acc_frac, signed=True).width

    @property
    def dense_terms(self) -> int:
        return self.kernel.dense_terms(self)

    @property
    def generated_terms(self) -> int:
        return self.kernel.generated_terms(self)

    @property
    def multiplications(self) -> int:
        return self.kernel.multiplications(self)


def plan_digest(plan: DotPlan) -> str:
    """A short fingerprint of what a layer's datapath depends on (kernel, input type, weights, encoding, bias,
    accumulator): ``arith4ml rtl-cost`` stores it with its counts so ``report`` can tell stale counts."""
    import hashlib

    h = hashlib.sha256()
    h.update(f"{plan.kind}|{plan.x_type}|{plan.acc_type_width}|{plan.acc_frac}|{plan.w_frac}".encode())
    h.update(np.ascontiguousarray(plan.w_codes, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(plan.bias_acc, dtype=np.int64).tobytes())
    h.update(repr(plan.encoding).encode())
    return h.hexdigest()[:16]


def capped_type(lo: int, hi: int, frac: int, cap: int = RESULT_WIDTH_CAP, signed: bool | None = None) -> FixedType:
    """Exact type of codes in ``[lo, hi]`` with ``frac`` fractional bits, or, if that is wider than ``cap``
    bits, the type that keeps every integer bit and as many fractional bits as fit (AP_RND_CONV).

    Works for ranges of any width (Python ints); never returns a type wider than ``cap``.
    """
    lo, hi = int(lo), int(hi)
    if signed is None:
        signed = lo < 0
    width = fixed.bits_for_range(lo, hi, signed)
    if width <= cap:
        return fixed.type_for_range(lo, hi, frac, signed=signed)
    drop = width - cap
    while True:
        # rounding to nearest moves a value up by at most one new LSB: [floor(lo), floor(hi) + 1] holds all
        new_lo, new_hi = lo >> drop, (hi >> drop) + 1
        new_width = fixed.bits_for_range(new_lo, new_hi, signed)
        if new_width <= cap:
            return FixedType(new_width, new_width - (frac - drop), signed, "AP_RND_CONV", "AP_WRAP")
        drop += 1


def dot_bounds(w_codes: np.ndarray, x_lo: int, x_hi: int, scale: int, bias_acc: np.ndarray) -> tuple[int, int, int]:
    """Exact (lo, hi) of ``bias + sum (x*w) << scale`` over x in [x_lo, x_hi] (0 included), and max|dot|."""
    x_lo, x_hi = min(int(x_lo), 0), max(int(x_hi), 0)
    w = w_codes.astype(object)
    if not w.shape[1]:
        return 0, 0, 0
    pos = np.where(w > 0, w, 0).sum(axis=0)
    neg = np.where(w < 0, w, 0).sum(axis=0)
    dot_hi = pos * x_hi + neg * x_lo
    dot_lo = pos * x_lo + neg * x_hi
    b = bias_acc.astype(object)
    lo = min(int(v) for v in (dot_lo * (1 << scale) + b))
    hi = max(int(v) for v in (dot_hi * (1 << scale) + b))
    max_dot = max(max(abs(int(v)) for v in dot_lo), max(abs(int(v)) for v in dot_hi))
    return lo, hi, max_dot


def dot_core(layer: str, geometry: Geometry, x_type: FixedType, weights: np.ndarray, bias: np.ndarray | None,
             weight_type: FixedType | None = None, bias_type: FixedType | None = None) -> DotCore:
    """Exact integer codes of a layer's weights and bias and the accumulator grid they share.

    ``weights`` has the Keras kernel shape (n_in, n_out) or (kh, kw, c_in, n_out)
    (or (kw, c_in, n_out) for Conv1D); it is flattened to patch order.
    """
    n_out = int(weights.shape[-1])
    w_flat = np.asarray(weights, dtype=np.float64).reshape(-1, n_out)
    if w_flat.shape[0] != geometry.n_in:
        raise ArithValueError(f"layer {layer}: kernel has {w_flat.shape[0]} inputs per output, "
                              f"geometry says {geometry.n_in}")
    w_codes, w_frac = exact_codes(w_flat, weight_type)
    if bias is None:
        bias = np.zeros(n_out)
    b_codes, b_frac = exact_codes(np.asarray(bias, dtype=np.float64).reshape(n_out), bias_type)
    has_bias = bool(np.any(b_codes))
    acc_frac = max(x_type.frac + w_frac, b_frac) if has_bias else x_type.frac + w_frac
    bias_acc = b_codes << np.int64(acc_frac - b_frac) if has_bias else np.zeros(n_out, dtype=np.int64)
    return DotCore(layer=layer, geometry=geometry, x_type=x_type, w_codes=w_codes, w_frac=w_frac,
                   bias_acc=bias_acc, acc_frac=acc_frac)


def choose_kernel(core: DotCore, requested: str, offered: Sequence[Kernel],
                  options: Mapping[str, Any]) -> tuple[Kernel, list[str]]:
    """The kernel that computes ``core``: the one ``requested`` (its ``arithmetic`` name), or for
    ``'auto'`` the first of ``offered`` that suits the weights (opt-in kernels only when one of their
    options is set).  Returns it with notes for the report; UnsupportedError naming the layer when
    the requested kernel does not suit the weights or is not offered."""
    by_arithmetic = {k.arithmetic: k for k in offered}
    if requested != AUTO:
        kernel = by_arithmetic.get(requested)
        if kernel is None:
            raise UnsupportedError(f"layer {core.layer}: Arithmetic '{requested}' is not offered here; choose one of "
                                   f"{', '.join((AUTO,) + tuple(by_arithmetic))}", layer=core.layer, key="Arithmetic")
        reason = kernel.unsuitable(core, options)
        if reason is not None:
            raise UnsupportedError(f"layer {core.layer}: Arithmetic '{requested}' needs {reason}; use Arithmetic "
                                   f"'{AUTO}' or another arithmetic", layer=core.layer, key="Arithmetic")
        return kernel, []
    notes: list[str] = []
    for kernel in offered:
        chosen = [o for o in kernel.options if options.get(o.name) is not None]
        if kernel.opt_in and not chosen:
            continue
        reason = kernel.unsuitable(core, options)
        if reason is None:
            return kernel, notes
        if kernel.opt_in:  # the layer asked for it by setting its option
            key = chosen[0].config_name
            raise UnsupportedError(f"layer {core.layer}: {key} {options[chosen[0].name]} needs {reason}",
                                   layer=core.layer, key=key)
        notes.append(f"not {kernel.name}: needs {reason}")
    raise UnsupportedError(f"layer {core.layer}: no kernel of this backend suits it ({'; '.join(notes)})",
                           layer=core.layer, key="Arithmetic")


def build_plan(core: DotCore, kernel: Kernel, options: Mapping[str, Any], result_type: FixedType | None = None,
               accum_type: FixedType | None = None, width_cap: int | None = RESULT_WIDTH_CAP,
               notes: Sequence[str] = ()) -> DotPlan:
    """Encode ``core`` with ``kernel`` and derive the exact accumulator and result types.

    ``result_type``/``accum_type`` None means "infer the exact type"; an inferred result type wider
    than ``width_cap`` bits drops fractional bits (see ``RESULT_WIDTH_CAP``), the accumulator never does.
    ArithValueError from the kernel is re-raised as UnsupportedError naming the layer.
    """
    try:
        core = kernel.regrid(core, options)
        encoding = kernel.encode(core, options)
        lo, hi = kernel.bounds(core, encoding)
    except ArithValueError as exc:
        raise UnsupportedError(f"layer {core.layer}: {exc}", layer=core.layer, key=exc.key) from None
    exact_acc = fixed.type_for_range(lo, hi, core.acc_frac, signed=True)
    plan_notes = list(notes)
    inferred = exact_acc
    if result_type is None and width_cap is not None and exact_acc.width > width_cap:
        inferred = capped_type(lo, hi, core.acc_frac, width_cap, signed=True)
        plan_notes.append(f"result rounded to {inferred} ({width_cap}-bit cap); the accumulator stays exact "
                          f"({exact_acc})")
    if accum_type is not None and (accum_type.min_code > _on_grid(lo, core.acc_frac, accum_type)
                                   or accum_type.max_code < _on_grid(hi, core.acc_frac, accum_type)
                                   or accum_type.frac < core.acc_frac):
        plan_notes.append(f"user accum type {accum_type} is narrower than the exact {exact_acc}: results wrap/round "
                          "as it says")
    if result_type is not None and (result_type.frac < core.acc_frac or result_type.width < exact_acc.width):
        plan_notes.append(f"result type {result_type} is narrower than the exact {exact_acc}: values are "
                          "rounded/saturated")
    core_fields = {f.name: getattr(core, f.name) for f in fields(DotCore)}
    return DotPlan(**core_fields | {"kernel": kernel, "encoding": encoding, "acc_lo": lo, "acc_hi": hi,
                                      "acc_type": accum_type or exact_acc, "result_type": result_type or inferred,
                                      "notes": plan_notes})


def _on_grid(code: int, frac: int, t: FixedType) -> int:
    shift = frac - t.frac
    return code >> shift if shift >= 0 else code << -shift
