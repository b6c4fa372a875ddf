"""The backends' flows and config keys, as hls4ml resolves them.

The resolved pass order is checked against hls4ml's own Vivado flows plus the
edits arith4ml declares (its BatchNorm fusion, final-softmax check and exact
types, less the Vivado passes whose output no arith4ml kernel reads), so an
hls4ml upgrade that changes Vivado's flows fails here loudly.
"""
from __future__ import annotations

import pytest

hls4ml = pytest.importorskip("hls4ml")
from hls4ml.model.flow import get_flow  # noqa: E402

from tests import zoo  # noqa: E402

BACKENDS = ("Bitshift", "RNS")


def resolved(flow_name: str) -> list[tuple[str, list[str]]]:
    """(flow, passes) in the order hls4ml applies them: requirements first, depth first, each once."""
    order: list[tuple[str, list[str]]] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        flow = get_flow(name)
        for req in flow.requires:
            visit(req)
        order.append((name, list(flow.optimizers)))

    visit(flow_name)
    return order


def _replace(passes: list[str], old: str, new: list[str]) -> list[str]:
    i = passes.index(old)
    return passes[:i] + new + passes[i + 1:]


@pytest.mark.parametrize("backend", BACKENDS)
def test_resolved_pass_order(backend):
    b = hls4ml.backends.get_backend(backend)
    ours = backend.lower()
    vivado = dict(resolved("vivado:ip"))
    convert = _replace(get_flow("convert").optimizers, "fuse_batch_normalization",
                       [f"{ours}:arith_fuse_batch_normalization"])
    convert = _replace(convert, "merge_linear_activation", [f"{ours}:arith_merge_linear_activation"])
    optimize = [p for p in vivado["vivado:optimize"] if p != "infer_precision_types"]
    optimize = _replace(optimize, "vivado:skip_softmax", [f"{ours}:arith_final_softmax", "vivado:skip_softmax"])
    optimize += [f"{ours}:arith_exact_types", "infer_precision_types"]
    # passes whose output no arith4ml kernel reads: in-stream padding, no im2col / streaming instructions
    unused = {"vivado:insert_zero_padding_before_conv1d", "vivado:insert_zero_padding_before_conv2d",
              "vivado:generate_conv_streaming_instructions", "vivado:generate_conv_im2col",
              "vivado:generate_unrolled_dense_resource"}
    expected = [
        ("parse_qonnx", get_flow("parse_qonnx").optimizers),
        (f"{ours}:convert", convert),
        (f"{ours}:graph_optimize", get_flow("optimize").optimizers),
        (f"{ours}:init_layers", [p.replace("vivado:", f"{ours}:") for p in vivado["vivado:init_layers"]]),
        (f"{ours}:streaming", [p for p in vivado["vivado:streaming"] if p not in unused]),
        (f"{ours}:quantization", vivado["vivado:quantization"]),
        (f"{ours}:optimize", optimize),
        (f"{ours}:specific_types", [p for p in vivado["vivado:specific_types"] if p not in unused]),
        (f"{ours}:ip", []),
    ]
    flows = resolved(b.get_default_flow())
    templates = flows.pop(-2)  # Vivado's templates first, then ours, which replace them for the layers they match
    n_vivado = len(vivado["vivado:apply_templates"])
    assert templates[0] == f"{ours}:apply_templates"
    assert templates[1][:n_vivado] == vivado["vivado:apply_templates"]
    assert sorted(templates[1][n_vivado:]) == sorted(
        f"{ours}:arith_{name}_template" for name in ("relu_function", "dot_config", "dot_function",
                                                     "batchnorm_function", "add_function"))
    assert flows == expected
    assert resolved(b.get_writer_flow())[-1] == (f"{ours}:write", ["make_stamp", f"{ours}:write_hls"])
    assert get_flow(f"{ours}:fifo_depth_optimization").optimizers == [
        "vivado:fifo_depth_optimization", "make_stamp", f"{ours}:write_hls"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_registered_pass_is_in_a_flow(backend):
    from hls4ml.model.optimizer import get_backend_passes

    b = hls4ml.backends.get_backend(backend)
    in_flows = {p for flow in (b.get_default_flow(), b.get_writer_flow(), f"{backend.lower()}:fifo_depth_optimization")
                for _, passes in resolved(flow) for p in passes}
    assert set(get_backend_passes(backend)) <= in_flows


@pytest.mark.parametrize("backend, keys", [("Bitshift", {"Arithmetic", "NK"}),
                                           ("RNS", {"Arithmetic", "Moduli", "BaseModuli", "Reverse"})])
def test_config_keys_are_layer_attributes(backend, keys):
    """config_from_keras_model writes our keys ('auto') into each dot layer, and Skip: true into a softmax."""
    model = zoo.mlp(3, "po2", softmax=True)
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    dense = cfg["LayerName"]["d0"]
    assert {k: dense[k] for k in keys} == {k: "auto" for k in keys}
    assert cfg["LayerName"]["softmax"]["Skip"] is True
    b = hls4ml.backends.get_backend(backend)
    names = {a.config_name for a in b.create_layer_class(hls4ml.model.layers.Dense).expected_attributes}
    assert keys <= names and {o.config_name for o in b.options} == keys


def _plans(model, backend, tmp_path, **cfg) -> dict[str, str]:
    hm = zoo.convert(model, backend, tmp_path / "prj", compile=False, **cfg)
    return {n.name: n.get_attr("arith_plan").kind for n in hm.get_layers() if n.get_attr("arith_plan") is not None}


def test_arithmetic_lookup_layername_layertype_model(tmp_path):
    """LayerName beats LayerType beats Model; 'auto' (what config_from_keras_model writes) defers."""
    model = zoo.mlp(3, "po2", widths=(6, 8, 4))
    assert _plans(model, "Bitshift", tmp_path / "a") == {"d0": "shift", "out": "shift"}
    plans = _plans(model, "Bitshift", tmp_path / "b", model_config={"Arithmetic": "mult"})
    assert plans == {"d0": "mult", "out": "mult"}
    plans = _plans(model, "Bitshift", tmp_path / "c", model_config={"Arithmetic": "mult"},
                   layer_config={"out": {"Arithmetic": "bitshift"}})
    assert plans == {"d0": "mult", "out": "shift"}
    model = zoo.mlp(3, "ternary", widths=(6, 8, 4))
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Bitshift")
    cfg["Model"]["Arithmetic"] = "bitshift"
    cfg["LayerType"] = {"Dense": {"Arithmetic": "Mult"}}
    cfg["LayerName"]["out"]["Arithmetic"] = "nk"
    cfg["LayerName"]["out"]["NK"] = [4, 4]
    hm = hls4ml.converters.convert_from_keras_model(model, backend="Bitshift", hls_config=cfg,
                                                    output_dir=str(tmp_path / "d"))
    plans = {n.name: n.get_attr("arith_plan") for n in hm.get_layers() if n.get_attr("arith_plan") is not None}
    assert plans["d0"].kind == "mult" and plans["out"].kind == "nk"
    assert (plans["out"].encoding.group_size, plans["out"].encoding.max_nonzero) == (4, 4)


def test_bitshift_requested_on_uniform_weights_names_the_layer(tmp_path):
    from toolchain.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match=r"^layer d0: Arithmetic 'bitshift' needs power-of-two weights"):
        zoo.convert(zoo.mlp(4, "bits"), "Bitshift", tmp_path / "prj", compile=False,
                    layer_config={"d0": {"Arithmetic": "bitshift"}})


@pytest.mark.parametrize("cfg, needle", [
    ({"layer_config": {"softmax": {"Skip": False}}}, r"layer softmax: Skip: false keeps the softmax"),
    ({"layer_config": {"softmax": {"Softmax": "keep"}}}, r"layer softmax: Softmax 'keep'"),
])
def test_final_softmax_is_skipped_or_refused(tmp_path, cfg, needle):
    from toolchain.errors import UnsupportedError

    model = zoo.mlp(3, "po2", softmax=True)
    hm = zoo.convert(model, "Bitshift", tmp_path / "ok", compile=False,
                     layer_config={"softmax": {"Softmax": "logits"}})  # the old key still works
    assert "Softmax" not in [n.class_name for n in hm.get_layers()]
    with pytest.raises(UnsupportedError, match=needle):
        zoo.convert(model, "Bitshift", tmp_path / "prj", compile=False, **cfg)


def test_inner_softmax_is_refused(tmp_path):
    import tensorflow as tf

    from toolchain.errors import UnsupportedError

    inp = tf.keras.Input((6,))
    x = tf.keras.layers.Activation("softmax", name="inner")(tf.keras.layers.Dense(5, name="fc")(inp))
    model = tf.keras.Model(inp, tf.keras.layers.Dense(3, name="out")(x))
    with pytest.raises(UnsupportedError, match=r"^layer inner: a softmax inside the network is not supported"):
        zoo.convert(model, "Bitshift", tmp_path / "prj", compile=False)
