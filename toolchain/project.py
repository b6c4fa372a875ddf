"""Convert a Keras/QKeras model with an arith4ml backend and reopen a project directory later."""
from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path

from toolchain import __version__, essop_hls, yamlfile
from toolchain.arith.fixed import MAX_WIDTH
from toolchain.atomic import atomic_directory, changed_files, check_owned
from toolchain.boards import check_part
from toolchain.errors import Arith4mlError, ArithValueError, ConfigError, DataError, UnsupportedError
from toolchain.files import save_keras_h5
from toolchain.yamlfile import YamlFile

BACKENDS = {"bitshift": "Bitshift", "rns": "RNS", "approx": "Approx"}
IO_TYPES = ("io_parallel", "io_stream")
META = "arith4ml.json"
MODEL_FILE = "arith4ml_model.h5"
TOOL = "arith4ml convert"  # the writer named in a project's manifest
TRAIN_META = "arith4ml_train.json"  # written by 'arith4ml train' next to its model.h5 (toolchain.train)
TEST_DATA = "test_data.npz"  # a test split the project keeps for csim (from the training run)
# files the tool adds to a project after convert (report, C-sim build, board shells, what 'arith4ml build' and the
# vendor tools write: logs, parsed reports, the HLS project): replaced with it on --force
REGENERATED = ("report.json", "estimate.json", "build.log", "firmware/*.so", ".build.*", "shell/*", "logs/*", "rtl/*",
               "reports/*", "build_opt.tcl", "arith4ml_build.tcl", "*_prj/*", "vitis_hls.log", "vivado_hls.log",
               ".Xil/*", "tb_data/csim_results.log", "tb_data/rtl_cosim_results.log")

# hls.yml keys: hls4ml's own, the arith4ml backends' layer attributes (Arithmetic, NK, Moduli, Reverse, ...:
# accepted at Model and layer level whichever backend converts, so one hls.yml serves both) and the old
# 'Softmax: logits' layer key (an alias of hls4ml's 'Skip')
HLS4ML_MODEL_KEYS = ("Precision", "ReuseFactor", "Strategy", "BramFactor", "TraceOutput", "TargetCycles",
                     "ConvImplementation", "Compression", "PipelineStyle", "PipelineInterval")
HLS4ML_LAYER_KEYS = ("Precision", "ReuseFactor", "Strategy", "Trace", "TargetCycles", "ConvImplementation",
                     "Compression", "ParallelizationFactor", "TableSize")
LEGACY_LAYER_KEYS = ("Softmax",)
EXACTNESS_KEYS = ("AllowInexact",)  # accept hls4ml's approximation of a quantizer QKeras computes otherwise
ESSOP_KEYS = (essop_hls.CONFIG_KEY,)  # on-chip ESSOP update of the last Dense layer (toolchain.essop_hls)
SOFTMAX_KEYS = ("Softmax", "Skip")  # keys that only a softmax layer takes
STRATEGIES = ("latency", "resource")
# Model keys config_from_keras_model also writes into every layer (as defaults): a user's Model value
# replaces those copies, unless the user set the key for that layer too
MODEL_KEYS_PER_LAYER = ("ReuseFactor", "Strategy", "ConvImplementation")


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


def _arith_options(backend: str) -> dict:
    """config key -> (Option, backend name) of every arith4ml backend's options, ``backend``'s own winning."""
    import hls4ml

    names = [b for b in BACKENDS.values() if b != backend] + [backend]
    return {o.config_name: (o, name) for name in names for o in hls4ml.backends.get_backend(name).options}


def _layer_keys(backend: str) -> set[str]:
    """Per-layer config keys hls4ml honours for ``backend`` (its configurable attributes) and ours."""
    import hls4ml

    keys = set(HLS4ML_LAYER_KEYS) | set(LEGACY_LAYER_KEYS) | set(EXACTNESS_KEYS) | set(_arith_options(backend))
    for attrs in hls4ml.backends.get_backend(backend).attribute_map.values():
        keys.update(a.config_name for a in attrs if getattr(a, "configurable", False))
    return keys


def _precision_problem(value) -> str | None:
    """Why ``value`` is not an hls4ml precision string (or ``auto``), or None."""
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    if not isinstance(value, str):
        return f"must be a type string such as 'fixed<16,6>' or 'auto', not {value!r}"
    if value.strip().lower() == "auto":
        return None
    try:
        precision = FPGABackend.convert_precision_string(value)
    except Exception:  # noqa: BLE001 - hls4ml raises ValueError/others for a bad string
        unclosed = "<" in value and ">" not in value  # YAML split fixed<8,3> at its comma
        hint = "; quote types that contain commas inside a {...} YAML mapping" if unclosed else ""
        return f"'{value}' is not a precision (e.g. 'fixed<16,6>', 'ufixed<8,3,RND,SAT>', 'int<8>', 'auto'){hint}"
    width = getattr(precision, "width", None)
    if width is not None and not 1 <= width <= MAX_WIDTH:
        return f"'{value}' is {width} bits wide; arith4ml's exact types hold 1..{MAX_WIDTH} bits"
    return None


def _check_precision(cfg: YamlFile, value, keys: tuple) -> None:
    """Precision is one type string, or a mapping of variable (result, weight, accum...) to type strings."""
    items = value.items() if isinstance(value, dict) else [(None, value)]
    for var, text in items:
        problem = _precision_problem(text)
        if problem:
            raise cfg.error(keys + ((var,) if var is not None else ()), problem)


def _option_problem(option, backend: str, value) -> str | None:
    """Why ``value`` is not a value of the arith4ml key ``option`` (a phrase), or None ('auto' always is)."""
    from toolchain.backends.attributes import checked_value, is_auto

    if is_auto(value):
        return None
    try:
        checked_value(option, value, backend)
    except ArithValueError as exc:
        return str(exc)
    return None


def _positive_problem(key: str, value) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return None if ok else f"{key} must be a positive integer; got {value!r}"


def _bool_problem(value) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false; got {value!r}"


def _strategy_problem(value) -> str | None:
    """hls4ml's Latency or Resource; other strategies (Unrolled, distributed_arithmetic) replace the kernels."""
    ok = isinstance(value, str) and value.strip().lower() in STRATEGIES
    return None if ok else f"Strategy '{value}' is not one of Latency, Resource"


# checks of one hls4ml value: key -> the problem with a value (a phrase), or None
_VALUE_CHECKS = {"Strategy": _strategy_problem, "AllowInexact": _bool_problem,
                 essop_hls.CONFIG_KEY: essop_hls.essop_config_problem,
                 **{key: partial(_positive_problem, key)
                    for key in ("ReuseFactor", "TableSize", "BramFactor", "ParallelizationFactor")}}


def _value_checks(backend: str) -> dict:
    """hls4ml's value checks and the arith4ml backends' option checks, by config key."""
    return _VALUE_CHECKS | {key: partial(_option_problem, option, name)
                            for key, (option, name) in _arith_options(backend).items()}


def _check_entry(cfg: YamlFile, entry, keys: tuple, allowed: set[str], what: str, checks: dict) -> None:
    """Check one Model or LayerName entry: a mapping of known keys with sensible values."""
    if entry is None:
        return
    if not isinstance(entry, dict):
        raise cfg.error(keys, f"{what} must be a mapping of keys such as Precision, Moduli; got {entry!r}")
    for key, value in entry.items():
        if key not in allowed:
            raise cfg.error(keys + (key,), f"unknown key '{key}' for {what}; known: {', '.join(sorted(allowed))}")
        if key == "Precision":
            _check_precision(cfg, value, keys + (key,))
        elif key in checks:
            problem = checks[key](value)
            if problem:
                raise cfg.error(keys + (key,), problem)


def validate_user_config(cfg: dict | YamlFile | None, backend: str = "Bitshift") -> YamlFile:
    """Check a user hls.yml (structure, keys, values) without the model; errors name file, line and key."""
    if not isinstance(cfg, YamlFile):
        if cfg is not None and not isinstance(cfg, dict):
            raise ConfigError(f"config must be a mapping with Model and/or LayerName keys; got {type(cfg).__name__}")
        cfg = YamlFile(cfg)
    backend = BACKENDS.get(str(backend).lower(), backend)
    checks = _value_checks(backend)
    for key, value in cfg.data.items():
        if key == "Model":
            _check_entry(cfg, value, ("Model",), set(HLS4ML_MODEL_KEYS) | set(EXACTNESS_KEYS) |
                         set(ESSOP_KEYS) | set(_arith_options(backend)), "Model", checks)
        elif key == "LayerName":
            if value is None:
                continue
            if not isinstance(value, dict):
                raise cfg.error(("LayerName",), f"LayerName must map layer names to their settings; got {value!r}")
            allowed = _layer_keys(backend)
            for layer, entry in value.items():
                _check_entry(cfg, entry, ("LayerName", layer), allowed, f"layer {layer}", checks)
        else:
            raise cfg.error((key,), f"unknown config key '{key}'; known: Model, LayerName")
    return cfg


def hls_config(model, backend: str, user_config: dict | YamlFile | None = None) -> dict:
    """hls4ml's per-layer config of ``model`` for ``backend`` with the user's hls.yml settings merged in."""
    import hls4ml

    user = validate_user_config(user_config or {}, backend)
    try:
        cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    except Arith4mlError:
        raise
    except Exception as exc:  # noqa: BLE001 - hls4ml raises bare Exception for what it cannot parse
        _raise_unsupported(model, backend, exc)
    layers = user.data.get("LayerName") or {}
    for layer, extra in layers.items():
        if layer not in cfg["LayerName"]:
            raise user.error(("LayerName", layer), f"config names layer '{layer}', which the model does not "
                                                   f"have; layers: {', '.join(cfg['LayerName'])}")
        misplaced = [k for k in SOFTMAX_KEYS if k in (extra or {}) and "Skip" not in cfg["LayerName"][layer]]
        if misplaced:
            raise user.error(("LayerName", layer, misplaced[0]), f"{misplaced[0]} applies to softmax layers only; "
                                                                 f"layer {layer} is not one")
        _merge(cfg["LayerName"][layer], extra or {})
    model_cfg = user.data.get("Model") or {}
    _merge(cfg["Model"], model_cfg)
    for key in MODEL_KEYS_PER_LAYER:
        if key in model_cfg:
            for layer, layer_cfg in cfg["LayerName"].items():
                if key in layer_cfg and key not in (layers.get(layer) or {}):
                    layer_cfg[key] = model_cfg[key]
    return cfg


def _merge(base: dict, extra: dict) -> None:
    """Update ``base`` with ``extra``; a Precision mapping updates the generated one per variable."""
    for key, value in extra.items():
        if key == "Precision" and isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value


def read_user_config(path: str | Path | None, backend: str = "Bitshift") -> YamlFile:
    """Read and check an hls4ml-style YAML config (``yaml.safe_load``); errors name file, line and key."""
    if path is None:
        return YamlFile()
    doc = yamlfile.load(path, expected="a mapping with Model and/or LayerName keys")
    _anchor_approx_files(doc.data, Path(path).resolve().parent)
    return validate_user_config(doc, backend)


def _anchored(spec, base_dir: Path):
    """A multiplier spec or map reference naming a file (``table:FILE``, ``map:FILE``) with a relative FILE made
    absolute against ``base_dir``; anything else as it is."""
    if not isinstance(spec, str):
        return spec
    kind, sep, rest = spec.strip().partition(":")
    if not sep or kind.lower() not in ("table", "map") or Path(rest.strip()).expanduser().is_absolute():
        return spec
    return f"{kind}:{base_dir / rest.strip()}"


def _anchor_approx_files(data, base_dir: Path) -> None:
    """Files named by ``Approx`` values (tables, map files) are relative to the config file that names them."""
    if not isinstance(data, dict):
        return
    entries = [data.get("Model")] + list((data.get("LayerName") or {}).values() if isinstance(data.get("LayerName"),
                                                                                            dict) else [])
    for entry in entries:
        if not isinstance(entry, dict) or "Approx" not in entry:
            continue
        value = entry["Approx"]
        if isinstance(value, dict) and isinstance(value.get("multipliers"), list):
            value["multipliers"] = [_anchored(s, base_dir) for s in value["multipliers"]]
        else:
            entry["Approx"] = _anchored(value, base_dir)


def is_project(path: str | Path) -> bool:
    """True if ``path`` is a directory this tool wrote (its arith4ml.json marker says so)."""
    meta = Path(path) / META
    try:
        data = json.loads(meta.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("tool") == "arith4ml"


def check_output_dir(out_dir: str | Path, force: bool = False) -> Path:
    """The resolved output directory; ConfigError if it exists and may not be replaced.

    With ``force`` an existing directory is replaced only if it is a project this tool wrote and holds
    nothing else: no file of the user's, no generated file the user edited (its manifest says).
    """
    out = Path(out_dir).resolve()
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise ConfigError(f"output path '{out_dir}' exists and is not a directory; refusing to replace it")
        if not force:
            raise ConfigError(f"output directory '{out_dir}' exists; pass --force to replace it")
        check_owned(out, TOOL, REGENERATED)
    return out


def edited_files(project_dir: str | Path) -> list[str]:
    """Files of a project that differ from what convert wrote (a user's hand edits), by relative name."""
    return changed_files(project_dir, REGENERATED)[0]


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


def _quantizer_bits(qcfg) -> int | None:
    """The ``bits`` of a serialised QKeras quantizer (a dict, or a string such as 'quantized_relu(6,2)'), if any."""
    if isinstance(qcfg, dict):
        bits = (qcfg.get("config") or {}).get("bits")
        return bits if isinstance(bits, int) and not isinstance(bits, bool) else None
    if isinstance(qcfg, str) and qcfg.startswith("quantized") and "(" in qcfg:
        first = qcfg.split("(", 1)[1].split(",")[0].split(")")[0].strip()
        return int(first) if first.lstrip("-").isdigit() else None
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
            from toolchain.backends.exact import SUPPORTED

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
                                       f"{', '.join(WEIGHT_QUANTIZERS)}", layer=layer.name)
        for key, value in config.items():
            bits = _quantizer_bits(value) if key.endswith("quantizer") or key == "activation" else None
            if bits is not None and bits < 1:
                raise UnsupportedError(f"layer {layer.name} ({cls}): {key.replace('_', ' ')} has {bits} bits; a "
                                       "quantizer needs at least 1", layer=layer.name)


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


def _locate(user: YamlFile, exc: Arith4mlError) -> Arith4mlError:
    """``exc`` with the config file and line that set what it is about in front, if the file set it.

    Uses the error's ``layer`` and ``key`` fields: the layer's own setting of ``key``, else the
    model-wide one, else the layer's entry.  Errors the file did not configure come back unchanged.
    """
    layer, key = exc.layer, exc.key
    candidates = []
    if layer is not None and key is not None:
        candidates.append(("LayerName", layer, key))
    if key is not None:
        candidates.append(("Model", key))
    if layer is not None:
        candidates.append(("LayerName", layer))
    for keys in candidates:
        if user.path is not None and user.line(*keys) is not None:
            return exc.located(user.at(keys))
    return exc


def _replaceable(path: Path, force: bool) -> bool:
    """Whether convert may replace the existing directory ``path`` (ConfigError saying why not)."""
    check_output_dir(path, force)
    return True


def training_metadata(model_path: str | Path) -> dict | None:
    """What 'arith4ml train' recorded next to ``model_path`` (residue moduli, test split), or None.

    ``test_data`` is returned as a path (None if the file is missing); a damaged file counts as absent.
    """
    path = Path(model_path).parent / TRAIN_META
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("tool") != "arith4ml train":
        return None
    moduli = meta.get("residue_moduli")
    test_data = path.parent / str(meta.get("test_data") or TEST_DATA)
    return {"path": str(path), "residue_moduli": tuple(moduli) if isinstance(moduli, list) and moduli else None,
            "test_data": test_data if test_data.is_file() else None, "data": meta.get("data")}


def _checked_target(backend: str, io_type: str, part: str, clock_period: float) -> tuple[str, str]:
    """The backend's hls4ml name and the checked part (ConfigError naming a bad backend, io type, part or clock)."""
    backend = BACKENDS.get(backend.lower(), backend)
    if backend not in BACKENDS.values():
        raise ConfigError(f"unknown backend '{backend}'; choose bitshift or rns")
    if io_type not in IO_TYPES:
        raise ConfigError(f"unknown io type '{io_type}'; choose {' or '.join(IO_TYPES)}")
    part = check_part(part, "part")  # it is written into Tcl scripts: only the Xilinx part grammar passes
    if isinstance(clock_period, bool) or not isinstance(clock_period, (int, float)) or not 0 < clock_period < 1e4:
        raise ConfigError(f"clock period {clock_period!r} must be a number of nanoseconds in (0, 10000)")
    return backend, part


def _model_graph(model, backend: str, cfg: dict, user: YamlFile, output_dir: str | Path, part: str,
                 clock_period: float, io_type: str):
    """hls4ml's conversion of ``model`` (nothing written); errors located in the user's config where it set them."""
    import hls4ml

    try:
        return hls4ml.converters.convert_from_keras_model(model, backend=backend, hls_config=cfg,
                                                          output_dir=str(output_dir), part=part,
                                                          clock_period=clock_period, io_type=io_type)
    except Arith4mlError as exc:
        located = _locate(user, exc)
        if located is exc:
            raise
        raise located from None
    except Exception as exc:  # noqa: BLE001 - hls4ml raises bare Exception for what it cannot parse
        _raise_unsupported(model, backend, exc)


def build_model(model, backend: str, part: str, clock_period: float = 10, io_type: str = "io_parallel",
                user_config: dict | YamlFile | None = None):
    """The hls4ml model that :func:`convert` would write, without writing anything (its layers carry their
    plans: ``convert --fit`` estimates them before choosing ReuseFactors)."""
    import tempfile

    backend, part = _checked_target(backend, io_type, part, clock_period)
    check_layers(model, backend)
    user = validate_user_config(user_config or {}, backend)
    cfg = hls_config(model, backend, user)
    with tempfile.TemporaryDirectory(prefix="arith4ml-plan-") as tmp:
        return _model_graph(model, backend, cfg, user, tmp, part, clock_period, io_type)


def convert(model, backend: str, out_dir: str | Path, part: str, clock_period: float = 10,
            io_type: str = "io_parallel", user_config: dict | YamlFile | None = None, force: bool = False,
            compile: bool = True, test_data: str | Path | None = None, board: str | None = None,
            fit: dict | None = None):
    """Write (and compile) a project in ``out_dir`` atomically; returns the hls4ml model.

    Nothing is left behind on failure: the project is written into a hidden
    staging directory beside ``out_dir`` and renamed into place at the end.  An
    existing ``out_dir`` is replaced only with ``force`` and only if it holds an
    arith4ml project and nothing else (see :func:`check_output_dir`).  ``test_data``
    (a .npz with ``x_test``) is kept in the project as the default data of ``csim``.
    ``board`` (the board's name) and ``fit`` (what ``--fit`` chose) are recorded in the project's
    arith4ml.json: ``arith4ml report`` compares its estimate with that board's part.
    """
    backend, part = _checked_target(backend, io_type, part, clock_period)
    out_dir = check_output_dir(out_dir, force)
    check_layers(model, backend)
    user = validate_user_config(user_config or {}, backend)
    cfg = hls_config(model, backend, user)
    with atomic_directory(out_dir, partial(_replaceable, force=force), "output directory", manifest=TOOL) as staging:
        hm = _model_graph(model, backend, cfg, user, staging, part, clock_period, io_type)
        hm.write()
        save_keras_h5(model, staging / MODEL_FILE)
        if test_data is not None:
            shutil.copyfile(test_data, staging / TEST_DATA)
        meta = {"tool": "arith4ml", "version": __version__, "backend": backend, "part": part,
                "clock_period": clock_period, "io_type": io_type, "user_config": user.data,
                "test_data": TEST_DATA if test_data is not None else None, "board": board}
        if fit is not None:
            meta["fit"] = fit
        (staging / META).write_text(json.dumps(meta, indent=1) + "\n")  # last: it marks a complete project
    return reopen(out_dir, compile=compile)


def recorded_board(project_dir: str | Path) -> str | None:
    """The board a project was converted for (``convert --board``, else ``--fit``), if its arith4ml.json says."""
    try:
        meta = json.loads((Path(project_dir) / META).read_text())
        board = meta.get("board") or (meta.get("fit") or {}).get("board")  # --board, else the --fit board
    except (OSError, ValueError, AttributeError):
        return None
    return board if isinstance(board, str) and board else None


def reopen(project_dir: str | Path, compile: bool = True):
    """Rebuild the hls4ml model of a project directory (the Keras model and config it saved)."""
    import hls4ml

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
        raise DataError(f"'{meta_path}' is damaged ({exc.__class__.__name__}: {exc}); "
                        f"convert the model again") from None
    if backend not in BACKENDS.values() or io_type not in IO_TYPES or not isinstance(part, str):
        raise DataError(f"'{meta_path}' names backend {backend!r}, io type {io_type!r}, part {part!r}; expected one "
                        f"of {', '.join(BACKENDS.values())}, {' or '.join(IO_TYPES)} and a part: convert the model "
                        "again")
    model = load_keras_model(project_dir / MODEL_FILE, allow_lambda=True)
    cfg = hls_config(model, backend, meta.get("user_config"))
    hm = hls4ml.converters.convert_from_keras_model(model, backend=backend, hls_config=cfg,
                                                    output_dir=str(project_dir), part=part,
                                                    clock_period=clock, io_type=io_type)
    essop_hls.attach(hm)  # hm.essop_update / essop_weights when the project has an ESSOP update function
    if compile:
        compile_project(hm, project_dir)
    return hm, model


def compile_project(hm, project_dir: str | Path, csim_path: str = "fast") -> bool:
    """Load ``hm``'s C-sim library built from the project's files as they are on disk (never rewritten;
    built only when they changed, elsewhere if the project is read-only).  ``csim_path``: ``fast`` (native
    C-sim shortcuts) or ``synthesis`` (the branches Vitis HLS synthesises).  Returns whether it was built now."""
    from toolchain.simlib import ensure_library, load_library

    lib, built = ensure_library(project_dir, hm.config.get_project_name(), csim_path=csim_path)
    load_library(hm, lib)
    return built
