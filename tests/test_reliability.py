"""Hostile and unusual inputs that need a model, a project or a real machine condition: each case asserts
the exit code, a single stderr line naming the offending thing, and the directory state before and after.

Classes (docs/reliability.md counts them): models the converter must refuse by name or convert as a user
expects (float layers, NaN weights, zero-bit quantizers, inner softmax...), hls.yml settings that were
silently ignored, damaged projects, and the machine: a disk that fills up (a small tmpfs in a private mount
namespace), a broken or missing g++, Ctrl-C during compilation and during convert, a directory that appears
while convert runs.  The CLI-only corpus is tests/test_cli_errors.py.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests import zoo
from toolchain.atomic import MANIFEST, check_owned, file_digest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability")]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
BOARD = ("--board", "pynq-z2")


def arith4ml(*args, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolchain", *map(str, args)], capture_output=True, text=True,
                          env=env or ENV, cwd=cwd, timeout=600)


def one_error(r: subprocess.CompletedProcess, command: str, code: int, *names: str) -> str:
    """The single stderr line ``arith4ml COMMAND: error: ...`` with exit ``code`` naming ``names``."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip() and not line.startswith("arith4ml: warning")]
    assert len(lines) == 1 and lines[0].startswith(f"arith4ml {command}: error: "), r.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): file_digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


# ---- models --------------------------------------------------------------------------------------------


def _save(model, path: Path) -> Path:
    model.save(path)
    return path


def _single_dense(name: str, quantizer=None, edit=None, activation=None):
    import tensorflow as tf
    from qkeras import QDense, quantized_bits

    inp = tf.keras.Input((8,), name="x_in")
    layer = (QDense(4, kernel_quantizer=quantizer, bias_quantizer=quantized_bits(8, 3, alpha=1), name="fc",
                    activation=activation)
             if quantizer is not None else tf.keras.layers.Dense(4, name="fc", activation=activation))
    model = tf.keras.Model(inp, layer(inp))
    if edit is not None:
        weights = layer.get_weights()
        edit(weights)
        layer.set_weights(weights)
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    import tensorflow as tf
    from qkeras import QDense, quantized_bits, quantized_po2

    d = tmp_path_factory.mktemp("models")
    inp = tf.keras.Input((8,), name="x_in")
    h = tf.keras.layers.Dense(16, activation="relu", name="fc1")(inp)
    float_mlp = tf.keras.Model(inp, tf.keras.layers.Dense(4, name="fc2")(h))

    def nan(w):
        w[0][1, 2] = np.nan

    def big(w):
        w[0][0, 0] = 300.0

    def pruned(w):
        w[0][:] = 0.0
        w[1][:] = [1.5, -2.0, 3.25, 0.5]

    inp = tf.keras.Input((8,), name="x_in")
    h = tf.keras.layers.Activation("softmax", name="inner")(QDense(6, kernel_quantizer=quantized_po2(4, 1),
                                                                   name="fc1")(inp))
    inner = tf.keras.Model(inp, QDense(3, kernel_quantizer=quantized_po2(4, 1), name="fc2")(h))
    inp = tf.keras.Input((8,), name="x_in")
    two = tf.keras.Model(inp, [QDense(4, kernel_quantizer=quantized_po2(4, 1), name=n)(inp) for n in ("a", "b")])
    return {
        "float": _save(float_mlp, d / "float.h5"),
        "nan": _save(_single_dense("nan", quantized_bits(6, 2, alpha=1), nan), d / "nan.h5"),
        "big": _save(_single_dense("big", None, big), d / "big.h5"),
        "zero_bits": _save(_single_dense("zero", quantized_bits(0, 0)), d / "zero_bits.h5"),
        "pruned": _save(_single_dense("pruned", quantized_po2(4, 1), pruned), d / "pruned.h5"),
        "uniform": _save(_single_dense("uniform", quantized_bits(6, 2, alpha=1)), d / "uniform.h5"),
        "po2": _save(zoo.mlp(5, "po2", widths=(8, 8, 4), softmax=True), d / "po2.h5"),
        "inner_softmax": _save(inner, d / "inner.h5"),
        "two_outputs": _save(two, d / "two.h5"),
    }


# ---- conversion: refused by name, or converted as the user expects --------------------------------------

REFUSED = [
    # (id, model, backend, hls.yml text or None, words the one error line must hold)
    ("nan-weight", "nan", "bitshift", None, ["layer fc", "weight (1, 2) is nan"]),
    ("float-weight-overflows-its-type", "big", "bitshift", None, ["layer fc", "300", "Precision"]),
    ("zero-bit-quantizer", "zero_bits", "bitshift", None, ["layer fc", "0 bits"]),
    ("inner-softmax", "inner_softmax", "bitshift", None, ["layer inner", "inside the network"]),
    ("softmax-kept", "po2", "rns", "LayerName:\n  softmax:\n    Skip: false\n", ["layer softmax", "Skip: false"]),
    ("bitshift-on-uniform-weights", "uniform", "bitshift", "LayerName:\n  fc:\n    Arithmetic: bitshift\n",
     ["hls.yml:3", "layer fc", "power-of-two"]),
    ("strategy-banana", "po2", "bitshift", "Model:\n  Strategy: Banana\n", ["hls.yml:2", "Banana"]),
    ("softmax-key-on-dense", "po2", "bitshift", "LayerName:\n  d0:\n    Softmax: keep\n",
     ["hls.yml:3", "layer d0 is not one"]),
    ("absurd-reuse-factor", "po2", "bitshift", "LayerName:\n  d0:\n    ReuseFactor: 100000000\n",
     ["hls.yml:3", "layer d0", "ReuseFactor 100000000"]),
    ("precision-too-wide", "po2", "bitshift", "LayerName:\n  d0:\n    Precision:\n      result: fixed<200,100>\n",
     ["hls.yml:4", "200 bits"]),
    ("moduli-too-small", "po2", "rns", "LayerName:\n  d0:\n    Moduli: [3, 4, 5]\n", ["hls.yml:3", "bits missing"]),
    ("base-moduli-not-coprime", "po2", "rns", "Model:\n  BaseModuli: [6, 9]\n", ["hls.yml:2", "coprime"]),
    ("nk-on-pot-weights", "po2", "bitshift", "LayerName:\n  d0:\n    NK: [8, 2]\n",
     ["hls.yml:3", "layer d0", "ternary"]),
    ("unknown-layer-in-config", "po2", "rns", "LayerName:\n  nope:\n    ReuseFactor: 2\n", ["hls.yml:2", "nope"]),
]


@pytest.mark.parametrize("model, backend, config, words", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_convert_refuses_by_name(models, tmp_path, model, backend, config, words):
    args = ["convert", models[model], "--backend", backend, *BOARD, "-o", tmp_path / "prj"]
    if config is not None:
        (tmp_path / "hls.yml").write_text(config)
        args += ["--config", tmp_path / "hls.yml"]
    before = snapshot(tmp_path)
    one_error(arith4ml(*args, cwd=tmp_path), "convert", 2, *words)
    assert snapshot(tmp_path) == before and not (tmp_path / "prj").exists()


def test_float_model_converts_as_stock_hls4ml_would(models, tmp_path):
    """A plain float Keras MLP: weights in the configured precision, exact from there on, and csim says that the
    converted model is not the Keras model."""
    r = arith4ml("convert", models["float"], "--backend", "bitshift", *BOARD, "-o", tmp_path / "prj")
    assert r.returncode == 0, r.stderr
    r = arith4ml("csim", tmp_path / "prj", "-n", "200")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "800 bit-exact vs reference" in r.stdout
    assert "note: layer fc1: float weights (no quantizer) quantized to ap_fixed<16,6>" in r.stdout


def test_fully_pruned_layer_through_rns(models, tmp_path):
    r = arith4ml("convert", models["pruned"], "--backend", "rns", *BOARD, "-o", tmp_path / "prj")
    assert r.returncode == 0, r.stderr
    r = arith4ml("csim", tmp_path / "prj", "-n", "100")
    assert r.returncode == 0 and "400 bit-exact" in r.stdout, r.stdout + r.stderr


def test_model_level_reuse_factor_reaches_every_layer(models, tmp_path):
    (tmp_path / "hls.yml").write_text("Model:\n  ReuseFactor: 4\nLayerName:\n  out:\n    ReuseFactor: 2\n")
    mlp = tmp_path / "mlp.h5"
    zoo.mlp(5, "po2", widths=(8, 8, 4)).save(mlp)
    r = arith4ml("convert", mlp, "--backend", "bitshift", *BOARD, "-o", tmp_path / "prj", "--config",
                 tmp_path / "hls.yml")
    assert r.returncode == 0, r.stderr
    params = (tmp_path / "prj" / "firmware" / "parameters.h").read_text()
    dot = [line for line in params.splitlines() if "unsigned reuse_factor" in line]
    assert dot and dot[-1].strip() == "static const unsigned reuse_factor = 2;" and "reuse_factor = 4;" in params
    assert "reuse_factor = 1;" not in params


# ---- damaged or unusual projects ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(models, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prj") / "prj"
    r = arith4ml("convert", models["po2"], "--backend", "bitshift", *BOARD, "-o", out)
    assert r.returncode == 0, r.stderr
    return out


def _copy(project: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "prj"
    shutil.copytree(project, copy)
    return copy


@pytest.mark.parametrize("damage, words", [
    (lambda p: (p / "arith4ml.json").write_text("{not json"), ["arith4ml.json", "damaged"]),
    (lambda p: (p / "arith4ml.json").write_text(json.dumps({"tool": "arith4ml", "backend": "Evil", "part": "x",
                                                            "clock_period": 10, "io_type": "io_parallel"})),
     ["'Evil'"]),
    (lambda p: (p / "arith4ml_model.h5").unlink(), ["arith4ml_model.h5", "does not exist"]),
    (lambda p: (p / "arith4ml.json").unlink(), ["not an arith4ml project"]),
], ids=["metadata-not-json", "unknown-backend", "model-missing", "marker-missing"])
def test_damaged_project(project, tmp_path, damage, words):
    prj = _copy(project, tmp_path)
    damage(prj)
    before = snapshot(tmp_path)
    for command in ("csim", "report"):
        one_error(arith4ml(command, prj), command, 2, *words)
    assert snapshot(tmp_path) == before


def test_two_output_model_in_csim(models, tmp_path):
    r = arith4ml("convert", models["two_outputs"], "--backend", "bitshift", *BOARD, "-o", tmp_path / "prj")
    assert r.returncode == 0, r.stderr
    one_error(arith4ml("csim", tmp_path / "prj", "-n", "5"), "csim", 2, "2 outputs", "single-output")


def test_report_on_a_read_only_project_and_elsewhere(project, tmp_path):
    _require_private_mounts()
    ro, out = tmp_path / "ro", tmp_path / "rows.json"
    ro.mkdir()
    script = (f"mount --bind {project} {ro} && mount -o remount,bind,ro {ro} && "
              f"{sys.executable} -m toolchain report {ro}; echo rc=$?; "
              f"{sys.executable} -m toolchain report {ro} --json {out}; echo rc=$?")
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=ENV)
    assert "rc=5" in r.stdout and "Read-only file system" in r.stderr and "--json FILE" in r.stderr, r.stdout
    assert "rc=0" in r.stdout and json.loads(out.read_text())[0]["layer"] == "d0"


# ---- the machine: full disk, broken tools, interrupts, races --------------------------------------------


def _require_private_mounts() -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no private mounts here: {probe.stderr.decode().strip()}")


@pytest.mark.parametrize("command", ["convert", "train"])
def test_disk_full(models, tmp_path, command):
    """A 32 KiB tmpfs fills up while the project (a few MB) or the training output (~100 KB) is written: exit 5,
    one line naming the file system's complaint, and nothing left on the small disk."""
    _require_private_mounts()
    small = tmp_path / "small"
    small.mkdir()
    if command == "convert":
        argv = f"convert {models['po2']} --backend bitshift --board pynq-z2 -o {small}/prj"
    else:
        cfg = tmp_path / "c.yml"
        cfg.write_text("data: {name: digits, subset: {n_train: 100, n_test: 30}}\nmodel: {builder: mlp, hidden: [64]}\n"
                       "train: {epochs: 1}\n")
        argv = f"train {cfg} -o {small}/run -q"
    script = (f"mount -t tmpfs -o size=32k tmpfs {small} && {sys.executable} -m toolchain {argv}; echo rc=$?; "
              f"ls -A {small}")
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=ENV, timeout=600)
    assert "rc=5" in r.stdout, r.stdout + r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith(f"arith4ml {command}: error:")]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "rc=5"  # ls -A printed nothing: no staging left on the disk


def _fake_gxx(tmp_path: Path, body: str) -> dict:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    gxx = bindir / "g++"
    gxx.write_text(f"#!/bin/sh\n{body}\n")
    gxx.chmod(0o755)
    return dict(ENV, PATH=f"{bindir}:{os.environ['PATH']}")


def test_broken_gxx_names_the_command_and_the_log(project, tmp_path):
    prj = _copy(project, tmp_path)
    before = snapshot(prj)
    env = _fake_gxx(tmp_path, 'case "$*" in *-fsyntax-only*) exit 0;; esac\necho "internal compiler error" >&2\nexit 1')
    line = one_error(arith4ml("csim", prj, "-n", "5", env=env), "csim", 4, "bash build_lib.sh", "build.log")
    assert "internal compiler error" in line
    after = snapshot(prj)
    assert "internal compiler error" in (prj / "build.log").read_text()
    assert {k: v for k, v in after.items() if k != "build.log"} == {k: v for k, v in before.items() if k != "build.log"}
    assert not list(prj.glob(".build.*"))


def test_missing_gxx_is_exit_3(project, tmp_path):
    prj = _copy(project, tmp_path)
    env = dict(ENV, PATH=str(Path(sys.executable).parent))  # python, no compiler
    one_error(arith4ml("csim", prj, "-n", "5", env=env), "csim", 3, "g++")


def _interrupt_when(proc: subprocess.Popen, ready, timeout: float = 120) -> None:
    end = time.time() + timeout
    while not ready() and proc.poll() is None and time.time() < end:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)


def test_ctrl_c_during_compilation_leaves_nothing(project, tmp_path):
    """SIGINT to the whole process group (as a terminal's Ctrl-C) while g++ runs: exit 130, no objects, no
    build directory, no library; the project is as it was."""
    prj = _copy(project, tmp_path)
    for lib in (prj / "firmware").glob("*.so"):
        lib.unlink()
    before = snapshot(prj)
    proc = subprocess.Popen([sys.executable, "-m", "toolchain", "csim", str(prj), "-n", "5"], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _interrupt_when(proc, lambda: any(prj.glob(".build.*/*.o")) or any(prj.glob(".build.*")))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert "Traceback" not in err and "interrupted" in err
    assert not list(prj.glob(".build.*")) and not list(prj.rglob("*.o")) and not list(prj.rglob("*.so"))
    after = snapshot(prj)
    assert {k: v for k, v in after.items() if k != "build.log"} == {k: v for k, v in before.items() if k != "build.log"}


@pytest.mark.parametrize("delay", [0.5, 2.0, 4.0, 6.0])
def test_ctrl_c_during_convert_leaves_the_old_state_or_the_new_one(models, project, tmp_path, delay):
    """Interrupt convert --force over an existing project at different moments: afterwards the directory is
    either the previous project or a complete new one (its manifest checks out), and no staging is left."""
    prj = _copy(project, tmp_path)
    for lib in (prj / "firmware").glob("*.so"):
        lib.unlink()
    old = snapshot(prj)
    proc = subprocess.Popen([sys.executable, "-m", "toolchain", "convert", str(models["po2"]), "--backend", "rns",
                             *BOARD, "-o", str(prj), "--force"], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(delay)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    # 130: interrupted; 0: finished first; -SIGINT: the signal came while the interpreter was shutting down
    # after the work was done (Python no longer handles it then)
    assert proc.returncode in (0, 130, -signal.SIGINT), (proc.returncode, err)
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prj"]  # no staging or old copy left beside it
    if snapshot(prj) != old:
        check_owned(prj, "arith4ml convert")  # a complete new project: every file as its manifest says
        assert json.loads((prj / "arith4ml.json").read_text())["backend"] == "RNS" and (prj / MANIFEST).is_file()


@pytest.mark.parametrize("delay", [3.0, 6.0])
def test_ctrl_c_during_train_leaves_nothing_or_everything(tmp_path, delay):
    cfg = tmp_path / "c.yml"
    cfg.write_text("data: {name: digits, subset: {n_train: 200, n_test: 40}}\nmodel: {builder: mlp, hidden: [16]}\n"
                   "train: {epochs: 3}\n")
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "toolchain", "train", str(cfg), "-o", str(out), "-q"], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(delay)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode in (0, 130, -signal.SIGINT) and "Traceback" not in err, (proc.returncode, err)
    assert sorted(p.name for p in tmp_path.iterdir()) in (["c.yml"], ["c.yml", "run"])
    if out.exists():
        check_owned(out, "arith4ml train")
        assert (out / "metrics.json").is_file() and (out / "model.h5").is_file()


def test_a_directory_that_appears_during_convert_is_kept(models, tmp_path):
    """The output directory does not exist when convert starts; the user creates it, with a file, while the
    conversion runs: convert refuses at the end and the user's file is untouched."""
    out = tmp_path / "prj"
    proc = subprocess.Popen([sys.executable, "-m", "toolchain", "convert", str(models["po2"]), "--backend",
                             "bitshift", *BOARD, "-o", str(out)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    end = time.time() + 120
    while not list(tmp_path.glob(".prj.*")) and proc.poll() is None and time.time() < end:
        time.sleep(0.02)  # staging has begun
    out.mkdir()
    (out / "mine.txt").write_text("precious")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "prj" in err and "Traceback" not in err, err
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"] and (out / "mine.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prj"]


# ---- the Python API ---------------------------------------------------------------------------------------


def test_api_refuses_a_part_with_tcl_metacharacters(models, tmp_path):
    from toolchain import project
    from toolchain.errors import ConfigError

    model = project.load_keras_model(models["po2"])
    with pytest.raises(ConfigError, match=r"part 'xc7z020clg400-1;exec rm' .*;"):
        project.convert(model, "bitshift", tmp_path / "prj", "xc7z020clg400-1;exec rm", compile=False)
    assert not (tmp_path / "prj").exists()


def test_api_reference_refuses_two_outputs(models, tmp_path):
    from toolchain import project, reference

    hm, _ = project.convert(project.load_keras_model(models["two_outputs"]), "bitshift", tmp_path / "prj",
                            "xc7z020clg400-1", compile=False)
    with pytest.raises(Exception, match="output") as exc:
        reference.predict(hm, np.zeros((2, 8)))
    assert type(exc.value).__name__ in ("UnsupportedError", "DataError")
