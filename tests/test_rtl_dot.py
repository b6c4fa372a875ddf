"""Constant-weight dot products in Verilog (toolchain.rtl.dot via Kernel.rtl_layer): Icarus simulation equal bit for
bit to each kernel's own ``accumulate`` + bias, verilator lint, and yosys checks that zero weights generate nothing."""
from __future__ import annotations

import numpy as np
import pytest

from tests.rtl_tools import needs_iverilog, needs_verilator, needs_yosys
from toolchain import kernels
from toolchain.arith.fixed import FixedType
from toolchain.errors import ArithValueError, UnsupportedError
from toolchain.kernels.approx import LayerAssignment, parse_approx
from toolchain.kernels.plan import Geometry, build_plan, dot_core
from toolchain.rtl.cost import cost_many
from toolchain.rtl.dot import mac_dot, pot_dot, roup_dot
from toolchain.rtl.lint import lint
from toolchain.rtl.sim import simulate_ports

pytestmark = pytest.mark.xdist_group("rtl")



def _weights(kind: str, n_in: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    """Float weights with zeros, an all-zero output column (the last) and both extremes of the kind's range."""
    if kind == "pot":
        w = rng.choice([-1.0, 1.0], (n_in, n_out)) * 2.0 ** rng.integers(-4, 2, (n_in, n_out))
        w[0, 0], w[1, 0] = 2.0, -2.0  # the largest magnitudes, both signs
    else:  # 8-bit codes / 32
        w = rng.integers(-128, 128, (n_in, n_out)) / 32.0
        w[0, 0], w[1, 0], w[2, 0] = -4.0, 127 / 32, 1 / 32
    w = np.where(rng.random((n_in, n_out)) < 0.3, 0.0, w)
    w[:, -1] = 0.0
    return w


# (kernel, weights, x type, options): signed and unsigned inputs; approx with one ROUP, a per-filter mix, a
# per-kernel mix, an input wider than 8 bits (rounding) and an input type that saturates the 8-bit activation
CASES = [
    ("shift", "pot", FixedType(8, 3, True), {}),
    ("shift", "pot", FixedType(6, 2, False), {}),
    ("mult", "int", FixedType(8, 3, True), {}),
    ("mult", "int", FixedType(5, 5, False), {}),
    ("approx", "int", FixedType(8, 3, True), {"approx": "roup(2,3)"}),
    ("approx", "int", FixedType(8, 4, False), {"approx": {"multipliers": ["exact", "roup(1,5)", "roup(3,0)"],
                                                          "index": [0, 1, 2, 1]}}),
    ("approx", "int", FixedType(12, 5, True), {"approx": {"multipliers": ["roup(0,2)", "roup(2,7)"],
                                                          "index": "kernel"}}),
    ("approx", "int", FixedType(10, 6, True), {"approx": "roup(1,1)", "approx_input_integer": 3}),
]


def _plan(kernel: str, weights: str, x_type: FixedType, options: dict, seed: int):
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(5, 13)), 4
    opts = dict(options)
    if "approx" in opts:
        spec = opts["approx"]
        if isinstance(spec, dict) and spec.get("index") == "kernel":
            spec = {**spec, "index": rng.integers(0, len(spec["multipliers"]), (n_out, n_in)).tolist()}
        opts["approx"] = parse_approx(spec)
    core = dot_core("fc", Geometry(n_chan=n_in), x_type, _weights(weights, n_in, n_out, rng),
                    rng.integers(-64, 64, n_out) / 8.0)
    return build_plan(core, kernels.get(kernel), opts)


def _inputs(x_type: FixedType, n_in: int, seed: int) -> np.ndarray:
    """Random codes plus the all-min, all-max and alternating extreme vectors."""
    rng = np.random.default_rng(seed)
    lo, hi = x_type.min_code, x_type.max_code
    x = rng.integers(lo, hi + 1, (400, n_in))
    x[0], x[1] = lo, hi
    x[2, ::2], x[2, 1::2] = lo, hi
    x[3, ::2], x[3, 1::2] = hi, lo
    x[4] = 0
    return x


@needs_iverilog
@pytest.mark.parametrize("case", range(len(CASES)), ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_layer_simulates_equal_to_the_kernel(case: int) -> None:
    kernel, weights, x_type, options = CASES[case]
    plan = _plan(kernel, weights, x_type, options, seed=case)
    unit = plan.kernel.rtl_layer(plan, "dut")
    assert unit.port("x").elements == plan.n_in and unit.port("x").signed == x_type.signed
    assert unit.port("acc").width == plan.acc_type_width and unit.port("acc").elements == plan.n_out
    assert unit.params["terms"] == plan.generated_terms  # a zero weight generates no term
    cols = _inputs(x_type, plan.n_in, seed=100 + case)
    out = simulate_ports(unit, {"x": cols})["acc"]
    ref = plan.kernel.accumulate(plan, cols) + plan.bias_acc[None, :]
    bad = np.argwhere(out != ref)
    assert bad.size == 0, f"vector {bad[0][0]} output {bad[0][1]}: RTL {out[tuple(bad[0])]} != {ref[tuple(bad[0])]}"
    assert np.array_equal(out[:, -1], np.broadcast_to(plan.bias_acc[-1], (len(cols),)))  # all-zero column


@needs_iverilog
def test_conv_pixel_with_per_kernel_multipliers() -> None:
    """A 3x1 Conv over 3 channels (n_in 9 in patch order): the per-kernel ROUP index repeats at every tap."""
    rng = np.random.default_rng(21)
    x_type = FixedType(8, 2, True)
    geometry = Geometry(in_height=5, in_width=1, n_chan=3, filt_height=3, out_height=3)
    core = dot_core("conv", geometry, x_type, rng.integers(-128, 128, (3, 1, 3, 2)) / 64.0, np.array([0.5, -1.0]))
    spec = {"multipliers": ["roup(1,3)", "exact", "roup(3,6)"], "index": [[0, 1, 2], [2, 2, 1]]}
    plan = build_plan(core, kernels.get("approx"), {"approx": parse_approx(spec)})
    cols = _inputs(x_type, plan.n_in, seed=22)
    out = simulate_ports(plan.kernel.rtl_layer(plan, "conv_pixel"), {"x": cols})["acc"]
    assert np.array_equal(out, plan.kernel.accumulate(plan, cols) + plan.bias_acc[None, :])


@needs_verilator
@pytest.mark.parametrize("case", [0, 1, 3, 4, 5, 6, 7])
def test_layers_are_lint_clean(case: int) -> None:
    kernel, weights, x_type, options = CASES[case]
    plan = _plan(kernel, weights, x_type, options, seed=case)
    assert lint(plan.kernel.rtl_layer(plan, "dut")) == []


@needs_verilator
def test_degenerate_layers_are_lint_clean() -> None:
    """One input, one output, one term; and a layer whose every weight is zero."""
    assert lint(pot_dot([[3]], [[-1]], [0], 1, True)) == []
    assert lint(mac_dot([[0, 0]], [5, -3], 4, False)) == []
    assert lint(roup_dot([[0]], [[0]], [[0]], [0], 8, True, 0, 0)) == []


def test_one_template_serves_every_kind() -> None:
    """dot_const.v for all three: TERM_KIND picks the term; the tables a kind does not read are 1-bit zeros."""
    units = (pot_dot([[3]], [[-1]], None, 4, True), mac_dot([[5]], None, 4, True),
             roup_dot([[5]], [[1]], [[1]], None, 8, True, 0, 2))
    unread = ({"TERM_WEIGHT", "TERM_M", "TERM_PW"}, {"TERM_SHIFT", "TERM_NEG", "TERM_M", "TERM_PW"}, {"TERM_NEG"})
    for kind, (unit, tables) in enumerate(zip(units, unread)):
        assert f"localparam TERM_KIND = {kind};" in unit.verilog
        for table in ("TERM_SHIFT", "TERM_NEG", "TERM_WEIGHT", "TERM_M", "TERM_PW"):
            placeholder = f"localparam {table:<11} = 1'h0;" in unit.verilog
            assert placeholder == (table in tables), (unit.params["kind"], table)


@needs_iverilog
def test_generators_standalone() -> None:
    """The generators against plain NumPy sums (no plan): PoT, MAC with the widest codes, a single term."""
    rng = np.random.default_rng(5)
    signs, shifts = rng.integers(-1, 2, (6, 3)), rng.integers(0, 6, (6, 3))
    weights = rng.integers(-128, 128, (6, 3))
    weights[0, 0] = -128
    x = rng.integers(-8, 8, (200, 6))
    x[0], x[1] = -8, 7
    bias = np.array([3, -100, 0])
    got = simulate_ports(pot_dot(shifts, signs, bias, 4, True), {"x": x})["acc"]
    assert np.array_equal(got, x @ (signs << shifts) + bias)
    got = simulate_ports(mac_dot(weights, bias, 4, True, acc_width=20), {"x": x})["acc"]
    assert np.array_equal(got, x @ weights + bias)
    one = np.array([[0], [1]])
    assert np.array_equal(simulate_ports(pot_dot([[2]], [[-1]], None, 1, False), {"x": one})["acc"], [0, -4])


@needs_yosys
def test_zero_weights_generate_no_hardware() -> None:
    """yosys: zeroing half the weights of a layer removes LUTs; an all-zero layer is constant outputs (no LUT,
    no carry); for PoT, MAC and ROUP alike."""
    rng = np.random.default_rng(11)
    n_in, n_out = 8, 3
    signs, shifts = rng.choice([-1, 1], (n_in, n_out)), rng.integers(0, 4, (n_in, n_out))
    weights = rng.integers(-128, 128, (n_in, n_out))
    weights[weights == 0] = 1
    half = rng.random((n_in, n_out)) < 0.5
    zeros = np.zeros((n_in, n_out), dtype=np.int64)
    bias = [7, -3, 0]
    units = {
        "pot": (pot_dot(shifts, signs, bias, 8, True), pot_dot(shifts, np.where(half, 0, signs), bias, 8, True),
                pot_dot(shifts, zeros, bias, 8, True)),
        "mac": (mac_dot(weights, bias, 8, True), mac_dot(np.where(half, 0, weights), bias, 8, True),
                mac_dot(zeros, bias, 8, True)),
        "roup": (roup_dot(weights >> 2, zeros + 2, zeros + 1, bias, 8, True, 0, 0),
                 roup_dot(np.where(half, 0, weights >> 2), zeros + 2, zeros + 1, bias, 8, True, 0, 0),
                 roup_dot(zeros, zeros, zeros, bias, 8, True, 0, 0)),
    }
    counts = {k: cost_many(((u, False) for u in us), workers=2) for k, us in units.items()}
    for kind, (full, halved, empty) in counts.items():
        print(f"\n{kind}: full {full.as_dict()}  half zero {halved.as_dict()}  all zero {empty.as_dict()}")
        assert halved.lut < full.lut, kind
        assert empty.lut == 0 and empty.carry4 == 0 and empty.ff == 0 and empty.dsp == 0, kind
        assert full.warnings == halved.warnings == (), kind  # yosys elaborated what Icarus simulated


def test_table_multipliers_have_no_rtl(tmp_path) -> None:
    from toolchain.arith import approx as ax

    table = tmp_path / "t.npy"
    np.save(table, ax.roup_table(1, 1).table)
    assignment = LayerAssignment((ax.load_table(table),))
    core = dot_core("fc", Geometry(n_chan=4), FixedType(8, 3, True), np.full((4, 2), 0.5), None)
    plan = build_plan(core, kernels.get("approx"), {"approx": assignment})
    with pytest.raises(UnsupportedError, match="no RTL generator for table multipliers"):
        plan.kernel.rtl_layer(plan, "dut")


@pytest.mark.parametrize("call, match", [
    (lambda: pot_dot([[1, 2]], [[1, 2]], None, 8, True), r"signs holds 2: out of range, valid -1\.\.1"),
    (lambda: pot_dot([[-1]], [[1]], None, 8, True), r"shifts holds -1: out of range, valid 0\.\.128"),
    (lambda: pot_dot([[1]], [[1]], None, 0, True), r"x_bits=0 out of range: an integer in 1\.\.64"),
    (lambda: pot_dot([[1]], [[1]], None, 8, 1), r"x_signed=1 must be True or False"),
    (lambda: pot_dot([[1]], [[1, 1]], None, 8, True), r"shifts has shape \(1, 1\); expected \(1, 2\)"),
    (lambda: pot_dot([[1]], [[1]], [1, 2], 8, True), r"bias must be 1 integers"),
    (lambda: pot_dot([[4]], [[1]], None, 8, True, acc_width=11), r"acc_width=11 out of range: an integer in 12\.\."),
    (lambda: mac_dot(np.zeros((0, 2), np.int64), None, 8, True), r"weights must be a 2-D integer array"),
    (lambda: mac_dot([[0.5]], None, 8, True), r"weights must be a 2-D integer array"),
    (lambda: mac_dot([[1]], None, 8, True, name="1bad"), r"not a Verilog identifier"),
    (lambda: mac_dot([[1]], None, 8, True, acc_width=251), r"acc_width=251 out of range: an integer in 8\.\.250"),
    (lambda: roup_dot([[1]], [[8]], [[0]], None, 8, True, 0, 0), r"act_shifts holds 8: out of range, valid 0\.\.7"),
    (lambda: roup_dot([[1]], [[0]], [[4]], None, 8, True, 0, 0), r"weight_shifts holds 4: out of range, valid 0\.\.3"),
    (lambda: roup_dot([[999]], [[0]], [[0]], None, 8, True, 0, 0), r"operands holds 999: out of range"),
    (lambda: roup_dot([[1]], [[0]], [[0]], None, 8, True, 99, 0), r"requant_shift=99 out of range.*-64\.\.64"),
    (lambda: roup_dot([[1]], [[0]], [[0]], None, 8, True, 0, -1), r"product_shift=-1 out of range.*0\.\.128"),
])
def test_bad_parameters_raise(call, match: str) -> None:
    with pytest.raises(ArithValueError, match=match):
        call()
