"""The Artix board shell (toolchain.shell.artix): our RTL simulated with Icarus Verilog against a stand-in for the
HLS IP, linted with Verilator, the XDC from the board file, build_bitstream.tcl under the Tcl dry-run harness, and the
serial driver end to end over a pseudo-terminal against a fake board that answers with toolchain.reference.

Simulation: ``templates/shell/artix/sim/`` holds the testbench (a host UART at the exact baud rate, scripted
from a stimulus file), the IP stand-in (y[j] = sum_i (i + j + 1) x[i], with back-pressure) and behavioural models
of MMCME2_BASE and BUFG (the 12 MHz board's MMCM path; Vivado's unisim library is not available here).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.tcl_dryrun import run_dryrun, tclsh
from toolchain.arith.fixed import FixedType, quantize
from toolchain.backends.writer import render
from toolchain.boards import load_board
from toolchain.errors import ConfigError
from toolchain.resources import templates_dir
from toolchain.shell import artix
from toolchain.shell.common import ProjectIO

ARTIX = templates_dir() / "shell" / "artix"
SIM = ARTIX / "sim"
RTL = ARTIX / "rtl"
IVERILOG = shutil.which("iverilog")
VVP = shutil.which("vvp")
VERILATOR = shutil.which("verilator")
needs_iverilog = pytest.mark.skipif(not (IVERILOG and VVP), reason="Icarus Verilog (iverilog, vvp) is not installed "
                                    "(Debian package 'iverilog'; 'make tools' installs it)")
needs_verilator = pytest.mark.skipif(VERILATOR is None, reason="Verilator is not installed (Debian package "
                                     "'verilator'; 'make tools' installs it)")
needs_tclsh = pytest.mark.skipif(tclsh() is None, reason="tclsh is not installed (Debian package 'tcl')")

BAUD = 115200


def _io(tmp_path: Path, n_in: int = 5, n_out: int = 3, input_type: FixedType = FixedType(12, 4),
        output_type: FixedType = FixedType(18, 8)) -> ProjectIO:
    return ProjectIO(project_dir=tmp_path, name="myproject", n_in=n_in, n_out=n_out, input_type=input_type,
                     output_type=output_type, io_type="io_parallel", part="xc7a35ticsg324-1L", clock_period_ns=10.0,
                     backend="Bitshift", input_cpp="input_t", output_cpp="result_t")


def _standin_outputs(codes: np.ndarray, io: ProjectIO) -> np.ndarray:
    """What the IP stand-in returns: y[j] = sum_i (i + j + 1) x[i], x the sign-extended input words, as the low
    out_width bits (unsigned)."""
    w_in, w_out = io.in_width, io.out_width
    x = codes & ((1 << w_in) - 1)
    x = np.where(x >= 1 << (w_in - 1), x - (1 << w_in), x).astype(object)
    return np.array([[int(sum((i + j + 1) * int(row[i]) for i in range(io.n_in))) & ((1 << w_out) - 1)
                      for j in range(io.n_out)] for row in x], dtype=object)


def _frame(codes_row, nbytes: int, sync: int) -> list[int]:
    out = [sync]
    for c in codes_row:
        out += [(int(c) >> (8 * k)) & 0xFF for k in range(nbytes)]
    return out


class Script:
    """The testbench's stimulus (tb_arith4ml_top.v): bytes, quiet times, reset presses, waits for replies."""

    def __init__(self) -> None:
        self.entries: list[int] = []

    def send(self, data) -> Script:
        self.entries += [int(b) for b in data]
        return self

    def quiet(self, bits: int) -> Script:
        self.entries.append(0x010000 | bits)
        return self

    def reset(self, bits: int = 20) -> Script:
        self.entries.append(0x020000 | bits)
        return self

    def wait_replies(self, n: int) -> Script:
        self.entries.append(0x030000 | n)
        return self

    def text(self) -> str:
        return "".join(f"{e:06x}\n" for e in [*self.entries, 0x040000])


def _simulate(tmp_path: Path, io: ProjectIO, board, script: Script, expect_bytes: int, timeout_clks: int = 0,
              max_ms: int = 20) -> tuple[bytes, str]:
    """Compile the shell's top for ``board`` with the stand-in IP and run the script; (reply bytes, log)."""
    clock = artix.clocking(board)
    sim = tmp_path / "sim"
    sim.mkdir(exist_ok=True)
    (sim / "arith4ml_top.v").write_text(render("shell/artix/rtl/arith4ml_top.v",
                                               **artix.top_values(io, board, clock, BAUD)))
    (sim / "ip_standin.v").write_text(render("shell/artix/sim/ip_standin.v", ip_module=artix.ip_module(io),
                                             n_in=io.n_in, w_in=io.in_width, n_out=io.n_out, w_out=io.out_width))
    (sim / "stim.hex").write_text(script.text())
    reply_bytes = 1 + io.n_out * io.out_width // 8
    params = {"BOARD_PERIOD_NS": f"{clock.board_period_ns}", "RESET_ACTIVE_LOW": int(board.pins.reset.active_low),
              "BAUD": f"{BAUD}.0", "REPLY_BYTES": reply_bytes, "EXPECT_BYTES": expect_bytes,
              "TIMEOUT_CLKS": timeout_clks, "MAX_MS": max_ms}
    sources = [SIM / "tb_arith4ml_top.v", *([SIM / "unisim_models.v"] if clock.mmcm else []),
               *(RTL / f for f in artix.RTL_FILES), sim / "arith4ml_top.v", sim / "ip_standin.v"]
    cmd = [IVERILOG, "-g2005", "-Wall", "-Wno-timescale", "-o", str(sim / "tb.vvp"), "-s", "tb",
           *(f"-Ptb.{k}={v}" for k, v in params.items()), *map(str, sources)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout
    r = subprocess.run([VVP, "-n", str(sim / "tb.vvp")], cwd=sim, capture_output=True, text=True, timeout=600)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log
    assert "TB DONE" in log and "ERROR" not in log, log
    data = bytes(int(line, 16) for line in (sim / "reply.hex").read_text().split())
    return data, log


def _frames(io: ProjectIO, n: int, seed: int) -> np.ndarray:
    """Random input codes (n, n_in) over the whole range of the input type, the extremes included."""
    rng = np.random.default_rng(seed)
    t = io.input_type
    codes = rng.integers(t.min_code, t.max_code + 1, size=(n, io.n_in))
    codes[0, 0], codes[0, -1] = t.min_code, t.max_code
    return codes


def _expected(io: ProjectIO, codes: np.ndarray) -> bytes:
    ys = _standin_outputs(codes, io)
    return bytes(b for row in ys for b in _frame(row, io.out_width // 8, artix.SYNC_OUT))


# ---- simulation ------------------------------------------------------------------------------------------------

@needs_iverilog
def test_sim_arty_frames_with_window_of_two(tmp_path):
    """Arty A7 (100 MHz board clock = design clock, active-low reset): four frames, two in flight at a time as the
    driver sends them, come back as the stand-in's outputs; stray bytes before a frame are ignored."""
    board = load_board("arty-a7-35t")
    io = _io(tmp_path)
    codes = _frames(io, 4, seed=1)
    script = Script().send([0x00, 0x13, 0x5A])  # not SYNC_IN: ignored
    for k, row in enumerate(codes):
        if k >= 2:
            script.wait_replies(k - 1)
        script.send(_frame(row, io.in_width // 8, artix.SYNC_IN))
    expected = _expected(io, codes)
    data, _ = _simulate(tmp_path, io, board, script, len(expected))
    assert data == expected


@needs_iverilog
def test_sim_resync_after_partial_frame_and_reset(tmp_path):
    """A frame cut short is dropped after the quiet timeout and the next frame is answered; a reset press in
    mid-frame also returns the shell to a frame boundary.  One-byte words (ap_fixed<8,...>) in, two-byte out."""
    board = load_board("arty-a7-35t")
    io = _io(tmp_path, n_in=6, n_out=2, input_type=FixedType(8, 3), output_type=FixedType(16, 6))
    codes = _frames(io, 3, seed=2)
    nb = io.in_width // 8
    full = [_frame(row, nb, artix.SYNC_IN) for row in codes]
    timeout_clks = 40 * 868  # 40 bit times instead of the shipped 50 ms, to keep the simulation short
    script = (Script().send(full[0][:4]).quiet(60)          # cut short, then quiet past the timeout
              .send(full[0]).wait_replies(1)
              .send(full[1][:5]).reset(10).quiet(5)         # reset in mid-frame
              .send(full[2]).wait_replies(2))
    expected = _expected(io, codes[[0, 2]])
    data, _ = _simulate(tmp_path, io, board, script, len(expected), timeout_clks=timeout_clks)
    assert data == expected


@needs_iverilog
def test_sim_cmod_12mhz_through_mmcm(tmp_path):
    """Cmod A7 (12 MHz oscillator, 100 MHz design clock through the MMCM; active-high reset button), simulated with
    the behavioural MMCME2_BASE model: frames come back right at 115200 baud."""
    board = load_board("cmod-a7-35t")
    clock = artix.clocking(board)
    assert clock.mmcm is not None and clock.mmcm.divclk == 1
    assert 600 <= clock.mmcm.vco_mhz <= 1200 and abs(clock.mmcm.out_mhz - 100) < 0.01
    io = _io(tmp_path, n_in=3, n_out=4, input_type=FixedType(16, 6), output_type=FixedType(24, 12, signed=False))
    codes = _frames(io, 2, seed=3)
    script = Script()
    for row in codes:
        script.send(_frame(row, io.in_width // 8, artix.SYNC_IN))
    expected = _expected(io, codes)
    data, log = _simulate(tmp_path, io, board, script, len(expected))
    assert "MMCME2_BASE model" in log
    assert data == expected


# ---- lint ------------------------------------------------------------------------------------------------------

@needs_verilator
@pytest.mark.parametrize("board_name", ["arty-a7-35t", "cmod-a7-35t"])
def test_verilator_lint_clean(tmp_path, board_name):
    """verilator --lint-only -Wall: no warning in our RTL and the generated top (MMCM and IP as port stubs)."""
    board = load_board(board_name)
    io = _io(tmp_path)
    top = tmp_path / "arith4ml_top.v"
    top.write_text(render("shell/artix/rtl/arith4ml_top.v", **artix.top_values(io, board, artix.clocking(board),
                                                                                BAUD)))
    stub = tmp_path / "ip_stub.v"
    stub.write_text("/* verilator lint_off UNUSEDSIGNAL */\n/* verilator lint_off UNUSEDPARAM */\n"
                    "/* verilator lint_off DECLFILENAME */\n/* verilator lint_off WIDTH */\n"
                    + render("shell/artix/sim/ip_standin.v", ip_module=artix.ip_module(io), n_in=io.n_in,
                             w_in=io.in_width, n_out=io.n_out, w_out=io.out_width))
    cmd = [VERILATOR, "--lint-only", "-Wall", "--top-module", "arith4ml_top", str(SIM / "lint_stubs.v"), str(stub),
           *(str(RTL / f) for f in artix.RTL_FILES), str(top)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr


# ---- clocking, baud, XDC -----------------------------------------------------------------------------------------

def test_mmcm_settings_legal_and_exact():
    for f_in, f_out in ((12.0, 100.0), (100.0, 200.0), (125.0, 100.0), (12.0, 50.0), (100.0, 100.0 / 3)):
        m = artix.mmcm_settings(1000 / f_in, 1000 / f_out)
        assert 600 <= m.vco_mhz <= 1200
        assert 2 <= m.mult <= 64 and (m.mult * 8).is_integer() and 1 <= m.divclk <= 106
        assert (m.out_div * 8).is_integer() and (m.out_div == 1 or 2 <= m.out_div <= 128)
        assert 10 <= f_in / m.divclk <= 450
        assert m.out_mhz == pytest.approx(f_in * m.mult / (m.divclk * m.out_div))
        assert abs(m.out_mhz - f_out) / f_out < 1e-3
    m = artix.mmcm_settings(1000 / 12, 10)
    assert (m.mult, m.divclk, m.out_div) == (62.5, 1, 7.5)  # the highest VCO with an exact 100 MHz
    with pytest.raises(ConfigError, match="input range"):
        artix.mmcm_settings(1000 / 5, 10)  # 5 MHz: below the MMCM's input range


def test_uart_divider():
    assert artix.uart_divider(100e6, 115200) == 868
    assert artix.uart_divider(100e6, 1_000_000) == 100
    with pytest.raises(ConfigError, match="too fast"):
        artix.uart_divider(100e6, 20_000_000)
    with pytest.raises(ConfigError, match="off"):
        artix.uart_divider(100e6, 11_764_706)  # 8.5 clocks a bit: 8 gives 12.5 Mbaud, 6 % off
    with pytest.raises(ConfigError, match="positive integer"):
        artix.uart_divider(100e6, 0)


@pytest.mark.parametrize("board_name", ["arty-a7-35t", "cmod-a7-35t"])
def test_xdc_from_board_file(board_name):
    board = load_board(board_name)
    pins = board.pins
    text = artix.xdc_text(board, artix.clocking(board))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert (f"set_property -dict {{ PACKAGE_PIN {pins.clock.pin} IOSTANDARD {pins.iostandard} }} "
            f"[get_ports board_clk]; # {pins.clock.port}") in lines
    period = pins.clock.period_ns
    assert (f"create_clock -add -name sys_clk_pin -period {period:.3f} -waveform {{0 {period / 2:.3f}}} "
            "[get_ports board_clk]") in lines
    for port, pin in (("board_rst", pins.reset), ("uart_rxd", pins.uart_rx), ("uart_txd", pins.uart_tx)):
        assert any(line.startswith(f"set_property -dict {{ PACKAGE_PIN {pin.pin} IOSTANDARD {pins.iostandard} }} "
                                   f"[get_ports {port}]; # {pin.port}") for line in lines)
    assert sum("create_clock" in line for line in lines) == 1
    assert "set_property CFGBVS VCCO [current_design]" in lines


# ---- the written shell and build_bitstream.tcl ------------------------------------------------------------------

@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A small converted arith4ml project (zoo MLP, Bitshift backend) and its hls4ml model."""
    from tests import zoo
    from toolchain import project as prj

    out = tmp_path_factory.mktemp("artix") / "prj"
    model = zoo.mlp(5, widths=(6, 8, 3))
    hm, _ = prj.convert(model, "Bitshift", out, part="xc7a35ticsg324-1L", compile=False)
    return out, hm


@pytest.fixture(scope="module")
def shell(project):
    out, hm = project
    return artix.write(out, load_board("arty-a7-35t"), hm=hm)


def test_write_shell_files(shell, project):
    out, _ = project
    d = out / "shell" / "arty-a7-35t"
    assert shell.directory == d and shell.family == "artix7"
    for rel in ("rtl/arith4ml_top.v", "rtl/uart_rx.v", "rtl/uart_tx.v", "rtl/reset_sync.v", "rtl/frame_packer.v",
                "arith4ml_top.xdc", "build_bitstream.tcl", "serial_driver.py", "shell.json", "hls_ip.tcl",
                "hls_options.tcl", f"src/{shell.io.name}_axis.cpp"):
        assert (d / rel).is_file(), rel
        assert d / rel in shell.files
    top = (d / "rtl/arith4ml_top.v").read_text()
    assert "{{" not in top and f"{shell.io.name}_axis_0 u_ip" in top
    assert "CLKS_PER_BIT     = 868" in top and "USE_MMCM         = 0" in top
    assert "ap_ctrl_none" in (d / f"src/{shell.io.name}_axis.cpp").read_text()
    info = json.loads((d / "shell.json").read_text())
    assert info["clks_per_bit"] == 868 and info["mmcm"] is None and info["framing"]["sync_in"] == 0xA5
    # written again: the directory is replaced (it holds only what the writer wrote)
    artix.write(out, load_board("arty-a7-35t"), hm=project[1])


def test_write_refuses_zynq_board_and_bad_baud(project):
    out, hm = project
    with pytest.raises(ConfigError, match="not an Artix"):
        artix.write(out, load_board("pynq-z2"), hm=hm)
    with pytest.raises(ConfigError, match="baud"):
        artix.write(out, load_board("arty-a7-35t"), baud=30_000_000, hm=hm)


@needs_tclsh
def test_build_bitstream_tcl_dryrun(shell, tmp_path):
    d = shell.directory
    with pytest.raises(RuntimeError, match="not exported yet"):
        run_dryrun(d / "build_bitstream.tcl", tmp_path)
    ip_repo = d / "hls_prj" / "solution1" / "impl" / "ip"
    ip_repo.mkdir(parents=True)
    try:
        calls = run_dryrun(d / "build_bitstream.tcl", tmp_path)
    finally:
        shutil.rmtree(d / "hls_prj")
        shutil.rmtree(d / "output", ignore_errors=True)
    names = [c[0] for c in calls]
    order = ["create_project", "update_ip_catalog", "create_ip", "generate_target", "read_verilog", "read_xdc",
             "synth_design", "opt_design", "place_design", "route_design", "write_bitstream"]
    first = [names.index(n) for n in order]
    assert first == sorted(first)
    routed = names.index("route_design")
    assert "report_utilization" in names[routed:] and "report_timing_summary" in names[routed:]
    synth = next(c for c in calls if c[0] == "synth_design")
    assert synth == ["synth_design", "-top", "arith4ml_top", "-part", "xc7a35ticsg324-1L"]
    read = {Path(c[-1]).name for c in calls if c[0] == "read_verilog"}
    assert read == {"arith4ml_top.v", *artix.RTL_FILES}
    assert [Path(c[-1]).name for c in calls if c[0] == "read_xdc"] == ["arith4ml_top.xdc"]
    create_ip = next(c for c in calls if c[0] == "create_ip")
    assert create_ip[create_ip.index("-module_name") + 1] == f"{shell.io.name}_axis_0"
    out = d / "output"
    assert next(c for c in calls if c[0] == "write_bitstream")[-1] == str(out / f"{shell.io.name}_axis.bit")
    reports = {Path(c[-1]).name for c in calls if c[0].startswith("report_")}
    assert {"utilization.rpt", "timing.rpt"} <= reports
    assert all(Path(c[-1]).parent == out for c in calls if c[0].startswith("report_"))


# ---- the serial driver over a pseudo-terminal --------------------------------------------------------------------

def _fake_board(fd: int, io: ProjectIO, hm, stop: threading.Event, drop_first: bool) -> None:
    """Answer frames on the pty master ``fd`` as the board does, with toolchain.reference's outputs."""
    import select

    from toolchain import reference
    from toolchain.arith.fixed import to_float

    nb_in, nb_out = io.in_width // 8, io.out_width // 8
    need = io.n_in * nb_in
    buf = bytearray()
    dropped = not drop_first
    while not stop.is_set():
        if select.select([fd], [], [], 0.05)[0]:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                return
        while buf:
            if buf[0] != artix.SYNC_IN:
                del buf[0]
                continue
            if len(buf) < 1 + need:
                break
            payload, buf = bytes(buf[1:1 + need]), buf[1 + need:]
            if not dropped:  # lose the first frame, as a board would lose a corrupted one
                dropped = True
                continue
            raw = np.frombuffer(payload, dtype=np.uint8).reshape(io.n_in, nb_in).astype(np.int64)
            words = sum(raw[:, k] << (8 * k) for k in range(nb_in))
            t = io.input_type
            codes = words & ((1 << t.width) - 1)
            if t.signed:
                codes = np.where(codes >= 1 << (t.width - 1), codes - (1 << t.width), codes)
            y = reference.predict(hm, to_float(codes, t)[None, :], threads=1)[0]
            ycodes = quantize(y, io.output_type)  # exact: y is on the output grid
            os.write(fd, bytes(_frame([int(c) & ((1 << io.out_width) - 1) for c in ycodes], nb_out,
                                      artix.SYNC_OUT)))


@pytest.mark.parametrize("drop_first", [False, True])
def test_serial_driver_over_pty_equals_reference(shell, project, tmp_path, drop_first):
    """serial_driver.py, run as its own process on a pty, gets exactly toolchain.reference's outputs from a fake
    board (a thread answering with the reference); a lost frame is recovered by resync and resend."""
    import termios
    import tty

    from toolchain import reference

    _, hm = project
    io = shell.io
    master, slave = os.openpty()
    tty.setraw(master)
    attrs = termios.tcgetattr(master)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(master, termios.TCSANOW, attrs)
    stop = threading.Event()
    fake = threading.Thread(target=_fake_board, args=(master, io, hm, stop, drop_first), daemon=True)
    fake.start()
    rng = np.random.default_rng(7)
    x = rng.normal(0, 2.0, size=(12, io.n_in))
    x[0, 0] = 1e6  # saturates or wraps as the input type says
    np.save(tmp_path / "x.npy", x)
    try:
        r = subprocess.run([sys.executable, str(shell.driver), "--port", os.ttyname(slave), "--input",
                            str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"), "--check",
                            str(project[0])], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    finally:
        stop.set()
        fake.join(5)
        os.close(slave)
        os.close(master)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "reference check: 0 of 12 frames differ" in r.stdout
    y = np.load(tmp_path / "y.npy")
    assert np.array_equal(y, reference.predict(hm, x))


def test_driver_quantize_equals_toolchain(shell):
    """The driver's embedded quantize is toolchain.arith.fixed.quantize for every rounding and overflow mode."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("serial_driver_under_test", shell.driver)
    drv = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = drv  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(drv)
    finally:
        del sys.modules[spec.name]
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 40, 2000), np.arange(-64, 64) / 8 + 1 / 32, [0.0, -0.0, 1e9, -1e9]])
    from toolchain.arith.fixed import OVERFLOW_MODES, ROUNDING_MODES

    for rounding in ROUNDING_MODES:
        for overflow in OVERFLOW_MODES:
            for signed in (True, False):
                t = FixedType(10, 5, signed, rounding, overflow)
                dt = drv.FixedType(10, 5, signed, rounding, overflow)
                codes = drv.quantize(x, dt)
                assert np.array_equal(codes, quantize(x, t)), t
                assert np.array_equal(drv.decode(drv.encode(codes, 2), 2, dt), codes)
