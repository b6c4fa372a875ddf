"""The CLI's error boundary: every bad input is one stderr line naming the offending thing, with its exit code.

A corpus of bad inputs goes through ``toolchain.cli.main`` in-process (fast: every error here comes
before TensorFlow would load a model) and a few through the real console entry
(``python -m toolchain``).  Each case asserts the exit code, exactly one stderr line
``arith4ml COMMAND: error: ...`` naming the bad value, no traceback, and that the working
directory holds exactly what it held before (nothing created, nothing deleted or changed).

The mapping of exceptions that only a broken machine produces (disk full, read-only file system,
out of memory, a crashed tool) is tested by replacing a command's ``run`` with a function that
raises them: the thing under test is the boundary's mapping, not the command.  Where the kernel can
be made to raise the error for real (``/dev/full``, ``/sys``, a chmod'ed directory, a NumPy array
too large to allocate) the function does the real operation.
"""
from __future__ import annotations

import argparse
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

import toolchain.convert
from toolchain import boards, cli
from toolchain.errors import ToolFailedError, ToolMissingError

PART = "xc7z020clg400-1"
LATIN1 = b"Model:\n  Precision: ap_fixed<8,3> # caf\xe9\n"  # not UTF-8


# ----------------------------------------------------------------------------- helpers

def _state(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: relative path -> (kind, size, mtime_ns, mode)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            state[str(p.relative_to(root))] = (p.is_dir(), st.st_size, st.st_mtime_ns, st.st_mode)
    return state


def _run(capsys, *args: str) -> tuple[int, str, str]:
    """In-process ``arith4ml ARGS``: (exit code, stdout, stderr); argparse's exit counts as the exit code."""
    capsys.readouterr()
    try:
        rc = cli.main([str(a) for a in args])
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def _entry(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real console entry, ``python -m toolchain ARGS``, in ``cwd``."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop(cli.DEBUG_ENV, None)
    return subprocess.run([sys.executable, "-m", "toolchain", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def _one_error(err: str, command: str | None, *names: str) -> str:
    """The single stderr line ``arith4ml COMMAND: error: ...``; asserts no traceback and that it names ``names``."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    prefix = f"arith4ml {command}: error: " if command else "arith4ml: error: "
    assert lines[0].startswith(prefix), lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """A working directory with the inputs the corpus refers to; the tests run in it."""
    (tmp_path / "model.h5").write_bytes(b"never read: every error comes first")
    (tmp_path / "latin1.yml").write_bytes(LATIN1)
    (tmp_path / "a_dir.yml").mkdir()
    (tmp_path / "a_file").write_text("mine\n")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    return tmp_path


def _convert(*extra: str, target: tuple[str, ...] = ("--part", PART)) -> list[str]:
    return ["convert", "model.h5", "--backend", "bitshift", *target, "-o", "prj", *extra]


def _board(name: str) -> list[str]:
    return _convert(target=("--board", name))


def _part(part: str) -> list[str]:
    return _convert(target=("--part", part))


# ----------------------------------------------------------------------------- the corpus

# (id, argv, files to write first {name: text}, exit code, words the line must contain)
CORPUS = [
    # convert: board names (path-free names only) and parts (Xilinx grammar, nothing Tcl could run)
    ("board-slash", _board("a/b"), {}, 2, ["board name 'a/b'", "path"]),
    ("board-dotdot", _board(".."), {}, 2, ["board name '..'"]),
    ("board-traversal", _board("../boards/pynq-z2"), {}, 2, ["'../boards/pynq-z2'"]),
    ("board-empty", _board(""), {}, 2, ["board name '' is empty", "pynq-z2"]),
    ("board-space", _board("pynq z2"), {}, 2, ["'pynq z2'"]),
    ("board-unknown", _board("nosuchboard"), {}, 2, ["unknown board 'nosuchboard'", "arty-a7-35t", "pynq-z2"]),
    ("part-semicolon", _part(f"{PART};exit"), {}, 2, ["--part", "';'", "Tcl"]),
    ("part-bracket", _part("xc7z[exec rm -rf ~]"), {}, 2, ["--part", "'['", "']'"]),
    ("part-space", _part("xc7z020 clg400-1"), {}, 2, ["--part 'xc7z020 clg400-1'", "whitespace"]),
    ("part-dollar", _part("$PART"), {}, 2, ["--part '$PART'", "'$'"]),
    ("part-brace-quote", _part('xc7z{"}'), {}, 2, ["--part", "'{'", "'\"'"]),
    ("part-empty", _part(""), {}, 2, ["--part is empty"]),
    ("part-intel", _part("5cgxfc7c7f23c8"), {}, 2, ["'5cgxfc7c7f23c8'", "not a Xilinx part"]),
    ("part-family", _part("xc9z020clg400-1"), {}, 2, ["'xc9z020clg400-1'", "family"]),
    ("part-long", _part("xc7z" + "0" * 60), {}, 2, ["--part", "longer than 40"]),
    ("part-trailing-dash", _part("xc7z020clg400-"), {}, 2, ["'xc7z020clg400-'"]),
    # convert: files
    ("config-not-utf8", _convert("--config", "latin1.yml"), {}, 2, ["latin1.yml:2", "not UTF-8"]),
    ("config-is-dir", _convert("--config", "a_dir.yml"), {}, 2, ["'a_dir.yml'", "not a file"]),
    ("config-missing", _convert("--config", "nope.yml"), {}, 2, ["'nope.yml'", "does not exist"]),
    ("output-is-file", ["convert", "model.h5", "--backend", "rns", "--part", PART, "-o", "a_file"], {}, 2,
     ["'a_file'", "not a directory"]),
    ("output-foreign-dir", _convert("--force")[:-3] + ["-o", "mine", "--force"], {}, 2, ["mine'", "refusing"]),
    ("model-missing", ["convert", "nope.h5", "--backend", "rns", "--part", PART, "-o", "prj"], {}, 2,
     ["'nope.h5'", "does not exist"]),
    # convert: arguments (argparse, one line through cli.Parser)
    ("backend-missing", ["convert", "model.h5", "--part", PART, "-o", "prj"], {}, 2, ["--backend"]),
    ("backend-unknown", ["convert", "model.h5", "--backend", "vivado", "--part", PART, "-o", "prj"], {}, 2,
     ["'vivado'"]),
    ("board-and-part", _convert(target=("--part", PART, "--board", "pynq-z2")), {}, 2, ["--board", "--part"]),
    # train: config values out of range, files
    ("train-seed-negative", ["train", "c.yml"], {"c.yml": "seed: -1\n"}, 2, ["c.yml:1: seed:", "-1"]),
    ("train-test-fraction-0", ["train", "c.yml"], {"c.yml": "data:\n  test_fraction: 0\n"}, 2,
     ["c.yml:2: data.test_fraction:", "(0, 1)"]),
    ("train-test-fraction-1.5", ["train", "c.yml"], {"c.yml": "data:\n  test_fraction: 1.5\n"}, 2,
     ["c.yml:2: data.test_fraction:", "1.5"]),
    ("train-test-fraction-tiny", ["train", "c.yml"], {"c.yml": "data: {test_fraction: 0.001}\n"}, 2,
     ["data.test_fraction", "one per class"]),
    ("train-data-seed", ["train", "c.yml"], {"c.yml": "data:\n  seed: -5\n"}, 2, ["c.yml:2: data.seed:", "-5"]),
    ("train-bits-0", ["train", "c.yml"], {"c.yml": "model:\n  quantizer: {name: pot, bits: 0}\n"}, 2,
     ["c.yml:2: model.quantizer.bits:", "quantizer 'pot' bits", "got 0"]),
    ("train-layer-bits-0", ["train", "c.yml"], {"c.yml": "model:\n  layers:\n    out: {name: bits, bits: 0}\n"}, 2,
     ["c.yml:3: model.layers.out.bits:", "quantizer 'bits'"]),
    ("train-nk-k-above-n", ["train", "c.yml"], {"c.yml": "model:\n  quantizer: {name: nk_ternary, N: 4, k: 5}\n"},
     2, ["model.quantizer.k:", "k <= N"]),
    ("train-hidden-0", ["train", "c.yml"], {"c.yml": "model:\n  hidden: [16, 0]\n"}, 2, ["model.hidden.1:", "got 0"]),
    ("train-filters-empty", ["train", "c.yml"], {"c.yml": "model: {builder: cnn, filters: []}\n"}, 2,
     ["model.filters:", "[]"]),
    ("train-epochs-negative", ["train", "c.yml"], {"c.yml": "train:\n  epochs: -1\n"}, 2, ["train.epochs:", "-1"]),
    ("train-batch-0", ["train", "c.yml"], {"c.yml": "train:\n  batch_size: 0\n"}, 2, ["train.batch_size:"]),
    ("train-lr-0", ["train", "c.yml"], {"c.yml": "train:\n  learning_rate: 0\n"}, 2, ["train.learning_rate:"]),
    ("train-synthetic-n-0", ["train", "c.yml"], {"c.yml": "data: {name: synthetic, n_train: 0}\n"}, 2,
     ["data.n_train:"]),
    ("train-noise-negative", ["train", "c.yml"], {"c.yml": "data: {name: synthetic, noise: -0.1}\n"}, 2,
     ["data.noise:"]),
    ("train-essop-lr-shift", ["train", "c.yml"], {"c.yml": "essop: {lr_shift: 5000}\n"}, 2, ["essop.lr_shift:"]),
    ("train-stream-huge", ["train", "c.yml"], {"c.yml": "essop: {stream_length: 1099511627776}\n"}, 2,
     ["essop.stream_length:"]),
    ("train-config-is-dir", ["train", "a_dir.yml"], {}, 2, ["'a_dir.yml'", "not a file"]),
    ("train-output-is-file", ["train", "c.yml", "-o", "a_file"], {"c.yml": "seed: 0\n"}, 2,
     ["'a_file'", "not a directory"]),
    ("train-output-foreign", ["train", "c.yml", "-o", "mine"], {"c.yml": "seed: 0\n"}, 2, ["mine'", "not written by"]),
    # csim / report: arguments and projects
    ("csim-n-0", ["csim", "mine", "-n", "0"], {}, 2, ["argument -n", "got 0", "1..10_000_000"]),
    ("csim-n-negative", ["csim", "mine", "-n", "-5"], {}, 2, ["argument -n", "got -5"]),
    ("csim-n-1e12", ["csim", "mine", "-n", str(10**12)], {}, 2, ["argument -n", f"got {10**12}"]),
    ("csim-n-expression", ["csim", "mine", "-n", "10**12"], {}, 2, ["argument -n", "'10**12'"]),
    ("csim-not-a-project", ["csim", "mine"], {}, 2, ["mine"]),
    ("report-missing-project", ["report", "nowhere"], {}, 2, ["nowhere"]),
]


@pytest.mark.parametrize("argv, files, code, words", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_corpus(work, capsys, argv, files, code, words):
    for name, text in files.items():
        (work / name).write_text(text)
    before = _state(work)
    rc, out, err = _run(capsys, *argv)
    assert rc == code, err
    _one_error(err, argv[0], *words)
    assert _state(work) == before  # nothing created, deleted or changed


def test_shipped_boards_are_valid():
    for name in boards.known_boards():
        board = boards.load_board(name)
        assert boards.check_part(board.part) == board.part


@pytest.mark.parametrize("part", ["xc7z020clg400-1", "xc7a35ticsg324-1L", "xczu9eg-ffvb1156-2-e",
                                  "xck26-sfvc784-2LV-c", "xcu250-figd2104-2L-e", "XC7K325T-FFG900-2",
                                  "xcvc1902-vsva2197-2MP-e-S"])
def test_real_parts_pass(part):
    assert boards.check_part(part) == part


@pytest.mark.parametrize("key, value, words", [
    ("part", '"xc7z020clg400-1; exit"', ["part 'xc7z020clg400-1; exit'", "';'"]),
    ("part", "xc7a35ticsg324-1L", ["not a zynq7000 part"]),
    ("family", "virtex9", ["'virtex9'", "zynq7000"]),
    ("clock_period_ns", "-10", ["positive"]),
    ("board_part", '"tul.com.tw:pynq z2"', ["not a board part"]),
])
def test_board_file_errors_name_file_line_and_key(work, capsys, monkeypatch, key, value, words):
    """A board file's bad key: ``FILE:LINE: key: message`` through ``convert --board``."""
    catalogue = work / "catalogue"
    catalogue.mkdir()
    text = (boards.boards_dir() / "pynq-z2.yaml").read_text()
    lines = [f"{key}: {value}" if line.startswith(f"{key}:") else line for line in text.splitlines()]
    (catalogue / "bad.yaml").write_text("\n".join(lines) + "\n")
    line_no = next(i for i, line in enumerate(lines, 1) if line.startswith(f"{key}:"))
    monkeypatch.setattr(boards, "boards_dir", lambda: catalogue)
    before = _state(work)
    rc, _, err = _run(capsys, *_board("bad"))
    assert rc == 2
    _one_error(err, "convert", f"bad.yaml:{line_no}: {key}: ", *words)
    assert _state(work) == before


# ----------------------------------------------------------------------------- the boundary's mapping

def _real_eacces(tmp: Path) -> None:
    """A real permission error from the kernel: a chmod'ed directory, or /sys where root cannot write either."""
    if os.geteuid() != 0:
        ro = tmp / "read_only"
        ro.mkdir()
        ro.chmod(0o555)
        try:
            (ro / "prj").mkdir()
        finally:
            ro.chmod(0o755)
    Path("/sys/arith4ml-test-output").mkdir()  # EPERM for root (sysfs), EACCES for others


def _real_enospc(tmp: Path) -> None:
    """A real 'No space left on device': /dev/full."""
    if not os.path.exists("/dev/full"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp / "prj" / "x.cpp"))
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        os.write(fd, b"x")
    finally:
        os.close(fd)


def _real_memory_error(tmp: Path) -> None:
    import numpy as np

    np.empty((10**8, 10**8), dtype=np.float64)  # 80 PB: NumPy's MemoryError says how much


def _raise(exc: BaseException):
    def raiser(tmp: Path) -> None:
        raise exc
    return raiser


BOUNDARY = [
    # (id, what the command does, exit code, words)
    ("enospc", _raise(OSError(errno.ENOSPC, "No space left on device", "prj/firmware/myproject.cpp")), 5,
     ["'prj/firmware/myproject.cpp'", "No space left on device", "disk is full"]),
    ("erofs", _raise(OSError(errno.EROFS, "Read-only file system", "/mnt/ro/prj")), 5,
     ["'/mnt/ro/prj'", "Read-only file system"]),
    ("eacces", _raise(PermissionError(errno.EACCES, "Permission denied", "prj/report.json")), 5,
     ["'prj/report.json'", "Permission denied", "permissions"]),
    ("rename", _raise(OSError(errno.EXDEV, "Invalid cross-device link", ".prj.tmp", None, "prj")), 5,
     ["'.prj.tmp' -> 'prj'", "cross-device"]),
    ("real-eacces", _real_eacces, 5, ["arith4ml-test-output", "permissions"]),
    ("real-enospc", _real_enospc, 5, ["No space left on device"]),
    ("enomem", _raise(OSError(errno.ENOMEM, "Cannot allocate memory")), 6, ["not enough memory"]),
    ("memory-error", _raise(MemoryError()), 6, ["not enough memory", "MemoryError"]),
    ("real-memory-error", _real_memory_error, 6, ["not enough memory", "Unable to allocate"]),
    ("unicode", lambda tmp: b"Model: caf\xe9".decode(), 2, ["bad input encoding", "0xe9", "UTF-8"]),
    ("oserror-no-errno", _raise(OSError("Unable to open file (file signature not found)")), 2,
     ["cannot read the input", "file signature not found"]),
    ("tool-missing", _raise(ToolMissingError("vivado is not on PATH")), 3, ["vivado"]),
    ("tool-failed", _raise(ToolFailedError("g++ failed: 'bash build_lib.sh' exited with 1; full output in "
                                           "prj/build.log", command="bash build_lib.sh", log="prj/build.log")), 4,
     ["bash build_lib.sh", "prj/build.log"]),
    ("called-process", _raise(subprocess.CalledProcessError(2, ["g++", "-c", "x.cpp"])), 4, ["g++ -c x.cpp", "2"]),
    ("internal", _raise(RuntimeError("boom\nsecond line")), 70,
     ["internal error: RuntimeError: boom", "ARITH4ML_DEBUG=1"]),
    ("internal-keyerror", _raise(KeyError("weights")), 70, ["internal error: KeyError: 'weights'"]),
]


@pytest.mark.parametrize("action, code, words", [b[1:] for b in BOUNDARY], ids=[b[0] for b in BOUNDARY])
def test_boundary_maps_every_exception_to_one_line(work, capsys, monkeypatch, action, code, words):
    """``convert``'s run replaced by ``action``: the boundary's mapping (exit code, one line) is under test."""
    monkeypatch.setattr(toolchain.convert, "run", lambda args: action(work))
    before = _state(work)
    rc, _, err = _run(capsys, *_convert())
    assert rc == code, err
    _one_error(err, "convert", *words)
    assert _state(work) == before


def test_interrupt_is_130(work, capsys, monkeypatch):
    monkeypatch.setattr(toolchain.convert, "run", _raise(KeyboardInterrupt()))
    rc, _, err = _run(capsys, *_convert())
    assert rc == 130 and err.strip() == "arith4ml convert: interrupted"


def test_debug_shows_the_traceback(work, capsys, monkeypatch):
    """ARITH4ML_DEBUG=1: the exception propagates (Python prints its traceback)."""
    monkeypatch.setattr(toolchain.convert, "run", _raise(RuntimeError("boom")))
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(_convert())
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(ToolFailedError):
        monkeypatch.setattr(toolchain.convert, "run", _raise(ToolFailedError("g++", command="g++")))
        cli.main(_convert())


def test_located_keeps_the_fields():
    err = ToolFailedError("failed", command="bash build_lib.sh", log="prj/build.log").located("prj")
    assert (str(err), err.exit_code, err.command, err.log) == ("prj: failed", 4, "bash build_lib.sh", "prj/build.log")


# ----------------------------------------------------------------------------- the real console entry

def test_entry_train_config_not_utf8(tmp_path):
    (tmp_path / "c.yml").write_bytes(b"seed: 0\nmodel:\n  builder: mlp # \xff\xfe\n")
    before = _state(tmp_path)
    r = _entry("train", "c.yml", cwd=tmp_path)
    assert r.returncode == 2
    _one_error(r.stderr, "train", "c.yml:3", "not UTF-8")
    assert _state(tmp_path) == before


def test_entry_board_with_path_separator(tmp_path):
    (tmp_path / "model.h5").write_bytes(b"x")
    before = _state(tmp_path)
    r = _entry(*_board("../../etc/passwd"), cwd=tmp_path)
    assert r.returncode == 2
    _one_error(r.stderr, "convert", "'../../etc/passwd'")
    assert _state(tmp_path) == before


def test_entry_huge_n(tmp_path):
    r = _entry("csim", "prj", "-n", str(10**12), cwd=tmp_path)
    assert r.returncode == 2
    _one_error(r.stderr, "csim", "argument -n", str(10**12))
    assert list(tmp_path.iterdir()) == []


def test_entry_unknown_command(tmp_path):
    r = _entry("frobnicate", cwd=tmp_path)
    assert r.returncode == 2
    _one_error(r.stderr, None, "'frobnicate'", "train", "convert", "csim", "report")
    assert list(tmp_path.iterdir()) == []


def test_entry_no_command_prints_help(tmp_path):
    r = _entry(cwd=tmp_path)
    assert r.returncode == 2 and "usage: arith4ml" in r.stdout and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- help texts

def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"": parser, **sub.choices}


@pytest.mark.parametrize("command", ["", "train", "convert", "csim", "report"])
def test_help_lists_every_option_with_its_help(capsys, command):
    parser = _commands()[command]
    rc, out, err = _run(capsys, *([command] if command else []), "--help")
    assert rc == 0 and err == ""
    flat = " ".join(out.split())
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        assert action.help and action.help != argparse.SUPPRESS, (command, action.dest)
        for option in action.option_strings:
            assert option in out, (command, option)
        assert " ".join(action.help.split()) in flat, (command, action.help)
    assert "exit codes:" in out and "5    file-system error" in out


def test_top_level_help_lists_the_commands(capsys):
    rc, out, _ = _run(capsys, "--help")
    assert rc == 0
    for name, parser in _commands().items():
        if name:
            assert f"\n  {name} " in out, name
    assert "a typical session:" in out and "arith4ml csim prj" in out


def test_an_interrupt_surfacing_as_another_exception_is_an_interruption(monkeypatch, capsys, tmp_path):
    """Ctrl-C inside a C extension (TensorFlow, h5py) can surface as e.g. SystemError: still exit 130,
    'interrupted', never an internal error; Python's own SIGINT handler is back afterwards."""
    import os
    import signal
    import time

    from toolchain import cli, report

    def interrupted_in_c(args):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            raise SystemError("Objects/listobject.c:338: bad argument to internal function") from None
        return 0

    monkeypatch.setattr(report, "run", interrupted_in_c)
    assert cli.main(["report", str(tmp_path)]) == 130
    assert capsys.readouterr().err.strip() == "arith4ml report: interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
