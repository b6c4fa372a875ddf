"""The ``arith4ml train`` YAML config as typed sections: every key's type, default and allowed range in one place.

Each section of the file is a frozen dataclass below.  A field's annotation is the type its YAML
value must have (``X | None``: the key may be left out; ``null`` is never accepted for a number or
a string), its default is the value used when the key is left out, and ``_key(check=...)`` names
the range check.  A section's ``problem()`` checks keys that depend on each other.
:func:`load_config` reads the file with :mod:`toolchain.yamlfile` and builds :class:`TrainConfig`;
every error is a one-line :class:`~toolchain.errors.ConfigError` ``FILE:LINE: key.path: message``.
"""
from __future__ import annotations

import math
import os
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from toolchain import yamlfile
from toolchain.arith.essop import DEFAULT_SEED_D, DEFAULT_SEED_X
from toolchain.arith.pot import MAX_BITS as POT_MAX_BITS
from toolchain.arith.ternary import MAX_N as NK_MAX_N
from toolchain.errors import Arith4mlError, ConfigError
from toolchain.yamlfile import YamlFile

Check = Callable[[Any], "str | None"]  # a value -> what is wrong with it (a phrase), or None
Problem = typing.Optional[tuple[tuple, str]]  # (key path inside the section, message), or None

OPTIMIZERS = ("adam", "sgd")
IMAGE_BUILDERS = ("cnn", "resnet8")  # builders whose input is an image (data view 'image' by default)
# options of each data set (the keyword arguments of toolchain.data.load; their defaults live there)
DATA_OPTIONS = {"digits": ("view", "seed", "test_fraction"),
                "synthetic": ("view", "seed", "n_train", "n_test", "n_features", "n_classes", "noise"),
                "npz": ("view", "path")}
REGULARIZER_STRENGTH = {"in_training": 3e-5, "post": 1e-4}  # default strength per regularizer mode
METRIC_MODULI = (7, 8, 9)  # residue sparsity is reported for these without metrics.moduli or a regularizer
OUTPUT_ROOT = "runs"  # default output: runs/<config file name>
MAX_WIDTH = 16384  # units of a Dense layer / filters of a convolution (a 16384 x 16384 kernel is 1 GiB)
MAX_BITS = 32  # 'bits' quantizer: float32 training cannot tell more bits apart
MAX_STREAM = 2 ** 16  # ESSOP stream length
DIGITS_SAMPLES, DIGITS_CLASSES = 1797, 10  # sklearn's digits: the stratified split needs a sample per class


# --------------------------------------------------------------------------- checks of one value

def at_least(lo: float) -> Check:
    return lambda v: None if v >= lo else f"must be >= {lo}, got {v}"


def above(lo: float) -> Check:
    return lambda v: None if v > lo else f"must be > {lo}, got {v}"


def in_interval(lo: float, hi: float, text: str) -> Check:
    """``lo <= v < hi``; ``text`` shows the interval, e.g. ``"[0, 1)"``."""
    return lambda v: None if lo <= v < hi else f"must be in {text}, got {v}"


def between(lo: int, hi: int) -> Check:
    """An integer in ``lo..hi`` (both included)."""
    return in_interval(lo, hi + 1, f"{lo}..{hi}")


def strictly_between(lo: float, hi: float) -> Check:
    """``lo < v < hi``."""
    return lambda v: None if lo < v < hi else f"must be in ({lo}, {hi}), both excluded, got {v}"


SEED = between(0, 2 ** 32 - 1)  # NumPy's and scikit-learn's seed range


def power_of_two(v: int) -> str | None:
    if v < 1 or v & (v - 1) or v > MAX_STREAM:
        return f"must be a power of two in 1..{MAX_STREAM}, got {v}"
    return None


def one_of(choices: Iterable[str] | Callable[[], Iterable[str]], noun: str | None = None) -> Check:
    """``v`` in ``choices`` (a callable is asked only when a value is checked: for lists that import TensorFlow)."""
    def check(v) -> str | None:
        known = tuple(choices() if callable(choices) else choices)
        if v in known:
            return None
        if noun:
            return f"unknown {noun} {v!r} (known: {', '.join(known)})"
        return f"must be {' or '.join(known)}, got {v!r}"
    return check


def _builders() -> tuple[str, ...]:
    from toolchain.models import BUILDERS

    return tuple(BUILDERS)


def _variants() -> tuple[str, ...]:
    from toolchain.quant.regularizer import VARIANTS

    return VARIANTS


# --------------------------------------------------------------------------- values with their own syntax

def _moduli(doc: YamlFile, kp: tuple, value) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) < 2:
        raise doc.error(kp, f"must be a list of at least two integers, got {value!r}")
    for i, m in enumerate(value):
        if not _type_ok(m, int):
            raise doc.error(kp + (i,), f"modulus {m!r} is not an integer")
    from toolchain.arith import rns

    try:
        rns.validate_moduli(value)
    except Arith4mlError as exc:
        raise doc.error(kp, str(exc)) from None
    return tuple(value)


_QUANT_PARAM_TYPES = {"bits": int, "max_exp": int, "N": int, "k": int, "integer": int, "zero_margin": float,
                      "threshold": float, "max_value": float, "per_channel": bool}
# quantizer name -> parameter -> its range (toolchain.quant / QKeras refuse or misbehave outside it)
_QUANT_PARAM_CHECKS: dict[str, dict[str, Check]] = {
    "pot": {"bits": between(2, POT_MAX_BITS), "zero_margin": at_least(0)},
    "ternary": {"threshold": at_least(0)},
    "nk_ternary": {"N": between(1, NK_MAX_N), "k": at_least(0), "threshold": at_least(0)},
    "bits": {"bits": between(1, MAX_BITS), "integer": between(-MAX_BITS, MAX_BITS)},
    "po2": {"bits": between(2, POT_MAX_BITS), "max_value": above(0)},
}


def _quantizer_problem(name: str, params: dict) -> tuple[str, str] | None:
    """(parameter, what is wrong) for a quantizer's out-of-range parameter, or None."""
    for k, v in params.items():
        check = _QUANT_PARAM_CHECKS[name].get(k)
        problem = check(v) if check is not None and v is not None else None
        if problem:
            return k, f"quantizer {name!r} {k} {problem}"
    if name == "nk_ternary" and params.get("k", 2) > params.get("N", 8):
        return "k", f"quantizer 'nk_ternary' needs k <= N (at most k non-zeros per group of N), got " \
                    f"k={params.get('k', 2)}, N={params.get('N', 8)}"
    if name == "pot":
        from toolchain.arith import pot

        try:
            pot.exponent_range(params.get("bits", 4), params.get("max_exp", 0))
        except Arith4mlError as exc:
            return "max_exp", f"quantizer 'pot': {exc}"
    return None


def _quantizer(doc: YamlFile, kp: tuple, spec):
    """A quantizer spec (see :mod:`toolchain.models`): None, a name, or a mapping with ``name``; returned as given."""
    from toolchain.models import _PARAMS, QUANTIZER_NAMES

    if spec is None:
        return None
    mapping = {"name": spec} if isinstance(spec, str) else spec
    if not isinstance(mapping, dict):
        raise doc.error(kp, f"quantizer must be a name or a mapping with 'name', got {spec!r}")
    name = mapping.get("name")
    if name not in QUANTIZER_NAMES:
        raise doc.error(kp if isinstance(spec, str) else kp + ("name",),
                        f"unknown quantizer {name!r} (known: {', '.join(QUANTIZER_NAMES)})")
    for k, v in mapping.items():
        if k != "name" and k not in _PARAMS[name]:
            raise doc.error(kp + (k,), f"unknown key {k!r} in quantizer {name!r} at '{'.'.join(map(str, kp))}' "
                                       f"(known: {', '.join(('name',) + _PARAMS[name])})")
        t = _QUANT_PARAM_TYPES.get(k)
        if t is bool and not isinstance(v, bool):
            raise doc.error(kp + (k,), f"must be true or false, got {v!r}")
        if t in (int, float) and not (v is None and k == "max_value") and not _type_ok(v, t):
            raise doc.error(kp + (k,), f"quantizer {name!r} parameter must be {_TYPE_NAMES[t]}, got {v!r}")
    problem = _quantizer_problem(name, {k: v for k, v in mapping.items() if k != "name"})
    if problem:
        raise doc.error(kp + (problem[0],), problem[1])
    return spec


def _widths(min_items: int) -> Callable[[YamlFile, tuple, Any], list]:
    """Parser of a list of layer widths (units or filters), each in 1..MAX_WIDTH, at least ``min_items`` of them."""
    def parse(doc: YamlFile, kp: tuple, value) -> list:
        if not isinstance(value, list) or len(value) < min_items:
            least = f"at least {min_items} integer(s)" if min_items else "integers"
            raise doc.error(kp, f"must be a list of {least} in 1..{MAX_WIDTH}, got {value!r}")
        for i, v in enumerate(value):
            if not _type_ok(v, int) or not 1 <= v <= MAX_WIDTH:
                raise doc.error(kp + (i,), f"must be an integer in 1..{MAX_WIDTH}, got {v!r}")
        return value
    return parse


def _layers(doc: YamlFile, kp: tuple, value) -> dict:
    if not isinstance(value, dict):
        raise doc.error(kp, "must map layer names to quantizer specs")
    return {name: _quantizer(doc, kp + (name,), spec) for name, spec in value.items()}


def _key(default: Any = MISSING, check: Check | None = None,
         parse: Callable[[YamlFile, tuple, Any], Any] | None = None, example: str | None = None):
    """A config key: its default (none: the key is required), range check, own parser, example for messages."""
    return field(default=default, metadata={"check": check, "parse": parse, "example": example})


# --------------------------------------------------------------------------- the sections

@dataclass(frozen=True, kw_only=True)
class SubsetSection:
    """``data.subset``: keep only the first samples (tiny runs)."""

    n_train: int | None = _key(None, at_least(1))
    n_test: int | None = _key(None, at_least(1))


@dataclass(frozen=True, kw_only=True)
class DataSection:
    """``data``: the data set and its options; an option left out takes :mod:`toolchain.data`'s default."""

    name: str = _key("digits", one_of(DATA_OPTIONS, "data set"))
    view: str | None = None  # flat | image; left out: image for the CNN builders, else flat (see TrainConfig)
    path: str | None = None  # npz only; relative paths are relative to the config file if the file is there
    seed: int | None = _key(None, SEED)
    test_fraction: float | None = _key(None, strictly_between(0, 1))
    n_train: int | None = _key(None, at_least(1))
    n_test: int | None = _key(None, at_least(1))
    n_features: int | None = _key(None, at_least(1))
    n_classes: int | None = _key(None, at_least(2))
    noise: float | None = _key(None, at_least(0))
    subset: SubsetSection | None = None

    def options(self) -> dict[str, Any]:
        """The keyword arguments for ``toolchain.data.load(name, ...)``: the options given."""
        return {k: getattr(self, k) for k in DATA_OPTIONS[self.name] if getattr(self, k) is not None}

    def problem(self) -> Problem:
        if self.name == "npz" and self.path is None:
            return (), "data 'npz' needs a path"
        allowed = DATA_OPTIONS[self.name]
        for f in fields(self):
            if f.name not in ("name", "subset", *allowed) and getattr(self, f.name) is not None:
                return (f.name,), f"not an option of data set {self.name!r} (options: {', '.join(sorted(allowed))})"
        if self.name == "digits" and self.test_fraction is not None:
            n_test = math.ceil(self.test_fraction * DIGITS_SAMPLES)  # as scikit-learn's train_test_split counts
            if not DIGITS_CLASSES <= n_test <= DIGITS_SAMPLES - DIGITS_CLASSES:
                return ("test_fraction",), (f"{self.test_fraction} puts {n_test} of the {DIGITS_SAMPLES} digits in "
                                            f"the test split; each split needs at least {DIGITS_CLASSES} (one per "
                                            f"class)")
        return None


@dataclass(frozen=True, kw_only=True)
class ModelSection:
    """``model``: builder, its size options, and the weight quantizer (``layers``: per-layer overrides)."""

    builder: str = _key("mlp", one_of(_builders, "builder"))
    hidden: list | None = _key(None, parse=_widths(0))  # mlp only; None: the builder's default
    filters: list | None = _key(None, parse=_widths(1))  # cnn, resnet8
    dense: int | None = _key(None, between(0, MAX_WIDTH))  # cnn; 0: no hidden dense layer
    quantizer: Any = _key(None, parse=_quantizer)
    layers: dict | None = _key(None, parse=_layers)

    def problem(self) -> Problem:
        if self.builder == "mlp":
            for key in ("filters", "dense"):
                if getattr(self, key) is not None:
                    return (key,), "is not an option of builder 'mlp' (options: hidden)"
        elif self.hidden is not None:
            return ("hidden",), f"is not an option of builder {self.builder!r}"
        return None

    def builder_options(self) -> dict[str, Any]:
        """The size options given, as keyword arguments of the builder."""
        return {k: getattr(self, k) for k in ("hidden", "filters", "dense") if getattr(self, k) is not None}

    def quantizer_spec(self):
        """The spec for ``toolchain.models.build``: one for all layers, or per layer with ``default``."""
        return dict(self.layers, default=self.quantizer) if self.layers else self.quantizer


@dataclass(frozen=True, kw_only=True)
class TrainSection:
    """``train``: the Keras fit (or the ESSOP loop)."""

    epochs: int = _key(30, at_least(0))
    batch_size: int = _key(32, at_least(1))
    learning_rate: float = _key(3e-3, above(0))
    optimizer: str = _key("adam", one_of(OPTIMIZERS, "optimizer"))
    verbose: int | None = _key(None, between(0, 2))  # None: the command line's (-q: 0, else 1)


@dataclass(frozen=True, kw_only=True)
class RegularizerSection:
    """``regularizer``: the residue regularizer, in training or as a post-training pass (``mode: post``)."""

    type: str = _key("residue", one_of(("residue",), "regularizer"))
    moduli: tuple[int, ...] = _key(parse=_moduli, example="[7, 8, 9]")
    strength: float | None = _key(None, at_least(0))  # left out: REGULARIZER_STRENGTH of the mode
    variant: str = _key("sin2", one_of(_variants, "variant"))
    mode: str = _key("in_training", one_of(("in_training", "post")))
    epochs: int = _key(10, at_least(0))  # post only
    learning_rate: float = _key(1e-3, above(0))  # post only

    def __post_init__(self):
        if self.strength is None:
            object.__setattr__(self, "strength", REGULARIZER_STRENGTH.get(self.mode))


@dataclass(frozen=True, kw_only=True)
class PruningSection:
    """``pruning``: gradual PoT pruning to ``target_sparsity`` exact zeros (polynomial schedule)."""

    target_sparsity: float = _key(0.5, in_interval(0, 1, "[0, 1)"))
    begin_epoch: int = 0
    end_epoch: int | None = None  # None: the last epoch
    power: float = _key(3.0, above(0))

    def problem(self) -> Problem:
        b, e = self.begin_epoch, self.end_epoch
        if b < 0 or (e is not None and e <= b):
            return ("end_epoch" if e is not None else "begin_epoch",), \
                f"needs 0 <= begin_epoch < end_epoch (got {b}, {e})"
        return None


_LFSR_SEED = in_interval(1, 2 ** 16, "1..65535 (16-bit LFSR seed)")


@dataclass(frozen=True, kw_only=True)
class EssopSection:
    """``essop``: stochastic outer-product training of a Dense MLP (learning rate ``2**lr_shift``)."""

    stream_length: int = _key(64, power_of_two)
    lr_shift: int = _key(-4, between(-64, 0))  # learning rate 2**lr_shift, at most 1
    seed_x: int = _key(DEFAULT_SEED_X, _LFSR_SEED)
    seed_d: int = _key(DEFAULT_SEED_D, _LFSR_SEED)
    mode: str = _key("essop", one_of(("essop", "exact")))


@dataclass(frozen=True, kw_only=True)
class MetricsSection:
    """``metrics``: what ``metrics.json`` reports beyond accuracy."""

    moduli: tuple[int, ...] | None = _key(None, parse=_moduli)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """A whole train config file; ``regularizer``, ``pruning``, ``essop`` are None when the file leaves them out."""

    seed: int = _key(0, SEED)
    output: str | None = None  # None: OUTPUT_ROOT/<config file name>
    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    train: TrainSection = field(default_factory=TrainSection)
    regularizer: RegularizerSection | None = None
    pruning: PruningSection | None = None
    essop: EssopSection | None = None
    metrics: MetricsSection = field(default_factory=MetricsSection)
    source: YamlFile = field(default_factory=YamlFile, repr=False, compare=False, metadata={"yaml": False})

    def __post_init__(self):
        if self.data.view is None:
            view = "image" if self.model.builder in IMAGE_BUILDERS else "flat"
            object.__setattr__(self, "data", replace(self.data, view=view))

    @property
    def path(self) -> str:
        """The config file (``config`` for a config built in code)."""
        return self.source.path or "config"

    @property
    def in_training_regularizer(self) -> RegularizerSection | None:
        reg = self.regularizer
        return reg if reg is not None and reg.mode == "in_training" else None

    @property
    def metric_moduli(self) -> tuple[int, ...]:
        """Moduli for the residue sparsity in metrics.json: metrics.moduli, the regularizer's, or METRIC_MODULI."""
        return self.metrics.moduli or (self.regularizer.moduli if self.regularizer else None) or METRIC_MODULI

    def output_dir(self, override: str | os.PathLike | None = None) -> Path:
        """Where to write: ``override`` (-o), else the ``output`` key, else OUTPUT_ROOT/<config file name>."""
        return Path(override or self.output or Path(OUTPUT_ROOT) / Path(self.path).stem)

    def error(self, keys: tuple, message: str, cls: type[Arith4mlError] = ConfigError) -> Arith4mlError:
        """``FILE:LINE: key.path: message`` for a problem found later (while training)."""
        return self.source.error(keys, message, cls)

    def problem(self) -> Problem:
        if self.essop is None:
            return None
        if self.model.builder != "mlp":
            return ("essop",), "ESSOP training needs builder 'mlp' (Dense layers only)"
        if self.pruning is not None or self.in_training_regularizer is not None:
            return ("essop",), "ESSOP training cannot be combined with pruning or an in-training regularizer"
        return None


def load_config(path: str | os.PathLike) -> TrainConfig:
    """Read and check a train config (``yaml.safe_load``); ConfigError ``FILE:LINE: key.path: message`` if bad."""
    doc = yamlfile.load(path, expected="a mapping of sections (data, model, train, ...)")
    return _read_section(doc, TrainConfig, doc.data, (), source=doc)


# --------------------------------------------------------------------------- reading a section

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", list: "a list"}


def _type_ok(value, t) -> bool:
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if t in (str, list):
        return isinstance(value, t)
    return True


def _base_type(hint):
    """``X`` of ``X | None`` (the key may be left out); other hints unchanged."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _read_section(doc: YamlFile, cls: type, value, kp: tuple, **extra):
    """``cls`` from the YAML mapping ``value`` at key path ``kp``: unknown, missing and bad keys are errors."""
    keys = [f for f in fields(cls) if f.metadata.get("yaml", True)]
    names = [f.name for f in keys]
    if not isinstance(value, dict):
        raise doc.error(kp, f"must be a mapping with keys {', '.join(names)}")
    for key in value:
        if key not in names:
            where = "'" + ".".join(map(str, kp)) + "'" if kp else "the top level"
            raise doc.error(kp + (key,), f"unknown key {key!r} in {where} (known: {', '.join(names)})")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in keys:
        if f.name in value:
            kwargs[f.name] = _read_value(doc, f, hints[f.name], value[f.name], kp + (f.name,))
        elif f.default is MISSING and f.default_factory is MISSING:
            example = f.metadata.get("example")
            raise doc.error(kp, f"needs {f.name}" + (f", e.g. {example}" if example else ""))
    section = cls(**kwargs, **extra)
    problem = section.problem() if hasattr(section, "problem") else None
    if problem:
        raise doc.error(kp + problem[0], problem[1])
    return section


def _read_value(doc: YamlFile, f, hint, value, kp: tuple):
    parse = f.metadata.get("parse")
    base = _base_type(hint)
    if parse is not None:
        value = parse(doc, kp, value)
    elif is_dataclass(base):
        value = _read_section(doc, base, value, kp)
    elif not _type_ok(value, base):
        raise doc.error(kp, f"must be {_TYPE_NAMES[base]}, got {value!r}")
    check = f.metadata.get("check")
    problem = check(value) if check is not None and value is not None else None
    if problem:
        raise doc.error(kp, problem)
    return value
