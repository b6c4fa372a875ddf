"""``arith4ml rtl-cost``: Verilog of a project's constant-weight Dense/Conv datapaths (or of single arithmetic
units), checked bit for bit against the reference under Icarus, and costed with yosys on 7-series.

For every planned layer the kernel's RTL generator (``Kernel.rtl_layer``) writes the dot product of one
output pixel with the layer's constant weights (a Conv layer: the per-pixel datapath its line buffer feeds;
the RTL is fully parallel whatever the ReuseFactor).  The command simulates it on random input codes (the
type's extremes included) against ``kernel.accumulate + bias``, synthesises it with yosys
``synth_xilinx -family xc7`` with and without ``-nodsp``, prints a table, writes the Verilog to
``PROJECT/rtl/`` and the counts to ``PROJECT/reports/rtl_cost.json`` (``arith4ml report`` then shows them
next to its own estimate).  These are open-source synthesis counts, not Vivado's, and not energy.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toolchain.atomic import write_text_atomic
from toolchain.errors import (
    EXIT_CHECK_FAILED,
    Arith4mlError,
    DataError,
    FileSystemError,
    NoPlanError,
    UnsupportedError,
)
from toolchain.kernels.plan import plan_digest

RTL_DIR = "rtl"  # PROJECT/rtl/<layer>.v
COST_FILE = Path("reports") / "rtl_cost.json"  # PROJECT/reports/rtl_cost.json, read by arith4ml report
DEFAULT_VECTORS = 256  # random input vectors simulated per layer (--check N)
MAX_VECTORS = 100_000
DSP_MODES = {"both": (False, True), "off": (False,), "on": (True,)}  # --dsp: False = synth_xilinx -nodsp


@dataclass
class CostRow:
    """One costed item: a planned layer or a catalogue unit."""

    name: str  # the layer (or the unit spec)
    module: str  # the Verilog module
    kind: str  # kernel short name (shift, mult, rns, nk, approx) or 'unit'
    cls: str = ""  # the layer's class (Dense, Conv2D, ...)
    scope: str = "unit"  # 'layer' (Dense), 'output pixel' (Conv), 'unit'
    n_in: int | None = None
    n_out: int | None = None
    terms: int | None = None  # generated terms (non-zero weights) per output pixel
    digest: str | None = None  # of the plan the Verilog was generated from (report matches counts with it)
    verilog: str | None = None  # where the Verilog was written
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # 'nodsp' / 'dsp' -> CellCount.as_dict()
    check: str = "not run"  # 'N/N equal' or 'differs at ...'
    skipped: str | None = None  # why no RTL was generated
    warnings: list[str] = field(default_factory=list)  # yosys's: the count may be of another circuit (cost.py)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def planned_layers(hm) -> list[tuple[str, str, Any]]:
    """(layer name, class, plan) of every layer of an hls4ml model that carries an arith4ml plan, in graph order."""
    return [(layer.name, layer.class_name, layer.get_attr("arith_plan")) for layer in hm.get_layers()
            if layer.get_attr("arith_plan") is not None]


def module_name(layer: str) -> str:
    """A Verilog identifier for a layer's module: its name with other characters replaced, ``_dot`` appended."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", layer)
    return f"{'l_' if not re.match(r'[A-Za-z_]', name) else ''}{name}_dot"


def random_codes(x_type, count: int, n_in: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` input vectors of ``x_type`` codes: the first two all-min and all-max, the rest uniform."""
    lo, hi = int(x_type.min_code), int(x_type.max_code)
    cols = rng.integers(lo, hi, size=(count, n_in), endpoint=True, dtype=np.int64)
    cols[:1], cols[1:2] = lo, hi
    return cols


def check_layer(unit, plan, count: int, seed: int = 0) -> str:
    """Simulate ``unit`` (the layer's RTL) on ``count`` random input vectors and compare with the reference
    ``kernel.accumulate(plan, x) + bias_acc``; a phrase saying how it went."""
    from toolchain.rtl.sim import simulate_ports

    cols = random_codes(plan.x_type, count, plan.n_in, np.random.default_rng(seed))
    ref = np.asarray(plan.kernel.accumulate(plan, cols)).astype(object) + plan.bias_acc.astype(object)
    got = simulate_ports(unit, {"x": cols})["acc"].reshape(count, plan.n_out).astype(object)
    bad = np.argwhere(got != ref)
    if bad.size == 0:
        return f"{count}/{count} equal"
    i, j = (int(v) for v in bad[0])
    return f"differs in {len(np.unique(bad[:, 0]))}/{count} vectors (first: vector {i}, output {j}: " \
           f"RTL {got[i, j]} != reference {ref[i, j]})"


def yosys_version() -> str | None:
    """``yosys -V`` of the yosys ``cost`` uses (None when it is missing)."""
    from toolchain.rtl.cost import YOSYS_ALTERNATIVES
    from toolchain.rtl.sim import require_tool

    try:
        exe = require_tool("yosys", "yosys", YOSYS_ALTERNATIVES)
        return subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=60).stdout.strip() or None
    except (Arith4mlError, OSError, subprocess.SubprocessError):
        return None


def _cost_all(jobs: list[tuple[CostRow, Any, bool]], workers: int) -> None:
    from toolchain.rtl.cost import cost_many

    counts = cost_many(((unit, dsp) for _, unit, dsp in jobs), workers)
    for (row, _, dsp), count in zip(jobs, counts):
        row.counts["dsp" if dsp else "nodsp"] = count.as_dict()
        row.warnings += [w for w in count.warnings if w not in row.warnings]


def _layer_rows(hm, wanted: list[str], out_dir: Path | None, vectors: int) -> tuple[list[CostRow], list]:
    layers = planned_layers(hm)
    by_name = {name: (name, cls, plan) for name, cls, plan in layers}
    if wanted:
        all_names = [layer.name for layer in hm.get_layers()]
        for name in wanted:
            if name not in by_name:
                what = "has no arithmetic plan (only Dense/Conv layers are planned)" if name in all_names \
                    else "is not a layer of the model"
                raise NoPlanError(f"layer '{name}' {what}; planned layers: "
                                  f"{', '.join(n for n, _, _ in layers) or 'none'}", layer=name)
        layers = [by_name[n] for n in wanted]
    if not layers:
        raise NoPlanError("the model has no planned Dense/Conv layer to generate RTL for")
    rows, units = [], []
    for name, cls, plan in layers:
        row = CostRow(name=name, module=module_name(name), kind=plan.kind, cls=cls,
                      scope="layer" if plan.geometry.out_height * plan.geometry.out_width == 1
                      and plan.geometry.filt_height * plan.geometry.filt_width == 1 else "output pixel",
                      n_in=plan.n_in, n_out=plan.n_out, terms=plan.generated_terms, digest=plan_digest(plan))
        try:
            unit = plan.kernel.rtl_layer(plan, row.module)
        except UnsupportedError as exc:
            if wanted:
                raise
            row.skipped = str(exc)
            rows.append(row)
            continue
        if out_dir is not None:
            row.verilog = str(_write_verilog(unit, out_dir))
        if vectors:
            row.check = check_layer(unit, plan, vectors)
        rows.append(row)
        units.append((row, unit))
    return rows, units


def _write_verilog(unit, out_dir: Path) -> Path:
    path = out_dir / f"{unit.name}.v"
    try:
        write_text_atomic(path, unit.verilog)
    except OSError as exc:
        raise FileSystemError.from_os_error(exc, "cannot write") from None
    return path


def format_table(rows: list[CostRow], modes: tuple[bool, ...]) -> str:
    """The rows as a fixed-width table (LUT/CARRY4/FF with -nodsp, LUT/DSP48E1 with DSPs, the check)."""
    head = ["item", "kernel", "scope", "in x out", "terms"]
    if False in modes:
        head += ["LUT -nodsp", "CARRY4", "FF"]
    if True in modes:
        head += ["LUT w/ DSP", "DSP48E1"]
    head.append("check")
    body = []
    for r in rows:
        cells = [r.name, r.kind, r.scope, f"{r.n_in}x{r.n_out}" if r.n_in else "-", "-" if r.terms is None
                 else str(r.terms)]
        nd, wd = r.counts.get("nodsp"), r.counts.get("dsp")
        if False in modes:
            cells += [str(nd["lut"]), str(nd["carry4"]), str(nd["ff"])] if nd else ["-"] * 3
        if True in modes:
            cells += [str(wd["lut"]), str(wd["dsp"])] if wd else ["-"] * 2
        cells.append(f"skipped: {r.skipped}" if r.skipped else r.check)
        body.append(cells)
    widths = [max(len(c[i]) for c in [head, *body]) for i in range(len(head) - 1)]
    lines = []
    for cells in [head, *body]:
        lines.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
                     + "  " + cells[-1])
    return "\n".join(lines)


def add_parser(sub) -> None:
    p = sub.add_parser("rtl-cost", help="Verilog of each planned layer's constant-weight datapath (or of single "
                                        "units), simulated against the reference and costed by yosys (xc7)",
                       description="For each Dense/Conv layer of a project (or of a Keras model, converted in "
                                   "memory), generate Verilog of its dot product with its constant weights in its "
                                   "arithmetic, simulate it with Icarus on random inputs against the reference, and "
                                   "synthesise it with yosys 'synth_xilinx -family xc7' with and without -nodsp. "
                                   "Prints LUT/CARRY4/FF/DSP48E1 per layer; writes the Verilog to PROJECT/rtl/ and "
                                   "the counts to PROJECT/reports/rtl_cost.json (or --json FILE). --unit costs "
                                   "single arithmetic units instead (or as well). Open-source synthesis counts, not "
                                   "Vivado's and not energy. Needs iverilog and yosys (make tools).")
    p.add_argument("source", nargs="?", metavar="MODEL_OR_PROJECT",
                   help="a project directory written by 'arith4ml convert', or a Keras model file (then --backend)")
    p.add_argument("--unit", action="append", default=[], metavar="NAME[:P1,P2]",
                   help="a single unit to cost, e.g. exact, roup:2,3 (repeatable; 'arith4ml rtl-cost --unit help' "
                        "lists them)")
    p.add_argument("--layer", action="append", default=[], metavar="NAME",
                   help="only this layer (repeatable); a layer without a plan exits 7")
    p.add_argument("--backend", help="backend for a Keras model file: bitshift, rns or approx")
    p.add_argument("--config", metavar="FILE.yml", help="hls4ml/arith4ml config for a Keras model file")
    p.add_argument("--part", default="xc7a35t-cpg236-1", help="part for a Keras model file (default %(default)s)")
    p.add_argument("--dsp", choices=sorted(DSP_MODES), default="both",
                   help="synthesise without DSPs (-nodsp: off), with DSP inference (on), or both (default)")
    p.add_argument("--check", type=int, default=DEFAULT_VECTORS, metavar="N",
                   help=f"random input vectors simulated per layer against the reference (0: no simulation; "
                        f"default {DEFAULT_VECTORS})")
    p.add_argument("--json", metavar="FILE", help="where to write the counts (default: PROJECT/reports/rtl_cost.json; "
                                                   "none for a model file unless given)")
    p.add_argument("--verilog-dir", metavar="DIR", help="where to write the layers' Verilog (default: PROJECT/rtl)")
    p.add_argument("--jobs", type=int, default=2, metavar="J", help="yosys processes at once (default 2)")
    p.set_defaults(func=run)


def _unit_help() -> str:
    from toolchain.rtl.units import UNIT_KINDS

    return "\n".join(f"  {k.usage:<24} {k.description}" for k in UNIT_KINDS.values())


def _load_hm(args: argparse.Namespace):
    from toolchain import project

    source = Path(args.source)
    if source.is_dir():
        return project.reopen(source, compile=False)[0], source
    if not source.exists():
        raise DataError(f"'{args.source}' is neither a project directory nor a model file")
    if args.backend is None:
        raise DataError(f"'{args.source}' is a model file: give --backend (one of {', '.join(project.BACKENDS)})")
    backend = args.backend.lower()
    if backend not in project.BACKENDS:
        raise DataError(f"--backend {args.backend!r} is not one of {', '.join(project.BACKENDS)}")
    user = project.read_user_config(args.config, backend)
    model = project.load_keras_model(source)
    return project.build_model(model, backend, args.part, user_config=user), None


def run(args: argparse.Namespace) -> int:
    from toolchain.rtl.units import parse_unit

    if "help" in args.unit:
        print("units:\n" + _unit_help())
        return 0
    if args.source is None and not args.unit:
        raise DataError("give a project directory or model file, or --unit NAME (see --unit help)")
    if not 0 <= args.check <= MAX_VECTORS:
        raise DataError(f"--check {args.check} is out of range 0..{MAX_VECTORS}")
    if args.jobs < 1:
        raise DataError(f"--jobs {args.jobs} must be at least 1")
    if args.layer and args.source is None:
        raise DataError("--layer needs a project directory or model file")
    units = [(CostRow(name=spec, module=u.name, kind="unit", check="-"), u) for spec, u in
             ((spec, parse_unit(spec)) for spec in args.unit)]  # bad specs before any model is loaded
    modes = DSP_MODES[args.dsp]
    from toolchain.rtl.cost import YOSYS_ALTERNATIVES
    from toolchain.rtl.sim import require_tool

    require_tool("yosys", "yosys", YOSYS_ALTERNATIVES)  # missing tools before the model loads
    if args.check and args.source is not None:
        require_tool("iverilog", "iverilog")
    rows = [r for r, _ in units]
    project_dir = None
    if args.source is not None:
        hm, project_dir = _load_hm(args)
        out_dir = Path(args.verilog_dir) if args.verilog_dir else (project_dir / RTL_DIR if project_dir else None)
        if out_dir is not None:
            try:
                out_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise FileSystemError.from_os_error(exc, "cannot create") from None
        layer_rows, layer_units = _layer_rows(hm, args.layer, out_dir, args.check)
        rows = layer_rows + rows
        units = layer_units + units
    _cost_all([(row, unit, dsp) for row, unit in units for dsp in modes], args.jobs)
    print("yosys synth_xilinx -family xc7, one output pixel's datapath per layer, constant weights "
          "(open-source counts, not Vivado's; not energy)")
    print(format_table(rows, modes))
    doc = {"tool": "arith4ml rtl-cost", "yosys": yosys_version(), "synthesis": "synth_xilinx -family xc7",
           "modes": ["nodsp" if not d else "dsp" for d in modes], "vectors": args.check,
           "rows": [r.as_dict() for r in rows]}
    out = Path(args.json) if args.json else (project_dir / COST_FILE if project_dir is not None else None)
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out, json.dumps(doc, indent=1) + "\n")
        except OSError as exc:
            raise FileSystemError.from_os_error(exc, "cannot write") from None
        print(f"written {out}")
    for r in rows:
        for w in r.warnings[:3]:
            print(f"note: yosys warned on {r.name}: {w}")
    failed = [r for r in rows if r.check.startswith("differs")]
    if failed:
        print(f"RTL differs from the reference in {', '.join(r.name for r in failed)}")
        return EXIT_CHECK_FAILED
    return 0


__all__ = ["COST_FILE", "CostRow", "add_parser", "check_layer", "plan_digest", "planned_layers", "run"]
