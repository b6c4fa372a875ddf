"""Generated ESSOP update hardware: Icarus simulation against toolchain.arith.essop, bit for bit; lint; parameters."""
from __future__ import annotations

import numpy as np
import pytest

from tests.rtl_tools import needs_iverilog, needs_verilator, needs_yosys
from toolchain.arith.essop import DEFAULT_TAPS_D, LFSR, MAXIMAL_TAPS, essop_update, pow2_scale, quantize_magnitude
from toolchain.errors import ArithValueError
from toolchain.rtl.cost import cost
from toolchain.rtl.essop import SECOND_TAPS, essop_array, essop_lfsr, essop_scaler, exact_outer_product
from toolchain.rtl.lint import lint
from toolchain.rtl.sim import simulate_ports

pytestmark = pytest.mark.xdist_group("rtl")



# --------------------------------------------------------------------------- LFSR

@needs_iverilog
@pytest.mark.parametrize("width, seed, taps, leap", [
    (16, 0xACE1, None, None),           # the reference's x register
    (16, 0x1D0F, DEFAULT_TAPS_D, None),  # the reference's delta register
    (16, 0xACE1, None, 1),              # one shift per number: LFSR.sequence()
    (8, 0xE1, None, None),
    (8, 0x01, SECOND_TAPS[8], 3),
    (3, 0x5, None, 7),
    (32, 0xDEADBEEF, None, None),
])
def test_lfsr_equals_reference(width: int, seed: int, taps: tuple[int, ...] | None, leap: int | None) -> None:
    unit = essop_lfsr(width, seed, taps, leap)
    rng = np.random.default_rng(width * 1000 + seed % 997)
    advance = rng.random(700) < 0.7
    advance[:5] = [False, True, True, False, True]
    out = simulate_ports(unit, {"advance": advance})["state"]
    ref = LFSR(width, seed, taps, leap).numbers(int(advance.sum()) + 1).astype(np.int64)
    assert np.array_equal(out, ref[np.cumsum(advance)])


def test_second_taps_are_maximal() -> None:
    for width, taps in SECOND_TAPS.items():
        reg = LFSR(width, 1, taps, leap=1)
        states = reg.sequence((1 << width))
        assert states[-1] == 1 and np.count_nonzero(states == 1) == 2, f"taps {taps} not maximal at width {width}"


# --------------------------------------------------------------------------- ESSOP array / cell

def _update_vectors(rng: np.random.Generator, n_in: int, n_out: int, width: int, count: int) -> list:
    """Random (x, delta) pairs, about a third of them extremes: zeros, all-zero vectors, codes 0, 1 and 2**width."""
    near_one = 1.0 - 2.0 ** -(width + 3)  # rounds to q = 2**width (a stream of all ones)
    smallest = 2.0 ** -(width + 1)        # rounds (half up) to q = 1: P(bit) = 0, the LFSR is never 0
    pairs = []
    for k in range(count):
        kind = k % 6
        x = rng.random(n_in) * rng.choice([1.0, 1e-3, 37.0])
        delta = rng.normal(size=n_out) * rng.choice([1.0, 1e-4, 5.0])
        if kind == 1:
            x[rng.random(n_in) < 0.4] = 0.0
            delta[rng.random(n_out) < 0.4] = 0.0
        elif kind == 2:
            x = rng.choice([0.0, smallest, near_one, 0.5, smallest / 2], size=n_in)
            x[0] = near_one
            delta = rng.choice([-near_one, near_one, -smallest, 0.0, 0.75], size=n_out)
            delta[-1] = near_one if k % 12 == 2 else -near_one  # both signs, also in a one-cell array
        elif kind == 3:
            x[:] = 0.0
        elif kind == 4:
            delta[:] = 0.0
        pairs.append((x, delta))
    return pairs


def _run_array(n_in: int, n_out: int, bl: int, width: int, updates: int, seed: int, *, taps_d=None, leap=None,
               seed_x=None, seed_d=None) -> np.ndarray:
    """Simulate ``updates`` back-to-back updates (with busy-time junk on the inputs and ignored starts) and check
    every count against essop_update with persistent LFSRs; returns the reference counts for coverage checks."""
    unit = essop_array(n_in, n_out, bl, width, seed_x=seed_x, seed_d=seed_d, taps_d=taps_d, leap=leap)
    p = unit.params
    lfsr_x = LFSR(width, p["seed_x"], p["taps_x"], p["leap"])
    lfsr_d = LFSR(width, p["seed_d"], p["taps_d"], p["leap"])
    rng = np.random.default_rng(seed)
    qmax = 1 << width
    start, qx, qd, neg, done_at, ref = [], [], [], [], [], []
    for k, (x, delta) in enumerate(_update_vectors(rng, n_in, n_out, width, updates)):
        r = essop_update(x, delta, bl, lfsr_x, lfsr_d)
        ref.append(r.counts)
        for _ in range(k % 3 == 2):  # an idle clock now and then
            start.append(0), qx.append(rng.integers(0, qmax + 1, n_in)), qd.append(rng.integers(0, qmax + 1, n_out))
            neg.append(rng.integers(0, 2, n_out))
        start.append(1), qx.append(r.qx), qd.append(r.qd), neg.append((delta < 0).astype(np.int64))
        for _ in range(bl):  # the time steps: junk inputs and starts must be ignored while busy
            start.append(int(rng.random() < 0.3)), qx.append(rng.integers(0, qmax + 1, n_in))
            qd.append(rng.integers(0, qmax + 1, n_out)), neg.append(rng.integers(0, 2, n_out))
        done_at.append(len(start) - 1)
    out = simulate_ports(unit, {"start": np.array(start), "qx": np.array(qx), "qd": np.array(qd),
                                "neg": np.array(neg)})
    assert np.flatnonzero(out["done"]).tolist() == done_at
    counts = out["count"].reshape(-1, n_out, n_in)[done_at]
    ref_counts = np.array(ref)
    bad = np.argwhere(counts != ref_counts)
    first = bad[0][0] if bad.size else None
    assert first is None, f"update {first}: RTL {counts[first].tolist()} != ref {ref_counts[first].tolist()}"
    return ref_counts


@needs_iverilog
def test_array_8bit_bl16_equals_reference() -> None:
    ref = _run_array(3, 2, 16, 8, 150, seed=1)
    # the extremes were reached: full streams (+-BL), empty ones, and in-between values
    assert ref.max() == 16 and ref.min() == -16 and (ref == 0).any() and (np.abs(ref) % 16 != 0).any()


@needs_iverilog
def test_single_cell_8bit_bl64_equals_reference() -> None:
    ref = _run_array(1, 1, 64, 8, 60, seed=2)
    assert ref.max() == 64 and ref.min() == -64 and (ref == 0).any()


@needs_iverilog
def test_array_reference_defaults_equals_reference() -> None:
    # width 16, the reference's default seeds and polynomials, BL 64: essop_update(x, delta) as the model runs it
    ref = _run_array(4, 3, 64, 16, 24, seed=3)
    assert ref.max() == 64 and ref.min() == -64


@needs_iverilog
def test_array_small_odd_parameters_equal_reference() -> None:
    _run_array(2, 1, 2, 3, 60, seed=4, taps_d=(3, 1), leap=1, seed_x=1, seed_d=6)


@needs_iverilog
def test_default_cell_is_the_reference_default() -> None:
    unit = essop_array()
    assert unit.params["seed_x"] == 0xACE1 and unit.params["seed_d"] == 0x1D0F
    assert unit.params["taps_x"] == MAXIMAL_TAPS[16] and unit.params["taps_d"] == DEFAULT_TAPS_D
    assert unit.params["leap"] == 16 and unit.params["cycles_per_update"] == 65


# --------------------------------------------------------------------------- front end: scaling to codes

@needs_iverilog
@pytest.mark.parametrize("n, code_width, signed, width", [
    (4, 8, False, 16),  # x codes, the reference's 16-bit magnitude codes (left shifts only)
    (3, 8, True, 8),    # delta codes, 8-bit magnitude codes
    (5, 16, True, 8),   # wider codes than magnitude codes: right shifts with round half up
    (2, 12, False, 4),
])
def test_scaler_equals_reference(n: int, code_width: int, signed: bool, width: int) -> None:
    rng = np.random.default_rng(code_width * 10 + width)
    lo, hi = (-(1 << (code_width - 1)), 1 << (code_width - 1)) if signed else (0, 1 << code_width)
    count = 1500
    codes = rng.integers(lo, hi, (count, n))
    shrink = rng.integers(0, code_width, count)  # vectors of every magnitude, down to single bits
    codes = np.where(codes < 0, -((-codes) >> shrink[:, None]), codes >> shrink[:, None])
    codes[0], codes[1], codes[2] = 0, hi - 1, lo  # all zero, all maximal, all minimal
    codes[3] = [lo] + [1] * (n - 1)               # the minimum next to the smallest codes
    codes[4] = [hi - 1] + [0] * (n - 1)
    codes[5] = [1] * n
    out = simulate_ports(essop_scaler(n, code_width, signed, width), {"code": codes})
    frac = 5  # any binary point: it moves the exponent only
    for k in range(count):
        scaled, exponent = pow2_scale(codes[k] * 2.0 ** -frac)
        q_ref = quantize_magnitude(np.abs(scaled), width)
        assert out["q"][k].tolist() == q_ref.tolist(), f"vector {codes[k].tolist()}"
        assert out["neg"][k].tolist() == (codes[k] < 0).astype(int).tolist()
        if codes[k].any():
            assert exponent == out["lead"][k] + 1 - frac, f"vector {codes[k].tolist()}"


@needs_iverilog
def test_front_end_and_array_give_the_reference_update() -> None:
    """Fixed-point x and delta codes -> two scalers -> the array -> count * 2^exponent equals essop_update(...).dw."""
    n_in, n_out, bl, width, x_frac, d_frac, updates = 3, 2, 16, 8, 4, 6, 40
    rng = np.random.default_rng(6)
    x_codes = rng.integers(0, 256, (updates, n_in)) >> rng.integers(0, 8, (updates, 1))
    d_codes = rng.integers(-128, 128, (updates, n_out)) >> rng.integers(0, 7, (updates, 1))
    x_codes[0], d_codes[1] = 0, 0
    fx = simulate_ports(essop_scaler(n_in, 8, False, width), {"code": x_codes})
    fd = simulate_ports(essop_scaler(n_out, 8, True, width), {"code": d_codes})
    idle = (np.zeros(n_in, np.int64), np.zeros(n_out, np.int64), np.zeros(n_out, np.int64))
    start, qx, qd, neg = [], [], [], []
    for k in range(updates):
        start += [1] + [0] * bl
        qx += [fx["q"][k]] + [idle[0]] * bl
        qd += [fd["q"][k]] + [idle[1]] * bl
        neg += [fd["neg"][k]] + [idle[2]] * bl
    unit = essop_array(n_in, n_out, bl, width)
    out = simulate_ports(unit, {"start": np.array(start), "qx": np.array(qx), "qd": np.array(qd),
                                "neg": np.array(neg)})
    counts = out["count"][out["done"] == 1].reshape(updates, n_out, n_in)
    p = unit.params
    lfsr_x, lfsr_d = LFSR(width, p["seed_x"], p["taps_x"]), LFSR(width, p["seed_d"], p["taps_d"])
    for k in range(updates):
        ref = essop_update(x_codes[k] * 2.0 ** -x_frac, d_codes[k] * 2.0 ** -d_frac, bl, lfsr_x, lfsr_d)
        exponent = (fx["lead"][k] + 1 - x_frac) + (fd["lead"][k] + 1 - d_frac) - 4  # log2 BL = 4
        assert np.array_equal(np.ldexp(counts[k].astype(float), int(exponent)), ref.dw), f"update {k}"


# --------------------------------------------------------------------------- exact baseline

@needs_iverilog
def test_exact_outer_product_equals_numpy() -> None:
    rng = np.random.default_rng(5)
    n_in, n_out, count = 3, 2, 3000
    x = rng.integers(-128, 128, (count, n_in))
    delta = rng.integers(-128, 128, (count, n_out))
    x[:4], delta[:4] = [[-128, 127, 0], [-128, -128, -1], [127, 127, 1], [0, -1, -128]], \
        [[-128, 127], [-128, -1], [127, -128], [0, 1]]
    p = simulate_ports(exact_outer_product(n_in, n_out), {"x": x, "delta": delta})["p"]
    ref = np.einsum("ki,kj->kij", delta, x).reshape(count, -1)
    assert np.array_equal(p, ref)


# --------------------------------------------------------------------------- lint, cost, parameters

@needs_verilator
@pytest.mark.parametrize("make", [
    lambda: essop_lfsr(), lambda: essop_lfsr(8, leap=1), lambda: essop_lfsr(32, 0xDEADBEEF),
    lambda: essop_array(), lambda: essop_array(3, 2, 16, 8), lambda: essop_array(1, 1, 2, 3, taps_d=(3, 1), leap=64),
    lambda: essop_array(5, 7, 4096, 32, taps_d=(32, 22, 2, 1)),
    lambda: exact_outer_product(), lambda: exact_outer_product(4, 3),
    lambda: essop_scaler(4), lambda: essop_scaler(5, 16, True, 8), lambda: essop_scaler(1, 2, False, 3),
    lambda: essop_scaler(2, 32, True, 32),
], ids=["lfsr16", "lfsr8_leap1", "lfsr32", "cell16", "array2x3_w8", "cell_w3_bl2", "array7x5_w32", "exact1x1",
        "exact3x4", "scale4xu8_w16", "scale5xs16_w8", "scale1xu2_w3", "scale2xs32_w32"])
def test_lint_clean(make) -> None:
    unit = make()
    assert lint(unit) == [], unit.name


@needs_yosys
def test_essop_cell_has_no_multiplier_and_fewer_luts_than_exact() -> None:
    one = cost(essop_array(1, 1, 16, 8), dsp=True)
    four = cost(essop_array(4, 4, 16, 8), dsp=True)
    exact = cost(exact_outer_product(), dsp=False)
    print(f"\nyosys xc7: ESSOP 1x1 {one.as_dict()}  ESSOP 4x4 {four.as_dict()}  exact 1x1 -nodsp {exact.as_dict()}")
    assert one.dsp == four.dsp == 0 and one.lut > 0 and one.ff > 0
    # the claim of bench/rtl_essop.py: a whole cell with its own LFSRs and control is smaller than one exact
    # INT8 multiply in fabric, and an extra cell in an array costs far less (shared LFSRs and comparators)
    assert one.lut < exact.lut
    assert (four.lut - one.lut) / 15 < exact.lut / 5


@pytest.mark.parametrize("kwargs, match", [
    ({"bl": 48}, r"bl=48 is not supported: a power of two in 2\.\.4096"),
    ({"bl": 1}, r"bl=1 is not supported"),
    ({"bl": 8192}, r"bl=8192"),
    ({"bl": 64.0}, r"bl=64\.0"),
    ({"width": 2}, r"width=2 out of range: an integer in 3\.\.32"),
    ({"width": 33}, r"width=33 out of range"),
    ({"width": True}, r"width=True"),
    ({"width": 25}, r"taps_x: no maximal polynomial tabulated for width=25"),
    ({"width": 12}, r"taps_d: no maximal polynomial tabulated for width=12"),
    ({"n_in": 0}, r"n_in=0 out of range: an integer in 1\.\.4096"),
    ({"n_in": 64, "n_out": 65}, r"n_out=65 out of range: an integer in 1\.\.64"),
    ({"seed_x": 0}, r"seed_x=0 out of range: an integer in 1\.\.65535"),
    ({"width": 8, "seed_d": 256}, r"seed_d=256 out of range: an integer in 1\.\.255"),
    ({"taps_d": (16, 17)}, r"taps_d=\(16, 17\) out of range: distinct exponents in 1\.\.16 including 16"),
    ({"taps_x": (14, 13)}, r"taps_x=\(14, 13\)"),
    ({"taps_x": 16}, r"taps_x=16"),
    ({"leap": 0}, r"leap=0 out of range: an integer in 1\.\.64"),
    ({"name": "bad name"}, r"not a Verilog identifier"),
])
def test_bad_array_parameters_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ArithValueError, match=match):
        essop_array(**kwargs)


def test_bad_lfsr_and_exact_parameters_raise() -> None:
    with pytest.raises(ArithValueError, match=r"width=40 out of range"):
        essop_lfsr(40)
    with pytest.raises(ArithValueError, match=r"seed=0 out of range: an integer in 1\.\.255"):
        essop_lfsr(8, 0)
    with pytest.raises(ArithValueError, match=r"leap=65 out of range"):
        essop_lfsr(16, leap=65)
    with pytest.raises(ArithValueError, match=r"bits=16 is not supported; valid: 8"):
        exact_outer_product(bits=16)
    with pytest.raises(ArithValueError, match=r"n_out=0 out of range"):
        exact_outer_product(2, 0)
    with pytest.raises(ArithValueError, match=r"code_width=1 out of range: an integer in 2\.\.32"):
        essop_scaler(4, 1)
    with pytest.raises(ArithValueError, match=r"signed=1 must be True"):
        essop_scaler(4, 8, 1)
    with pytest.raises(ArithValueError, match=r"width=2 out of range"):
        essop_scaler(4, 8, True, 2)
    with pytest.raises(ArithValueError, match=r"n=0 out of range"):
        essop_scaler(0)
