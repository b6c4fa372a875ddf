"""``arith4ml train``: tiny configs write model, metrics JSON and PNG; bad input exits 2, one line, no output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

TINY = """\
seed: 0
data:
  name: digits
  subset: {n_train: 120, n_test: 60}
model:
  builder: mlp
  hidden: [8]
  quantizer: {name: pot, bits: 4}
train: {epochs: 2, batch_size: 32, learning_rate: 0.01}
regularizer: {type: residue, moduli: [7, 8, 9], strength: 1.0e-4}
pruning: {target_sparsity: 0.5, begin_epoch: 0, end_epoch: 2}
"""


def _cli(args, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "toolchain", "train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _write(tmp_path, text, name="c.yml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_train_tiny_writes_outputs(tmp_path):
    cfg = _write(tmp_path, TINY)
    out = tmp_path / "run"
    r = _cli([str(cfg), "-o", str(out), "-q"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == {"model.h5", "metrics.json", "training.png", "arith4ml_train.json",
                                               "test_data.npz", ".arith4ml-manifest.json"}
    meta = json.loads((out / "arith4ml_train.json").read_text())
    with np.load(out / "test_data.npz") as split:
        assert len(split["x_test"]) == len(split["y_test"]) == meta["data"]["n_test"]
    m = json.loads((out / "metrics.json").read_text())
    for key in ("accuracy", "residue_sparsity", "weight_sparsity", "bits_per_weight", "history", "pot_pruning"):
        assert key in m
    assert set(m["residue_sparsity"]["per_modulus"]) == {"7", "8", "9"}
    assert m["weight_sparsity"] >= 0.5 and m["bits_per_weight"] == 4.0
    assert (out / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.")]  # no temp dirs left
    import toolchain.quant as tq

    model = tq.load_model(out / "model.h5")
    assert model.get_layer("fc1").kernel_quantizer_internal.zero_margin > 0.5  # pruning state saved


def test_train_ternary_post_and_essop_in_process(tmp_path):
    from toolchain import train

    cfg = _write(tmp_path, """\
        data: {name: synthetic, n_train: 64, n_test: 32, n_features: 16, n_classes: 4}
        model: {builder: mlp, hidden: [8], quantizer: {name: bits, bits: 6}, layers: {out: {name: nk_ternary}}}
        train: {epochs: 1}
        regularizer: {moduli: [7, 8, 9], strength: 1.0e-4, mode: post, epochs: 1}
        """)
    m = train.train_from_config(train.load_config(cfg), tmp_path / "a", verbose=0)
    assert "residue_post" in m and m["layers"]["out"]["bits_per_weight"] == 1.0
    cfg = _write(tmp_path, """\
        data: {name: synthetic, n_train: 32, n_test: 16, n_features: 16, n_classes: 4}
        model: {builder: mlp, hidden: [8]}
        train: {epochs: 1, batch_size: 16}
        essop: {stream_length: 16, lr_shift: -3}
        """, "e.yml")
    m = train.train_from_config(train.load_config(cfg), tmp_path / "e", verbose=0)
    assert m["essop"]["stream_length"] == 16 and (tmp_path / "e" / "model.h5").exists()
    first = (tmp_path / "e" / "metrics.json").stat().st_mtime_ns
    train.train_from_config(train.load_config(cfg), tmp_path / "e", verbose=0)  # its own output: replaced
    assert (tmp_path / "e" / "metrics.json").stat().st_mtime_ns > first
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == [".arith4ml-manifest.json", "arith4ml_train.json",
                                                                   "metrics.json", "model.h5", "test_data.npz",
                                                                   "training.png"]


BAD = [
    ("model:\n  builder: mlp\n  quantizer: {name: log2, bits: 4}\n", "c.yml:3", "log2"),
    ("regularizer:\n  moduli: [7, 8.5, 9]\n", "c.yml:2", "8.5"),
    ("train:\n  epochs: 1\n  epoch_count: 3\n", "c.yml:3", "epoch_count"),
    ("seed: 0\nmodle: {builder: mlp}\n", "c.yml:2", "modle"),
    ("model:\n  quantizer:\n    name: pot\n    bitz: 4\n", "c.yml:4", "bitz"),
    ("regularizer:\n  moduli: [6, 8, 9]\n", "c.yml:2", "coprime"),
    ("data: {name: npz, path: missing_arrays.npz}\n", "missing_arrays.npz", "x_test"),
    ("data: {name: npz, path: nowhere.npz}\n", "nowhere.npz", "does not exist"),
    ("model: [1, 2\n", "c.yml:", "YAML"),
    ("model:\n  quantizer: {name: pot, bits: 4.5}\n", "c.yml:2", "4.5"),
    ("model:\n  builder: mlp\n  quantizer: ternary\nregularizer:\n  moduli: [7, 8, 9]\n", "c.yml:4",
     "integer weight codes"),
    ("train:\n  learning_rate: -0.1\n", "c.yml:2", "learning_rate"),
]


@pytest.mark.parametrize("text,where,what", BAD, ids=[b[2] for b in BAD])
def test_bad_input_exit_2(tmp_path, text, where, what):
    np.savez(tmp_path / "missing_arrays.npz", x_train=np.zeros((2, 3)), y_train=np.zeros(2, int))
    cfg = _write(tmp_path, text)
    out = tmp_path / "out"
    r = _cli([str(cfg), "-o", str(out)], tmp_path)
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert where in lines[0] and what in lines[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["c.yml", "missing_arrays.npz"])


def test_refuses_to_replace_a_directory_it_did_not_write(tmp_path):
    cfg = _write(tmp_path, "data: {name: synthetic, n_train: 16, n_test: 8}\ntrain: {epochs: 1}\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    r = _cli([str(cfg), "-o", str(out), "-q"], tmp_path)
    assert r.returncode == 2 and "not written by" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yml", "out"]


def test_examples_are_valid_configs():
    from toolchain import train

    files = sorted((ROOT / "examples").glob("train_*.yml"))
    assert any(f.name == "train_pot_mlp.yml" for f in files)
    for f in files:
        cfg = train.load_config(f)  # every check of the config file, cross-section ones included
        assert cfg.path == str(f) and cfg.model.builder in ("mlp", "cnn", "resnet8")


def test_builders_shapes_and_skip_connections():
    import tensorflow as tf

    from toolchain import models
    from toolchain.errors import ConfigError

    r = models.build_resnet8((8, 8, 1), 10, quantizer={"name": "pot", "bits": 5, "max_exp": 1})
    assert sum(isinstance(lyr, tf.keras.layers.Add) for lyr in r.layers) == 3
    assert r.output_shape == (None, 10)
    c = models.build_cnn((8, 8, 1), 10, quantizer={"default": {"name": "bits", "bits": 8}, "out": None})
    assert type(c.get_layer("conv1")).__name__ == "QConv2D" and type(c.get_layer("out")).__name__ == "Dense"
    with pytest.raises(ConfigError, match="fc9"):
        models.build_mlp((64,), 10, quantizer={"fc9": {"name": "pot"}})
    with pytest.raises(ConfigError, match="image"):
        models.build_cnn((64,), 10)
