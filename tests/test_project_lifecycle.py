"""A project's life after convert: csim compiles the project as it is on disk (never rewrites it), rebuilds
only when its sources changed, keeps and reports hand edits, runs on a read-only project, and convert
--force replaces only what convert wrote.  Real g++ builds through the console entry point."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import zoo
from toolchain.atomic import MANIFEST, file_digest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("lifecycle")]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def arith4ml(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolchain", *map(str, args)], capture_output=True, text=True,
                          env=env or ENV)


def snapshot(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` with its digest: the state a refused command must leave unchanged."""
    return {str(p.relative_to(directory)): file_digest(p) for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "m.h5"
    zoo.mlp(3, "po2", widths=(6, 8, 4)).save(path)
    return path


@pytest.fixture()
def prj(tmp_path, model_file) -> Path:
    out = tmp_path / "prj"
    r = arith4ml("convert", model_file, "--backend", "bitshift", "--part", "xc7z020clg400-1", "-o", out)
    assert r.returncode == 0, r.stderr
    return out


def libraries(prj: Path) -> list[Path]:
    return sorted((prj / "firmware").glob("*.so"))


def test_csim_builds_once_and_never_rewrites_the_project(prj):
    sources = {k: v for k, v in snapshot(prj).items() if not k.endswith(".so")}
    first = arith4ml("csim", prj, "-n", "50")
    assert first.returncode == 0 and "C-sim library (fast path) built" in first.stdout, first.stderr
    (lib,) = libraries(prj)
    mtime = lib.stat().st_mtime_ns
    second = arith4ml("csim", prj, "-n", "50")
    assert second.returncode == 0 and "C-sim library (fast path) up to date" in second.stdout
    assert libraries(prj) == [lib] and lib.stat().st_mtime_ns == mtime
    after = {k: v for k, v in snapshot(prj).items() if not k.endswith(".so") and k != "build.log"}
    assert after == {k: v for k, v in sources.items() if k != "build.log"}
    assert not list(prj.glob("*.o")) and not list(prj.glob(".build.*"))


def test_hand_edits_are_kept_compiled_and_reported(prj):
    """A comment edit: C-sim still equals the reference.  An arithmetic edit (the bias of the first output
    doubled): C-sim no longer does, which shows the edited project is what was compiled (exit 1)."""
    cpp = prj / "firmware" / "myproject.cpp"
    cpp.write_text(cpp.read_text() + "// my note\n")
    r = arith4ml("csim", prj, "-n", "50")
    assert r.returncode == 0 and "note: firmware/myproject.cpp changed" in r.stdout, r.stdout + r.stderr
    assert cpp.read_text().endswith("// my note\n")
    bias = next((prj / "firmware" / "weights").glob("ab2.txt"))
    values = bias.read_text().split(",")
    values[0] = str(2 * int(values[0]) + 1)
    bias.write_text(",".join(values))
    r = arith4ml("csim", prj, "-n", "50")
    assert r.returncode == 1 and "C-sim library (fast path) built" in r.stdout, r.stdout + r.stderr
    assert "firmware/weights/ab2.txt" in r.stdout
    assert len(libraries(prj)) == 1  # the previous library was removed when the new one was built


def test_force_replaces_only_what_convert_wrote(prj, model_file):
    args = ("convert", model_file, "--backend", "bitshift", "--part", "xc7z020clg400-1", "-o", prj, "--force")
    (prj / "notes.txt").write_text("mine")
    before = snapshot(prj)
    r = arith4ml(*args)
    assert r.returncode == 2 and "'notes.txt'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert snapshot(prj) == before
    (prj / "notes.txt").unlink()
    tcl = prj / "build_prj.tcl"
    tcl.write_text(tcl.read_text() + "# my synthesis option\n")
    before = snapshot(prj)
    r = arith4ml(*args)
    assert r.returncode == 2 and "'build_prj.tcl' changed" in r.stderr
    assert snapshot(prj) == before
    tcl.write_text(tcl.read_text().removesuffix("# my synthesis option\n"))
    assert arith4ml("csim", prj, "-n", "20").returncode == 0  # library and build.log: convert's own products
    r = arith4ml(*args)
    assert r.returncode == 0, r.stderr
    assert (prj / MANIFEST).is_file() and not libraries(prj)


def test_csim_on_a_read_only_project(prj, tmp_path):
    """The project is bind-mounted read-only (a private mount namespace, so nothing leaks): csim builds a
    copy in the cache directory and leaves the project as it was."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind / /mnt"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a private read-only mount here: {probe.stderr.decode().strip()}")
    ro, cache = tmp_path / "ro", tmp_path / "cache"
    ro.mkdir()
    before = snapshot(prj)
    script = (f"mount --bind {prj} {ro} && mount -o remount,bind,ro {ro} && "
              f"{sys.executable} -m toolchain csim {ro} -n 50")
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                       env=dict(ENV, ARITH4ML_CACHE=str(cache)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "50 samples" in r.stdout and "bit-exact" in r.stdout
    assert snapshot(prj) == before
    assert list(cache.glob("*/firmware/myproject-*.so"))


def test_train_convert_csim_connect(tmp_path):
    """The moduli the residue regularizer trained for reach the RNS backend (as BaseModuli), and csim runs on
    the saved test split, both said on stdout."""
    cfg = tmp_path / "c.yml"
    cfg.write_text("seed: 0\ndata: {name: digits, view: flat, subset: {n_train: 120, n_test: 40}}\n"
                   "model: {builder: mlp, hidden: [8], quantizer: {name: pot, bits: 4}}\n"
                   "train: {epochs: 1, batch_size: 32}\nregularizer: {moduli: [7, 8, 9], strength: 1.0e-4}\n")
    run = tmp_path / "run"
    r = arith4ml("train", cfg, "-o", run, "-q")
    assert r.returncode == 0, r.stderr
    r = arith4ml("convert", run / "model.h5", "--backend", "rns", "--board", "pynq-z2", "-o", tmp_path / "prj")
    assert r.returncode == 0, r.stderr
    assert "BaseModuli [7, 8, 9]" in r.stdout and "test split" in r.stdout
    r = arith4ml("report", tmp_path / "prj")
    import json

    rows = json.loads((tmp_path / "prj" / "report.json").read_text())
    assert all(row["moduli"][:3] == [7, 8, 9] and row["base_moduli"] == [7, 8, 9] for row in rows), rows
    r = arith4ml("csim", tmp_path / "prj")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "40 samples from the test split" in r.stdout and "40 samples, 400 outputs: 400 bit-exact" in r.stdout
