"""``arith4ml train CONFIG.yml``: train a model described by a YAML file.

The YAML (read with ``yaml.safe_load`` only; every key is checked and an
unknown one is reported with file and line) has these sections, whose keys,
types, defaults and ranges are defined in :mod:`toolchain.train_config`::

    seed: 0
    output: runs/pot_mlp          # or -o/--output on the command line
    data:  {name: digits, view: flat}            # digits | synthetic | npz (path:)
    model: {builder: mlp, hidden: [32, 32], quantizer: {name: pot, bits: 4},
            layers: {out: {name: bits, bits: 8}}}  # per-layer overrides
    train: {epochs: 30, batch_size: 32, learning_rate: 0.003, optimizer: adam}
    regularizer: {type: residue, moduli: [7, 8, 9], strength: 3.0e-5,
                  variant: sin2, mode: in_training}  # or mode: post (epochs:, learning_rate:)
    pruning: {target_sparsity: 0.5, begin_epoch: 0, end_epoch: 20, power: 3}
    essop: {stream_length: 64, lr_shift: -4, seed_x: 44257, seed_d: 7439, mode: essop}
    metrics: {moduli: [7, 8, 9]}

Writes ``model.h5``, ``metrics.json``, ``training.png``, the test split
(``test_data.npz``) and ``arith4ml_train.json`` (the residue moduli and the
data, which ``arith4ml convert`` and ``csim`` pick up) into the output
directory.  Everything is first written to a temporary sibling directory
that is renamed into place at the end, so a failure leaves no half-written
output; an existing output directory is replaced only if this command wrote
it and nothing else was put in or changed there (its manifest says).  Bad
input raises :class:`~toolchain.errors.ConfigError` / :class:`~toolchain.errors.DataError`
(one line, exit code 2).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from toolchain.atomic import atomic_directory, check_owned
from toolchain.errors import ConfigError, DataError
from toolchain.files import save_keras_h5
from toolchain.train_config import TrainConfig, load_config

__all__ = ["OUTPUT_FILES", "TrainConfig", "load_config", "plot_training", "train_from_config"]

TRAIN_META = "arith4ml_train.json"  # what convert and csim read next to a trained model (moduli, test split)
TEST_DATA = "test_data.npz"  # the test split (x_test, y_test) the metrics were measured on
OUTPUT_FILES = ("model.h5", "metrics.json", "training.png", TRAIN_META, TEST_DATA)
TOOL = "arith4ml train"  # the writer named in an output directory's manifest


# --------------------------------------------------------------------------- training

def _load_data(cfg: TrainConfig):
    from toolchain import data as D

    d = cfg.data
    options = d.options()
    if d.path is not None and not os.path.isabs(d.path):  # relative to the config file, if it is there
        near = os.path.join(os.path.dirname(os.path.abspath(cfg.path)), d.path)
        options["path"] = near if os.path.exists(near) else d.path
    try:
        ds = D.load(d.name, **options)
    except DataError as exc:
        raise cfg.error(("data",), str(exc), DataError) from None
    if d.subset is not None:
        ds = ds.subset(d.subset.n_train, d.subset.n_test)
    return ds


def _build_model(cfg: TrainConfig, ds, seed: int):
    from toolchain import models as M

    m, reg = cfg.model, cfg.in_training_regularizer
    reg_kwargs = None if reg is None else {"moduli": reg.moduli, "strength": reg.strength, "variant": reg.variant}
    try:
        return M.build(m.builder, ds.input_shape, ds.n_classes, quantizer=m.quantizer_spec(), regularizer=reg_kwargs,
                       seed=seed, **m.builder_options())
    except ConfigError as exc:
        raise cfg.error(("model",), str(exc)) from None


def _check_model(cfg: TrainConfig, model) -> None:
    """Pruning and the regularizer need weight layers they can act on."""
    import toolchain.quant as tq

    kernels = tq.regularizer.quantized_kernels(model)
    if cfg.pruning is not None and not any(isinstance(q, tq.quantized_pot) for _, q, _ in kernels):
        raise cfg.error(("pruning",), "PoT pruning needs at least one layer with the 'pot' quantizer")
    if cfg.regularizer is not None and not any(q is not None and tq.code_scale(q) is not None for _, q, _ in kernels):
        raise cfg.error(("regularizer",), "the residue regularizer needs at least one layer with integer weight "
                                          "codes (quantizer 'pot' or 'bits'); this model has none")


def train_from_config(cfg: TrainConfig, out_dir: str | os.PathLike | None = None, verbose: int = 1) -> dict:
    """Train per ``cfg``; write model.h5, metrics.json, training.png atomically into ``out_dir``; return the metrics."""
    out = cfg.output_dir(out_dir)
    _replaceable(out)
    ds = _load_data(cfg)  # data errors before anything is written

    import tensorflow as tf

    tf.keras.utils.set_random_seed(cfg.seed)
    model = _build_model(cfg, ds, cfg.seed)
    _check_model(cfg, model)
    with atomic_directory(out, _replaceable, "output directory", manifest=TOOL) as staging:
        metrics = _train(cfg, ds, model, staging, verbose)
    metrics["output"] = str(out)
    return metrics


def _replaceable(out: Path) -> bool:
    """Whether ``out`` may be replaced: it is absent, empty or holds only what this command wrote there,
    unchanged (its manifest says).  Raises ConfigError saying why not."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {str(out)!r} exists and is not a directory")
    if out.is_dir():
        try:
            check_owned(out, TOOL)
        except OSError as exc:
            raise ConfigError(f"output directory {str(out)!r} cannot be read: {exc.strerror or exc}") from None
    return True


def _fit_essop(cfg: TrainConfig, ds, model, verbose: int) -> tuple[dict, dict]:
    """ESSOP (or exact) outer-product updates of the Dense layers: (history, metrics extra)."""
    import toolchain.quant as tq

    es, t = cfg.essop, cfg.train
    trainer = tq.EssopTrainer(model, stream_length=es.stream_length, lr_shift=es.lr_shift, seed_x=es.seed_x,
                              seed_d=es.seed_d, mode=es.mode)
    history = trainer.fit(ds.x_train, ds.y_train, epochs=t.epochs, batch_size=t.batch_size,
                          validation_data=(ds.x_test, ds.y_test), shuffle_seed=cfg.seed, verbose=verbose)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return history, {"essop": {"stream_length": trainer.BL, "lr_shift": trainer.lr_shift, "mode": trainer.mode}}


def _fit_keras(cfg: TrainConfig, ds, model, verbose: int) -> tuple[dict, dict]:
    """Keras fit, with the PoT pruning schedule if configured: (history, metrics extra)."""
    import tensorflow as tf

    import toolchain.quant as tq

    t, pr = cfg.train, cfg.pruning
    optimizer = tf.keras.optimizers.Adam if t.optimizer == "adam" else tf.keras.optimizers.SGD
    model.compile(optimizer=optimizer(t.learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    pruner = None if pr is None else tq.PotPruning(pr.target_sparsity, pr.begin_epoch, pr.end_epoch, pr.power)
    h = model.fit(ds.x_train, ds.y_train, epochs=t.epochs, batch_size=t.batch_size,
                  validation_data=(ds.x_test, ds.y_test), callbacks=[pruner] if pruner else [], verbose=verbose)
    history = {k: [float(v) for v in vals] for k, vals in h.history.items()}
    extra = {}
    if pruner is not None:
        extra["pot_pruning"] = {"target_sparsity": pruner.target, "schedule": pruner.history,
                                "layers": tq.pot_sparsity(model)}
    return history, extra


def _train(cfg: TrainConfig, ds, model, out: Path, verbose: int) -> dict:
    """Train, evaluate, and write model.h5, metrics.json and training.png into ``out``; returns the metrics."""
    import toolchain.quant as tq

    verbose = cfg.train.verbose if cfg.train.verbose is not None else verbose
    t0 = time.time()
    history, extra = (_fit_essop if cfg.essop is not None else _fit_keras)(cfg, ds, model, verbose)
    reg = cfg.regularizer
    if reg is not None and reg.mode == "post":
        model, report = tq.optimize_residues(
            model, reg.moduli, ds, epochs=reg.epochs, strength=reg.strength, variant=reg.variant,
            learning_rate=reg.learning_rate, batch_size=cfg.train.batch_size, verbose=verbose, seed=cfg.seed)
        report.pop("history", None)
        extra["residue_post"] = report
    train_seconds = time.time() - t0

    acc = float(model.evaluate(ds.x_test, ds.y_test, verbose=0)[1])
    train_acc = float(model.evaluate(ds.x_train, ds.y_train, verbose=0)[1])
    moduli = cfg.metric_moduli
    rs = tq.residue_sparsity(model, moduli)
    ws = tq.weight_sparsity(model)
    metrics = {
        "config": cfg.path, "seed": cfg.seed,
        "data": {"name": ds.name, "n_train": int(len(ds.x_train)), "n_test": int(len(ds.x_test)),
                 "input_shape": list(ds.input_shape), "n_classes": ds.n_classes},
        "model": {"builder": cfg.model.builder, "params": int(model.count_params())},
        "accuracy": acc, "train_accuracy": train_acc,
        "residue_sparsity": rs, "weight_sparsity": ws["sparsity"], "bits_per_weight": ws["bits_per_weight"],
        "layers": ws["layers"], "history": history, "train_seconds": round(train_seconds, 2),
    }
    metrics.update(extra)
    save_keras_h5(model, out / "model.h5")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default) + "\n")
    plot_training(history, model, moduli, out / "training.png", title=Path(cfg.path).stem)
    import numpy as np

    np.savez_compressed(out / TEST_DATA, x_test=ds.x_test, y_test=ds.y_test)
    meta = {"tool": TOOL, "model": "model.h5", "test_data": TEST_DATA, "data": metrics["data"],
            "residue_moduli": list(reg.moduli) if reg is not None else None, "accuracy": acc}
    (out / TRAIN_META).write_text(json.dumps(meta, indent=1) + "\n")
    return metrics


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def plot_training(history: dict, model, moduli, path, title: str = "") -> None:
    """PNG: loss and accuracy curves, and per modulus the histogram of weight-code residues."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from toolchain.quant.regularizer import layer_codes, quantized_kernels

    codes = [c.ravel() for lyr, q, k in quantized_kernels(model) if (c := layer_codes(lyr, q, k)) is not None]
    allc = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
    n = 2 + len(moduli)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.2))
    for ax, metric in zip(axes[:2], ("loss", "accuracy")):
        for key in (metric, f"val_{metric}"):
            if key in history:
                ax.plot(range(1, len(history[key]) + 1), history[key], label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend(fontsize=7)
    for ax, m in zip(axes[2:], moduli):
        if allc.size:
            r = np.mod(allc, m)
            ax.bar(range(m), np.bincount(r, minlength=m) / allc.size, color=["C3"] + ["C0"] * (m - 1))
            ax.set_title(f"residues mod {m} (zero: {np.mean(r == 0):.2f})", fontsize=9)
        else:
            ax.set_title(f"mod {m}: no integer weight codes", fontsize=9)
        ax.set_xlabel("residue")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --------------------------------------------------------------------------- CLI

def _run(args) -> int:
    cfg = load_config(args.config)
    verbose = 0 if args.quiet else 1
    metrics = train_from_config(cfg, args.output, verbose=verbose)
    rs = metrics["residue_sparsity"]
    print(f"accuracy {metrics['accuracy']:.4f}  weight sparsity {metrics['weight_sparsity']:.3f}  "
          f"bits/weight {metrics['bits_per_weight']:.2f}  residue sparsity {rs['total']:.3f} "
          f"(moduli {tuple(rs['moduli'])})  -> {metrics['output']}/")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a (quantized) Keras model from a YAML config (model.h5, "
                                            "metrics.json, training.png)",
                              description="Train a model described by a YAML config (sections data, model, train, "
                                          "regularizer, pruning, essop, metrics; see examples/train_*.yml and "
                                          "docs/training.md) and write model.h5, metrics.json and training.png "
                                          "into the output directory.")
    p.add_argument("config", help="YAML train config (see examples/train_*.yml)")
    p.add_argument("-o", "--output", help="output directory (default: 'output' key or runs/<config name>); an "
                                          "existing one is replaced only if 'arith4ml train' wrote it")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)
