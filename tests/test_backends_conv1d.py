"""Conv1D (QConv1D, 'same' and 'valid', strides, MaxPooling1D) through both backends and both io types:
C-sim equals toolchain.reference bit for bit and agrees with Keras."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("conv1d")]


def conv1d_model(seed: int = 0):
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, QDense, quantized_bits, quantized_po2, quantized_relu

    inp = tf.keras.Input((16, 2), name="x_in")
    h = QConv1D(4, 3, padding="same", kernel_quantizer=quantized_po2(4, 1),
                bias_quantizer=quantized_bits(8, 3, alpha=1), name="c1")(inp)
    h = QActivation(quantized_relu(6, 2), name="r1")(h)
    h = tf.keras.layers.MaxPooling1D(2, name="p1")(h)
    h = QConv1D(6, 3, strides=2, kernel_quantizer=quantized_po2(4, 1), bias_quantizer=quantized_bits(8, 3, alpha=1),
                name="c2")(h)
    h = QActivation(quantized_relu(6, 2), name="r2")(h)
    h = tf.keras.layers.Flatten(name="flat")(h)
    out = QDense(3, kernel_quantizer=quantized_po2(4, 1), bias_quantizer=quantized_bits(8, 3, alpha=1), name="fc")(h)
    model = tf.keras.Model(inp, out)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.normal(0, .5, ws[0].shape), rng.normal(0, .3, ws[1].shape)])
    return model


@pytest.fixture(scope="module")
def model():
    return conv1d_model(3)


@pytest.mark.parametrize("backend", ["Bitshift", "RNS"])
@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_conv1d_bit_exact(model, tmp_path, backend, io_type):
    import hls4ml

    import toolchain  # noqa: F401
    from toolchain import reference

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    hm = hls4ml.converters.convert_from_keras_model(model, backend=backend, hls_config=cfg, io_type=io_type,
                                                    output_dir=str(tmp_path / "prj"), part="xc7z020clg400-1")
    hm.compile()
    kinds = {layer.name: layer.get_attr("arith_plan").kind for layer in hm.get_layers() if layer.get_attr("arith_plan")}
    assert kinds == dict.fromkeys(("c1", "c2", "fc"), "shift" if backend == "Bitshift" else "rns")
    x = np.random.default_rng(4).normal(0, 2, (300, 16, 2)).astype("float32")
    y = hm.predict(x)
    assert np.array_equal(y, reference.predict(hm, x))
    y_keras = model.predict(x, verbose=0).reshape(len(x), -1)
    assert np.mean(np.argmax(y, 1) == np.argmax(y_keras, 1)) >= 0.95
