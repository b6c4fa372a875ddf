"""Approximate-multiplier Dense/Conv2D layers equal toolchain.arith.approx at every granularity."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")
tf = pytest.importorskip("tensorflow")
tq = pytest.importorskip("toolchain.quant")

from toolchain.arith import approx, fixed  # noqa: E402
from toolchain.errors import ConfigError  # noqa: E402

RNG = np.random.default_rng(3)


def _table_file(tmp_path):
    # a generic (non-ROUP) table: exact product with the two lowest bits truncated
    g = np.arange(-128, 128)
    t = (g[:, None] * g[None, :]) & ~3
    p = tmp_path / "trunc2.npy"
    np.save(p, t)
    return p


def _assignments(kind, n_out, n_in, n_mult):
    if kind == "layer":
        return None
    if kind == "filter":
        return [o % n_mult for o in range(n_out)]
    return [[(o + i) % n_mult for i in range(n_in)] for o in range(n_out)]


@pytest.mark.parametrize("granularity", ["layer", "filter", "kernel"])
def test_approx_dense_equals_reference(granularity, tmp_path):
    specs = ["roup:1:2", "exact", "roup_table:0:3", f"table:{_table_file(tmp_path)}"]
    n_in, n_out = 9, 5
    layer = tq.ApproxDense(n_out, multipliers=specs, assignment=_assignments(granularity, n_out, n_in, len(specs)),
                           input_integer=2, weight_integer=1, use_bias=False)
    x = (RNG.standard_normal((7, n_in)) * 0.8).astype(np.float32)
    y = layer(x).numpy()
    xc = fixed.quantize(x, fixed.FixedType(8, 2, True, "AP_RND", "AP_SAT"))
    wc = fixed.quantize(layer.kernel.numpy(), fixed.FixedType(8, 1, True, "AP_RND", "AP_SAT"))
    mults = [approx.ROUPMultiplier(1, 2), approx.ROUPMultiplier(0, 0), approx.roup_table(0, 3),
             approx.load_table(_table_file(tmp_path))]
    if granularity == "layer":
        asg = mults[0]
    else:
        asg = np.empty((n_out,) if granularity == "filter" else (n_out, n_in), dtype=object)
        idx = np.asarray(_assignments(granularity, n_out, n_in, len(specs)))
        for pos in np.ndindex(idx.shape):
            asg[pos] = mults[idx[pos]]
    ref = approx.approx_matmul(xc, wc, asg)
    assert np.array_equal(layer.reference_codes(x), ref)
    assert np.array_equal(y, (ref * 2.0 ** -(6 + 7)).astype(np.float32))
    # gradient: straight through to the exact product of the quantized operands
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        s = tf.reduce_sum(layer(xv))
    g = tape.gradient(s, xv).numpy()
    wq = fixed.to_float(wc, 7)
    np.testing.assert_allclose(g, np.broadcast_to(wq.sum(axis=1), x.shape), rtol=1e-6)


@pytest.mark.parametrize("granularity", ["layer", "filter", "kernel"])
@pytest.mark.parametrize("padding,strides", [("same", 1), ("valid", 2)])
def test_approx_conv_equals_reference(granularity, padding, strides, tmp_path):
    specs = ["roup:2:1", "roup:0:4", f"table:{_table_file(tmp_path)}"]
    c_in, c_out = 3, 4
    layer = tq.ApproxConv2D(c_out, 3, strides=strides, padding=padding, multipliers=specs,
                            assignment=_assignments(granularity, c_out, c_in, len(specs)), input_integer=1,
                            weight_integer=0, activation="relu")
    x = RNG.random((2, 7, 7, c_in)).astype(np.float32)
    y = layer(x).numpy()
    xc = fixed.quantize(x, fixed.FixedType(8, 1, True, "AP_RND", "AP_SAT"))
    wc = fixed.quantize(layer.kernel.numpy(), fixed.FixedType(8, 0, True, "AP_RND", "AP_SAT"))
    mults = [approx.ROUPMultiplier(2, 1), approx.ROUPMultiplier(0, 4), approx.load_table(_table_file(tmp_path))]
    if granularity == "layer":
        asg = mults[0]
    else:
        idx = np.asarray(_assignments(granularity, c_out, c_in, len(specs)))
        asg = np.empty(idx.shape, dtype=object)
        for pos in np.ndindex(idx.shape):
            asg[pos] = mults[idx[pos]]
    ref = approx.approx_conv2d(xc, wc, asg, (strides, strides), padding)
    assert np.array_equal(layer.reference_codes(x), ref)
    expect = np.maximum((ref * 2.0 ** -(7 + 8)).astype(np.float32) + layer.bias.numpy(), 0)
    assert np.array_equal(y, expect)


def test_roup_closed_form_equals_table_path():
    x = RNG.random((16, 20)).astype(np.float32)
    a = tq.ApproxDense(6, multipliers="roup:1:3")
    b = tq.ApproxDense(6, multipliers="roup_table:1:3")
    a.build((None, 20))
    b.build((None, 20))
    b.set_weights(a.get_weights())
    assert np.array_equal(a(x).numpy(), b(x).numpy())
    assert isinstance(a._mults[0], approx.ROUPMultiplier)  # closed form, no table
    assert isinstance(b._mults[0], approx.TableMultiplier)


def _roup_closed_form(a, b, k, m):
    """docs/arithmetic.md: P = (floor(A / 2**m) + a_{m-1}) 2**m * (floor(B / 4**k) + b_{2k-1}) 4**k
    (bits of two's complement)."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ar = ((a >> m) + ((a >> (m - 1)) & 1 if m else 0)) << m
    br = ((b >> (2 * k)) + ((b >> (2 * k - 1)) & 1 if k else 0)) << (2 * k)
    return ar, br


@pytest.mark.parametrize("k,m", [(1, 2), (2, 0), (0, 3)])
def test_roup_layer_runs_closed_form_without_tables(k, m, monkeypatch):
    """roup:K:M never builds or reads a 256x256 table; its output is the matmul of the rounded operands."""
    x = (RNG.standard_normal((11, 13)) * 0.7).astype(np.float32)
    layer = tq.ApproxDense(4, multipliers=f"roup:{k}:{m}", input_integer=2, weight_integer=1, use_bias=False)
    layer.build((None, 13))

    def no_table(*args, **kwargs):
        raise AssertionError("a table was built for a ROUP multiplier")

    monkeypatch.setattr(approx, "roup_table", no_table)
    monkeypatch.setattr(approx, "exact_table", no_table)
    monkeypatch.setattr(approx.TableMultiplier, "__init__", no_table)
    monkeypatch.setattr(approx, "booth_multiply", no_table)
    y = layer(x).numpy()
    # ap_fixed<8,2,AP_RND,AP_SAT>
    xc = np.clip(np.floor(x.astype(np.float64) * 2 ** 6 + 0.5), -128, 127).astype(np.int64)
    wc = np.clip(np.floor(layer.kernel.numpy().astype(np.float64) * 2 ** 7 + 0.5), -128, 127).astype(np.int64)
    ar, br = _roup_closed_form(xc, wc, k, m)
    ref = ar @ br
    assert np.array_equal(layer.reference_codes(x), ref)
    assert np.array_equal(y, (ref * 2.0 ** -13).astype(np.float32))


def test_approx_save_load_and_to_approx(tmp_path):
    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((6, 6, 1))
    h = tf.keras.layers.Conv2D(4, 3, activation="relu", name="c")(inp)
    h = tf.keras.layers.Flatten()(h)
    out = tf.keras.layers.Dense(3, name="d")(h)
    m = tf.keras.Model(inp, out)
    x = RNG.random((5, 6, 6, 1)).astype(np.float32)
    am = tq.to_approx(m, "roup:1:1", calib_x=x, assignment={"c": [0, 0, 0, 0]})
    assert isinstance(am.get_layer("c"), tq.ApproxConv2D) and isinstance(am.get_layer("d"), tq.ApproxDense)
    exact = tq.to_approx(m, "exact", calib_x=x)
    np.testing.assert_allclose(exact.predict(x, verbose=0), m.predict(x, verbose=0), atol=0.1)
    am.save(tmp_path / "a.h5")
    back = tq.load_model(tmp_path / "a.h5")
    assert np.array_equal(back.predict(x, verbose=0), am.predict(x, verbose=0))


def test_bad_multiplier_spec():
    with pytest.raises(ConfigError, match="roup:9:1"):
        tq.parse_multiplier("roup:9:1")
    with pytest.raises(ConfigError, match="not understood"):
        tq.parse_multiplier("booth")
