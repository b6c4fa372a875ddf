"""``arith4ml report``: per-layer arithmetic table of a project, its resource estimate and its energy estimate
(printed and written as JSON): PROJECT/report.json holds the arithmetic rows, each with its ``resources``
estimate; PROJECT/estimate.json the estimate of every layer, the totals, with a board the part's budget and the
over-budget warnings, and under ``energy`` the energy per inference (``estimate.energy_estimate``, priced by the
shipped 45 nm cost table or ``--cost-table FILE.yaml``)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from toolchain import energy, estimate, project
from toolchain.atomic import write_text_atomic
from toolchain.boards import Board, load_board
from toolchain.errors import ConfigError, FileSystemError
from toolchain.rtl_cost import COST_FILE

ESTIMATE_FILE = "estimate.json"


def layer_rows(hm) -> list[dict]:
    """One row per planned Dense/Conv layer: its kernel, sparsity, term counts, types and the kernel's own fields."""
    rows = []
    for layer in hm.get_layers():
        plan = layer.get_attr("arith_plan")
        if plan is None:
            continue
        row = {"layer": plan.layer, "class": layer.class_name, "arithmetic": plan.kind,
               "weight_sparsity": float(np.mean(plan.w_codes == 0)), "dense_macs": plan.n_in * plan.n_out,
               "dense_terms": plan.dense_terms, "terms": plan.generated_terms,
               "saved_fraction": 1.0 - plan.generated_terms / plan.dense_terms,
               "multiplications": plan.multiplications, "acc_type": str(plan.acc_type),
               "result_type": str(layer.get_output_variable().type.precision), "moduli": None, "notes": plan.notes,
               "details": plan.kernel.report_details(plan)}
        row.update(plan.kernel.report_fields(plan))
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    head = (f"{'layer':10s} {'arith':6s} {'w.sparse':>8s} {'terms':>7s} {'dense':>7s} {'saved':>6s} {'mults':>6s} "
            f"{'accumulator':24s} kernel details")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['layer']:10s} {r['arithmetic']:6s} {r['weight_sparsity']:8.2f} {r['terms']:7d} "
                     f"{r['dense_terms']:7d} {r['saved_fraction']:6.1%} {r['multiplications']:6d} "
                     f"{r['acc_type']:24s} {r['details']}")
        lines += [f"{'':10s} note: {n}" for n in r["notes"]]
    return "\n".join(lines)


def _int(value: int) -> str:
    return f"{value:,}"


def _register_text(e: estimate.LayerEstimate) -> str:
    """Accumulator width (binary kernels) or the bits of each residue channel (RNS: 'a/b/c')."""
    return "/".join(str(w) for w in e.register_widths) if e.register_widths else "-"


def format_resources(est: estimate.Estimate, board: Board | None = None) -> str:
    """The resource table (one row per layer that costs something), its totals and, with a board that lists
    its part's resources, the utilisation and one warning line per resource over the part's budget."""
    head = (f"{'layer':12s} {'kind':10s} {'strategy':8s} {'reuse':>5s} {'units':>6s} {'linebuf':>8s} {'ROM bits':>9s} "
            f"{'acc bits':>9s} {'LUT':>10s} {'FF':>10s} {'BRAM36':>6s} {'DSP':>5s}")
    lines = [f"resource estimate, {est.io_type} ({estimate.DISCLAIMER}):", head, "-" * len(head)]
    for e in est.layers:
        if not (e.strategy or any(e.get(r) for r in estimate.RESOURCES) or e.notes):
            continue
        lines.append(f"{e.layer:12s} {e.kind:10s} {e.strategy or '-':8s} {e.reuse_factor or '-':>5} "
                     f"{'-' if e.units is None else e.units:>6} {_int(e.line_buffer_bits):>8s} "
                     f"{_int(e.rom_bits):>9s} {_register_text(e):>9s} {_int(e.lut):>10s} {_int(e.ff):>10s} "
                     f"{e.bram36:>6d} {e.dsp:>5d}")
        lines += [f"{'':12s} note: {n}" for n in e.notes]
    totals = est.totals
    lines.append(f"{'total':12s} {'':10s} {'':8s} {'':>5s} {'':>6s} {'':>8s} {'':>9s} {'':>9s} "
                 f"{_int(totals['lut']):>10s} {_int(totals['ff']):>10s} {totals['bram36']:>6d} {totals['dsp']:>5d}")
    lines += budget_lines(est, board)
    return "\n".join(lines)


def budget_lines(est: estimate.Estimate, board: Board | None) -> list[str]:
    """Utilisation of the board's part and a warning line per resource the estimate puts over its budget."""
    if board is None:
        return ["no board: 'arith4ml report PROJECT --board NAME' compares the estimate with a part's budget"]
    budget = estimate.budget_of(board)
    if budget is None:
        return [f"board {board.name} lists no resources in its file: nothing to compare the estimate with"]
    use = estimate.utilisation(est, board)
    lines = [f"{board.name} ({board.part}): " + ", ".join(
        f"{estimate.RESOURCE_NAMES[r]} {'n/a' if use[r] is None else format(use[r], '.1%')} of {budget[r]:,}"
        for r in estimate.RESOURCES)
        + f" ('convert --fit' aims at {estimate.FIT_TARGET:.0%})"]
    return lines + [o.message(board) for o in estimate.overuses(est, budget)]


def _nj(pj: float) -> str:
    return f"{pj / 1000:.4g}"


def _op_summary(e: estimate.LayerEnergy) -> str:
    """Operations per inference by kind, most frequent first: 'shift_add 1,200, add 30'."""
    counts = sorted(e.op_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{kind} {count:,}" for kind, count in counts) or "-"


def format_energy(en: estimate.EnergyEstimate) -> str:
    """The energy table: per Dense/Conv layer its operations per inference, energy and the exact 8-bit multiply
    baseline (nJ per inference) and the saving; the totals; the multipliers alone."""
    head = f"{'layer':12s} {'kind':6s} {'energy nJ':>10s} {'baseline nJ':>11s} {'saving':>7s}  operations per inference"
    lines = [f"energy per inference, cost table {en.table.name} ({energy.DISCLAIMER}):", head, "-" * len(head)]
    for e in en.layers:
        lines.append(f"{e.layer:12s} {e.kind:6s} {_nj(e.energy_pj):>10s} {_nj(e.baseline_pj):>11s} "
                     f"{e.saving:7.1%}  {_op_summary(e)}")
    # 'all layers', not 'total': the resource table's totals line keeps its first word to itself
    lines.append(f"{'all layers':19s} {_nj(en.total_pj):>10s} {_nj(en.baseline_pj):>11s} {en.saving:7.1%}")
    lines.append(f"multipliers: {_nj(en.multiplier_pj)} nJ vs {_nj(en.multiplier_baseline_pj)} nJ of the baseline's "
                 f"{estimate.BASELINE_BITS}-bit multiplies (saving {en.multiplier_saving:.1%}); baseline: every dense "
                 f"term an exact {estimate.BASELINE_BITS}x{estimate.BASELINE_BITS}-bit multiply and an add of the "
                 "accumulator width")
    return "\n".join(lines)


def format_rtl(counts: list[estimate.RtlCount], est: estimate.Estimate, en: estimate.EnergyEstimate) -> str:
    """The yosys counts of ``arith4ml rtl-cost`` beside the cost model's LUTs and the energy estimate."""
    lut = {e.layer: e.lut for e in est.layers}
    nj = {e.layer: e.energy_pj for e in en.layers}
    head = (f"{'layer':12s} {'kind':6s} {'scope':12s} {'terms':>7s} {'yosys LUT':>10s} {'LUT/term':>8s} "
            f"{'w/ DSP':>7s} {'DSP':>4s} {'model LUT':>10s} {'nJ/inf':>8s}")
    lines = [f"{estimate.RTL_NOTE}:", head, "-" * len(head)]
    for c in counts:
        per = "-" if c.lut_per_term is None else f"{c.lut_per_term:.2f}"
        lines.append(f"{c.layer:12s} {c.kind:6s} {c.scope:12s} {c.terms:7d} {_opt(c.lut_nodsp):>10s} {per:>8s} "
                     f"{_opt(c.lut_dsp):>7s} {_opt(c.dsp):>4s} {_int(lut.get(c.layer, 0)):>10s} "
                     f"{_nj(nj.get(c.layer, 0.0)):>8s}" + ("" if c.current else "  (stale: the layer changed since "
                                                            "rtl-cost ran; run it again)"))
    return "\n".join(lines)


def _opt(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _rtl_doc(project_dir: str) -> dict | None:
    """PROJECT/reports/rtl_cost.json when 'arith4ml rtl-cost' wrote one (a damaged one is ignored with a note)."""
    path = Path(project_dir) / COST_FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError) as exc:
        print(f"note: {path} is unreadable ({exc.__class__.__name__}); run 'arith4ml rtl-cost' again")
        return None


def format_essop(spec, cost) -> str:
    """The ESSOP update's operations and energy per step next to an exact 8-bit outer product of the same size."""
    ops = ", ".join(f"{kind} {n[0]:,}" for kind, n in cost.counts().items() if n[0])
    return (f"ESSOP on-chip update of {spec.layer} ({spec.n_in}x{spec.n_out}, BL {spec.BL}), per update step: "
            f"{_nj(cost.essop_pj)} nJ vs {_nj(cost.exact_pj)} nJ for an exact 8x8-bit outer product (saving "
            f"{cost.saving:.1%}; FP16: {_nj(cost.fp16_pj)} nJ); operations: {ops} (docs/essop.md)")


def _essop_cost(hm, table):
    """(spec, cost) of the project's ESSOP update function, or None without one."""
    from toolchain import essop_hls

    spec = essop_hls.essop_spec(hm)
    if spec is None:
        return None
    return spec, essop_hls.essop_cost(spec.n_in, spec.n_out, spec.BL, x_bits=spec.x_type.width,
                                      d_bits=spec.d_type.width, weight_bits=spec.w_type.width, table=table)


def estimate_document(est: estimate.Estimate, board: Board | None,
                      energy_est: estimate.EnergyEstimate | None = None) -> dict:
    """What estimate.json holds: every layer's estimate, the totals, the board's budget and warnings, and the
    energy estimate (``energy``, None when not given)."""
    doc = est.as_dict()
    doc["energy"] = None if energy_est is None else energy_est.as_dict()
    doc["board"] = doc["part"] = doc["budget"] = doc["utilisation"] = None
    doc["warnings"] = []
    if board is not None:
        doc["board"], doc["part"] = board.name, board.part
        budget = estimate.budget_of(board)
        if budget is not None:
            doc["budget"] = board.resources.as_dict()
            doc["utilisation"] = estimate.utilisation(est, board)
            doc["warnings"] = [o.message(board) for o in estimate.overuses(est, budget)]
            doc["over_budget"] = [{"resource": o.resource, "total": o.total, "budget": o.budget,
                                   "layers": [{"layer": n, "amount": a} for n, a in o.culprits]}
                                  for o in estimate.overuses(est, budget)]
    return doc


def _board(args: argparse.Namespace) -> Board | None:
    """--board, else the board the project was converted for (a recorded board that is gone: none)."""
    if args.board is not None:
        return load_board(args.board)
    name = project.recorded_board(args.project)
    if name is None:
        return None
    try:
        return load_board(name)
    except ConfigError:
        print(f"note: the project was converted for board '{name}', which is not in this installation")
        return None


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="print the per-layer arithmetic and resource estimate of a project (also "
                                      "written to PROJECT/report.json and PROJECT/estimate.json)",
                       description="Print one row per Dense/Conv layer of a project: its arithmetic, weight "
                                   "sparsity, generated terms, multiplications and accumulator type; then a "
                                   "resource estimate per layer (strategy, ReuseFactor, units, line-buffer, ROM "
                                   "and register bits, LUT, FF, BRAM36, DSP: arith4ml's cost model, not "
                                   "synthesis) and its totals, compared with the board's part; then the energy "
                                   "per inference of each Dense/Conv layer (operation counts priced by a 45 nm "
                                   "cost table, not measurements) against an exact 8-bit multiply baseline.")
    p.add_argument("project", help="project directory written by 'arith4ml convert'")
    p.add_argument("--json", metavar="FILE", help="where to write the rows as JSON (default: PROJECT/report.json; "
                                                   "give another path for a read-only project: the estimate then "
                                                   "goes beside it, FILE's name with .estimate.json)")
    p.add_argument("--board", help="compare the estimate with this board's part (default: the board the project "
                                   "was converted for, if any)")
    p.add_argument("--cost-table", metavar="FILE.yaml", help="price the energy estimate with this cost table instead "
                                                             "of the shipped 45 nm one (same keys; see "
                                                             "docs/estimate.md, 'Energy')")
    p.set_defaults(func=run)


def _write(path: Path, data, elsewhere: bool) -> None:
    try:
        write_text_atomic(path, json.dumps(data, indent=1) + "\n")  # never a half-written file
    except OSError as exc:
        err = FileSystemError.from_os_error(exc, "cannot write")
        raise (err if elsewhere else FileSystemError(f"{err} (--json FILE writes the report elsewhere)")) from None


def run(args: argparse.Namespace) -> int:
    board = _board(args) if args.board is not None else None  # a bad --board before the model loads
    table = energy.load_cost_table(args.cost_table)  # a bad --cost-table too
    hm, _ = project.reopen(args.project, compile=False)
    if args.board is None:
        board = _board(args)
    rows = layer_rows(hm)
    est = estimate.estimate_model(hm)
    by_name = {e.layer: e for e in est.layers}
    for row in rows:
        row["resources"] = by_name[row["layer"]].as_dict()
    print(format_table(rows))
    print()
    print(format_resources(est, board))
    en = estimate.energy_estimate(hm, table)
    print()
    print(format_energy(en))
    essop = _essop_cost(hm, table)
    if essop is not None:
        print(format_essop(*essop))
    rtl_doc = _rtl_doc(args.project)
    rtl = estimate.rtl_counts(hm, rtl_doc) if rtl_doc is not None else []
    if rtl:
        print()
        print(format_rtl(rtl, est, en))
    out = Path(args.json) if args.json else Path(args.project) / "report.json"
    side = out.with_name(out.stem + ".estimate.json") if args.json else Path(args.project) / ESTIMATE_FILE
    _write(out, rows, bool(args.json))
    doc = estimate_document(est, board, en)
    if essop is not None:
        doc["essop_update"] = {"layer": essop[0].layer, "BL": essop[0].BL, "essop_pj": essop[1].essop_pj,
                               "exact_outer_product_pj": essop[1].exact_pj, "fp16_outer_product_pj": essop[1].fp16_pj,
                               "operations": {k: v[0] for k, v in essop[1].counts().items()}}
    doc["rtl"] = [c.as_dict() for c in rtl] if rtl else None
    _write(side, doc, bool(args.json))
    print(f"written {out}, {side}")
    return 0
