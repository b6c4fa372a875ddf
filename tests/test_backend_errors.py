"""Conversion-time errors of the backends through hls4ml's own Python API: each names the layer."""
from __future__ import annotations

import pytest

from toolchain.errors import Arith4mlError


def _model(kernel_quantizer):
    import tensorflow as tf
    from qkeras import QDense

    inp = tf.keras.Input((8,), name="x_in")
    return tf.keras.Model(inp, QDense(4, kernel_quantizer=kernel_quantizer, name="fc")(inp))


def _convert(model, backend: str, tmp_path, **layer_cfg):
    import hls4ml

    import toolchain  # noqa: F401

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    cfg["LayerName"]["fc"].update(layer_cfg)
    return hls4ml.converters.convert_from_keras_model(model, backend=backend, hls_config=cfg,
                                                      output_dir=str(tmp_path / "prj"), part="xc7z020clg400-1")


@pytest.mark.parametrize("layer_cfg, needle", [
    ({"Moduli": [6, 9]}, r"layer fc: .*coprime"),
    ({"Moduli": [3, 4]}, r"layer fc: .*bits? missing"),
    ({"Reverse": "fast"}, r"layer fc: Reverse 'fast'"),
    ({"Arithmetic": "bitshift"}, r"layer fc: Arithmetic 'bitshift' is not offered by the RNS backend"),
])
def test_rns_layer_config_errors_name_the_layer(tmp_path, layer_cfg, needle):
    from qkeras import quantized_po2

    with pytest.raises(Arith4mlError, match=needle):
        _convert(_model(quantized_po2(4, 1)), "RNS", tmp_path, **layer_cfg)


@pytest.mark.parametrize("backend", ["Bitshift", "RNS"])
def test_binary_xnor_kernels_are_refused(tmp_path, backend):
    # hls4ml stores binary() weights as XNOR bits (0 meaning -1); reading them as integers would
    # silently zero every -1 weight
    from qkeras import binary

    with pytest.raises(Arith4mlError, match="layer fc: binary"):
        _convert(_model(binary(alpha=1)), backend, tmp_path)
