"""The Artix board shell: our Verilog top around the HLS IP, talking to a host over the board's USB-UART.

:func:`write` writes ``PROJECT/shell/<board>/`` atomically (``toolchain.atomic``)::

    hls_ip.tcl, hls_options.tcl, src/, tb_data/   the HLS IP (toolchain.shell.hls), ap_ctrl_none (free-running)
    rtl/arith4ml_top.v                            the top, its parameters filled from the board and the project
    rtl/uart_rx.v, uart_tx.v, reset_sync.v, frame_packer.v   the shell's blocks (templates/shell/artix/rtl)
    arith4ml_top.xdc                              clock, reset and UART pins from the board file
    build_bitstream.tcl                           vivado -mode batch -source build_bitstream.tcl (non-project)
    serial_driver.py                              host driver (NumPy + pyserial), --check against the reference
    shell.json                                    what was chosen: clocking, MMCM, baud divider, framing

A build adds ``hls_prj/`` (the HLS project and exported IP) and ``output/`` (bitstream, checkpoints, reports).

The design clock is the board's ``clock_period_ns``.  When the board's oscillator (``pins.clock.period_ns``) runs at
another frequency, an MMCME2_BASE makes the design clock (:func:`mmcm_settings`).  The UART's divider is the design
clock over the baud rate, rounded (:func:`uart_divider`).  Framing: ``SYNC_IN`` then ``n_in`` little-endian input
words in, ``SYNC_OUT`` then ``n_out`` output words back (``templates/shell/artix/rtl/frame_packer.v``).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from toolchain.atomic import check_owned
from toolchain.errors import ConfigError
from toolchain.shell import hls
from toolchain.shell.common import ProjectIO, ShellProject, copy_codes_module, project_io

TOOL = "arith4ml shell"  # the writer named in a shell directory's manifest (as toolchain.shell.zynq)
OUTPUT = "output"
# what a build adds to a shell directory: replacing the shell may delete these (they belong to the old shell)
BUILT = (f"{hls.HLS_DIR}/*", f"{OUTPUT}/*", "*.log", "*.jou", "*.str", ".Xil/*", ".dryrun_*")
TEMPLATES = "shell/artix"  # under templates/
RTL_FILES = ("uart_rx.v", "uart_tx.v", "reset_sync.v", "frame_packer.v")  # copied as they are
TOP = "arith4ml_top"
XDC = f"{TOP}.xdc"
DEFAULT_BAUD = 115200
SYNC_IN = 0xA5  # first byte of a host -> FPGA frame
SYNC_OUT = 0x5A  # first byte of an FPGA -> host frame
TIMEOUT_S = 0.05  # a partial input frame is dropped after this much silence on the line (s)
MAX_BAUD_ERROR = 0.02  # relative error of the divided baud rate a UART tolerates with margin (8N1: ~4.5 % in all)
MIN_CLKS_PER_BIT = 8  # mid-bit sampling needs a few clocks per bit

# 7-series MMCM (DS181 Artix-7 switching characteristics, speed grade -1; the -2/-3 limits are wider):
# input 10-800 MHz, phase detector 10-450 MHz, VCO 600-1200 MHz; CLKFBOUT_MULT_F 2-64 and CLKOUT0_DIVIDE_F 1-128 in
# steps of 1/8 (UG472 MMCME2_BASE attributes; a fractional CLKOUT0 divide needs at least 2), DIVCLK_DIVIDE 1-106
MMCM_FIN_MHZ = (10.0, 800.0)
MMCM_PFD_MHZ = (10.0, 450.0)
MMCM_VCO_MHZ = (600.0, 1200.0)
MMCM_MULT = (2.0, 64.0)
MMCM_OUT_DIV = (1.0, 128.0)
MMCM_DIVCLK = (1, 106)
MMCM_MAX_ERROR = 0.001  # relative design-clock error accepted when no setting is exact


@dataclass(frozen=True)
class MmcmSettings:
    """MMCME2_BASE settings: CLKOUT0 = board clock * ``mult`` / (``divclk`` * ``out_div``)."""

    mult: float  # CLKFBOUT_MULT_F
    divclk: int  # DIVCLK_DIVIDE
    out_div: float  # CLKOUT0_DIVIDE_F
    vco_mhz: float  # board clock * mult / divclk (MHz)
    out_mhz: float  # the design clock it makes (MHz)


@dataclass(frozen=True)
class Clocking:
    """How the design clock is made from the board's oscillator."""

    board_period_ns: float  # the oscillator (ns)
    design_period_ns: float  # the design clock the top runs at (ns): the board file's clock_period_ns
    mmcm: MmcmSettings | None  # None: the oscillator is the design clock

    @property
    def design_hz(self) -> float:
        """The frequency the design clock actually has (Hz): the MMCM's output where there is one."""
        return self.mmcm.out_mhz * 1e6 if self.mmcm else 1e9 / self.board_period_ns


def mmcm_settings(in_period_ns: float, out_period_ns: float) -> MmcmSettings:
    """MMCME2_BASE settings that make a ``out_period_ns`` clock from a ``in_period_ns`` one (both ns).

    Every legal (DIVCLK_DIVIDE, CLKFBOUT_MULT_F) pair is tried with the CLKOUT0_DIVIDE_F nearest the target; the
    choice is the smallest frequency error, then the smallest divider (the highest phase-detector frequency), then
    the highest VCO frequency (less jitter).  ConfigError if the input is outside the MMCM's range or no setting
    comes within MMCM_MAX_ERROR of the target.
    """
    f_in, f_out = 1000.0 / in_period_ns, 1000.0 / out_period_ns  # MHz
    if not MMCM_FIN_MHZ[0] <= f_in <= MMCM_FIN_MHZ[1]:
        raise ConfigError(f"board clock {f_in:.6g} MHz ({in_period_ns} ns) is outside the MMCM's input range "
                          f"{MMCM_FIN_MHZ[0]:g}-{MMCM_FIN_MHZ[1]:g} MHz")
    best, best_key = None, None
    for d in range(MMCM_DIVCLK[0], MMCM_DIVCLK[1] + 1):
        f_pfd = f_in / d
        if f_pfd < MMCM_PFD_MHZ[0]:
            break
        if f_pfd > MMCM_PFD_MHZ[1]:
            continue
        for m8 in range(int(MMCM_MULT[0] * 8), int(MMCM_MULT[1] * 8) + 1):
            f_vco = f_pfd * m8 / 8
            if not MMCM_VCO_MHZ[0] <= f_vco <= MMCM_VCO_MHZ[1]:
                continue
            o8 = min(max(round(f_vco / f_out * 8), int(MMCM_OUT_DIV[0] * 8)), int(MMCM_OUT_DIV[1] * 8))
            if 8 < o8 < 16:  # a fractional divide needs at least 2
                o8 = 16 if o8 >= 12 else 8
            f = f_vco * 8 / o8
            key = (round(abs(f - f_out) / f_out, 9), d, -f_vco)  # ties up to float noise
            if best_key is None or key < best_key:
                best_key, best = key, MmcmSettings(m8 / 8, d, o8 / 8, f_vco, f)
    if best is None or best_key[0] > MMCM_MAX_ERROR:
        raise ConfigError(f"no MMCM setting makes {f_out:.6g} MHz ({out_period_ns} ns) from the {f_in:.6g} MHz "
                          f"board clock within {MMCM_MAX_ERROR:.1%}")
    return best


def clocking(board) -> Clocking:
    """The design clock of an Artix ``board``: its oscillator, or an MMCM when the periods differ (by > 1 ps)."""
    osc, design = board.pins.clock.period_ns, board.clock_period_ns
    mmcm = None if abs(osc - design) < 1e-3 else mmcm_settings(osc, design)
    return Clocking(board_period_ns=osc, design_period_ns=design, mmcm=mmcm)


def uart_divider(clock_hz: float, baud: int) -> int:
    """Design clock cycles per UART bit for ``baud`` at ``clock_hz`` (Hz), rounded; ConfigError when the divided
    rate is more than MAX_BAUD_ERROR off ``baud`` or a bit is shorter than MIN_CLKS_PER_BIT clocks."""
    if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
        raise ConfigError(f"baud rate {baud!r} must be a positive integer (e.g. {DEFAULT_BAUD})")
    n = round(clock_hz / baud)
    if n < MIN_CLKS_PER_BIT:
        raise ConfigError(f"baud rate {baud} is too fast for a {clock_hz / 1e6:.6g} MHz design clock (a bit would "
                          f"last {clock_hz / baud:.3g} clocks; at least {MIN_CLKS_PER_BIT} are needed)")
    error = abs(clock_hz / n - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise ConfigError(f"baud rate {baud} cannot be made from a {clock_hz / 1e6:.6g} MHz design clock: the "
                          f"nearest divider {n} gives {clock_hz / n:.1f} baud ({error:.1%} off, at most "
                          f"{MAX_BAUD_ERROR:.0%})")
    return n


def _real(x: float) -> str:
    """A Verilog real literal with three decimals (Vivado reads MMCM periods and ratios to 1/1000)."""
    return f"{x:.3f}"


def top_values(io: ProjectIO, board, clock: Clocking, baud: int) -> dict[str, object]:
    """The ``{{key}}`` values of ``templates/shell/artix/rtl/arith4ml_top.v``."""
    m = clock.mmcm
    pins = board.pins
    return {"project": io.name, "board": board.name, "ip_module": ip_module(io),
            "clk_in_period_ns": _real(clock.board_period_ns), "use_mmcm": int(m is not None),
            # unused when there is no MMCM, but legal values keep the parameters meaningful
            "mmcm_mult": _real(m.mult if m else 10.0), "mmcm_divclk": m.divclk if m else 1,
            "mmcm_out_div": _real(m.out_div if m else 10.0),
            "reset_active_low": int(pins.reset.active_low), "baud": baud,
            "clks_per_bit": uart_divider(clock.design_hz, baud), "timeout_ms": f"{TIMEOUT_S * 1e3:g}",
            "timeout_clks": round(TIMEOUT_S * clock.design_hz), "n_in": io.n_in, "in_bytes": io.in_width // 8,
            "n_out": io.n_out, "out_bytes": io.out_width // 8, "clock_port": pins.clock.port,
            "reset_port": pins.reset.port, "uart_rx_port": pins.uart_rx.port, "uart_tx_port": pins.uart_tx.port}


def ip_module(io: ProjectIO) -> str:
    """The module name of the HLS IP's instance in the top: ``<project>_axis_0`` (create_ip -module_name; the IP's
    own top module is ``<project>_axis``, and an instance may not have its name)."""
    return f"{hls.top_name(io)}_0"


def xdc_text(board, clock: Clocking) -> str:
    """The constraints of the top's four ports on ``board``: package pins and I/O standard from the board file,
    the board clock at its period, the asynchronous UART and reset lines out of timing analysis."""
    pins = board.pins
    std = pins.iostandard
    period = clock.board_period_ns
    lines = [f"## arith4ml: constraints of arith4ml_top on {board.name} ({board.part}), written by "
             "toolchain/shell/artix.py from the board file",
             f"## {board.path}" if board.path else "## (board file path unknown)",
             *(f"## source: {s}" for s in board.sources),
             "## The top's ports have fixed names; the master XDC's name of each pin is in the comment.", "",
             f"## board clock: {1000.0 / period:.6g} MHz oscillator",
             f"set_property -dict {{ PACKAGE_PIN {pins.clock.pin} IOSTANDARD {std} }} [get_ports board_clk]; "
             f"# {pins.clock.port}",
             f"create_clock -add -name sys_clk_pin -period {period:.3f} -waveform {{0 {period / 2:.3f}}} "
             "[get_ports board_clk]"]
    if clock.mmcm:
        lines.append(f"## the design clock ({clock.mmcm.out_mhz:.6g} MHz) is the MMCM's CLKOUT0: Vivado derives "
                     "its constraint from the MMCM settings")
    active = "low" if pins.reset.active_low else "high"
    lines += ["", f"## reset button (active {active}); asynchronous, synchronised in reset_sync",
              f"set_property -dict {{ PACKAGE_PIN {pins.reset.pin} IOSTANDARD {std} }} [get_ports board_rst]; "
              f"# {pins.reset.port}",
              "set_false_path -from [get_ports board_rst]", "",
              "## USB-UART, seen from the FPGA; asynchronous to the design clock (uart_rx has a two-flop synchroniser)",
              f"set_property -dict {{ PACKAGE_PIN {pins.uart_rx.pin} IOSTANDARD {std} }} [get_ports uart_rxd]; "
              f"# {pins.uart_rx.port} (FPGA input)",
              f"set_property -dict {{ PACKAGE_PIN {pins.uart_tx.pin} IOSTANDARD {std} }} [get_ports uart_txd]; "
              f"# {pins.uart_tx.port} (FPGA output)",
              "set_false_path -from [get_ports uart_rxd]", "set_false_path -to [get_ports uart_txd]"]
    if std == "LVCMOS33":
        # the configuration bank's voltage: Vivado's DRC asks for these (CFGBVS-1) when they are missing; the
        # 3.3 V Digilent boards power bank 0 at 3.3 V (Basys 3 master XDC)
        lines += ["", "## configuration bank voltage", "set_property CONFIG_VOLTAGE 3.3 [current_design]",
                  "set_property CFGBVS VCCO [current_design]"]
    return "\n".join(lines) + "\n"


def tcl_values(io: ProjectIO, board, jobs: int, ip_repo: str) -> dict[str, object]:
    """The ``{{key}}`` values of ``templates/shell/artix/build_bitstream.tcl``."""
    tw = hls.tcl_word
    return {"project": io.name, "board": board.name, "part": tw(board.part), "ip_name": tw(hls.top_name(io)),
            "ip_module": tw(ip_module(io)), "ip_repo": tw(ip_repo), "output": tw(OUTPUT), "jobs": int(jobs),
            "xdc": tw(XDC), "rtl_files": "[list " + " ".join(tw(f) for f in (*RTL_FILES, f"{TOP}.v")) + "]",
            "bitstream": tw(f"{hls.top_name(io)}.bit")}


def driver_values(io: ProjectIO, board, baud: int) -> dict[str, object]:
    """The ``{{key}}`` values of ``templates/shell/artix/serial_driver.py``."""
    it, ot = io.input_type, io.output_type
    return {"project": io.name, "board": board.name, "n_in": io.n_in, "n_out": io.n_out,
            "in_bytes": io.in_width // 8, "out_bytes": io.out_width // 8, "baud": baud, "timeout_s": TIMEOUT_S,
            "sync_in": SYNC_IN, "sync_out": SYNC_OUT, "in_bits": it.width, "in_integer": it.integer,
            "in_signed": it.signed, "in_rounding": it.rounding, "in_overflow": it.overflow, "input_type": it.cpp(),
            "out_bits": ot.width, "out_integer": ot.integer, "out_signed": ot.signed, "output_type": ot.cpp()}


def _replaceable(directory: Path) -> bool:
    check_owned(directory, TOOL, BUILT, what="shell directory")
    return True


def write(project_dir: str | os.PathLike, board, baud: int = DEFAULT_BAUD, jobs: int = 4, *,
          steps: tuple[str, ...] = hls.DEFAULT_STEPS, hm=None) -> ShellProject:
    """Write the Artix shell of the project in ``project_dir`` for ``board`` (an artix7 Board with pins) into
    ``PROJECT/shell/<board>/``; returns what was written.

    ``baud``: the UART's rate (bit/s; the design clock divided by a whole number must come within 2 % of it).
    ``jobs``: Vivado's threads.  ``steps``: the HLS steps hls_ip.tcl runs.  The IP is built for the board's part and
    design clock.  An existing shell directory is replaced only if it holds nothing but what this function and a
    build wrote.
    """
    from toolchain.atomic import atomic_directory
    from toolchain.backends.writer import render

    if board.family != "artix7" or board.pins is None:
        raise ConfigError(f"board '{board.name}' is a {board.family} board, not an Artix (artix7) board with pins")
    if isinstance(jobs, bool) or int(jobs) < 1:
        raise ConfigError(f"jobs {jobs} must be at least 1")
    clock = clocking(board)
    clks_per_bit = uart_divider(clock.design_hz, baud)
    if hm is None:
        from toolchain import project

        hm, _ = project.reopen(project_dir, compile=False)
    io = project_io(project_dir, hm)
    out = io.project_dir / "shell" / board.name
    with atomic_directory(out, _replaceable, "shell directory", manifest=TOOL) as staging:
        ip = hls.write_hls_ip(io, staging, control="ap_ctrl_none", part=board.part,
                              clock_period_ns=board.clock_period_ns, steps=tuple(steps), hm=hm)
        written = list(ip.files)
        rtl = staging / "rtl"
        rtl.mkdir()
        for name in RTL_FILES:
            written.append(rtl / name)
            (rtl / name).write_text(render(f"{TEMPLATES}/rtl/{name}"))
        written.append(rtl / f"{TOP}.v")
        written[-1].write_text(render(f"{TEMPLATES}/rtl/{TOP}.v", **top_values(io, board, clock, baud)))
        written.append(staging / XDC)
        written[-1].write_text(xdc_text(board, clock))
        written.append(staging / "build_bitstream.tcl")
        written[-1].write_text(render(f"{TEMPLATES}/build_bitstream.tcl", **tcl_values(io, board, jobs, ip.ip_repo)))
        written.append(staging / "serial_driver.py")
        written[-1].write_text(render(f"{TEMPLATES}/serial_driver.py", **driver_values(io, board, baud)))
        written.append(copy_codes_module(staging))
        written[-1].chmod(0o755)
        info = {"board": board.name, "part": board.part, "project": io.as_dict(), "baud": baud,
                "clks_per_bit": clks_per_bit, "actual_baud": clock.design_hz / clks_per_bit,
                "board_clock_period_ns": clock.board_period_ns, "design_clock_period_ns": clock.design_period_ns,
                "design_clock_mhz": clock.design_hz / 1e6, "mmcm": asdict(clock.mmcm) if clock.mmcm else None,
                "framing": {"sync_in": SYNC_IN, "sync_out": SYNC_OUT, "in_bytes": io.in_width // 8,
                            "out_bytes": io.out_width // 8, "timeout_s": TIMEOUT_S, "window": 2},
                "ip_repo": ip.ip_repo, "ip_module": ip_module(io)}
        written.append(staging / "shell.json")
        written[-1].write_text(json.dumps(info, indent=1) + "\n")
        files = [out / p.relative_to(staging) for p in written]
    top = hls.top_name(io)
    outputs = {"bit": out / OUTPUT / f"{top}.bit", "utilization": out / OUTPUT / "utilization.rpt",
               "timing": out / OUTPUT / "timing.rpt"}
    return ShellProject(directory=out, board=board.name, family=board.family, io=io, hls_script=out / "hls_ip.tcl",
                        vivado_script=out / "build_bitstream.tcl", driver=out / "serial_driver.py", outputs=outputs,
                        files=files)


def frame_seconds(io: ProjectIO, baud: int) -> float:
    """Seconds one frame takes on the line each way at ``baud`` (10 bits a byte, sync byte included):
    the UART bound of the shell's throughput."""
    return 10.0 * (1 + max(io.n_in * io.in_width, io.n_out * io.out_width) / 8) / baud


__all__ = ["Clocking", "MmcmSettings", "clocking", "frame_seconds", "mmcm_settings", "uart_divider", "write",
           "xdc_text"]
