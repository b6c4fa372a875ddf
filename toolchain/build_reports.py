"""Readers of the vendor reports ``arith4ml build`` collects into ``PROJECT/reports/summary.json``.

* HLS ``<top>_csynth.xml`` (Vivado HLS, Vitis HLS): the schema hls4ml's ``hls4ml/report/vivado_report.py`` reads:
  ``UserAssignments/TargetClockPeriod``, ``PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod``,
  ``PerformanceEstimates/SummaryOfOverallLatency/{Best-caseLatency,Worst-caseLatency,Interval-min,Interval-max}``,
  ``AreaEstimates/Resources`` and ``AreaEstimates/AvailableResources`` (``BRAM_18K``, ``DSP48E`` in Vivado HLS or
  ``DSP`` in Vitis HLS, ``FF``, ``LUT``, ``URAM``).  Found in the project layout
  (``<proj>_prj/solution1/syn/report/``) or the Vitis component layout (``<work_dir>/hls/syn/report/``).
* Vivado ``report_utilization``: ``| Site Type | Used | Fixed | [Prohibited |] Available | Util% |`` tables, rows
  ``Slice LUTs``/``CLB LUTs``, ``Slice Registers``/``CLB Registers``, ``Block RAM Tile``, ``DSPs``, ``URAM`` (a
  ``*`` after a name marks a post-synthesis estimate; 7-series says Slice, UltraScale says CLB).
* Vivado ``report_timing_summary``: the ``Design Timing Summary`` block, a header line ``WNS(ns)  TNS(ns)  TNS
  Failing Endpoints ...`` (columns two or more spaces apart), a dashes line, then one value per column; and the
  line saying whether all constraints are met.

The parsers never raise on a report they cannot read: a missing field is None (vendor formats drift between
releases; a summary with a gap beats a failed build that did produce a bitstream).
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

CSYNTH_RESOURCES = ("LUT", "FF", "DSP", "BRAM_18K", "URAM")
# report_utilization row names -> our key (first match wins; 7-series vs UltraScale names)
UTILIZATION_ROWS = {"lut": ("Slice LUTs", "CLB LUTs"), "ff": ("Slice Registers", "CLB Registers"),
                    "bram36": ("Block RAM Tile",), "dsp": ("DSPs",), "uram": ("URAM",)}
TIMING_KEYS = {"WNS(ns)": "wns_ns", "TNS(ns)": "tns_ns", "TNS Failing Endpoints": "tns_failing_endpoints",
               "WHS(ns)": "whs_ns", "THS(ns)": "ths_ns", "THS Failing Endpoints": "ths_failing_endpoints"}


def _number(text: str | None) -> int | float | None:
    """``text`` as an int or a finite float; None for a missing cell, 'undef', '-', 'inf', 'NA'."""
    if text is None:
        return None
    text = text.strip().rstrip("%").replace(",", "")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# ---- HLS ------------------------------------------------------------------------------------------------------


def find_csynth(root: Path, top: str) -> Path | None:
    """The newest ``<top>_csynth.xml`` under ``root``: the hls4ml project layout first, then any solution or
    component directory (Vitis unified layout ``hls/syn/report``), then a component's plain ``csynth.xml``."""
    direct = root / f"{top}_prj" / "solution1" / "syn" / "report" / f"{top}_csynth.xml"
    if direct.is_file():
        return direct
    for pattern in (f"**/syn/report/{top}_csynth.xml", "**/syn/report/csynth.xml"):
        found = [p for p in root.glob(pattern) if p.is_file()]
        if found:
            return max(found, key=lambda p: p.stat().st_mtime)
    return None


def _text(node: ET.Element | None, path: str) -> str | None:
    if node is None:
        return None
    found = node.find(path)
    return found.text.strip() if found is not None and found.text is not None else None


def parse_csynth(path: Path) -> dict:
    """The summary of one ``csynth.xml``: tool version, part, top, clocks (ns), latency (cycles), interval
    (II, cycles) and the resources used and available (``DSP48E`` reads as ``DSP``, as hls4ml does)."""
    text = re.sub(r'\sxmlns="[^"]+"', "", Path(path).read_text(errors="replace"), count=1)
    root = ET.fromstring(text)
    perf = root.find("./PerformanceEstimates")
    latency = perf.find("./SummaryOfOverallLatency") if perf is not None else None
    area = root.find("./AreaEstimates")

    def resources(tag: str) -> dict:
        node = area.find(tag) if area is not None else None
        values = {} if node is None else {("DSP" if c.tag == "DSP48E" else c.tag): _number(c.text) for c in node}
        return {r: values.get(r) for r in CSYNTH_RESOURCES}

    return {"report": str(path), "version": _text(root, "./ReportVersion/Version"),
            "part": _text(root, "./UserAssignments/Part"), "top": _text(root, "./UserAssignments/TopModelName"),
            "target_clock_ns": _number(_text(root, "./UserAssignments/TargetClockPeriod")),
            "estimated_clock_ns": _number(_text(perf, "./SummaryOfTimingAnalysis/EstimatedClockPeriod")),
            "latency_best_cycles": _number(_text(latency, "./Best-caseLatency")),
            "latency_worst_cycles": _number(_text(latency, "./Worst-caseLatency")),
            "interval_min_cycles": _number(_text(latency, "./Interval-min")),
            "interval_max_cycles": _number(_text(latency, "./Interval-max")),
            "resources": resources("./Resources"), "available": resources("./AvailableResources")}


# ---- Vivado ---------------------------------------------------------------------------------------------------


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_utilization(path: Path) -> dict:
    """LUT, FF, BRAM (36 Kb tiles), DSP and URAM of a ``report_utilization`` file: used, available, percent;
    also the device and design state of its header."""
    rows: dict[str, dict[str, str]] = {}
    header: list[str] | None = None
    device = state = None
    for line in Path(path).read_text(errors="replace").splitlines():
        stripped = line.strip()
        if stripped.startswith("| Device") and ":" in stripped:
            device = stripped.split(":", 1)[1].strip().strip("|").strip() or None
        elif stripped.startswith("| Design State") and ":" in stripped:
            state = stripped.split(":", 1)[1].strip().strip("|").strip() or None
        elif stripped.startswith("|") and "Site Type" in stripped:
            header = _cells(stripped)
        elif stripped.startswith("|") and header:
            cells = _cells(stripped)
            if len(cells) == len(header):
                name = cells[0].rstrip("*").strip()
                rows.setdefault(name, dict(zip(header, cells)))
        elif not stripped:
            header = None  # a table ends at its blank line: the next one has its own header
    out: dict = {"report": str(path), "device": device, "design_state": state}
    for key, names in UTILIZATION_ROWS.items():
        row = next((rows[n] for n in names if n in rows), None)
        out[key] = None if row is None else {"used": _number(row.get("Used")),
                                             "available": _number(row.get("Available")),
                                             "percent": _number(row.get("Util%"))}
    return out


def parse_timing_summary(path: Path) -> dict:
    """WNS, TNS, WHS, THS (ns) and failing endpoints from the ``Design Timing Summary`` of a
    ``report_timing_summary`` file, and ``met``: whether it says all user constraints are met (None: no verdict)."""
    lines = Path(path).read_text(errors="replace").splitlines()
    out: dict = {"report": str(path), **{v: None for v in TIMING_KEYS.values()}, "met": None}
    for i, line in enumerate(lines):
        if "WNS(ns)" in line and "TNS(ns)" in line:
            names = re.split(r"\s{2,}", line.strip())
            values = next((v.split() for v in lines[i + 1:i + 4] if v.strip() and not set(v.strip()) <= set("- ")),
                          [])
            if len(values) == len(names):
                for name, value in zip(names, values):
                    if name in TIMING_KEYS:
                        out[TIMING_KEYS[name]] = _number(value)
            break
    text = "\n".join(lines)
    if "All user specified timing constraints are met" in text:
        out["met"] = True
    elif "Timing constraints are not met" in text:
        out["met"] = False
    return out


# ---- the printed table ----------------------------------------------------------------------------------------


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def summary_lines(summary: dict) -> list[str]:
    """The table ``arith4ml build`` prints: the HLS estimate, then Vivado's implementation, then the files."""
    lines: list[str] = []
    hls = summary.get("hls")
    if hls:
        res, avail = hls["resources"], hls["available"]
        lines.append(f"HLS ({hls.get('top') or '?'}, {hls.get('part') or '?'}, report {hls['report']})")
        lines.append(f"  latency {_cell(hls['latency_best_cycles'])}..{_cell(hls['latency_worst_cycles'])} cycles, "
                     f"II {_cell(hls['interval_min_cycles'])}..{_cell(hls['interval_max_cycles'])} cycles, clock "
                     f"{_cell(hls['estimated_clock_ns'])} ns estimated (target {_cell(hls['target_clock_ns'])} ns)")
        lines.append("  " + "  ".join(f"{r:>8s}" for r in ("", *CSYNTH_RESOURCES)))
        lines.append("  " + "  ".join(f"{x:>8s}" for x in ("used", *(_cell(res[r]) for r in CSYNTH_RESOURCES))))
        lines.append("  " + "  ".join(f"{x:>8s}" for x in ("of", *(_cell(avail[r]) for r in CSYNTH_RESOURCES))))
    util = summary.get("utilization")
    if util:
        lines.append(f"Vivado utilization ({util.get('design_state') or '?'}, {util.get('device') or '?'}, report "
                     f"{util['report']})")
        for key, label in (("lut", "LUT"), ("ff", "FF"), ("bram36", "BRAM36"), ("dsp", "DSP"), ("uram", "URAM")):
            row = util.get(key)
            if row:
                lines.append(f"  {label:7s} {_cell(row['used']):>9s} of {_cell(row['available']):>9s}  "
                             f"({_cell(row['percent'])} %)")
    timing = summary.get("timing")
    if timing:
        verdict = {True: "met", False: "NOT met", None: "no verdict"}[timing["met"]]
        lines.append(f"Vivado timing: WNS {_cell(timing['wns_ns'])} ns, TNS {_cell(timing['tns_ns'])} ns, WHS "
                     f"{_cell(timing['whs_ns'])} ns ({verdict}; report {timing['report']})")
    for key in ("bit", "hwh"):
        if summary.get(key):
            lines.append(f"{key:4s} {summary[key]}")
    return lines
