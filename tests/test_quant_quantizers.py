"""Quantizers: exact agreement with toolchain.arith, STE, save/load, hls4ml conversion."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")
tf = pytest.importorskip("tensorflow")
tq = pytest.importorskip("toolchain.quant")
from qkeras import QConv2D, QDense  # noqa: E402

from tests.zoo import convert  # noqa: E402
from toolchain.arith import pot, ternary  # noqa: E402
from toolchain.errors import ConfigError  # noqa: E402

RNG = np.random.default_rng(0)


def _weights(shape, scale=0.3):
    w = (RNG.standard_normal(shape) * scale).astype(np.float32)
    w.flat[:3] = [0.0, 2.0 ** -3, -(2.0 ** -1.5)]  # exact zero, an exact level, a geometric midpoint
    return w


@pytest.mark.parametrize("bits,max_exp,margin", [(4, 0, 0.5), (3, -1, 0.5), (5, 1, 1.3), (8, 0, 0.0)])
def test_pot_equals_reference(bits, max_exp, margin):
    w = _weights((40, 7))
    q = tq.quantized_pot(bits, max_exp, margin)
    got = q(tf.constant(w)).numpy()
    ref = pot.decode(pot.quantize(w.astype(np.float64), bits, max_exp, margin))
    assert np.array_equal(got, ref.astype(np.float32))
    codes = q.codes(w)
    if q.e_max - q.e_min <= 62:
        assert np.array_equal(codes * 2.0 ** q.e_min, ref)
    else:
        assert codes is None and q.code_scale is None
    # inside a compiled function (numpy_function path) too
    f = tf.function(lambda x: q(x))
    assert np.array_equal(f(tf.constant(w)).numpy(), got)


@pytest.mark.parametrize("per_channel", [True, False])
def test_ternary_equals_reference(per_channel):
    w = _weights((24, 5))
    q = tq.pot_ternary(threshold=0.7, per_channel=per_channel)
    t, scale = ternary.ternarize(w.astype(np.float64), 0.7, per_channel)
    assert np.array_equal(q(tf.constant(w)).numpy(), (t * scale).astype(np.float32))
    assert np.array_equal(tf.function(lambda x: q(x))(tf.constant(w)).numpy(), (t * scale).astype(np.float32))


@pytest.mark.parametrize("N,k", [(8, 2), (4, 1)])
def test_nk_ternary_equals_reference_and_constraint(N, k):
    w = _weights((27, 6))  # 27 is not a multiple of N: padded last group
    q = tq.nk_ternary(N, k)
    got = q(tf.constant(w)).numpy()
    t, scale = ternary.ternarize(ternary.project_nk(w.astype(np.float64), N, k), 0.7, True)
    assert np.array_equal(got, (t * scale).astype(np.float32))
    # at most k non-zeros per group along the input axis: the (N,k) encoder accepts it
    idx = ternary.encode_nk(np.sign(got).astype(np.int8), N, k)
    assert np.array_equal(ternary.decode_nk(idx, N, k, w.shape[0]), np.sign(got).astype(np.int8))
    assert q.bits_per_weight == ternary.bits_per_weight(N, k)
    if (N, k) == (8, 2):
        assert q.bits_per_weight == 1.0
    assert np.all(np.isin(np.abs(scale), 2.0 ** np.arange(-30, 5)))


def test_nk_conv_kernel_groups_flattened_patch_axis():
    w = _weights((3, 3, 4, 5))
    got = tq.nk_ternary(8, 2)(tf.constant(w)).numpy()
    flat = np.sign(got.reshape(-1, 5)).astype(np.int8)
    ternary.encode_nk(flat, 8, 2)  # raises if a group has more than 2 non-zeros


@pytest.mark.parametrize("qz", [tq.quantized_pot(4), tq.pot_ternary(), tq.nk_ternary()])
def test_straight_through_gradient(qz):
    w = tf.Variable(_weights((16, 4)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(qz(w) * 3.0)
    g = tape.gradient(loss, w).numpy()
    assert np.array_equal(g, np.full(w.shape, 3.0, np.float32))


def test_bad_parameters():
    with pytest.raises(ConfigError, match="bits"):
        tq.quantized_pot(bits=9)
    with pytest.raises(ConfigError, match="N"):
        tq.nk_ternary(N=0)
    with pytest.raises(ConfigError, match="alpha"):
        tq.pot_ternary(alpha="auto")


def _model(qz, conv=False):
    tf.keras.utils.set_random_seed(1)
    if conv:
        inp = tf.keras.Input((6, 6, 2))
        h = QConv2D(4, 3, kernel_quantizer=qz, name="c")(inp)
        h = tf.keras.layers.Flatten()(h)
        out = QDense(3, kernel_quantizer=qz.__class__.from_config(qz.get_config()), name="d")(h)
    else:
        inp = tf.keras.Input((16,))
        out = QDense(5, kernel_quantizer=qz, name="d")(inp)
    m = tf.keras.Model(inp, out)
    for layer in m.layers:  # bias non-zero so ApplyAlpha's bias move is visible
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(np.linspace(-0.5, 0.5, layer.bias.shape[0]).astype(np.float32))
    return m


QUANTIZERS = {"pot": lambda: tq.quantized_pot(4, 0), "ternary": lambda: tq.pot_ternary(),
              "nk_ternary": lambda: tq.nk_ternary(8, 2)}


@pytest.mark.parametrize("name", list(QUANTIZERS))
def test_save_load_round_trip(name, tmp_path):
    m = _model(QUANTIZERS[name](), conv=True)
    x = RNG.random((5, 6, 6, 2)).astype(np.float32)
    path = tmp_path / "m.h5"
    m.save(path)
    m2 = tq.load_model(path)  # custom_objects=tq.CUSTOM_OBJECTS
    m3 = tf.keras.models.load_model(path)  # registered globally on import
    for mm in (m2, m3):
        quantizers = [model.get_layer("d").kernel_quantizer_internal for model in (mm, m)]
        assert type(quantizers[0]).__name__ == type(quantizers[1]).__name__
        assert np.array_equal(mm.predict(x, verbose=0), m.predict(x, verbose=0))


def test_pot_margin_survives_save(tmp_path):
    m = _model(tq.quantized_pot(4, 0))
    m.get_layer("d").kernel_quantizer_internal.set_zero_margin(3.0)
    m.save(tmp_path / "m.h5")
    m2 = tq.load_model(tmp_path / "m.h5")
    assert m2.get_layer("d").kernel_quantizer_internal.zero_margin == 3.0


def _vivado(m, out_dir):
    """Stock hls4ml: the Vivado backend and its default part, converted only."""
    pytest.importorskip("hls4ml")
    return convert(m, "Vivado", out_dir, compile=False, part=None)


@pytest.mark.parametrize("conv", [False, True])
def test_hls4ml_pot_exact_weights(conv, tmp_path):
    m = _model(tq.quantized_pot(4, 0), conv=conv)
    h = _vivado(m, tmp_path / "hls")
    for lname in (["c", "d"] if conv else ["d"]):
        layer = m.get_layer(lname)
        expected = layer.kernel_quantizer_internal.reference(layer.kernel.numpy())
        node = h.graph[lname]
        w = node.weights["weight"]
        assert np.array_equal(np.asarray(w.data, dtype=np.float64).reshape(expected.shape), expected)
        p = w.type.precision  # ap_fixed<e_max - e_min + 2, e_max + 2>: holds every ±2**e and 0
        assert (p.width, p.integer, p.signed) == (8, 2, True)
        codes = np.asarray(w.data, np.float64) * 2.0 ** p.fractional
        assert np.array_equal(codes, np.round(codes)) and np.abs(codes).max() < 2 ** (p.width - 1)
        assert "ApplyAlpha" not in [n.class_name for n in h.graph.values()]


@pytest.mark.parametrize("name", ["ternary", "nk_ternary"])
def test_hls4ml_ternary_exact_weights_and_alpha(name, tmp_path):
    m = _model(QUANTIZERS[name]())
    h = _vivado(m, tmp_path / "hls")
    layer = m.get_layer("d")
    t, scale = layer.kernel_quantizer_internal.decompose(layer.kernel.numpy())
    node = h.graph["d"]
    w = node.weights["weight"]
    assert np.array_equal(np.asarray(w.data, np.float64).reshape(t.shape), t.astype(np.float64))
    assert w.type.precision.width == 2
    alpha = h.graph["d_alpha"]
    assert alpha.class_name == "ApplyAlpha"
    assert np.array_equal(np.asarray(alpha.weights["scale"].data, np.float64).ravel(), np.broadcast_to(scale, (5,)))
    bias = np.asarray(alpha.weights["bias"].data, np.float64).ravel()
    assert np.array_equal(bias, layer.bias.numpy().astype(np.float64))
    # so Dense(t) * scale + bias equals the Keras layer (scale a power of two: exact)
    assert np.array_equal(t * scale, layer.kernel_quantizer_internal.reference(layer.kernel.numpy()))


def test_nk_ternary_tells_hls4ml_its_code(tmp_path):
    """hls4ml's wrapper of an nk_ternary kernel carries (N, k) where the Bitshift backend looks for it."""
    m = _model(tq.nk_ternary(4, 1))
    q = m.get_layer("d").kernel_quantizer_internal
    assert (q.group_size, q.max_nonzero) == (4, 1)
    h = _vivado(m, tmp_path / "hls")
    wq = h.graph["d"].get_attr("weight_quantizer")
    assert (wq.group_size, wq.max_nonzero) == (4, 1)
    h2 = _vivado(_model(tq.pot_ternary()), tmp_path / "t" / "hls")
    assert not hasattr(h2.graph["d"].get_attr("weight_quantizer"), "group_size")


@pytest.mark.slow
@pytest.mark.parametrize("quantizer,backend,kind", [
    ({"name": "pot", "bits": 4}, "bitshift", "shift"),
    ({"name": "nk_ternary", "N": 8, "k": 2}, "bitshift", "nk"),
    ({"name": "pot", "bits": 4}, "rns", "rns"),
])
def test_trained_models_convert_bit_exact(quantizer, backend, kind, tmp_path):
    """Models from toolchain.models (regularizer included) convert with our backends; C-sim == reference."""
    pytest.importorskip("hls4ml")
    from toolchain import data, models, project, reference

    ds = data.load_digits().subset(150, 40)
    tf.keras.utils.set_random_seed(0)
    reg = {"moduli": (7, 8, 9), "strength": 1e-3} if quantizer["name"] == "pot" else None
    m = models.build_mlp(ds.input_shape, 10, (16,), quantizer=quantizer, regularizer=reg)
    m.compile(tf.keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    m.fit(ds.x_train, ds.y_train, epochs=2, batch_size=32, verbose=0)
    path = tmp_path / "m.h5"
    m.save(path)
    model = project.load_keras_model(path)
    hm, _ = project.convert(model, backend, tmp_path / "prj", "xc7z020clg400-1")
    plans = [lyr.get_attr("arith_plan") for lyr in hm.get_layers() if lyr.get_attr("arith_plan") is not None]
    assert [p.kind for p in plans] == [kind, kind]
    if kind == "nk":
        assert [(p.encoding.group_size, p.encoding.max_nonzero) for p in plans] == [(8, 2), (8, 2)]
    x = ds.x_test
    assert np.array_equal(hm.predict(x), reference.predict(hm, x))
    # the project outputs logits where Keras ends in softmax: same decisions
    assert np.mean(np.argmax(hm.predict(x), 1) == np.argmax(m.predict(x, verbose=0), 1)) >= 0.95
