"""ESSOP stochastic outer product and its LFSR (toolchain.arith.essop)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolchain.arith.essop import (
    DEFAULT_TAPS_D,
    LFSR,
    MAXIMAL_TAPS,
    encode_streams,
    essop_update,
    expected_outer_product,
    outer_product_variance,
    pow2_scale,
    quantize_magnitude,
    stochastic_outer_product,
    stream_probability,
)
from toolchain.errors import ArithValueError

# --------------------------------------------------------------------------- LFSR


def brute_period(lfsr: LFSR) -> int:
    start = lfsr.state
    n = 1
    lfsr.step()
    while lfsr.state != start:
        lfsr.step()
        n += 1
        assert lfsr.state != 0
    return n


@pytest.mark.parametrize("width", [8, 10, 12])
def test_lfsr_period_is_maximal(width):
    lfsr = LFSR(width)
    assert brute_period(lfsr) == 2 ** width - 1 == lfsr.period
    seq = LFSR(width).sequence(2 ** width - 1)
    assert np.unique(seq).size == 2 ** width - 1 and seq.min() == 1 and seq.max() == 2 ** width - 1


def test_default_16_bit_registers_are_maximal():
    assert brute_period(LFSR(16)) == 65535
    assert brute_period(LFSR(16, seed=1, taps=DEFAULT_TAPS_D)) == 65535


def _polymulmod(a: int, b: int, p: int, deg: int) -> int:
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a >> deg & 1:
            a ^= p
    return r


def _x_pow(e: int, p: int, deg: int) -> int:
    result, base = 1, 2  # the polynomial x
    while e:
        if e & 1:
            result = _polymulmod(result, base, p, deg)
        base = _polymulmod(base, base, p, deg)
        e >>= 1
    return result


def _prime_factors(n: int) -> set[int]:
    out, f = set(), 2
    while f * f <= n:
        while n % f == 0:
            out.add(f)
            n //= f
        f += 1
    if n > 1:
        out.add(n)
    return out


@pytest.mark.parametrize("width", sorted(MAXIMAL_TAPS))
def test_tabulated_polynomials_are_primitive(width):
    """x has order 2**w - 1 modulo the feedback polynomial (so the register period is maximal)."""
    taps = MAXIMAL_TAPS[width]
    p = 1 | sum(1 << t for t in taps)
    order = 2 ** width - 1
    assert _x_pow(order, p, width) == 1
    for q in _prime_factors(order):
        assert _x_pow(order // q, p, width) != 1, (width, q)


def test_lfsr_known_sequence_and_determinism():
    lfsr = LFSR()
    assert lfsr.width == 16 and lfsr.seed == 0xACE1 and lfsr.taps == (16, 14, 13, 11)
    assert lfsr.sequence(4).tolist() == [0xACE1, 0x5670, 0xAB38, 0x559C]
    a = LFSR(12, seed=0x123).sequence(500)
    b = LFSR(12, seed=0x123).sequence(500)
    assert a.dtype == np.uint32 and np.array_equal(a, b)
    c = LFSR(12, seed=0x123)
    assert np.array_equal(np.concatenate([c.sequence(200), c.sequence(300)]), a)  # calls continue
    # numbers are states `leap` clocks apart
    assert np.array_equal(LFSR(12, seed=0x123).numbers(30), a[::12][:30])
    assert np.array_equal(LFSR(12, seed=0x123, leap=5).numbers(40), a[::5][:40])


@pytest.mark.parametrize("kwargs,name", [
    (dict(seed=0), "seed=0"), (dict(width=8, seed=256), "seed=256"), (dict(width=2), "width=2"),
    (dict(width=33), "width=33"), (dict(width=25), "width=25"), (dict(taps=(15, 3)), "taps="),
    (dict(leap=0), "leap=0"),
])
def test_lfsr_bad_arguments(kwargs, name):
    with pytest.raises(ArithValueError, match=name):
        LFSR(**kwargs)


# --------------------------------------------------------------------------- scaling and streams

@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(-1e30, 1e30, allow_nan=False), min_size=1, max_size=8))
def test_pow2_scale_range_and_exactness(vals):
    v = np.array(vals)
    scaled, shift = pow2_scale(v)
    assert isinstance(shift, int)
    m = np.abs(scaled).max()
    if np.abs(v).max() == 0:
        assert shift == 0 and m == 0
    else:
        assert 0.5 <= m < 1
        back = np.ldexp(scaled, shift)
        normal = (np.abs(scaled) >= np.finfo(np.float64).tiny) | (v == 0)
        assert np.array_equal(back[normal], v[normal])  # exact ...
        assert np.all(np.abs(back - v) <= 2.0 ** (shift - 1074))  # ... except the documented flush


def test_pow2_scale_examples_and_errors():
    s, e = pow2_scale(np.array([3.0, -1.0, 0.0]))
    assert e == 2 and s.tolist() == [0.75, -0.25, 0.0]
    s, e = pow2_scale(np.array([0.5]))
    assert e == 0 and s.tolist() == [0.5]
    s, e = pow2_scale(np.zeros(4))
    assert e == 0 and not s.any()
    with pytest.raises(ArithValueError, match=r"nan at index \(1,\)"):
        pow2_scale(np.array([1.0, np.nan]))


def test_quantize_magnitude_rounds_half_up_exactly():
    q = quantize_magnitude(np.array([0.0, 1.0, 0.5, 2.0 ** -9, 3 * 2.0 ** -9, 2.0 ** -9 - 2.0 ** -60]), 8)
    assert q.tolist() == [0, 256, 128, 1, 2, 0]  # 0.5 LSB rounds up, just below rounds down
    with pytest.raises(ArithValueError, match=r"1.5 at index 1"):
        quantize_magnitude(np.array([0.0, 1.5]), 8)


def test_encode_streams_is_the_integer_compare():
    rng = np.random.default_rng(5)
    mag = np.concatenate([[0.0, 1.0], rng.random(7)])
    r = LFSR(10, seed=77).numbers(32)
    bits = encode_streams(mag, 32, r, width=10)
    assert bits.shape == (32, 9) and bits.dtype == bool
    q = np.floor(mag * 1024 + 0.5).astype(int)
    for t in range(32):
        for j in range(9):
            assert bits[t, j] == (int(r[t]) < q[j])
    assert not bits[:, 0].any() and bits[:, 1].all()  # 0 -> never, 1.0 -> always (r < 2**w)
    with pytest.raises(ArithValueError, match="BL=24"):
        encode_streams(mag, 24, r[:24], width=10)
    with pytest.raises(ArithValueError, match="1024 at step 3"):
        encode_streams(mag, 4, np.array([1, 2, 3, 1024]), width=10)


def test_stream_probability_over_a_full_period():
    """Over one period every non-zero state appears once: the empirical rate equals the formula."""
    w = 8
    r = LFSR(w).numbers(2 ** w - 1)  # leap 8 is coprime to 255: still a full period
    assert np.unique(r).size == 255
    mag = np.linspace(0, 1, 23)
    bits = encode_streams(mag, 1, r[:1], width=w)  # shape check only
    assert bits.shape == (1, 23)
    q = quantize_magnitude(mag, w)
    rate = (r.astype(np.int64)[:, None] < q[None, :]).mean(axis=0)
    assert np.allclose(rate, stream_probability(q, w), rtol=0, atol=1e-15)


# --------------------------------------------------------------------------- outer product

X = np.array([0.0, 0.3, 1.2, 0.7, 2.5, 0.05])
D = np.array([0.5, -0.02, 0.0, -0.31, 0.11])


def test_bit_exact_determinism_and_counts():
    a = essop_update(X, D, BL=64)
    b = essop_update(X, D, BL=64, lfsr_x=LFSR(16, 0xACE1), lfsr_d=LFSR(16, 0x1D0F, DEFAULT_TAPS_D))
    assert np.array_equal(a.counts, b.counts) and a.exponent == b.exponent
    assert a.counts.dtype == np.int64 and a.counts.shape == (5, 6)
    # counts are popcounts of ANDed streams, with delta's sign
    for i in range(5):
        for j in range(6):
            pop = int(np.sum(a.x_bits[:, j] & a.d_bits[:, i]))
            assert a.counts[i, j] == (-pop if D[i] < 0 else pop)
    # dW is counts times 2**(sx + sd - log2 BL + lr_shift), exactly
    assert a.sx == 2 and a.sd == 0 and a.exponent == 2 + 0 - 6
    dw = stochastic_outer_product(X, D, BL=64)
    assert np.array_equal(dw, a.counts * 2.0 ** a.exponent)
    assert np.array_equal(stochastic_outer_product(X, D, BL=64, lr_shift=-7), dw * 2.0 ** -7)
    assert np.array_equal(stochastic_outer_product(X, D, BL=64, kernel_layout=True), dw.T)
    assert np.array_equal(a.kernel(), dw.T)
    # regression pin of the reference (what the C++ kernel must reproduce)
    assert a.counts.tolist() == GOLDEN_COUNTS
    assert not a.counts[2].any() and not a.counts[:, 0].any()  # delta = 0 row, x = 0 column


# counts of essop_update(X, D, 64) with the default registers, pinned so that the
# reference (and the C++ kernel checked against it) cannot drift silently
GOLDEN_COUNTS = [[0, 1, 6, 2, 16, 0], [0, 0, -1, 0, -1, 0], [0, 0, 0, 0, 0, 0],
                 [0, 0, -5, -1, -12, 0], [0, 0, 3, 0, 6, 0]]


def test_lfsr_objects_are_advanced_and_can_be_split():
    lx, ld = LFSR(16, 0x1234), LFSR(16, 0x4321, DEFAULT_TAPS_D)
    first = essop_update(X, D, 32, lx, ld).counts
    assert lx.state == LFSR(16, 0x1234).step(32 * 16)
    second = essop_update(X, D, 32, lx, ld).counts
    assert not np.array_equal(first, second)
    one = LFSR(16, 0x1234)  # one register split: x draws BL numbers, then delta the next BL
    r = essop_update(X, D, 32, one, one)
    ref = LFSR(16, 0x1234).numbers(64)
    sx, _ = pow2_scale(X)
    assert np.array_equal(r.x_bits, encode_streams(sx, 32, ref[:32]))
    sd, _ = pow2_scale(D)
    assert np.array_equal(r.d_bits, encode_streams(np.abs(sd), 32, ref[32:]))
    assert np.array_equal(essop_update(X, D, 32, 7, 9).counts,
                          essop_update(X, D, 32, LFSR(16, 7), LFSR(16, 9, DEFAULT_TAPS_D)).counts)


def test_expected_outer_product_is_the_exact_product_up_to_quantisation():
    e = expected_outer_product(X, D, BL=64)
    exact = np.outer(D, X)
    assert np.allclose(e, exact, rtol=0, atol=4 * 2.0 ** -16 * np.abs(X).max() * np.abs(D).max() * 4)
    assert np.array_equal(expected_outer_product(X, D, 64, kernel_layout=True), e.T)
    assert np.array_equal(expected_outer_product(X, D, 64, lr_shift=-3), e / 8)


def test_mean_and_variance_over_many_seeds_match_the_binomial_model():
    S, BL = 800, 64
    rng = np.random.default_rng(20240601)
    seeds = rng.integers(1, 2 ** 16, size=(S, 2))
    samples = np.stack([
        stochastic_outer_product(X, D, BL, LFSR(16, int(a)), LFSR(16, int(b), DEFAULT_TAPS_D))
        for a, b in seeds])
    mean, var = samples.mean(axis=0), samples.var(axis=0, ddof=1)
    e = expected_outer_product(X, D, BL)
    v = outer_product_variance(X, D, BL)
    live = v > 0
    se = np.sqrt(v / S)
    # mean: within 4.5 standard errors of the expectation and of the exact product delta x^T
    assert np.all(np.abs(mean - e)[live] <= 4.5 * se[live])
    assert np.all(np.abs(mean - np.outer(D, X))[live] <= 5 * se[live])
    assert np.array_equal(mean[~live], np.zeros(np.count_nonzero(~live)))
    assert np.all(var[~live] == 0)
    # variance: BL p (1 - p) scaled.  A sample variance has relative s.e.
    # sqrt(2/(S-1) + excess_kurtosis/S), binomial excess kurtosis (1 - 6pq) / (BL pq)
    pq = (v / np.ldexp(1.0, 2 * essop_update(X, D, BL).exponent) / BL)[live]  # p (1 - p)
    rel_se = np.sqrt(2 / (S - 1) + (1 - 6 * pq) / (BL * pq * S))
    ratio = var[live] / v[live]
    assert np.all(np.abs(ratio - 1) <= 4.5 * rel_se), (ratio, rel_se)
    well = pq > 0.01  # entries whose variance is well estimated
    assert abs(ratio[well].mean() - 1) < 0.1


def test_longer_streams_converge():
    BL = 4096
    got = stochastic_outer_product(X, D, BL)
    v = outer_product_variance(X, D, BL)
    assert np.all(np.abs(got - np.outer(D, X)) <= 5 * np.sqrt(v) + 1e-12)


def test_outer_product_errors_name_the_value():
    with pytest.raises(ArithValueError, match="BL=48"):
        stochastic_outer_product(X, D, BL=48)
    with pytest.raises(ArithValueError, match="BL=0"):
        stochastic_outer_product(X, D, BL=0)
    with pytest.raises(ArithValueError, match=r"x contains -0.3 at index 2"):
        stochastic_outer_product(np.array([0.1, 0.0, -0.3]), D)
    with pytest.raises(ArithValueError, match=r"x contains nan at index 1"):
        stochastic_outer_product(np.array([0.1, np.nan]), D)
    with pytest.raises(ArithValueError, match=r"delta contains inf at index 0"):
        stochastic_outer_product(X, np.array([np.inf, 0.0]))
    with pytest.raises(ArithValueError, match="lr_shift=0.5"):
        stochastic_outer_product(X, D, lr_shift=0.5)
    with pytest.raises(ArithValueError, match="1-D"):
        stochastic_outer_product(X.reshape(2, 3), D)
    with pytest.raises(ArithValueError, match="BL=3"):
        expected_outer_product(X, D, BL=3)


def test_all_zero_inputs_give_zero_update():
    assert not stochastic_outer_product(np.zeros(4), D).any()
    assert not stochastic_outer_product(X, np.zeros(3)).any()
