"""Ternary weights and the structured sparse (N,k) code (toolchain.arith.ternary)."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolchain.arith.ternary import (
    bits_per_weight,
    code_bits,
    codebook,
    decode_nk,
    encode_nk,
    n_patterns,
    nk_dot,
    project_nk,
    ternarize,
    ternary_from_values,
)
from toolchain.errors import ArithValueError

FAST = settings(max_examples=60, deadline=None)


def formula(N: int, k: int) -> int:
    return sum(math.comb(N, i) * 2 ** i for i in range(k + 1))


def reference_codebook(N: int, k: int) -> list[tuple[int, ...]]:
    """The documented order, written independently of the module."""
    rows = []
    for i in range(k + 1):
        for pos in itertools.combinations(range(N), i):
            for signs in range(2 ** i):
                row = [0] * N
                for b in range(i):
                    row[pos[b]] = -1 if signs & (1 << b) else +1
                rows.append(tuple(row))
    return rows


@st.composite
def nk(draw, max_n: int = 10):
    N = draw(st.integers(1, max_n))
    k = draw(st.integers(0, N))
    return N, k


# --------------------------------------------------------------------------- codebook

def test_codebook_size_unique_and_complete_for_many_nk():
    for N in range(1, 11):
        for k in range(0, N + 1):
            cb = codebook(N, k)
            assert cb.dtype == np.int8
            assert cb.shape == (formula(N, k), N) == (n_patterns(N, k), N)
            keys = (cb.astype(np.int64) % 3) @ (3 ** np.arange(N, dtype=np.int64))  # one integer per row
            assert np.unique(keys).size == cb.shape[0], (N, k)  # no duplicate rows
            assert set(np.unique(cb)) <= {-1, 0, 1}
            assert np.count_nonzero(cb, axis=1).max() <= k
            assert not cb[0].any()  # index 0 is the all-zero group
            # unique + at most k non-zeros + formula-many rows => every allowed pattern is present
            n = cb.shape[0]
            assert code_bits(N, k) == (math.ceil(math.log2(n)) if n > 1 else 0)
            assert 2 ** code_bits(N, k) >= n > 2 ** (code_bits(N, k) - 1) or n == 1


def test_codebook_order_matches_documented_rule():
    for N in range(1, 7):
        for k in range(N + 1):
            assert [tuple(r) for r in codebook(N, k).tolist()] == reference_codebook(N, k)
    assert codebook(2, 2).tolist() == [[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1],
                                       [1, 1], [-1, 1], [1, -1], [-1, -1]]
    # a (N,k) codebook is a prefix of the (N,k+1) one
    assert np.array_equal(codebook(8, 3)[:129], codebook(8, 2))


def test_8_2_is_129_patterns_8_bits_1_bit_per_weight():
    assert n_patterns(8, 2) == 129
    assert codebook(8, 2).shape == (129, 8)
    assert code_bits(8, 2) == 8
    assert bits_per_weight(8, 2) == 1.0
    assert code_bits(8, 0) == 0 and n_patterns(8, 0) == 1
    assert n_patterns(4, 1) == 9 and code_bits(4, 1) == 4


def test_codebook_is_cached_and_read_only():
    a = codebook(8, 2)
    assert a is codebook(8, 2)
    with pytest.raises(ValueError):
        a[0, 0] = 1


@pytest.mark.parametrize("N,k,name", [(0, 0, "N=0"), (-3, 0, "N=-3"), (4, -1, "k=-1"), (3, 5, "k=5"),
                                      (2.5, 1, "N=2.5"), (8, 1.0, "k=1.0")])
def test_bad_n_k_raise_naming_them(N, k, name):
    for fn in (lambda: codebook(N, k), lambda: n_patterns(N, k), lambda: code_bits(N, k),
               lambda: encode_nk(np.zeros((4, 1), np.int8), N, k), lambda: project_nk(np.zeros(4), N, k),
               lambda: decode_nk(np.zeros((1, 1), np.uint16), N, k, 4)):
        with pytest.raises(ArithValueError, match=name):
            fn()


def test_codebook_too_large_for_uint16_raises():
    with pytest.raises(ArithValueError, match="65536"):
        codebook(12, 12)


# --------------------------------------------------------------------------- codec

def random_ternary(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    return rng.integers(-1, 2, size=(n_in, n_out)).astype(np.int8)


@FAST
@given(nk(), st.integers(0, 25), st.integers(1, 4), st.integers(0, 2 ** 32 - 1))
def test_encode_decode_round_trip(nk_, n_in, n_out, seed):
    N, k = nk_
    rng = np.random.default_rng(seed)
    t = project_nk(random_ternary(rng, n_in, n_out), N, k)
    idx = encode_nk(t, N, k)
    assert idx.dtype == np.uint16
    assert idx.shape == (-(-n_in // N), n_out)
    assert idx.max(initial=0) < n_patterns(N, k)
    back = decode_nk(idx, N, k, n_in)
    assert back.dtype == np.int8
    assert np.array_equal(back, t)
    # each index points at the group's own pattern
    padded = np.zeros((idx.shape[0] * N, n_out), np.int8)
    padded[:n_in] = t
    for g in range(idx.shape[0]):
        for j in range(n_out):
            assert np.array_equal(codebook(N, k)[idx[g, j]], padded[g * N:(g + 1) * N, j])


def test_encode_every_pattern_gets_its_index():
    cb = codebook(8, 2)
    t = cb.T.reshape(8, 129)  # column j is pattern j, one group per column
    assert np.array_equal(encode_nk(t, 8, 2)[0], np.arange(129))


@FAST
@given(nk(), st.integers(0, 25), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2 ** 32 - 1))
def test_nk_dot_equals_matmul(nk_, n_in, n_out, batch, seed):
    N, k = nk_
    rng = np.random.default_rng(seed)
    t = project_nk(random_ternary(rng, n_in, n_out), N, k)
    idx = encode_nk(t, N, k)
    x = rng.integers(-(2 ** 15), 2 ** 15, size=(batch, n_in)).astype(np.int16)
    want = x.astype(np.int64) @ t.astype(np.int64)
    got = nk_dot(x, idx, N, k, n_in)
    assert got.dtype == np.int64
    assert np.array_equal(got, want)
    assert np.array_equal(nk_dot(x[0], idx, N, k, n_in), want[0])


def test_nk_dot_rejects_float_codes_and_wrong_length():
    idx = encode_nk(np.zeros((8, 2), np.int8))
    with pytest.raises(ArithValueError, match="float64"):
        nk_dot(np.zeros(8), idx, 8, 2, 8)
    with pytest.raises(ArithValueError, match=r"\(7,\)"):
        nk_dot(np.zeros(7, np.int32), idx, 8, 2, 8)


def test_encode_rejects_too_many_nonzeros_naming_group_and_column():
    t = np.zeros((16, 3), np.int8)
    t[[8, 10, 15], 2] = [1, -1, 1]
    with pytest.raises(ArithValueError, match=r"group 1 .*column 2 has 3 non-zeros.*k=2"):
        encode_nk(t, 8, 2)


def test_encode_rejects_non_ternary_value_naming_it():
    t = np.zeros((5, 2), np.int64)
    t[3, 1] = 2
    with pytest.raises(ArithValueError, match=r"value 2 at row 3, column 1"):
        encode_nk(t, 8, 2)
    with pytest.raises(ArithValueError, match=r"0.5"):
        encode_nk(np.full((2, 2), 0.5), 2, 1)
    with pytest.raises(ArithValueError, match=r"2-D"):
        encode_nk(np.zeros(8, np.int8))


def test_decode_rejects_bad_indices_naming_them():
    idx = np.zeros((2, 3), np.uint16)
    idx[1, 2] = 129
    with pytest.raises(ArithValueError, match=r"index 129 at group 1, column 2"):
        decode_nk(idx, 8, 2, 16)
    with pytest.raises(ArithValueError, match=r"-1"):
        decode_nk(np.array([[-1]]), 8, 2, 8)
    with pytest.raises(ArithValueError, match=r"2 groups .*n_in=24 with N=8 needs 3"):
        decode_nk(np.zeros((2, 1), np.uint16), 8, 2, 24)
    with pytest.raises(ArithValueError, match="float"):
        decode_nk(np.zeros((1, 1)), 8, 2, 8)
    # n_in = 6: pattern 13 (+1 at position 6) would set padding row 6
    assert codebook(8, 1)[13].tolist() == [0, 0, 0, 0, 0, 0, 1, 0]
    with pytest.raises(ArithValueError, match=r"index 13 at group 0, column 0 sets padding row 6"):
        decode_nk(np.array([[13]], np.uint16), 8, 1, 6)


# --------------------------------------------------------------------------- projection

def reference_project(w: np.ndarray, N: int, k: int) -> np.ndarray:
    """Straightforward loop: per group and column keep the k largest |w|, lower position wins ties."""
    out = np.zeros_like(w)
    n_in, n_out = w.shape
    for j in range(n_out):
        for g0 in range(0, n_in, N):
            rows = list(range(g0, min(g0 + N, n_in)))
            ranked = sorted(rows, key=lambda r: (-abs(float(w[r, j])), r))
            for r in ranked[:k]:
                out[r, j] = w[r, j]
    return out


@FAST
@given(nk(), st.integers(0, 25), st.integers(1, 4), st.integers(0, 2 ** 32 - 1), st.booleans())
def test_project_nk_keeps_the_largest_magnitudes(nk_, n_in, n_out, seed, ties):
    N, k = nk_
    rng = np.random.default_rng(seed)
    if ties:  # few distinct magnitudes, many ties
        w = rng.integers(-3, 4, size=(n_in, n_out)).astype(np.float32)
    else:
        w = rng.normal(size=(n_in, n_out))
    p = project_nk(w, N, k)
    assert p.dtype == w.dtype and p.shape == w.shape
    assert np.array_equal(p, reference_project(w, N, k))
    assert np.array_equal(project_nk(p, N, k), p)  # idempotent
    padded = np.zeros((-(-n_in // N) * N, n_out))
    padded[:n_in] = p
    assert np.count_nonzero(padded.reshape(-1, N, n_out), axis=1).max(initial=0) <= k


def test_project_nk_on_ternary_and_tie_break():
    t = np.array([[1], [-1], [1], [0], [1]], np.int8)
    assert project_nk(t, 4, 2)[:, 0].tolist() == [1, -1, 0, 0, 1]
    assert project_nk(t, 4, 2).dtype == np.int8
    w = np.array([0.5, -2.0, 2.0, 1.0])
    assert project_nk(w, 4, 1).tolist() == [0, -2.0, 0, 0]  # tie |-2| = |2|: lower position kept
    with pytest.raises(ArithValueError, match="nan"):
        project_nk(np.array([[1.0], [np.nan]]), 2, 1)


def test_project_nk_higher_rank_groups_along_axis0():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(10, 3, 2))
    p = project_nk(w, 4, 1)
    assert np.array_equal(p.reshape(10, 6), reference_project(w.reshape(10, 6), 4, 1))


# --------------------------------------------------------------------------- ternarisation

def is_pow2(a) -> bool:
    m, _ = np.frexp(np.asarray(a, dtype=np.float64))
    return bool(np.all(m == 0.5))


def test_ternarize_threshold_rule_and_pow2_scale():
    rng = np.random.default_rng(0)
    w = rng.normal(scale=0.1, size=(32, 8))
    t, scale = ternarize(w, threshold=0.7)
    assert t.dtype == np.int8 and t.shape == w.shape
    delta = 0.7 * np.mean(np.abs(w))
    assert np.array_equal(t, np.where(np.abs(w) > delta, np.sign(w), 0))
    assert np.ndim(scale) == 0 and is_pow2(scale)
    m = np.abs(w)[t != 0].mean()
    assert abs(np.log2(scale) - np.log2(m)) <= 0.5
    assert scale == 2.0 ** np.round(np.log2(m))


def test_ternarize_per_channel():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(20, 4)) * np.array([1e-3, 0.1, 1.0, 30.0])
    t, scale = ternarize(w, threshold=0.5, per_channel=True)
    assert scale.shape == (4,) and is_pow2(scale)
    for j in range(4):
        col = w[:, j]
        tj = np.where(np.abs(col) > 0.5 * np.abs(col).mean(), np.sign(col), 0)
        assert np.array_equal(t[:, j], tj)
        assert scale[j] == 2.0 ** np.round(np.log2(np.abs(col)[tj != 0].mean()))
    assert (t * scale).shape == w.shape


def test_ternarize_zero_and_errors():
    t, scale = ternarize(np.zeros((3, 2)))
    assert not t.any() and scale == 1.0
    t, scale = ternarize(np.array([[0.0, 1.0], [0.0, -3.0]]), per_channel=True)
    # column 1: delta = 0.7 * 2 keeps only -3; round(log2 3) = 2
    assert scale.tolist() == [1.0, 4.0] and t[:, 0].tolist() == [0, 0] and t[:, 1].tolist() == [0, -1]
    with pytest.raises(ArithValueError, match=r"nan at index \(1, 0\)"):
        ternarize(np.array([[1.0, 2.0], [np.nan, 0.0]]))
    with pytest.raises(ArithValueError, match="threshold=-0.1"):
        ternarize(np.ones(3), threshold=-0.1)


def test_ternary_from_values_round_trip():
    t0 = np.array([[1, 0, -1], [0, -1, 1], [1, 1, 0]], np.int8)
    w = t0 * 0.25
    t, s = ternary_from_values(w)
    assert t.dtype == np.int8 and np.array_equal(t, t0) and s == 0.25
    sc = np.array([0.5, 2.0 ** -7, 8.0])
    t, s = ternary_from_values(t0 * sc, per_channel=True)
    assert np.array_equal(t, t0) and np.array_equal(s, sc)
    assert np.array_equal(t * s, t0 * sc)
    t, s = ternary_from_values(np.zeros((2, 2)), per_channel=True)
    assert not t.any() and s.tolist() == [1.0, 1.0]


def test_ternary_from_values_names_first_offending_value():
    w = np.array([[0.25, 0.0], [-0.25, 0.3], [0.5, 0.0]])
    with pytest.raises(ArithValueError, match=r"weight 0.3 at index \(1, 1\)"):
        ternary_from_values(w)
    with pytest.raises(ArithValueError, match=r"weight 0.3 at index \(0,\).*not a power of two"):
        ternary_from_values(np.array([0.3, -0.3, 0.0]))
    # per channel, column 1 has scale 0.3 (not a power of two); column 0 is fine
    with pytest.raises(ArithValueError, match=r"weight 0.3 at index \(1, 1\)"):
        ternary_from_values(np.array([[0.25, 0.0], [-0.25, 0.3]]), per_channel=True)
    with pytest.raises(ArithValueError, match=r"weight nan at index \(1,\)"):
        ternary_from_values(np.array([0.0, np.nan, 1.0]))
