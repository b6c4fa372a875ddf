"""The ``arith4ml explore`` YAML config: keys, defaults and checks (one-line ``FILE:LINE: key.path: message`` errors).

A minimal config names only the trained model; every other key has a default::

    model: ../runs/cnn8/model.h5          # relative to this file
    data: digits                          # digits | FILE.npz | {name: npz, path: ..., seed: ...} as in train
    calibration: 200                      # samples drawn (seeded) from the training split
    test_samples: 450                     # left out: the whole test split
    layers: [conv1, conv2]                # left out: every Dense/Conv2D layer
    granularities: [layer, filter, kernel]
    multipliers: [exact, "roup(1,2)", "roup(2,3)", "roup(2,5)", "roup(3,4)"]  # the ladder, least to most aggressive
    levels: [1, 2, 3, 4]                    # top ladder levels swept; left out: 1 .. len(multipliers) - 1
    fractions: [0.25, 0.5, 0.75, 0.9, 1.0]  # share of the products given an approximate multiplier
    budget: 2.0                           # accuracy loss (points) allowed for best.yml
    seed: 0
    output: runs/explore                  # or -o; left out: runs/<config name>

The sweep is ``granularities x levels x fractions`` (see :mod:`toolchain.explore` for what a point is).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from toolchain import yamlfile
from toolchain.arith import approx as ax
from toolchain.errors import Arith4mlError, ConfigError
from toolchain.train_config import SEED, DataSection, _key, _read_section, at_least
from toolchain.yamlfile import YamlFile

GRANULARITIES = ("layer", "filter", "kernel")
DEFAULT_LADDER = ("exact", "roup(1,2)", "roup(2,3)", "roup(2,5)", "roup(3,4)")
DEFAULT_FRACTIONS = (0.25, 0.5, 0.75, 0.9, 1.0)
OUTPUT_ROOT = "runs"
MAX_LADDER = 36  # one base-36 character per unit in points.csv's assignment column


def _config_dir(doc: YamlFile) -> Path:
    return Path(os.path.abspath(doc.path)).parent if doc.path else Path.cwd()


def _model(doc: YamlFile, kp: tuple, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise doc.error(kp, f"must be the path of a trained Keras model (.h5), got {value!r}")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else _config_dir(doc) / path
    if not path.is_file():
        raise doc.error(kp, f"model file '{path}' does not exist")
    return str(path)


def _data(doc: YamlFile, kp: tuple, value) -> DataSection:
    """``digits``, a ``.npz`` path, or a mapping with the keys of ``arith4ml train``'s data section."""
    if isinstance(value, str):
        value = {"name": "npz", "path": value} if value.lower().endswith(".npz") else {"name": value}
    if not isinstance(value, dict):
        raise doc.error(kp, f"must be 'digits', a .npz path or a mapping like train's data section, got {value!r}")
    if "view" in value:
        raise doc.error(kp + ("view",), "is taken from the model's input shape; leave it out")
    section = _read_section(doc, DataSection, value, kp)
    if section.path is not None:
        near = _config_dir(doc) / Path(section.path).expanduser()
        path = near if near.exists() or not Path(section.path).exists() else Path(section.path)
        if not path.is_file():
            raise doc.error(kp + (("path",) if "path" in value else ()), f"data file '{path}' does not exist")
        section = replace(section, path=str(path))
    return section


def _list(doc: YamlFile, kp: tuple, value, what: str) -> list:
    if not isinstance(value, list):
        raise doc.error(kp, f"must be a list of {what}, got {value!r}")
    if not value:
        raise doc.error(kp, f"is empty: the sweep has no points (give at least one of {what})")
    return value


def _granularities(doc: YamlFile, kp: tuple, value) -> tuple[str, ...]:
    value = _list(doc, kp, [value] if isinstance(value, str) else value, "layer, filter, kernel")
    for i, g in enumerate(value):
        if g not in GRANULARITIES:
            raise doc.error(kp + (i,), f"unknown granularity {g!r} (known: {', '.join(GRANULARITIES)})")
        if g in value[:i]:
            raise doc.error(kp + (i,), f"granularity {g!r} given twice")
    return tuple(value)


def _ladder(doc: YamlFile, kp: tuple, value) -> tuple[str, ...]:
    value = _list(doc, kp, value, "multiplier specs")
    if len(value) < 2:
        raise doc.error(kp, "needs at least two multipliers: the one of unselected units (usually 'exact') and "
                            "one approximate multiplier")
    if len(value) > MAX_LADDER:
        raise doc.error(kp, f"has {len(value)} multipliers; at most {MAX_LADDER}")
    specs = []
    for i, spec in enumerate(value):
        if not isinstance(spec, str):
            raise doc.error(kp + (i,), f"must be a spec string ({ax.SPEC_HELP}), got {spec!r}")
        try:
            mult = ax.multiplier_from_spec(spec, _config_dir(doc))
        except Arith4mlError as exc:
            raise doc.error(kp + (i,), str(exc)) from None
        specs.append(canonical_spec(spec, mult, _config_dir(doc)))
    for i, s in enumerate(specs):
        if s in specs[:i]:
            raise doc.error(kp + (i,), f"multiplier {value[i]!r} is in the ladder twice")
    return tuple(specs)


def canonical_spec(spec: str, mult: ax.Multiplier, base_dir: Path) -> str:
    """The spec string written to points.csv and best.yml: ``roup(K,M)`` / ``exact`` for ROUP, ``roup_table:K:M``
    as given, a ``table:FILE`` with FILE made absolute (best.yml may be read from another directory)."""
    text = spec.strip()
    if text.lower().startswith("table:"):
        path = Path(text[len("table:"):].strip()).expanduser()
        return f"table:{path if path.is_absolute() else (base_dir / path).resolve()}"
    if text.lower().startswith("roup_table:"):
        return text.lower().replace(" ", "")
    return ax.multiplier_spec(mult)


def _levels(doc: YamlFile, kp: tuple, value) -> tuple[int, ...] | None:
    if value is None:
        return None
    value = _list(doc, kp, [value] if isinstance(value, int) and not isinstance(value, bool) else value,
                  "ladder levels (integers >= 1)")
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise doc.error(kp + (i,), f"must be a ladder level >= 1 (an index into multipliers), got {v!r}")
    return tuple(dict.fromkeys(value))


def _fractions(doc: YamlFile, kp: tuple, value) -> tuple[float, ...]:
    value = _list(doc, kp, value, "fractions in (0, 1]")
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
            raise doc.error(kp + (i,), f"must be a fraction in (0, 1] (share of the products), got {v!r}")
    return tuple(dict.fromkeys(float(v) for v in value))


def _names(doc: YamlFile, kp: tuple, value) -> tuple[str, ...] | None:
    if value is None:
        return None
    value = _list(doc, kp, [value] if isinstance(value, str) else value, "layer names")
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise doc.error(kp + (i,), f"must be a layer name, got {v!r}")
    return tuple(dict.fromkeys(value))


@dataclass(frozen=True, kw_only=True)
class ExploreConfig:
    """A whole explore config file (see the module docstring)."""

    model: str = _key(parse=_model, example="runs/cnn8/model.h5")
    data: Any = _key(DataSection(), parse=_data)
    calibration: int = _key(200, at_least(1))
    test_samples: int | None = _key(None, at_least(1))
    layers: Any = _key(None, parse=_names)
    granularities: Any = _key(GRANULARITIES, parse=_granularities)
    multipliers: Any = _key(DEFAULT_LADDER, parse=_ladder)
    levels: Any = _key(None, parse=_levels)
    fractions: Any = _key(DEFAULT_FRACTIONS, parse=_fractions)
    budget: float = _key(2.0, at_least(0))
    seed: int = _key(0, SEED)
    output: str | None = None
    source: YamlFile = field(default_factory=YamlFile, repr=False, compare=False, metadata={"yaml": False})

    def __post_init__(self):
        if self.levels is None:
            object.__setattr__(self, "levels", tuple(range(1, len(self.multipliers))))

    def problem(self):
        for i, lv in enumerate(self.levels):
            if lv >= len(self.multipliers):
                return ("levels", i), (f"level {lv} is past the ladder: multipliers has {len(self.multipliers)} "
                                       f"entries (levels 1..{len(self.multipliers) - 1})")
        return None

    @property
    def path(self) -> str:
        return self.source.path or "config"

    @property
    def base_dir(self) -> Path:
        return _config_dir(self.source)

    def error(self, keys: tuple, message: str, cls: type[Arith4mlError] = ConfigError) -> Arith4mlError:
        """``FILE:LINE: key.path: message`` for a problem found after loading (e.g. a layer the model lacks)."""
        return self.source.error(keys, message, cls)

    def output_dir(self, override: str | os.PathLike | None = None) -> Path:
        """``-o``, else the ``output`` key, else ``runs/<config name>``."""
        return Path(override or self.output or Path(OUTPUT_ROOT) / Path(self.path).stem)

    @property
    def n_points(self) -> int:
        """Sweep points, the all-exact baseline not counted."""
        return len(self.granularities) * len(self.levels) * len(self.fractions)


def load_config(path: str | os.PathLike) -> ExploreConfig:
    """Read and check an explore config; one-line ConfigError ``FILE:LINE: key.path: message`` if bad."""
    doc = yamlfile.load(path, expected="a mapping with model, data, multipliers, fractions, ...")
    return _read_section(doc, ExploreConfig, doc.data, (), source=doc)
