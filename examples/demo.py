"""arith4ml demo (``make demo``): digits -> PoT MLP -> Bitshift and RNS C++ -> bit-exact C-sim -> report.

Runs on the scikit-learn digits data bundled with scikit-learn (no download),
in a couple of minutes on 2 cores.  Writes projects under ``out/demo/``.
"""
from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402


def main() -> int:
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_po2, quantized_relu
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from toolchain import project
    from toolchain.boards import load_board
    from toolchain.csim import compare
    from toolchain.report import format_table, layer_rows

    out = Path("out/demo")
    tf.keras.utils.set_random_seed(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    x_tr, x_te, y_tr, y_te = train_test_split(x, digits.target, test_size=0.3, random_state=0, stratify=digits.target)

    print("1. training a power-of-two (4-bit po2) 64-32-32-10 MLP on digits ...")
    inp = tf.keras.Input((64,))
    h = inp
    for i, width in enumerate((32, 32)):
        h = QDense(width, kernel_quantizer=quantized_po2(4, max_value=1), bias_quantizer=quantized_bits(8, 3, alpha=1),
                   name=f"d{i}")(h)
        h = QActivation(quantized_relu(6, 2), name=f"a{i}")(h)
    logits = QDense(10, kernel_quantizer=quantized_po2(4, max_value=1), bias_quantizer=quantized_bits(8, 3, alpha=1),
                    name="out")(h)
    model = tf.keras.Model(inp, logits)
    model.compile(tf.keras.optimizers.Adam(3e-3), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x_tr, y_tr, epochs=40, batch_size=64, verbose=0)
    acc = model.evaluate(x_te, y_te, verbose=0)[1]
    print(f"   Keras test accuracy {acc:.3f}")

    board = load_board("pynq-z2")
    status = 0
    for backend in ("bitshift", "rns"):
        t0 = time.time()
        hm, _ = project.convert(model, backend, out / backend, board.part, board.clock_period_ns, force=True)
        t_build = time.time() - t0
        s = compare(hm, model, x_te)
        csim_acc = float(np.mean(np.argmax(hm.predict(x_te), 1) == y_te))
        print(f"\n2. {backend}: project {out / backend} for {board.name} ({board.part}), written + compiled in {t_build:.1f}s")
        print(f"   C-sim vs reference: {s['exact']}/{s['outputs']} outputs bit-exact; "
              f"C-sim accuracy {csim_acc:.3f}; argmax agreement with Keras {100 * s['argmax_agreement_keras']:.1f}%")
        print("   " + format_table(layer_rows(hm)).replace("\n", "\n   "))
        status |= int(s["exact"] != s["outputs"])
    print("\nVivado/Vitis HLS are not run here: the projects above are ready for `vitis_hls -f build_prj.tcl` "
          "on a machine that has them.")
    return status


if __name__ == "__main__":
    sys.exit(main())
