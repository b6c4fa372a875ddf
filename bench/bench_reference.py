"""Reference benchmark: ``toolchain.reference.predict`` (per-term and fast paths) against C-simulation.

    .venv/bin/python bench/bench_reference.py [--n 10000] [--repeat 5] [--models mlp,resnet8]

The models of bench/bench_backends.py (the 16-64-32-32-5 PoT MLP and the ResNet-8-style CNN), converted
and compiled with the Bitshift and RNS backends (tests/zoo.py's ``convert``), on ``--n`` raw float inputs
(normal, sigma 2).  For every model and backend, samples per second of:

  * the per-term reference, ``reference.predict(hm, X, per_term=True)`` (every kernel's ``accumulate``,
    term by term, int64), one run;
  * the fast reference, ``reference.predict(hm, X)``, on one thread and on every core (chunks of the batch
    over threads), best of ``--repeat`` runs;
  * C-simulation, ``hm.predict(X)`` (the C++ fast path, the batch over the bridge's threads), on one thread
    and on every core, best of ``--repeat`` runs after a warm-up call, alternating with the reference's;

the ratios fast reference / C-sim, and whether all outputs are equal bit for bit (exit 1 if not).
Timings are wall clock on whatever machine runs it (``os.cpu_count()`` is printed).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")
# run as a script from the repository root: sys.path[0] is bench/, so put the root on the path for the model
# zoo the tests share (tests/zoo.py)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
from bench_backends import MODELS  # noqa: E402  (the same models, from the same builders: sys.path[0] is bench/)

from tests import zoo  # noqa: E402

BACKENDS = ("Bitshift", "RNS")


def best_rates(fns: dict[str, Callable[[], np.ndarray]], n: int, repeat: int) -> dict[str, tuple[float, np.ndarray]]:
    """Best samples/s of each function over ``repeat`` rounds (the functions alternate within a round, so a
    busy moment of the machine slows all of them), with its output as float64 (n, n_out)."""
    best = {name: float("inf") for name in fns}
    out: dict[str, np.ndarray] = {}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            y = fn()
            best[name] = min(best[name], time.perf_counter() - t0)
            out[name] = np.asarray(y, dtype=np.float64).reshape(n, -1)
    return {name: (n / best[name], out[name]) for name in fns}


def measure(model, backend: str, X: np.ndarray, repeat: int, out_dir: str) -> dict:
    """One row: the three rates, the ratio and bit-for-bit equality of the three outputs."""
    from toolchain import reference

    hm = zoo.convert(model, backend, os.path.join(out_dir, backend))
    n = len(X)
    hm.predict(X[:50])  # warm: the first call loads the weights
    rates = best_rates({"csim1": lambda: hm.predict(X, threads=1), "fast1": lambda: reference.predict(hm, X, threads=1),
                        "csim": lambda: hm.predict(X), "fast": lambda: reference.predict(hm, X)}, n, repeat)
    rates |= best_rates({"slow": lambda: reference.predict(hm, X, per_term=True)}, n, 1)
    y = [rates[k][1] for k in ("csim", "fast", "slow", "csim1", "fast1")]
    return {"backend": backend, **{k: r for k, (r, _) in rates.items()},
            "equal": all(np.array_equal(y[0], other) for other in y[1:])}


def table(rows: list[tuple[str, dict]], cores: int) -> str:
    head = (f"{'model':9s} {'backend':8s} {'per-term ref/s':>14s} | {'1 thread: fast ref/s':>20s} {'C-sim/s':>10s} "
            f"{'ratio':>6s} | {f'{cores} threads: fast ref/s':>21s} {'C-sim/s':>10s} {'ratio':>6s} | "
            f"{'fast/per-term':>13s}  equal")
    lines = [head, "-" * len(head)]
    for name, r in rows:
        lines.append(f"{name:9s} {r['backend']:8s} {r['slow']:14,.0f} | {r['fast1']:20,.0f} {r['csim1']:10,.0f} "
                     f"{r['fast1'] / r['csim1']:5.2f}x | {r['fast']:21,.0f} {r['csim']:10,.0f} "
                     f"{r['fast'] / r['csim']:5.2f}x | {r['fast'] / r['slow']:12.0f}x  {'yes' if r['equal'] else 'NO'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="raw float inputs per model (default 10000)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of C-sim and the fast reference (best)")
    ap.add_argument("--models", default="mlp,resnet8", help="comma-separated: " + ",".join(MODELS))
    args = ap.parse_args(argv)
    from toolchain.backends.backend import thread_count

    print(f"arith4ml reference benchmark: {os.cpu_count()} cores, {args.n} raw inputs per model", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name in args.models.split(","):
            model = MODELS[name]()
            X = zoo.raw_inputs(5, model.input_shape[1:], args.n, scale=2, jitter=0, outliers=False)
            for backend in BACKENDS:
                rows.append((name, measure(model, backend, X, args.repeat, os.path.join(d, name))))
    print(table(rows, thread_count()), flush=True)
    return 0 if all(r["equal"] for _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
