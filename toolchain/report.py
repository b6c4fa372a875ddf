"""``arith4ml report``: per-layer arithmetic table of a project (printed and written as JSON)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from toolchain import project
from toolchain.atomic import write_text_atomic
from toolchain.errors import FileSystemError


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


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="print the per-layer arithmetic of a project (also written to "
                                      "PROJECT/report.json)",
                       description="Print one row per Dense/Conv layer of a project: its arithmetic, weight "
                                   "sparsity, generated terms, multiplications and accumulator type.")
    p.add_argument("project", help="project directory written by 'arith4ml convert'")
    p.add_argument("--json", metavar="FILE", help="where to write the rows as JSON (default: PROJECT/report.json; "
                                                   "give another path for a read-only project)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    hm, _ = project.reopen(args.project, compile=False)
    rows = layer_rows(hm)
    print(format_table(rows))
    out = Path(args.json) if args.json else Path(args.project) / "report.json"
    try:
        write_text_atomic(out, json.dumps(rows, indent=1) + "\n")  # never a half-written report.json
    except OSError as exc:
        err = FileSystemError.from_os_error(exc, "cannot write")
        raise (err if args.json else FileSystemError(f"{err} (--json FILE writes the report elsewhere)")) from None
    print(f"written {out}")
    return 0
