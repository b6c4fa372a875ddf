"""Small random QKeras models shared by the backend tests (weights drawn with exact zeros = pruned)."""
from __future__ import annotations

import numpy as np


def _randomize(model, rng, scale: float = 0.5, prune: float = 0.3) -> None:
    for layer in model.layers:
        ws = layer.get_weights()
        if len(ws) == 2:
            k = rng.normal(0, scale, ws[0].shape).astype("float32")
            k[rng.random(k.shape) < prune] = 0.0
            layer.set_weights([k, rng.normal(0, 0.5, ws[1].shape).astype("float32")])


def mlp(seed: int, quantizer: str = "po2", prune: float = 0.3):
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_po2, quantized_relu, ternary

    rng = np.random.default_rng(seed)
    wq = {"po2": lambda: quantized_po2(4, max_value=1), "ternary": lambda: ternary(),
          "bits": lambda: quantized_bits(6, 2, alpha=1)}[quantizer]
    n_in = int(rng.integers(5, 20))
    inp = tf.keras.Input((n_in,))
    x = inp
    for i in range(int(rng.integers(1, 3))):
        x = QDense(int(rng.integers(4, 24)), kernel_quantizer=wq(), bias_quantizer=quantized_bits(8, 3, alpha=1), name=f"d{i}")(x)
        x = QActivation(quantized_relu(6, 2), name=f"a{i}")(x)
    out = QDense(int(rng.integers(2, 6)), kernel_quantizer=wq(), bias_quantizer=quantized_bits(8, 3, alpha=1), name="out")(x)
    model = tf.keras.Model(inp, out)
    _randomize(model, rng, 0.6, prune)
    return model


def cnn(seed: int, quantizer: str = "po2", padding: str = "valid"):
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_po2, quantized_relu

    rng = np.random.default_rng(seed)
    inp = tf.keras.Input((8, 8, 1))
    x = QConv2D(int(rng.integers(2, 6)), 3, padding=padding, kernel_quantizer=quantized_po2(4, max_value=1),
                bias_quantizer=quantized_bits(8, 3, alpha=1), name="c0")(inp)
    x = QActivation(quantized_relu(6, 2), name="a0")(x)
    x = tf.keras.layers.MaxPooling2D(2, name="p0")(x)
    x = tf.keras.layers.Flatten(name="f")(x)
    out = QDense(4, kernel_quantizer=quantized_po2(4, max_value=1), bias_quantizer=quantized_bits(8, 3, alpha=1), name="out")(x)
    model = tf.keras.Model(inp, out)
    _randomize(model, rng)
    return model


def raw_inputs(seed: int, shape, n: int = 200) -> np.ndarray:
    """Raw float inputs: off the fixed-point grid, some beyond ap_fixed<16,6>'s range."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 3.0, (n, *shape)) + rng.uniform(-1e-3, 1e-3, (n, *shape))
    x.flat[:: max(1, x.size // 7)] *= 20.0  # a few out-of-range values exercise the input overflow mode
    return x.astype("float32")
