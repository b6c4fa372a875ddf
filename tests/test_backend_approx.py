"""The Approx backend: ROUP(k, m) and table multipliers at layer, filter and kernel granularity, C-simulated bit for
bit against ``toolchain.reference`` (which uses ``toolchain.arith.approx``), against the per-term oracle, and against
Keras where the model fixes its input grid; the reduced multiplier in the generated C++; bad ``Approx`` values."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests import zoo

pytestmark = pytest.mark.xdist_group("approx")

TABLE_SEED = 5


def noisy_table(path) -> str:
    """An EvoApproxLib-style 8x8 multiplier: the exact product plus a fixed pseudo-random error in [-40, 40]
    (0 for a zero weight), written as .npy; returns its path."""
    rng = np.random.default_rng(TABLE_SEED)
    grid = np.arange(-128, 128)
    table = grid[:, None] * grid[None, :] + rng.integers(-40, 41, (256, 256))
    table[:, 128] = 0
    np.save(path, table)
    return str(path)


def approx_cnn(seed: int, table: str, batchnorm: bool = True):
    """8x8x2 -> ApproxConv2D ``c0`` (6 filters 3x3 'same', relu; kernel granularity over exact, ROUP(2,3) and the
    table) [-> BatchNormalization ``bn``] -> MaxPooling2D -> Flatten -> ApproxDense ``out`` (5; filter granularity
    over ROUP(1,2) and exact).  Random weights; biases on a 1/16 grid so that Keras' float32 sums are exact."""
    import tensorflow as tf

    import toolchain.quant as tq

    rng = np.random.default_rng(seed)
    inp = tf.keras.Input((8, 8, 2), name="x_in")
    x = tq.ApproxConv2D(6, 3, padding="same", multipliers=["exact", "roup(2,3)", f"table:{table}"],
                        assignment=rng.integers(0, 3, (6, 2)).tolist(), input_integer=3, weight_integer=1,
                        activation="relu", name="c0")(inp)
    if batchnorm:
        x = tf.keras.layers.BatchNormalization(name="bn")(x)
    x = tf.keras.layers.MaxPooling2D(2, name="p0")(x)
    x = tf.keras.layers.Flatten(name="f")(x)
    out = tq.ApproxDense(5, multipliers=["roup(1,2)", "exact"], assignment=rng.integers(0, 2, 5).tolist(),
                         input_integer=5, weight_integer=0, name="out")(x)
    model = tf.keras.Model(inp, out)
    for layer in model.layers:
        if layer.name in ("c0", "out"):
            kernel = rng.normal(0, 0.3, layer.kernel.shape)
            bias = np.round(rng.normal(0, 0.5, layer.bias.shape) * 16) / 16
            layer.set_weights([kernel.astype("float32"), bias.astype("float32")])
    if batchnorm:
        model.get_layer("bn").set_weights([np.full(6, 1.5, "float32"), np.full(6, 0.25, "float32"),
                                           np.zeros(6, "float32"), np.ones(6, "float32")])
    return model


# QKeras CNN (quantized_bits(6, 2) weights) with the multipliers set in the config instead of by the model
QKERAS_CONFIGS = {
    "layer": {"c0": {"Approx": "roup(1,2)"}, "out": {"Approx": "roup(2,3)"}},
    "filter": {"c0": {"Approx": {"multipliers": ["exact", "roup(1,2)", "roup(3,7)"], "index": [0, 1, 2, 1, 0]}},
               "out": {"Approx": "exact"}},
    "kernel": {"out": {"Approx": {"multipliers": ["exact", "roup(1,1)", "roup(2,5)"],
                                  "index": np.random.default_rng(0).integers(0, 3, (4, 80)).tolist()}}},
}


@pytest.fixture(scope="module")
def table_file(tmp_path_factory):
    return noisy_table(tmp_path_factory.mktemp("tables") / "noisy.npy")


@pytest.fixture(scope="module")
def projects(tmp_path_factory, table_file):
    """(case, io type) -> (Keras model, compiled hls model), converted once per module."""
    done: dict = {}

    def get(case: str, io_type: str):
        if (case, io_type) not in done:
            out = tmp_path_factory.mktemp(f"{case}-{io_type}") / "prj"
            if case in QKERAS_CONFIGS:
                model = zoo.cnn(3, quantizer="bits", padding="same")
                assert model.get_layer("c0").filters == 5 and model.get_layer("out").kernel.shape[0] == 80
                hm = zoo.convert(model, "Approx", out, io_type, layer_config=QKERAS_CONFIGS[case])
            else:
                model = approx_cnn(11, table_file, batchnorm=case == "approx-bn")
                layer_config = {"*": {"Strategy": "Resource", "ReuseFactor": 4}} if case == "approx-folded" else None
                hm = zoo.convert(model, "Approx", out, io_type, layer_config=layer_config)
            done[case, io_type] = (model, hm)
        return done[case, io_type]

    return get


CASES = [(case, io) for case in ("layer", "filter", "kernel", "approx", "approx-bn") for io in ("io_parallel",
                                                                                                 "io_stream")]
CASES.append(("approx-folded", "io_parallel"))


@pytest.mark.parametrize("case,io_type", CASES, ids=[f"{c}-{io}" for c, io in CASES])
def test_csim_equals_reference_bit_for_bit(projects, case, io_type):
    from toolchain import reference

    model, hm = projects(case, io_type)
    x = zoo.raw_inputs(CASES.index((case, io_type)), model.input_shape[1:], n=300)
    y_csim, y_ref = hm.predict(x), reference.predict(hm, x)
    bad = np.argwhere(y_csim != y_ref)
    assert bad.size == 0, f"first mismatch at {bad[0]}: C-sim {y_csim[tuple(bad[0])]} vs {y_ref[tuple(bad[0])]}"
    # the fast reference (closed-form ROUP matmuls, table gathers) equals the per-term oracle (the C++'s steps)
    assert np.array_equal(reference.predict(hm, x[:40], per_term=True), y_ref[:40])
    # and the outputs are not degenerate: more than one class wins over the batch
    assert np.unique(y_ref.argmax(axis=1)).size > 1


def test_kernels_and_granularity_in_the_plan(projects):
    _, hm = projects("approx", "io_parallel")
    plans = {n.name: n.get_attr("arith_plan") for n in hm.get_layers() if n.get_attr("arith_plan") is not None}
    assert [p.kind for p in plans.values()] == ["approx", "approx"]
    assert plans["c0"].encoding.assignment.granularity == "kernel" and len(plans["c0"].encoding.tables) == 1
    assert plans["out"].encoding.assignment.granularity == "filter" and not plans["out"].encoding.tables
    assert plans["c0"].kernel.cpp_kernel_for(plans["c0"]) == "nnet::arith::approx_table_kernel"
    assert plans["out"].kernel.cpp_kernel_for(plans["out"]) == "nnet::arith::roup_kernel"


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_equals_keras_where_the_model_fixes_its_grid(projects, io_type):
    """ApproxConv2D/ApproxDense quantize their inputs themselves and (no BatchNorm, biases on a 1/16 grid) Keras'
    float32 arithmetic is exact here, so C-sim equals Keras bit for bit on raw inputs, outliers included (the input
    type is the first layer's 8-bit activation type, which saturates as Keras does)."""
    model, hm = projects("approx", io_type)
    assert str(hm.get_input_variables()[0].type.precision) .startswith("fixed<8,3,RND,SAT")
    x = zoo.raw_inputs(7, model.input_shape[1:], n=300, scale=1.5)
    y_keras = model.predict(x, verbose=0).astype(np.float64)
    assert np.array_equal(hm.predict(x), y_keras)


def test_roup_is_emitted_as_the_reduced_multiplier_and_tables_as_a_rom(projects, table_file):
    """The perforated weight is what the ROM holds (b_r = floor(b / 4^k) + b_{2k-1}, never the 256x256 table of a
    ROUP multiplier); a table multiplier's products are a weight array of 65,536 entries."""
    from toolchain.arith import approx as ax

    _, hm = projects("layer", "io_parallel")
    plan = next(n.get_attr("arith_plan") for n in hm.get_layers() if n.name == "out")
    enc = plan.encoding
    assert not enc.tables and set(np.unique(enc.weight_shifts)) == {2} and set(np.unique(enc.act_shifts)) == {3}
    assert np.array_equal(enc.operands << 4, ax.roup_round_b(plan.w_codes, 2))
    assert int(np.abs(enc.operands).max()) <= 8  # |floor(b / 16) + b_3| <= 8: a 5-bit operand
    firmware = (hm.config.get_output_dir() + "/firmware")
    from pathlib import Path

    top = Path(firmware, "myproject.cpp").read_text()
    assert "nnet::arith::roup_kernel" in top and "approx_table" not in top
    header = Path(firmware, "nnet_utils", "nnet_approx.h").read_text()
    data_path = header[header.index("inline acc_T roup_product"):header.index("// (k, m) of a term")]
    assert ">> m" in data_path and "<< (m + 2 * k)" in data_path and "table" not in data_path
    _, hm_t = projects("approx", "io_parallel")
    c0 = next(n for n in hm_t.get_layers() if n.name == "c0")
    assert c0.get_weights("approx_table").data.size == 256 * 256
    assert "nnet::arith::approx_table_kernel" in Path(hm_t.config.get_output_dir(), "firmware",
                                                      "myproject.cpp").read_text()
    assert np.array_equal(np.asarray(c0.get_weights("approx_table").data).reshape(256, 256).T,
                          ax.load_table(table_file).table)


def test_config_overrides_the_keras_layer(tmp_path, table_file):
    """LayerName Approx wins over the ApproxDense's own multipliers; the reference follows the config."""
    from toolchain import reference

    model = approx_cnn(12, table_file, batchnorm=False)
    hm = zoo.convert(model, "Approx", tmp_path / "prj", layer_config={"out": {"Approx": "roup(3,6)"}}, compile=False)
    plan = next(n.get_attr("arith_plan") for n in hm.get_layers() if n.name == "out")
    assert [m.name for m in plan.encoding.multipliers] == ["roup_k3_m6"] and plan.encoding.index.max() == 0
    x = zoo.raw_inputs(3, model.input_shape[1:], n=50, outliers=False)
    assert not np.array_equal(reference.predict(hm, x), model.predict(x, verbose=0))


def _convert_cli(tmp_path, config_text: str, model_path) -> subprocess.CompletedProcess:
    cfg = tmp_path / "hls.yml"
    cfg.write_text(config_text)
    return subprocess.run([sys.executable, "-m", "toolchain", "convert", str(model_path), "--backend", "approx",
                           "--part", "xc7z020clg400-1", "-o", str(tmp_path / "prj"), "--config", str(cfg)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def cnn_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "cnn.h5"
    zoo.cnn(3, quantizer="bits", padding="same").save(path)
    return path


@pytest.mark.parametrize("approx,message", [
    ("roup(2,9)", r"hls\.yml:3: LayerName\.c0\.Approx: .*roup\(2,9\).*m=9 out of range 0\.\.7"),
    ("roup(4,1)", r"hls\.yml:3: LayerName\.c0\.Approx: .*k=4 out of range 0\.\.3"),
    ("booth(1,1)", r"LayerName\.c0\.Approx: .*'booth\(1,1\)' not understood"),
    ("table:wrong_shape.npy",
     r"LayerName\.c0\.Approx: .*wrong_shape\.npy.* has shape \(16, 16\); expected \(256, 256\)"),
    ("table:wrong_dtype.npy", r"LayerName\.c0\.Approx: .*wrong_dtype\.npy.* has dtype <U1; expected integer products"),
    ("table:missing.npy", r"LayerName\.c0\.Approx: .*missing\.npy.* does not exist"),
    ("{multipliers: [exact, 'roup(1,2)'], index: [0, 1, 1]}",
     r"layer c0: Approx index of layer c0 has shape \(3,\); expected \(5,\) .*or \(5, 1\)"),
    ("{multipliers: [exact], index: [0, 1, 0, 0, 0]}",
     r"LayerName\.c0\.Approx: .*index holds 1; expected 0\.\.0 for 1 multipliers"),
])
def test_bad_approx_values_exit_2_with_one_line(tmp_path, cnn_file, approx, message):
    import re

    np.save(tmp_path / "wrong_shape.npy", np.zeros((16, 16), dtype=np.int16))
    np.save(tmp_path / "wrong_dtype.npy", np.full((256, 256), "a"))
    r = _convert_cli(tmp_path, f"LayerName:\n  c0:\n    Approx: {approx}\n", cnn_file)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "prj").exists()


def test_config_naming_a_missing_layer_exits_2(tmp_path, cnn_file):
    r = _convert_cli(tmp_path, "LayerName:\n  c9:\n    Approx: roup(1,2)\n", cnn_file)
    assert r.returncode == 2 and "c9" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "prj").exists()


def test_cli_converts_with_a_map_file_and_tables_relative_to_the_config(tmp_path, cnn_file, table_file):
    """``map:FILE`` and ``table:FILE`` in a config are looked up next to the config file, whatever the cwd."""
    import shutil

    import yaml

    shutil.copy(table_file, tmp_path / "noisy.npy")
    (tmp_path / "c0_map.yml").write_text(yaml.safe_dump({"multipliers": ["roup(1,1)", "table:noisy.npy"],
                                                         "index": [1, 0, 0, 1, 1]}))
    r = _convert_cli(tmp_path, "LayerName:\n  c0:\n    Approx: map:c0_map.yml\n  out:\n    Approx: "
                               "table:noisy.npy\n", cnn_file)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "prj" / "firmware" / "myproject.cpp").read_text().count("approx_table_kernel") == 2


def test_other_backends_refuse_approx_layers(tmp_path, table_file):
    """Bitshift would compute exact products for an ApproxDense: refused, naming the layer and the backend to use."""
    from toolchain.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match=r"layer c0 is an approximate-multiplier layer .*--backend approx"):
        zoo.convert(approx_cnn(14, table_file, batchnorm=False), "Bitshift", tmp_path / "prj", compile=False)


def test_operation_counts_by_hand(tmp_path):
    """ApproxDense 3 -> 2 with ROUP(1, 2) and weight codes (weight_integer 1: codes = w * 128) [[64, 0], [32, -96],
    [1, 0]]: perforating one Booth digit turns b = 1 into b_r = floor(1/4) + b_1 = 0, so only 3 of the 6 terms are
    generated: 64 -> 16, 32 -> 8, -96 -> -24.  Per inference: 3 ROUP(1,2) products, 3 accumulator adds and 3 input
    quantizations (8-bit adds); the energy is those counts times the cost table's per-operation figures."""
    import tensorflow as tf

    import toolchain.quant as tq
    from toolchain import energy, estimate

    inp = tf.keras.Input((3,), name="x_in")
    out = tq.ApproxDense(2, multipliers="roup(1,2)", input_integer=2, weight_integer=1, use_bias=False,
                         name="out")(inp)
    model = tf.keras.Model(inp, out)
    model.get_layer("out").set_weights([np.array([[64, 0], [32, -96], [1, 0]], dtype="float32") / 128])
    hm = zoo.convert(model, "Approx", tmp_path / "prj", compile=False)
    plan = next(n.get_attr("arith_plan") for n in hm.get_layers() if n.get_attr("arith_plan") is not None)
    assert plan.encoding.operands.tolist() == [[16, 0], [8, -24], [0, 0]] and plan.generated_terms == 3
    acc = plan.acc_type_width
    ops = {(op.kind, op.params): op.count for op in plan.kernel.operations(plan)}
    assert ops == {("roup", (1, 2)): 3, ("add", (acc,)): 3}
    assert {(op.kind, op.params): op.count for op in plan.kernel.frame_operations(plan)} == {("add", (8,)): 3}
    layer = next(e for e in estimate.energy_estimate(hm).layers if e.layer == "out")
    expected = 3 * energy.op_energy("roup", (1, 2)) + 3 * energy.op_energy("add", (acc,)) + \
        3 * energy.op_energy("add", (8,))
    assert layer.energy_pj == pytest.approx(expected)
    # the baseline: all 6 dense terms as exact 8x8 multiplies and accumulator adds
    assert layer.baseline_pj == pytest.approx(6 * energy.op_energy("mult", (8, 8)) + 6 * energy.op_energy("add",
                                                                                                          (acc,)))
