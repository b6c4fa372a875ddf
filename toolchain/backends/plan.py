"""The exact arithmetic plan of one Dense/Conv layer (no hls4ml imports).

A :class:`DotPlan` holds everything both the C++ kernel and the Python
reference need: integer weight codes in patch order, the exact accumulator
grid, the bias aligned to it, the kernel kind and its encoded weights.  The
optimizer pass builds it from the hls4ml node; the template writes it out;
``toolchain.reference`` recomputes the layer from it with ``toolchain.arith``.

Notation: inputs are codes ``x`` with ``x_frac`` fractional bits, weights are
integer codes ``w`` with ``w_frac`` fractional bits, the accumulator has
``acc_frac`` fractional bits and ``pre_shift = acc_frac - x_frac - w_frac``:
``acc = bias_acc + sum_i (x_i * w_i) << pre_shift`` exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from toolchain.arith import fixed, rns, ternary
from toolchain.arith.fixed import FixedType
from toolchain.errors import ArithValueError

MAX_EXACT_FRAC = 40  # weights/biases needing more fractional bits are quantized to their hls4ml type
KINDS = ("shift", "nk", "mult", "rns")
# arith4ml's own keys in an hls4ml config (per layer, or under Model for every layer), and the
# Arithmetic values each backend kind offers
CONFIG_KEYS = ("Arithmetic", "Moduli", "Reverse", "NK")
ARITHMETICS = {"bitshift": ("auto", "bitshift", "nk", "mult"), "rns": ("auto", "rns")}
# Widest inferred result (activation) type.  Exact types grow with every layer (a dot product adds
# the weight width and log2(n_in), a BatchNorm the width of its scale), so a ResNet without
# quantized activations would pass 62 bits after a few layers.  A result whose exact type is wider
# keeps all its integer bits (nothing can overflow) and drops low fractional bits, rounding to
# nearest even.  Worst-case ranges overstate the integer bits needed (by ~3 bits a layer in a plain
# relu ResNet), so the cap must leave room for fractions: at 40 bits the logits of an untrained
# ResNet-8 without activation quantizers still keep 12 fractional bits (argmax equal to Keras on 300
# of 300 inputs; at 32 bits, 4 fractional bits and 84 %).  It also leaves a dot product over 40-bit
# inputs room for its exact accumulator (<= 62 bits: 8-bit weight codes, 1024 inputs) and a BatchNorm
# room for a 22-bit scale.  Accumulators stay exact whatever their width; types the user or a
# quantizer set are kept as they are; the reference models the rounding like any other result type.
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
        raise ArithValueError("values need more than %d fractional bits and no fixed-point type was given" % MAX_EXACT_FRAC)
    return fixed.quantize(v, fallback), fallback.frac


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

    @property
    def n_in(self) -> int:
        return self.filt_height * self.filt_width * self.n_chan

    @property
    def padded(self) -> bool:
        return self.pad_top > 0 or self.pad_left > 0 or (
            (self.out_height - 1) * self.stride_height + self.filt_height > self.in_height + self.pad_top) or (
            (self.out_width - 1) * self.stride_width + self.filt_width > self.in_width + self.pad_left)


@dataclass
class DotPlan:
    """Exact plan of one dot-product layer; see the module docstring for the arithmetic."""

    layer: str
    kind: str
    geometry: Geometry
    x_type: FixedType
    w_codes: np.ndarray  # int64 (n_in, n_out), patch order (filt_h, filt_w, chan)
    w_frac: int
    bias_acc: np.ndarray  # int64 (n_out,), on the accumulator grid
    acc_frac: int
    acc_type: FixedType  # exact accumulator (or the user's accum type)
    result_type: FixedType
    acc_lo: int = 0
    acc_hi: int = 0
    # kind-specific encodings
    shifts: np.ndarray | None = None  # shift: (n_in, n_out) total shift incl. pre_shift; nk: (n_out,)
    signs: np.ndarray | None = None  # shift: (n_in, n_out) in {-1, 0, 1}
    nk: tuple[int, int] | None = None  # (N, k)
    nk_codes: np.ndarray | None = None  # (n_groups, n_out)
    moduli: tuple[int, ...] | None = None
    reverse: str = "crt"
    w_residues: np.ndarray | None = None  # (r, n_in, n_out)
    notes: list[str] = field(default_factory=list)

    @property
    def n_in(self) -> int:
        return int(self.w_codes.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.w_codes.shape[1])

    @property
    def acc_type_width(self) -> int:
        """Width of the kernel's internal exact accumulator (never narrower than exact)."""
        return fixed.type_for_range(min(self.acc_lo, 0), max(self.acc_hi, 0), self.acc_frac, signed=True).width

    @property
    def pre_shift(self) -> int:
        return self.acc_frac - self.x_type.frac - self.w_frac

    @property
    def dense_terms(self) -> int:
        """Multiply-accumulates a dense layer with these shapes would do per pixel."""
        return self.n_in * self.n_out

    @property
    def generated_terms(self) -> int:
        """Terms the kernel generates per pixel (summed over residue channels for RNS)."""
        if self.kind == "rns":
            return int(np.count_nonzero(self.w_residues))
        return int(np.count_nonzero(self.w_codes))

    @property
    def multiplications(self) -> int:
        """Data-by-weight multiplications in the emitted kernel (0 for shift and nk)."""
        if self.kind in ("shift", "nk"):
            return 0
        return self.generated_terms


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
    pos = np.where(w > 0, w, 0).sum(axis=0)
    neg = np.where(w < 0, w, 0).sum(axis=0)
    dot_hi = pos * x_hi + neg * x_lo
    dot_lo = pos * x_lo + neg * x_hi
    b = bias_acc.astype(object)
    lo = min(int(v) for v in (dot_lo * (1 << scale) + b)) if w.shape[1] else 0
    hi = max(int(v) for v in (dot_hi * (1 << scale) + b)) if w.shape[1] else 0
    max_dot = max(max(abs(int(v)) for v in dot_lo), max(abs(int(v)) for v in dot_hi)) if w.shape[1] else 0
    return lo, hi, max_dot


def build_plan(layer: str, kind: str, geometry: Geometry, x_type: FixedType, weights: np.ndarray,
               bias: np.ndarray | None, weight_type: FixedType | None = None, bias_type: FixedType | None = None,
               result_type: FixedType | None = None, accum_type: FixedType | None = None,
               nk: tuple[int, int] | None = None, moduli: tuple[int, ...] | None = None,
               reverse: str = "crt", width_cap: int | None = RESULT_WIDTH_CAP) -> DotPlan:
    """Plan a layer.  ``kind``: 'bitshift' (becomes shift/nk/mult by the weights) or 'rns'.

    ``weights`` has the Keras kernel shape (n_in, n_out) or (kh, kw, c_in, n_out)
    (or (kw, c_in, n_out) for Conv1D); it is flattened to patch order.
    ``result_type``/``accum_type`` None means "infer the exact type"; an inferred result type wider
    than ``width_cap`` bits drops fractional bits (see ``RESULT_WIDTH_CAP``), the accumulator never does.
    """
    n_out = int(weights.shape[-1])
    w_flat = np.asarray(weights, dtype=np.float64).reshape(-1, n_out)
    if w_flat.shape[0] != geometry.n_in:
        raise ArithValueError(f"layer {layer}: kernel has {w_flat.shape[0]} inputs per output, geometry says {geometry.n_in}")
    w_codes, w_frac = exact_codes(w_flat, weight_type)
    if bias is None:
        bias = np.zeros(n_out)
    b_codes, b_frac = exact_codes(np.asarray(bias, dtype=np.float64).reshape(n_out), bias_type)
    acc_frac = max(x_type.frac + w_frac, b_frac if np.any(b_codes) else -10**6)
    pre_shift = acc_frac - x_type.frac - w_frac
    bias_acc = b_codes << np.int64(acc_frac - b_frac) if np.any(b_codes) else np.zeros(n_out, dtype=np.int64)
    lo, hi, max_dot = dot_bounds(w_codes, x_type.min_code, x_type.max_code, pre_shift, bias_acc)
    exact_acc = fixed.type_for_range(lo, hi, acc_frac, signed=True)
    notes: list[str] = []
    inferred = exact_acc
    if result_type is None and width_cap is not None and exact_acc.width > width_cap:
        inferred = capped_type(lo, hi, acc_frac, width_cap, signed=True)
        notes.append(f"result rounded to {inferred} ({width_cap}-bit cap); the accumulator stays exact ({exact_acc})")

    plan = DotPlan(layer=layer, kind="mult", geometry=geometry, x_type=x_type, w_codes=w_codes, w_frac=w_frac,
                   bias_acc=bias_acc, acc_frac=acc_frac, acc_type=accum_type or exact_acc,
                   result_type=result_type or inferred, acc_lo=lo, acc_hi=hi, notes=notes)
    if accum_type is not None and (accum_type.min_code > _on_grid(lo, acc_frac, accum_type)
                                   or accum_type.max_code < _on_grid(hi, acc_frac, accum_type)
                                   or accum_type.frac < acc_frac):
        notes.append(f"user accum type {accum_type} is narrower than the exact {exact_acc}: results wrap/round as it says")
    if result_type is not None and (result_type.frac < acc_frac or result_type.width < exact_acc.width):
        notes.append(f"result type {result_type} is narrower than the exact {exact_acc}: values are rounded/saturated")

    if kind == "rns":
        plan.kind = "rns"
        plan.reverse = reverse
        if moduli is None:
            moduli = rns.select_moduli(max_dot)
        else:
            try:
                moduli = rns.validate_moduli(moduli)
                rns.check_range(moduli, max_dot)
            except ArithValueError as exc:
                raise ArithValueError(f"layer {layer}: {exc}") from None
        plan.moduli = tuple(int(m) for m in moduli)
        plan.w_residues = rns.to_residues(w_codes, plan.moduli)
        return plan

    if nk is not None:
        t = np.sign(w_codes)
        mags = np.unique(np.abs(w_codes[w_codes != 0]))
        per_out = _per_output_pow2(w_codes)
        if per_out is None:
            raise ArithValueError(f"layer {layer}: (N,k)={nk} coding needs ternary weights {{-a, 0, a}} with a power of two per output; got magnitudes {mags[:5].tolist()}")
        try:
            codes = ternary.encode_nk(t.astype(np.int8), nk[0], nk[1])
        except ArithValueError as exc:
            raise ArithValueError(f"layer {layer}: {exc}") from None
        plan.kind = "nk"
        plan.nk = (int(nk[0]), int(nk[1]))
        plan.nk_codes = codes
        plan.shifts = (per_out + pre_shift).astype(np.int64)
        return plan

    nonzero = w_codes[w_codes != 0]
    mag = np.abs(nonzero)
    if nonzero.size == 0 or np.all((mag & (mag - 1)) == 0):
        exps = np.zeros(w_codes.shape, dtype=np.int64)
        nz = w_codes != 0
        exps[nz] = np.log2(np.abs(w_codes[nz]).astype(np.float64)).astype(np.int64)
        plan.kind = "shift"
        plan.shifts = np.where(nz, exps + pre_shift, 0).astype(np.int64)
        plan.signs = np.sign(w_codes).astype(np.int64)
        return plan
    notes.append("weights are not power-of-two or ternary: ordinary product")
    return plan


def _per_output_pow2(w_codes: np.ndarray) -> np.ndarray | None:
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


def _on_grid(code: int, frac: int, t: FixedType) -> int:
    shift = frac - t.frac
    return code >> shift if shift >= 0 else code << -shift
