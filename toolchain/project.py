"""Convert a Keras/QKeras model with an arith4ml backend and reopen a project directory later."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import yaml

from toolchain.arith.rns import REVERSE_CONVERSIONS as REVERSE
from toolchain.backends.plan import ARITHMETICS as _ARITHMETICS_BY_KIND
from toolchain.backends.plan import CONFIG_KEYS
from toolchain.errors import Arith4mlError, ConfigError, DataError, UnsupportedError

BACKENDS = {"bitshift": "Bitshift", "rns": "RNS"}
IO_TYPES = ("io_parallel", "io_stream")
META = "arith4ml.json"
MODEL_FILE = "arith4ml_model.h5"

# hls.yml keys: hls4ml's own (any configurable layer attribute of the backend is accepted too) and ours
HLS4ML_MODEL_KEYS = ("Precision", "ReuseFactor", "Strategy", "BramFactor", "TraceOutput", "TargetCycles",
                     "ConvImplementation", "Compression", "PipelineStyle", "PipelineInterval")
HLS4ML_LAYER_KEYS = ("Precision", "ReuseFactor", "Strategy", "Trace", "TargetCycles", "ConvImplementation",
                     "Compression", "ParallelizationFactor", "TableSize")
ARITH_MODEL_KEYS = CONFIG_KEYS
ARITH_LAYER_KEYS = ARITH_MODEL_KEYS + ("Softmax",)
ARITHMETICS = tuple(dict.fromkeys(a for offered in _ARITHMETICS_BY_KIND.values() for a in offered))


class UserConfig(dict):
    """A parsed hls.yml that remembers its file and the line of every key, for error messages."""

    def __init__(self, data=None, path: str | Path | None = None, lines: dict | None = None):
        super().__init__(data or {})
        self.path = None if path is None else str(path)
        self.lines = lines or {}

    def where(self, *keys) -> str:
        """'FILE line N' of the key path ``keys`` (or of the file), for messages."""
        if self.path is None:
            return "config"
        for n in range(len(keys), 0, -1):  # the innermost key we know a line for
            line = self.lines.get(tuple(str(k) for k in keys[:n]))
            if line:
                return f"{self.path} line {line}"
        return self.path


def _key_lines(node, prefix: tuple = ()) -> dict:
    out: dict = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = prefix + (str(key.value),)
            out.setdefault(path, key.start_mark.line + 1)
            out.update({k: v for k, v in _key_lines(value, path).items() if k not in out})
    return out


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
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot load Keras model '{path}': {first[:200]}") from None
    if not allow_lambda and any(type(layer).__name__ == "Lambda" for layer in model.layers):
        raise ConfigError(f"model '{path}' has Lambda layers; pass --allow-lambda to convert it anyway")
    return model


def _layer_keys(backend: str) -> set[str]:
    """Per-layer config keys hls4ml honours for ``backend`` (its configurable attributes) and ours."""
    keys = set(HLS4ML_LAYER_KEYS) | set(ARITH_LAYER_KEYS)
    try:
        import hls4ml

        import toolchain.backends  # noqa: F401

        for attrs in hls4ml.backends.get_backend(backend).attribute_map.values():
            keys.update(a.config_name for a in attrs if getattr(a, "configurable", False))
    except Exception:  # noqa: BLE001 - the static list is still a useful check
        pass
    return keys


def _check_precision(cfg: UserConfig, value, keys: tuple) -> None:
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    items = value.items() if isinstance(value, dict) else [(None, value)]
    for var, text in items:
        at = keys + ((var,) if var is not None else ())
        if not isinstance(text, str):
            raise ConfigError(f"{cfg.where(*at)}: {'/'.join(map(str, at))} must be a type string such as "
                              f"'fixed<16,6>' or 'auto', not {text!r}")
        if text.strip().lower() == "auto":
            continue
        try:
            FPGABackend.convert_precision_string(text)
        except Exception:  # noqa: BLE001 - hls4ml raises ValueError/others for a bad string
            hint = ("; quote types that contain commas inside a {...} YAML mapping"
                    if "<" in text and ">" not in text else "")
            raise ConfigError(f"{cfg.where(*at)}: {'/'.join(map(str, at))}: '{text}' is not a precision "
                              f"(e.g. 'fixed<16,6>', 'ufixed<8,3,RND,SAT>', 'int<8>', 'auto'){hint}") from None


def _check_entry(cfg: UserConfig, entry, keys: tuple, allowed: set[str], what: str) -> None:
    """Check one Model or LayerName entry: a mapping of known keys with sensible values."""
    if entry is None:
        return
    if not isinstance(entry, dict):
        raise ConfigError(f"{cfg.where(*keys)}: {what} must be a mapping of keys such as Precision, Moduli; "
                          f"got {entry!r}")
    for key, value in entry.items():
        at = keys + (key,)
        if key not in allowed:
            raise ConfigError(f"{cfg.where(*at)}: unknown key '{key}' for {what}; known: {', '.join(sorted(allowed))}")
        if key == "Precision":
            _check_precision(cfg, value, at)
        elif key == "Moduli":
            from toolchain.arith import rns
            from toolchain.errors import ArithValueError

            try:
                rns.validate_moduli(value)
            except ArithValueError as exc:
                raise ConfigError(f"{cfg.where(*at)}: {what}: Moduli: {exc}") from None
        elif key == "Reverse":
            if str(value).lower() not in REVERSE:
                raise ConfigError(f"{cfg.where(*at)}: {what}: Reverse '{value}' is not one of {', '.join(REVERSE)}")
        elif key == "Arithmetic":
            if str(value).lower() not in ARITHMETICS:
                raise ConfigError(f"{cfg.where(*at)}: {what}: Arithmetic '{value}' is not one of {', '.join(ARITHMETICS)}")
        elif key == "NK":
            ok = (isinstance(value, (list, tuple)) and len(value) == 2
                  and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
                  and value[0] >= 1 and 0 <= value[1] <= value[0])
            if not ok:
                raise ConfigError(f"{cfg.where(*at)}: {what}: NK must be [N, k] with integers 0 <= k <= N, "
                                  f"e.g. [8, 2]; got {value!r}")
        elif key in ("ReuseFactor", "TableSize", "BramFactor", "ParallelizationFactor"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{cfg.where(*at)}: {what}: {key} must be a positive integer; got {value!r}")


def validate_user_config(cfg: dict, backend: str = "Bitshift") -> UserConfig:
    """Check a user hls.yml (structure, keys, values) without the model; errors name file, line and key."""
    if not isinstance(cfg, UserConfig):
        if cfg is not None and not isinstance(cfg, dict):
            raise ConfigError(f"config must be a mapping with Model and/or LayerName keys; got {type(cfg).__name__}")
        cfg = UserConfig(cfg)
    for key, value in cfg.items():
        if key == "Model":
            _check_entry(cfg, value, ("Model",), set(HLS4ML_MODEL_KEYS) | set(ARITH_MODEL_KEYS), "Model")
        elif key == "LayerName":
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"{cfg.where('LayerName')}: LayerName must map layer names to their settings; "
                                  f"got {value!r}")
            allowed = _layer_keys(BACKENDS.get(str(backend).lower(), backend))
            for layer, entry in value.items():
                _check_entry(cfg, entry, ("LayerName", layer), allowed, f"layer {layer}")
        else:
            raise ConfigError(f"{cfg.where(key)}: unknown config key '{key}'; known: Model, LayerName")
    return cfg


def hls_config(model, backend: str, user_config: dict | None = None) -> dict:
    import hls4ml

    user = validate_user_config(user_config or {}, backend)
    try:
        cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    except Arith4mlError:
        raise
    except Exception as exc:  # noqa: BLE001 - hls4ml raises bare Exception for what it cannot parse
        _raise_unsupported(model, backend, exc)
    for key, value in user.items():
        if key == "LayerName":
            for layer, extra in (value or {}).items():
                if layer not in cfg["LayerName"]:
                    raise ConfigError(f"{user.where('LayerName', layer)}: config names layer '{layer}', which the "
                                      f"model does not have; layers: {', '.join(cfg['LayerName'])}")
                _merge(cfg["LayerName"][layer], extra or {})
        elif key == "Model":
            _merge(cfg["Model"], value or {})
    return cfg


def _merge(base: dict, extra: dict) -> None:
    """Update ``base`` with ``extra``; a Precision mapping updates the generated one per variable."""
    for key, value in extra.items():
        if key == "Precision" and isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value


def read_user_config(path: str | Path | None, backend: str = "Bitshift") -> UserConfig:
    """Read and check an hls4ml-style YAML config (``yaml.safe_load``); errors name file, line and key."""
    if path is None:
        return UserConfig()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist" if not path.exists()
                          else f"config file '{path}' is not a file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file '{path}' cannot be read: {exc.__class__.__name__}: {exc}") from None
    try:
        data = yaml.safe_load(text)
        lines = _key_lines(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        raise ConfigError(f"{path}{where}: not valid YAML{f' ({problem})' if problem else ''}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with Model and/or LayerName keys; "
                          f"got a {type(data).__name__}")
    return validate_user_config(UserConfig(data, path, lines), backend)


def is_project(path: str | Path) -> bool:
    """True if ``path`` is a directory this tool wrote (its arith4ml.json marker says so)."""
    meta = Path(path) / META
    try:
        data = json.loads(meta.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("tool") == "arith4ml"


def check_output_dir(out_dir: str | Path, force: bool = False) -> Path:
    """The resolved output directory; ConfigError if it exists and may not be replaced."""
    out = Path(out_dir).resolve()
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise ConfigError(f"output path '{out_dir}' exists and is not a directory; refusing to replace it")
        if not force:
            raise ConfigError(f"output directory '{out_dir}' exists; pass --force to replace it")
        if not is_project(out):
            raise ConfigError(f"output directory '{out_dir}' exists and was not written by arith4ml "
                              f"(no valid {META}); refusing to replace it, even with --force")
    return out


# weight quantizers whose values reach the backends as the weights Keras uses (hls4ml 1.3 turns
# 'binary' kernels into an XNOR 0/1 code and prints "Unsupported quantizer" for the rest)
WEIGHT_QUANTIZERS = ("quantized_bits", "quantized_po2", "ternary", "stochastic_ternary",
                     "quantized_pot", "pot_ternary", "nk_ternary")
WEIGHT_QUANTIZER_KEYS = ("kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer")


def _quantizer_problem(qcfg) -> str | None:
    """Why a serialised weight quantizer cannot be mapped (a phrase naming it), or None if it can."""
    if qcfg is None:
        return None
    if isinstance(qcfg, str):  # QKeras also accepts strings such as "quantized_bits(4,0)"
        name = qcfg.split("(")[0].strip()
        params: dict = {}
    elif isinstance(qcfg, dict):
        name = str(qcfg.get("class_name", "?"))
        params = qcfg.get("config") or {}
    else:
        return f"{type(qcfg).__name__} is not a QKeras quantizer and"
    if name not in WEIGHT_QUANTIZERS:
        return name
    if name == "quantized_bits" and params.get("bits") == 1 and params.get("integer", 0) == 1:
        return "quantized_bits(1,1) (a binary code that hls4ml stores as XNOR 0/1)"
    return None


def check_layers(model, backend: str) -> None:
    """UnsupportedError naming the first layer hls4ml cannot parse, or whose weight quantizer cannot be mapped.

    Layer types hls4ml parses but the backend does not support are named by the backend's own pass.
    """
    from hls4ml.converters.keras_v2_to_hls import get_supported_keras_layers

    parsable = set(get_supported_keras_layers()) | {"Dropout"}
    for layer in model.layers:
        cls = type(layer).__name__
        if cls not in parsable:
            from toolchain.backends.passes.exact_types import SUPPORTED

            raise UnsupportedError(f"layer {layer.name} of type {cls} is not supported by the {backend} backend; "
                                   f"supported: {', '.join(SUPPORTED)} (and their QKeras versions)")
        try:
            config = layer.get_config()
        except Exception:  # noqa: BLE001 - a layer without a config has no quantizer to check
            continue
        for key in WEIGHT_QUANTIZER_KEYS:
            problem = _quantizer_problem(config.get(key))
            if problem:
                raise UnsupportedError(f"layer {layer.name} ({cls}): {key.replace('_', ' ')} {problem} cannot be "
                                       f"mapped by the {backend} backend; supported weight quantizers: "
                                       f"{', '.join(WEIGHT_QUANTIZERS)}")


def _raise_unsupported(model, backend: str, exc: Exception):
    """Turn hls4ml's bare 'ERROR: Unsupported ...: NAME' into an UnsupportedError naming the layer; re-raise others."""
    first = (str(exc).strip().splitlines() or [""])[0]
    if "unsupported" not in first.lower():
        raise exc
    what = first.removeprefix("ERROR: ").strip()
    name = what.rsplit(":", 1)[-1].strip()
    where = ""
    if name:
        for layer in model.layers:
            try:
                text = json.dumps(layer.get_config(), default=str)
            except Exception:  # noqa: BLE001
                continue
            if f'"{name}' in text or f"'{name}" in text or f" {name}(" in text:
                where = f"layer {layer.name} ({type(layer).__name__}): "
                break
    raise UnsupportedError(f"{where}{what}, which hls4ml and the {backend} backend cannot map") from None


def _locate(user: UserConfig, exc: Arith4mlError) -> Arith4mlError:
    """Prefix a backend error about ``layer X`` with the config file and line that configure X, if any."""
    import re

    m = re.match(r"layer (\S+?):", str(exc))
    if user.path is None or not m:
        return exc
    layer, text = m.group(1), str(exc).lower()
    known = set(user.lines)
    mentioned = [k for k in ("Moduli", "NK", "Arithmetic", "Reverse", "Softmax", "Precision") if k.lower() in text]
    candidates = [("LayerName", layer, k) for k in mentioned] + [("Model", k) for k in mentioned]
    candidates.append(("LayerName", layer))
    for keys in candidates:
        if keys in known:
            located = type(exc)(f"{user.where(*keys)}: {exc}")
            located.exit_code = exc.exit_code
            return located
    return exc


def convert(model, backend: str, out_dir: str | Path, part: str, clock_period: float = 10,
            io_type: str = "io_parallel", user_config: dict | None = None, force: bool = False, compile: bool = True):
    """Write (and compile) a project in ``out_dir`` atomically; returns the hls4ml model.

    Nothing is left behind on failure: the project is written into a hidden
    staging directory beside ``out_dir`` and renamed into place at the end.  An
    existing ``out_dir`` is replaced only with ``force`` and only if it holds an
    arith4ml project (its ``arith4ml.json`` marker).
    """
    import hls4ml

    import toolchain.backends  # noqa: F401

    backend = BACKENDS.get(backend.lower(), backend)
    if backend not in BACKENDS.values():
        raise ConfigError(f"unknown backend '{backend}'; choose bitshift or rns")
    if io_type not in IO_TYPES:
        raise ConfigError(f"unknown io type '{io_type}'; choose {' or '.join(IO_TYPES)}")
    out_dir = check_output_dir(out_dir, force)
    check_layers(model, backend)
    user = validate_user_config(user_config or {}, backend)
    cfg = hls_config(model, backend, user)
    created = [p for p in [out_dir.parent, *out_dir.parent.parents] if not p.exists()]
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as exc:
        _remove_empty(created)
        raise ConfigError(f"cannot create output directory '{out_dir}': {exc.strerror or exc}") from None
    old = None
    try:
        try:
            hm = hls4ml.converters.convert_from_keras_model(model, backend=backend, hls_config=cfg,
                                                            output_dir=str(staging), part=part,
                                                            clock_period=clock_period, io_type=io_type)
        except Arith4mlError as exc:
            located = _locate(user, exc)
            if located is exc:
                raise
            raise located from None
        except Exception as exc:  # noqa: BLE001 - hls4ml raises bare Exception for what it cannot parse
            _raise_unsupported(model, backend, exc)
        hm.write()
        model.save(staging / MODEL_FILE)  # h5 reloads with the QKeras custom objects; .keras does not
        meta = {"tool": "arith4ml", "backend": backend, "part": part, "clock_period": clock_period,
                "io_type": io_type, "user_config": dict(user)}
        (staging / META).write_text(json.dumps(meta, indent=1) + "\n")
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
            os.replace(out_dir, old / "project")
        staging.rename(out_dir)
    except BaseException:
        if old is not None and not out_dir.exists() and (old / "project").exists():
            os.replace(old / "project", out_dir)  # put the previous project back
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        _remove_empty(created)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return reopen(out_dir, compile=compile)


def _remove_empty(created: list[Path]) -> None:
    """Remove the parent directories a failed convert created (innermost first) while they are empty."""
    for p in created:
        try:
            p.rmdir()
        except OSError:
            break


def reopen(project_dir: str | Path, compile: bool = True):
    """Rebuild the hls4ml model of a project directory (the Keras model and config it saved)."""
    import hls4ml

    import toolchain.backends  # noqa: F401

    shown = project_dir
    project_dir = Path(project_dir).resolve()
    if not project_dir.is_dir():
        raise DataError(f"project directory '{shown}' does not exist" if not project_dir.exists()
                        else f"'{shown}' is not a directory")
    meta_path = project_dir / META
    if not meta_path.is_file():
        raise DataError(f"'{shown}' is not an arith4ml project (no {META})")
    try:
        meta = json.loads(meta_path.read_text())
        backend, part, clock, io_type = meta["backend"], meta["part"], meta["clock_period"], meta["io_type"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"'{meta_path}' is damaged ({exc.__class__.__name__}: {exc}); convert the model again") from None
    model = load_keras_model(project_dir / MODEL_FILE, allow_lambda=True)
    cfg = hls_config(model, backend, meta.get("user_config"))
    hm = hls4ml.converters.convert_from_keras_model(model, backend=backend, hls_config=cfg,
                                                    output_dir=str(project_dir), part=part,
                                                    clock_period=clock, io_type=io_type)
    if compile:
        hm.compile()
    return hm, model
