"""Simulate a generated two-operand unit under Icarus Verilog, all vectors in one run.

:func:`simulate` writes the unit and a generated testbench (``templates/rtl/tb_mult.v``) to a
temporary folder, compiles once with ``iverilog -g2005``, and runs ``vvp``.  The testbench reads
the packed ``{a, b}`` vectors from ``vectors.hex`` and writes ``p`` to ``results.hex``, so the cost
is one compile plus one simulation however many vectors there are (65,536 pairs take about a second).
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from toolchain.errors import ArithValueError, ToolFailedError, ToolMissingError
from toolchain.rtl.verilog import RtlUnit, render

INSTALL_HINT = "install the Debian package 'iverilog' (make tools)"
_TIMEOUT_S = 600


def require_tool(exe: str, package: str) -> str:
    """Full path of ``exe``; ToolMissingError (exit 3) naming it and how to install it when absent."""
    path = shutil.which(exe)
    if path is None:
        raise ToolMissingError(f"{exe} is not on PATH: install the Debian package '{package}' (make tools)")
    return path


def _operand(x: Any, what: str, bits: int) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise ArithValueError(f"simulate {what} has dtype {arr.dtype}; expected signed {bits}-bit integers")
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ArithValueError(f"simulate {what} holds values outside {lo}..{hi}")
    return arr.astype(np.int64)


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT_S)
    if proc.returncode != 0:
        log = cwd / f"{what}.log"
        log.write_text(proc.stdout + proc.stderr)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise ToolFailedError(f"{what} failed (exit {proc.returncode}): {tail[0]}", command=" ".join(cmd),
                              log=str(log))


def simulate(unit: RtlUnit, a: Any, b: Any, *, keep: str | Path | None = None) -> np.ndarray:
    """Outputs ``p`` of ``unit`` for the broadcast operand arrays ``a`` and ``b`` (int64, their broadcast shape).

    ``unit`` needs ports ``a``, ``b`` (signed, equal width) and ``p``.  ``keep``: a folder to leave
    the Verilog, vectors and results in (for debugging); otherwise a temporary folder is removed.
    Missing ``iverilog``/``vvp``: ToolMissingError; a failed compile or a result with X/Z bits:
    ToolFailedError.
    """
    iverilog = require_tool("iverilog", "iverilog")
    vvp = require_tool("vvp", "iverilog")
    bits = unit.port("a").width
    out_bits = unit.port("p").width
    if unit.port("b").width != bits:
        raise ArithValueError(f"simulate needs equal operand widths; {unit.name} has a[{bits}] and "
                              f"b[{unit.port('b').width}]")
    aa, bb = np.broadcast_arrays(_operand(a, "operand a", bits), _operand(b, "operand b", bits))
    shape = aa.shape
    count = aa.size
    if count == 0:
        return np.zeros(shape, dtype=np.int64)
    mask = (1 << bits) - 1
    packed = ((aa.reshape(-1) & mask) << bits) | (bb.reshape(-1) & mask)
    digits = (2 * bits + 3) // 4

    with tempfile.TemporaryDirectory(prefix="arith4ml_rtl_") as tmp:
        work = Path(keep) if keep is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        unit_file = unit.write(work)
        (work / "tb.v").write_text(render("tb_mult.v", NAME=unit.name, BITS=bits, COUNT=count))
        (work / "vectors.hex").write_text("\n".join(f"{int(v):0{digits}x}" for v in packed) + "\n")
        _run([iverilog, "-g2005", "-o", "sim.vvp", "-s", "tb", unit_file.name, "tb.v"], work, "iverilog")
        _run([vvp, "-n", "sim.vvp"], work, "vvp")
        lines = (work / "results.hex").read_text().split()
    if len(lines) != count:
        raise ToolFailedError(f"simulation of {unit.name} wrote {len(lines)} results for {count} vectors")
    try:
        raw = np.array([int(t, 16) for t in lines], dtype=np.int64)
    except ValueError:
        bad = next(t for t in lines if not all(c in "0123456789abcdefABCDEF" for c in t))
        raise ToolFailedError(f"simulation of {unit.name} produced the undefined output {bad!r} (X/Z bits)") from None
    signed = np.where(raw >> (out_bits - 1) & 1, raw - (1 << out_bits), raw)
    return signed.reshape(shape)


__all__ = ["INSTALL_HINT", "require_tool", "simulate"]
