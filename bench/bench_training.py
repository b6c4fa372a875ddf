"""Training-side benchmark on sklearn load_digits (fixed seed): prints the tables of docs/training.md.

    .venv/bin/python bench/bench_training.py            # full run (about 5-8 minutes on 2 CPU cores)
    .venv/bin/python bench/bench_training.py --quick    # fewer epochs, smoke check
    .venv/bin/python bench/bench_training.py --only residue,approx --json out.json

Sections: baselines and PoT (float, 4-bit quantized_bits, 4-bit PoT, PoT with
pruning), residue regularizer (in training and post-processing, three
(code width, moduli) configurations), (8,2) structured ternary, ESSOP vs exact
SGD, approximate ROUP inference on the CNN with closed-form vs table
throughput.  Hyper-parameters are fixed below (not picked per configuration).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import toolchain.quant as tq  # noqa: E402
from toolchain import data, models  # noqa: E402

SEED = 0
EPOCHS = 60
LR = 3e-3
BATCH = 32
HIDDEN = (32, 32)  # the 64-32-32-10 MLP
RES_CONFIGS = [(6, (7, 8, 9)), (8, (15, 16, 17)), (8, (31, 32, 33))]
RES_STRENGTH_TRAIN = 3e-5  # sin2, per weight-residue term
RES_STRENGTH_POST = 1e-4
RES_POST_EPOCHS = 20
RES_POST_LR = 1e-3
ESSOP = dict(stream_length=64, lr_shift=-2, batch_size=16, epochs=30, hidden=(32, 32))
ROUP_KM = [(0, 0), (0, 2), (0, 3), (1, 0), (1, 2), (1, 3), (2, 0), (2, 2), (3, 0)]


def fit(ds, quantizer=None, hidden=HIDDEN, reg=None, epochs=None, callbacks=(), builder="mlp", **kw):
    epochs = EPOCHS if epochs is None else epochs
    tf.keras.utils.set_random_seed(SEED)
    m = models.build(builder, ds.input_shape, 10, quantizer=quantizer, regularizer=reg, seed=SEED,
                     **({"hidden": hidden} if builder == "mlp" else kw))
    m.compile(tf.keras.optimizers.Adam(LR), "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(ds.x_train, ds.y_train, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=list(callbacks))
    return m, acc(m, ds)


def acc(m, ds):
    return float(m.evaluate(ds.x_test, ds.y_test, verbose=0)[1])


def pct(a):
    return f"{100 * a:.2f}"


def section_baselines(ds, out):
    print("\n## Baselines and power-of-two (MLP 64-32-32-10)\n")
    print("| model | bits/weight | weight sparsity | test accuracy | vs float |")
    print("|---|---|---|---|---|")
    rows = []
    float_m, fa = fit(ds, None)
    out["float_accuracy"] = fa
    for label, q, cb in [("float32", None, None), ("quantized_bits(4) uniform", {"name": "bits", "bits": 4}, None),
                         ("PoT 4-bit (quantized_pot)", {"name": "pot", "bits": 4}, None),
                         ("PoT 4-bit + PoT pruning 50%", {"name": "pot", "bits": 4}, "prune")]:
        if q is None:
            m, a = float_m, fa
        else:
            cbs = [tq.PotPruning(0.5, 0, EPOCHS // 2)] if cb else []
            m, a = fit(ds, q, callbacks=cbs)
        ws = tq.weight_sparsity(m)
        rows.append({"model": label, "accuracy": a, "bits_per_weight": ws["bits_per_weight"],
                     "weight_sparsity": ws["sparsity"]})
        print(f"| {label} | {ws['bits_per_weight']:.0f} | {ws['sparsity']:.3f} | {pct(a)} | {100 * (a - fa):+.2f} |")
    out["baselines"] = rows


def section_residue(ds, out):
    print("\n## Residue regularizer (MLP 64-32-32-10, quantized_bits codes, sin^2 penalty)\n")
    print(f"in-training: lambda={RES_STRENGTH_TRAIN:g}, {EPOCHS} epochs from scratch; post-processing: "
          f"lambda={RES_STRENGTH_POST:g}, {RES_POST_EPOCHS} fine-tune epochs (Adam {RES_POST_LR:g}) of the "
          f"unregularized model.  Residue sparsity = zero (weight, modulus) pairs / all pairs.\n")
    print("| codes | moduli | mode | sparsity unreg | sparsity reg | ratio | acc unreg | acc reg | loss (pts) | weight sparsity reg |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for bits, moduli in RES_CONFIGS:
        q = {"name": "bits", "bits": bits}
        m0, a0 = fit(ds, q)
        r0 = tq.residue_sparsity(m0, moduli)["total"]
        m1, a1 = fit(ds, q, reg={"moduli": moduli, "strength": RES_STRENGTH_TRAIN, "variant": "sin2"})
        r1 = tq.residue_sparsity(m1, moduli)["total"]
        m2, rep = tq.optimize_residues(m0, moduli, ds, epochs=RES_POST_EPOCHS, strength=RES_STRENGTH_POST,
                                       learning_rate=RES_POST_LR, batch_size=BATCH, seed=SEED)
        for mode, rr, aa, mm in (("in-training", r1, a1, m1), ("post-processing", rep["after"]["total"],
                                                                 rep["after"]["accuracy"], m2)):
            ws = tq.weight_sparsity(mm)["sparsity"]
            row = {"bits": bits, "moduli": list(moduli), "mode": mode, "sparsity_unreg": r0, "sparsity_reg": rr,
                   "ratio": rr / r0, "acc_unreg": a0, "acc_reg": aa, "weight_sparsity_reg": ws}
            rows.append(row)
            print(f"| {bits}-bit | {{{','.join(map(str, moduli))}}} | {mode} | {r0:.3f} | {rr:.3f} | "
                  f"{rr / r0:.2f}x | {pct(a0)} | {pct(aa)} | {100 * (a0 - aa):+.2f} | {ws:.3f} |")
    out["residue"] = rows


def section_ternary(ds, out):
    hidden = (64, 32)
    print(f"\n## (8,2) structured ternary (MLP 64-{'-'.join(map(str, hidden))}-10, every layer (8,2))\n")
    print("| model | bits/weight | weight sparsity | test accuracy | vs float (same MLP) |")
    print("|---|---|---|---|---|")
    fm, fa = fit(ds, None, hidden=hidden)
    rows = []
    for label, q in [("float32", None), ("ternary (per-channel 2**e scale)", {"name": "ternary"}),
                     ("(8,2) nk_ternary", {"name": "nk_ternary", "N": 8, "k": 2})]:
        m, a = (fm, fa) if q is None else fit(ds, q, hidden=hidden)
        ws = tq.weight_sparsity(m)
        rows.append({"model": label, "accuracy": a, "bits_per_weight": ws["bits_per_weight"],
                     "weight_sparsity": ws["sparsity"]})
        print(f"| {label} | {ws['bits_per_weight']:.2f} | {ws['sparsity']:.3f} | {pct(a)} | {100 * (a - fa):+.2f} |")
    out["ternary"] = rows


def section_essop(ds, out):
    e = ESSOP
    print(f"\n## ESSOP (MLP 64-{'-'.join(map(str, e['hidden']))}-10, SGD lr 2**{e['lr_shift']}, batch "
          f"{e['batch_size']}, {e['epochs']} epochs, BL={e['stream_length']})\n")
    print("| weight update | test accuracy | train seconds |")
    print("|---|---|---|")
    rows = {}
    for mode in ("exact", "essop"):
        tf.keras.utils.set_random_seed(SEED)
        m = models.build_mlp(ds.input_shape, 10, e["hidden"], seed=SEED)
        tr = tq.EssopTrainer(m, stream_length=e["stream_length"], lr_shift=e["lr_shift"], mode=mode)
        t0 = time.time()
        tr.fit(ds.x_train, ds.y_train, epochs=e["epochs"], batch_size=e["batch_size"], shuffle_seed=SEED, verbose=0)
        dt = time.time() - t0
        a = tr.evaluate(ds.x_test, ds.y_test)[1]
        rows[mode] = {"accuracy": a, "seconds": dt}
        label = "exact outer product (SGD)" if mode == "exact" else "ESSOP stochastic outer product"
        print(f"| {label} | {pct(a)} | {dt:.1f} |")
    print(f"\nESSOP - exact: {100 * (rows['essop']['accuracy'] - rows['exact']['accuracy']):+.2f} points")
    out["essop"] = rows


def section_approx(ds_img, out):
    print("\n## Approximate ROUP inference on the CNN (conv 8, conv 16, pool, fc 32, out; 8-bit operands)\n")
    m, fa = fit(ds_img, None, builder="cnn", filters=(8, 16), dense=32)
    calib = ds_img.x_train[:256]
    exact = tq.to_approx(m, "exact", calib_x=calib)
    ea = acc_np(exact, ds_img)
    print(f"float CNN {pct(fa)}; 8-bit exact multipliers {pct(ea)}\n")
    print("| ROUP(k, m), all layers | test accuracy | vs 8-bit exact | MRED | mean abs error |")
    print("|---|---|---|---|---|")
    from toolchain.arith import approx

    rows = []
    for k, m_ in ROUP_KM:
        am = tq.to_approx(m, f"roup:{k}:{m_}", calib_x=calib)
        a = acc_np(am, ds_img)
        em = approx.error_metrics(approx.ROUPMultiplier(k, m_))
        rows.append({"k": k, "m": m_, "accuracy": a, "mred": em["mred"], "mae": em["mae"]})
        print(f"| ({k}, {m_}) | {pct(a)} | {100 * (a - ea):+.2f} | {em['mred']:.4f} | {em['mae']:.1f} |")
    # granularity example: filter-level, half the filters of every layer exact, half ROUP(2, 2)
    def half(name, n_out, n_in):
        return [o % 2 for o in range(n_out)]
    fm = tq.to_approx(m, ["exact", "roup:2:2"], calib_x=calib, assignment=half)
    km = tq.to_approx(m, ["exact", "roup:2:2"], calib_x=calib,
                      assignment=lambda n, o, i: [[(a + b) % 2 for b in range(i)] for a in range(o)])
    print(f"| filter granularity: ROUP(2,2) on odd filters, exact on even | {pct(acc_np(fm, ds_img))} | "
          f"{100 * (acc_np(fm, ds_img) - ea):+.2f} | | |")
    print(f"| kernel granularity: ROUP(2,2) on (o+i) odd channel pairs | {pct(acc_np(km, ds_img))} | "
          f"{100 * (acc_np(km, ds_img) - ea):+.2f} | | |")
    out["approx"] = {"float": fa, "exact8": ea, "roup": rows}
    # throughput: closed form vs 256x256 table, same ROUP, same model, same run
    print("\n| emulation path, ROUP(1, 2), 450 test images | seconds | images/s |")
    print("|---|---|---|")
    thr = {}
    for label, spec in (("closed form (matmul/conv of rounded operands)", "roup:1:2"),
                        ("256x256 table (gather)", "roup_table:1:2")):
        am = tq.to_approx(m, spec, calib_x=calib)
        am.predict(ds_img.x_test[:32], verbose=0, batch_size=450)  # warm-up / trace
        t0 = time.time()
        p = am.predict(ds_img.x_test, verbose=0, batch_size=450)
        dt = time.time() - t0
        thr[spec] = {"seconds": dt, "images_per_s": len(ds_img.x_test) / dt, "pred": p}
        print(f"| {label} | {dt:.3f} | {len(ds_img.x_test) / dt:.0f} |")
    same = np.array_equal(thr["roup:1:2"]["pred"], thr["roup_table:1:2"]["pred"])
    print(f"\nclosed form and table outputs identical: {same}; speed-up "
          f"{thr['roup_table:1:2']['seconds'] / thr['roup:1:2']['seconds']:.1f}x")
    out["approx"]["throughput"] = {k: {kk: vv for kk, vv in v.items() if kk != "pred"} for k, v in thr.items()}
    out["approx"]["identical"] = same


def acc_np(m, ds):
    p = m.predict(ds.x_test, verbose=0, batch_size=450)
    return float(np.mean(np.argmax(p, -1) == ds.y_test))


SECTIONS = {"baselines": section_baselines, "residue": section_residue, "ternary": section_ternary,
            "essop": section_essop, "approx": section_approx}


def main(argv=None):
    global EPOCHS, RES_POST_EPOCHS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few epochs (smoke run; numbers not meaningful)")
    ap.add_argument("--only", help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if args.quick:
        EPOCHS, RES_POST_EPOCHS = 3, 2
        ESSOP["epochs"] = 1
    only = args.only.split(",") if args.only else list(SECTIONS)
    for s in only:
        if s not in SECTIONS:
            ap.error(f"unknown section {s!r}; known: {', '.join(SECTIONS)}")
    ds = data.load_digits(seed=SEED)
    out: dict = {"seed": SEED, "epochs": EPOCHS}
    t0 = time.time()
    print(f"# arith4ml training benchmark (load_digits, seed {SEED}, {len(ds.x_train)} train / "
          f"{len(ds.x_test)} test; 1 point = {len(ds.x_test) / 100:.1f} test images)")
    for s in only:
        SECTIONS[s](ds.with_view("image") if s == "approx" else ds, out)
    print(f"\ntotal {time.time() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2, default=float)


if __name__ == "__main__":
    main()
