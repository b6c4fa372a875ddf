"""ResNet-style CNN (skip connections, BatchNorm, QBatchNormalization, max pooling) and the 16-64-32-32-5 MLP
through both backends and both io types: C-sim equals toolchain.reference bit for bit on raw float inputs,
PoT layers keep the shift-add kernel (BatchNorm stays a layer of its own), Keras agrees on the argmax.
Also toolchain.models.build_resnet8 (strided convs, global average pooling, plain relus)."""
from __future__ import annotations

import numpy as np
import pytest

from tests import zoo

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("resnet")]

BACKENDS = ("Bitshift", "RNS")
IO_TYPES = ("io_parallel", "io_stream")
N_CLASSES = 5


def resnet8(seed: int = 3):
    """The training side's ResNet-8 (no BatchNorm, plain relus, stride-2 'same' convs, 2x2 global average
    pooling, softmax inside the last Dense) with 4-bit PoT weights."""
    from toolchain.models import build_resnet8

    return build_resnet8((8, 8, 1), N_CLASSES, filters=(4, 8, 8), seed=seed,
                         quantizer={"name": "po2", "bits": 4, "max_value": 1})


BUILDERS = {
    # stem conv, residual stacks of two 3x3 convs with BatchNorm (identity or 1x1-conv skip), max pooling,
    # dropout, logits, softmax. Both BatchNormalization and QBatchNormalization (QKeras' default po2
    # quantizers) occur; the Add sees a BatchNorm branch and a quantized-relu or conv branch (different
    # fixed-point types); the last relu is a plain Keras relu, so the logits layer gets a wide exact input
    "resnet": lambda: zoo.resnet(1, (4, 8), N_CLASSES, qbatchnorm=True, float_last_relu=True, dropout=0.25,
                                 softmax=True),
    # 16-64-32-32-5 PoT MLP with BatchNorm after each hidden layer, dropout and a final softmax
    "mlp": lambda: zoo.mlp(2, widths=(16, 64, 32, 32, N_CLASSES), scale=0.5, bias_scale=0.3, prune=0.2,
                           batchnorm=True, dropout=0.2, softmax=True),
    "resnet8": resnet8,
}
# the ResNet on every backend and io type; the MLP and ResNet-8 (cheaper, or the same layer kinds plus
# strides and average pooling) on one backend/io type each
CASES = [("resnet", b, io) for b in BACKENDS for io in IO_TYPES] + [
    ("mlp", "Bitshift", "io_stream"), ("mlp", "RNS", "io_parallel"), ("resnet8", "RNS", "io_stream")]


@pytest.fixture(scope="module", params=CASES, ids=["-".join(c) for c in CASES])
def compiled(request, tmp_path_factory):
    kind, backend, io_type = request.param
    model = BUILDERS[kind]()
    hm = zoo.convert(model, backend, tmp_path_factory.mktemp(f"{kind}{backend}{io_type}") / "prj", io_type)
    return kind, model, hm


def test_csim_equals_reference_bit_for_bit(compiled):
    from toolchain import reference

    _, model, hm = compiled
    x = zoo.raw_inputs(11, model.input_shape[1:], scale=1.5, outliers=False)  # inside ap_fixed<16,6>
    y_csim, y_ref = hm.predict(x), reference.predict(hm, x)
    assert y_csim.shape == (len(x), N_CLASSES)
    bad = np.argwhere(y_csim != y_ref)
    assert bad.size == 0, (f"{len(bad)} outputs differ, first at {bad[0]}: "
                           f"{y_csim[tuple(bad[0])]} vs {y_ref[tuple(bad[0])]}")


def test_csim_agrees_with_keras_logits(compiled):
    """Softmax removed (logits); QBatchNormalization's quantized parameters used as QKeras uses them."""
    import tensorflow as tf

    _, model, hm = compiled
    x = zoo.raw_inputs(12, model.input_shape[1:], scale=1.5, outliers=False)  # inside ap_fixed<16,6>
    y_csim = hm.predict(x)
    if "logits" in [layer.name for layer in model.layers]:
        y_keras = tf.keras.Model(model.input, model.get_layer("logits").output).predict(x, verbose=0)
    else:  # softmax inside the last layer: log-probabilities are the logits up to a constant per sample
        y_keras = np.log(model.predict(x, verbose=0).astype(np.float64))
        y_keras -= y_keras.mean(1, keepdims=True)
        y_csim = y_csim - y_csim.mean(1, keepdims=True)
    assert np.mean(np.argmax(y_keras, 1) == np.argmax(y_csim, 1)) >= 0.9
    # C-sim and Keras differ by the input rounding to ap_fixed<16,6> and its propagation through the
    # quantized relus (a relu output one LSB apart); the logits' scale is a few units
    assert np.median(np.abs(y_keras - y_csim)) < 0.1


def test_layers_kernels_and_types(compiled):
    """Dropout and softmax gone, every BatchNorm its own layer, every PoT layer on its shift (or RNS)
    kernel, and no inferred result type wider than the cap."""
    from toolchain.kernels.plan import RESULT_WIDTH_CAP

    kind, model, hm = compiled
    classes = [layer.class_name for layer in hm.get_layers()]
    assert "Softmax" not in classes and "Dropout" not in classes
    n_bn = sum("BatchNormalization" in type(layer).__name__ for layer in model.layers)
    assert classes.count("BatchNormalization") == n_bn
    n_dot = sum(type(layer).__name__ in ("QConv2D", "QDense") for layer in model.layers)
    plans = [layer.get_attr("arith_plan") for layer in hm.get_layers() if layer.get_attr("arith_plan") is not None]
    assert len(plans) == n_dot
    want = "rns" if hm.config.backend.name == "RNS" else "shift"
    assert [p.kind for p in plans] == [want] * n_dot
    assert all(p.multiplications == 0 for p in plans) or want == "rns"
    for layer in hm.get_layers():
        t = layer.get_output_variable().type.precision
        assert t.width <= RESULT_WIDTH_CAP, f"{layer.name}: {t}"


# ---- BatchNorm folding policy (conversion only, no compile) -----------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_batchnorm_folding_policy(backend, tmp_path):
    """PoT weights (quantizer or not) keep their arithmetic and BatchNorm stays; float weights fold as in
    stock hls4ml and the layer says 'mult' (RNS: 'rns' on the folded codes)."""
    rng = np.random.default_rng(4)
    pot = np.sign(rng.normal(size=(6, 3))) * 2.0 ** rng.integers(-4, 1, size=(6, 3))
    cases = ((pot, True, False), (pot, False, False), (rng.normal(0, 0.5, (6, 3)), False, True))
    for i, (weights, quantized, folded) in enumerate(cases):
        model = zoo.dense(zoo.po2() if quantized else None, batchnorm=True, kernel=weights.astype("float32"))
        hm = zoo.convert(model, backend, tmp_path / f"p{i}", compile=False)
        classes = [layer.class_name for layer in hm.get_layers()]
        assert ("BatchNormalization" not in classes) == folded, classes
        plan = hm.graph["fc"].get_attr("arith_plan")
        if backend == "RNS":
            assert plan.kind == "rns"
        else:
            assert plan.kind == ("mult" if folded else "shift")


@pytest.mark.parametrize("pool, message", [("avg3", "not exact"), ("max_same", "padded pooling")])
def test_pooling_refused_where_inexact(pool, message, tmp_path):
    """Average pooling over 3 values would divide inexactly; padded windows change the divisor (and hls4ml
    pads max pooling with a wrong value for unsigned types): both refused at conversion, naming the layer."""
    import tensorflow as tf
    from qkeras import QDense

    from toolchain.errors import UnsupportedError

    inp = tf.keras.Input((6, 4), name="x_in")
    h = tf.keras.layers.AveragePooling1D(3, name="pool")(inp) if pool == "avg3" else \
        tf.keras.layers.MaxPooling1D(4, padding="same", name="pool")(inp)
    h = tf.keras.layers.Flatten(name="flatten")(h)
    model = tf.keras.Model(inp, QDense(2, kernel_quantizer=zoo.po2(), name="logits")(h))
    with pytest.raises(UnsupportedError, match=f"layer pool: .*{message}"):
        zoo.convert(model, "Bitshift", tmp_path / "prj", compile=False)
