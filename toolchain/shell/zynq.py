"""The Zynq board shell (Zynq-7000 and Zynq UltraScale+): the project's AXI4-Stream IP behind an AXI DMA of the
processing system, a Vivado block design through ``write_bitstream`` and a PYNQ driver.

:func:`write` writes ``PROJECT/shell/<board>/`` atomically (``toolchain.atomic``)::

    hls_ip.tcl, hls_options.tcl, src/, tb_data/   the HLS IP (toolchain.shell.hls), AXI4-Lite control
    block_design.tcl                              vivado -mode batch -source block_design.tcl
    pynq_driver.py                                NetworkOverlay(Overlay).predict(x), on the board

A build (``vitis-run --mode hls --tcl hls_ip.tcl``, then ``vivado -mode batch -source block_design.tcl``, both
run in the shell directory) adds ``hls_prj/``, ``vivado_prj/`` and ``output/`` with ``<project>_axis.bit``,
``<project>_axis.hwh``, ``utilization.rpt``, ``utilization_hierarchical.rpt`` and ``timing.rpt``.
"""
from __future__ import annotations

import os
from pathlib import Path

from toolchain.atomic import check_owned
from toolchain.errors import ConfigError
from toolchain.shell import hls
from toolchain.shell.common import ProjectIO, ShellProject, copy_codes_module, project_io

TOOL = "arith4ml shell"  # the writer named in a shell directory's manifest
OUTPUT = "output"
# what a build adds to a shell directory: replacing the shell may delete these (they belong to the old shell)
BUILT = (f"{hls.HLS_DIR}/*", "vivado_prj/*", f"{OUTPUT}/*", "*.log", "*.jou", "*.str", ".Xil/*", "vitis_hls.log",
         ".dryrun_*")
DMA_WIDTHS = (8, 16, 32, 64, 128, 256, 512, 1024)  # the AXI DMA's stream data widths (PG021)
FAMILIES = ("zynq7000", "zynqmp")


def dma_width(bits: int) -> int:
    """The narrowest AXI DMA stream width (bits) that holds a ``bits``-bit word: 8, 16, 32, 64, ..."""
    for w in DMA_WIDTHS:
        if w >= bits:
            return w
    raise ConfigError(f"a {bits}-bit stream word is wider than the AXI DMA's widest stream ({DMA_WIDTHS[-1]} bits)")


def pl_clock_mhz(period_ns: float) -> str:
    """The PL clock's frequency in MHz for a period in ns, as the PS configuration takes it (``100``, ``142.857``)."""
    if not period_ns > 0:
        raise ConfigError(f"clock period {period_ns} ns must be positive")
    return f"{1000.0 / period_ns:.6g}"


def _numpy_word(bits: int, signed: bool) -> str:
    return f"{'' if signed else 'u'}int{bits}"


def block_design_values(io: ProjectIO, board, jobs: int, in_width: int, out_width: int, ip_repo: str) -> dict:
    """The ``{{key}}`` values of ``templates/shell/zynq/block_design.tcl``."""
    tw = hls.tcl_word
    return {"top": hls.top_name(io), "board": board.name, "family": board.family, "part": tw(board.part),
            "board_part": tw(board.board_part or ""), "pl_clk_mhz": pl_clock_mhz(board.clock_period_ns),
            "in_width": in_width, "out_width": out_width, "jobs": int(jobs), "ip_repo": tw(ip_repo),
            "output": tw(OUTPUT)}


def driver_values(io: ProjectIO, board, in_width: int, out_width: int) -> dict:
    """The ``{{key}}`` values of ``templates/shell/zynq/pynq_driver.py``."""
    it, ot = io.input_type, io.output_type
    return {"top": hls.top_name(io), "board": board.name, "project": io.name, "n_in": io.n_in, "n_out": io.n_out,
            "in_width": in_width, "out_width": out_width, "input_type": it.cpp(), "output_type": ot.cpp(),
            "in_bits": it.width, "in_frac": it.frac, "in_signed": it.signed, "in_rounding": it.rounding,
            "in_overflow": it.overflow, "out_bits": ot.width, "out_frac": ot.frac, "out_signed": ot.signed,
            "in_dtype": _numpy_word(in_width, it.signed), "out_dtype": _numpy_word(out_width, ot.signed)}


def _replaceable(directory: Path) -> bool:
    check_owned(directory, TOOL, BUILT, what="shell directory")
    return True


def write(project_dir: str | os.PathLike, board, jobs: int = 4, *, steps: tuple[str, ...] = hls.DEFAULT_STEPS,
          hm=None) -> ShellProject:
    """Write the Zynq shell of the project in ``project_dir`` for ``board`` (a Zynq Board) into
    ``PROJECT/shell/<board>/``; returns what was written.

    ``jobs``: Vivado's parallel jobs for synthesis and implementation.  ``steps``: the HLS steps hls_ip.tcl runs
    (``csim csynth cosim export``).  The IP is built for the board's part and clock (``clock_period_ns``, ns).
    An existing shell directory is replaced only if it holds nothing but what this function and a build wrote.
    """
    from toolchain.atomic import atomic_directory
    from toolchain.backends.writer import render

    if board.family not in FAMILIES:
        raise ConfigError(f"board '{board.name}' is a {board.family} board, not a Zynq ({', '.join(FAMILIES)})")
    if int(jobs) < 1:
        raise ConfigError(f"jobs {jobs} must be at least 1")
    if hm is None:
        from toolchain import project

        hm, _ = project.reopen(project_dir, compile=False)
    io = project_io(project_dir, hm)
    in_width, out_width = dma_width(io.in_width), dma_width(io.out_width)
    out = io.project_dir / "shell" / board.name
    with atomic_directory(out, _replaceable, "shell directory", manifest=TOOL) as staging:
        ip = hls.write_hls_ip(io, staging, control="s_axilite", part=board.part,
                              clock_period_ns=board.clock_period_ns, steps=tuple(steps), in_width=in_width,
                              out_width=out_width, hm=hm)
        written = list(ip.files)
        bd = staging / "block_design.tcl"
        bd.write_text(render("shell/zynq/block_design.tcl",
                             **block_design_values(io, board, jobs, in_width, out_width, ip.ip_repo)))
        driver = staging / "pynq_driver.py"
        driver.write_text(render("shell/zynq/pynq_driver.py", **driver_values(io, board, in_width, out_width)))
        written += [bd, driver]
        written.append(copy_codes_module(staging))
        files = [out / p.relative_to(staging) for p in written]
    top = hls.top_name(io)
    outputs = {"bit": out / OUTPUT / f"{top}.bit", "hwh": out / OUTPUT / f"{top}.hwh",
               "utilization": out / OUTPUT / "utilization.rpt", "timing": out / OUTPUT / "timing.rpt"}
    return ShellProject(directory=out, board=board.name, family=board.family, io=io, hls_script=out / "hls_ip.tcl",
                        vivado_script=out / "block_design.tcl", driver=out / "pynq_driver.py", outputs=outputs,
                        files=files)
