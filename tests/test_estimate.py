"""The resource estimate (``toolchain.estimate``), its report table, the part's budget and ``convert --fit``.

The model is a small PoT CNN on 10x10x2 inputs: QConv2D ``c1`` (4 filters, 3x3) -> quantized_relu(6, 2)
``a1`` -> QConv2D ``c2`` (3 filters, 3x3) -> quantized_relu(6, 2) ``a2`` -> 2x2 max pooling ``p2`` -> Flatten
-> QDense ``out`` (5).  Expected buffer sizes and fold units are computed here from the Keras model's shapes
and quantizers (an unquantized input is hls4ml's default ap_fixed<16,6>), never read back from the tool.
Board catalogues with tiny budgets are made in a temporary directory (``boards.boards_dir`` patched).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from toolchain import boards, estimate
from toolchain.cli import main
from toolchain.kernels.fold import valid_reuse_factors

pytestmark = pytest.mark.xdist_group("estimate")

INPUT_BITS = 16  # hls4ml's default input precision ap_fixed<16,6> (the model has no input quantizer)
RELU_BITS = 6  # quantized_relu(6, 2)
SMALL = {"lut": 2500, "ff": 4000, "bram36": 4, "dsp": 4}  # --fit must fold c1 and c2 to reach 80% of this
TINY = {"lut": 10, "ff": 10, "bram36": 0, "dsp": 0}  # nothing fits


def _model():
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_relu

    from tests import zoo

    inp = tf.keras.Input((10, 10, 2), name="x_in")
    h = QConv2D(4, 3, kernel_quantizer=zoo.po2(), bias_quantizer=zoo._bias_quantizer(), name="c1")(inp)
    h = QActivation(quantized_relu(6, 2), name="a1")(h)
    h = QConv2D(3, 3, kernel_quantizer=zoo.po2(), bias_quantizer=zoo._bias_quantizer(), name="c2")(h)
    h = QActivation(quantized_relu(6, 2), name="a2")(h)
    h = tf.keras.layers.MaxPooling2D(2, name="p2")(h)
    h = tf.keras.layers.Flatten(name="flat")(h)
    out = QDense(5, kernel_quantizer=zoo.po2(), bias_quantizer=zoo._bias_quantizer(), name="out")(h)
    model = tf.keras.Model(inp, out)
    zoo.randomize(model, np.random.default_rng(4))
    return model


def _shapes(model) -> dict[str, dict[str, int]]:
    """Per Dense/Conv layer, from Keras: input width/channels, filter height/width, n_in (patch), n_out."""
    shapes = {}
    for name in ("c1", "c2", "out"):
        layer = model.get_layer(name)
        kernel = layer.get_weights()[0]
        in_shape = layer.input.shape
        shapes[name] = {"n_in": int(np.prod(kernel.shape[:-1])), "n_out": int(kernel.shape[-1])}
        if kernel.ndim == 4:
            shapes[name].update(in_width=int(in_shape[2]), n_chan=int(in_shape[3]), filt_h=int(kernel.shape[0]),
                                filt_w=int(kernel.shape[1]))
    return shapes


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    """(saved .h5, Keras model, shapes)."""
    model = _model()
    path = tmp_path_factory.mktemp("model") / "cnn.h5"
    model.save(path)
    return path, model, _shapes(model)


@pytest.fixture(scope="module")
def stream_hm(cnn, tmp_path_factory):
    from tests import zoo

    return zoo.convert(cnn[1], "Bitshift", tmp_path_factory.mktemp("bs"), io_type="io_stream", compile=False)


@pytest.fixture(scope="module")
def rns_hm(cnn, tmp_path_factory):
    """RNS, io_stream; ``out`` starts from BaseModuli [35, 64] (a modulus without a fast reduction)."""
    from tests import zoo

    return zoo.convert(cnn[1], "RNS", tmp_path_factory.mktemp("rns"), io_type="io_stream", compile=False,
                       layer_config={"out": {"BaseModuli": [35, 64]}})


@pytest.fixture
def catalogue(tmp_path, monkeypatch) -> Path:
    """The shipped boards plus 'small' and 'tiny' (pynq-z2's part with tiny budgets)."""
    cat = tmp_path / "catalogue"
    shutil.copytree(boards.boards_dir(), cat)
    base = [line for line in (cat / "pynq-z2.yaml").read_text().splitlines()
            if not line.startswith((" ", "resources:", "#", "name:"))]
    for name, res in (("small", SMALL), ("tiny", TINY)):
        (cat / f"{name}.yaml").write_text("\n".join([f"name: {name}", *base, "resources:"]
                                                    + [f"  {k}: {v}" for k, v in res.items()]) + "\n")
    monkeypatch.setattr(boards, "boards_dir", lambda: cat)
    return cat


def _run(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def _layer(hm, name):
    return next(layer for layer in hm.get_layers() if layer.name == name)


# ----------------------------------------------------------------------------- cost model


def test_line_buffer_and_window_bits_io_stream(stream_hm, cnn):
    shapes = cnn[2]
    est = {e.layer: e for e in estimate.estimate_model(stream_hm).layers}
    for name, bits in (("c1", INPUT_BITS), ("c2", RELU_BITS)):
        s = shapes[name]
        assert est[name].line_buffer_bits == (s["filt_h"] - 1) * s["in_width"] * s["n_chan"] * bits
        assert est[name].window_bits == s["filt_h"] * s["filt_w"] * s["n_chan"] * bits
    # the pooling's own line buffer: (pool_height - 1) rows of the a2 output
    a2 = cnn[1].get_layer("a2").output.shape
    assert est["p2"].line_buffer_bits == (2 - 1) * int(a2[2]) * int(a2[3]) * RELU_BITS
    assert est["out"].line_buffer_bits == 0 and est["out"].window_bits == shapes["out"]["n_in"] * RELU_BITS


def test_units_after_folding_and_monotone_in_reuse(stream_hm, cnn):
    for name in ("c1", "c2", "out"):
        s = cnn[2][name]
        layer = _layer(stream_hm, name)
        keras = cnn[1].get_layer(name)
        quantized = np.asarray(keras.kernel_quantizer_internal(keras.kernel))
        # Latency: every term in parallel, one per non-zero weight
        assert estimate.layer_estimate(layer, "io_stream", "latency", 1).units == int(np.count_nonzero(quantized))
        previous = None
        for r in valid_reuse_factors(s["n_in"], s["n_out"])[1:]:
            e = estimate.layer_estimate(layer, "io_stream", "resource", r)
            assert e.units == s["n_in"] * s["n_out"] // r, (name, r)
            assert e.rom_bits > 0 and e.rom_bits % (s["n_in"] * s["n_out"]) == 0  # every weight's word, once
            if previous is not None:
                for res in ("lut", "ff", "dsp"):
                    assert e.get(res) <= previous.get(res), (name, r, res)
            previous = e


def test_rns_channel_registers_and_residue_line_buffer(rns_hm, cnn):
    est = {e.layer: e for e in estimate.estimate_model(rns_hm).layers}
    for name in ("c1", "c2", "out"):
        plan = _layer(rns_hm, name).get_attr("arith_plan")
        moduli = plan.encoding.moduli
        widths = est[name].register_widths
        assert len(widths) == len(moduli)
        for m, w in zip(moduli, widths):
            n = (m - 1).bit_length() - 1 if (m - 1) & (m - 2) == 0 else max(m.bit_length() - 1, 1)
            assert w <= n + 1, (name, m, w)  # a channel register never grows past n+1 bits
            assert (m - 1).bit_length() <= w  # and holds every residue
        s = cnn[2][name]
        assert est[name].register_bits == s["n_out"] * sum(widths)
    # the line buffer holds residues: n_mod residues per element, each in the widest residue's bits (residue_t)
    c2 = cnn[2]["c2"]
    moduli = _layer(rns_hm, "c2").get_attr("arith_plan").encoding.moduli
    residue_bits = len(moduli) * max((m - 1).bit_length() for m in moduli)
    assert est["c2"].line_buffer_bits == (c2["filt_h"] - 1) * c2["in_width"] * c2["n_chan"] * residue_bits
    assert 35 in _layer(rns_hm, "out").get_attr("arith_plan").encoding.moduli
    assert any("modulus 35 reduces with Barrett" in n for n in est["out"].notes)


def test_unit_costs():
    assert estimate.bram36(72, 512) == 1 and estimate.bram36(36, 1024) == 1 and estimate.bram36(73, 512) == 2
    assert estimate.bram36(1, 40000) == 2
    assert estimate.memory(8, 64) == (8.0, 0)  # 64-deep: distributed ROM, one LUT per bit
    assert estimate.memory(8, estimate.BRAM_MIN_DEPTH)[1] == 1
    assert estimate.multiplier(8, 8) == (32.0, 0) and estimate.multiplier(16, 16) == (0.0, 1)
    assert estimate.csd_digits(7) == 2 and estimate.csd_digits(0b1011) == 3 and estimate.csd_digits(0) == 0


# ----------------------------------------------------------------------------- boards


def test_board_resources(catalogue):
    zcu = boards.load_board("zcu104")
    assert zcu.family == "zynqmp" and zcu.part == "xczu7ev-ffvc1156-2-e"
    assert zcu.board_part == "xilinx.com:zcu104:part0:1.1" and zcu.interface == "axi-stream-dma"
    assert zcu.resources.as_dict() == {"lut": 230400, "ff": 460800, "bram36": 312, "dsp": 1728, "uram": 96}
    assert boards.load_board("pynq-z2").resources.as_dict() == {"lut": 53200, "ff": 106400, "bram36": 140,
                                                                "dsp": 220, "uram": 0}
    assert boards.load_board("arty-a7-35t").resources.lut == 20800


ARTIX_PINS = ("pins:\n  clock: {port: CLK100MHZ, pin: E3, period_ns: 10.0}\n"
              "  reset: {port: ck_rst, pin: C2, active_low: true}\n  uart_rx: {port: uart_txd_in, pin: A9}\n"
              "  uart_tx: {port: uart_rxd_out, pin: D10}\n")


@pytest.mark.parametrize("text, words", [
    ("resources:\n  lut: -5\n  ff: 1\n  bram36: 1\n  dsp: 1\n", [":8: resources.lut:", "non-negative"]),
    ("resources:\n  lut: 1\n  ff: many\n  bram36: 1\n  dsp: 1\n", [":9: resources.ff:", "'many'"]),
    ("resources:\n  lut: 1\n  ff: 1\n  dsp: 1\n", [":7: resources:", "bram36"]),
    ("resources:\n  lut: 1\n  ff: 1\n  bram36: 1\n  dsp: 1\n  luts: 3\n", [":12: resources.luts:", "unknown"]),
    ("resources: 53200\n", [":7: resources:", "mapping"]),
])
def test_board_resources_errors(tmp_path, text, words):
    head = ("name: b\nfamily: zynq7000\npart: xc7z020clg400-1\nclock_period_ns: 10\ninterface: axi-stream-dma\n"
            "board_part: a:b:c:1\n")
    (tmp_path / "b.yaml").write_text(head + text)
    with pytest.raises(boards.ConfigError) as info:
        boards.read_board_file(tmp_path / "b.yaml")
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_board_without_resources_is_valid(tmp_path):
    (tmp_path / "b.yaml").write_text("name: b\nfamily: artix7\npart: xc7a35ticsg324-1L\nclock_period_ns: 10\n"
                                     "interface: uart\n" + ARTIX_PINS)
    assert boards.read_board_file(tmp_path / "b.yaml").resources is None


# ----------------------------------------------------------------------------- report and --fit (CLI)


@pytest.fixture(scope="module")
def stream_prj(cnn, tmp_path_factory):
    out = tmp_path_factory.mktemp("prj") / "prj"
    assert main(["convert", str(cnn[0]), "--backend", "bitshift", "--board", "pynq-z2", "--io-type", "io_stream",
                 "-o", str(out)]) == 0
    return out


def test_report_table_json_and_budget(stream_prj, capsys, catalogue):
    rc, out, err = _run(capsys, "report", stream_prj)
    assert rc == 0, err
    assert "resource estimate, io_stream" in out and "not synthesis" in out
    assert "pynq-z2 (xc7z020clg400-1): LUT" in out and "warning" not in out  # recorded board, fits
    rows = {r["layer"]: r for r in json.loads((stream_prj / "report.json").read_text())}
    assert set(rows) == {"c1", "c2", "out"}
    keys = {"strategy", "reuse_factor", "units", "line_buffer_bits", "rom_bits", "register_bits", "register_widths",
            "lut", "ff", "bram36", "dsp"}
    for row in rows.values():
        assert keys <= set(row["resources"])
    doc = json.loads((stream_prj / "estimate.json").read_text())
    assert {"note", "layers", "totals", "budget", "utilisation", "warnings", "board"} <= set(doc)
    assert doc["board"] == "pynq-z2" and doc["budget"]["lut"] == 53200 and doc["warnings"] == []
    assert doc["totals"]["lut"] == sum(e["lut"] for e in doc["layers"])
    table = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert table["total"][1] == f"{doc['totals']['lut']:,}"

    # over budget: a warning naming the resource and the largest layer, exit 0
    rc, out, err = _run(capsys, "report", stream_prj, "--board", "small")
    assert rc == 0, err
    doc = json.loads((stream_prj / "estimate.json").read_text())
    largest = max(doc["layers"], key=lambda e: e["lut"])
    warning = next(line for line in out.splitlines() if line.startswith("warning: estimate exceeds small"))
    assert f"LUT budget: {doc['totals']['lut']:,} > {SMALL['lut']:,}; largest: {largest['layer']} " in warning
    assert doc["warnings"] and doc["over_budget"][0]["layers"][0]["layer"] == largest["layer"]


def test_report_unknown_board(stream_prj, capsys):
    rc, out, err = _run(capsys, "report", stream_prj, "--board", "nope")
    assert rc == 2 and "unknown board 'nope'" in err and len(err.strip().splitlines()) == 1


def test_fit_picks_valid_reuse_factors_that_fit(cnn, tmp_path, capsys, catalogue):
    shapes = cnn[2]
    cfg = tmp_path / "hls.yml"
    cfg.write_text("LayerName:\n  out:\n    ReuseFactor: 15\n    Strategy: Resource\n")  # the user's own: kept
    prj = tmp_path / "prj"
    rc, out, err = _run(capsys, "convert", cnn[0], "--backend", "bitshift", "--board", "small", "--io-type",
                        "io_stream", "--config", cfg, "-o", prj, "--fit", "small")
    assert rc == 0, err
    assert "--fit small" in out and "c1" in out
    fit_err = err
    meta = json.loads((prj / "arith4ml.json").read_text())
    layers = meta["user_config"]["LayerName"]
    assert layers["out"] == {"ReuseFactor": 15, "Strategy": "Resource"}
    assert meta["fit"]["board"] == "small" and meta["fit"]["fixed"] == ["out"]
    folded = 0
    for name in ("c1", "c2"):
        r = layers[name]["ReuseFactor"]
        assert r in valid_reuse_factors(shapes[name]["n_in"], shapes[name]["n_out"])
        assert layers[name]["Strategy"].lower() == ("resource" if r > 1 else "latency")
        folded += r > 1
    assert folded, "the small board needs some folding"
    rc, out, err = _run(capsys, "report", prj)
    assert rc == 0, err
    rows = {r["layer"]: r["resources"] for r in json.loads((prj / "report.json").read_text())}
    for name in ("c1", "c2", "out"):  # the project was written with the chosen values
        r = layers[name]["ReuseFactor"]
        assert rows[name]["reuse_factor"] == r
        if r > 1:
            assert rows[name]["strategy"] == "resource"
            assert rows[name]["units"] == shapes[name]["n_in"] * shapes[name]["n_out"] // r
    doc = json.loads((prj / "estimate.json").read_text())
    budget = {k: int(v * estimate.FIT_TARGET) for k, v in SMALL.items()}
    fits = all(doc["totals"][k] <= budget[k] for k in budget)
    assert fits == meta["fit"]["fits"]
    assert fits or "no ReuseFactor brings the estimate within" in fit_err
    assert fits and "warning" not in fit_err  # this board's budget can be met


def test_fit_that_cannot_fit_warns(cnn, tmp_path, capsys, catalogue):
    prj = tmp_path / "prj"
    rc, out, err = _run(capsys, "convert", cnn[0], "--backend", "bitshift", "--part", "xc7z020clg400-1", "-o", prj,
                        "--fit", "tiny")
    assert rc == 0, err
    assert "warning: --fit tiny: no ReuseFactor brings the estimate within 80% of xc7z020clg400-1: LUT" in err
    meta = json.loads((prj / "arith4ml.json").read_text())
    assert meta["fit"]["fits"] is False and meta["board"] is None
    for name in ("c1", "c2", "out"):  # folded as far as it helps
        assert meta["fit"]["reuse_factors"][name] > 1
    rc, out, err = _run(capsys, "report", prj)  # the --fit board is the one to compare with
    assert rc == 0 and "warning: estimate exceeds tiny (xc7z020clg400-1) LUT budget" in out

    def strict(name):
        raise AssertionError(f"estimate.json holds {name}, which is not JSON")

    doc = json.loads((prj / "estimate.json").read_text(), parse_constant=strict)
    assert doc["board"] == "tiny" and doc["warnings"][0].startswith("warning: estimate exceeds tiny")


@pytest.mark.parametrize("board, words", [("nope", ["unknown board 'nope'"]),
                                          ("../x", ["contains a path"])])
def test_fit_bad_board(cnn, tmp_path, capsys, board, words):
    rc, out, err = _run(capsys, "convert", cnn[0], "--backend", "bitshift", "--board", "pynq-z2",
                        "-o", tmp_path / "prj", "--fit", board)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    for w in words:
        assert w in err
    assert not (tmp_path / "prj").exists()


def test_fit_board_without_resources(cnn, tmp_path, capsys, catalogue):
    (catalogue / "bare.yaml").write_text("name: bare\nfamily: artix7\npart: xc7a35ticsg324-1L\nclock_period_ns: 10\n"
                                         "interface: uart\n" + ARTIX_PINS)
    rc, out, err = _run(capsys, "convert", cnn[0], "--backend", "bitshift", "--board", "pynq-z2",
                        "-o", tmp_path / "prj", "--fit", "bare")
    assert rc == 2 and "--fit bare" in err and "no resources" in err
    assert not (tmp_path / "prj").exists()


@pytest.mark.parametrize("quantizer, arithmetic, group", [("bits", "mult", 1), ("ternary", "nk", 4)])
def test_mult_and_nk_fold_units_and_monotone(tmp_path, quantizer, arithmetic, group):
    """Dense layers of the mult and (4,4) nk kernels: units = fold units x n_out / R (nk folds whole groups of 4
    inputs), and LUT/FF/DSP never grow with R."""
    from tests import zoo

    model = zoo.mlp(3, quantizer, widths=(16, 12, 4), prune=0.0)
    extra = {"Arithmetic": arithmetic, **({"NK": [4, 4]} if arithmetic == "nk" else {})}
    hm = zoo.convert(model, "Bitshift", tmp_path, layer_config={"d0": extra, "out": extra}, compile=False)
    for name in ("d0", "out"):
        n_in, n_out = model.get_layer(name).get_weights()[0].shape
        n_units = -(-n_in // group)
        layer = _layer(hm, name)
        assert layer.get_attr("arith_plan").kind == arithmetic
        previous = None
        for r in valid_reuse_factors(n_units, n_out)[1:]:
            e = estimate.layer_estimate(layer, "io_parallel", "resource", r)
            assert e.units == n_units * n_out // r, (name, r)
            if previous is not None:
                assert all(e.get(res) <= previous.get(res) for res in ("lut", "ff", "dsp")), (name, r)
            previous = e
