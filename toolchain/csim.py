"""``arith4ml csim``: compile a project, C-simulate a batch, compare with the reference and Keras."""
from __future__ import annotations

import argparse
import io
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np

from toolchain import project, reference
from toolchain.arith.checks import first_index
from toolchain.errors import DataError, ToolMissingError, UnsupportedError
from toolchain.files import read_input_bytes


def load_inputs(path: str | None, shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """Inputs from .npy / .npz (x_test or the first array), else raw normal floats of the model's shape.

    Raises DataError naming the file for a missing or unreadable file, samples
    of the wrong shape, a non-numeric dtype, or a NaN/inf value.
    """
    if n < 1:
        raise DataError(f"-n {n}: the number of samples must be at least 1")
    if path is None:
        return np.random.default_rng(seed).normal(0, 2.0, (n, *shape)).astype(np.float32)
    p = Path(path)
    raw = read_input_bytes(p, "data file", DataError)
    try:
        data = np.load(io.BytesIO(raw), allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                if not data.files:
                    raise DataError(f"data file '{p}' holds no arrays")
                key = "x_test" if "x_test" in data.files else data.files[0]
                data = data[key]
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "pickle" in reason:  # np.load's guess for anything without a NumPy header
            reason = "no NumPy header (save inputs with numpy.save or numpy.savez)"
        raise DataError(f"data file '{p}' cannot be read as .npy/.npz: {reason}") from None
    x = np.asarray(data)
    if x.ndim == 0 or len(x) == 0:
        raise DataError(f"data file '{p}' holds no samples (array of shape {x.shape})")
    x = x[:n]
    if x.dtype.kind not in "fiu":
        raise DataError(f"data file '{p}': dtype {x.dtype} is not numeric")
    if int(np.prod(x.shape[1:])) != int(np.prod(shape)):
        raise DataError(f"data file '{p}': samples of shape {x.shape[1:]} do not fit the model input {shape}")
    bad = ~np.isfinite(x.reshape(len(x), -1))
    first = first_index(bad)
    if first is not None:
        s, i = first
        raise DataError(f"data file '{p}': sample {s} value {i} is {x.reshape(len(x), -1)[s, i]} "
                        f"({int(bad.sum())} non-finite values); only finite inputs can be simulated")
    return x.reshape(len(x), *shape)


def keras_logits(model):
    """The Keras model without its final softmax, which the backends remove (``Softmax: logits``)."""
    import tensorflow as tf

    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    if getattr(activation, "__name__", "") != "softmax" and type(last).__name__ != "Softmax":
        return model
    if type(last).__name__ in ("Activation", "Softmax", "QActivation"):
        return tf.keras.Model(model.inputs, last.input)
    # softmax fused into the last Dense/Conv: a copy of it with a linear activation
    config = last.get_config()
    config["activation"] = "linear"
    twin = type(last).from_config(config)
    out = twin(last.input)
    twin.set_weights(last.get_weights())
    return tf.keras.Model(model.inputs, out)


def compare(hm, model, x: np.ndarray, threads: int | None = None) -> dict:
    """C-sim against the reference (bit for bit) and against Keras (exact fraction, max |diff|, argmax)."""
    y_c = hm.predict(x, threads=threads)
    y_r = reference.predict(hm, x, threads=threads)
    y_k = np.asarray(keras_logits(model).predict(x, verbose=0), dtype=np.float64).reshape(len(x), -1)
    return {"samples": int(len(x)), "outputs": int(y_c.size), "exact": int(np.sum(y_c == y_r)),
            "exact_fraction": float(np.mean(y_c == y_r)), "max_abs_diff_reference": float(np.max(np.abs(y_c - y_r))),
            "keras_exact": int(np.sum(y_c == y_k)), "keras_exact_fraction": float(np.mean(y_c == y_k)),
            "max_abs_diff_keras": float(np.max(np.abs(y_c - y_k))),
            "argmax_agreement_keras": float(np.mean(np.argmax(y_c, 1) == np.argmax(y_k, 1)))}


def _hls_counterpart(keras_layer, names: set[str]) -> str | None:
    """The hls4ml node that holds a Keras layer's output: its activation (``NAME_ACT``), else its alpha
    scale (``NAME_alpha``), else the node itself; None if hls4ml folded the layer away."""
    activation = (keras_layer.get_config() or {}).get("activation")
    candidates = ([f"{keras_layer.name}_{activation}"] if isinstance(activation, str) else []) + [
        f"{keras_layer.name}_alpha", keras_layer.name]
    return next((name for name in candidates if name in names), None)


def first_divergence(hm, model, x: np.ndarray, threads: int | None = None) -> tuple[str, int, int] | None:
    """The first layer, in graph order, whose exact output differs from Keras' (as hls4ml's ``trace``
    compares per layer): (layer, values that differ, values), or None if every compared layer agrees."""
    import tensorflow as tf

    traced = reference.trace(hm, x, threads=threads)
    order = [n for node in hm.get_layers() for n in node.outputs]
    pairs = []
    for layer in model.layers[1:]:  # not the input: Keras keeps it raw, the project rounds it to its type
        name = _hls_counterpart(layer, set(traced))
        if name is not None and int(np.prod(layer.output.shape[1:])) == traced[name].shape[1]:
            pairs.append((order.index(name), name, layer))
    if not pairs:
        return None
    pairs.sort(key=lambda p: p[0])
    probe = tf.keras.Model(model.inputs, [layer.output for _, _, layer in pairs])
    outputs = probe.predict(x, verbose=0, batch_size=1024)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    for (_, name, _), y_k in zip(pairs, outputs):
        diff = int(np.sum(np.asarray(y_k, dtype=np.float64).reshape(len(x), -1) != traced[name]))
        if diff:
            return name, diff, traced[name].size
    return None


MAX_SAMPLES = 10_000_000


def sample_count(text: str) -> int:
    """``-n``: an integer in 1..MAX_SAMPLES (argparse turns the refusal into one line, exit code 2)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of samples") from None
    if not 1 <= n <= MAX_SAMPLES:
        raise argparse.ArgumentTypeError(f"the number of samples must be in 1..{MAX_SAMPLES:_}, got {n}")
    return n


def thread_count(text: str) -> int:
    """``--threads``: an integer in 1..1024."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 1024:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of threads in 1..1024")
    return int(text)


NOTE_WORDS = ("quantized", "narrower", "rounded")  # plan notes that say the model computes other values


def conversion_notes(hm, model, x: np.ndarray) -> list[str]:
    """How the converted model differs from the Keras one, beyond the input's rounding: a removed softmax,
    weights quantized to a fallback type, narrower or capped types, inputs outside the input type."""
    from toolchain.backends.hls_types import to_fixed

    notes = []
    inputs = [n for n in hm.get_layers() if n.class_name == "Input"]
    quantized_input = bool(inputs) and inputs[0].get_attr("arith_input_quantizer") is not None
    if not quantized_input:
        t = to_fixed(hm.get_input_variables()[0].type.precision, "input")
        notes.append(f"the model has no input quantizer: raw inputs are rounded to the Input's type {t}, so outputs "
                     "can differ from Keras by that rounding (start the model with QActivation(quantized_bits(...)), "
                     "or set the Input's Precision)")
    notes += [f"layer {n.name}: {n.get_attr('arith_inexact')} is approximated (AllowInexact): exactness vs Keras is "
              "not promised" for n in hm.get_layers() if n.get_attr("arith_inexact")]
    if keras_logits(model) is not model:
        notes.append("the final softmax was removed (Skip: true): the outputs are logits, compared with Keras' logits")
    for layer in hm.get_layers():
        plan = layer.get_attr("arith_plan")
        notes += [f"layer {layer.name}: {n}" for n in (plan.notes if plan else []) if any(w in n for w in NOTE_WORDS)]
    t = to_fixed(hm.get_input_variables()[0].type.precision, "input")
    scaled = np.ldexp(np.asarray(x, dtype=np.float64).reshape(len(x), -1), t.frac)
    outside = int(np.sum((scaled < t.min_code - 0.5) | (scaled > t.max_code + 0.5)))
    if outside and not quantized_input:  # with an input quantizer, Keras saturates them the same way
        how = "wrapped around" if t.overflow == "AP_WRAP" else "saturated"
        notes.append(f"{outside} of {scaled.size} input values lie outside the input type {t} and were {how}")
    return notes


def add_parser(sub) -> None:
    p = sub.add_parser("csim", help="C-simulate a project (g++) and check it bit for bit against the reference",
                       description="Compile a project with g++, C-simulate a batch of inputs, and compare the "
                                   "outputs with the integer reference (bit for bit) and with Keras.")
    p.add_argument("project", help="project directory written by 'arith4ml convert'")
    p.add_argument("--data", help=".npy or .npz (x_test) inputs; default: the test split 'arith4ml train' saved "
                                  "with the model, else raw normal floats (sigma 2)")
    p.add_argument("-n", type=sample_count, default=1000, metavar="N",
                   help=f"number of samples, 1..{MAX_SAMPLES:_} (default 1000)")
    p.add_argument("--exact-keras", action="store_true",
                   help="also require every output to equal Keras' bit for bit (exit 1 otherwise)")
    p.add_argument("--synthesis-path", action="store_true",
                   help="compile the branches Vitis HLS synthesises (ap types all the way, no C-sim shortcuts; "
                        "slower) instead of the C-sim fast path")
    p.add_argument("--threads", type=thread_count, metavar="T",
                   help="native threads for the batch (default: ARITH4ML_THREADS, else every core)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # check the inputs before the (slow) g++ compilation
    hm, model = project.reopen(args.project, compile=False)
    if len(hm.get_input_variables()) != 1 or len(hm.get_output_variables()) != 1:
        raise UnsupportedError(f"project '{args.project}' has {len(hm.get_input_variables())} inputs and "
                               f"{len(hm.get_output_variables())} outputs; arith4ml csim and the reference handle "
                               "single-input, single-output models")
    data, source = args.data, args.data
    saved = Path(args.project) / project.TEST_DATA
    if data is None and saved.is_file():
        data, source = saved, "the test split 'arith4ml train' saved (kept in the project)"
    # the Keras model's input dtype (float32): Keras converts to it anyway, so C-sim, reference and Keras
    # all see the same numbers
    x = load_inputs(data, tuple(model.input_shape[1:]), args.n).astype(model.inputs[0].dtype.as_numpy_dtype)
    if shutil.which("g++") is None:
        raise ToolMissingError("g++ is not on PATH; C-simulation compiles the project with it")
    edited = project.edited_files(args.project)
    if edited:
        print(f"note: {', '.join(edited[:3])}{' and more' if len(edited) > 3 else ''} changed since 'arith4ml "
              "convert' wrote the project: C-simulating it as it is now (the reference is the converted model)")
    csim_path = "synthesis" if args.synthesis_path else "fast"
    built = project.compile_project(hm, args.project, csim_path=csim_path)
    print(f"C-sim library ({csim_path} path) {'built' if built else 'up to date'}; {len(x)} samples from "
          f"{source or 'raw normal floats (sigma 2): pass --data for your own inputs'}")
    s = compare(hm, model, x, threads=args.threads)
    print(f"{s['samples']} samples, {s['outputs']} outputs: {s['exact']} bit-exact vs reference "
          f"({100 * s['exact_fraction']:.2f}%), max |diff| {s['max_abs_diff_reference']:g}")
    print(f"vs Keras: {s['keras_exact']} of {s['outputs']} outputs equal ({100 * s['keras_exact_fraction']:.2f}%), "
          f"max |diff| {s['max_abs_diff_keras']:.4g}, argmax agreement {100 * s['argmax_agreement_keras']:.1f}%")
    if s["keras_exact"] != s["outputs"]:
        where = first_divergence(hm, model, x, threads=args.threads)
        print(f"first layer that differs from Keras: {where[0]} ({where[1]} of {where[2]} values)" if where else
              "every compared layer equals Keras; the outputs differ after the last one compared")
    for note in conversion_notes(hm, model, x):  # how the converted model is not the Keras model
        print(f"note: {note}")
    if s["exact"] != s["outputs"]:
        return 1
    return 1 if args.exact_keras and s["keras_exact"] != s["outputs"] else 0

