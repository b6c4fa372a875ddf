"""Approximate 8x8 multipliers (MAx-DNN; ``Arithmetic: approx``, the Approx backend).

Every layer multiplies signed 8-bit activation codes by signed 8-bit weight codes
(docs/arithmetic.md, "Approximate multipliers"):

* activations: each input value is quantized once to ``ap_fixed<8, I, AP_RND, AP_SAT>``,
  ``I`` from the Keras ``ApproxDense``/``ApproxConv2D`` layer (``input_integer``), the
  ``ApproxInputInteger`` key, or the input type (exact when it has at most 8 bits);
* weights: quantized to ``ap_fixed<8, I, AP_RND, AP_SAT>``, ``I`` from the layer
  (``weight_integer``), ``ApproxWeightInteger``, or the fewest integer bits holding the largest
  weight (the rule of ``toolchain.quant.to_approx``);
* each product by the multiplier assigned to its (output channel, input channel) pair: one for
  the layer, one per filter, or one per kernel (``Approx`` key: a spec, or
  ``{multipliers: [...], index: [...]}``, or ``map:FILE``); sums are exact.

ROUP(k, m) is emitted as the reduced multiplier (``nnet::arith::roup_kernel``: rounded
activation, perforated weight stored in the ROM, narrower product, shift); a layer with a table
multiplier uses ``nnet::arith::approx_table_kernel``, whose table is a ROM.  The reference
(``fast_accumulate``) is ``toolchain.arith.approx.approx_matmul``; ``accumulate`` follows the C++
term by term.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from toolchain.arith import approx as ax
from toolchain.arith import fixed
from toolchain.arith.fixed import FixedType
from toolchain.errors import ArithValueError
from toolchain.kernels.base import Kernel, Option, WeightArray
from toolchain.kernels.plan import DotCore, DotPlan

if TYPE_CHECKING:
    from toolchain.rtl.verilog import RtlUnit

OPERAND_BITS = ax.BITS  # activation and weight codes of every approximate multiplier
OFFSET = 1 << (OPERAND_BITS - 1)  # code -> table row/column
TABLE_ENTRIES = ax.TABLE_SIZE * ax.TABLE_SIZE
INTEGER_RANGE = (-16, 24)  # integer bits of the 8-bit types (ap_fixed<8, I>), as the Keras layers accept
GRANULARITIES = ("layer", "filter", "kernel")

CONFIG_TEMPLATE = """struct config{index} : nnet::arith::approx_config {{
{dot_config}
    typedef {act_t} act_t;
    static const int act_width = {act_width}, operand_width = {operand_width};
    static const int product_shift = {product_shift};
    static const bool uniform = {uniform};
    static const unsigned roup_k = {roup_k}, roup_m = {roup_m};
    static const unsigned n_tables = {n_tables};
    typedef {operand_t} operand_t;
    typedef {act_shift_t} act_shift_t;
    typedef {weight_shift_t} weight_shift_t;
{table_typedefs}}};
"""
TABLE_TYPEDEFS = """    typedef {slot_t} slot_t;
    typedef {table_t} table_t;
"""


# ---- the Approx config value ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerAssignment:
    """A layer's ``Approx`` value: its distinct multipliers and which one computes each product.

    ``index`` is None (every product by ``multipliers[0]``: layer granularity), an int array ``(n_out,)``
    (filter) or ``(n_out, n_chan)`` (kernel: output channel x input channel, the same at every tap).
    """

    multipliers: tuple[ax.Multiplier, ...]
    index: np.ndarray | None = None

    @property
    def granularity(self) -> str:
        return GRANULARITIES[0 if self.index is None else self.index.ndim]

    def expanded(self, n_out: int, n_chan: int, layer: str) -> np.ndarray:
        """The ``(n_out, n_chan)`` index; ArithValueError naming ``layer`` if the shape does not fit it."""
        if self.index is None:
            return np.zeros((n_out, n_chan), dtype=np.int64)
        idx = self.index
        if idx.shape == (n_out,):
            return np.repeat(idx[:, None], n_chan, axis=1)
        if idx.shape == (n_out, n_chan):
            return idx
        raise ArithValueError(f"Approx index of layer {layer} has shape {idx.shape}; expected ({n_out},) (one "
                              f"multiplier per filter) or ({n_out}, {n_chan}) (per kernel: output x input channel)",
                              key="Approx")


def _index_array(value: Any, n_mult: int, where: str) -> np.ndarray:
    try:
        idx = np.asarray(value)
    except ValueError:
        idx = np.asarray(value, dtype=object)
    if idx.dtype == object or idx.ndim not in (1, 2) or idx.size == 0:
        raise ArithValueError(f"{where} index must be a list of n_out integers (filter) or a list of n_out lists "
                              f"of n_in_channels integers (kernel)", key="Approx")
    if idx.dtype == np.bool_ or not (np.issubdtype(idx.dtype, np.integer)
                                     or (np.issubdtype(idx.dtype, np.floating) and np.all(idx == np.round(idx)))):
        raise ArithValueError(f"{where} index holds non-integers", key="Approx")
    idx = idx.astype(np.int64)
    if idx.min() < 0 or idx.max() >= n_mult:
        bad = int(idx.min() if idx.min() < 0 else idx.max())
        raise ArithValueError(f"{where} index holds {bad}; expected 0..{n_mult - 1} for {n_mult} multipliers",
                              key="Approx")
    idx.setflags(write=False)
    return idx


def _from_mapping(value: Mapping, base_dir: Path | None, where: str) -> LayerAssignment:
    unknown = set(value) - {"multipliers", "index"}
    if unknown or "multipliers" not in value:
        raise ArithValueError(f"{where} must have the keys 'multipliers' (a list of specs) and optionally 'index'"
                              + (f"; unknown: {', '.join(sorted(map(str, unknown)))}" if unknown else ""),
                              key="Approx")
    specs = value["multipliers"]
    if isinstance(specs, str):
        specs = [specs]
    if not isinstance(specs, (list, tuple)) or not specs:
        raise ArithValueError(f"{where} multipliers must be a non-empty list of specs", key="Approx")
    mults = tuple(_multiplier(s, base_dir) for s in specs)
    index = value.get("index")
    return LayerAssignment(mults, None if index is None else _index_array(index, len(mults), where))


def _multiplier(spec: Any, base_dir: Path | None) -> ax.Multiplier:
    try:
        return ax.multiplier_from_spec(spec, base_dir)
    except ArithValueError as exc:
        raise ArithValueError(f"Approx {exc}", key="Approx") from None


def _from_map_file(path: Path) -> LayerAssignment:
    """A map file: YAML/JSON ``{multipliers: [...], index: [...]}`` or ``.npz`` with arrays of the same names."""
    if not path.is_file():
        raise ArithValueError(f"Approx map file {str(path)!r} does not exist", key="Approx")
    where = f"Approx map file {str(path)!r}"
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                value = {k: (data[k].tolist() if k == "multipliers" else data[k]) for k in data.files}
        except (ValueError, OSError) as exc:
            raise ArithValueError(f"{where} is not a readable .npz file: {exc}", key="Approx") from None
    else:
        import yaml

        try:
            value = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ArithValueError(f"{where} is not valid YAML/JSON: {str(exc).splitlines()[0]}", key="Approx") \
                from None
    if not isinstance(value, Mapping):
        raise ArithValueError(f"{where} must hold a mapping with 'multipliers' and 'index'", key="Approx")
    return _from_mapping(value, path.parent, where)


def parse_approx(value: Any, base_dir: str | Path | None = None) -> LayerAssignment:
    """The ``Approx`` value of a layer: a spec (``exact``, ``roup(K,M)``, ``table:FILE``), ``map:FILE``, or a
    mapping ``{multipliers: [specs], index: [...]}``; relative files are looked up in ``base_dir``."""
    if isinstance(value, LayerAssignment):
        return value
    base = None if base_dir is None else Path(base_dir)
    if isinstance(value, Mapping):
        return _from_mapping(value, base, "Approx")
    if isinstance(value, str) and value.strip().lower().startswith("map:"):
        path = Path(value.strip()[4:].strip()).expanduser()
        return _from_map_file(path if base is None or path.is_absolute() else base / path)
    if isinstance(value, (list, tuple)):
        raise ArithValueError("Approx is a list; give one spec, 'map:FILE', or {multipliers: [...], index: [...]}",
                              key="Approx")
    return LayerAssignment((_multiplier(value, base),))


def assignment_config(multipliers: tuple[ax.Multiplier, ...] | list, index: np.ndarray | None) -> Any:
    """The ``Approx`` config value of an assignment (what ``parse_approx`` reads back): a spec string for one
    multiplier at layer granularity, else ``{multipliers: [...], index: [...]}``.  Table multipliers are written
    as ``table:NAME``: keep their files where the config is read."""
    specs = [ax.multiplier_spec(m) for m in multipliers]
    if index is None:
        return specs[0]
    return {"multipliers": specs, "index": np.asarray(index, dtype=np.int64).tolist()}


def _check_integer(value: Any, key: str) -> int:
    lo, hi = INTEGER_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ArithValueError(f"{key} must be an integer in {lo}..{hi} (integer bits I of ap_fixed<8, I>); "
                              f"got {value!r}", key=key)
    return int(value)


APPROX_OPTION = Option("approx", "Approx", "approximate multiplier(s) of the layer: 'exact', 'roup(K,M)', "
                       "'table:FILE', 'map:FILE' or {multipliers: [...], index: [...]} (per filter or kernel)",
                       check=parse_approx, from_layer="keras_approx")
INPUT_INTEGER_OPTION = Option("approx_input_integer", "ApproxInputInteger",
                              "integer bits I of the layer's 8-bit activation type ap_fixed<8,I,AP_RND,AP_SAT>",
                              check=lambda v: _check_integer(v, "ApproxInputInteger"),
                              from_layer="keras_input_integer")
WEIGHT_INTEGER_OPTION = Option("approx_weight_integer", "ApproxWeightInteger",
                               "integer bits I of the layer's 8-bit weight type ap_fixed<8,I,AP_RND,AP_SAT>",
                               check=lambda v: _check_integer(v, "ApproxWeightInteger"),
                               from_layer="keras_weight_integer")


# ---- encoding --------------------------------------------------------------------------------------------------

def eight_bit_type(integer: int) -> FixedType:
    """``ap_fixed<8, integer, AP_RND, AP_SAT>``: the operand type of every approximate multiplier."""
    return FixedType(OPERAND_BITS, int(integer), True, "AP_RND", "AP_SAT")


def activation_integer(x_type: FixedType) -> int:
    """Integer bits of the 8-bit activation type for inputs of ``x_type``: it holds every value of an input type
    of at most 8 bits (7 unsigned) exactly; a wider type keeps its range and loses low fractional bits."""
    return x_type.integer + (0 if x_type.signed else 1)


@dataclass(frozen=True)
class ApproxEncoding:
    act_type: FixedType  # the 8-bit activation type
    weight_type: FixedType  # the 8-bit weight type
    product_shift: int  # acc_frac - act frac - weight frac
    assignment: LayerAssignment
    index: np.ndarray  # int64 (n_in, n_out), patch order: which multiplier computes each term
    operands: np.ndarray  # int64 (n_in, n_out): perforated weight b_r (ROUP terms) or the weight code (table terms)
    act_shifts: np.ndarray  # int64 (n_in, n_out): m of ROUP terms (0 for table terms)
    weight_shifts: np.ndarray  # int64 (n_in, n_out): k of ROUP terms (0 for table terms)
    slots: np.ndarray  # int64 (n_in, n_out): 0 ROUP, j > 0 table j - 1
    tables: tuple[np.ndarray, ...]  # int64 (256, 256) each, indexed [b + 128, a + 128]

    @property
    def multipliers(self) -> tuple[ax.Multiplier, ...]:
        return self.assignment.multipliers

    @property
    def roup_terms(self) -> np.ndarray:
        return self.slots == 0


def _bias_frac(bias_acc: np.ndarray, acc_frac: int) -> int:
    """Fewest fractional bits that hold the bias codes (on a grid of ``acc_frac`` fractional bits) exactly."""
    nz = [abs(int(v)) for v in np.asarray(bias_acc).reshape(-1) if int(v) != 0]
    if not nz:
        return -(1 << 30)
    trailing = min((v & -v).bit_length() - 1 for v in nz)
    return acc_frac - trailing


def _shift(codes: np.ndarray, shift: int) -> np.ndarray:
    """``codes * 2**shift`` for codes known to be multiples of ``2**-shift`` (exact either way)."""
    return codes << np.int64(shift) if shift >= 0 else codes >> np.int64(-shift)


class ApproxKernel(Kernel):
    name = "approx"
    arithmetic = "approx"
    header = "nnet_utils/nnet_approx.h"
    config_template = CONFIG_TEMPLATE
    cpp_kernel = "nnet::arith::roup_kernel"
    options = (APPROX_OPTION, INPUT_INTEGER_OPTION, WEIGHT_INTEGER_OPTION)
    multiplies = True

    # ---- the 8-bit grids -------------------------------------------------------------------------------------

    def regrid(self, core: DotCore, options: Mapping[str, Any]) -> DotCore:
        """The core on the 8-bit weight grid: weight codes quantized to ``ap_fixed<8, I_w, AP_RND, AP_SAT>``, the
        accumulator's fractional bits those of the 8-bit products (or the bias's, if finer)."""
        act = self._act_type(core, options)
        weight = self._weight_type(core, options)
        w8 = fixed.requantize(core.w_codes, core.w_frac, weight)
        acc_frac = max(act.frac + weight.frac, _bias_frac(core.bias_acc, core.acc_frac))
        return replace(core, w_codes=w8, w_frac=weight.frac, acc_frac=acc_frac,
                       bias_acc=_shift(np.asarray(core.bias_acc, dtype=np.int64), acc_frac - core.acc_frac))

    def _act_type(self, core: DotCore, options: Mapping[str, Any]) -> FixedType:
        integer = options.get(INPUT_INTEGER_OPTION.name)
        return eight_bit_type(activation_integer(core.x_type) if integer is None else integer)

    def _weight_type(self, core: DotCore, options: Mapping[str, Any]) -> FixedType:
        integer = options.get(WEIGHT_INTEGER_OPTION.name)
        if integer is None:
            max_abs = float(np.max(np.abs(core.w_codes))) * 2.0 ** -core.w_frac if core.w_codes.size else 0.0
            integer = ax.integer_bits_for(max_abs)
        return eight_bit_type(integer)

    # ---- encoding ----------------------------------------------------------------------------------------------

    def encode(self, core: DotCore, options: Mapping[str, Any]) -> ApproxEncoding:
        act = self._act_type(core, options)
        weight = eight_bit_type(OPERAND_BITS - core.w_frac)  # regrid put the codes on this grid
        assignment = options.get(APPROX_OPTION.name) or LayerAssignment((ax.ROUPMultiplier(0, 0, name="exact"),))
        n_chan = core.geometry.n_chan
        per_channel = assignment.expanded(core.n_out, n_chan, core.layer)  # (n_out, n_chan)
        index = np.ascontiguousarray(np.tile(per_channel, (1, core.n_in // n_chan)).T)  # patch order (fh, fw, c)
        w = core.w_codes
        operands = w.copy()
        act_shifts = np.zeros_like(w)
        weight_shifts = np.zeros_like(w)
        slots = np.zeros_like(w)
        tables: list[np.ndarray] = []
        for u, mult in enumerate(assignment.multipliers):
            sel = index == u
            if not sel.any():
                continue
            if isinstance(mult, ax.ROUPMultiplier):
                operands[sel] = ax.roup_round_b(w[sel], mult.k) >> np.int64(2 * mult.k)
                act_shifts[sel], weight_shifts[sel] = mult.m, mult.k
            else:
                tables.append(np.ascontiguousarray(np.asarray(mult.table, dtype=np.int64).T))  # [b + 128, a + 128]
                slots[sel] = len(tables)
        return ApproxEncoding(act_type=act, weight_type=weight, product_shift=core.acc_frac - act.frac - weight.frac,
                              assignment=assignment, index=index, operands=operands, act_shifts=act_shifts,
                              weight_shifts=weight_shifts, slots=slots, tables=tuple(tables))

    def _act_range(self, core: DotCore, enc: ApproxEncoding) -> tuple[int, int]:
        """The 8-bit activation codes the input type can reach (the quantizer is monotonic)."""
        ends = fixed.requantize(np.array([core.x_type.min_code, core.x_type.max_code], dtype=np.int64),
                                core.x_type.frac, enc.act_type)
        return int(ends[0]), int(ends[1])

    def _term_ranges(self, core: DotCore, enc: ApproxEncoding) -> tuple[np.ndarray, np.ndarray]:
        """Smallest and largest product (on the product grid, int64 (n_in, n_out)) of every term over the
        activation codes the input type can reach (0 included)."""
        a_lo, a_hi = self._act_range(core, enc)
        a_lo, a_hi = min(a_lo, 0), max(a_hi, 0)
        lo = np.zeros(enc.index.shape, dtype=np.int64)
        hi = np.zeros(enc.index.shape, dtype=np.int64)
        for u, mult in enumerate(enc.multipliers):
            sel = enc.index == u
            if not sel.any():
                continue
            rows = np.asarray(mult.table, dtype=np.int64)[a_lo + OFFSET:a_hi + OFFSET + 1]  # reachable activations
            lo[sel] = rows.min(axis=0)[core.w_codes[sel] + OFFSET]
            hi[sel] = rows.max(axis=0)[core.w_codes[sel] + OFFSET]
        return lo, hi

    def bounds(self, core: DotCore, encoding: ApproxEncoding) -> tuple[int, int]:
        lo, hi = self._term_ranges(core, encoding)
        scale = 1 << encoding.product_shift
        bias = [int(b) for b in core.bias_acc]
        los = [int(v) * scale + b for v, b in zip(lo.astype(object).sum(axis=0), bias)]
        his = [int(v) * scale + b for v, b in zip(hi.astype(object).sum(axis=0), bias)]
        return (min(los), max(his)) if los else (0, 0)

    # ---- reference ---------------------------------------------------------------------------------------------

    def _activations(self, plan: DotPlan, cols: np.ndarray) -> np.ndarray:
        """8-bit activation codes of input codes ``cols`` (any integer-valued dtype)."""
        return fixed.requantize(np.asarray(cols).astype(np.int64), plan.x_type.frac, plan.encoding.act_type)

    def _on_grid(self, products: np.ndarray, plan: DotPlan) -> np.ndarray:
        shift = plan.encoding.product_shift
        if plan.acc_type_width + 1 <= 63:
            return products << np.int64(shift)
        return products.astype(object) * (1 << shift)

    def fast_accumulate(self, plan: DotPlan, cols: np.ndarray) -> np.ndarray:
        """``toolchain.arith.approx.approx_matmul`` of the 8-bit codes (ROUP by its closed form, tables by gathers),
        shifted onto the accumulator grid; int64 (or Python ints beyond 62 bits)."""
        enc: ApproxEncoding = plan.encoding
        products = ax.approx_matmul(self._activations(plan, cols), plan.w_codes,
                                    ax.Assignment(enc.multipliers, enc.index.T))
        return self._on_grid(products, plan)

    def accumulate(self, plan: DotPlan, cols: np.ndarray) -> np.ndarray:
        """Term by term as ``roup_kernel``/``approx_table_kernel`` do: rounded activation times the ROM's
        perforated weight shifted by m + 2k, or the table ROM's entry [slot][b + 128][a + 128]."""
        enc: ApproxEncoding = plan.encoding
        a = self._activations(plan, cols)
        acc = np.zeros((a.shape[0], plan.n_out), dtype=np.int64)
        stacked = np.stack(enc.tables) if enc.tables else np.zeros((1, ax.TABLE_SIZE, ax.TABLE_SIZE), np.int64)
        for i in range(plan.n_in):
            ai = a[:, i:i + 1]
            m, k, b = enc.act_shifts[i], enc.weight_shifts[i], enc.operands[i]
            below = np.where(m > 0, (ai >> np.maximum(m - 1, 0)) & 1, 0)
            a_r = np.where(m > 0, (ai >> m) + below, ai)
            roup = (a_r * b) << (m + 2 * k)
            slot = enc.slots[i]
            table = stacked[np.maximum(slot - 1, 0), b + OFFSET, ai + OFFSET]
            acc += np.where(slot == 0, roup, table)
        return self._on_grid(acc, plan)

    # ---- C++ ---------------------------------------------------------------------------------------------------

    def cpp_kernel_for(self, plan: DotPlan) -> str:
        return "nnet::arith::approx_table_kernel" if plan.encoding.tables else self.cpp_kernel

    def weight_arrays(self, plan: DotPlan) -> list[WeightArray]:
        enc: ApproxEncoding = plan.encoding
        arrays = [WeightArray("approx_operand", "aop", "operand_t", enc.operands, signed=True, folded=True),
                  WeightArray("approx_act_shift", "aam", "act_shift_t", enc.act_shifts, signed=False, folded=True),
                  WeightArray("approx_weight_shift", "aak", "weight_shift_t", enc.weight_shifts, signed=False,
                              folded=True)]
        if enc.tables:
            arrays += [WeightArray("approx_slot", "asl", "slot_t", enc.slots, signed=False, folded=True),
                       WeightArray("approx_table", "atb", "table_t", np.concatenate([t.reshape(-1)
                                                                                      for t in enc.tables]),
                                   signed=True)]
        return arrays

    def config_params(self, plan: DotPlan) -> dict[str, Any]:
        enc: ApproxEncoding = plan.encoding
        roup = enc.roup_terms
        min_m = int(enc.act_shifts[roup].min()) if roup.any() else 0
        min_k = int(enc.weight_shifts[roup].min()) if roup.any() else 0
        single = len(enc.multipliers) == 1 and isinstance(enc.multipliers[0], ax.ROUPMultiplier)
        t = enc.act_type
        return {"act_t": f"ap_fixed<{t.width},{t.integer},{t.rounding},{t.overflow}>",
                "act_width": OPERAND_BITS + 1 - min_m if min_m else OPERAND_BITS,
                "operand_width": OPERAND_BITS + 1 - 2 * min_k if min_k else OPERAND_BITS,
                "product_shift": enc.product_shift, "uniform": str(single).lower(),
                "roup_k": enc.multipliers[0].k if single else 0, "roup_m": enc.multipliers[0].m if single else 0,
                "n_tables": len(enc.tables), "table_typedefs": ""}

    def config_template_for(self, plan: DotPlan) -> str:
        if not plan.encoding.tables:
            return CONFIG_TEMPLATE
        return CONFIG_TEMPLATE.replace("{table_typedefs}", TABLE_TYPEDEFS)

    # ---- counts ------------------------------------------------------------------------------------------------

    def _live_terms(self, plan: DotPlan) -> np.ndarray:
        """Terms that generate hardware: ROUP terms whose perforated weight is not 0, table terms whose ROM row is
        not all zero."""
        enc: ApproxEncoding = plan.encoding
        live = (enc.operands != 0) & enc.roup_terms
        for j, table in enumerate(enc.tables, start=1):
            sel = enc.slots == j
            live[sel] = np.any(table[plan.w_codes[sel] + OFFSET] != 0, axis=1)
        return live

    def generated_terms(self, plan: DotPlan) -> int:
        return int(np.count_nonzero(self._live_terms(plan)))

    def operations(self, plan: DotPlan) -> list:
        """Per live term (``_live_terms``) its multiplier: ``roup`` (k, m) (exact is ``mult`` 8 x 8), or a
        ``table`` lookup in a 256-entry row of its product width; and an add of the accumulator's width; plus the
        weight ROM reads of a folded layer."""
        from toolchain.energy import Op

        enc: ApproxEncoding = plan.encoding
        live = self._live_terms(plan)
        counts: dict[tuple[str, tuple[int, ...]], int] = {}
        for u, mult in enumerate(enc.multipliers):
            n = int(np.count_nonzero(live & (enc.index == u)))
            if not n:
                continue
            if isinstance(mult, ax.ROUPMultiplier):
                key = ("mult", (OPERAND_BITS, OPERAND_BITS)) if (mult.k, mult.m) == (0, 0) else ("roup",
                                                                                                  (mult.k, mult.m))
            else:
                table = np.asarray(mult.table)
                key = ("table", (ax.TABLE_SIZE, fixed.bits_for_range(min(int(table.min()), 0),
                                                                     max(int(table.max()), 0), True)))
            counts[key] = counts.get(key, 0) + n
        ops = [Op(kind, params, n) for (kind, params), n in counts.items()]
        return ops + [Op("add", (plan.acc_type_width,), int(np.count_nonzero(live))), *self.weight_rom_ops(plan)]

    def frame_operations(self, plan: DotPlan) -> list:
        """Each input value is quantized to the 8-bit activation type once: a rounding add of 8 bits."""
        from toolchain.energy import Op

        g = plan.geometry
        return [Op("add", (OPERAND_BITS,), g.in_height * g.in_width * g.n_chan)]

    def report_details(self, plan: DotPlan) -> str:
        enc: ApproxEncoding = plan.encoding
        counts = np.bincount(enc.index.reshape(-1), minlength=len(enc.multipliers)) / max(enc.index.size, 1)
        mults = ", ".join(f"{ax.multiplier_spec(m)} {c:.0%}" for m, c in zip(enc.multipliers, counts) if c)
        return (f"{enc.assignment.granularity}: {mults}; act {enc.act_type.width}b I={enc.act_type.integer}, "
                f"weights {enc.weight_type.width}b I={enc.weight_type.integer}")

    def report_fields(self, plan: DotPlan) -> dict[str, Any]:
        enc: ApproxEncoding = plan.encoding
        return {"granularity": enc.assignment.granularity,
                "multipliers": [ax.multiplier_spec(m) for m in enc.multipliers],
                "act_type": str(enc.act_type), "weight_type": str(enc.weight_type)}

    def element_bits(self, plan: DotPlan) -> int:
        return OPERAND_BITS

    def rtl_layer(self, plan: DotPlan, name: str) -> RtlUnit:
        """ROUP(k, m) terms with the constant perforated weights (the input requantized once to the 8-bit
        activation, rounded at each term's m, times its operand, shifted by m + 2k; the sum shifted by
        product_shift): ``toolchain.rtl.dot.roup_dot``.  A term whose perforated weight is 0 generates nothing.
        UnsupportedError for a layer with a table multiplier (``table:FILE``): no RTL generator for those."""
        from toolchain.errors import UnsupportedError
        from toolchain.rtl.dot import roup_dot

        enc: ApproxEncoding = plan.encoding
        if enc.tables:
            raise UnsupportedError(f"layer {plan.layer}: no RTL generator for table multipliers (table:FILE); "
                                   f"ROUP(k, m) and exact multipliers only", layer=plan.layer)
        if (enc.act_type.rounding, enc.act_type.overflow) != ("AP_RND", "AP_SAT"):
            raise UnsupportedError(f"layer {plan.layer}: the RTL activation stage rounds half up and saturates; "
                                   f"activation type {enc.act_type} is not supported", layer=plan.layer)
        return roup_dot(enc.operands, enc.act_shifts, enc.weight_shifts, plan.bias_acc, plan.x_type.width,
                        plan.x_type.signed, plan.x_type.frac - enc.act_type.frac, enc.product_shift,
                        plan.acc_type_width, name)

    def cost(self, plan: DotPlan, io_type: str = "io_parallel"):
        """Per term unit a multiplier of the rounded activation by the perforated weight (ROUP: act_width x
        operand_width bits) or a ROM row of its table (256 products; folded: the whole table), and an adder of the
        accumulator's width."""
        from dataclasses import replace as dc_replace

        from toolchain import estimate as est

        cost = super().cost(plan, io_type)
        params = self.config_params(plan)
        m_lut, m_dsp = est.multiplier(params["act_width"], params["operand_width"])
        enc: ApproxEncoding = plan.encoding
        lut = cost.lut + cost.units * m_lut
        notes = cost.notes
        if enc.tables:
            width = fixed.bits_for_range(min(int(min(t.min() for t in enc.tables)), 0),
                                         max(int(max(t.max() for t in enc.tables)), 0), True)
            if est.folded(plan):
                notes += (f"each of the {cost.units} term units reads a whole {ax.TABLE_SIZE}x{ax.TABLE_SIZE} table "
                          f"ROM ({width}-bit products): not in this estimate",)
            else:  # a constant weight selects one row: a 256-word ROM per term, a LUT function of the activation
                lut += cost.units * width * -(-ax.TABLE_SIZE // est.ROM_BITS_PER_LUT)
        return dc_replace(cost, lut=lut, dsp=cost.units * m_dsp, notes=notes)


KERNEL = ApproxKernel()

__all__ = ["ApproxKernel", "ApproxEncoding", "KERNEL", "LayerAssignment", "assignment_config", "eight_bit_type",
           "parse_approx"]
