"""Exact against the Keras model: models that fix their input grid with a QKeras quantizer C-simulate to
exactly what Keras computes (float32 forward pass; every width far below 24 significant bits), for every
weight kind, both backends and both io types; quantizers no fixed-point type reproduces are refused by name."""
from __future__ import annotations

import numpy as np
import pytest

from tests import zoo

pytestmark = pytest.mark.slow


def _weights(kind: str):
    from qkeras import quantized_bits, quantized_po2, ternary

    import toolchain.quant as tq

    return {"po2": lambda: quantized_po2(4, max_value=1), "bits": lambda: quantized_bits(4, 0, alpha=1),
            "ternary": lambda: ternary(alpha=1), "nk": lambda: tq.nk_ternary(4, 2)}[kind]()


def input_quantized(seed: int, kind: str, conv: bool, in_quantizer=None, middle: bool = False):
    """QActivation(in_quantizer) right after the Input, then QConv2D or QDense, quantized_relu, [a QDense and a
    quantized_bits QActivation in the middle], and a QDense output."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

    rng = np.random.default_rng(seed)
    bq = quantized_bits(10, 4, alpha=1)
    shape = (7, 7, 2) if conv else (int(rng.integers(5, 15)),)
    inp = tf.keras.Input(shape, name="x_in")
    x = QActivation(in_quantizer or quantized_bits(7, 2, alpha=1), name="q_in")(inp)
    if conv:
        x = QConv2D(3, 3, kernel_quantizer=_weights(kind), bias_quantizer=bq, name="c0")(x)
    else:
        x = QDense(int(rng.integers(6, 20)), kernel_quantizer=_weights(kind), bias_quantizer=bq, name="d0")(x)
    x = QActivation(quantized_relu(5, 2), name="a0")(x)
    if conv:
        x = tf.keras.layers.Flatten(name="f")(x)
    if middle:
        x = QDense(6, kernel_quantizer=_weights(kind), bias_quantizer=bq, name="d1")(x)
        x = QActivation(quantized_bits(6, 2, alpha=1, symmetric=True), name="q_mid")(x)
    model = tf.keras.Model(inp, QDense(3, kernel_quantizer=_weights(kind), bias_quantizer=bq, name="out")(x))
    zoo.randomize(model, rng, scale=0.5, bias_scale=0.5, prune=0.2)
    return model


def keras_exact_fraction(model, hm, seed: int) -> float:
    x = np.random.default_rng(seed).normal(0, 3, (300, *model.input_shape[1:])).astype("float32")
    y_keras = model.predict(x, verbose=0).reshape(len(x), -1).astype(np.float64)
    return float(np.mean(hm.predict(x) == y_keras))


CASES = [(kind, conv, backend, io) for kind in ("po2", "bits", "ternary") for conv in (False, True)
         for backend, io in (("Bitshift", "io_parallel"), ("RNS", "io_stream"))]
CASES += [("nk", False, "Bitshift", "io_stream"), ("po2", False, "RNS", "io_parallel"),
          ("bits", True, "Bitshift", "io_stream")]


@pytest.mark.parametrize("kind, conv, backend, io", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_exact_against_keras(tmp_path, kind, conv, backend, io):
    seed = 7 + len(kind) + 3 * conv
    model = input_quantized(seed, kind, conv, middle=not conv)
    hm = zoo.convert(model, backend, tmp_path / "prj", io_type=io)
    assert hm.graph["x_in"].get_attr("arith_input_quantizer") == "q_in"
    assert keras_exact_fraction(model, hm, seed) == 1.0


@pytest.mark.parametrize("quantizer", ["bits_unsigned", "bits_symmetric", "relu"])
def test_input_quantizer_variants_are_exact(tmp_path, quantizer):
    """keep_negative=False and symmetric=True (hls4ml maps both to a signed AP_SAT type) and quantized_relu."""
    from qkeras import quantized_bits, quantized_relu

    q = {"bits_unsigned": quantized_bits(6, 2, keep_negative=False, alpha=1),
         "bits_symmetric": quantized_bits(6, 2, symmetric=True, alpha=1), "relu": quantized_relu(6, 3)}[quantizer]
    model = input_quantized(3, "po2", False, in_quantizer=q)
    hm = zoo.convert(model, "Bitshift", tmp_path / "prj")
    assert keras_exact_fraction(model, hm, 3) == 1.0


@pytest.mark.parametrize("quantizer, words", [
    ("alpha_auto", "alpha='auto'"), ("stochastic", "stochastic rounding"), ("upper_bound", "relu_upper_bound"),
])
def test_inexact_quantizers_are_refused_or_allowed(tmp_path, quantizer, words):
    from qkeras import quantized_bits, quantized_relu

    from toolchain.errors import UnsupportedError

    q = {"alpha_auto": quantized_bits(6, 2, alpha="auto"),
         "stochastic": quantized_bits(6, 2, alpha=1, use_stochastic_rounding=True),
         "upper_bound": quantized_relu(6, 3, relu_upper_bound=2.0)}[quantizer]
    model = input_quantized(4, "po2", False, in_quantizer=q)
    with pytest.raises(UnsupportedError, match=rf"^layer q_in: .*{words}.*AllowInexact") as exc:
        zoo.convert(model, "Bitshift", tmp_path / "refused", compile=False)
    assert exc.value.layer == "q_in"
    with pytest.warns(UserWarning, match=rf"layer q_in: .*{words}"):
        hm = zoo.convert(model, "Bitshift", tmp_path / "allowed", compile=False, model_config={"AllowInexact": True})
    assert hm.graph["q_in"].get_attr("arith_inexact")


def test_csim_reports_exactness_against_keras(tmp_path):
    """``arith4ml csim``: the Keras line, the first layer that differs, and --exact-keras's exit code."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")

    def arith4ml(*args):
        return subprocess.run([sys.executable, "-m", "toolchain", *map(str, args)], capture_output=True, text=True,
                              env=env)

    input_quantized(5, "po2", False, middle=True).save(tmp_path / "q.h5")
    zoo.mlp(5, "po2", widths=(8, 8, 4)).save(tmp_path / "plain.h5")
    for name in ("q", "plain"):
        r = arith4ml("convert", tmp_path / f"{name}.h5", "--backend", "rns", "--board", "pynq-z2", "-o",
                     tmp_path / name)
        assert r.returncode == 0, r.stderr
    r = arith4ml("csim", tmp_path / "q", "-n", "200", "--exact-keras", "--threads", "2")
    assert r.returncode == 0 and "vs Keras: 600 of 600 outputs equal (100.00%)" in r.stdout, r.stdout + r.stderr
    assert "no input quantizer" not in r.stdout
    r = arith4ml("csim", tmp_path / "plain", "-n", "200", "--synthesis-path")
    assert r.returncode == 0 and "C-sim library (synthesis path) built" in r.stdout, r.stdout + r.stderr
    assert "800 bit-exact vs reference" in r.stdout and "first layer that differs from Keras: d0 (" in r.stdout
    assert "note: the model has no input quantizer: raw inputs are rounded to the Input's type" in r.stdout
    r = arith4ml("csim", tmp_path / "plain", "-n", "200", "--exact-keras")
    assert r.returncode == 1 and "C-sim library (fast path) built" in r.stdout
