"""C-simulation benchmark: stock hls4ml 1.3 (Vivado backend, and with ``bit_exact=True``) vs arith4ml Bitshift and
RNS, same models, same run.

    .venv/bin/python bench/bench_backends.py [--n 10000] [--n-stock-cnn 2000] [--models mlp,mlp_q,resnet8,resnet8_q]

Models (PoT 4-bit weights, ``quantized_po2(4, 1)``, fixed seeds):
  * ``mlp``: the 16-64-32-32-5 MLP of the throughput acceptance check;
  * ``resnet8``: a ResNet-8-style CNN on 8x8x1 inputs (stem conv, three residual stacks of
    conv-BN-relu-conv-BN + skip with Add, 1x1 conv skips where the shape changes, max pooling, dense);
  * ``mlp_q``, ``resnet8_q``: the same with ``QActivation(quantized_bits(8, 3, alpha=1))`` right after the input,
    which fixes the input grid as a quantized model's first layer does.

For every model and backend it measures, on raw float inputs (normal, sigma 2):
  * write + compile: ``hls_model.compile()`` wall time (hls4ml writes the project and runs g++);
  * C-sim throughput: ``hls_model.predict(X)`` samples per second (stock hls4ml calls the library
    once per sample, arith4ml once per batch); stock on the CNN runs on ``--n-stock-cnn`` samples;
  * bit-exact: outputs equal to the exact result of the network, ``toolchain.reference.predict``
    (input rounded to the input type, every layer exact, activations rounded as their quantizers
    say); for stock hls4ml this is how often its default ap_fixed<16,6> layers still give that value.
    The Bitshift and RNS references must be equal (checked);
  * exact vs Keras: outputs equal to Keras ``model.predict`` (float32); argmax agreement; max |C-sim - Keras|;
  * arith4ml's batch C-sim on one thread and on every core (``predict(threads=...)``), best of 5 rounds
    (a round takes milliseconds; stock hls4ml's one run takes seconds).
  * terms: generated kernel terms / dense MACs (x moduli for RNS), multiplications in the kernels.
Timings are wall clock on whatever machine runs it; the README quotes one run and its machine.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")
# run as a script from the repository root: sys.path[0] is bench/, so put the root on the path for the model
# zoo the tests share (tests/zoo.py)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from tests import zoo  # noqa: E402

MODELS = {
    # quantized_relu(6,2) activations, no pruning (as the acceptance check builds it)
    "mlp": lambda: zoo.mlp(31337, widths=(16, 64, 32, 32, 5), scale=0.5, bias_scale=0.3, prune=0),
    # nine 3x3/1x1 convolutions and one dense layer; 20 % exact zeros, BatchNorm statistics away from the identity
    "resnet8": lambda: zoo.resnet(8, filters=(8, 16, 32), n_classes=5),
    "mlp_q": lambda: zoo.mlp(31337, widths=(16, 64, 32, 32, 5), scale=0.5, bias_scale=0.3, prune=0,
                             quantized_input=True),
    "resnet8_q": lambda: zoo.resnet(8, filters=(8, 16, 32), n_classes=5, quantized_input=True),
}
BACKENDS = ("Vivado", "Vivado bit_exact", "Bitshift", "RNS")
STOCK = ("Vivado", "Vivado bit_exact")
REPEAT = 5  # timed rounds of arith4ml's batch C-sim (best kept)


@contextlib.contextmanager
def compiler_output_to(path: str):
    """Send the process's stderr (g++ warnings from hls4ml's build script: hundreds of lines for ap_fixed
    projects) to ``path`` so the table stays readable."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "w") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def measure(model, backend: str, X: np.ndarray, n_rate: int,
            out_dir: str) -> tuple[dict, np.ndarray, np.ndarray | None]:
    """One backend: (table row, C-sim outputs, exact reference outputs or None for stock hls4ml)."""
    from toolchain import reference
    from toolchain.report import layer_rows

    hls4ml_backend, bit_exact = backend.split()[0], backend.endswith("bit_exact")
    try:
        hm = zoo.convert(model, hls4ml_backend, os.path.join(out_dir, backend.replace(" ", "_")), compile=False,
                         bit_exact=True if bit_exact else None)
        t0 = time.perf_counter()
        with compiler_output_to(os.path.join(out_dir, backend.replace(" ", "_") + "_compile.log")):
            hm.compile()
    except Exception as exc:  # noqa: BLE001 - hls4ml bit_exact fails on some models: a table cell, not a crash
        return {"backend": backend, "failed": (str(exc).strip().splitlines() or ["?"])[0][:70]}, None, None
    compile_s = time.perf_counter() - t0
    hm.predict(X[:50])  # warm: first call loads the weights
    rate_1 = None
    if backend in STOCK:  # one sample per library call: one run of n_rate samples takes seconds
        t0 = time.perf_counter()
        y = np.asarray(hm.predict(X[:n_rate]), dtype=np.float64).reshape(n_rate, -1)
        rate = n_rate / (time.perf_counter() - t0)
    else:  # a run takes milliseconds: best of REPEAT rounds, one thread and every core alternating
        best_1 = best = float("inf")
        for _ in range(REPEAT):
            t0 = time.perf_counter()
            hm.predict(X[:n_rate], threads=1)
            best_1 = min(best_1, time.perf_counter() - t0)
            t0 = time.perf_counter()
            y = np.asarray(hm.predict(X[:n_rate]), dtype=np.float64).reshape(n_rate, -1)
            best = min(best, time.perf_counter() - t0)
        rate_1, rate = n_rate / best_1, n_rate / best
    if n_rate < len(X):  # the rest, untimed, for the exactness columns
        y = np.concatenate([y, np.asarray(hm.predict(X[n_rate:]), dtype=np.float64).reshape(len(X) - n_rate, -1)])
    keras = model.predict(X, batch_size=1024, verbose=0).reshape(len(X), -1).astype(np.float64)
    row = {"backend": backend, "compile_s": compile_s, "rate": rate, "rate_1": rate_1, "n_rate": n_rate,
           "n": len(X), "keras_exact": float(np.mean(y == keras)),
           "argmax": float(np.mean(np.argmax(y, 1) == np.argmax(keras, 1))),
           "max_diff_keras": float(np.max(np.abs(y - keras)))}
    ref = None
    if backend not in STOCK:
        ref = reference.predict(hm, X)
        rows = layer_rows(hm)
        dense = sum(r["dense_macs"] * (len(r["moduli"]) if r["moduli"] else 1) for r in rows)
        row["terms"] = sum(r["terms"] for r in rows)
        row["dense"] = dense
        row["mults"] = sum(r["multiplications"] for r in rows)
        row["kinds"] = sorted({r["arithmetic"] for r in rows})
    return row, y, ref


def table(name: str, rows: list[dict]) -> str:
    stock = rows[0]
    head = (f"{'model':9s} {'backend':16s} {'compile':>8s} {'vs stock':>8s} {'1 thread/s':>11s} {'samples/s':>10s} "
            f"{'vs stock':>8s} {'= exact result':>15s} {'= Keras':>9s} {'argmax=Keras':>12s} {'max|d Keras|':>12s} "
            f"{'terms/dense':>14s} {'mults':>5s} kernels")
    lines = [head, "-" * len(head)]
    for r in rows:
        if "failed" in r:
            lines.append(f"{name:9s} {r['backend']:16s} fails to convert or compile: {r['failed']}")
            continue
        terms = f"{r['terms']}/{r['dense']}" if "terms" in r else "-"
        mults = str(r["mults"]) if "mults" in r else "-"
        kinds = ",".join(r.get("kinds", ["hls4ml dense/conv"]))
        one = f"{r['rate_1']:11,.0f}" if r.get("rate_1") else f"{'-':>11s}"
        lines.append(f"{name:9s} {r['backend']:16s} {r['compile_s']:7.1f}s {r['compile_s'] / stock['compile_s']:7.2f}x "
                     f"{one} {r['rate']:10,.0f} {r['rate'] / stock['rate']:7.1f}x {r['exact'] * 100:13.2f} % "
                     f"{r['keras_exact'] * 100:7.2f} % {r['argmax'] * 100:11.1f}% {r['max_diff_keras']:12.4f} "
                     f"{terms:>14s} {mults:>5s} {kinds}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="raw float inputs per model (default 10000)")
    ap.add_argument("--n-stock-cnn", type=int, default=2000, help="inputs for stock hls4ml's CNN throughput")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ",".join(MODELS))
    args = ap.parse_args(argv)

    failed = False
    print(f"arith4ml C-sim benchmark: {os.cpu_count()} cores, {args.n} raw inputs per model", flush=True)
    for name in args.models.split(","):
        model = MODELS[name]()
        shape = model.input_shape[1:]
        X = zoo.raw_inputs(5, shape, args.n, scale=2, jitter=0, outliers=False)
        rows, outputs, refs = [], [], []
        with tempfile.TemporaryDirectory() as d:
            for backend in BACKENDS:
                n_rate = min(args.n, args.n_stock_cnn) if (backend in STOCK and len(shape) > 1) else args.n
                row, y, ref = measure(model, backend, X, n_rate, d)
                rows.append(row)
                outputs.append(y)
                if ref is not None:
                    refs.append(ref)
        if not all(np.array_equal(refs[0], r) for r in refs[1:]):
            print(f"{name}: the backends' exact references differ", flush=True)
            failed = True
        for row, y in zip(rows, outputs):
            if y is not None:
                row["exact"] = float(np.mean(y == refs[0]))
                failed |= row["backend"] not in STOCK and row["exact"] != 1.0
        print(table(name, rows), flush=True)
        print(flush=True)
    print("stock throughput on the CNN measured on", args.n_stock_cnn, "inputs" if "resnet8" in args.models else "")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
