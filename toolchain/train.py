"""``arith4ml train CONFIG.yml``: train a model described by a YAML file.

The YAML (read with ``yaml.safe_load`` only; every key is checked and an
unknown one is reported with file and line) has these sections::

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

Writes ``model.h5``, ``metrics.json`` and ``training.png`` into the output
directory.  Everything is first written to a temporary sibling directory
that is renamed into place at the end, so a failure leaves no half-written
output; an existing output directory is replaced only if this command wrote
it (it holds nothing but ``model.h5``, ``metrics.json``, ``training.png``),
anything else is refused.  Bad input raises :class:`~toolchain.errors.ConfigError` /
:class:`~toolchain.errors.DataError` (one line, exit code 2).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from toolchain.errors import Arith4mlError, ConfigError, DataError

ANY = object()
QUANT_SPEC = "quantizer"  # marker: validated as a quantizer spec
SCHEMA: dict = {
    "seed": int,
    "output": str,
    "data": {"name": str, "view": str, "path": str, "seed": int, "test_fraction": float, "n_train": int,
             "n_test": int, "n_features": int, "n_classes": int, "noise": float,
             "subset": {"n_train": int, "n_test": int}},
    "model": {"builder": str, "hidden": list, "filters": list, "dense": int, "quantizer": QUANT_SPEC,
              "layers": "layers"},
    "train": {"epochs": int, "batch_size": int, "learning_rate": float, "optimizer": str, "verbose": int},
    "regularizer": {"type": str, "moduli": "moduli", "strength": float, "variant": str, "mode": str,
                    "epochs": int, "learning_rate": float},
    "pruning": {"target_sparsity": float, "begin_epoch": int, "end_epoch": int, "power": float},
    "essop": {"stream_length": int, "lr_shift": int, "seed_x": int, "seed_d": int, "mode": str},
    "metrics": {"moduli": "moduli"},
}
OPTIMIZERS = ("adam", "sgd")


# --------------------------------------------------------------------------- config loading

class Config:
    """A parsed YAML config with the line of every key and list item (for error messages)."""

    def __init__(self, path: str, data: dict, lines: dict):
        self.path = path
        self.data = data
        self.lines = lines

    def where(self, *keypath) -> str:
        """``file:line`` of the deepest known prefix of ``keypath``."""
        kp = tuple(keypath)
        while kp and kp not in self.lines:
            kp = kp[:-1]
        line = self.lines.get(kp, 1)
        return f"{self.path}:{line}"

    def error(self, keypath, msg: str) -> ConfigError:
        dotted = ".".join(str(k) for k in keypath)
        return ConfigError(f"{self.where(*keypath)}: {dotted}: {msg}")

    def get(self, *keypath, default=None):
        d: Any = self.data
        for k in keypath:
            if not isinstance(d, dict) or k not in d:
                return default
            d = d[k]
        return d


def _line_map(node, path=(), out=None) -> dict:
    import yaml

    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
            out[path + (key,)] = k.start_mark.line + 1
            _line_map(v, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out[path + (i,)] = v.start_mark.line + 1
            _line_map(v, path + (i,), out)
    return out


def load_config(path: str | os.PathLike) -> Config:
    """Read and validate a train config (``yaml.safe_load``); raises ConfigError naming file, line and key."""
    import yaml

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path!r} does not exist")
    text = Path(path).read_text()
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{line}: not valid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the config must be a mapping of sections (data, model, train, ...)")
    cfg = Config(path, data, _line_map(node))
    _validate(cfg, data, SCHEMA, ())
    return cfg


def _type_ok(value, t) -> bool:
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if t is str:
        return isinstance(value, str)
    if t is list:
        return isinstance(value, list)
    return True


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", list: "a list"}
_QUANT_PARAM_TYPES = {"bits": int, "max_exp": int, "N": int, "k": int, "integer": int, "zero_margin": float,
                      "threshold": float, "max_value": float, "per_channel": bool}


def _validate(cfg: Config, data: dict, schema: dict, path: tuple) -> None:
    for key, value in data.items():
        kp = path + (key,)
        where = "the top level" if not path else "'" + ".".join(map(str, path)) + "'"
        if key not in schema:
            raise ConfigError(f"{cfg.where(*kp)}: unknown key {key!r} in {where} "
                              f"(known: {', '.join(schema)})")
        t = schema[key]
        if isinstance(t, dict):
            if not isinstance(value, dict):
                raise cfg.error(kp, f"must be a mapping with keys {', '.join(t)}")
            _validate(cfg, value, t, kp)
        elif t == QUANT_SPEC:
            _validate_quantizer(cfg, value, kp)
        elif t == "layers":
            if not isinstance(value, dict):
                raise cfg.error(kp, "must map layer names to quantizer specs")
            for lname, spec in value.items():
                _validate_quantizer(cfg, spec, kp + (lname,))
        elif t == "moduli":
            if not isinstance(value, list) or len(value) < 2:
                raise cfg.error(kp, f"must be a list of at least two integers, got {value!r}")
            for i, m in enumerate(value):
                if not _type_ok(m, int):
                    raise cfg.error(kp + (i,), f"modulus {m!r} is not an integer")
            from toolchain.arith import rns

            try:
                rns.validate_moduli(value)
            except Arith4mlError as exc:
                raise cfg.error(kp, str(exc)) from None
        elif not _type_ok(value, t):
            raise cfg.error(kp, f"must be {_TYPE_NAMES[t]}, got {value!r}")


def _validate_quantizer(cfg: Config, spec, kp: tuple) -> None:
    from toolchain.models import _PARAMS, QUANTIZER_NAMES

    if spec is None:
        return
    if isinstance(spec, str):
        spec = {"name": spec}
        name_kp = kp
    else:
        name_kp = kp + ("name",)
    if not isinstance(spec, dict):
        raise cfg.error(kp, f"quantizer must be a name or a mapping with 'name', got {spec!r}")
    name = spec.get("name")
    if name not in QUANTIZER_NAMES:
        raise cfg.error(name_kp, f"unknown quantizer {name!r} (known: {', '.join(QUANTIZER_NAMES)})")
    for k, v in spec.items():
        if k != "name" and k not in _PARAMS[name]:
            raise ConfigError(f"{cfg.where(*kp, k)}: unknown key {k!r} in quantizer {name!r} at "
                              f"'{'.'.join(map(str, kp))}' (known: {', '.join(('name',) + _PARAMS[name])})")
        t = _QUANT_PARAM_TYPES.get(k)
        if t is bool and not isinstance(v, bool):
            raise cfg.error(kp + (k,), f"must be true or false, got {v!r}")
        if t in (int, float) and not (v is None and k == "max_value") and not _type_ok(v, t):
            raise cfg.error(kp + (k,), f"quantizer {name!r} parameter must be {_TYPE_NAMES[t]}, got {v!r}")


# --------------------------------------------------------------------------- training

def _load_data(cfg: Config):
    from toolchain import data as D

    d = dict(cfg.get("data", default={}) or {})
    name = d.pop("name", "digits")
    subset = d.pop("subset", None)
    builder = cfg.get("model", "builder", default="mlp")
    d.setdefault("view", "image" if builder in ("cnn", "resnet8") else "flat")
    try:
        if name == "digits":
            allowed = {"view", "seed", "test_fraction"}
        elif name == "synthetic":
            allowed = {"view", "seed", "n_train", "n_test", "n_features", "n_classes", "noise"}
        elif name == "npz":
            allowed = {"view", "path"}
            if "path" not in d:
                raise cfg.error(("data",), "data 'npz' needs a path")
            p = d["path"]
            if not os.path.isabs(p):  # relative to the config file
                cand = os.path.join(os.path.dirname(os.path.abspath(cfg.path)), p)
                d["path"] = cand if os.path.exists(cand) else p
        else:
            raise cfg.error(("data", "name"), f"unknown data set {name!r} (known: digits, synthetic, npz)")
        for k in d:
            if k not in allowed:
                raise cfg.error(("data", k), f"not an option of data set {name!r} (options: {', '.join(sorted(allowed))})")
        ds = D.load(name, **d)
    except DataError as exc:
        raise DataError(f"{cfg.where('data')}: {exc}") from None
    if subset:
        ds = ds.subset(subset.get("n_train"), subset.get("n_test"))
    return ds


def _build_model(cfg: Config, ds, seed: int):
    from toolchain import models as M

    m = dict(cfg.get("model", default={}) or {})
    builder = m.pop("builder", "mlp")
    if builder not in M.BUILDERS:
        raise cfg.error(("model", "builder"), f"unknown builder {builder!r} (known: {', '.join(M.BUILDERS)})")
    quant = m.pop("quantizer", None)
    layers = m.pop("layers", None)
    if layers:
        quant = dict(layers, default=quant)
    kwargs = {}
    for k in ("hidden", "filters", "dense"):
        if k in m:
            kwargs[k] = m[k]
    if builder == "mlp" and ("filters" in kwargs or "dense" in kwargs):
        bad = "filters" if "filters" in kwargs else "dense"
        raise cfg.error(("model", bad), "is not an option of builder 'mlp' (options: hidden)")
    if builder != "mlp" and "hidden" in kwargs:
        raise cfg.error(("model", "hidden"), f"is not an option of builder {builder!r}")
    reg = cfg.get("regularizer")
    reg_kwargs = None
    if reg and reg.get("mode", "in_training") == "in_training":
        reg_kwargs = {"moduli": tuple(reg["moduli"]), "strength": reg.get("strength", 3e-5),
                      "variant": reg.get("variant", "sin2")}
    try:
        return M.build(builder, ds.input_shape, ds.n_classes, quantizer=quant, regularizer=reg_kwargs, seed=seed,
                       **kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{cfg.where('model')}: {exc}") from None


def _check_sections(cfg: Config) -> None:
    reg = cfg.get("regularizer")
    if reg is not None:
        if reg.get("type", "residue") != "residue":
            raise cfg.error(("regularizer", "type"), f"unknown regularizer {reg.get('type')!r} (known: residue)")
        if "moduli" not in reg:
            raise cfg.error(("regularizer",), "needs moduli, e.g. [7, 8, 9]")
        if reg.get("mode", "in_training") not in ("in_training", "post"):
            raise cfg.error(("regularizer", "mode"), f"must be in_training or post, got {reg.get('mode')!r}")
        from toolchain.quant.regularizer import VARIANTS

        if reg.get("variant", "sin2") not in VARIANTS:
            raise cfg.error(("regularizer", "variant"), f"unknown variant {reg.get('variant')!r} "
                                                         f"(known: {', '.join(VARIANTS)})")
        if reg.get("strength", 0) < 0:
            raise cfg.error(("regularizer", "strength"), "must be >= 0")
    opt = cfg.get("train", "optimizer", default="adam")
    if opt not in OPTIMIZERS:
        raise cfg.error(("train", "optimizer"), f"unknown optimizer {opt!r} (known: {', '.join(OPTIMIZERS)})")
    for k in ("epochs", "batch_size"):
        v = cfg.get("train", k)
        if v is not None and v < (0 if k == "epochs" else 1):
            raise cfg.error(("train", k), f"must be {'>= 0' if k == 'epochs' else '>= 1'}")
    for section in ("train", "regularizer"):
        v = cfg.get(section, "learning_rate")
        if v is not None and v <= 0:
            raise cfg.error((section, "learning_rate"), f"must be > 0, got {v}")
    v = cfg.get("regularizer", "epochs")
    if v is not None and v < 0:
        raise cfg.error(("regularizer", "epochs"), f"must be >= 0, got {v}")
    es = cfg.get("essop")
    if es is not None:
        if cfg.get("model", "builder", default="mlp") != "mlp":
            raise cfg.error(("essop",), "ESSOP training needs builder 'mlp' (Dense layers only)")
        if cfg.get("pruning") is not None or (reg and reg.get("mode", "in_training") == "in_training"):
            raise cfg.error(("essop",), "ESSOP training cannot be combined with pruning or an in-training regularizer")
        if es.get("mode", "essop") not in ("essop", "exact"):
            raise cfg.error(("essop", "mode"), f"must be essop or exact, got {es.get('mode')!r}")
        bl = es.get("stream_length", 64)
        if bl < 1 or bl & (bl - 1):
            raise cfg.error(("essop", "stream_length"), f"must be a power of two, got {bl}")
        for k in ("seed_x", "seed_d"):
            v = es.get(k)
            if v is not None and not 1 <= v < 2 ** 16:
                raise cfg.error(("essop", k), f"must be in 1..65535 (16-bit LFSR seed), got {v}")
    pr = cfg.get("pruning")
    if pr is not None:
        ts = pr.get("target_sparsity", 0.5)
        if not 0 <= ts < 1:
            raise cfg.error(("pruning", "target_sparsity"), f"must be in [0, 1), got {ts}")
        b, e = pr.get("begin_epoch", 0), pr.get("end_epoch")
        if b < 0 or (e is not None and e <= b):
            raise cfg.error(("pruning", "end_epoch" if e is not None else "begin_epoch"),
                            f"needs 0 <= begin_epoch < end_epoch (got {b}, {e})")


def train_from_config(cfg: Config, out_dir: str | os.PathLike | None = None, verbose: int = 1) -> dict:
    """Train per ``cfg``; writes model.h5, metrics.json, training.png atomically into ``out_dir``. Returns the metrics."""
    _check_sections(cfg)
    seed = cfg.get("seed", default=0)
    out = out_dir or cfg.get("output") or os.path.join("runs", Path(cfg.path).stem)
    out = Path(out)
    _check_output(out)
    ds = _load_data(cfg)  # data errors before anything is written

    import tensorflow as tf

    import toolchain.quant as tq

    tf.keras.utils.set_random_seed(seed)
    model = _build_model(cfg, ds, seed)
    kernels = tq.regularizer.quantized_kernels(model)
    pr = cfg.get("pruning")
    if pr is not None and not any(isinstance(q, tq.quantized_pot) for _, q, _ in kernels):
        raise cfg.error(("pruning",), "PoT pruning needs at least one layer with the 'pot' quantizer")
    reg = cfg.get("regularizer")
    if reg is not None and not any(q is not None and tq.code_scale(q) is not None for _, q, _ in kernels):
        raise cfg.error(("regularizer",), "the residue regularizer needs at least one layer with integer weight "
                                          "codes (quantizer 'pot' or 'bits'); this model has none")

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {str(out)!r}: {exc.strerror or exc}") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        metrics = _train(cfg, ds, model, seed, tmp, verbose)
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.rename(out, old / "x")
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    metrics["output"] = str(out)
    return metrics


OUTPUT_FILES = ("model.h5", "metrics.json", "training.png")


def _check_output(out: Path) -> None:
    """Refuse an output path that is a file, or a directory this command did not write (it would be replaced)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {str(out)!r} exists and is not a directory")
    if out.is_dir():
        try:
            names = {p.name for p in out.iterdir()}
        except OSError as exc:
            raise ConfigError(f"output directory {str(out)!r} cannot be read: {exc.strerror or exc}") from None
        if names and not (names <= set(OUTPUT_FILES) and "metrics.json" in names):
            raise ConfigError(f"output directory {str(out)!r} exists and was not written by 'arith4ml train' "
                              f"(it holds {', '.join(sorted(names)[:3])}{', ...' if len(names) > 3 else ''}); "
                              f"choose another output or remove it")


def _train(cfg: Config, ds, model, seed: int, tmp: Path, verbose: int) -> dict:
    import tensorflow as tf

    import toolchain.quant as tq

    t = dict(cfg.get("train", default={}) or {})
    epochs = t.get("epochs", 30)
    batch = t.get("batch_size", 32)
    lr = t.get("learning_rate", 3e-3)
    verbose = t.get("verbose", verbose)
    history: dict = {}
    extra: dict = {}
    t0 = time.time()
    es = cfg.get("essop")
    if es is not None:
        trainer = tq.EssopTrainer(model, stream_length=es.get("stream_length", 64), lr_shift=es.get("lr_shift", -4),
                                  seed_x=es.get("seed_x", 0xACE1), seed_d=es.get("seed_d", 0x1D0F),
                                  mode=es.get("mode", "essop"))
        history = trainer.fit(ds.x_train, ds.y_train, epochs=epochs, batch_size=batch,
                              validation_data=(ds.x_test, ds.y_test), shuffle_seed=seed, verbose=verbose)
        extra["essop"] = {"stream_length": trainer.BL, "lr_shift": trainer.lr_shift, "mode": trainer.mode}
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    else:
        opt = tf.keras.optimizers.Adam(lr) if t.get("optimizer", "adam") == "adam" else tf.keras.optimizers.SGD(lr)
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        callbacks = []
        pr = cfg.get("pruning")
        pruner = None
        if pr is not None:
            pruner = tq.PotPruning(pr.get("target_sparsity", 0.5), pr.get("begin_epoch", 0), pr.get("end_epoch"),
                                   pr.get("power", 3.0))
            callbacks.append(pruner)
        h = model.fit(ds.x_train, ds.y_train, epochs=epochs, batch_size=batch, validation_data=(ds.x_test, ds.y_test),
                      callbacks=callbacks, verbose=verbose)
        history = {k: [float(v) for v in vals] for k, vals in h.history.items()}
        if pruner is not None:
            extra["pot_pruning"] = {"target_sparsity": pruner.target, "schedule": pruner.history,
                                    "layers": tq.pot_sparsity(model)}
    reg = cfg.get("regularizer")
    if reg is not None and reg.get("mode") == "post":
        model, report = tq.optimize_residues(
            model, tuple(reg["moduli"]), ds, epochs=reg.get("epochs", 10), strength=reg.get("strength", 1e-4),
            variant=reg.get("variant", "sin2"), learning_rate=reg.get("learning_rate", 1e-3), batch_size=batch,
            verbose=verbose, seed=seed)
        report.pop("history", None)
        extra["residue_post"] = report
    train_seconds = time.time() - t0

    acc = float(model.evaluate(ds.x_test, ds.y_test, verbose=0)[1])
    train_acc = float(model.evaluate(ds.x_train, ds.y_train, verbose=0)[1])
    reg = cfg.get("regularizer") or {}
    moduli = tuple(cfg.get("metrics", "moduli", default=None) or reg.get("moduli") or (7, 8, 9))
    rs = tq.residue_sparsity(model, moduli)
    ws = tq.weight_sparsity(model)
    metrics = {
        "config": cfg.path, "seed": seed,
        "data": {"name": ds.name, "n_train": int(len(ds.x_train)), "n_test": int(len(ds.x_test)),
                 "input_shape": list(ds.input_shape), "n_classes": ds.n_classes},
        "model": {"builder": cfg.get("model", "builder", default="mlp"), "params": int(model.count_params())},
        "accuracy": acc, "train_accuracy": train_acc,
        "residue_sparsity": rs, "weight_sparsity": ws["sparsity"], "bits_per_weight": ws["bits_per_weight"],
        "layers": ws["layers"], "history": history, "train_seconds": round(train_seconds, 2),
    }
    metrics.update(extra)
    model.save(tmp / "model.h5")
    (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default) + "\n")
    plot_training(history, model, moduli, tmp / "training.png", title=Path(cfg.path).stem)
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
    for key in ("loss", "val_loss"):
        if key in history:
            axes[0].plot(range(1, len(history[key]) + 1), history[key], label=key)
    axes[0].set_xlabel("epoch")
    axes[0].set_title("loss")
    axes[0].legend(fontsize=7)
    for key in ("accuracy", "val_accuracy"):
        if key in history:
            axes[1].plot(range(1, len(history[key]) + 1), history[key], label=key)
    axes[1].set_xlabel("epoch")
    axes[1].set_title("accuracy")
    axes[1].legend(fontsize=7)
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
    p = subparsers.add_parser("train", help="train a model from a YAML config (model.h5, metrics.json, training.png)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="YAML train config (see examples/train_*.yml)")
    p.add_argument("-o", "--output", help="output directory (default: 'output' key or runs/<config name>)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)
