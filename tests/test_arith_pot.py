"""toolchain.arith.pot: PoT decomposition, log-domain quantisation with a zero level, bitshift-accumulate."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolchain.arith import pot
from toolchain.arith.pot import PotCodes
from toolchain.errors import ArithValueError


def _codes(sign, exponent, zero) -> PotCodes:
    return PotCodes(np.asarray(sign, np.int8), np.asarray(exponent, np.int8), np.asarray(zero, bool))


@st.composite
def _pot_weights(draw, shape=None, e_lo=-128, e_hi=127):
    if shape is None:
        shape = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    size = int(np.prod(shape))
    sign = draw(st.lists(st.integers(0, 1), min_size=size, max_size=size))
    exp = draw(st.lists(st.integers(e_lo, e_hi), min_size=size, max_size=size))
    zero = draw(st.lists(st.booleans(), min_size=size, max_size=size))
    zero = np.array(zero, bool).reshape(shape)
    return _codes(np.where(zero, 0, np.reshape(sign, shape)), np.where(zero, 0, np.reshape(exp, shape)), zero)


def _assert_codes_equal(a: PotCodes, b: PotCodes) -> None:
    for name in PotCodes._fields:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


# --------------------------------------------------------------------------- exponent ranges


def test_exponent_range_by_hand():
    assert pot.exponent_range(4) == (-6, 0)  # 2**3 - 1 = 7 levels
    assert pot.exponent_range(4, 3) == (-3, 3)
    assert pot.exponent_range(2) == (0, 0)  # ternary: {-1, 0, +1}
    assert pot.exponent_range(8) == (-126, 0)
    for bad, pattern in [((1,), "n_bits=1"), ((9,), "n_bits=9"), ((4.0,), r"n_bits=4\.0"),
                         ((4, 130), r"\[124, 130\]"), ((8, -3), r"\[-129, -3\]"), ((4, 0.5), "max_exp=0.5")]:
        with pytest.raises(ArithValueError, match=pattern):
            pot.exponent_range(*bad)


def test_qkeras_exponent_range_by_hand():
    # Hand-derived from qkeras 0.9.0 _get_min_max_exponents (and checked once against quantized_po2 itself):
    # bits=4, max_value=None: exponent sign bit -> 2 effective bits -> [-4, 3]
    assert pot.qkeras_exponent_range(4) == (-4, 3)
    # max_value <= 1: no exponent sign bit -> 3 effective bits -> [-8, 7], clipped at log2(1) = 0
    assert pot.qkeras_exponent_range(4, 1.0) == (-8, 0)
    assert pot.qkeras_exponent_range(4, 4) == (-4, 2)
    assert pot.qkeras_exponent_range(6, 0.5) == (-32, -1)
    # our code for quantized_po2(b): same levels except QKeras's lowest, whose code becomes zero
    for b in range(3, 9):
        q_lo, q_hi = pot.qkeras_exponent_range(b)
        assert pot.exponent_range(b, q_hi) == (q_lo + 1, q_hi)


# --------------------------------------------------------------------------- decompose / decode


def test_decompose_by_hand():
    c = pot.decompose([[1.0, -0.25, 0.0], [8.0, -0.0, -(2.0**-7)]])
    np.testing.assert_array_equal(c.sign, [[0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(c.exponent, [[0, -2, 0], [3, 0, -7]])
    np.testing.assert_array_equal(c.zero, [[False, False, True], [False, True, False]])
    assert c.sign.dtype == np.int8 and c.exponent.dtype == np.int8 and c.zero.dtype == bool
    assert pot.terms(c) == 4


@settings(max_examples=150, deadline=None)
@given(_pot_weights())
def test_decode_decompose_round_trip(codes):
    w = pot.decode(codes)
    assert w.dtype == np.float64
    _assert_codes_equal(pot.decompose(w), codes)
    np.testing.assert_array_equal(pot.decode(pot.decompose(w)), w)
    nz = ~codes.zero
    np.testing.assert_array_equal(np.abs(w[nz]), [2.0**int(e) for e in codes.exponent[nz]])


def test_decompose_float32_weights():
    w = np.array([0.5, -2.0**-20, 0.0, 64.0], dtype=np.float32)  # what a trained po2 layer holds
    np.testing.assert_array_equal(pot.decode(pot.decompose(w)), w.astype(np.float64))


@pytest.mark.parametrize("w, pattern", [
    ([0.5, 3.0], r"3\.0 at index \(1,\) is not a power of two"),
    ([[0.25], [-0.3]], r"-0\.3 at index \(1, 0\) is not a power of two"),
    ([2.0**-200], r"exponent -200 outside int8"),
    ([2.0**200], r"exponent 200 outside int8"),
    ([1.0, np.nan], r"nan at index \(1,\)"),
    ([np.inf], r"inf at index \(0,\)"),
])
def test_decompose_rejects(w, pattern):
    with pytest.raises(ArithValueError, match=pattern):
        pot.decompose(w)


# --------------------------------------------------------------------------- quantize


def test_quantize_by_hand():
    # n_bits=4, max_exp=0: levels 2**-6 .. 2**0, zero below 0.5 * 2**-6 = 2**-7
    w = np.array([0.7, 0.75, -0.3, 5.0, 0.02, 2.0**-7, 0.0078, -0.0, 1.0, 2.0**-6 * 0.9])
    c = pot.quantize(w, 4)
    # 0.7 < 2**-0.5 = 0.7071 -> 2**-1; 0.75 -> 2**0; 0.3: 2**-1.5 = 0.354 > 0.3 -> 2**-2; 5 clips to 2**0;
    # 0.02: 2**-5.5 = 0.0221 > 0.02 -> 2**-6; 2**-7 is not below the margin -> 2**-6; 0.0078 < 2**-7 -> 0
    np.testing.assert_array_equal(pot.decode(c), [0.5, 1.0, -0.25, 1.0, 2.0**-6, 2.0**-6, 0.0, 0.0, 1.0, 2.0**-6])
    assert pot.terms(c) == 8
    # margin 1: everything below the smallest level is pruned; margin 0: only exact zeros
    np.testing.assert_array_equal(pot.quantize([2.0**-6 * 0.99, 2.0**-6], 4, zero_margin=1.0).zero, [True, False])
    np.testing.assert_array_equal(pot.quantize([1e-300, 0.0], 4, zero_margin=0).zero, [False, True])


def test_quantize_geometric_midpoint_is_exact():
    s = np.sqrt(0.5)  # the float64 nearest 2**-0.5 lies above it: rounds up
    below = np.nextafter(s, 0.0)  # and the next float down lies below it
    assert Fraction(s) ** 2 > Fraction(1, 2) > Fraction(below) ** 2
    np.testing.assert_array_equal(pot.decode(pot.quantize([s, below, -s * 8, below * 8], 5, 5)),
                                  [1.0, 0.5, -8.0, 4.0])


_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_finite, st.floats(-4.0, 4.0), st.floats(-1e-3, 1e-3)), min_size=1, max_size=30),
       st.integers(2, 7), st.integers(-20, 20), st.one_of(st.none(), st.floats(0.0, 2.0)))
def test_quantize_nearest_in_log_domain(values, n_bits, max_exp, margin):
    e_min, e_max = pot.exponent_range(n_bits, max_exp)
    w = np.array(values, dtype=np.float64)
    c = pot.quantize(w, n_bits, max_exp, zero_margin=margin)
    m = 0.5 if margin is None else margin
    for v, s, e, z in zip(w, c.sign, c.exponent, c.zero):
        a = Fraction(abs(float(v)))  # exact
        if v == 0 or a < Fraction(m) * Fraction(2) ** e_min:
            assert z and s == 0 and e == 0
            continue
        assert not z and s == (v < 0) and e_min <= e <= e_max
        sq = a * a  # nearest in log domain: 2**(e-1/2) < |w| < 2**(e+1/2), or clipped at an end
        lo_ok = e == e_min or sq > Fraction(2) ** (2 * int(e) - 1)
        hi_ok = e == e_max or sq < Fraction(2) ** (2 * int(e) + 1)
        assert lo_ok and hi_ok, (v, e)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-100, 100), min_size=2, max_size=40), st.integers(2, 8), st.integers(-2, 8))
def test_quantize_monotone_idempotent_exact_on_levels(values, n_bits, max_exp):
    w = np.sort(np.abs(np.array(values)))
    c = pot.quantize(w, n_bits, max_exp)
    q = pot.decode(c)
    assert np.all(np.diff(q) >= 0)  # monotone in |w|
    _assert_codes_equal(pot.quantize(q, n_bits, max_exp), c)  # idempotent
    np.testing.assert_array_equal(pot.decode(pot.quantize(-w, n_bits, max_exp)), -q)  # odd symmetry
    e_min, e_max = pot.exponent_range(n_bits, max_exp)
    levels = np.ldexp(1.0, np.arange(e_min, e_max + 1))
    np.testing.assert_array_equal(pot.decode(pot.quantize(levels, n_bits, max_exp)), levels)


@pytest.mark.parametrize("w, pattern", [([0.1, np.nan], r"nan at index \(1,\)"),
                                        ([[np.inf]], r"inf at index \(0, 0\)"),
                                        ([-np.inf], r"-inf")])
def test_quantize_rejects_non_finite(w, pattern):
    with pytest.raises(ArithValueError, match=pattern):
        pot.quantize(w, 4)


def test_quantize_rejects_bad_parameters():
    with pytest.raises(ArithValueError, match="zero_margin=-0.1"):
        pot.quantize([0.5], 4, zero_margin=-0.1)
    with pytest.raises(ArithValueError, match="zero_margin=nan"):
        pot.quantize([0.5], 4, zero_margin=float("nan"))
    with pytest.raises(ArithValueError, match="n_bits=12"):
        pot.quantize([0.5], 12)


# --------------------------------------------------------------------------- bitshift-accumulate


def _integer_weights(codes: PotCodes, e_min: int) -> np.ndarray:
    """Decoded weights scaled by 2**-e_min to exact integers (an ordinary int matmul operand)."""
    w = pot.decode(codes) * 2.0**-e_min
    assert np.all(w == np.round(w))
    return w.astype(np.int64)


@st.composite
def _bac_case(draw):
    n_in, n_out, batch = draw(st.integers(1, 10)), draw(st.integers(1, 6)), draw(st.integers(0, 5))
    e_lo = draw(st.integers(-20, 10))
    codes = draw(_pot_weights((n_in, n_out), e_lo, e_lo + draw(st.integers(0, 24))))
    x = np.array(draw(st.lists(st.integers(-(2**20), 2**20), min_size=batch * n_in, max_size=batch * n_in)),
                 dtype=np.int64).reshape(batch, n_in)
    return x, codes


@settings(max_examples=200, deadline=None)
@given(_bac_case(), st.integers(0, 3))
def test_bac_dot_equals_integer_matmul(case, extra):
    x, codes = case
    acc, e_min = pot.bac_dot(x, codes)
    nz = ~codes.zero
    assert e_min == (int(codes.exponent[nz].min()) if nz.any() else 0)
    assert acc.dtype == np.int64 and acc.shape == (x.shape[0], codes.exponent.shape[1])
    np.testing.assert_array_equal(acc, x @ _integer_weights(codes, e_min))
    # a lower, explicit e_min shifts everything further: same real value
    acc2, e2 = pot.bac_dot(x, codes, e_min - extra)
    assert e2 == e_min - extra
    np.testing.assert_array_equal(acc2, acc << extra)
    # real value: acc * 2**e_min == x @ decoded weights (exact in float64 at these sizes)
    np.testing.assert_array_equal(np.ldexp(acc.astype(np.float64), e_min), x.astype(np.float64) @ pot.decode(codes))


def test_bac_dot_by_hand():
    # W = [[+2, 0], [-0.5, +1]] (exponents 1, -, -1, 0), e_min = -1: shifts [[2, -], [0, 1]]
    codes = pot.decompose([[2.0, 0.0], [-0.5, 1.0]])
    acc, e_min = pot.bac_dot(np.array([[3, 5]]), codes)
    assert e_min == -1
    # col 0: (3 << 2) - (5 << 0) = 7 -> 3.5 ; col 1: 5 << 1 = 10 -> 5
    np.testing.assert_array_equal(acc, [[7, 10]])


class _NoMultiply(np.ndarray):
    """An int array that refuses every multiplication-like ufunc."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc in (np.multiply, np.matmul, np.power, np.true_divide, np.floor_divide, np.ldexp):
            raise AssertionError(f"bac_dot used {ufunc.__name__}")
        args = [np.asarray(i) if isinstance(i, _NoMultiply) else i for i in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(np.asarray(o) if isinstance(o, _NoMultiply) else o for o in kwargs["out"])
        out = getattr(ufunc, method)(*args, **kwargs)
        return out.view(_NoMultiply) if isinstance(out, np.ndarray) else out


def test_bac_dot_uses_no_multiplication():
    rng = np.random.default_rng(0)
    codes = pot.quantize(rng.normal(0, 0.3, (12, 5)), 5)
    x = rng.integers(-128, 128, (4, 12)).astype(np.int64)
    guarded = x.view(_NoMultiply)
    with pytest.raises(AssertionError, match="multiply"):
        guarded * 2  # the guard itself works
    acc, e_min = pot.bac_dot(guarded, codes)
    np.testing.assert_array_equal(np.asarray(acc), x @ _integer_weights(codes, e_min))


def test_zero_weights_generate_no_terms():
    rng = np.random.default_rng(1)
    w = pot.decode(pot.quantize(rng.normal(0, 0.5, (8, 3)), 4))
    w[::2, :] = 0.0
    w[1, 1] = 0.0
    codes = pot.decompose(w)
    assert pot.terms(codes) == np.count_nonzero(w) == 11
    # a pruned weight contributes nothing, whatever sign/exponent it carries
    dirty = codes._replace(sign=np.where(codes.zero, 1, codes.sign).astype(np.int8),
                           exponent=np.where(codes.zero, 5, codes.exponent).astype(np.int8))
    x = rng.integers(-100, 100, (3, 8))
    acc, e_min = pot.bac_dot(x, codes)
    acc_d, e_min_d = pot.bac_dot(x, dirty)
    assert e_min == e_min_d
    np.testing.assert_array_equal(acc, acc_d)
    np.testing.assert_array_equal(acc, x @ _integer_weights(codes, e_min))
    np.testing.assert_array_equal(pot.decode(dirty), w)
    # all-zero weights: no terms, zero accumulator, e_min 0
    empty = pot.decompose(np.zeros((8, 3)))
    assert pot.terms(empty) == 0
    acc0, e0 = pot.bac_dot(x, empty)
    assert e0 == 0 and not acc0.any()


def test_bac_dot_errors():
    codes = pot.decompose([[1.0], [0.25]])
    with pytest.raises(ArithValueError, match=r"e_min=-1 .*smallest weight exponent -2"):
        pot.bac_dot(np.ones((1, 2), np.int64), codes, e_min=-1)
    with pytest.raises(ArithValueError, match=r"float64"):
        pot.bac_dot(np.ones((1, 2)), codes)
    with pytest.raises(ArithValueError, match=r"x \(1, 3\) and W \(2, 1\)"):
        pot.bac_dot(np.ones((1, 3), np.int64), codes)
    with pytest.raises(ArithValueError, match=r"overflows int64"):
        pot.bac_dot(np.full((1, 2), 2**61, np.int64), codes)
    with pytest.raises(ArithValueError, match=r"sign 2 at index \(0,\)"):
        pot.decode(_codes([2], [0], [False]))
    with pytest.raises(ArithValueError, match=r"differ in shape"):
        pot.terms(_codes([0, 0], [0], [False]))
