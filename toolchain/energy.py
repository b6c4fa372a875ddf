"""Energy per operation from a replaceable cost table (45 nm figures in the style of Horowitz, ISSCC 2014).

One concern: what one operation of a datapath costs, in picojoules (pJ), under a cost table
(``toolchain/cost_tables/energy_45nm.yaml`` by default; ``load_cost_table(path)`` reads another one with the
same keys).  The table gives a few reference points (8- and 32-bit integer add and multiply, SRAM reads);
the rules here scale them to the widths and operation kinds the arith4ml kernels use.  Each rule and its
derivation is in ``docs/estimate.md`` ("Energy") and in the YAML file's comments.

**Cost-model figures, not measurements**: an ASIC process's figures applied to a description of the
datapath, useful to compare arithmetics with each other, not to predict an FPGA's power.

Operation kinds (``Op.kind`` and its ``params``):

============  ====================  =============================================================
kind          params                what
============  ====================  =============================================================
mult          (a_bits, b_bits)      integer multiply
roup          (k, m)                ROUP(k, m) approximate 8x8 Booth multiply (toolchain.arith.approx)
table         (entries, bits)       table multiplier: one lookup in a ROM of ``entries`` words
add           (bits,)               add / subtract / accumulate
shift_add     (bits,)               a shift by a constant (wiring) then an add
mod_add       (modulus,)            modular add: add, then a conditional subtract of the modulus
mod_mac       (modulus,)            residue multiply-accumulate: n x n multiply + modular add
barrett       (modulus, x_bits)     Barrett reduction of an x_bits value: (x_bits x n+1) multiply + mod_add
rom           (entries, bits)       any other memory read (weight ROM word, decode table)
compare       (bits,)               comparator
and           (bits,)               bitwise AND / select mask
count         (bits,)               counter increment
shift         (bits, max_shift)     shift by a run-time amount in 0..max_shift (barrel shifter)
============  ====================  =============================================================

No hls4ml or Keras imports.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TABLE = Path(__file__).parent / "cost_tables" / "energy_45nm.yaml"
EXACT_BITS = 8  # operand width of the ROUP / table multipliers (toolchain.arith.approx.BITS)
BOOTH_PARTIAL_PRODUCTS = EXACT_BITS // 2  # radix-4 Booth: one partial product per 2 weight bits
BOOTH_PP_BITS = EXACT_BITS + 1  # each partial product is 0, +-A or +-2A: one bit wider than A
DISCLAIMER = ("energy from 45 nm cost-model figures (Horowitz, ISSCC 2014 style; docs/estimate.md), "
              "not measurements")

OP_KINDS = {
    "mult": 2, "roup": 2, "table": 2, "add": 1, "shift_add": 1, "mod_add": 1, "mod_mac": 1, "barrett": 2,
    "rom": 2, "compare": 1, "and": 1, "count": 1, "shift": 2,
}
"""Every operation kind and the number of its params."""

MULTIPLY_KINDS = ("mult", "roup", "table", "mod_mac")
"""Kinds that are (or contain) a data-by-weight multiplier: what ``multiply_energy`` counts."""

# the keys of a cost table: (section, key) -> description; every value a positive number of pJ
_KEYS = {
    ("add", "int8"): "8-bit integer add", ("add", "int32"): "32-bit integer add",
    ("mult", "int8"): "8-bit integer multiply", ("mult", "int32"): "32-bit integer multiply",
    ("fp16", "add"): "FP16 add", ("fp16", "mult"): "FP16 multiply",
    ("fp32", "add"): "FP32 add", ("fp32", "mult"): "FP32 multiply",
    ("sram_read_64bit", "8KB"): "64-bit read from an 8 KB SRAM",
    ("sram_read_64bit", "32KB"): "64-bit read from a 32 KB SRAM",
    ("sram_read_64bit", "1MB"): "64-bit read from a 1 MB SRAM",
}
_SRAM_BYTES = {"8KB": 8 << 10, "32KB": 32 << 10, "1MB": 1 << 20}


@dataclass(frozen=True)
class Op:
    """``count`` operations of one ``kind`` with its ``params`` (see the module docstring for the kinds)."""

    kind: str
    params: tuple[int, ...]
    count: int


@dataclass(frozen=True)
class CostTable:
    """Reference energies in pJ (from a cost-table YAML file) and the scaling rules built on them."""

    path: str
    name: str
    add8: float
    add32: float
    mult8: float
    mult32: float
    fp16_add: float
    fp16_mult: float
    fp32_add: float
    fp32_mult: float
    sram: tuple[tuple[int, float], ...]  # (SRAM size in bytes, pJ per 64-bit word read), ascending size

    # ---- scaling rules (docs/estimate.md, "Energy") ------------------------------------------------------

    def add(self, bits: int) -> float:
        """pJ of a ``bits``-wide integer add: proportional below 8 bits, the line through the 8- and 32-bit
        figures above (a ripple adder is one full-adder cell per bit; the line keeps both figures exact)."""
        bits = max(int(bits), 0)
        if bits <= 8:
            return self.add8 * bits / 8
        return self.add8 + (bits - 8) * (self.add32 - self.add8) / 24

    def mult(self, a_bits: int, b_bits: int) -> float:
        """pJ of an ``a_bits`` x ``b_bits`` integer multiply: by partial-product bits ``p = a*b``, proportional
        below 64 (8 x 8), the line through (64, 8-bit figure) and (1024, 32-bit figure) above."""
        p = max(int(a_bits), 0) * max(int(b_bits), 0)
        if p <= 64:
            return self.mult8 * p / 64
        return self.mult8 + (p - 64) * (self.mult32 - self.mult8) / (1024 - 64)

    def memory_read(self, entries: int, bits: int) -> float:
        """pJ of reading one ``bits``-bit word from a memory of ``entries`` words: the 64-bit SRAM read scaled
        by ``bits / 64`` and by the size as a power law through the table's sizes (below the smallest, the
        exponent of its first step; above the largest, of its last)."""
        entries, bits = max(int(entries), 1), max(int(bits), 0)
        if bits == 0:
            return 0.0
        size = entries * bits / 8  # bytes
        pts = self.sram
        if size <= pts[0][0]:
            (s0, e0), (s1, e1) = pts[0], pts[1]
        elif size >= pts[-1][0]:
            (s0, e0), (s1, e1) = pts[-2], pts[-1]
        else:
            i = next(i for i in range(1, len(pts)) if size <= pts[i][0])
            (s0, e0), (s1, e1) = pts[i - 1], pts[i]
        exponent = math.log(e1 / e0) / math.log(s1 / s0)
        return e0 * (size / s0) ** exponent * bits / 64

    def mod_add(self, modulus: int) -> float:
        """pJ of a modular add of residues: an (n+1)-bit add and a conditional subtract of the modulus (an
        (n+1)-bit subtract whose borrow selects), n = bit_length(m - 1); a 2^n modulus truncates: one n-bit add."""
        m = int(modulus)
        n = (m - 1).bit_length()
        if m & (m - 1) == 0:
            return self.add(n)
        return 2 * self.add(n + 1)

    def shift(self, bits: int, max_shift: int) -> float:
        """pJ of a ``bits``-wide shift by a run-time amount in ``0..max_shift``: a barrel shifter of
        bit_length(max_shift) stages of 2:1 multiplexers, each stage costed as a ``bits``-wide add."""
        return max(int(max_shift), 0).bit_length() * self.add(bits)

    def roup(self, k: int, m: int) -> float:
        """pJ of one ROUP(k, m) product: the exact 8x8 multiply scaled by the partial-product bits it keeps,
        (4 - k)(9 - m) / 36, plus the (8 - m)-bit rounding incrementer of the activation when m > 0."""
        k, m = int(k), int(m)
        if not (0 <= k < BOOTH_PARTIAL_PRODUCTS and 0 <= m < EXACT_BITS):
            raise ValueError(f"ROUP(k={k}, m={m}) out of range: k in 0..{BOOTH_PARTIAL_PRODUCTS - 1}, "
                             f"m in 0..{EXACT_BITS - 1}")
        kept = (BOOTH_PARTIAL_PRODUCTS - k) * (BOOTH_PP_BITS - m)
        energy = self.mult(EXACT_BITS, EXACT_BITS) * kept / (BOOTH_PARTIAL_PRODUCTS * BOOTH_PP_BITS)
        return energy + (self.add(EXACT_BITS - m) if m > 0 else 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "name": self.name,
                "add": {"int8": self.add8, "int32": self.add32}, "mult": {"int8": self.mult8, "int32": self.mult32},
                "fp16": {"add": self.fp16_add, "mult": self.fp16_mult},
                "fp32": {"add": self.fp32_add, "mult": self.fp32_mult},
                "sram_read_64bit": {k: e for k, (_, e) in zip(_SRAM_BYTES, self.sram)}}


# ---- loading --------------------------------------------------------------------------------------------


def load_cost_table(path: str | os.PathLike | None = None) -> CostTable:
    """The cost table in the YAML file ``path`` (None: the shipped 45 nm one).

    Every key of the shipped table is required, each a positive number of pJ; 32-bit figures may not be
    below the 8-bit ones, nor a larger SRAM's read below a smaller one's (the scaling rules interpolate
    between them).  A bad file raises a one-line ConfigError ``FILE:LINE: key.path: message``.
    """
    if path is None:
        return _default_table()
    return _load(os.fspath(path))


@functools.lru_cache(maxsize=1)
def _default_table() -> CostTable:
    return _load(str(DEFAULT_TABLE))


def _load(path: str) -> CostTable:
    from toolchain import yamlfile

    doc = yamlfile.load(path, expected="a mapping of cost-table sections (add, mult, fp16, fp32, sram_read_64bit)",
                        what="energy cost table")
    sections = list(dict.fromkeys(s for s, _ in _KEYS))
    for key in doc.data:
        if key != "name" and key not in sections:
            raise doc.error((key,), f"unknown key; a cost table has {', '.join(['name', *sections])}")
    values: dict[tuple[str, str], float] = {}
    for section in sections:
        node = doc.data.get(section)
        if node is None:
            raise doc.error((section,), "missing: the cost table needs it (see toolchain/cost_tables/energy_45nm.yaml)")
        if not isinstance(node, dict):
            raise doc.error((section,), f"must be a mapping; got {type(node).__name__}")
        wanted = [k for s, k in _KEYS if s == section]
        for key in node:
            if str(key) not in wanted:
                raise doc.error((section, key), f"unknown key; {section} has {', '.join(wanted)}")
        for key in wanted:
            if key not in node:
                raise doc.error((section, key), f"missing: the {_KEYS[(section, key)]} energy in pJ")
            value = node[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise doc.error((section, key), f"must be a positive number of pJ ({_KEYS[(section, key)]}); "
                                                f"got {value!r}")
            values[(section, key)] = float(value)
    for section, small, big in (("add", "int8", "int32"), ("mult", "int8", "int32"),
                                ("sram_read_64bit", "8KB", "32KB"), ("sram_read_64bit", "32KB", "1MB")):
        if values[(section, big)] < values[(section, small)]:
            raise doc.error((section, big), f"{values[(section, big)]} pJ is below {section}.{small} "
                                            f"({values[(section, small)]} pJ); the scaling rules need it at least "
                                            "as large")
    name = doc.data.get("name", Path(path).stem)
    return CostTable(path=path, name=str(name), add8=values[("add", "int8")], add32=values[("add", "int32")],
                     mult8=values[("mult", "int8")], mult32=values[("mult", "int32")],
                     fp16_add=values[("fp16", "add")], fp16_mult=values[("fp16", "mult")],
                     fp32_add=values[("fp32", "add")], fp32_mult=values[("fp32", "mult")],
                     sram=tuple((_SRAM_BYTES[k], values[("sram_read_64bit", k)]) for k in _SRAM_BYTES))


# ---- energy of operations --------------------------------------------------------------------------------


def _check(kind: str, params: tuple[int, ...]) -> tuple[int, ...]:
    if kind not in OP_KINDS:
        raise ValueError(f"unknown operation kind {kind!r}; one of {', '.join(OP_KINDS)}")
    params = tuple(int(p) for p in params)
    if len(params) != OP_KINDS[kind]:
        raise ValueError(f"operation {kind!r} takes {OP_KINDS[kind]} params; got {params}")
    return params


def op_energy(op_kind: str, params: tuple[int, ...], table: CostTable | None = None) -> float:
    """pJ of one operation of kind ``op_kind`` with ``params`` (the kinds in the module docstring)."""
    t = table or load_cost_table()
    p = _check(op_kind, params)
    if op_kind == "mult":
        return t.mult(p[0], p[1])
    if op_kind == "roup":
        return t.roup(p[0], p[1])
    if op_kind in ("table", "rom"):
        return t.memory_read(p[0], p[1])
    if op_kind in ("add", "shift_add", "compare", "and", "count"):
        return t.add(p[0])
    if op_kind == "mod_add":
        return t.mod_add(p[0])
    if op_kind == "mod_mac":
        n = (p[0] - 1).bit_length()
        return t.mult(n, n) + t.mod_add(p[0])
    if op_kind == "barrett":
        n = (p[0] - 1).bit_length()
        return t.mult(p[1], n + 1) + t.mod_add(p[0])
    return t.shift(p[0], p[1])  # "shift"


def multiply_energy(op_kind: str, params: tuple[int, ...], table: CostTable | None = None) -> float:
    """pJ of the data-by-weight multiplier inside one operation: all of a mult, roup or table lookup, the
    n x n multiply of a mod_mac, 0 for every other kind."""
    p = _check(op_kind, params)
    if op_kind not in MULTIPLY_KINDS:
        return 0.0
    if op_kind == "mod_mac":
        n = (p[0] - 1).bit_length()
        return (table or load_cost_table()).mult(n, n)
    return op_energy(op_kind, p, table)


def ops_energy(ops: list[Op], table: CostTable | None = None) -> float:
    """pJ of every operation in ``ops`` (each ``count`` times)."""
    t = table or load_cost_table()
    return sum(op.count * op_energy(op.kind, op.params, t) for op in ops)


def ops_multiply_energy(ops: list[Op], table: CostTable | None = None) -> float:
    """pJ of the multipliers in ``ops`` (``multiply_energy`` of each, ``count`` times)."""
    t = table or load_cost_table()
    return sum(op.count * multiply_energy(op.kind, op.params, t) for op in ops)


def merge(ops: list[Op], scale: int = 1) -> list[Op]:
    """``ops`` with equal (kind, params) added up and every count times ``scale``; zero counts dropped."""
    counts: dict[tuple[str, tuple[int, ...]], int] = {}
    for op in ops:
        key = (op.kind, tuple(int(p) for p in op.params))
        counts[key] = counts.get(key, 0) + int(op.count) * int(scale)
    return [Op(kind, params, count) for (kind, params), count in counts.items() if count]


# ---- multipliers of toolchain.arith.approx -----------------------------------------------------------------


def exact_multiplier_energy(bits: int = EXACT_BITS, table: CostTable | None = None) -> float:
    """pJ of one exact ``bits`` x ``bits`` integer product."""
    return (table or load_cost_table()).mult(bits, bits)


def multiplier_op(mult: Any) -> tuple[str, tuple[int, ...]]:
    """(kind, params) of one product of a ``toolchain.arith.approx.Multiplier``: ``("roup", (k, m))`` for a
    ROUPMultiplier (``("mult", (8, 8))`` for ROUP(0, 0), the exact product), else ``("table", (256, w))``: the
    weight is constant, so a product reads one 256-entry column of the table, ``w`` bits wide (the bits of
    its products' range)."""
    from toolchain.arith import approx

    if isinstance(mult, approx.ROUPMultiplier):
        if (mult.k, mult.m) == (0, 0):
            return "mult", (EXACT_BITS, EXACT_BITS)
        return "roup", (mult.k, mult.m)
    if not isinstance(mult, approx.Multiplier):
        raise TypeError(f"{mult!r} is not a toolchain.arith.approx.Multiplier")
    values = mult.table
    lo, hi = min(int(values.min()), 0), max(int(values.max()), 0)
    width = max(hi.bit_length(), (-lo - 1).bit_length()) + (1 if lo < 0 else 0)
    return "table", (approx.TABLE_SIZE, max(width, 1))


def multiplier_energy(mult: Any, table: CostTable | None = None) -> float:
    """pJ of one product of ``mult`` (a ``toolchain.arith.approx.Multiplier``): ROUP(k, m) by its kept
    partial-product bits plus its rounding incrementer (ROUP(0, 0): the exact 8x8 product); a table multiplier
    as one read of a 256-entry column of its product width."""
    kind, params = multiplier_op(mult)
    return op_energy(kind, params, table)
