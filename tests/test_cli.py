"""``arith4ml convert / csim / report`` end to end, and one clear line (exit 2) for every kind of bad input.

End-to-end runs use a tiny QKeras MLP (8-16-4: a ``quantized_po2(4,1)`` layer, a ReLU, a ternary layer
with exact zero weights) saved to .h5.  The Bitshift project goes through the real ``arith4ml`` console
entry (``python -m toolchain`` in a subprocess); the RNS project and the error cases call
``toolchain.cli.main`` in-process.  Expected values (sparsity, term counts, residue sparsity, bits
missing) are computed here from the Keras model's quantized weights, never read back from the tool.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from toolchain.cli import main

pytestmark = pytest.mark.xdist_group("cli")

ROOT = Path(__file__).resolve().parents[1]
N_IN, N_HID, N_OUT = 8, 16, 4
RNS_MODULI = [31, 32, 33]  # given for fc2 through --config


# ----------------------------------------------------------------------------- helpers

def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("ARITH4ML_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "toolchain", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _run(capsys, *args) -> tuple[int, str, str]:
    """In-process ``arith4ml ARGS``: (exit code, stdout, stderr)."""
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_error(err: str, command: str) -> str:
    """The single stderr line of a failed command (asserts there is exactly one, and no traceback)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    assert lines[0].startswith(f"arith4ml {command}: error: "), lines[0]
    return lines[0]


def _leftovers(parent: Path, name: str) -> list[str]:
    """Entries in ``parent`` that a failed write to ``parent/name`` could have left (the dir or staging dirs)."""
    return sorted(p.name for p in parent.iterdir() if p.name == name or p.name.startswith(f".{name}."))


def _int_codes(w: np.ndarray) -> np.ndarray:
    """Integer codes of exactly representable weights, with the fewest fractional bits."""
    for frac in range(0, 41):
        scaled = w * 2.0**frac
        if np.all(scaled == np.round(scaled)):
            return scaled.astype(np.int64)
    raise AssertionError("weights are not on a fixed-point grid")


def _max_abs_dot(codes: np.ndarray, x_lo: int, x_hi: int) -> int:
    """max |sum_i x_i w_i| over x_i in [x_lo, x_hi], per column, then the max."""
    pos = np.where(codes > 0, codes, 0).sum(axis=0).astype(object)
    neg = np.where(codes < 0, codes, 0).sum(axis=0).astype(object)
    hi = pos * x_hi + neg * x_lo
    lo = pos * x_lo + neg * x_hi
    return max(max(abs(int(v)) for v in hi), max(abs(int(v)) for v in lo))


def _save_mlp(path: Path, seed: int = 0):
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_po2, quantized_relu, ternary

    rng = np.random.default_rng(seed)
    inp = tf.keras.Input((N_IN,), name="x")
    x = QDense(N_HID, kernel_quantizer=quantized_po2(4, 1), bias_quantizer=quantized_bits(8, 3, alpha=1),
               name="fc1")(inp)
    x = QActivation(quantized_relu(6, 2), name="relu1")(x)
    out = QDense(N_OUT, kernel_quantizer=ternary(alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1), name="fc2")(x)
    model = tf.keras.Model(inp, out)
    for layer in (model.get_layer("fc1"), model.get_layer("fc2")):
        k, b = layer.get_weights()
        k = rng.normal(0, 0.8, k.shape).astype("float32")
        layer.set_weights([k, rng.normal(0, 0.5, b.shape).astype("float32")])
    model.save(path)
    quantized = {name: np.asarray(model.get_layer(name).kernel_quantizer_internal(model.get_layer(name).kernel),
                                  dtype=np.float64) for name in ("fc1", "fc2")}
    return quantized


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """(path of the saved .h5, {layer: quantized Keras kernel})."""
    d = tmp_path_factory.mktemp("model")
    quantized = _save_mlp(d / "mlp.h5")
    assert np.any(quantized["fc2"] == 0) and np.any(quantized["fc2"] != 0)  # the ternary layer has real zeros
    return d / "mlp.h5", quantized


@pytest.fixture(scope="module")
def bitshift_prj(mlp, tmp_path_factory):
    """A Bitshift project written by the console entry point (subprocess)."""
    d = tmp_path_factory.mktemp("bitshift")
    r = _cli("convert", str(mlp[0]), "--backend", "bitshift", "--board", "pynq-z2", "-o", "prj", cwd=d)
    return d / "prj", r


@pytest.fixture(scope="module")
def rns_prj(mlp, tmp_path_factory):
    """An RNS project written in-process, fc2's moduli given through --config."""
    d = tmp_path_factory.mktemp("rns")
    cfg = d / "hls.yml"
    cfg.write_text(f"LayerName:\n  fc2:\n    Moduli: {RNS_MODULI}\n")
    rc = main(["convert", str(mlp[0]), "--backend", "rns", "--board", "arty-a7-35t", "-o", str(d / "prj"),
               "--config", str(cfg)])
    return d / "prj", rc


# ----------------------------------------------------------------------------- end to end

CSIM_LINE = re.compile(r"(\d+) samples, (\d+) outputs: (\d+) bit-exact vs reference \(([\d.]+)%\), "
                       r"max \|diff\| (\S+)\nvs Keras: (\d+) of \d+ outputs equal \([\d.]+%\), max \|diff\| \S+, "
                       r"argmax agreement ([\d.]+)%")


def _check_csim_line(out: str, n: int) -> None:
    m = CSIM_LINE.search(out)
    assert m, out
    samples, outputs, exact = (int(m.group(i)) for i in (1, 2, 3))
    assert samples == n and outputs == n * N_OUT and exact == outputs
    assert float(m.group(4)) == 100.0 and float(m.group(5)) == 0.0
    assert float(m.group(7)) >= 95.0  # raw inputs in the input type's range: Keras and C-sim pick the same class


def test_bitshift_convert_writes_a_project(bitshift_prj):
    prj, r = bitshift_prj
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "fc1" in r.stdout and "fc2" in r.stdout and "Bitshift" in r.stdout
    meta = json.loads((prj / "arith4ml.json").read_text())
    assert meta["tool"] == "arith4ml" and meta["backend"] == "Bitshift" and meta["part"] == "xc7z020clg400-1"
    assert (prj / "firmware" / "myproject.cpp").is_file()
    assert _leftovers(prj.parent, "prj") == ["prj"]  # no staging directory left beside it


@pytest.mark.slow
def test_bitshift_csim_subprocess(bitshift_prj):
    prj, r = bitshift_prj
    assert r.returncode == 0, r.stderr
    c = _cli("csim", str(prj), "-n", "200", cwd=prj.parent)
    assert c.returncode == 0, c.stderr
    _check_csim_line(c.stdout, 200)


def test_bitshift_report_matches_the_keras_weights(bitshift_prj, mlp, capsys):
    prj, r = bitshift_prj
    assert r.returncode == 0, r.stderr
    (prj / "report.json").unlink(missing_ok=True)
    rc, out, err = _run(capsys, "report", prj)
    assert rc == 0, err
    rows = {row["layer"]: row for row in json.loads((prj / "report.json").read_text())}
    assert set(rows) == {"fc1", "fc2"}
    for name, w in mlp[1].items():
        row = rows[name]
        assert row["weight_sparsity"] == pytest.approx(float(np.mean(w == 0)), abs=1e-12)
        assert row["dense_macs"] == w.size
        assert row["terms"] == int(np.count_nonzero(w))  # one shift-add per non-zero PoT weight
        assert row["multiplications"] == 0 and row["arithmetic"] == "shift"
        assert row["moduli"] is None
    assert rows["fc2"]["weight_sparsity"] > 0  # the ternary layer really is sparse
    table = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"fc1", "fc2"} <= table


def test_rns_convert(rns_prj):
    prj, rc = rns_prj
    assert rc == 0
    meta = json.loads((prj / "arith4ml.json").read_text())
    assert meta["backend"] == "RNS" and meta["part"] == "xc7a35ticsg324-1L"
    assert meta["user_config"] == {"LayerName": {"fc2": {"Moduli": RNS_MODULI}}}


@pytest.mark.slow
def test_rns_csim_with_data_file(rns_prj, tmp_path, capsys):
    prj, rc = rns_prj
    assert rc == 0
    x = np.random.default_rng(5).normal(0, 2.0, (37, N_IN)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x_test=x, y_test=np.zeros(37))
    rc, out, err = _run(capsys, "csim", prj, "--data", tmp_path / "d.npz", "-n", 1000)
    assert rc == 0, err
    _check_csim_line(out, 37)  # all 37 samples of the file, not -n


def test_rns_report_residue_sparsity(rns_prj, mlp, capsys):
    prj, rc = rns_prj
    assert rc == 0
    rc, out, err = _run(capsys, "report", prj)
    assert rc == 0, err
    rows = {row["layer"]: row for row in json.loads((prj / "report.json").read_text())}
    assert set(rows) == {"fc1", "fc2"}
    assert rows["fc2"]["moduli"] == RNS_MODULI
    # fc1's moduli were chosen by the backend: M must cover the worst-case dot product of the
    # default ap_fixed<16,6> input (codes -2**15 .. 2**15-1) with fc1's integer weight codes
    fc1_codes = _int_codes(mlp[1]["fc1"])
    assert math.prod(rows["fc1"]["moduli"]) > 2 * _max_abs_dot(fc1_codes, -2**15, 2**15 - 1)
    for name, w in mlp[1].items():
        row, codes = rows[name], _int_codes(w)
        assert row["arithmetic"] == "rns"
        assert row["weight_sparsity"] == pytest.approx(float(np.mean(w == 0)), abs=1e-12)
        assert set(row["residue_sparsity"]) - {"total"} == {str(m) for m in row["moduli"]}
        for m in row["moduli"]:
            assert row["residue_sparsity"][str(m)] == pytest.approx(float(np.mean(codes % m == 0)), abs=1e-12)
        if "total" in row["residue_sparsity"]:  # over all (weight, modulus) pairs
            total = np.mean([codes % m == 0 for m in row["moduli"]])
            assert row["residue_sparsity"]["total"] == pytest.approx(float(total), abs=1e-12)
        # one modular product per (weight, modulus) whose residue is not zero
        assert row["terms"] == sum(int(np.count_nonzero(codes % m)) for m in row["moduli"])
    lines = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert "fc1" in lines and "fc2" in lines


def test_force_replaces_only_an_arith4ml_project(bitshift_prj, mlp, tmp_path, capsys):
    prj, r = bitshift_prj
    assert r.returncode == 0, r.stderr
    out = tmp_path / "prj"
    shutil.copytree(prj, out)
    (out / "stale.txt").write_text("from the previous run")
    rc, _, err = _run(capsys, "convert", mlp[0], "--backend", "rns", "--board", "pynq-z2", "-o", out)
    line = _one_error(err, "convert")
    assert rc == 2 and str(out.name) in line and "--force" in line
    assert (out / "stale.txt").is_file()
    rc, _, err = _run(capsys, "convert", mlp[0], "--backend", "rns", "--board", "pynq-z2", "-o", out, "--force")
    line = _one_error(err, "convert")  # a file the user put in the project is never deleted, even with --force
    assert rc == 2 and "'stale.txt'" in line and "did not write" in line
    assert (out / "stale.txt").read_text() == "from the previous run"
    (out / "stale.txt").unlink()
    rc, _, err = _run(capsys, "convert", mlp[0], "--backend", "rns", "--board", "pynq-z2", "-o", out, "--force")
    assert rc == 0, err
    assert json.loads((out / "arith4ml.json").read_text())["backend"] == "RNS"
    assert _leftovers(tmp_path, "prj") == ["prj"]


# ----------------------------------------------------------------------------- errors: one line, exit 2

@pytest.mark.parametrize("marker", [None, '{"tool": "something else"}', "not json"])
def test_force_never_deletes_a_foreign_directory(mlp, tmp_path, capsys, marker):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    if marker is not None:
        (out / "arith4ml.json").write_text(marker)
    rc, _, err = _run(capsys, "convert", mlp[0], "--backend", "bitshift", "--board", "pynq-z2", "-o", out, "--force")
    line = _one_error(err, "convert")
    assert rc == 2 and "mine" in line and "arith4ml" in line
    assert (out / "thesis.tex").read_text() == "precious"
    assert _leftovers(tmp_path, "mine") == ["mine"]


def test_unsupported_layer_subprocess_one_line(tmp_path):
    """Through the console entry: one line on the real stderr (no TensorFlow/Keras chatter), exit 2."""
    import tensorflow as tf

    inp = tf.keras.Input((N_IN,))
    x = tf.keras.layers.GaussianNoise(0.1, name="noisy")(inp)
    tf.keras.Model(inp, tf.keras.layers.Dense(3, name="fc")(x)).save(tmp_path / "noise.h5")
    r = _cli("convert", "noise.h5", "--backend", "bitshift", "--board", "pynq-z2", "-o", "out", cwd=tmp_path)
    assert r.returncode == 2
    line = _one_error(r.stderr, "convert")
    assert "noisy" in line and "GaussianNoise" in line and "Dense" in line  # names it, its type, what is supported
    assert _leftovers(tmp_path, "out") == []


def test_layer_the_backend_rejects(tmp_path, capsys):
    import tensorflow as tf

    inp = tf.keras.Input((4, N_IN))
    x = tf.keras.layers.LSTM(4, name="rec")(inp)
    tf.keras.Model(inp, tf.keras.layers.Dense(3, name="fc")(x)).save(tmp_path / "lstm.h5")
    rc, _, err = _run(capsys, "convert", tmp_path / "lstm.h5", "--backend", "rns", "--board", "pynq-z2",
                      "-o", tmp_path / "out")
    line = _one_error(err, "convert")
    assert rc == 2 and "rec" in line and "LSTM" in line and "Dense" in line
    assert _leftovers(tmp_path, "out") == []


@pytest.mark.parametrize("where, quantizer", [("kernel", "binary"), ("activation", "quantized_hswish")])
def test_quantizer_the_backend_cannot_map(tmp_path, capsys, where, quantizer):
    """QKeras 'binary' kernels reach hls4ml as an XNOR 0/1 code, hls4ml has no quantized_hswish activation:
    both refused, naming the layer and the quantizer."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, binary, quantized_po2

    inp = tf.keras.Input((N_IN,))
    if where == "kernel":
        out = QDense(3, kernel_quantizer=binary(), name="odd_layer")(inp)
    else:
        x = QDense(3, kernel_quantizer=quantized_po2(4, 1), name="fc")(inp)
        out = QActivation(f"{quantizer}()", name="odd_layer")(x)
    tf.keras.Model(inp, out).save(tmp_path / "q.h5")
    rc, _, err = _run(capsys, "convert", tmp_path / "q.h5", "--backend", "bitshift", "--board", "pynq-z2",
                      "-o", tmp_path / "out")
    line = _one_error(err, "convert")
    assert rc == 2 and "odd_layer" in line and quantizer in line
    assert _leftovers(tmp_path, "out") == []


def test_moduli_not_coprime(mlp, tmp_path, capsys):
    cfg = tmp_path / "hls.yml"
    cfg.write_text("Model:\n  ReuseFactor: 1\nLayerName:\n  fc1:\n    Moduli: [6, 9, 35]\n")
    rc, _, err = _run(capsys, "convert", mlp[0], "--backend", "rns", "--board", "pynq-z2", "-o", tmp_path / "out",
                      "--config", cfg)
    line = _one_error(err, "convert")
    assert rc == 2 and "fc1" in line and "coprime" in line and "hls.yml:5: LayerName.fc1.Moduli:" in line
    assert _leftovers(tmp_path, "out") == []


def test_moduli_too_small_say_the_bits_needed(mlp, tmp_path, capsys):
    cfg = tmp_path / "hls.yml"
    cfg.write_text("LayerName:\n  fc1:\n    Moduli: [3, 4, 5]\n")
    out = tmp_path / "new" / "deeper" / "out"  # parents that a failed convert must not leave behind
    rc, _, err = _run(capsys, "convert", mlp[0], "--backend", "rns", "--board", "pynq-z2", "-o", out, "--config", cfg)
    line = _one_error(err, "convert")
    assert rc == 2 and "fc1" in line
    max_abs = _max_abs_dot(_int_codes(mlp[1]["fc1"]), -2**15, 2**15 - 1)  # default ap_fixed<16,6> input
    need = (2 * max_abs).bit_length()
    missing = next(k for k in range(64) if 60 * 2**k > 2 * max_abs)
    assert re.search(rf"\b{need} bits\b", line), line
    assert re.search(rf"\b{missing} bits? missing", line), line
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("text, words", [
    ("Modle:\n  ReuseFactor: 1\n", ["Modle", "hls.yml:1: Modle:", "LayerName"]),
    ("LayerName:\n  fc1:\n    Modul: [7, 8, 9]\n", ["Modul", "hls.yml:3: LayerName.fc1.Modul:", "Moduli"]),
    ("LayerName:\n  fc9:\n    Moduli: [7, 8, 9]\n", ["fc9", "hls.yml:2: LayerName.fc9:", "fc1"]),
    ("LayerName:\n  fc1:\n    Precision: {result: 'fixd<8,3>'}\n",
     ["fixd<8,3>", "hls.yml:3: LayerName.fc1.Precision.result:"]),
    ("LayerName:\n  fc1:\n    Precision: {result: fixed<8,3>}\n",
     ["fixed<8", "hls.yml:3: LayerName.fc1.Precision.result:", "quote"]),
    ("LayerName:\n  fc1:\n    Reverse: crtt\n", ["crtt", "hls.yml:3: LayerName.fc1.Reverse:", "mrc"]),
    ("LayerName:\n  fc1: [1, 2]\n", ["fc1", "hls.yml:2: LayerName.fc1:"]),
    ("- just\n- a list\n", ["hls.yml:1:", "mapping"]),
    (b"LayerName:\n  fc1:\n    Moduli: [7, 8, 9] # \xe9\n", ["hls.yml:3:", "UTF-8"]),
    ("LayerName:\n  fc1: {Moduli: [7, 8\n", ["hls.yml:3:", "YAML"]),
])
def test_bad_config(mlp, tmp_path, capsys, text, words):
    cfg = tmp_path / "hls.yml"
    cfg.write_bytes(text if isinstance(text, bytes) else text.encode())
    rc, _, err = _run(capsys, "convert", mlp[0], "--backend", "rns", "--board", "pynq-z2", "-o", tmp_path / "out",
                      "--config", cfg)
    line = _one_error(err, "convert")
    assert rc == 2 and "hls.yml" in line
    for w in words:
        assert w in line, (w, line)
    assert _leftovers(tmp_path, "out") == []


def test_unknown_board_lists_the_known_ones(mlp, tmp_path, capsys):
    rc, _, err = _run(capsys, "convert", mlp[0], "--backend", "bitshift", "--board", "zedbaord", "-o", tmp_path / "o")
    line = _one_error(err, "convert")
    assert rc == 2 and "zedbaord" in line
    for board in sorted(p.stem for p in (ROOT / "boards").glob("*.yaml")):
        assert board in line
    assert _leftovers(tmp_path, "o") == []


@pytest.mark.parametrize("content", [None, b"this is not HDF5", b""])
def test_missing_or_unreadable_model(tmp_path, capsys, content):
    model = tmp_path / "model.h5"
    if content is not None:
        model.write_bytes(content)
    rc, _, err = _run(capsys, "convert", model, "--backend", "rns", "--board", "pynq-z2", "-o", tmp_path / "o")
    line = _one_error(err, "convert")
    assert rc == 2 and "model.h5" in line
    assert _leftovers(tmp_path, "o") == []


@pytest.mark.parametrize("name", ["nope.yml", "a_directory.yml"])
def test_missing_config_file(mlp, tmp_path, capsys, name):
    (tmp_path / "a_directory.yml").mkdir()
    rc, _, err = _run(capsys, "convert", mlp[0], "--backend", "rns", "--board", "pynq-z2", "-o", tmp_path / "o",
                      "--config", tmp_path / name)
    assert rc == 2 and name in _one_error(err, "convert")
    assert _leftovers(tmp_path, "o") == []


LOCATE_YML = """\
Model:
  Moduli: [7, 8, 9]
LayerName:
  fc1:
    Reverse: mrc
    Moduli: [31, 32, 33]
  fc2: {Reverse: crt}
"""


@pytest.mark.parametrize("layer, key, where", [
    ("fc1", "Moduli", "hls.yml:6: LayerName.fc1.Moduli"),  # the layer's own setting
    ("fc2", "Moduli", "hls.yml:2: Model.Moduli"),  # the model-wide one
    (None, "Moduli", "hls.yml:2: Model.Moduli"),
    ("fc2", "NK", "hls.yml:7: LayerName.fc2"),  # not set anywhere: the layer's entry
    ("fc1", None, "hls.yml:4: LayerName.fc1"),
    ("fc3", "NK", None),  # nothing in the file is about it
    (None, None, None),
])
def test_backend_errors_point_at_the_config_line(tmp_path, layer, key, where):
    """project._locate uses the error's layer/key fields, never its text."""
    from toolchain import project
    from toolchain.errors import UnsupportedError

    cfg = tmp_path / "hls.yml"
    cfg.write_text(LOCATE_YML)
    user = project.read_user_config(cfg, "rns")
    exc = UnsupportedError("layer fc9: something about NK and Precision", layer=layer, key=key)  # text misleads
    exc.exit_code = 7
    located = project._locate(user, exc)
    if where is None:
        assert located is exc
        return
    assert type(located) is UnsupportedError and located.exit_code == 7
    assert (located.layer, located.key) == (layer, key)
    assert str(located) == f"{tmp_path / where}: layer fc9: something about NK and Precision"
    assert project._locate(project.validate_user_config(user.data, "rns"), exc) is exc  # no file: nothing to add


def _bad_data(tmp_path: Path, kind: str) -> Path:
    rng = np.random.default_rng(1)
    if kind == "shape":
        np.save(tmp_path / "d.npy", rng.normal(size=(10, N_IN + 1)).astype(np.float32))
    elif kind == "nan":
        x = rng.normal(size=(10, N_IN)).astype(np.float32)
        x[3, 2] = np.nan
        np.save(tmp_path / "d.npy", x)
    elif kind == "inf_npz":
        x = rng.normal(size=(10, N_IN))
        x[7, 0] = -np.inf
        np.savez(tmp_path / "d.npz", x_test=x)
        return tmp_path / "d.npz"
    elif kind == "garbage":
        (tmp_path / "d.npy").write_bytes(b"\x93NUMPY garbage")
    elif kind == "text":
        (tmp_path / "d.npy").write_text("1,2,3\n")
    elif kind == "empty_npz":
        np.savez(tmp_path / "d.npz")
        return tmp_path / "d.npz"
    elif kind == "strings":
        np.save(tmp_path / "d.npy", np.array([["a"] * N_IN] * 3))
    elif kind != "missing":
        raise ValueError(kind)
    return tmp_path / "d.npy"


@pytest.mark.parametrize("kind, words", [
    ("missing", ["does not exist"]), ("shape", ["(9,)", "(8,)"]), ("nan", ["nan", "sample 3"]),
    ("inf_npz", ["inf", "sample 7"]), ("garbage", []), ("text", []), ("empty_npz", []), ("strings", []),
])
def test_csim_bad_data(bitshift_prj, tmp_path, capsys, kind, words):
    prj, r = bitshift_prj
    assert r.returncode == 0, r.stderr
    data = _bad_data(tmp_path, kind)
    rc, out, err = _run(capsys, "csim", prj, "--data", data)
    line = _one_error(err, "csim")
    assert rc == 2 and data.name in line
    for w in words:
        assert w in line, (w, line)
    assert out == ""


@pytest.mark.parametrize("command", ["csim", "report"])
def test_not_a_project(tmp_path, capsys, command):
    (tmp_path / "plain").mkdir()
    for target in (tmp_path / "plain", tmp_path / "absent"):
        rc, _, err = _run(capsys, command, target)
        line = _one_error(err, command)
        assert rc == 2 and target.name in line
    assert not (tmp_path / "plain" / "report.json").exists()


def test_entry_ends_an_interrupted_run_with_130_without_finalizing(tmp_path) -> None:
    """``arith4ml`` (``cli.entry``) exits 130 after an interruption through ``os._exit``, stderr flushed: the
    interpreter's finalization could otherwise abort while TensorFlow threads run (seen once in CI as -6)."""
    import subprocess
    import sys

    code = ("import atexit, sys, toolchain.cli as c\n"
            "atexit.register(lambda: print('finalized', file=sys.stderr))\n"
            "def fake():\n    print('arith4ml: interrupted', file=sys.stderr)\n    return c.EXIT_INTERRUPTED\n"
            "c.main = fake\nc.entry()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130 and proc.stderr == "arith4ml: interrupted\n", (proc.returncode, proc.stderr)
