"""arith4ml demo (``make demo``): digits -> PoT MLP trained with the residue regularizer ->
Bitshift and RNS C++ for the PYNQ-Z2 -> bit-exact batch C-sim against the integer reference -> report;
then a small approximate-multiplier exploration of the same model, its best point converted by the Approx
backend and C-simulated bit-exact; then the board projects for the PYNQ-Z2 and the Arty A7-35T, their Tcl
scripts checked under tclsh (Vivado is not run: no bitstream is built here); last, the Verilog of the Bitshift
output layer with its constant weights, simulated against the reference and costed by yosys.

Runs on scikit-learn's bundled ``load_digits`` (nothing is downloaded), in well under a
minute on 2 cores.  Writes the two projects under ``out/demo/``.  Exit status 0 when
C-simulation equals ``toolchain.reference.predict`` bit for bit on every output of both
backends, 1 otherwise.

The model is a 64-32-32-10 MLP with 4-bit power-of-two weights with a zero level
(``toolchain.quant.quantized_pot``: ``±2**e``, ``e`` in -6..0, or exactly 0) and a
``toolchain.quant.ResidueRegularizer`` on every kernel.  The regularizer's moduli are the
ones the RNS backend is then told to use (hls4ml config ``Model: {Moduli: [...]}``): the
smallest ``(2**n - 1, 2**n, 2**n + 1)`` whose range covers the worst-case accumulator of
every layer for *any* weights of this quantizer, so the residue sparsity the regularizer
trains for is exactly the one the RNS kernels skip.  The digits pixels are ``k/16`` in
``[0, 1]``, so the input is typed ``ap_ufixed<5,1>`` (exact for every pixel; other inputs
saturate and round as the reference models).
"""
from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a fresh clone without installing

import numpy as np  # noqa: E402

SEED = 0
HIDDEN = (32, 32)
POT_BITS, POT_MAX_EXP = 4, 0
RELU = (6, 2)  # quantized_relu(6, 2): ap_ufixed<6,2> activations
INPUT_TYPE = ("ap_ufixed<5,1>", 31)  # every digits pixel k/16 exactly; largest code 31
STRENGTH = 3e-5  # residue regularizer lambda (the sin^2 penalty of docs/arithmetic.md)
EPOCHS, BATCH, LR = 40, 64, 3e-3


def worst_case_moduli() -> tuple[int, ...]:
    """The RNS family member covering every layer's accumulator for any 4-bit PoT weights."""
    from toolchain.arith import pot, rns

    e_min, e_max = pot.exponent_range(POT_BITS, POT_MAX_EXP)
    w_max = 2 ** (e_max - e_min)  # largest |weight code|
    relu_max = 2 ** RELU[0] - 1
    widths = (64,) + HIDDEN
    x_max = (INPUT_TYPE[1],) + (relu_max,) * len(HIDDEN)
    bound = max(n_in * w_max * xm for n_in, xm in zip(widths, x_max))
    return rns.select_moduli(bound)


def build(moduli, strength: float):
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    import toolchain.quant as tq

    tf.keras.utils.set_random_seed(SEED)
    inp = tf.keras.Input((64,), name="pixels")
    h = inp
    for i, units in enumerate(HIDDEN + (10,)):
        q = tq.quantized_pot(POT_BITS, POT_MAX_EXP)
        reg = tq.ResidueRegularizer(moduli, strength, q) if strength else None
        h = QDense(units, kernel_quantizer=q, bias_quantizer=quantized_bits(8, 3, alpha=1), kernel_regularizer=reg,
                   name="out" if units == 10 and i == len(HIDDEN) else f"d{i}")(h)
        if i < len(HIDDEN):
            h = QActivation(quantized_relu(*RELU), name=f"a{i}")(h)
    model = tf.keras.Model(inp, h)  # logits out (the projects output logits too)
    model.compile(tf.keras.optimizers.Adam(LR), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


APPROX_LADDER = ("exact", "roup(1,2)", "roup(2,3)", "roup(3,4)")  # least to most aggressive
APPROX_FRACTIONS = (0.5, 1.0)


def approx_step(model, out: Path, board, x_te, y_te) -> int:
    """4. Approximate multipliers (MAx-DNN): a small ``arith4ml explore`` of ROUP assignments at layer, filter and
    kernel granularity on the same model (8-bit grids from a calibration split), the best point within 2 points
    converted by the Approx backend with its best.yml, C-simulated bit for bit against the reference.  Returns 1 on
    a mismatch."""
    from toolchain import estimate, project, reference
    from toolchain.csim import keras_logits
    from toolchain.explore import explore
    from toolchain.explore_config import load_config

    t0 = time.time()
    work = out / "approx"
    work.mkdir(parents=True, exist_ok=True)
    model.save(work / "model.h5")
    (work / "explore.yml").write_text(
        "model: model.h5\ndata: digits\ncalibration: 200\ngranularities: [layer, filter, kernel]\n"
        f"multipliers: [{', '.join(repr(m) for m in APPROX_LADDER)}]\nfractions: {list(APPROX_FRACTIONS)}\n"
        "budget: 2.0\nseed: 0\n")
    summary = explore(load_config(work / "explore.yml"), work / "explore", quiet=True)
    best = summary["best"]
    print(f"\n4. approximate multipliers: arith4ml explore, {summary['points']} points (ladder "
          f"{', '.join(APPROX_LADDER)}) in {summary['seconds']:.0f} s; 8-bit baseline accuracy "
          f"{100 * summary['baseline_accuracy']:.2f} %")
    for g, row in summary["best_by_granularity"].items():
        print(f"   best {g:6s} point within 2 points: multiplier-energy saving {100 * float(row['saving']):5.1f} %, "
              f"accuracy loss {float(row['loss_points']):.2f} points")
    print(f"   Pareto plot {work / 'explore' / 'pareto.png'}; chosen: {best['granularity']} point {best['id']} "
          f"-> {work / 'explore' / 'best.yml'}")
    approx_model = project.load_keras_model(work / "explore" / "approx_model.h5")
    user = project.read_user_config(work / "explore" / "best.yml", "approx")
    hm, _ = project.convert(approx_model, "approx", out / "approx_hls", board.part, board.clock_period_ns,
                            user_config=user, force=True)
    y_c, y_r = hm.predict(x_te), reference.predict(hm, x_te)
    y_k = np.asarray(keras_logits(approx_model).predict(x_te, verbose=0), dtype=np.float64)
    exact = int(np.sum(y_c == y_r))
    en = estimate.energy_estimate(hm)
    agree = np.mean(np.argmax(y_c, 1) == np.argmax(y_k, 1))
    print(f"   Approx backend project {out / 'approx_hls'}: C-sim vs reference {exact}/{y_c.size} outputs bit-exact; "
          f"C-sim accuracy {np.mean(np.argmax(y_c, 1) == y_te):.4f}")
    print(f"   vs the Keras approx model: argmax agreement {100 * agree:.1f}%, {int(np.sum(y_c == y_k))}/{y_c.size} "
          f"outputs equal its float32 logits (max |diff| {np.max(np.abs(y_c - y_k)):.2g}: Keras adds the bias in "
          "float32)")
    print(f"   estimated multiplier energy saving {100 * en.multiplier_saving:.1f} % (45 nm cost table; the zero and "
          f"perforated weights generate no term) [{time.time() - t0:.0f} s]")
    if exact != y_c.size:
        print(f"   MISMATCH: {y_c.size - exact} outputs differ from the reference")
        return 1
    return 0


def board_step(model, out: Path, user_config: dict) -> None:
    """5. Board projects: the Bitshift project's board shell for the PYNQ-Z2 (Zynq: HLS IP with AXI4-Stream ports,
    block design, PYNQ driver) and the same model converted for the Arty A7-35T (Artix: our UART Verilog top, XDC,
    serial driver); every generated Tcl script checked under tclsh with the vendor commands recorded, not run."""
    import tempfile

    from toolchain import estimate, project
    from toolchain.boards import load_board
    from toolchain.shell import dryrun, write_shell

    print("\n5. board projects (Vivado is not installed here: scripts checked under tclsh, no bitstream built)")
    for name, prj in (("pynq-z2", out / "bitshift"), ("arty-a7-35t", out / "bitshift_arty")):
        board = load_board(name)
        if not prj.exists() or project.recorded_board(prj) != name:
            # the Arty's XC7A35T is smaller than the PYNQ-Z2's part: ReuseFactors chosen to fit it (convert --fit)
            hm = project.build_model(model, "bitshift", board.part, board.clock_period_ns, user_config=user_config)
            fitted = estimate.fit_reuse_factors(hm, board)
            layers = {**user_config.get("LayerName", {})}
            for layer, entry in fitted.config_entries().items():
                layers[layer] = {**layers.get(layer, {}), **entry}
            project.convert(model, "bitshift", prj, board.part, board.clock_period_ns,
                            user_config={**user_config, "LayerName": layers}, force=True, compile=False, board=name,
                            fit=fitted.as_dict())
            print(f"   {name}: converted with ReuseFactors fitted to {board.part} (estimate "
                  f"{'fits' if fitted.fits else 'does not fit'} {fitted.target:.0%} of the part)")
        shell = write_shell(prj, board)
        with tempfile.TemporaryDirectory(prefix="arith4ml-dryrun-") as work:
            calls = dryrun.check_shell(shell, work)
        print(f"   {name} ({board.family}, {board.part}): {shell.directory} (driver {shell.driver.name})")
        for script, recorded in calls.items():
            print(f"     {script}: {dryrun.summary(recorded)}")
        print(f"     build it where Vivado is installed: arith4ml build {prj} --board {name} --bitstream")


def rtl_step(out: Path) -> int:
    """Step 6: Verilog of the Bitshift project's output layer with its constant PoT weights, simulated against the
    reference under Icarus and costed by yosys (what 'arith4ml rtl-cost PROJECT' does for every layer)."""
    import shutil

    from toolchain import project
    from toolchain.rtl import cost
    from toolchain.rtl_cost import check_layer, planned_layers

    print("\n6. RTL of the bitshift output layer (Icarus simulation, yosys xc7 counts; not Vivado, not energy)")
    missing = [t for t in ("iverilog", "yosys") if shutil.which(t) is None]
    if missing:
        print(f"   skipped: {', '.join(missing)} not installed (make tools)")
        return 0
    hm, _ = project.reopen(out / "bitshift", compile=False)
    name, _, plan = planned_layers(hm)[-1]
    unit = plan.kernel.rtl_layer(plan, f"{name}_dot")
    check = check_layer(unit, plan, 200)
    cells = cost(unit, dsp=False)
    print(f"   {name}: {plan.n_in}x{plan.n_out}, {plan.generated_terms} non-zero PoT weights -> adder trees of "
          f"+-(x << e) terms: {cells.lut} LUT, {cells.carry4} CARRY4 (yosys -nodsp); RTL vs reference: {check}")
    print(f"   every layer, with Verilog and JSON: arith4ml rtl-cost {out / 'bitshift'}")
    return 0 if check.endswith("equal") else 1


def main() -> int:
    import toolchain.quant as tq
    from toolchain import data, project, reference
    from toolchain.boards import load_board
    from toolchain.report import format_table, layer_rows

    t_start = time.time()
    out = Path("out/demo")
    ds = data.load_digits(seed=SEED)
    x_te, y_te = ds.x_test, ds.y_test
    moduli = worst_case_moduli()

    print(f"1. training 64-{'-'.join(map(str, HIDDEN))}-10 MLPs with 4-bit power-of-two weights (quantized_pot) on "
          f"digits ({len(ds.x_train)} train / {len(x_te)} test), {EPOCHS} epochs each")
    print(f"   RNS moduli {moduli}: the smallest (2^n-1, 2^n, 2^n+1) covering every layer's worst-case accumulator")
    results = {}
    for label, strength in (("without regularizer", 0.0), (f"ResidueRegularizer({moduli}, {STRENGTH:g})", STRENGTH)):
        t0 = time.time()
        model = build(moduli, strength)
        model.fit(ds.x_train, ds.y_train, epochs=EPOCHS, batch_size=BATCH, verbose=0)
        acc = float(np.mean(np.argmax(model.predict(x_te, verbose=0), 1) == y_te))
        rs = tq.residue_sparsity(model, moduli)
        ws = tq.weight_sparsity(model)
        results[label] = (model, acc, rs)
        per = " ".join(f"{m}:{rs['per_modulus'][str(m)]:.3f}" for m in moduli)
        print(f"   {label:40s} Keras test accuracy {acc:.4f}; zero weights {ws['sparsity']:.3f}; "
              f"residue sparsity {rs['total']:.3f} ({per}) [{time.time() - t0:.0f} s]")
    (_, acc0, rs0), (model, acc, rs) = results.values()
    ratio = rs["total"] / rs0["total"] if rs0["total"] else float("inf")
    print(f"   regularizer: {ratio:.1f}x the zero residues, accuracy {100 * (acc - acc0):+.2f} points "
          f"(1 point = {len(x_te) / 100:.1f} test images)")

    board = load_board("pynq-z2")
    user_config = {"LayerName": {"pixels": {"Precision": {"result": INPUT_TYPE[0]}}}, "Model": {"Moduli": list(moduli)}}
    status = 0
    for step, backend in enumerate(("bitshift", "rns"), 2):
        t0 = time.time()
        hm, _ = project.convert(model, backend, out / backend, board.part, board.clock_period_ns,
                                user_config=user_config, force=True, board=board.name)
        t_build = time.time() - t0
        y_c = hm.predict(x_te)
        y_r = reference.predict(hm, x_te)
        y_k = np.asarray(model.predict(x_te, verbose=0))
        exact = int(np.sum(y_c == y_r))
        print(f"\n{step}. {backend}: project {out / backend} for {board.name} ({board.part}), "
              f"written + compiled in {t_build:.1f} s")
        print(f"   C-sim vs toolchain.reference.predict: {exact}/{y_c.size} outputs bit-exact "
              f"(max |diff| {np.max(np.abs(y_c - y_r)):g}); C-sim accuracy {np.mean(np.argmax(y_c, 1) == y_te):.4f}; "
              f"argmax agreement with Keras {100 * np.mean(np.argmax(y_c, 1) == np.argmax(y_k, 1)):.1f}%")
        rows = layer_rows(hm)
        print("   " + format_table(rows).replace("\n", "\n   "))
        if backend == "rns":  # the residues the kernels skip are the ones the regularizer trained for
            same = all(r["residue_sparsity"][str(m)] == rs["layers"][r["layer"]]["per_modulus"][str(m)]
                       for r in rows for m in moduli)
            print(f"   per-layer residue sparsity equals the training side's (toolchain.quant.residue_sparsity): "
                  f"{'yes' if same else 'no (the backend chose a different weight code scale)'}")
        if exact != y_c.size:
            print(f"   MISMATCH: {y_c.size - exact} outputs differ from the reference")
            status = 1
    status = max(status, approx_step(model, out, board, x_te, y_te))
    board_step(model, out, user_config)
    status = max(status, rtl_step(out))
    print("\nVivado/Vitis HLS are not installed here and were not run: no bitstream was built. The projects above "
          "build with `arith4ml build PROJECT --board BOARD --bitstream` on a machine that has them.")
    print(f"demo {'passed' if status == 0 else 'FAILED'} in {time.time() - t_start:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
