"""ESSOP on-chip update benchmark: the generated HLS update function in C-sim against the NumPy reference, and its
estimated energy against an exact 8-bit outer product.

    .venv/bin/python bench/bench_essop.py [--steps 200] [--bl 64] [--layers 64x10,128x10]

For each last-layer size ``n_in x n_out``: a quantized MLP (tests/zoo.py ``mlp``, inputs 16, hidden ``n_in``,
outputs ``n_out``) converted and compiled with ``Model: EssopUpdate: {Layer: out, BL: --bl}``
(toolchain.project.convert, g++), then ``--steps`` update steps on random grid values (x with 30 percent zeros,
signed deltas) run twice in the same process, side by side:

  * C-sim: ``hm.essop_update(X, D)``, one native call for the batch of steps;
  * reference: ``toolchain.arith.essop.essop_update`` step by step, LFSRs carried, as ``EssopTrainer`` does;

steps per second of each and whether the final weights agree bit for bit (exit 1 if not).  Then the estimate
of ``toolchain.essop_hls.essop_cost`` per update step: operation counts and energy of ESSOP next to an exact
outer product (``n_in * n_out`` 8x8 multiplies + weight adds).  Baseline: the shipped 45 nm cost table
(toolchain/energy.py, Horowitz-style figures, not measurements), integer datapaths on both sides -- not the
ESSOP paper's FP16 outer product at 14 nm, against which the paper reports 82 percent better energy
efficiency.  Timings are wall clock on whatever machine runs it.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from tests import zoo  # noqa: E402


def _steps(spec, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    xt, dt = spec.x_type, spec.d_type
    xs = rng.integers(0, 1 << xt.width, (n, spec.n_in)) * 2.0 ** -xt.frac
    xs[rng.random(xs.shape) < 0.3] = 0.0
    ds = rng.integers(-(1 << (dt.width - 1)), 1 << (dt.width - 1), (n, spec.n_out)) * 2.0 ** -dt.frac
    return xs, ds


def run_layer(n_in: int, n_out: int, bl: int, steps: int, workdir: str) -> dict:
    """Convert, compile and time one layer size; returns a row of the table."""
    from toolchain import essop_hls, project
    from toolchain.arith import essop as es

    model = zoo.mlp(7, "bits", widths=(16, n_in, n_out), quantized_input=True)
    cfg = {"Model": {"EssopUpdate": {"Layer": "out", "BL": bl}}}
    t0 = time.perf_counter()
    hm, _ = project.convert(model, "bitshift", os.path.join(workdir, f"p{n_in}x{n_out}"), zoo.PART, user_config=cfg)
    build_s = time.perf_counter() - t0
    spec = hm.essop.spec
    xs, ds = _steps(spec, steps)

    hm.essop_reset()
    t0 = time.perf_counter()
    hm.essop_update(xs, ds)
    csim_s = time.perf_counter() - t0

    lx = es.LFSR(es.DEFAULT_WIDTH, spec.seed_x)
    ld = es.LFSR(es.DEFAULT_WIDTH, spec.seed_d, es.DEFAULT_TAPS_D)
    w = spec.initial.copy()
    t0 = time.perf_counter()
    for x, d in zip(xs, ds):
        w = w - es.essop_update(x, d, spec.BL, lx, ld, spec.lr_shift).kernel()
    ref_s = time.perf_counter() - t0

    cost = essop_hls.essop_cost(n_in, n_out, bl, x_bits=spec.x_type.width, d_bits=spec.d_type.width,
                                weight_bits=spec.w_type.width)
    types = ", ".join(f"{name} {essop_hls.type_text(t)}" for name, t in (("x", spec.x_type), ("delta", spec.d_type),
                                                                          ("W", spec.w_type)))
    return {"layer": f"{n_in}x{n_out}", "bl": bl, "types": types,
            "build_s": build_s, "csim_sps": steps / csim_s, "ref_sps": steps / ref_s,
            "exact": bool(np.array_equal(hm.essop_weights(), w)), "cost": cost}


def table(rows: list[dict]) -> str:
    lines = [f"{'layer':8s} {'BL':>4s} {'C-sim steps/s':>14s} {'NumPy ref steps/s':>18s} {'ratio':>7s} "
             f"{'bit-exact':>9s}  types"]
    for r in rows:
        lines.append(f"{r['layer']:8s} {r['bl']:4d} {r['csim_sps']:14,.0f} {r['ref_sps']:18,.0f} "
                     f"{r['csim_sps'] / r['ref_sps']:6.1f}x {'yes' if r['exact'] else 'NO':>9s}  {r['types']}")
    lines.append("")
    lines.append("estimated energy per update step (45 nm cost table, toolchain/energy.py; cost-model figures, not "
                 "measurements; baseline: exact 8x8 integer outer product, not the paper's FP16 at 14 nm)")
    lines.append(f"{'layer':8s} {'BL':>4s} {'ESSOP nJ':>9s} {'exact 8-bit nJ':>15s} {'saving':>7s} "
                 f"{'FP16 nJ':>8s} {'saving':>7s}  "
                 "ESSOP ops (compare / AND / count / shift / add)   exact ops (mult / add)")
    for r in rows:
        c = r["cost"]
        k = c.counts()
        ops = " / ".join(f"{k.get(kind, (0, 0))[0]:,}" for kind in ("compare", "and", "count", "shift", "add"))
        exact = f"{k['mult'][1]:,} / {k['add'][1]:,}"
        lines.append(f"{r['layer']:8s} {r['bl']:4d} {c.essop_pj / 1e3:9.2f} {c.exact_pj / 1e3:15.2f} "
                     f"{c.saving * 100:6.1f}% {c.fp16_pj / 1e3:8.2f} {(1 - c.essop_pj / c.fp16_pj) * 100:6.1f}%  "
                     f"{ops:48s} {exact}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=200, help="update steps per layer (default 200)")
    ap.add_argument("--bl", type=int, default=64, help="stream length BL, a power of two (default 64)")
    ap.add_argument("--layers", default="64x10,128x10", help="last-layer sizes n_inxn_out, comma separated")
    args = ap.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.layers.split(",")]
    print(f"arith4ml ESSOP update benchmark: {os.cpu_count()} cores, {args.steps} steps per layer, BL {args.bl}",
          flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-essop-") as tmp:
        for n_in, n_out in sizes:
            rows.append(run_layer(n_in, n_out, args.bl, args.steps, tmp))
    print(table(rows), flush=True)
    return 0 if all(r["exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
