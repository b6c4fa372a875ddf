"""CIFAR-10-sized ResNet-8 benchmark: stock hls4ml 1.3 (Vivado backend) vs arith4ml Bitshift and RNS, io_stream.

    .venv/bin/python bench/bench_cifar.py [--samples 400] [--weights po2|bits] [--io-parallel] [--json out.json]

The model is MLPerf Tiny's image-classification ResNet-8 (as in the MAx-DNN paper): 32x32x3 input, a 3x3 conv of 16
filters, three residual stacks of 16/32/64 filters (stride 2 and a 1x1 conv skip for the 32 and 64 stacks),
BatchNorm, Add skips, average pooling + Flatten + Dense(10), softmax; 78,666 parameters (``tests/zoo.py``'s
``cifar_resnet8``: QKeras, quantized_relu(8, 4) activations, ``QActivation(quantized_bits(8, 3))`` input quantizer,
``quantized_po2(4, 1)`` weights, or ``quantized_bits(8, 0)`` with ``--weights bits``; BatchNorm statistics
calibrated on the inputs, randomised, on dyadic grids so that Keras' float32 forward pass is the exact value).
No data is downloaded: the inputs are synthetic (normal, sigma 2, like bench_backends.py) or the first
``--samples`` images of a user's ``.npz`` (``--npz``; uint8 images are divided by 255).

Every project outputs logits: arith4ml removes the final softmax (softmax tables are not modelled exactly), and
stock hls4ml gets ``Skip: true`` on it, with its default precisions otherwise (``ap_fixed<16,6>``, as in
bench_backends.py).  Per backend:
  * compile: ``hm.write()`` + the project's ``build_lib.sh`` (what ``hm.compile()`` runs), wall time;
  * compiler peak MiB: peak resident memory of the largest compiler process of the build
    (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a fresh helper process that runs the build; see bench/common.py);
  * samples/s: ``hm.predict(X)`` on all inputs (stock hls4ml calls the library once per sample, arith4ml once per
    batch; io_stream runs on one thread); arith4ml's is the best of ``--repeat`` rounds while rounds stay cheap;
  * = exact: outputs equal to ``toolchain.reference.predict`` (the network computed exactly; the references of
    every arith4ml project are checked equal); = Keras: equal to the Keras model's logits (float32), argmax
    agreement with them.
With ``--fit BOARD`` each arith4ml backend is also converted with the ReuseFactors ``arith4ml convert --fit BOARD``
chooses (``toolchain.estimate.fit_reuse_factors``: Strategy Resource, folded kernels), compiled on the C-sim fast
path and on the synthesis path, and checked bit for bit against the reference on ``--fit-samples`` inputs; a
second table shows the chosen ReuseFactors, the estimate against the part and both paths' exactness.
Exit status 1 if an arith4ml backend fails to convert or compile, or is not 100 % exact (or, on the default
input-quantized model with dyadic BatchNorm, not 100 % equal to Keras).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # run from the root: tests/zoo

import numpy as np  # noqa: E402

from bench.common import build_measured, dump_json, git_commit, write_timed  # noqa: E402
from tests import zoo  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
STOCK = "Vivado"
CHEAP_S = 3.0  # arith4ml: further timed rounds only while a round takes less than this


def load_inputs(args) -> tuple[np.ndarray, str]:
    """(raw float32 inputs (n, 32, 32, 3), description)."""
    if not args.npz:
        return zoo.raw_inputs(5, (32, 32, 3), args.samples, scale=2, jitter=0, outliers=False), \
            f"{args.samples} synthetic N(0, 2) inputs"
    with np.load(args.npz) as data:
        key = args.npz_key or data.files[0]
        x = data[key][: args.samples]
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    if x.shape[1:] != (32, 32, 3):
        sys.exit(f"{args.npz}[{key}] has images of shape {x.shape[1:]}; expected (32, 32, 3) (channels last)")
    return x, f"{len(x)} images of {args.npz}[{key}]"


def measure(model, backend: str, io_type: str, X: np.ndarray, out_dir: str, repeat: int, keras: np.ndarray,
            n_stock: int) -> tuple[dict, np.ndarray | None, np.ndarray | None]:
    """One project: (row, C-sim outputs, exact reference outputs or None for stock)."""
    from toolchain import reference

    label = f"{backend} {io_type}"
    row = {"backend": backend, "io_type": io_type}
    softmax = {"softmax": {"Skip": True}} if "softmax" in [layer.name for layer in model.layers] else None
    try:
        t0 = time.perf_counter()
        hm = zoo.convert(model, backend, os.path.join(out_dir, label.replace(" ", "_")), io_type=io_type,
                         compile=False, layer_config=softmax if backend == STOCK else None)
        row["convert_s"] = time.perf_counter() - t0
        row["write_s"] = write_timed(hm)
        row.update(build_measured(hm))
    except Exception as exc:  # noqa: BLE001 - a failed conversion or build is a table cell
        row["failed"] = (str(exc).strip().splitlines() or ["?"])[0][:160]
        return row, None, None
    row["compile_s"] = row["write_s"] + row["build_s"]
    n = n_stock if backend == STOCK else len(X)
    hm.predict(X[:2])  # warm: loads the weights
    rounds = []
    y = None
    for _ in range(1 if backend == STOCK else max(1, repeat)):
        t0 = time.perf_counter()
        y = np.asarray(hm.predict(X[:n]), dtype=np.float64).reshape(n, -1)
        rounds.append(time.perf_counter() - t0)
        if rounds[-1] > CHEAP_S:
            break
    row.update(rate=n / min(rounds), rounds=len(rounds), n_rate=n, n=n,
               keras_exact=float(np.mean(y == keras[:n])),
               argmax_keras=float(np.mean(np.argmax(y, 1) == np.argmax(keras[:n], 1))),
               max_diff_keras=float(np.max(np.abs(y - keras[:n]))))
    ref = None
    if backend != STOCK:
        t0 = time.perf_counter()
        ref = reference.predict(hm, X)
        row["reference_s"] = time.perf_counter() - t0
    return row, y, ref


def measure_fit(model, backend: str, board_name: str, X: np.ndarray, out_dir: str) -> dict:
    """``backend`` in io_stream with the ReuseFactors ``--fit board_name`` chooses: the choice, the estimate, and the
    fast and synthesis C-sim paths' agreement with the reference on ``X``."""
    from toolchain import reference, simlib
    from toolchain.boards import load_board
    from toolchain.estimate import fit_reuse_factors

    row = {"backend": backend, "board": board_name}
    board = load_board(board_name)
    prj = os.path.join(out_dir, f"{backend}_fit_{board_name}")
    hm = zoo.convert(model, backend, prj + "_plan", io_type="io_stream", compile=False)
    fit = fit_reuse_factors(hm, board)
    row.update(fits=fit.fits, totals=fit.estimate.totals, reuse={k: r for k, (_, r) in fit.choices.items()})
    hm = zoo.convert(model, backend, prj, io_type="io_stream", compile=False, layer_config=fit.config_entries())
    hm.write()
    ref = reference.predict(hm, X)
    for path in ("fast", "synthesis"):
        t0 = time.perf_counter()
        simlib.compile_model(hm, path)
        row[f"{path}_compile_s"] = time.perf_counter() - t0
        y = np.asarray(hm.predict(X), dtype=np.float64).reshape(len(X), -1)
        row[f"{path}_exact"] = float(np.mean(y == ref.reshape(len(X), -1)))
    return row


def fit_table(rows: list[dict], budget: dict) -> str:
    head = (f"{'backend':10s} {'board':8s} {'ReuseFactors':>14s} {'LUT':>17s} {'FF':>17s} {'BRAM36':>9s} "
            f"{'DSP':>9s} {'fits':>5s} {'= exact fast':>12s} {'= exact synthesis':>17s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if "failed" in r:
            lines.append(f"{r['backend']:10s} {r['board']:8s} fails: {r['failed']}")
            continue
        t, reuse = r["totals"], list(r["reuse"].values())
        used = {k: f"{t[k]:,}/{budget[k]:,}" for k in ("lut", "ff", "bram36", "dsp")}
        lines.append(f"{r['backend']:10s} {r['board']:8s} {min(reuse):>6d}-{max(reuse):<7d} {used['lut']:>17s} "
                     f"{used['ff']:>17s} {used['bram36']:>9s} {used['dsp']:>9s} {str(r['fits']):>5s} "
                     f"{r['fast_exact'] * 100:11.2f}% {r['synthesis_exact'] * 100:16.2f}%")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    stock = next((r for r in rows if r["backend"] == STOCK and "failed" not in r), None)
    head = (f"{'backend':10s} {'io':11s} {'compile s':>9s} {'compiler MiB':>12s} {'samples/s':>10s} "
            f"{'vs stock':>9s} {'= exact':>9s} {'= Keras':>9s} {'argmax=Keras':>12s} {'max|d Keras|':>12s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if "failed" in r:
            lines.append(f"{r['backend']:10s} {r['io_type']:11s} fails: {r['failed']}")
            continue
        vs = f"{r['rate'] / stock['rate']:8.1f}x" if stock else f"{'-':>9s}"
        exact = f"{r['exact'] * 100:7.2f} %" if "exact" in r else f"{'-':>9s}"
        lines.append(f"{r['backend']:10s} {r['io_type']:11s} {r['compile_s']:9.1f} {r['peak_mib']:12.0f} "
                     f"{r['rate']:10,.1f} {vs} {exact} {r['keras_exact'] * 100:7.2f} % "
                     f"{r['argmax_keras'] * 100:11.1f}% {r['max_diff_keras']:12.4f}")
    return "\n".join(lines)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=400, help="raw float inputs (default 400)")
    ap.add_argument("--n-stock", type=int, default=None,
                    help="inputs stock hls4ml simulates (default: all; about 0.2 s per sample on a 2-core machine)")
    ap.add_argument("--seed", type=int, default=0, help="model seed (default 0)")
    ap.add_argument("--weights", choices=("po2", "bits"), default="po2",
                    help="po2: quantized_po2(4, 1) (default); bits: quantized_bits(8, 0) (BatchNorm folds in)")
    ap.add_argument("--pooling", choices=("average", "global"), default="average",
                    help="AveragePooling2D(8) + Flatten as MLPerf (default) or GlobalAveragePooling2D")
    ap.add_argument("--no-input-quantizer", action="store_true",
                    help="no QActivation(quantized_bits(8, 3)) after the input (then Keras sees raw floats)")
    ap.add_argument("--npz", help="inputs from this .npz (channels-last 32x32x3 images) instead of synthetic ones")
    ap.add_argument("--npz-key", help="the array in --npz (default: its first)")
    ap.add_argument("--backends", default=f"{STOCK},Bitshift,RNS",
                    help=f"comma-separated (default {STOCK},Bitshift,RNS)")
    ap.add_argument("--io-parallel", action="store_true",
                    help="also arith4ml's backends in io_parallel (stock hls4ml's io_parallel is not run: its fully "
                         "unrolled 32x32 convolutions take g++ very long)")
    ap.add_argument("--repeat", type=int, default=3, help="arith4ml: best of this many C-sim rounds (default 3), "
                    f"fewer when a round takes over {CHEAP_S:g} s")
    ap.add_argument("--fit", metavar="BOARD", help="also build each arith4ml backend with the ReuseFactors that "
                    "'convert --fit BOARD' chooses and check both C-sim paths (e.g. zcu104)")
    ap.add_argument("--fit-samples", type=int, default=50, help="inputs for the --fit projects (default 50)")
    ap.add_argument("--json", help="write the table (and the run's settings) as JSON here")
    ap.add_argument("--keep", metavar="DIR", help="write the projects into DIR and keep them (default: a temporary "
                    "directory, removed at the end)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import hls4ml
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # the BatchNorm calibration's sub-models retrace: not news
    X, what = load_inputs(args)
    quantized_input = not args.no_input_quantizer
    model = zoo.cifar_resnet8(args.seed, weights=args.weights, quantized_input=quantized_input,
                              pooling=args.pooling, calibration=X[:64] if args.npz else None)
    logits = tf.keras.Model(model.input, model.get_layer("logits").output)
    keras = logits.predict(X, batch_size=256, verbose=0).reshape(len(X), -1).astype(np.float64)
    commit = git_commit(ROOT)
    print(f"CIFAR-10 ResNet-8 ({model.count_params():,} parameters, {args.weights} weights, "
          f"{'input quantized' if quantized_input else 'raw input'}): {what}; {os.cpu_count()} cores; "
          f"hls4ml {hls4ml.__version__}; commit {commit}", flush=True)

    jobs = [(b, "io_stream") for b in args.backends.split(",")]
    if args.io_parallel:
        jobs += [(b, "io_parallel") for b in args.backends.split(",") if b != STOCK]
    out_dir = os.path.abspath(args.keep) if args.keep else tempfile.mkdtemp(prefix="bench_cifar_")
    os.makedirs(out_dir, exist_ok=True)
    rows, outputs, refs = [], [], []
    try:
        for backend, io_type in jobs:
            n_stock = min(len(X), args.n_stock or len(X))
            row, y, ref = measure(model, backend, io_type, X, out_dir, args.repeat, keras, n_stock)
            rows.append(row)
            outputs.append(y)
            refs.append(ref)
            print(f"  {backend} {io_type}: " + (f"failed: {row['failed']}" if "failed" in row else
                  f"compile {row['compile_s']:.1f} s, {row['rate']:,.1f} samples/s"), flush=True)

        fit_rows = []
        for backend in [b for b in args.backends.split(",") if b != STOCK] if args.fit else []:
            try:
                fit_rows.append(measure_fit(model, backend, args.fit, X[:args.fit_samples], out_dir))
            except Exception as exc:  # noqa: BLE001 - a failed conversion or build is a table cell
                fit_rows.append({"backend": backend, "board": args.fit,
                                 "failed": (str(exc).strip().splitlines() or ["?"])[0][:160]})
            print(f"  {backend} io_stream --fit {args.fit}: done", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(out_dir, ignore_errors=True)

    failed = False
    exact_refs = [r for r in refs if r is not None]
    if exact_refs and not all(np.array_equal(exact_refs[0], r) for r in exact_refs[1:]):
        print("the arith4ml projects' exact references differ", flush=True)
        failed = True
    strict_keras = quantized_input  # dyadic BatchNorm: Keras' float32 pass is the exact value
    for row, y in zip(rows, outputs):
        ours = row["backend"] != STOCK
        if y is None:
            failed |= ours
            continue
        if exact_refs:
            row["exact"] = float(np.mean(y == exact_refs[0][: len(y)]))
        if ours:
            failed |= row.get("exact", 0.0) != 1.0 or (strict_keras and row["keras_exact"] != 1.0)
    print(table(rows), flush=True)
    if fit_rows:
        from toolchain.boards import load_board
        from toolchain.estimate import budget_of

        print(f"\n--fit {args.fit} (resource estimate, not synthesis), {args.fit_samples} inputs on both C-sim paths:")
        print(fit_table(fit_rows, budget_of(load_board(args.fit))), flush=True)
        failed |= any("failed" in r or r["fast_exact"] != 1.0 or r["synthesis_exact"] != 1.0 for r in fit_rows)
    if args.keep:
        print(f"projects kept in {out_dir}")
    if args.json:
        dump_json(args.json, {"model": "cifar_resnet8", "params": int(model.count_params()), "weights": args.weights,
                              "pooling": args.pooling, "quantized_input": quantized_input, "inputs": what,
                              "seed": args.seed, "cores": os.cpu_count(), "hls4ml": hls4ml.__version__,
                              "commit": commit, "rows": rows, "fit": fit_rows, "ok": not failed})
    if failed:
        print("FAILED: an arith4ml backend failed or is not 100 % exact", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
