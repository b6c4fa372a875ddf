"""toolchain.arith.rns: residue conversions, modular dot products, residue sparsity, moduli selection."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolchain.arith import rns
from toolchain.errors import ArithValueError

SMALL_SETS = [(3, 4, 5), (7, 8, 9), (2, 3, 5, 7), (5, 7), (15, 16, 17)]
# Large individual moduli exercise the overflow-safe add-and-double modular product.
BIG_SETS = [(3, 2**59 - 1), (2**61 - 1, 2), (2, 2**61 - 1), (2**31 - 1, 2**31 + 1)] + \
    [rns.moduli_family(n) for n in (8, 12, 16, 20)]


def _bounds(moduli) -> tuple[int, int]:
    m = math.prod(moduli)
    return -((m - 1) // 2), (m - 1) // 2  # |x| < M/2


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("moduli", SMALL_SETS, ids=str)
def test_round_trip_whole_signed_range(moduli):
    lo, hi = _bounds(moduli)
    x = np.arange(lo, hi + 1, dtype=np.int64)
    res = rns.to_residues(x, moduli)
    assert res.shape == (len(moduli), x.size) and res.dtype == np.int64
    for j, m in enumerate(moduli):
        assert res[j].min() >= 0 and res[j].max() < m
    np.testing.assert_array_equal(rns.from_residues_crt(res, moduli), x)
    np.testing.assert_array_equal(rns.from_residues_mrc(res, moduli), x)


@pytest.mark.parametrize("moduli", SMALL_SETS, ids=str)
def test_reverse_is_a_bijection_onto_signed_range(moduli):
    """Every residue tuple decodes, CRT == MRC, and the values cover [-(M//2), (M-1)//2] once each."""
    m = math.prod(moduli)
    res = np.array(list(itertools.product(*[range(mj) for mj in moduli])), dtype=np.int64).T
    crt = rns.from_residues_crt(res, moduli)
    np.testing.assert_array_equal(crt, rns.from_residues_mrc(res, moduli))
    np.testing.assert_array_equal(np.sort(crt), np.arange(-(m // 2), (m - 1) // 2 + 1))
    for j, mj in enumerate(moduli):  # and each decoded value has the residues it came from
        np.testing.assert_array_equal(np.mod(crt, mj), res[j])


def test_residues_by_hand():
    # -1 -> (6, 7, 8); 10 -> (3, 2, 1); -252 is not < 504/2 but -251 is: 504-251 = 253 -> (1, 5, 1)
    np.testing.assert_array_equal(rns.to_residues([-1, 10, -251], (7, 8, 9)), [[6, 3, 1], [7, 2, 5], [8, 1, 1]])
    np.testing.assert_array_equal(rns.from_residues_crt([[6], [7], [8]], (7, 8, 9)), [-1])
    # (0, 0, 5): X = 56k with 2k = 5 (mod 9) -> k = 7, X = 392 >= 252 -> 392 - 504 = -112
    np.testing.assert_array_equal(rns.from_residues_mrc([[0], [0], [5]], (7, 8, 9)), [-112])
    np.testing.assert_array_equal(rns.from_residues_crt([[0], [0], [4]], (7, 8, 9)), [112])  # k = 2
    assert rns.to_residues(np.zeros((2, 3), dtype=np.int32), (3, 4, 5)).shape == (3, 2, 3)


@st.composite
def _set_and_values(draw):
    moduli = draw(st.sampled_from(BIG_SETS))
    lo, hi = _bounds(moduli)
    edge = st.sampled_from([lo, hi, 0, -1, 1, lo + 1, hi - 1])
    vals = draw(st.lists(st.one_of(st.integers(lo, hi), edge), min_size=1, max_size=40))
    return moduli, np.array(vals, dtype=np.int64)


@settings(max_examples=150, deadline=None)
@given(_set_and_values())
def test_round_trip_large_moduli(data):
    moduli, x = data
    res = rns.to_residues(x, moduli)
    crt = rns.from_residues_crt(res, moduli)
    np.testing.assert_array_equal(crt, x)
    np.testing.assert_array_equal(rns.from_residues_mrc(res, moduli), crt)


@settings(max_examples=60, deadline=None)
@given(st.integers(8, 20), st.data())
def test_round_trip_family(n, data):
    moduli = rns.moduli_family(n)
    lo, hi = _bounds(moduli)
    x = np.array(data.draw(st.lists(st.integers(lo, hi), min_size=1, max_size=30)), dtype=np.int64)
    res = rns.to_residues(x.reshape(-1, 1), moduli)
    assert res.shape == (3, x.size, 1)
    np.testing.assert_array_equal(rns.from_residues_crt(res, moduli)[:, 0], x)
    np.testing.assert_array_equal(rns.from_residues_mrc(res, moduli)[:, 0], x)


# --------------------------------------------------------------------------- modular dot


def _int_matmul_case(draw, max_n=8):
    batch = draw(st.integers(1, 5))
    n_in = draw(st.integers(1, 12))
    n_out = draw(st.integers(1, 6))
    x = np.array(draw(st.lists(st.integers(-128, 127), min_size=batch * n_in, max_size=batch * n_in)),
                 dtype=np.int64).reshape(batch, n_in)
    # weights rich in multiples of the moduli so that residue-level zeros really occur
    w_elem = st.one_of(st.integers(-60, 60), st.sampled_from([0, 7, -8, 9, 56, -63, 72, 15, 16, 17, -255]))
    w = np.array(draw(st.lists(w_elem, min_size=n_in * n_out, max_size=n_in * n_out)),
                 dtype=np.int64).reshape(n_in, n_out)
    return x, w


@st.composite
def _matmul_case(draw):
    x, w = _int_matmul_case(draw)
    return x, w, draw(st.sampled_from([(7, 8, 9), (3, 4, 5), (15, 16, 17), (5, 7, 9, 8)]))


@settings(max_examples=150, deadline=None)
@given(_matmul_case())
def test_modular_dot_equals_integer_matmul(case):
    x, w, moduli = case
    y_true = x @ w
    big_m = math.prod(moduli)
    # residues by definition (operands may exceed M/2: the layer arithmetic is modular anyway)
    xr, wr = (np.stack([np.mod(v, m) for m in moduli]) for v in (x, w))
    y_res, terms = rns.modular_dot(xr, wr, moduli, skip_zeros=True)
    y_dense, terms_dense = rns.modular_dot(xr, wr, moduli, skip_zeros=False)
    np.testing.assert_array_equal(y_res, y_dense)  # zero-skipping changes nothing
    np.testing.assert_array_equal(terms, terms_dense)
    for j, m in enumerate(moduli):
        np.testing.assert_array_equal(y_res[j], np.mod(y_true, m))
        assert terms[j] == np.count_nonzero(np.mod(w, m))
    if np.abs(y_true).max() <= (big_m - 1) // 2:  # in range: reverse conversion gives the matmul
        np.testing.assert_array_equal(rns.from_residues_crt(y_res, moduli), y_true)
        np.testing.assert_array_equal(rns.from_residues_mrc(y_res, moduli), y_true)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_rns_matmul_with_selected_moduli(data):
    x, w = _int_matmul_case(data.draw)
    bound = int((np.abs(w).T @ np.abs(x).max(axis=0)).max())
    moduli = rns.select_moduli(bound)
    reverse = data.draw(st.sampled_from(["crt", "mrc"]))
    np.testing.assert_array_equal(rns.rns_matmul(x, w, moduli, reverse=reverse), x @ w)


def test_rns_matmul_operands_may_exceed_half_range():
    """Only the accumulator must fit: x = 30 with (3, 4, 5) (M/2 = 30) is fine when W is small enough."""
    np.testing.assert_array_equal(rns.rns_matmul([[30, -29]], [[0], [1]], (3, 4, 5)), [[-29]])
    np.testing.assert_array_equal(rns.rns_matmul([[30]], [[0]], (3, 4, 5)), [[0]])


def test_modular_dot_terms_by_hand():
    # W = [[7, 1], [16, 0]] with moduli (7, 8, 9):
    #   mod 7 -> [[0, 1], [2, 0]]: 2 non-zero terms
    #   mod 8 -> [[7, 1], [0, 0]]: 2
    #   mod 9 -> [[7, 1], [7, 0]]: 3
    w = np.array([[7, 1], [16, 0]])
    x = np.array([[3, -2]])
    for skip in (True, False):
        y_res, terms = rns.modular_dot(rns.to_residues(x, (7, 8, 9)), rns.to_residues(w, (7, 8, 9)), (7, 8, 9),
                                       skip_zeros=skip)
        np.testing.assert_array_equal(terms, [2, 2, 3])
        # x @ W = [3*7 - 2*16, 3] = [-11, 3]; residues of -11: (3, 5, 7)
        np.testing.assert_array_equal(y_res[:, 0, :], [[3, 3], [5, 3], [7, 3]])


@pytest.mark.parametrize("moduli", [(2**31 - 1, 2**31 + 1), rns.moduli_family(26), rns.moduli_family(24)], ids=str)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_modular_dot_wide_moduli_no_overflow(moduli, data):
    """Large moduli: int64 path near 2**62 (2**31), float64 path reduced every term (2**26) or every 32 (2**24)."""
    batch, n_in, n_out = 2, data.draw(st.integers(1, 40)), 3
    xr = np.stack([np.array(data.draw(st.lists(st.integers(0, m - 1), min_size=batch * n_in, max_size=batch * n_in)),
                            dtype=np.int64).reshape(batch, n_in) for m in moduli])
    wr = np.stack([np.array(data.draw(st.lists(st.integers(0, m - 1), min_size=n_in * n_out, max_size=n_in * n_out)),
                            dtype=np.int64).reshape(n_in, n_out) for m in moduli])
    y, _ = rns.modular_dot(xr, wr, moduli, skip_zeros=True)
    y2, _ = rns.modular_dot(xr, wr, moduli, skip_zeros=False)
    np.testing.assert_array_equal(y, y2)
    for j, m in enumerate(moduli):  # Python-int reference
        for b, o in itertools.product(range(batch), range(n_out)):
            assert y[j, b, o] == sum(int(xr[j, b, i]) * int(wr[j, i, o]) for i in range(n_in)) % m


def test_modular_dot_all_zero_weights():
    x = rns.to_residues(np.array([[1, 2, 3]]), (3, 4, 5))
    for skip in (True, False):
        y, terms = rns.modular_dot(x, np.zeros((3, 3, 1), dtype=np.int64), (3, 4, 5), skip_zeros=skip)
        np.testing.assert_array_equal(y, np.zeros((3, 1, 1)))
        np.testing.assert_array_equal(terms, [0, 0, 0])


# --------------------------------------------------------------------------- sparsity


def test_residue_sparsity_by_hand():
    w = np.array([[0, 7, 8, 9], [56, 1, -8, 63]])
    # mod 7 zero: 0, 7, 56, 63      -> 4 of 8
    # mod 8 zero: 0, 8, 56, -8      -> 4 of 8
    # mod 9 zero: 0, 9, 63          -> 3 of 8
    # total: 11 of the 24 (weight, modulus) pairs
    s = rns.residue_sparsity(w, (7, 8, 9))
    assert s == {7: 0.5, 8: 0.5, 9: 3 / 8, "total": 11 / 24}


def test_residue_sparsity_zero_weight_counts_in_every_channel():
    s = rns.residue_sparsity(np.zeros(5, dtype=np.int64), (3, 4, 5))
    assert s == {3: 1.0, 4: 1.0, 5: 1.0, "total": 1.0}
    s = rns.residue_sparsity([1, 2, -1], (3, 4, 5))
    assert s["total"] == 0.0


# --------------------------------------------------------------------------- moduli selection


def test_family_and_dynamic_range():
    assert rns.moduli_family(2) == (3, 4, 5)
    assert rns.moduli_family(8) == (255, 256, 257)
    assert rns.dynamic_range((7, 8, 9)) == 504
    assert rns.validate_moduli(np.array([7, 8, 9])) == (7, 8, 9)
    for n in range(2, 40):
        rns.validate_moduli(rns.moduli_family(n))  # always pairwise coprime


def test_select_moduli_by_hand():
    assert rns.select_moduli(0) == (3, 4, 5)
    assert rns.select_moduli(29) == (3, 4, 5)  # M = 60 > 58
    assert rns.select_moduli(30) == (7, 8, 9)  # 60 is not > 60
    assert rns.select_moduli(1000) == (15, 16, 17)  # 504 <= 2000 < 4080
    assert rns.select_moduli(10, n_min=5) == (31, 32, 33)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, (math.prod(rns.moduli_family(20)) - 1) // 2), st.integers(2, 6))
def test_select_moduli_is_smallest(max_abs, n_min):
    moduli = rns.select_moduli(max_abs, n_min)
    n = moduli[1].bit_length() - 1
    assert moduli == rns.moduli_family(n) and n >= n_min
    assert math.prod(moduli) > 2 * max_abs
    rns.check_range(moduli, max_abs)
    if n > n_min:
        smaller = rns.moduli_family(n - 1)
        assert math.prod(smaller) <= 2 * max_abs
        with pytest.raises(ArithValueError, match="missing"):
            rns.check_range(smaller, max_abs)


def test_select_moduli_beyond_supported_range():
    with pytest.raises(ArithValueError, match=r"4611686018427387904.*n=22"):
        rns.select_moduli(2**62)


# --------------------------------------------------------------------------- errors


def test_check_range_message():
    assert rns.check_range((7, 8, 9), 251) == 504
    with pytest.raises(ArithValueError) as e:
        rns.check_range((7, 8, 9), 1000)
    msg = str(e.value)
    # 2*1000+1 = 2001 values need 11 bits; 504*2 = 1008 <= 2000 < 504*4: 2 bits missing
    assert "(7, 8, 9)" in msg and "M=504" in msg and "8.98 bits" in msg and "|X| <= 1000" in msg
    assert "needs 11 bits" in msg and "2 bits missing" in msg
    with pytest.raises(ArithValueError, match="M=504.*1 bit missing"):
        rns.check_range((7, 8, 9), 252)


@pytest.mark.parametrize("moduli, pattern", [
    ((6, 9), r"6 and 9.*not coprime \(gcd 3\)"),
    ((7, 8, 10), r"8 and 10.*gcd 2"),
    ((15, 16, 35), r"15 and 35.*gcd 5"),
    ((1, 5), r"modulus 1 .*> 1"),
    ((0, 5), r"modulus 0 "),
    ((7, -3), r"modulus -3 "),
    ((7.5, 8), r"modulus 7\.5 .*not an integer"),
    ((7, "8"), r"modulus '8' .*not an integer"),
    ((7, 8.0), r"modulus 8\.0 "),
    ((True, 3), r"modulus True "),
    ((7, 7), r"duplicate modulus 7"),
    ((7,), r"\(7,\).*at least two"),
    ((), r"at least two"),
    ("789", r"'789'.*sequence"),
    (8, r"moduli 8 must be a sequence"),
])
def test_bad_moduli(moduli, pattern):
    with pytest.raises(ArithValueError, match=pattern):
        rns.validate_moduli(moduli)
    with pytest.raises(ArithValueError, match=pattern):
        rns.to_residues([1], moduli)


def test_bad_family_and_bounds():
    with pytest.raises(ArithValueError, match="n=1"):
        rns.moduli_family(1)
    with pytest.raises(ArithValueError, match="n=2.5"):
        rns.moduli_family(2.5)
    with pytest.raises(ArithValueError, match="max_abs=-1"):
        rns.select_moduli(-1)
    with pytest.raises(ArithValueError, match="max_abs=3.5"):
        rns.check_range((7, 8, 9), 3.5)


def test_out_of_range_value_names_value_and_bits():
    with pytest.raises(ArithValueError, match=r"value 252 at index \(1,\).*M/2 = 252.*1 bit\(s\) missing"):
        rns.to_residues([0, 252], (7, 8, 9))
    with pytest.raises(ArithValueError, match=r"value -3000 at index \(0, 2\).*4 bit\(s\) missing"):
        rns.to_residues([[1, 2, -3000]], (7, 8, 9))
    with pytest.raises(ArithValueError, match=r"value -30 .*M/2 = 30 "):
        rns.to_residues([-30], (3, 4, 5))
    with pytest.raises(ArithValueError, match=r"value 53 .*M/2 = 52\.5"):
        rns.to_residues([53], (3, 5, 7))


def test_non_integer_data_names_value():
    with pytest.raises(ArithValueError, match=r"3\.5 at index \(1,\)"):
        rns.to_residues([1, 3.5], (7, 8, 9))
    with pytest.raises(ArithValueError, match=r"nan"):
        rns.to_residues([np.nan], (7, 8, 9))
    with pytest.raises(ArithValueError, match=r"'a'"):
        rns.to_residues(np.array(["a"]), (7, 8, 9))
    np.testing.assert_array_equal(rns.to_residues([2.0], (7, 8, 9))[:, 0], [2, 2, 2])  # integral floats are fine


def test_bad_residues_name_value():
    with pytest.raises(ArithValueError, match=r"value 8 at channel 0 \(modulus 7\)"):
        rns.from_residues_crt([[8], [0], [0]], (7, 8, 9))
    with pytest.raises(ArithValueError, match=r"value -1 at channel 2 \(modulus 9\)"):
        rns.from_residues_mrc([[0], [0], [-1]], (7, 8, 9))
    with pytest.raises(ArithValueError, match=r"shape \(2, 1\).*length 3"):
        rns.from_residues_crt([[0], [0]], (7, 8, 9))


def test_dynamic_range_limit():
    too_big = rns.moduli_family(21)
    assert math.prod(too_big) > 2**62
    for f in (lambda: rns.to_residues([0], too_big), lambda: rns.from_residues_crt([[0], [0], [0]], too_big),
              lambda: rns.from_residues_mrc([[0], [0], [0]], too_big)):
        with pytest.raises(ArithValueError, match=r"M=\d+ \(> 2\*\*62\)"):
            f()


def test_modular_dot_errors():
    x = rns.to_residues(np.ones((2, 3), dtype=np.int64), (7, 8, 9))
    with pytest.raises(ArithValueError, match=r"x_res \(3, 2, 3\) and w_res \(3, 4, 1\)"):
        rns.modular_dot(x, rns.to_residues(np.ones((4, 1), dtype=np.int64), (7, 8, 9)), (7, 8, 9))
    w = rns.to_residues(np.ones((3, 1), dtype=np.int64), (7, 8, 9))
    w[1, 0, 0] = 8
    with pytest.raises(ArithValueError, match=r"w residues value 8 at channel 1 \(modulus 8\)"):
        rns.modular_dot(x, w, (7, 8, 9))
    with pytest.raises(ArithValueError, match=r"modulus 4294967296"):
        rns.modular_dot(np.zeros((2, 1, 1), np.int64), np.zeros((2, 1, 1), np.int64), (3, 2**32))


def test_rns_matmul_errors():
    x = np.full((1, 4), 100)
    w = np.full((4, 1), 10)
    with pytest.raises(ArithValueError, match=r"\|X\| <= 4000.*4 bits missing"):  # 504 * 16 = 8064 > 8000
        rns.rns_matmul(x, w, (7, 8, 9))
    with pytest.raises(ArithValueError, match="'lut'"):
        rns.rns_matmul(x, w, (7, 8, 9), reverse="lut")
    with pytest.raises(ArithValueError, match=r"\(1, 4\) and w \(3, 1\)"):
        rns.rns_matmul(x, np.ones((3, 1), dtype=np.int64), (7, 8, 9))


def test_residue_sparsity_errors():
    with pytest.raises(ArithValueError, match="empty"):
        rns.residue_sparsity(np.zeros(0, dtype=np.int64), (7, 8, 9))
    with pytest.raises(ArithValueError, match=r"0\.5"):
        rns.residue_sparsity([1, 0.5], (7, 8, 9))


def test_extend_moduli_keeps_the_base_and_adds_coprime_family_moduli():
    """The base channels stay first; added moduli are 2^n-1, 2^n or 2^n+1, pairwise coprime, and M just covers."""
    for base, max_abs in [((7, 8, 9), 100), ((7, 8, 9), 10_000), ((63, 64, 65), 10**6), ((3, 4), 10**9)]:
        moduli = rns.extend_moduli(base, max_abs)
        assert moduli[:len(base)] == base and rns.validate_moduli(moduli) == moduli
        assert math.prod(moduli) > 2 * max_abs
        assert math.prod(moduli[:-1]) <= 2 * max_abs or moduli == base  # no modulus more than needed
        family = {m for n in range(2, 40) for m in (2**n - 1, 2**n, 2**n + 1)}
        assert set(moduli[len(base):]) <= family
    with pytest.raises(ArithValueError, match="2\\*\\*62"):
        rns.extend_moduli((3, 4), 2**62)
