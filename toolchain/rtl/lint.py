"""Verilator's lint of a generated unit: ``verilator --lint-only -Wall``, warnings as a list of lines.

Generated Verilog is meant to be lint-clean (explicit widths, no unused signals) so that a user
adding it to a Vivado project sees no new warnings; the tests keep it so.
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from toolchain.errors import ToolFailedError
from toolchain.rtl.sim import require_tool
from toolchain.rtl.verilog import RtlUnit

_TIMEOUT_S = 300


def lint(unit: RtlUnit, extra_sources: tuple[RtlUnit, ...] = ()) -> list[str]:
    """The ``%Warning``/``%Error`` lines verilator prints for ``unit`` (empty: lint-clean).

    Missing verilator: ToolMissingError (exit 3); verilator failing for another reason than
    lint findings: ToolFailedError.
    """
    verilator = require_tool("verilator", "verilator")
    with tempfile.TemporaryDirectory(prefix="arith4ml_lint_") as tmp:
        work = Path(tmp)
        sources = [u.write(work).name for u in (*extra_sources, unit)]
        cmd = [verilator, "--lint-only", "-Wall", "--top-module", unit.name, *sources]
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=_TIMEOUT_S)
    findings = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith(("%Warning", "%Error"))]
    if proc.returncode != 0 and not findings:
        raise ToolFailedError(f"verilator on {unit.name} failed (exit {proc.returncode}): "
                              f"{(proc.stderr or proc.stdout).strip()[-200:]}", command=" ".join(cmd))
    return findings


__all__ = ["lint"]
