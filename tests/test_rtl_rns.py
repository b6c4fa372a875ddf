"""Generated RNS hardware (toolchain.rtl.rns): Icarus simulation against the NumPy reference of
toolchain.arith.rns and RNSKernel.accumulate, verilator lint, bad parameters, and yosys on the zero-term claim.

The oracles are the reference's own functions (to_residue_fold, mod_mul, crt_division_free, mrc_division_free,
RNSKernel.accumulate) and plain ``%`` / the integers themselves, never the generator's code.
"""
from __future__ import annotations

import math
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.rtl_tools import needs_iverilog, needs_verilator, needs_yosys
from toolchain import kernels
from toolchain.arith import rns as ref
from toolchain.arith.fixed import FixedType
from toolchain.errors import ArithValueError, UnsupportedError
from toolchain.kernels.plan import Geometry, build_plan, dot_core
from toolchain.rtl.rns import check_moduli, rns_channel, rns_dense, rns_forward, rns_reverse, signed_residues
from toolchain.rtl.sim import simulate_ports
from toolchain.rtl.verilog import RtlUnit

pytestmark = pytest.mark.xdist_group("rtl")


# one modulus of each kind for n = 2..5, and a wide one of each kind
SMALL_MODULI = (3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33)
WIDE_MODULI = (255, 256, 257, 65535, 65536, 65537)


def _rng(*salt: int) -> np.random.Generator:
    return np.random.default_rng([20261130, *salt])


def _signed_codes(width: int, count: int = 3000) -> np.ndarray:
    """Every code of a narrow width; random codes, the extremes, 0, +-1 and powers of two of a wide one."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if width <= 12:
        return np.arange(lo, hi + 1, dtype=np.int64)
    extremes = [lo, lo + 1, hi, hi - 1, 0, 1, -1] + [s * (1 << k) for k in range(width - 1) for s in (1, -1)]
    return np.unique(np.r_[_rng(width).integers(lo, hi + 1, count), extremes]).astype(np.int64)


# ---------------------------------------------------------------------------------------------- forward


@needs_iverilog
@pytest.mark.parametrize("moduli, width", [((3, 4, 5), 4), ((7, 8, 9), 8), ((15, 16, 17), 1), ((31, 32, 33), 12),
                                           ((255, 256, 257), 3), ((65535, 65536, 65537), 32),
                                           ((2, 3, 5, 7), 9)])
def test_forward_converter_equals_to_residue_fold(moduli: tuple[int, ...], width: int) -> None:
    x = _signed_codes(width)
    r = simulate_ports(rns_forward(moduli, width), {"x": x})["r"]
    for j, m in enumerate(moduli):
        expect = ref.to_residue_fold(x, width, m)
        bad = np.flatnonzero(r[:, j] != expect)
        assert bad.size == 0, f"m={m}, W={width}: x={x[bad[0]]} gives {r[bad[0], j]}, reference {expect[bad[0]]}"
    # on the range the RNS represents, that is to_residues
    big_m = math.prod(moduli)
    inside = np.abs(x) <= (big_m - 1) // 2
    assert np.array_equal(r[inside].T, ref.to_residues(x[inside], moduli))


# ---------------------------------------------------------------------------------------------- channels


@needs_iverilog
@pytest.mark.parametrize("m", SMALL_MODULI)
def test_one_term_channel_exhaustive(m: int) -> None:
    """Every (residue, weight residue) pair: a channel with the m weights 0..m-1, driven one input at a time."""
    weights = np.arange(m)
    term, value = (v.reshape(-1) for v in np.meshgrid(np.arange(m), np.arange(m), indexing="ij"))
    x = np.zeros((m * m, m), dtype=np.int64)
    x[np.arange(m * m), term] = value
    y = simulate_ports(rns_channel(m, weights), {"x": x})["y"]
    assert np.array_equal(y, ref.mod_mul(value, weights[term], m))


@needs_iverilog
@pytest.mark.parametrize("m", SMALL_MODULI + WIDE_MODULI)
def test_channel_dot_product_random(m: int) -> None:
    rng = _rng(m)
    n_in = 12
    weights = rng.integers(0, m, n_in)
    weights[[2, 7]] = 0  # zero residues: no term
    weights[5] = m - 1
    x = rng.integers(0, m, (400, n_in))
    x[0], x[1] = m - 1, 0
    y = simulate_ports(rns_channel(m, weights), {"x": x})["y"]
    acc = np.zeros(400, dtype=np.int64)
    for i in range(n_in):  # the reference's MAC step by step
        acc = ref.mod_mac(acc, x[:, i], np.full(400, weights[i]), m)
    assert np.array_equal(y, acc)
    assert np.array_equal(y, (x.astype(object) @ weights.astype(object)) % m)


# ---------------------------------------------------------------------------------------------- reverse


@needs_iverilog
@pytest.mark.parametrize("method", ["crt", "mrc"])
@pytest.mark.parametrize("moduli", [(3, 4, 5), (7, 8, 9), (2, 3), (63, 64, 65), (31, 32, 33, 127),
                                    (255, 256, 257, 511), (65535, 65536, 65537)])
def test_reverse_converter_equals_reference(moduli: tuple[int, ...], method: str) -> None:
    big_m = math.prod(moduli)
    lo, hi = -(big_m // 2), (big_m - 1) // 2
    extremes = [0, 1, -1, lo, lo + 1, hi, hi - 1, 2, -2]
    values = np.unique(np.r_[_rng(big_m & 0xFFFF).integers(lo, hi + 1, 1500), extremes]).astype(np.int64)
    residues = np.stack([np.mod(values, m) for m in moduli])  # (n_mod, count); to_residues stops at |x| < M/2
    x = simulate_ports(rns_reverse(moduli, method), {"r": residues.T})["x"]
    reference = ref.crt_division_free if method == "crt" else ref.mrc_division_free
    assert np.array_equal(x, reference(residues, moduli))
    assert np.array_equal(x, values)


# ---------------------------------------------------------------------------------------------- layer

LAYER_CASES = [
    # x type, options, n_in, n_out, bias (in units of 2**-7 when pre_shift > 0)
    (FixedType(8, 3, True), {}, 6, 3, "coarse"),
    (FixedType(6, 2, False), {"reverse": "mrc"}, 5, 2, "coarse"),
    (FixedType(8, 3, True), {"moduli": (255, 256, 257)}, 4, 2, "fine"),
    (FixedType(4, 1, True), {"moduli": (7, 8, 9, 5), "reverse": "mrc"}, 8, 3, "fine"),
    (FixedType(5, 5, False), {"base_moduli": (3, 4, 5)}, 7, 2, "large"),
]


def _layer_plan(x_type: FixedType, options: dict, n_in: int, n_out: int, bias_kind: str, seed: int):
    rng = _rng(seed)
    w = rng.integers(-8, 8, (n_in, n_out)) / 4.0
    w[0, 0] = 0.0  # a zero weight: zero in every channel
    w[1, :] = 1.0 / 4.0 * 3 * 5  # residue 0 modulo 3 and 5 (15 = 0 mod 3, 5, 15)
    if bias_kind == "coarse":
        bias = rng.integers(-64, 64, n_out) / 16.0
    elif bias_kind == "fine":  # finer than x * w: the dot product is shifted onto the bias grid (pre_shift > 0)
        bias = rng.integers(-64, 64, n_out) / 128.0
    else:  # a bias far beyond the dot product: the accumulator is wider than the reverse converter's result
        bias = rng.integers(-64, 64, n_out) * 64.0 + 1.0 / 256
    core = dot_core("fc", Geometry(n_chan=n_in), x_type, w, bias)
    return build_plan(core, kernels.get("rns"), options)


@needs_iverilog
@pytest.mark.parametrize("case", range(len(LAYER_CASES)))
def test_rns_dense_layer_equals_accumulate(case: int) -> None:
    x_type, options, n_in, n_out, bias_kind = LAYER_CASES[case]
    plan = _layer_plan(x_type, options, n_in, n_out, bias_kind, case)
    unit = plan.kernel.rtl_layer(plan, f"dense_rns_{case}")
    assert unit.port("x").elements == n_in and unit.port("acc").width == plan.acc_type_width
    rng = _rng(case, 1)
    cols = rng.integers(x_type.min_code, x_type.max_code + 1, (600, n_in))
    cols[0], cols[1] = x_type.min_code, x_type.max_code
    cols[2] = np.where(plan.w_codes[:, 0] >= 0, x_type.max_code, x_type.min_code)  # the extremes of output 0
    cols[3] = np.where(plan.w_codes[:, 0] >= 0, x_type.min_code, x_type.max_code)
    acc = simulate_ports(unit, {"x": cols})["acc"]
    expect = plan.kernel.accumulate(plan, cols) + plan.bias_acc
    bad = np.argwhere(acc != expect)
    assert bad.size == 0, f"{options}: vector {bad[0]} gives {acc[tuple(bad[0])]}, accumulate {expect[tuple(bad[0])]}"
    assert np.array_equal(expect, cols @ plan.w_codes * (1 << plan.pre_shift) + plan.bias_acc)  # exact products


def test_layer_cases_cover_the_datapath_variants() -> None:
    """The cases above reach both reverse converters, unsigned inputs, pre_shift > 0, and an accumulator both
    narrower and wider than the reverse converter's result."""
    plans = [_layer_plan(*c, i) for i, c in enumerate(LAYER_CASES)]
    assert {p.encoding.reverse for p in plans} == {"crt", "mrc"}
    assert any(not p.x_type.signed for p in plans) and any(p.pre_shift > 0 for p in plans)
    vw = [math.prod(p.encoding.moduli).bit_length() + 1 for p in plans]
    assert any(p.acc_type_width < v for p, v in zip(plans, vw)) and any(p.acc_type_width > v for p, v in zip(plans, vw))


def test_small_negative_weights_are_held_negated() -> None:
    """-1 (residue m - 1, all bits set for 2^n - 1) is held as 1 with the input negated; 16 stays as it is."""
    assert signed_residues(31, [30, 1, 0, 16, 29]) == ([1, 1, 0, 16, 2], [1, 0, 0, 0, 1])
    assert signed_residues(32, [31, 24]) == ([1, 8], [1, 1])


# ---------------------------------------------------------------------------------------------- lint


@needs_verilator
def test_units_are_lint_clean() -> None:
    from toolchain.rtl.lint import lint

    units = [rns_forward((15, 16, 17), 8), rns_forward((65535, 65536, 65537), 32),
             rns_channel(31, [0, 3, 30, 1]), rns_channel(32, [5, 0, 31]), rns_channel(33, [32, 0, 1, 17]),
             rns_channel(5, [0]), rns_reverse((7, 8, 9), "crt"), rns_reverse((31, 32, 33, 127), "mrc")]
    for case in (1, 4):
        plan = _layer_plan(*LAYER_CASES[case], case)
        units.append(plan.kernel.rtl_layer(plan, f"dense_lint_{case}"))
    for unit in units:
        assert lint(unit) == [], unit.name


# ---------------------------------------------------------------------------------------------- claims


@needs_yosys
def test_zero_weight_residues_generate_no_hardware() -> None:
    """A channel with zero weight residues added costs exactly what the channel without them costs (yosys), and
    a 2^n - 1 channel's constant products are rotations: a weight of 2^b costs no more than a weight of 1."""
    from toolchain.rtl import cost

    def flat_cost(weights: list[int]):
        unit = rns_channel(31, weights, name="rns_channel_cost")  # one name: the same module names in every run
        return cost(unit, dsp=False)

    with_zeros, without = flat_cost([0, 7, 0, 0, 19, 0]), flat_cost([7, 19])
    assert with_zeros.lut > 0 and (with_zeros.lut, with_zeros.carry4) == (without.lut, without.carry4)
    rotated, plain = flat_cost([4, 19]), flat_cost([1, 19])
    assert (rotated.lut, rotated.carry4) == (plain.lut, plain.carry4)


def _yosys_netlist(unit: RtlUnit) -> RtlUnit:
    """``unit`` as yosys elaborates and synthesises it (generic gates, flattened), with the same ports: what yosys
    costs must be what Icarus simulated (every parameter, constant function and generate branch elaborated the
    same by both tools)."""
    with tempfile.TemporaryDirectory(prefix="arith4ml_rns_net_") as tmp:
        work = Path(tmp)
        source = unit.write(work)
        subprocess.run(["yosys", "-q", "-p", f"read_verilog {source.name}; synth -flatten -top {unit.name}; "
                        "write_verilog -noattr netlist.v"], cwd=work, check=True, capture_output=True, timeout=600)
        return RtlUnit(unit.name, (work / "netlist.v").read_text(), unit.ports, unit.params)


@needs_yosys
@needs_iverilog
def test_yosys_netlists_equal_the_reference() -> None:
    """What yosys costs is what was simulated: the synthesised channels, converters and a layer, against the
    reference."""
    rng = _rng(99)
    for m in (31, 32, 33):
        weights = rng.integers(0, m, 10)
        x = rng.integers(0, m, (300, 10))
        y = simulate_ports(_yosys_netlist(rns_channel(m, weights)), {"x": x})["y"]
        assert np.array_equal(y, (x @ weights) % m), m
    codes = np.arange(-128, 128)
    r = simulate_ports(_yosys_netlist(rns_forward((31, 32, 33), 8)), {"x": codes})["r"]
    assert np.array_equal(r.T, np.stack([ref.to_residue_fold(codes, 8, m) for m in (31, 32, 33)]))
    values = np.r_[rng.integers(-16367, 16368, 300), -16368, 16367, 0, -1]
    residues = np.stack([np.mod(values, m) for m in (31, 32, 33)])
    for method, reference in (("crt", ref.crt_division_free), ("mrc", ref.mrc_division_free)):
        x = simulate_ports(_yosys_netlist(rns_reverse((31, 32, 33), method)), {"r": residues.T})["x"]
        assert np.array_equal(x, reference(residues, (31, 32, 33))), method
    plan = _layer_plan(*LAYER_CASES[1], 1)
    cols = rng.integers(plan.x_type.min_code, plan.x_type.max_code + 1, (300, plan.n_in))
    acc = simulate_ports(_yosys_netlist(plan.kernel.rtl_layer(plan, "dense_net")), {"x": cols})["acc"]
    assert np.array_equal(acc, plan.kernel.accumulate(plan, cols) + plan.bias_acc)


# ---------------------------------------------------------------------------------------------- bad parameters


@pytest.mark.parametrize("call, match", [
    (lambda: rns_channel(6, [1]), r"modulus=6 is not of a supported kind"),
    (lambda: rns_channel(11, [1]), r"modulus=11 is not of a supported kind"),
    (lambda: rns_channel(2**17 + 1, [1]), r"modulus=131073 out of range.*2\.\.65537"),
    (lambda: rns_channel(1, [0]), r"modulus=1 out of range"),
    (lambda: rns_channel(7, [7]), r"weights holds 7: valid residues are 0\.\.6"),
    (lambda: rns_channel(7, []), r"n_in=0 out of range"),
    (lambda: rns_channel(7, [1.5]), r"weights must hold integers"),
    (lambda: rns_forward((7, 8, 9), 0), r"width=0 out of range.*1\.\.32"),
    (lambda: rns_forward((7, 8, 9), 33), r"width=33 out of range"),
    (lambda: rns_forward((7, 8, 9), True), r"width=True"),
    (lambda: rns_forward((6, 9), 8), r"not coprime"),
    (lambda: rns_forward((7, 7), 8), r"duplicate modulus 7"),
    (lambda: rns_forward((7,), 8), r"at least two moduli"),
    (lambda: rns_forward((7, 11), 8), r"modulus=11 is not of a supported kind"),
    (lambda: rns_reverse((7, 8, 9), "div"), r"method='div' is not a reverse conversion: valid are crt, mrc"),
    (lambda: rns_reverse((7, 8, 9), name="bad name"), r"not a Verilog identifier"),
    (lambda: rns_dense(np.zeros((2, 3, 1), int), (7, 8), 8, True, "crt", 0, [0, 0], 12, "d"),
     r"bias_acc has 2 values: valid is one per output \(1\)"),
    (lambda: rns_dense(np.zeros((3, 3, 1), int), (7, 8), 8, True, "crt", 0, [0], 12, "d"),
     r"residues has shape \(3, 3, 1\)"),
    (lambda: rns_dense(np.zeros((2, 3, 1), int), (7, 8), 32, True, "crt", 0, [0], 12, "d"),
     r"x_width=32 out of range.*1\.\.31"),
])
def test_bad_parameters_raise(call, match: str) -> None:
    with pytest.raises(ArithValueError, match=match):
        call()


def test_moduli_beyond_2_62_raise() -> None:
    with pytest.raises(ArithValueError, match=r"valid M is at most 2\*\*62"):
        check_moduli((65535, 65536, 65537, 32767))


def test_layer_with_generic_moduli_is_unsupported() -> None:
    core = dot_core("fc", Geometry(n_chan=3), FixedType(4, 0, True), np.array([[1.0], [2.0], [-3.0]]), None)
    plan = build_plan(core, kernels.get("rns"), {"moduli": (7, 11, 13)})
    with pytest.raises(UnsupportedError, match=r"layer fc: .*modulus=11 is not of a supported kind"):
        plan.kernel.rtl_layer(plan, "dense_generic")
