"""Generated Verilog of the (N,k) structured sparse ternary code: the group decoder, the code ROM and the dense
ternary ROM, and the nk Dense layer (NKKernel.rtl_layer), simulated under Icarus against toolchain.arith.ternary
and NKKernel.accumulate; verilator lint; yosys elaboration (zero weights generate no term)."""
from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.rtl_tools import needs_iverilog, needs_verilator, needs_yosys
from toolchain.arith import ternary
from toolchain.arith.fixed import FixedType
from toolchain.errors import ArithValueError
from toolchain.kernels import KERNELS
from toolchain.kernels.plan import DotPlan, Geometry, build_plan, dot_core
from toolchain.rtl.nk import dense_ternary_rom, max_k, nk_code_rom, nk_decoder, nk_dense_layer
from toolchain.rtl.sim import simulate_ports

pytestmark = pytest.mark.xdist_group("rtl")


# (N, k) of the decoder tests: the bench's (8,2), the degenerate k = 0 and k = N, and the largest N
DECODERS = [(8, 2), (1, 0), (1, 1), (2, 2), (4, 1), (5, 5), (16, 1), (16, 4), (10, 10)]


# ---------------------------------------------------------------------------------------------- decoder

@needs_iverilog
@pytest.mark.parametrize("n, k", DECODERS)
def test_decoder_exhaustive_equals_codebook(n: int, k: int) -> None:
    unit = nk_decoder(n, k)
    codes = np.arange(1 << unit.port("code").width)
    t = simulate_ports(unit, {"code": codes})["t"].reshape(codes.size, n)
    book = ternary.codebook(n, k)
    assert np.array_equal(t[:len(book)], book)
    assert not t[len(book):].any()  # indices past the codebook decode to the all-zero group


def test_max_k_is_the_codebook_limit() -> None:
    for n in range(1, 17):
        k = max_k(n)
        assert ternary.n_patterns(n, k) <= ternary.MAX_PATTERNS
        assert k == n or sum(math.comb(n, i) << i for i in range(k + 2)) > ternary.MAX_PATTERNS
    assert (max_k(8), max_k(10), max_k(11), max_k(16)) == (8, 10, 6, 4)


# ---------------------------------------------------------------------------------------------- storage

def _random_codes(n: int, k: int, groups: int, seed: int) -> np.ndarray:
    """Group codes of a random (n, k)-sparse ternary matrix, one per address (plus the extreme codes)."""
    rng = np.random.default_rng(seed)
    t = np.sign(ternary.project_nk(rng.normal(size=(n * groups, 1)), n, k)).astype(np.int8)
    t[:n] = 0  # group 0: the all-zero group
    codes = ternary.encode_nk(t, n, k).reshape(-1).astype(np.int64)
    codes[-1] = ternary.n_patterns(n, k) - 1  # the last codebook row
    return codes


@needs_iverilog
@pytest.mark.parametrize("n, k, groups", [(8, 2, 128), (4, 3, 37), (16, 2, 600), (1, 0, 3)])
def test_code_rom_and_dense_rom_equal_decode_nk(n: int, k: int, groups: int) -> None:
    codes = _random_codes(n, k, groups, seed=groups)
    weights = ternary.decode_nk(codes[None, :], n, k, n).T  # (groups, n)
    code_rom, dense_rom = nk_code_rom(codes, n, k), dense_ternary_rom(weights)
    assert code_rom.params["storage_bits"] == groups * max(ternary.code_bits(n, k), 1)
    assert dense_rom.params["storage_bits"] == groups * 2 * n
    rng = np.random.default_rng(groups)
    addr = np.concatenate([np.arange(groups), rng.integers(0, groups, 300), [0, groups - 1]])
    for unit in (code_rom, dense_rom):
        t = simulate_ports(unit, {"addr": addr})["t"].reshape(addr.size, n)
        assert np.array_equal(t, weights[addr]), unit.name


# ---------------------------------------------------------------------------------------------- layer

def _plan(n_in: int, n_out: int, x_type: FixedType, nk: tuple[int, int], seed: int, bias: bool = True,
          zero_out: int | None = 0, zero_in: int | None = None) -> DotPlan:
    """An nk plan of random (N,k)-sparse ternary weights times 2**e per output (e in -3..1), an all-zero
    output column ``zero_out`` and an all-zero input row ``zero_in``, a random bias."""
    rng = np.random.default_rng(seed)
    t = np.sign(ternary.project_nk(rng.normal(size=(n_in, n_out)), *nk))
    w = t * 2.0 ** rng.integers(-3, 2, n_out)[None, :]
    if zero_out is not None:
        w[:, zero_out] = 0.0
    if zero_in is not None:
        w[zero_in, :] = 0.0
    b = rng.integers(-64, 64, n_out) / 16.0 if bias else None
    return build_plan(dot_core("fc", Geometry(n_chan=n_in), x_type, w, b), KERNELS["nk"], {"n_k": nk})


LAYERS = {  # name: (n_in, n_out, x type, (N, k), bias, zero output column, zero input row)
    "s8_nk82": (20, 6, FixedType(8, 3, True), (8, 2), True, 0, 5),
    "u6_nk41": (13, 5, FixedType(6, 6, False), (4, 1), True, 2, None),
    "u1_nk33_nobias": (9, 3, FixedType(1, 1, False), (3, 3), False, None, 0),
    "s12_nk164": (35, 4, FixedType(12, 2, True), (16, 4), True, 3, 34),
    "s4_nk10": (7, 3, FixedType(4, 4, True), (1, 0), True, None, None),  # k = 0: every weight zero
}


def _columns(plan: DotPlan, count: int, seed: int) -> np.ndarray:
    """Random input codes, plus the extremes: all min, all max, alternating min/max, all zero."""
    xt = plan.x_type
    rng = np.random.default_rng(seed)
    cols = rng.integers(xt.min_code, xt.max_code + 1, (count, plan.n_in))
    cols[0], cols[1], cols[3] = xt.min_code, xt.max_code, 0
    cols[2] = np.where(np.arange(plan.n_in) % 2 == 0, xt.min_code, xt.max_code)
    return cols


@needs_iverilog
@pytest.mark.parametrize("case", LAYERS)
def test_layer_equals_kernel_accumulate(case: str) -> None:
    n_in, n_out, x_type, nk, bias, zero_out, zero_in = LAYERS[case]
    plan = _plan(n_in, n_out, x_type, nk, seed=n_in * n_out, bias=bias, zero_out=zero_out, zero_in=zero_in)
    unit = plan.kernel.rtl_layer(plan, f"fc_{case}")
    assert unit.port("x").signed == x_type.signed and unit.port("acc").width == plan.acc_type_width
    cols = _columns(plan, 400, seed=n_in)
    acc = simulate_ports(unit, {"x": cols})["acc"].reshape(len(cols), n_out)
    expected = plan.kernel.accumulate(plan, cols) + plan.bias_acc[None, :]
    bad = np.argwhere(acc != expected)
    assert bad.size == 0, f"{case}: row {bad[0][0]}, output {bad[0][1]}: {acc[tuple(bad[0])]} != " \
                          f"{expected[tuple(bad[0])]}"


@needs_iverilog
def test_all_zero_layer_is_its_bias() -> None:
    x_type = FixedType(8, 3, True)
    core = dot_core("fc", Geometry(n_chan=10), x_type, np.zeros((10, 3)), np.array([0.5, -1.0, 0.0]))
    plan = build_plan(core, KERNELS["nk"], {"n_k": (4, 2)})
    unit = plan.kernel.rtl_layer(plan, "fc_zero")
    assert plan.acc_type_width < x_type.width  # the inputs are cut to the accumulator's width (and unused)
    cols = _columns(plan, 50, seed=1)
    acc = simulate_ports(unit, {"x": cols})["acc"].reshape(len(cols), 3)
    assert np.array_equal(acc, np.broadcast_to(plan.bias_acc, acc.shape))


def _cut_plan() -> DotPlan:
    w = np.zeros((4, 2))
    w[0, 0] = 1.0
    w[2, 1] = -1.0
    core = dot_core("fc", Geometry(n_chan=4), FixedType(8, 8, False), w, np.array([-128.0, 127.0]))
    return build_plan(core, KERNELS["nk"], {"n_k": (4, 1)})


@needs_iverilog
def test_layer_cuts_a_tree_wider_than_the_accumulator() -> None:
    """Unsigned 8-bit inputs, one +1 weight and bias -128: the exact accumulator is 8 bits ([-128, 127]) while
    the tree's root is 9 (it holds 0..255 signed); the root is cut to the accumulator's width (modulo 2**8)."""
    plan = _cut_plan()
    assert plan.acc_type_width == 8
    cols = _columns(plan, 300, seed=2)
    acc = simulate_ports(plan.kernel.rtl_layer(plan, "fc_cut"), {"x": cols})["acc"].reshape(len(cols), 2)
    assert np.array_equal(acc, plan.kernel.accumulate(plan, cols) + plan.bias_acc[None, :])


# ---------------------------------------------------------------------------------------------- yosys

def _elaborated_cells(unit, tmp: Path) -> tuple[dict[str, int], str]:
    """Cells of the unit after yosys' front end and ``proc`` (before any optimisation), and yosys' log."""
    unit.write(tmp)
    script = f"read_verilog {unit.name}.v; hierarchy -top {unit.name}; proc; opt_clean; tee -o stat.txt stat"
    proc = subprocess.run(["yosys", "-p", script], cwd=tmp, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-500:]
    cells = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\$\w+)\s+(\d+)\s*$",
                                                              (tmp / "stat.txt").read_text(), re.M)}
    return cells, proc.stdout + proc.stderr


@needs_yosys
def test_zero_weights_generate_no_term_in_yosys(tmp_path: Path) -> None:
    """The elaborated layer has one adder per non-zero weight, before any optimisation: per output with P
    weights +1 and M weights -1, P - 1 + M - 1 adds in the two trees, one add of the bias to the +1 sum and one
    subtract of the -1 sum (only the sums that exist): zero weights leave no adder behind."""
    plan = _plan(*LAYERS["s8_nk82"][:4], seed=120, zero_out=0, zero_in=5)
    unit = plan.kernel.rtl_layer(plan, "fc_terms")
    cells, log = _elaborated_cells(unit, tmp_path)
    assert "implicitly declared" not in log and "Warning" not in log, log[-800:]
    t = ternary.decode_nk(plan.encoding.codes, 8, 2, plan.n_in)
    assert np.count_nonzero(t) < t.size // 3  # (8,2): at most a quarter non-zero
    with_neg = int(np.count_nonzero((t < 0).any(axis=0)))  # outputs with a -1 weight: one subtract each
    assert cells.get("$sub", 0) == with_neg
    assert cells.get("$add", 0) + cells.get("$sub", 0) == np.count_nonzero(t)
    assert set(cells) <= {"$add", "$sub"}  # shifts by constants are wiring


@needs_yosys
def test_all_zero_layer_synthesises_to_no_logic() -> None:
    from toolchain.rtl.cost import cost

    core = dot_core("fc", Geometry(n_chan=16), FixedType(8, 3, True), np.zeros((16, 2)), np.array([0.5, -1.0]))
    plan = build_plan(core, KERNELS["nk"], {"n_k": (8, 2)})
    c = cost(plan.kernel.rtl_layer(plan, "fc_zero"))
    assert (c.lut, c.carry4, c.ff, c.dsp, c.bram) == (0, 0, 0, 0, 0)


# ---------------------------------------------------------------------------------------------- lint

@needs_verilator
def test_units_are_lint_clean() -> None:
    from toolchain.rtl.lint import lint

    codes = _random_codes(8, 2, 40, seed=3)
    units = [nk_decoder(n, k) for n, k in DECODERS[:7]]
    units += [nk_code_rom(codes, 8, 2), dense_ternary_rom(ternary.decode_nk(codes[None, :], 8, 2, 8).T),
              nk_code_rom(np.zeros(1, np.int64), 1, 0)]
    for case, (n_in, n_out, x_type, nk, bias, zero_out, zero_in) in LAYERS.items():
        plan = _plan(n_in, n_out, x_type, nk, seed=n_in * n_out, bias=bias, zero_out=zero_out, zero_in=zero_in)
        units.append(plan.kernel.rtl_layer(plan, f"fc_{case}"))
    core = dot_core("fc", Geometry(n_chan=10), FixedType(8, 3, True), np.zeros((10, 3)), np.array([0.5, -1, 0]))
    units.append(KERNELS["nk"].rtl_layer(build_plan(core, KERNELS["nk"], {"n_k": (4, 2)}), "fc_zero"))
    units.append(KERNELS["nk"].rtl_layer(_cut_plan(), "fc_cut"))
    findings = {u.name: lint(u) for u in units}
    assert {name: f for name, f in findings.items() if f} == {}


# ---------------------------------------------------------------------------------------------- bad parameters

@pytest.mark.parametrize("n, k, match", [
    (0, 0, r"N=0 out of range: an integer in 1\.\.16"),
    (17, 2, r"N=17 out of range: an integer in 1\.\.16"),
    (8.0, 2, r"N=8\.0 out of range"),
    (True, 0, r"N=True out of range"),
    (8, -1, r"k=-1 out of range for N=8: an integer in 0\.\.8"),
    (8, 9, r"k=9 out of range for N=8: an integer in 0\.\.8"),
    (16, 5, r"k=5 out of range for N=16: an integer in 0\.\.4 \(a larger k has over 65536 patterns\)"),
    (4, "2", r"k='2' out of range"),
])
def test_bad_nk_raise(n, k, match: str) -> None:
    with pytest.raises(ArithValueError, match=match):
        nk_decoder(n, k)
    with pytest.raises(ArithValueError, match=match):
        nk_code_rom(np.zeros(4, np.int64), n, k)


def test_bad_storage_parameters_raise() -> None:
    with pytest.raises(ArithValueError, match=r"code 129 out of range: the \(8,2\) codebook has indices 0\.\.128"):
        nk_code_rom(np.array([0, 129]), 8, 2)
    with pytest.raises(ArithValueError, match=r"code -1 out of range"):
        nk_code_rom(np.array([-1, 3]), 8, 2)
    with pytest.raises(ArithValueError, match=r"1-D integer array"):
        nk_code_rom(np.zeros((2, 2), np.int64), 8, 2)
    with pytest.raises(ArithValueError, match=r"1\.\.65536"):
        nk_code_rom(np.zeros(0, np.int64), 8, 2)
    with pytest.raises(ArithValueError, match=r"in \{-1, 0, 1\}"):
        dense_ternary_rom(np.array([[0, 2]]))
    with pytest.raises(ArithValueError, match=r"N=17 weights per word out of range: 1\.\.16"):
        dense_ternary_rom(np.zeros((2, 17), np.int64))
    with pytest.raises(ArithValueError, match="not a Verilog identifier"):
        nk_decoder(8, 2, name="2bad")


def test_bad_layer_parameters_raise() -> None:
    codes = np.zeros((2, 3), np.int64)
    good = {"codes": codes, "n": 8, "k": 2, "n_in": 12, "x_width": 8, "x_signed": True, "acc_width": 12,
            "shifts": [0, 1, 2], "bias": [0, -5, 7], "name": "fc"}
    assert nk_dense_layer(**good).params["terms"] == 0
    for change, match in [({"n_in": 0}, r"n_in=0 out of range: an integer in 1\.\.4096"),
                          ({"x_width": 0}, r"x_width=0 out of range: an integer in 1\.\.64"),
                          ({"acc_width": 65}, r"acc_width=65 out of range: an integer in 1\.\.64"),
                          ({"n_in": 20}, r"integer \(3, n_out\) array for n_in=20, N=8"),
                          ({"shifts": [0, -1, 2]}, r"shifts must be 3 integers in 0\.\.255"),
                          ({"bias": [0, 2048, 0]}, r"bias must be 3 integers in -2048\.\.2047 \(acc_width=12\)"),
                          ({"codes": np.full((2, 3), 200)}, r"indices 0\.\.128"),
                          ({"k": 9}, r"k=9 out of range for N=8"),
                          ({"name": "fc out"}, "not a Verilog identifier")]:
        with pytest.raises(ArithValueError, match=match):
            nk_dense_layer(**(good | change))


def test_generated_text_is_parameterised() -> None:
    plan = _plan(*LAYERS["s8_nk82"][:4], seed=120)
    text = plan.kernel.rtl_layer(plan, "fc_text").verilog
    assert "module fc_text" in text and "parameter N_IN       = 20" in text and "g_sign" in text
    assert not re.search(r"\{\{[A-Z]", text)  # every placeholder filled
