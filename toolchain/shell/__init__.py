"""Board shells: a written arith4ml project plus a board -> the files that build a bitstream for it.

The backends stay about arithmetic; this layer is about boards.  :func:`write_shell` takes a project directory
(written by ``arith4ml convert``) and a :class:`~toolchain.boards.Board` and writes ``PROJECT/shell/<board>/``:

* the HLS IP top (``<project>_axis``, AXI4-Stream ports with TLAST, common to every family:
  ``templates/shell/axis_top.cpp``) and the HLS script that builds and exports it;
* for Zynq boards (``toolchain.shell.zynq``): a Vivado block design (PS, AXI DMA, interconnect, clocks, resets,
  the IP) through ``write_bitstream``, and a PYNQ driver;
* for Artix boards (``toolchain.shell.artix``): our Verilog top (UART, frame packer, reset synchroniser,
  clocking), an XDC from the board file, a non-project Vivado script, and a serial driver.

Nothing here runs a vendor tool: ``arith4ml build`` (``toolchain.build``) does, where the tools are installed.
"""
from __future__ import annotations

from toolchain.shell.common import ProjectIO, ShellProject, project_io, stream_width

__all__ = ["ProjectIO", "ShellProject", "project_io", "stream_width", "write_shell"]


def write_shell(project_dir, board, **options) -> ShellProject:
    """Write the board shell of ``project_dir`` for ``board`` (a Board); returns what was written.

    ``options`` go to the family's writer (e.g. ``baud`` for Artix boards)."""
    if board.family in ("zynq7000", "zynqmp"):
        from toolchain.shell import zynq

        return zynq.write(project_dir, board, **options)
    from toolchain.shell import artix

    return artix.write(project_dir, board, **options)
