"""C-simulation of the synthesis path: arith4ml's headers compiled down the branches Vitis HLS synthesises
(ap types everywhere, weight ROMs read as they are, ap_fixed conversions; ``-DARITH4ML_SYNTHESIS_PATH``),
with g++ and the real ap types, equal bit for bit to ``toolchain.reference`` on raw float inputs.

Tiny random models cover every kernel kind on both io types: a Bitshift MLP whose layers take the nk, shift
and mult kernels; an RNS MLP with CRT and mixed-radix reverse conversions, its last layer with moduli near
2^20 (the CRT sum needs 62 bits, the lazy channel sums about 44, and the moduli exceed the range of that
layer's 8- or 9-bit input codes: the forward conversion once cast them to the input code type and divided by
zero on the synthesis path); a ResNet-style CNN (Conv2D, BatchNorm, QBatchNormalization, Add, max pooling) on
both backends; small CNNs folded by Strategy Resource over inputs and outputs, io_parallel and io_stream.  Two
MLPs begin with an input quantizer.  The synthesis branches compile slowly (ap types everywhere): keep
models tiny.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests import zoo

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("synthesis_path")]

WIDE_MODULI = [2**20 - 1, 2**20, 2**20 + 1]  # M ~ 2^60


def mixed_mlp(seed: int, quantizers: tuple[str, ...], quantized_input: bool = False):
    """``x_in`` [-> QActivation(quantized_bits(8, 3, alpha=1)) ``q_in``] -> per quantizer a QDense (``d0``,
    ``d1``, ..., the last one ``out``) with that weight quantizer (``nk``: ``toolchain.quant.nk_ternary(4, 2)``;
    else ``zoo.weight_quantizer``), quantized_relu(6, 2) between them; widths drawn from the seed (5-11 inputs,
    hidden 4-11, 2-5 outputs), weights ``zoo.randomize``."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    from toolchain.quant import nk_ternary

    rng = np.random.default_rng(seed)
    n = len(quantizers)
    widths = [int(rng.integers(5, 12)), *(int(rng.integers(4, 12)) for _ in range(n - 1)), int(rng.integers(2, 6))]
    inp = tf.keras.Input((widths[0],), name="x_in")
    x = QActivation(quantized_bits(8, 3, alpha=1), name="q_in")(inp) if quantized_input else inp
    for i, name in enumerate(quantizers):
        quantizer = nk_ternary(4, 2) if name == "nk" else zoo.weight_quantizer(name)
        x = QDense(widths[i + 1], kernel_quantizer=quantizer, bias_quantizer=quantized_bits(8, 3, alpha=1),
                   name="out" if i == n - 1 else f"d{i}")(x)
        if i < n - 1:
            x = QActivation(quantized_relu(6, 2), name=f"a{i}")(x)
    model = tf.keras.Model(inp, x)
    zoo.randomize(model, rng, scale=0.6)
    return model


def _conv_net(seed: int, quantizer: str = "po2"):
    from tests.test_hardware_shape import GEOMETRIES, conv_net

    return conv_net(seed, *GEOMETRIES["same-3x3"], quantizer)


def _approx_cnn(seed: int):
    import tempfile

    from tests.test_backend_approx import approx_cnn, noisy_table

    return approx_cnn(seed, noisy_table(Path(tempfile.mkdtemp(prefix="approx-table-")) / "noisy.npy"))


FOLDED = {name: {"Strategy": "Resource", "ReuseFactor": r} for name, r in {"c0": 54, "c1": 9, "out": 252}.items()}
BITSHIFT_LAYERS = {"d0": {"Arithmetic": "nk"}, "d1": {"Arithmetic": "bitshift"}, "out": {"Arithmetic": "mult"}}
CASES = {
    # id: (builder, backend, io type, layer config, the kernels of the dot layers in order)
    "bitshift-mlp-parallel": (lambda: mixed_mlp(1, ("nk", "po2", "bits")), "Bitshift", "io_parallel",
                              BITSHIFT_LAYERS, ["nk", "shift", "mult"]),
    "bitshift-mlp-stream": (lambda: mixed_mlp(2, ("nk", "po2", "bits"), True), "Bitshift", "io_stream",
                            BITSHIFT_LAYERS, ["nk", "shift", "mult"]),
    "rns-mlp-parallel": (lambda: mixed_mlp(3, ("po2", "bits", "ternary"), True), "RNS", "io_parallel",
                         {"d0": {"Reverse": "crt"}, "d1": {"Reverse": "mrc"},
                          "out": {"Reverse": "crt", "Moduli": WIDE_MODULI}}, ["rns"] * 3),
    "rns-mlp-stream": (lambda: mixed_mlp(4, ("bits", "po2", "ternary")), "RNS", "io_stream",
                       {"d0": {"Reverse": "mrc"}, "d1": {"Reverse": "crt"},
                        "out": {"Reverse": "mrc", "Moduli": WIDE_MODULI}}, ["rns"] * 3),
    "bitshift-cnn-parallel": (lambda: zoo.resnet(5, (2, 3), 3, qbatchnorm=True), "Bitshift", "io_parallel",
                              {}, None),
    "bitshift-cnn-stream": (lambda: zoo.resnet(6, (2, 3), 3), "Bitshift", "io_stream", {}, None),
    "rns-cnn-parallel": (lambda: zoo.resnet(7, (2, 3), 3), "RNS", "io_parallel", {"*": {"Reverse": "mrc"}}, None),
    "rns-cnn-stream": (lambda: zoo.resnet(8, (2, 3), 3, qbatchnorm=True), "RNS", "io_stream", {}, None),
    # Strategy Resource, folded over inputs and outputs (fold-ordered ROMs), 'same' padding in the line buffers
    "bitshift-conv-stream-folded": (lambda: _conv_net(9), "Bitshift", "io_stream", FOLDED, ["shift"] * 3),
    "rns-conv-parallel-folded": (lambda: _conv_net(10, "bits"), "RNS", "io_parallel", FOLDED, ["rns"] * 3),
    "rns-conv-stream-folded": (lambda: _conv_net(11, "bits"), "RNS", "io_stream", FOLDED, ["rns"] * 3),
    # approximate multipliers: ROUP and a table at kernel granularity, ROUP per filter; folded in io_parallel
    "approx-cnn-stream": (lambda: _approx_cnn(12), "Approx", "io_stream", {}, ["approx"] * 2),
    "approx-cnn-parallel-folded": (lambda: _approx_cnn(13), "Approx", "io_parallel",
                                   {name: {"Strategy": "Resource", "ReuseFactor": 4} for name in ("c0", "out")},
                                   ["approx"] * 2),
}


def _layer_config(model, extra: dict) -> dict:
    """``extra`` with ``"*"`` expanded to the model's Dense/Conv layers (zoo.convert's ``"*"`` is every layer)."""
    if "*" not in extra:
        return extra
    return {layer.name: extra["*"] for layer in model.layers if layer.__class__.__name__ in ("QDense", "QConv2D")}


def _build_log_head(prj: Path) -> str:
    return (prj / "build.log").read_text(errors="replace").splitlines()[0]


@pytest.fixture(scope="module")
def synthesize(tmp_path_factory):
    """case id -> (case id, Keras model, hls model on the synthesis path, its library, build.log's first line),
    converted and compiled once per module."""
    from toolchain import simlib

    done: dict[str, tuple] = {}

    def get(case: str) -> tuple:
        if case not in done:
            build, backend, io_type, layer_config, kinds = CASES[case]
            model = build()
            prj = tmp_path_factory.mktemp(case) / "prj"
            hm = zoo.convert(model, backend, prj, io_type, layer_config=_layer_config(model, layer_config),
                             compile=False)
            if kinds is not None:
                plans = [n.get_attr("arith_plan") for n in hm.get_layers() if n.get_attr("arith_plan") is not None]
                assert [p.kind for p in plans] == kinds
            lib = simlib.compile_model(hm, "synthesis")
            done[case] = (case, model, hm, lib, _build_log_head(prj))
        return done[case]

    return get


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def synthesized(request, synthesize):
    return synthesize(request.param)


def test_synthesis_path_equals_reference_bit_for_bit(synthesized):
    from toolchain import reference

    case, model, hm, _, _ = synthesized
    x = zoo.raw_inputs(sorted(CASES).index(case) + 40, model.input_shape[1:], n=150)
    y_csim, y_ref = hm.predict(x), reference.predict(hm, x)
    bad = np.argwhere(y_csim != y_ref)
    assert bad.size == 0, (f"{len(bad)} outputs differ, first at {bad[0]}: "
                           f"{y_csim[tuple(bad[0])]} vs {y_ref[tuple(bad[0])]}")


def test_the_library_took_the_synthesis_path(synthesized):
    _, _, hm, lib, log_head = synthesized
    assert lib.parent == Path(hm.config.get_output_dir()) / "firmware" and lib.name.endswith("-synthesis.so")
    assert log_head.startswith("C-sim path synthesis: ") and " -DARITH4ML_SYNTHESIS_PATH" in log_head
    assert Path(hm._top_function_lib._name) == lib


def _snapshot(prj: Path) -> dict[str, bytes]:
    """Every file of the project but the libraries and build.log (which a compile writes)."""
    return {str(p.relative_to(prj)): p.read_bytes() for p in sorted(prj.rglob("*"))
            if p.is_file() and p.suffix != ".so" and p.name != "build.log"}


def _weight_rom_symbols(lib: Path) -> list[str]:
    """Dynamic symbols of the fast path's native weight copies (weight_rom's function statics)."""
    out = subprocess.run(["nm", "-D", "-C", "--defined-only", str(lib)], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if "weight_rom" in line]


def test_fast_and_synthesis_libraries_live_side_by_side(synthesize):
    """compile_model on the fast path: another library (the synthesis one kept), nothing else written, the
    same outputs; only the fast one holds the native weight copies of the C-sim fast path."""
    from toolchain import simlib

    _, model, hm, synth_lib, _ = synthesize("bitshift-mlp-parallel")
    prj = Path(hm.config.get_output_dir())
    before = _snapshot(prj)
    x = zoo.raw_inputs(3, model.input_shape[1:], n=100)
    y_synth = hm.predict(x)
    fast_lib = simlib.compile_model(hm, "fast")
    assert fast_lib != synth_lib and fast_lib.name == synth_lib.name.replace("-synthesis.so", ".so")
    assert sorted((prj / "firmware").glob("*.so")) == sorted([fast_lib, synth_lib])
    assert _build_log_head(prj).startswith("C-sim path fast: ") and "SYNTHESIS_PATH" not in _build_log_head(prj)
    assert np.array_equal(hm.predict(x), y_synth)
    assert _snapshot(prj) == before
    if shutil.which("nm") is not None:
        assert _weight_rom_symbols(fast_lib) and not _weight_rom_symbols(synth_lib)
    assert simlib.compile_model(hm, "synthesis") == synth_lib  # up to date: not rebuilt, loaded again
    assert np.array_equal(hm.predict(x), y_synth)


def test_unknown_csim_path_is_refused(synthesize, tmp_path):
    """A path name other than fast/synthesis: a one-line ConfigError from Python, exit 2 from build_lib.sh;
    a build script that predates the synthesis path is refused rather than built on the fast path."""
    from toolchain import simlib
    from toolchain.errors import ConfigError, DataError

    _, _, hm, _, _ = synthesize("bitshift-mlp-parallel")
    prj = Path(hm.config.get_output_dir())
    for call in (lambda: simlib.ensure_library(prj, "myproject", "slow"), lambda: simlib.compile_model(hm, "hw"),
                 lambda: simlib.run_build(prj, csim_path="Synthesis")):
        with pytest.raises(ConfigError, match=r"^C-sim path '\w+' is not one of fast, synthesis$"):
            call()
    r = subprocess.run(["bash", "build_lib.sh"], cwd=prj, capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "ARITH4ML_CSIM_PATH": "hw"})
    assert r.returncode == 2 and r.stderr.strip() == "ARITH4ML_CSIM_PATH is 'hw'; expected fast or synthesis"
    old = tmp_path / "old"
    old.mkdir()
    (old / "build_lib.sh").write_text("#!/bin/bash\nexit 0\n")
    with pytest.raises(DataError, match="cannot build the synthesis C-sim path"):
        simlib.run_build(old, csim_path="synthesis")
