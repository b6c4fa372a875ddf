"""Convert a Keras/QKeras model with an arith4ml backend and reopen a project directory later."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import yaml

from toolchain.errors import ConfigError, DataError

BACKENDS = {"bitshift": "Bitshift", "rns": "RNS"}
IO_TYPES = ("io_parallel", "io_stream")
META = "arith4ml.json"
MODEL_FILE = "arith4ml_model.h5"


def load_keras_model(path: str | Path, allow_lambda: bool = False):
    """Load a .keras/.h5 model with the QKeras (and arith4ml) custom objects."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"model file '{path}' does not exist")
    from qkeras.utils import _add_supported_quantized_objects

    custom: dict = {}
    _add_supported_quantized_objects(custom)
    try:
        from toolchain import quant  # training-side quantizers, when present

        custom.update(getattr(quant, "CUSTOM_OBJECTS", {}))
    except ImportError:
        pass
    import tensorflow as tf

    try:
        model = tf.keras.models.load_model(path, custom_objects=custom, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types; the user needs one line
        raise DataError(f"cannot load Keras model '{path}': {str(exc).splitlines()[0][:200]}") from None
    if not allow_lambda and any(type(layer).__name__ == "Lambda" for layer in model.layers):
        raise ConfigError(f"model '{path}' has Lambda layers; pass --allow-lambda to convert it anyway")
    return model


def hls_config(model, backend: str, user_config: dict | None = None) -> dict:
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    for key, value in (user_config or {}).items():
        if key == "LayerName":
            for layer, extra in value.items():
                if layer not in cfg["LayerName"]:
                    raise ConfigError(f"config names layer '{layer}', which the model does not have; "
                                      f"layers: {', '.join(cfg['LayerName'])}")
                cfg["LayerName"][layer].update(extra)
        elif key == "Model":
            cfg["Model"].update(value)
        else:
            raise ConfigError(f"unknown config key '{key}'; known: Model, LayerName")
    return cfg


def read_user_config(path: str | Path | None) -> dict:
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML") from None


def convert(model, backend: str, out_dir: str | Path, part: str, clock_period: float = 10,
            io_type: str = "io_parallel", user_config: dict | None = None, force: bool = False, compile: bool = True):
    """Write (and compile) a project in ``out_dir`` atomically; returns the hls4ml model."""
    import hls4ml

    import toolchain.backends  # noqa: F401

    backend = BACKENDS.get(backend.lower(), backend)
    if backend not in BACKENDS.values():
        raise ConfigError(f"unknown backend '{backend}'; choose bitshift or rns")
    if io_type not in IO_TYPES:
        raise ConfigError(f"unknown io type '{io_type}'; choose {' or '.join(IO_TYPES)}")
    out_dir = Path(out_dir).resolve()
    if out_dir.exists():
        if not force:
            raise ConfigError(f"output directory '{out_dir}' exists; pass --force to replace it")
        if not (out_dir / META).is_file():
            raise ConfigError(f"output directory '{out_dir}' exists and was not written by arith4ml; refusing to replace it")
    cfg = hls_config(model, backend, user_config)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        hm = hls4ml.converters.convert_from_keras_model(model, backend=backend, hls_config=cfg, output_dir=str(staging),
                                                        part=part, clock_period=clock_period, io_type=io_type)
        hm.write()
        model.save(staging / MODEL_FILE)  # h5 reloads with the QKeras custom objects; .keras does not
        meta = {"tool": "arith4ml", "backend": backend, "part": part, "clock_period": clock_period,
                "io_type": io_type, "user_config": user_config or {}}
        (staging / META).write_text(json.dumps(meta, indent=1) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return reopen(out_dir, compile=compile)


def reopen(project_dir: str | Path, compile: bool = True):
    """Rebuild the hls4ml model of a project directory (the Keras model and config it saved)."""
    import hls4ml

    import toolchain.backends  # noqa: F401

    project_dir = Path(project_dir).resolve()
    meta_path = project_dir / META
    if not meta_path.is_file():
        raise DataError(f"'{project_dir}' is not an arith4ml project (no {META})")
    meta = json.loads(meta_path.read_text())
    model = load_keras_model(project_dir / MODEL_FILE, allow_lambda=True)
    cfg = hls_config(model, meta["backend"], meta.get("user_config"))
    hm = hls4ml.converters.convert_from_keras_model(model, backend=meta["backend"], hls_config=cfg,
                                                    output_dir=str(project_dir), part=meta["part"],
                                                    clock_period=meta["clock_period"], io_type=meta["io_type"])
    if compile:
        hm.compile()
    return hm, model
