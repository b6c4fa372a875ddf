"""The kernels' hardware shape, checked in C-simulation against the reference (issue 11).

* io_stream convolutions stream through line buffers over the padded grid: 'same' and 'valid' padding,
  strides, non-square kernels and frames, 1x1 and Conv1D layers, both backends, fast and synthesis paths,
  bit for bit equal to ``toolchain.reference`` (a wrong window, a late or missing output pixel, or a stream
  read too few or too many times changes or breaks the outputs);
* ``Strategy: Resource`` folds every layer by its ``ReuseFactor`` (``fold_out_steps > 1`` included, where
  the weight ROMs are permuted into fold order) and stays exact; a ReuseFactor that does not divide the layer
  is refused naming the layer and the nearest valid values;
* the generated project: no ZeroPadding layer before a padded io_stream convolution, no im2col code, the
  frames and kernels named in the calls.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests import zoo

pytestmark = pytest.mark.xdist_group("hardware_shape")


def conv_net(seed: int, shape: tuple[int, ...], convs: list[tuple], quantizer: str = "po2", dense: int = 3):
    """Input ``shape`` (h, w, c) or (w, c) -> for each (filters, kernel, strides, padding) a QConv2D/QConv1D
    ``c{i}`` with quantized_relu(6, 2) -> Flatten -> QDense ``out``; weights ``zoo.randomize``."""
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, QConv2D, QDense, quantized_bits, quantized_relu

    rng = np.random.default_rng(seed)
    conv = QConv1D if len(shape) == 2 else QConv2D
    inp = tf.keras.Input(shape, name="x_in")
    x = inp
    for i, (filters, kernel, strides, padding) in enumerate(convs):
        x = conv(filters, kernel, strides=strides, padding=padding, kernel_quantizer=zoo.weight_quantizer(quantizer),
                 bias_quantizer=quantized_bits(8, 3, alpha=1), name=f"c{i}")(x)
        x = QActivation(quantized_relu(6, 2), name=f"a{i}")(x)
    x = tf.keras.layers.Flatten(name="f")(x)
    out = QDense(dense, kernel_quantizer=zoo.weight_quantizer(quantizer), bias_quantizer=quantized_bits(8, 3, alpha=1),
                 name="out")(x)
    model = tf.keras.Model(inp, out)
    zoo.randomize(model, rng, scale=0.6)
    return model


GEOMETRIES = {
    # id: (input shape, convs)
    "same-3x3": ((7, 6, 2), [(3, 3, 1, "same"), (2, (3, 3), 1, "same")]),
    "valid-stride2": ((9, 8, 2), [(3, 3, 2, "valid"), (2, (2, 2), 1, "valid")]),
    "same-stride2-5x3": ((8, 7, 1), [(3, (5, 3), 2, "same"), (2, 1, 1, "valid")]),
    "rect-kernel-stride-2x1": ((6, 9, 2), [(2, (2, 4), (2, 1), "same")]),
    "conv1d": ((11, 3), [(3, 3, 1, "same"), (2, 4, 2, "valid")]),
}
BACKENDS = {"Bitshift": "po2", "RNS": "bits"}


def _case_id(geometry: str, backend: str) -> int:
    return sorted(GEOMETRIES).index(geometry) * 2 + sorted(BACKENDS).index(backend)


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    """(geometry, backend) -> (Keras model, io_stream hls model), converted and compiled once."""
    done: dict[tuple[str, str], tuple] = {}

    def get(geometry: str, backend: str) -> tuple:
        key = (geometry, backend)
        if key not in done:
            shape, convs = GEOMETRIES[geometry]
            model = conv_net(_case_id(geometry, backend), shape, convs, BACKENDS[backend])
            hm = zoo.convert(model, backend, tmp_path_factory.mktemp(f"{geometry}-{backend}") / "prj", "io_stream")
            done[key] = (model, hm)
        return done[key]

    return get


def _assert_exact(hm, model, seed: int, n: int = 120) -> None:
    from toolchain import reference

    x = zoo.raw_inputs(seed, model.input_shape[1:], n=n)
    y_csim, y_ref = hm.predict(x), reference.predict(hm, x)
    bad = np.argwhere(y_csim != y_ref)
    assert bad.size == 0, (f"{len(bad)} outputs differ, first at {bad[0]}: "
                           f"{y_csim[tuple(bad[0])]} vs {y_ref[tuple(bad[0])]}")


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_line_buffer_stream_is_exact(streamed, geometry, backend):
    model, hm = streamed(geometry, backend)
    _assert_exact(hm, model, 100 + _case_id(geometry, backend))


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_padding_is_in_the_stream(streamed, backend):
    """'same' convolutions read the unpadded stream: no ZeroPadding layer is inserted, the call is dot_stream."""
    _, hm = streamed("same-3x3", backend)
    classes = [layer.class_name for layer in hm.get_layers()]
    assert not any("ZeroPadding" in c for c in classes), classes
    top = (Path(hm.config.get_output_dir()) / "firmware" / "myproject.cpp").read_text()
    assert top.count("nnet::arith::dot_stream<") == 2 and top.count("nnet::arith::dense_stream<") == 1
    params = (Path(hm.config.get_output_dir()) / "firmware" / "parameters.h").read_text()
    assert "pad_top = 1, pad_left = 1;" in params and "pad_bottom = 1, pad_right = 1;" in params


def test_no_generated_code_the_kernels_do_not_use(tmp_path):
    """hls4ml's im2col code generation (megabytes of nnet_code_gen.h on a CIFAR-sized model) is not in our flows."""
    shape, convs = GEOMETRIES["same-3x3"]
    model = conv_net(7, shape, convs)
    hm = zoo.convert(model, "Bitshift", tmp_path / "prj", "io_parallel", compile=False)
    hm.write()
    code_gen = (tmp_path / "prj" / "firmware" / "nnet_utils" / "nnet_code_gen.h").read_text()
    assert "fill_buffer" not in code_gen and len(code_gen) < 2000
    assert all(not layer.get_attr("instructions") for layer in hm.get_layers())


# ---- Strategy: Resource --------------------------------------------------------------------------------------

# (layer config, expected (n_fold, fold_in_steps, fold_out_steps) per dot layer in order c0, c1, out)
# same-3x3 on 7x6x2: c0 18 inputs x 3 outputs, c1 27 x 2, out 84 x 3
FOLDS = {
    "in-only": ({"c0": 6, "c1": 9, "out": 12}, [(6, 6, 1), (9, 9, 1), (12, 12, 1)]),
    "in-and-out": ({"c0": 54, "c1": 54, "out": 252}, [(54, 18, 3), (54, 27, 2), (252, 84, 3)]),
    "mixed": ({"c0": 1, "c1": 27, "out": 36}, [(1, 1, 1), (27, 27, 1), (36, 12, 3)]),
}


def _fold_fields(params: str) -> list[tuple[int, int, int]]:
    import re

    return [tuple(int(v) for v in m) for m in
            re.findall(r"n_fold = (\d+), fold_in_steps = (\d+), fold_out_steps = (\d+);", params)]


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("fold", sorted(FOLDS))
def test_resource_strategy_folds_and_stays_exact(tmp_path, fold, backend, io_type):
    reuse, expected = FOLDS[fold]
    shape, convs = GEOMETRIES["same-3x3"]
    seed = sorted(FOLDS).index(fold) * 4 + sorted(BACKENDS).index(backend) * 2 + (io_type == "io_stream")
    model = conv_net(seed, shape, convs, BACKENDS[backend])
    layer_config = {name: {"Strategy": "Resource", "ReuseFactor": r} for name, r in reuse.items()}
    hm = zoo.convert(model, backend, tmp_path / "prj", io_type, layer_config=layer_config)
    params = (tmp_path / "prj" / "firmware" / "parameters.h").read_text()
    assert _fold_fields(params) == expected
    _assert_exact(hm, model, 300 + seed, n=80)


def test_latency_keeps_one_fold_step_and_sets_the_ii(tmp_path):
    """Strategy Latency with ReuseFactor 3: fully parallel terms (one fold step), pipelined with II 3."""
    shape, convs = GEOMETRIES["same-3x3"]
    model = conv_net(11, shape, convs)
    hm = zoo.convert(model, "Bitshift", tmp_path / "prj", "io_stream", layer_config={"c1": {"ReuseFactor": 3}})
    params = (tmp_path / "prj" / "firmware" / "parameters.h").read_text()
    assert _fold_fields(params) == [(1, 1, 1)] * 3
    assert params.count("reuse_factor = 3;") == 1
    _assert_exact(hm, model, 11, n=40)


@pytest.mark.parametrize("strategy", ["Resource", "Latency"])
def test_reuse_factor_that_does_not_divide_is_refused(tmp_path, strategy):
    from toolchain.errors import UnsupportedError

    shape, convs = GEOMETRIES["same-3x3"]
    model = conv_net(12, shape, convs)
    with pytest.raises(UnsupportedError) as err:
        zoo.convert(model, "Bitshift", tmp_path / "prj", "io_stream", compile=False,
                    layer_config={"c0": {"Strategy": strategy, "ReuseFactor": 5}})
    assert str(err.value) == ("layer c0: ReuseFactor 5 does not divide the layer's 18 x 3 = 54 terms per output "
                              "pixel; nearest valid: 3 or 6")
    assert err.value.layer == "c0" and err.value.key == "ReuseFactor"


def test_integer_arrays_are_loaded_as_integers(streamed):
    """The plan's integer arrays (bias on the accumulator grid, shift/sign codes, residues) are read by
    nnet::arith::load_weight_codes; nothing is left to hls4ml's string-to-ap loader in these models (BatchNorm's
    fixed-point arrays, where a model has them, go through load_weight_values: tests/test_backends_resnet.py and
    every C-sim test that loads them check the values)."""
    import re

    for backend in sorted(BACKENDS):
        _, hm = streamed("same-3x3", backend)
        top = (Path(hm.config.get_output_dir()) / "firmware" / "myproject.cpp").read_text()
        loaded = re.findall(r"nnet::arith::load_weight_codes<\w+, \d+>\((\w+), \"(\w+)\.txt\"\);", top)
        arrays = [hm.graph[name].get_weights(array.name).name for name in ("c0", "c1", "out")
                  for array in _plan_arrays(hm.graph[name].get_attr("arith_plan"))]
        assert sorted(name for name, _ in loaded) == sorted(arrays) and all(a == b for a, b in loaded)
        assert "nnet::load_weights_from_txt<" not in top


def _plan_arrays(plan):
    from toolchain.backends.exact.dot import plan_arrays

    return plan_arrays(plan)
