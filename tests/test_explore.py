"""arith4ml explore: a tiny sweep on a tiny CNN in-process, with 2 worker processes and on a local Ray (identical
points.csv), resume after a real SIGINT, best.yml / approx_model.h5 round trips, and bad inputs (exit 2, one line)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from toolchain import cli
from toolchain.explore import COLUMNS, read_points
from toolchain.explore_model import Job, load_splits

pytestmark = pytest.mark.xdist_group("explore")  # the sweeps spawn processes: keep them on one xdist worker

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """\
model: tiny.h5
calibration: 60
test_samples: 150
multipliers: [exact, "roup(1,2)", "roup(2,3)"]
fractions: [0.5, 1.0]
"""


def _tiny_cnn(path: Path) -> None:
    import tensorflow as tf

    from toolchain import data
    from toolchain.files import save_keras_h5

    tf.keras.utils.set_random_seed(0)
    ds = data.load_digits(view="image")
    inp = tf.keras.Input((8, 8, 1))
    h = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    h = tf.keras.layers.Conv2D(6, 3, strides=2, activation="relu", name="conv2")(h)
    h = tf.keras.layers.Flatten(name="flatten")(h)
    out = tf.keras.layers.Dense(10, activation="softmax", name="out")(h)
    model = tf.keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(ds.x_train, ds.y_train, epochs=4, batch_size=32, verbose=0)
    save_keras_h5(model, path)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("explore")
    _tiny_cnn(d / "tiny.h5")
    (d / "cfg.yml").write_text(CONFIG)
    return d


def _explore(args: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "toolchain", "explore", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def serial(workdir) -> Path:
    proc = _explore(["cfg.yml", "-o", "serial"], workdir)
    assert proc.returncode == 0, proc.stderr
    return workdir / "serial"


def test_outputs_written(serial):
    rows = read_points(serial / "points.csv")
    assert len(rows) == 1 + 3 * 2 * 2  # baseline + granularities x levels x fractions
    assert [int(r["id"]) for r in rows] == list(range(len(rows)))
    assert rows[0]["granularity"] == "exact" and float(rows[0]["saving"]) == 0.0
    assert {r["granularity"] for r in rows[1:]} == {"layer", "filter", "kernel"}
    for r in rows[1:]:
        assert 0 < float(r["saving"]) < 1
        assert float(r["energy_pj"]) < float(r["exact_energy_pj"])
    assert (serial / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in serial.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_workers_and_ray_give_identical_points(workdir, serial):
    pooled = _explore(["cfg.yml", "-o", "pooled", "--workers", "2", "-q"], workdir)
    assert pooled.returncode == 0, pooled.stderr
    ray = _explore(["cfg.yml", "-o", "ray", "--ray", "local", "-q"], workdir)
    assert ray.returncode == 0, ray.stderr
    reference = (serial / "points.csv").read_text()
    assert (workdir / "pooled" / "points.csv").read_text() == reference
    assert (workdir / "ray" / "points.csv").read_text() == reference
    assert (workdir / "ray" / "best.yml").read_text() == (serial / "best.yml").read_text()


def test_best_yml_round_trips_and_model_reproduces_the_point(workdir, serial):
    from toolchain.arith.approx import multiplier_spec
    from toolchain.explore import best_row
    from toolchain.explore_plan import LayerShape, decode_assignment
    from toolchain.kernels.approx import parse_approx
    from toolchain.project import load_keras_model

    rows = read_points(serial / "points.csv")
    best = best_row(rows, 2.0)
    layers = yaml.safe_load((serial / "best.yml").read_text())["LayerName"]
    shapes = [LayerShape("conv1", 4, 1, 9, 64), LayerShape("conv2", 6, 4, 9, 9), LayerShape("out", 10, 54, 1, 1)]
    assert list(layers) == [s.name for s in shapes]
    ladder = np.array(best["ladder"].split("|"))
    index = decode_assignment(best["assignment"], shapes, best["granularity"]) if best["assignment"] else {}
    for s in shapes:  # the Approx value the backend reads = the row's assignment, product by product
        asg = parse_approx(layers[s.name]["Approx"])
        got = np.array([multiplier_spec(m) for m in asg.multipliers])[asg.expanded(s.n_out, s.n_in, s.name)]
        idx = np.asarray(index.get(s.name, 0))
        want = ladder[np.broadcast_to(idx.reshape(idx.shape + (1,) * (2 - idx.ndim)), (s.n_out, s.n_in))]
        assert (got == want).all(), s.name
    # approx_model.h5 (the model 'arith4ml convert --backend approx' reads) reproduces the row's accuracy
    model = load_keras_model(serial / "approx_model.h5")
    job = Job(str(workdir / "tiny.h5"), "digits", (), 60, 150, 0, tuple(ladder), ())
    _, x_test, y_test = load_splits(job, (8, 8, 1))
    correct = int(np.sum(np.argmax(model.predict(x_test, verbose=0), axis=-1) == y_test))
    assert correct == int(best["correct"])


def test_interrupt_keeps_rows_and_rerun_resumes(workdir):
    cfg = workdir / "many.yml"
    fractions = ", ".join(f"{f / 20:g}" for f in range(1, 21))  # 120 points: the sweep cannot end before the poll
    cfg.write_text(CONFIG.replace("fractions: [0.5, 1.0]", f"fractions: [{fractions}]")
                   .replace("test_samples: 150", "test_samples: 450"))
    out = workdir / "many"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    # the sweep runs at the lowest priority, so that on a loaded machine this process still polls promptly
    proc = subprocess.Popen([sys.executable, "-m", "toolchain", "explore", "many.yml", "-o", "many", "-q"],
                            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.nice(19))
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (out / "points.csv").exists() and len((out / "points.csv").read_text().splitlines()) >= 3:
            break  # header, baseline and one finished point
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "arith4ml explore: interrupted"
    kept = read_points(out / "points.csv")
    assert 2 <= len(kept) < 121
    assert not (out / "best.yml").exists()
    again = _explore(["many.yml", "-o", "many", "-q"], workdir)
    assert again.returncode == 0, again.stderr
    assert f"resuming: {len(kept)} of 121 points already in" in again.stderr
    final = read_points(out / "points.csv")
    assert [int(r["id"]) for r in final] == list(range(121))
    assert all(final[int(r["id"])] == r for r in kept)  # finished rows are kept as they were


# --------------------------------------------------------------------------- bad input: one line, exit 2

def _main_error(argv: list[str], capsys) -> str:
    rc = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, err
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("edit, needle", [
    (('"roup(2,3)"', '"roup(4,1)"'), "cfg.yml:4: multipliers.2: multiplier 'roup(4,1)'"),
    (('"roup(2,3)"', '"table:bad.npy"'), "has shape (10, 10); expected (256, 256)"),
    (("fractions: [0.5, 1.0]", "fractions: []"), "fractions: is empty: the sweep has no points"),
    (("fractions: [0.5, 1.0]", "granularities: []"), "granularities: is empty: the sweep has no points"),
    (("model: tiny.h5", "model: missing.h5"), "cfg.yml:1: model: model file"),
    (("model: tiny.h5", "model: tiny.h5\ndata: missing.npz"), "data file"),
    (("fractions: [0.5, 1.0]", "fractions: [0.5, 1.5]"), "fractions.1: must be a fraction in (0, 1]"),
    (("fractions: [0.5, 1.0]", "levels: [3]"), "level 3 is past the ladder"),
    (("fractions: [0.5, 1.0]", "layers: [conv1, nope]"), "cfg.yml:5: layers.1: layer 'nope' is not a Dense/Conv2D"),
])
def test_bad_config_one_line_exit_2(tmp_path, workdir, capsys, edit, needle):
    os.symlink(workdir / "tiny.h5", tmp_path / "tiny.h5")
    np.save(tmp_path / "bad.npy", np.zeros((10, 10), dtype=np.int16))
    (tmp_path / "cfg.yml").write_text(CONFIG.replace(*edit))
    line = _main_error(["explore", str(tmp_path / "cfg.yml"), "-o", str(tmp_path / "out"), "-q"], capsys)
    assert line.startswith("arith4ml explore: error: ") and needle in line, line
    assert not (tmp_path / "out").exists()


def test_unreachable_ray_address_fails_fast(tmp_path, workdir, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.time()
    line = _main_error(["explore", str(workdir / "cfg.yml"), "-o", str(tmp_path / "out"), "--ray",
                        f"127.0.0.1:{port}"], capsys)
    assert time.time() - t0 < 10
    assert f"Ray address '127.0.0.1:{port}' does not answer" in line
    assert not (tmp_path / "out").exists()


def test_foreign_points_csv_is_refused(tmp_path, workdir, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "points.csv").write_text("a,b\n1,2\n")
    line = _main_error(["explore", str(workdir / "cfg.yml"), "-o", str(out), "-q"], capsys)
    assert "is not an arith4ml explore points table" in line
    assert (out / "points.csv").read_text() == "a,b\n1,2\n"
    assert len(COLUMNS) == len(set(COLUMNS))
