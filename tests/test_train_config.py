"""toolchain.train_config: typed sections, their defaults, and one ``FILE:LINE: key.path: message`` per bad key."""
from __future__ import annotations

from pathlib import Path

import pytest

from toolchain.arith.essop import DEFAULT_SEED_D, DEFAULT_SEED_X
from toolchain.errors import ConfigError
from toolchain.train_config import METRIC_MODULI, REGULARIZER_STRENGTH, TrainConfig, load_config


def _load(tmp_path, text: str | bytes):
    p = tmp_path / "c.yml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return load_config(p)


def test_empty_file_gives_every_default(tmp_path):
    cfg = _load(tmp_path, "# nothing\n")
    assert cfg == TrainConfig()  # the file adds nothing to the defaults of the dataclasses
    assert cfg.seed == 0 and cfg.data.name == "digits" and cfg.data.view == "flat"
    assert cfg.data.options() == {"view": "flat"}  # every other option: toolchain.data's own default
    assert (cfg.model.builder, cfg.model.quantizer_spec(), cfg.model.builder_options()) == ("mlp", None, {})
    t = cfg.train
    assert (t.epochs, t.batch_size, t.learning_rate, t.optimizer, t.verbose) == (30, 32, 3e-3, "adam", None)
    assert cfg.regularizer is None and cfg.pruning is None and cfg.essop is None
    assert cfg.metric_moduli == METRIC_MODULI
    assert cfg.output_dir() == Path("runs") / "c" and cfg.output_dir("elsewhere") == Path("elsewhere")


def test_section_defaults(tmp_path):
    cfg = _load(tmp_path, "model: {builder: resnet8}\npruning: {}\nregularizer: {moduli: [15, 16, 17]}\n")
    assert cfg.data.view == "image"  # the CNN builders see images unless data.view says otherwise
    p = cfg.pruning
    assert (p.target_sparsity, p.begin_epoch, p.end_epoch, p.power) == (0.5, 0, None, 3.0)
    r = cfg.regularizer
    assert (r.type, r.moduli, r.variant, r.mode, r.epochs, r.learning_rate) == \
        ("residue", (15, 16, 17), "sin2", "in_training", 10, 1e-3)
    assert r.strength == REGULARIZER_STRENGTH["in_training"] and cfg.in_training_regularizer is r
    assert cfg.metric_moduli == (15, 16, 17)
    e = _load(tmp_path, "essop: {}\n").essop
    assert (e.stream_length, e.lr_shift, e.mode) == (64, -4, "essop")
    assert (e.seed_x, e.seed_d) == (DEFAULT_SEED_X, DEFAULT_SEED_D)


def test_regularizer_strength_default_follows_the_mode(tmp_path):
    cfg = _load(tmp_path, "regularizer: {moduli: [7, 8, 9], mode: post}\n")
    assert cfg.regularizer.strength == REGULARIZER_STRENGTH["post"] != REGULARIZER_STRENGTH["in_training"]
    assert cfg.in_training_regularizer is None
    assert _load(tmp_path, "regularizer: {moduli: [7, 8, 9], mode: post, strength: 0}\n").regularizer.strength == 0


def test_given_values_are_kept(tmp_path):
    cfg = _load(tmp_path, """\
seed: 3
output: out/x
data: {name: synthetic, n_train: 10, noise: 0.5, subset: {n_test: 4}}
model: {builder: mlp, hidden: [8, 4], quantizer: pot, layers: {out: {name: bits, bits: 8}}}
train: {epochs: 0, optimizer: sgd, verbose: 2}
metrics: {moduli: [31, 32, 33]}
""")
    assert cfg.seed == 3 and cfg.output_dir() == Path("out/x")
    assert cfg.data.options() == {"view": "flat", "n_train": 10, "noise": 0.5}
    assert cfg.data.subset.n_test == 4 and cfg.data.subset.n_train is None
    assert cfg.model.builder_options() == {"hidden": [8, 4]}
    assert cfg.model.quantizer_spec() == {"out": {"name": "bits", "bits": 8}, "default": "pot"}
    assert (cfg.train.epochs, cfg.train.optimizer, cfg.train.verbose) == (0, "sgd", 2)
    assert cfg.metric_moduli == (31, 32, 33)


BAD = [  # (file, line, key path, words of the message)
    ("train:\n  epochs: 1\n  epoch_count: 3\n", 3, "train.epoch_count", ["unknown key", "epochs, batch_size"]),
    ("seed: 0\nmodle: {}\n", 2, "modle", ["top level", "model"]),
    ("seed: true\n", 1, "seed", ["must be an integer", "True"]),
    ("train: {learning_rate: .inf}\n", 1, "train.learning_rate", ["must be a number"]),
    ("train: {epochs: null}\n", 1, "train.epochs", ["must be an integer", "None"]),
    ("train:\n  batch_size: 0\n", 2, "train.batch_size", ["must be >= 1", "got 0"]),
    ("train:\n  optimizer: rmsprop\n", 2, "train.optimizer", ["rmsprop", "adam, sgd"]),
    ("data: [1]\n", 1, "data", ["must be a mapping with keys name, view"]),
    ("data:\n  name: npz\n", 1, "data", ["needs a path"]),
    ("data:\n  name: digits\n  noise: 0.1\n", 3, "data.noise", ["not an option of data set 'digits'"]),
    ("data:\n  subset:\n    n_train: 1.5\n", 3, "data.subset.n_train", ["must be an integer"]),
    ("model:\n  builder: mlp\n  dense: 8\n", 3, "model.dense", ["options: hidden"]),
    ("model:\n  builder: vgg\n", 2, "model.builder", ["vgg", "mlp, cnn, resnet8"]),
    ("model:\n  layers:\n    out: {name: pot, zero: 1}\n", 3, "model.layers.out.zero", ["unknown key 'zero'"]),
    ("regularizer:\n  strength: 1.0\n", 1, "regularizer", ["needs moduli, e.g. [7, 8, 9]"]),
    ("regularizer:\n  moduli:\n    - 7\n    - 8.5\n", 4, "regularizer.moduli.1", ["8.5", "not an integer"]),
    ("regularizer:\n  moduli: [7, 8, 9]\n  variant: cos\n", 3, "regularizer.variant", ["sin2"]),
    ("regularizer:\n  moduli: [7, 8, 9]\n  epochs: -2\n", 3, "regularizer.epochs", [">= 0", "-2"]),
    ("pruning:\n  begin_epoch: 4\n  end_epoch: 2\n", 3, "pruning.end_epoch", ["(got 4, 2)"]),
    ("essop:\n  seed_d: 65536\n", 2, "essop.seed_d", ["1..65535"]),
    ("essop:\n  stream_length: 0\n", 2, "essop.stream_length", ["power of two"]),
    ("model: {builder: cnn}\nessop: {}\n", 2, "essop", ["needs builder 'mlp'"]),
    ("regularizer: {moduli: [7, 8, 9]}\nessop: {}\n", 2, "essop", ["cannot be combined"]),
    ("metrics:\n  moduli: [7]\n", 2, "metrics.moduli", ["at least two"]),
]


@pytest.mark.parametrize("text, line, keys, words", BAD, ids=[b[2] for b in BAD])
def test_bad_key_names_file_line_and_key(tmp_path, text, line, keys, words):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'c.yml'}:{line}: {keys}: "), message
    for w in words:
        assert w in message, (w, message)


@pytest.mark.parametrize("content, start", [
    (b"train:\n  epochs: 3 # \xff\n", ":2: not UTF-8"),
    (b"- 1\n", ":1: the top level must be a mapping of sections"),
    (b"train: {epochs: [1}\n", ":1: not valid YAML"),
])
def test_bad_file(tmp_path, content, start):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, content)
    assert str(info.value).startswith(f"{tmp_path / 'c.yml'}{start}")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yml' does not exist"):
        load_config(tmp_path / "nope.yml")
