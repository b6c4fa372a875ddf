"""The HLS part of every board shell: the AXI4-Stream top ``<project>_axis``, its testbench and test data, and the
HLS script that builds and exports it as an IP (``templates/shell/axis_top.*``, ``templates/shell/hls_ip.tcl``).

:func:`write_hls_ip` writes, into a shell directory (``PROJECT/shell/<board>``)::

    hls_ip.tcl              vitis-run --mode hls --tcl hls_ip.tcl | vitis_hls -f hls_ip.tcl | vivado_hls -f hls_ip.tcl
    hls_options.tcl         what hls_ip.tcl does (steps, part, clock, names, paths): vitis-run passes no arguments
    src/<project>_axis.h    the top's declaration and stream word types
    src/<project>_axis.cpp  the top: one frame of n_in beats in, the network, n_out beats out (TLAST on the last)
    src/<project>_axis_tb.cpp  C-sim / co-sim testbench, self-checking against tb_data
    tb_data/axis_in.dat     input frames as raw codes, one frame per line
    tb_data/axis_out.dat    the reference's output codes for them (toolchain.reference.predict)

The exported IP lands in ``<hls_dir>/solution1/impl/ip`` (:attr:`HlsIP.ip_repo`, relative to the shell directory);
its VLNV is ``xilinx.com:hls:<project>_axis:<version>`` (export_design's defaults for vendor and library).
:func:`csim_gxx` compiles and runs the testbench with g++ and hls4ml's ap types, without a vendor tool.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolchain.arith import fixed
from toolchain.arith.fixed import FixedType
from toolchain.errors import ConfigError, DataError
from toolchain.shell.common import BYTE, ProjectIO

# the top's block-level control: an AXI4-Lite register file (Zynq: the PS starts the IP) or none (free-running,
# the Artix UART bridge has no processor)
CONTROLS = {"s_axilite": "s_axilite port=return bundle=control", "ap_ctrl_none": "ap_ctrl_none port=return"}
STEPS = ("csim", "csynth", "cosim", "export")
DEFAULT_STEPS = ("csim", "csynth", "export")  # co-simulation is slow and needs a simulator: asked for explicitly
HLS_DIR = "hls_prj"
IP_VERSION = "1.0"
TB_FRAMES = 8  # frames of test data for the testbench


@dataclass
class HlsIP:
    """What :func:`write_hls_ip` wrote."""

    script: Path  # hls_ip.tcl
    options: Path  # hls_options.tcl
    top: str  # <project>_axis: the IP's name and top function
    in_width: int  # bits of an input stream word (TDATA)
    out_width: int  # bits of an output stream word
    ip_repo: str  # the exported IP's directory, relative to the shell directory
    files: list[Path] = field(default_factory=list)


def top_name(io: ProjectIO) -> str:
    """The AXI4-Stream top function (and IP) name of a project: ``<project>_axis``."""
    return f"{io.name}_axis"


def code_type(t: FixedType) -> str:
    """The C++ integer type of ``t``'s raw code: ``ap_int<width>`` (signed) or ``ap_uint<width>``."""
    return f"ap_{'' if t.signed else 'u'}int<{t.width}>"


def template_values(io: ProjectIO, control: str = "s_axilite", in_width: int | None = None,
                    out_width: int | None = None) -> dict[str, object]:
    """The ``{{key}}`` values of ``templates/shell/axis_top.*``; ConfigError for an unknown ``control`` or a word
    narrower than its type or not whole bytes."""
    if control not in CONTROLS:
        raise ConfigError(f"HLS IP control {control!r} is not one of {', '.join(CONTROLS)}")
    in_width = io.in_width if in_width is None else int(in_width)
    out_width = io.out_width if out_width is None else int(out_width)
    for what, w, t in (("input", in_width, io.input_type), ("output", out_width, io.output_type)):
        if w < t.width or w % BYTE:
            raise ConfigError(f"{what} stream word of {w} bits cannot carry {t.cpp()} ({t.width} bits) in whole "
                              "bytes")
    stream = io.io_type == "io_stream"
    return {"project": io.name, "guard": f"{io.name.upper()}_AXIS_H_", "macro": io.name.upper(),
            "io_stream": int(stream), "n_in": io.n_in, "n_out": io.n_out, "in_width": in_width,
            "out_width": out_width, "input_cpp": io.input_cpp, "output_cpp": io.output_cpp,
            "in_value_t": f"{io.input_cpp}::value_type" if stream else io.input_cpp,
            "out_value_t": f"{io.output_cpp}::value_type" if stream else io.output_cpp,
            "input_type": io.input_type.cpp(), "output_type": io.output_type.cpp(),
            "in_code_t": code_type(io.input_type), "out_code_t": code_type(io.output_type),
            "in_bits": io.input_type.width, "out_bits": io.output_type.width, "control": CONTROLS[control]}


def tcl_word(text: str) -> str:
    """``text`` as one braced Tcl word; ConfigError if it holds a brace or backslash (no value we write does)."""
    text = str(text)
    if any(c in text for c in "{}\\\n"):
        raise ConfigError(f"value {text!r} cannot be written into a Tcl script (braces, backslashes, newlines)")
    return "{" + text + "}"


def options_text(io: ProjectIO, part: str, clock_period_ns: float, firmware: str,
                 steps: tuple[str, ...] = DEFAULT_STEPS) -> str:
    """The text of ``hls_options.tcl``: Tcl ``set`` lines read by ``hls_ip.tcl``."""
    bad = [s for s in steps if s not in STEPS]
    if bad:
        raise ConfigError(f"HLS step {bad[0]!r} is not one of {', '.join(STEPS)}")
    lines = ["# arith4ml: options of hls_ip.tcl (written by toolchain/shell/hls.py; edit 'hls_steps' to choose steps)",
             f"set hls_steps [list {' '.join(steps)}]", f"set hls_top {tcl_word(top_name(io))}",
             f"set hls_project {tcl_word(io.name)}", f"set hls_part {tcl_word(part)}",
             f"set hls_clock_ns {float(clock_period_ns):g}", f"set hls_firmware {tcl_word(firmware)}",
             f"set hls_dir {tcl_word(HLS_DIR)}", f"set hls_ip_version {tcl_word(IP_VERSION)}"]
    return "\n".join(lines) + "\n"


def test_frames(io: ProjectIO, hm, n: int = TB_FRAMES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(input codes, output codes), each (n, n_in|n_out) int64: the project's test data (first rows) or random
    inputs with some beyond the input type's range, quantized as the reference does, and the reference's outputs."""
    from toolchain import project, reference

    x = None
    meta_test = io.project_dir / project.TEST_DATA
    if meta_test.is_file():
        with np.load(meta_test) as data:
            if "x_test" in data:
                x = np.asarray(data["x_test"][:n], dtype=np.float64).reshape(-1, io.n_in)
    if x is None or len(x) == 0:
        rng = np.random.default_rng(seed)
        t = io.input_type
        span = max(abs(t.min_code), t.max_code) * t.lsb
        x = rng.normal(0, span / 3, (n, io.n_in))
        x.flat[::7] *= 4.0  # some values beyond the type's range: its overflow mode is part of the contract
    shape = tuple(int(d) for d in hm.get_input_variables()[0].shape)
    y = reference.predict(hm, x.reshape(len(x), *shape))
    codes_in = fixed.quantize(x, io.input_type)
    codes_out = np.rint(np.ldexp(np.asarray(y, dtype=np.float64).reshape(len(x), io.n_out), io.output_type.frac))
    return codes_in.astype(np.int64), codes_out.astype(np.int64)


def write_hls_ip(io: ProjectIO, directory: str | os.PathLike, *, control: str = "s_axilite",
                 part: str | None = None, clock_period_ns: float | None = None,
                 steps: tuple[str, ...] = DEFAULT_STEPS, in_width: int | None = None, out_width: int | None = None,
                 hm=None, frames: int = TB_FRAMES) -> HlsIP:
    """Write the HLS IP sources, testbench, test data and script of ``io``'s project into ``directory``.

    ``control``: ``"s_axilite"`` (Zynq: the processor starts the IP through an AXI4-Lite ``s_axi_control``
    port) or ``"ap_ctrl_none"`` (free-running, no control port).  ``part`` and ``clock_period_ns`` (ns) default to
    the project's; the shells pass the board's (the IP runs on the board's clock).  ``in_width`` / ``out_width``:
    bits of a stream word (default :func:`~toolchain.shell.common.stream_width` of the type; the Zynq shell asks
    for a width the AXI DMA has).  ``hm``: the project's hls4ml model (reopened without compiling if not given),
    for the reference's test outputs.  The firmware path in ``hls_options.tcl`` is relative to ``directory``'s
    parent's child of the same name, so a staging directory beside the final one gives the same path."""
    from toolchain import project
    from toolchain.backends.writer import render

    directory = Path(directory)
    values = template_values(io, control, in_width, out_width)
    top = top_name(io)
    if hm is None:
        hm, _ = project.reopen(io.project_dir, compile=False)
    (directory / "src").mkdir(parents=True, exist_ok=True)
    (directory / "tb_data").mkdir(exist_ok=True)
    files = []

    def put(rel: str, text: str) -> Path:
        path = directory / rel
        path.write_text(text)
        files.append(path)
        return path

    put(f"src/{top}.h", render("shell/axis_top.h", **values))
    put(f"src/{top}.cpp", render("shell/axis_top.cpp", **values))
    put(f"src/{top}_tb.cpp", render("shell/axis_top_tb.cpp", **values))
    codes_in, codes_out = test_frames(io, hm, frames)
    put("tb_data/axis_in.dat", "".join(" ".join(map(str, row)) + "\n" for row in codes_in))
    put("tb_data/axis_out.dat", "".join(" ".join(map(str, row)) + "\n" for row in codes_out))
    firmware = os.path.relpath(io.project_dir / "firmware", directory.resolve())
    options = put("hls_options.tcl", options_text(io, part or io.part,
                                                  io.clock_period_ns if clock_period_ns is None else clock_period_ns,
                                                  Path(firmware).as_posix(), tuple(steps)))
    script = put("hls_ip.tcl", render("shell/hls_ip.tcl", top=top))
    return HlsIP(script=script, options=options, top=top, in_width=int(values["in_width"]),
                 out_width=int(values["out_width"]), ip_repo=f"{HLS_DIR}/solution1/impl/ip", files=files)


def csim_gxx(directory: str | os.PathLike, io: ProjectIO, timeout: float = 600) -> str:
    """Compile the testbench of the HLS IP in ``directory`` with g++ (hls4ml's ap types, our C-sim stand-in for
    ``ap_axi_sdata.h``) and run it there; returns its output.  DataError with the output if it fails or a word
    differs from the reference; ConfigError if g++ is missing.  ``timeout`` in seconds, for each of the two."""
    from toolchain.resources import templates_dir

    gxx = shutil.which("g++")
    if gxx is None:
        raise ConfigError("g++ is not on PATH; the HLS IP's C simulation needs it")
    directory = Path(directory).resolve()
    firmware = io.project_dir / "firmware"
    top = top_name(io)
    exe = directory / f"{top}_csim"
    # the C-sim build reads the weights from WEIGHTS_DIR/<name>.txt, as the project's own C-sim library does
    cmd = [gxx, "-O1", "-std=c++14", f'-DWEIGHTS_DIR="{firmware / "weights"}"', f"-I{firmware}",
           f"-I{firmware / 'ap_types'}", f"-I{directory / 'src'}",
           f"-I{templates_dir() / 'shell'}", str(firmware / f"{io.name}.cpp"), str(directory / "src" / f"{top}.cpp"),
           str(directory / "src" / f"{top}_tb.cpp"), "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise DataError(f"g++ failed on the HLS IP of '{io.project_dir}':\n{r.stderr.strip()}")
    try:
        r = subprocess.run([str(exe)], cwd=directory, capture_output=True, text=True, timeout=timeout)
    finally:
        exe.unlink(missing_ok=True)
    if r.returncode != 0:
        raise DataError(f"C-sim of {top} failed ({r.returncode}):\n{r.stdout.strip()}\n{r.stderr.strip()}")
    return r.stdout
