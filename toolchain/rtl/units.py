"""The catalogue of single arithmetic units ``arith4ml rtl-cost --unit NAME[:P1,P2,...]`` can generate and cost.

Each entry names a generator of ``toolchain.rtl`` and its integer parameters in order, so
``roup:2,3`` is ``roup_multiplier(k=2, m=3)``.  The generators validate the values (ArithValueError
naming the parameter and its range); this module only parses the spec.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from toolchain.errors import ArithValueError
from toolchain.rtl.multipliers import exact_multiplier, roup_multiplier
from toolchain.rtl.verilog import RtlUnit


@dataclass(frozen=True)
class UnitKind:
    """A generator of the catalogue: ``params`` are its integer keyword arguments in spec order (all required
    unless ``defaults`` gives them)."""

    name: str
    generator: Callable[..., RtlUnit]
    params: tuple[str, ...]
    description: str
    defaults: tuple[int, ...] = ()

    @property
    def usage(self) -> str:
        return self.name + (":" + ",".join(self.params) if self.params else "")


UNIT_KINDS: dict[str, UnitKind] = {}


def register(kind: UnitKind) -> None:
    """Add ``kind`` to the catalogue (its name must be new)."""
    assert kind.name not in UNIT_KINDS, f"unit kind {kind.name} registered twice"
    UNIT_KINDS[kind.name] = kind


register(UnitKind("exact", exact_multiplier, ("bits",), "exact signed bits x bits multiplier", defaults=(8,)))
register(UnitKind("roup", roup_multiplier, ("k", "m"), "ROUP(k, m) approximate 8x8 multiplier (MAx-DNN)"))


def parse_unit(spec: str) -> RtlUnit:
    """The unit a spec ``NAME`` or ``NAME:P1,P2,...`` names (integers), generated.  ArithValueError on an unknown
    name, a wrong parameter count, a non-integer, or a value the generator refuses."""
    name, _, rest = spec.strip().partition(":")
    kind = UNIT_KINDS.get(name.lower())
    if kind is None:
        raise ArithValueError(f"unit '{name}' is not known; choose one of: "
                              f"{', '.join(k.usage for k in UNIT_KINDS.values())}")
    texts = [t.strip() for t in rest.split(",")] if rest.strip() else []
    n_required = len(kind.params) - len(kind.defaults)
    if not n_required <= len(texts) <= len(kind.params):
        raise ArithValueError(f"unit '{spec}': {kind.name} takes {kind.usage} ({kind.description})")
    values: list[int] = []
    for pname, text in zip(kind.params, texts):
        try:
            values.append(int(text, 0))
        except ValueError:
            raise ArithValueError(f"unit '{spec}': {pname}={text!r} is not an integer") from None
    values += list(kind.defaults[len(values) - n_required:]) if len(values) < len(kind.params) else []
    return kind.generator(**dict(zip(kind.params, values)))


__all__ = ["UNIT_KINDS", "UnitKind", "parse_unit", "register"]
