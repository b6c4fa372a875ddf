"""toolchain.arith.approx: Booth bit-level model vs ROUP closed form, table multipliers, approximate layers."""
from __future__ import annotations

import re
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolchain.arith import approx
from toolchain.arith.approx import (
    Assignment,
    Multiplier,
    ROUPMultiplier,
    TableMultiplier,
    approx_conv2d,
    approx_matmul,
    booth_multiply,
    error_metrics,
    exact_table,
    kernel_assignment,
    load_table,
    roup,
    roup_round_a,
    roup_round_b,
    roup_table,
    save_table,
    valid_roup_params,
)
from toolchain.errors import ArithValueError

GRID = np.arange(-128, 128, dtype=np.int64)
A, B = np.meshgrid(GRID, GRID, indexing="ij")  # every signed 8-bit pair, A[i, j] = i - 128, B[i, j] = j - 128
FAST = settings(max_examples=20, deadline=None)


def _pairs(bits: int) -> tuple[np.ndarray, np.ndarray]:
    g = np.arange(-(1 << (bits - 1)), 1 << (bits - 1), dtype=np.int64)
    a, b = np.meshgrid(g, g, indexing="ij")
    return a, b


def _random_table(seed: int) -> TableMultiplier:
    """An arbitrary 'approximate' multiplier: a*b plus noise, with T[0, b] != 0 (so padding matters)."""
    rng = np.random.default_rng(seed)
    return TableMultiplier(A * B + rng.integers(-50, 51, size=A.shape), name=f"noisy{seed}")


# --------------------------------------------------------------------------- Booth vs closed form

def test_booth_exact_without_approximation():
    assert np.array_equal(booth_multiply(A, B), A * B)
    assert booth_multiply(A, B).dtype == np.int64


@pytest.mark.parametrize("bits", [8, 4, 6])
def test_booth_equals_roup_for_every_valid_param_and_pair(bits):
    a, b = _pairs(bits)
    for k, m in valid_roup_params(bits):
        assert np.array_equal(booth_multiply(a, b, k, m, bits=bits), roup(a, b, k, m, bits=bits)), (bits, k, m)


@FAST
@given(bits=st.sampled_from([10, 12, 16]), data=st.data())
def test_booth_equals_roup_wider_operands(bits, data):
    k = data.draw(st.integers(0, bits // 2 - 1))
    m = data.draw(st.integers(0, bits - 1))
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    a = np.array(data.draw(st.lists(st.integers(lo, hi), min_size=1, max_size=50)))
    b = np.array(data.draw(st.lists(st.integers(lo, hi), min_size=len(a), max_size=len(a))))
    assert np.array_equal(booth_multiply(a, b, k, m, bits=bits), roup(a, b, k, m, bits=bits))
    assert np.array_equal(booth_multiply(a, b, bits=bits), a * b)


def test_closed_form_matches_design_formula_literally():
    def bit(v, j):
        return (v >> j) & 1 if j >= 0 else 0

    for k, m in [(1, 3), (2, 0), (3, 7), (0, 5)]:
        for a, b in [(127, 127), (-128, -128), (-1, 1), (85, -86), (0, -7), (-43, 101)]:
            want = ((a // 2 ** m) + bit(a, m - 1)) * 2 ** m * ((b // 4 ** k) + bit(b, 2 * k - 1)) * 4 ** k
            assert int(roup(a, b, k, m)) == want, (a, b, k, m)


def test_valid_roup_params_ranges():
    params = valid_roup_params()
    assert params == [(k, m) for k in range(4) for m in range(8)]
    assert valid_roup_params(4) == [(k, m) for k in range(2) for m in range(4)]


def test_roup_factorises_and_tables_agree():
    for k, m in valid_roup_params():
        mult = ROUPMultiplier(k, m)
        closed = roup(A, B, k, m)
        assert np.array_equal(roup_round_a(A, m) * roup_round_b(B, k), closed)
        assert np.array_equal(mult.round_a(A) * mult.round_b(B), closed)
        assert np.array_equal(mult(A, B), closed)
        assert np.array_equal(mult.table, closed)
        assert np.array_equal(roup_table(k, m).table, closed)
        assert np.array_equal(roup_table(k, m)(A, B), closed)
    assert np.array_equal(exact_table().table, A * B)
    assert np.array_equal(ROUPMultiplier(0, 0).table, A * B)
    assert exact_table().name == "exact" and ROUPMultiplier(2, 1).name == "roup_k2_m1"
    assert ROUPMultiplier(2, 1) == ROUPMultiplier(2, 1) and hash(ROUPMultiplier(2, 1)) == hash(ROUPMultiplier(2, 1))
    # rounded operands stay within the product word: |a'| <= 128, |b'| <= 128
    assert int(roup_round_a(127, 1)) == 128 and int(roup_round_b(127, 1)) == 128


def test_table_indexing_is_a_plus_128_b_plus_128():
    t = np.zeros((256, 256), dtype=np.int64)
    t[3 + 128, -5 + 128] = 777
    mult = TableMultiplier(t, name="probe")
    assert int(mult(3, -5)) == 777 and int(mult(-5, 3)) == 0
    assert not mult.table.flags.writeable


# --------------------------------------------------------------------------- approx_matmul

def _naive_matmul(x, w, mult_of):
    """Reference: y[b, o] = sum_i mult_of(o, i)(x[b, i], w[i, o]), one scalar product at a time."""
    batch, n_in = x.shape
    n_out = w.shape[1]
    y = np.zeros((batch, n_out), dtype=np.int64)
    for b in range(batch):
        for o in range(n_out):
            y[b, o] = sum(int(mult_of(o, i)(x[b, i], w[i, o])) for i in range(n_in))
    return y


shapes = st.tuples(st.integers(1, 5), st.integers(1, 7), st.integers(1, 4))


def _random_operands(seed, x_shape, w_shape):
    """A generator and random 8-bit activation and weight codes of the given shapes."""
    rng = np.random.default_rng(seed)
    return rng, rng.integers(-128, 128, size=x_shape), rng.integers(-128, 128, size=w_shape)


@FAST
@given(shape=shapes, seed=st.integers(0, 2 ** 32 - 1))
def test_matmul_table_path_equals_closed_form_all_granularities(shape, seed):
    batch, n_in, n_out = shape
    rng, x, w = _random_operands(seed, (batch, n_in), (n_in, n_out))
    params = valid_roup_params()
    km = lambda: params[rng.integers(len(params))]  # noqa: E731
    # layer
    k, m = km()
    assert np.array_equal(approx_matmul(x, w, ROUPMultiplier(k, m)), approx_matmul(x, w, roup_table(k, m)))
    assert np.array_equal(approx_matmul(x, w, ROUPMultiplier(0, 0)), x @ w)
    # filter
    filt = [km() for _ in range(n_out)]
    y_roup = approx_matmul(x, w, [ROUPMultiplier(*p) for p in filt])
    assert np.array_equal(y_roup, approx_matmul(x, w, [roup_table(*p) for p in filt]))
    assert np.array_equal(y_roup, _naive_matmul(x, w, lambda o, i: ROUPMultiplier(*filt[o])))
    # kernel
    kern = [[km() for _ in range(n_in)] for _ in range(n_out)]
    y_roup = approx_matmul(x, w, [[ROUPMultiplier(*p) for p in row] for row in kern])
    assert np.array_equal(y_roup, approx_matmul(x, w, [[roup_table(*p) for p in row] for row in kern]))
    assert np.array_equal(y_roup, _naive_matmul(x, w, lambda o, i: ROUPMultiplier(*kern[o][i])))


@FAST
@given(shape=shapes, seed=st.integers(0, 2 ** 32 - 1))
def test_matmul_mixed_roup_and_tables_against_naive(shape, seed):
    batch, n_in, n_out = shape
    rng, x, w = _random_operands(seed, (batch, n_in), (n_in, n_out))
    pool = [ROUPMultiplier(1, 2), ROUPMultiplier(0, 3), _random_table(1), _random_table(2), exact_table()]
    index = rng.integers(len(pool), size=(n_out, n_in))
    y = approx_matmul(x, w, Assignment(tuple(pool), index))
    assert np.array_equal(y, _naive_matmul(x, w, lambda o, i: pool[index[o, i]]))
    filt = rng.integers(len(pool), size=n_out)
    y = approx_matmul(x, w, Assignment(tuple(pool), filt))
    assert np.array_equal(y, _naive_matmul(x, w, lambda o, i: pool[filt[o]]))


def test_matmul_gather_chunking(monkeypatch):
    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, size=(37, 9))
    w = rng.integers(-128, 128, size=(9, 5))
    table = _random_table(3)
    whole = approx_matmul(x, w, table)
    monkeypatch.setattr(approx, "_GATHER_CHUNK", 9 * 5 * 4)  # 4 rows per chunk, last chunk ragged
    assert np.array_equal(approx_matmul(x, w, table), whole)
    assert np.array_equal(whole, _naive_matmul(x, w, lambda o, i: table))


def test_matmul_accepts_integral_floats_and_empty_batch():
    x = np.array([[1.0, -2.0]])
    w = np.array([[3], [4]], dtype=np.int8)
    assert approx_matmul(x, w, exact_table()).tolist() == [[-5]]
    assert approx_matmul(np.zeros((0, 2), dtype=int), w, ROUPMultiplier(1, 1)).shape == (0, 1)


def test_int_matmul_exact_beyond_float53():
    a = np.array([[2 ** 40, 3]], dtype=np.int64)
    b = np.array([[2 ** 20 + 1], [1]], dtype=np.int64)
    assert int(approx._int_matmul(a, b)[0, 0]) == 2 ** 40 * (2 ** 20 + 1) + 3


def test_kernel_assignment_dedupes_and_expands():
    r, t = ROUPMultiplier(1, 1), exact_table()
    asg = kernel_assignment([r, ROUPMultiplier(1, 1), t], 3, 2)
    assert len(asg.multipliers) == 2 and asg.index.tolist() == [[0, 0], [0, 0], [1, 1]]
    assert kernel_assignment(r, 2, 3).index.shape == (2, 3)


# --------------------------------------------------------------------------- approx_conv2d

def _naive_conv(x, w, mult_of, strides, padding):
    """Direct convolution, one scalar product at a time; padding inserts activation 0 (multiplied too)."""
    batch, h, wd, c_in = x.shape
    kh, kw, _, c_out = w.shape
    sh, sw = strides
    if padding == "same":
        oh, ow = -(-h // sh), -(-wd // sw)
        ph, pw = max((oh - 1) * sh + kh - h, 0), max((ow - 1) * sw + kw - wd, 0)
        top, left = ph // 2, pw // 2
    else:
        oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
        top = left = 0
    y = np.zeros((batch, oh, ow, c_out), dtype=np.int64)
    for n in range(batch):
        for r in range(oh):
            for c in range(ow):
                for o in range(c_out):
                    acc = 0
                    for p in range(kh):
                        for q in range(kw):
                            rr, cc = r * sh + p - top, c * sw + q - left
                            for i in range(c_in):
                                a = x[n, rr, cc, i] if 0 <= rr < h and 0 <= cc < wd else 0
                                acc += int(mult_of(o, i)(a, w[p, q, i, o]))
                    y[n, r, c, o] = acc
    return y


conv_cases = st.tuples(
    st.integers(1, 2),  # batch
    st.integers(3, 6), st.integers(3, 6),  # H, W
    st.integers(1, 3), st.integers(1, 3),  # C_in, C_out
    st.integers(1, 3), st.integers(1, 3),  # kh, kw
    st.tuples(st.integers(1, 2), st.integers(1, 2)),  # strides
    st.sampled_from(["valid", "same"]),
)


@settings(max_examples=15, deadline=None)
@given(case=conv_cases, seed=st.integers(0, 2 ** 32 - 1))
def test_conv2d_exact_equals_naive_convolution(case, seed):
    batch, h, wd, c_in, c_out, kh, kw, strides, padding = case
    _, x, w = _random_operands(seed, (batch, h, wd, c_in), (kh, kw, c_in, c_out))
    want = _naive_conv(x, w, lambda o, i: exact_table(), strides, padding)
    assert np.array_equal(approx_conv2d(x, w, exact_table(), strides, padding), want)
    assert np.array_equal(approx_conv2d(x, w, ROUPMultiplier(0, 0), strides, padding), want)
    noisy = _random_table(seed % 5)  # T[0, b] != 0: the padded zeros go through the multiplier too
    assert np.array_equal(approx_conv2d(x, w, noisy, strides, padding),
                          _naive_conv(x, w, lambda o, i: noisy, strides, padding))


@settings(max_examples=15, deadline=None)
@given(case=conv_cases, seed=st.integers(0, 2 ** 32 - 1))
def test_conv2d_table_path_equals_closed_form_all_granularities(case, seed):
    batch, h, wd, c_in, c_out, kh, kw, strides, padding = case
    rng, x, w = _random_operands(seed, (batch, h, wd, c_in), (kh, kw, c_in, c_out))
    params = valid_roup_params()
    km = lambda: params[rng.integers(len(params))]  # noqa: E731
    layer = km()
    filt = [km() for _ in range(c_out)]
    kern = [[km() for _ in range(c_in)] for _ in range(c_out)]
    for as_roup, as_table, mult_of in [
        (ROUPMultiplier(*layer), roup_table(*layer), lambda o, i: ROUPMultiplier(*layer)),
        ([ROUPMultiplier(*p) for p in filt], [roup_table(*p) for p in filt], lambda o, i: ROUPMultiplier(*filt[o])),
        ([[ROUPMultiplier(*p) for p in row] for row in kern], [[roup_table(*p) for p in row] for row in kern],
         lambda o, i: ROUPMultiplier(*kern[o][i])),
    ]:
        y = approx_conv2d(x, w, as_roup, strides, padding)
        assert np.array_equal(y, approx_conv2d(x, w, as_table, strides, padding))
        assert np.array_equal(y, _naive_conv(x, w, mult_of, strides, padding))


def test_conv2d_output_shapes_follow_keras():
    x = np.zeros((2, 7, 5, 3), dtype=np.int64)
    w = np.zeros((3, 2, 3, 4), dtype=np.int64)
    assert approx_conv2d(x, w, exact_table()).shape == (2, 5, 4, 4)
    assert approx_conv2d(x, w, exact_table(), strides=(2, 2), padding="same").shape == (2, 4, 3, 4)
    assert approx_conv2d(x, w, exact_table(), strides=2).shape == (2, 3, 2, 4)


# --------------------------------------------------------------------------- table files

@pytest.mark.parametrize("suffix", [".npy", ".bin"])
def test_table_save_load_round_trip(tmp_path, suffix):
    for mult in [_random_table(4), exact_table(), ROUPMultiplier(2, 3)]:
        path = save_table(mult, tmp_path / f"mul_{mult.name}{suffix}")
        loaded = load_table(path)
        assert np.array_equal(loaded.table, mult.table) and loaded.name == f"mul_{mult.name}"
        assert not list(tmp_path.glob("*.tmp"))
    save_table(A * B, tmp_path / f"plain{suffix}")
    assert np.array_equal(load_table(tmp_path / f"plain{suffix}").table, A * B)


def test_raw_layout_is_little_endian_int16_row_major_over_a_then_b(tmp_path):
    table = A * 3 - B  # distinct, asymmetric and negative values
    raw = struct.pack("<65536h", *(int(table[a + 128, b + 128]) for a in range(-128, 128) for b in range(-128, 128)))
    path = tmp_path / "evo.bin"
    path.write_bytes(raw)
    assert np.array_equal(load_table(path).table, table)
    save_table(table, tmp_path / "back.raw")
    assert (tmp_path / "back.raw").read_bytes() == raw
    a, b = -7, 100
    offset = 2 * ((a + 128) * 256 + (b + 128))
    assert struct.unpack_from("<h", raw, offset)[0] == a * 3 - b


def test_npy_float_integral_table_accepted(tmp_path):
    np.save(tmp_path / "f.npy", (A * B).astype(np.float64))
    assert load_table(tmp_path / "f.npy").table.dtype == np.int64


# --------------------------------------------------------------------------- errors name the value

def _raises(fn, *needles):
    with pytest.raises(ArithValueError) as info:
        fn()
    for needle in needles:
        assert re.search(re.escape(str(needle)), str(info.value)), (needle, str(info.value))


def test_roup_parameter_errors():
    _raises(lambda: booth_multiply(1, 1, k=4), "k=4", "0..3")
    _raises(lambda: booth_multiply(1, 1, m=8), "m=8", "0..7")
    _raises(lambda: roup(1, 1, -1, 0), "k=-1")
    _raises(lambda: roup(1, 1, 0, 1.5), "m=1.5")
    _raises(lambda: roup(1, 1, True, 0), "k=True")
    _raises(lambda: ROUPMultiplier(9, 0), "k=9")
    _raises(lambda: roup_table(0, 11), "m=11")
    _raises(lambda: valid_roup_params(7), "bits=7")
    _raises(lambda: booth_multiply(1, 1, bits=18), "bits=18")


def test_operand_errors():
    _raises(lambda: booth_multiply(np.array([1, 128]), 3), "128", "(1,)", "-128..127")
    _raises(lambda: roup(-129, 3, 0, 0), "-129")
    _raises(lambda: roup(0.5, 3, 0, 0), "0.5")
    _raises(lambda: roup(np.array([True]), 3, 0, 0), "bool")
    _raises(lambda: roup(np.array(["x"]), 3, 0, 0), "<U1")
    _raises(lambda: exact_table()(300, 1), "300", "'exact'")
    _raises(lambda: approx_matmul([[0, np.nan]], [[1], [1]], exact_table()), "nan", "(0, 1)")


def test_table_errors(tmp_path):
    _raises(lambda: TableMultiplier(np.zeros((256, 255), dtype=int), name="t1"), "'t1'", "(256, 255)")
    _raises(lambda: TableMultiplier(np.zeros((256, 256), dtype=bool), name="t2"), "'t2'", "bool")
    half = np.zeros((256, 256))
    half[5, 6] = 0.5
    _raises(lambda: TableMultiplier(half, name="t3"), "'t3'", "[5, 6]", "0.5", "a=-123", "b=-122")
    _raises(lambda: TableMultiplier(np.full((256, 256), np.inf), name="t4"), "inf")
    _raises(lambda: load_table(tmp_path / "missing.bin"), "missing.bin")
    (tmp_path / "short.bin").write_bytes(b"\0" * 1000)
    _raises(lambda: load_table(tmp_path / "short.bin"), "short.bin", "1000 bytes", "131072")
    np.save(tmp_path / "shape.npy", np.zeros((16, 16), dtype=np.int16))
    _raises(lambda: load_table(tmp_path / "shape.npy"), "shape.npy", "(16, 16)")
    np.save(tmp_path / "bools.npy", np.zeros((256, 256), dtype=bool))
    _raises(lambda: load_table(tmp_path / "bools.npy"), "bools.npy", "bool")
    (tmp_path / "junk.npy").write_bytes(b"not an array at all")
    _raises(lambda: load_table(tmp_path / "junk.npy"), "junk.npy")
    big = A * B
    big[0, 0] = 40000
    _raises(lambda: save_table(big, tmp_path / "big.bin"), "big.bin", "40000", "[0, 0]")
    assert not (tmp_path / "big.bin").exists()
    _raises(lambda: save_table(big, tmp_path / "nodir" / "t.npy"), "nodir")


def test_layer_errors():
    x = np.zeros((2, 3), dtype=int)
    w = np.zeros((3, 4), dtype=int)
    r = ROUPMultiplier(1, 1)
    _raises(lambda: approx_matmul(x, np.zeros((2, 4), dtype=int), r), "(2, 3)", "(2, 4)")
    _raises(lambda: approx_matmul(x[0], w, r), "(3,)")
    _raises(lambda: approx_matmul(x, w[0], r), "(4,)")
    _raises(lambda: approx_matmul(x, w, [r, r]), "(2,)", "(4,)")
    _raises(lambda: approx_matmul(x, w, [[r] * 2] * 4), "(4, 2)", "(4, 3)")
    _raises(lambda: approx_matmul(x, w, [r, r, "exact", r]), "'exact'", "(2,)")
    _raises(lambda: approx_matmul(x, w, 3), "3")
    _raises(lambda: approx_matmul(x, w, Assignment((r,), np.array([0, 1, 0, 0]))), "1", "0..0")
    x4 = np.zeros((1, 4, 4, 2), dtype=int)
    w4 = np.zeros((3, 3, 2, 5), dtype=int)
    _raises(lambda: approx_conv2d(x4[0], w4, r), "(4, 4, 2)")
    _raises(lambda: approx_conv2d(x4, w4[0], r), "(3, 2, 5)")
    _raises(lambda: approx_conv2d(x4, np.zeros((3, 3, 3, 5), dtype=int), r), "(1, 4, 4, 2)", "(3, 3, 3, 5)")
    _raises(lambda: approx_conv2d(x4, w4, r, padding="full"), "'full'")
    _raises(lambda: approx_conv2d(x4, w4, r, strides=(0, 1)), "(0, 1)")
    _raises(lambda: approx_conv2d(x4, np.zeros((5, 1, 2, 5), dtype=int), r), "5x1", "4x4")
    _raises(lambda: approx_conv2d(x4, w4, [r] * 4), "(4,)", "(5,)")
    _raises(lambda: error_metrics("exact"), "'exact'")


# --------------------------------------------------------------------------- error metrics

def test_error_metrics_exact_is_zero():
    for mult in [exact_table(), ROUPMultiplier(0, 0)]:
        metrics = error_metrics(mult)
        assert set(metrics) >= {"mae", "wce", "mred", "ep"}
        assert all(v == 0 for v in metrics.values()), metrics


def test_error_metrics_definitions():
    # errs by +1 exactly where the exact product is 0: invisible to MRED by definition, visible elsewhere
    zeros = int(np.count_nonzero(A * B == 0))
    assert zeros == 511
    metrics = error_metrics(TableMultiplier(A * B + (A * B == 0), name="zero_off"))
    assert metrics["mred"] == 0 and metrics["wce"] == 1
    assert metrics["ep"] == metrics["mae"] == metrics["bias"] == zeros / 65536
    rng = np.random.default_rng(0)
    noise = rng.integers(-3, 4, size=A.shape)
    metrics = error_metrics(TableMultiplier(A * B + noise))
    nz = A * B != 0
    assert metrics["mae"] == pytest.approx(np.abs(noise).mean())
    assert metrics["mred"] == pytest.approx((np.abs(noise)[nz] / np.abs(A * B)[nz]).mean())
    assert metrics["ep"] == pytest.approx(np.count_nonzero(noise) / 65536)


@pytest.mark.parametrize("m", range(8))
def test_roup_error_grows_with_perforation(m):
    rows = [error_metrics(ROUPMultiplier(k, m)) for k in range(4)]
    for key in ("mae", "wce", "mred", "ep"):
        values = [r[key] for r in rows]
        assert all(lo <= hi for lo, hi in zip(values, values[1:])), (key, values)
        assert values[-1] > values[0], (key, values)
    assert all(isinstance(v, float) for v in rows[1].values())


def test_table_and_closed_form_metrics_agree():
    for k, m in [(1, 0), (2, 2), (3, 5)]:
        assert error_metrics(ROUPMultiplier(k, m)) == error_metrics(roup_table(k, m))


def test_custom_multiplier_subclass_works_through_table():
    class Truncating(Multiplier):
        name = "trunc"

        def __call__(self, a, b):
            return (np.asarray(a, dtype=np.int64) * np.asarray(b, dtype=np.int64)) >> 4 << 4

    x = np.array([[3, -7, 100]])
    w = np.array([[5], [9], [-11]])
    want = sum((int(x[0, i]) * int(w[i, 0])) >> 4 << 4 for i in range(3))
    assert approx_matmul(x, w, Truncating()).tolist() == [[want]]
    assert error_metrics(Truncating())["wce"] == 15
