"""The catalogue of single arithmetic units ``arith4ml rtl-cost --unit NAME[:P1,P2,...]`` can generate and cost.

Each entry names a generator of ``toolchain.rtl`` and its integer parameters in order, so
``roup:2,3`` is ``roup_multiplier(k=2, m=3)``.  The generators validate the values (ArithValueError
naming the parameter and its range); this module only parses the spec.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from toolchain.errors import ArithValueError
from toolchain.rtl.essop import essop_array, essop_lfsr, exact_outer_product
from toolchain.rtl.multipliers import exact_multiplier, roup_multiplier
from toolchain.rtl.nk import nk_decoder
from toolchain.rtl.rns import rns_channel, rns_forward, rns_reverse
from toolchain.rtl.verilog import RtlUnit

CATALOGUE_SEED = 0  # the constant weights of catalogue units that need some (rns-channel) are drawn from this seed


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


def _family(n: int) -> tuple[int, ...]:
    from toolchain.arith import rns

    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 20:
        raise ArithValueError(f"RNS family exponent n={n!r} out of range: an integer in 2..20 (moduli 2^n-1, 2^n, "
                              "2^n+1)")
    return rns.moduli_family(n)


def _rns_forward(n: int, width: int) -> RtlUnit:
    return rns_forward(_family(n), width)


def _rns_crt(n: int) -> RtlUnit:
    return rns_reverse(_family(n), "crt")


def _rns_mrc(n: int) -> RtlUnit:
    return rns_reverse(_family(n), "mrc")


def _rns_channel(modulus: int, terms: int) -> RtlUnit:
    if isinstance(terms, bool) or not isinstance(terms, int) or not 1 <= terms <= 4096:
        raise ArithValueError(f"rns-channel terms={terms!r} out of range: an integer in 1..4096")
    if isinstance(modulus, bool) or not isinstance(modulus, int) or modulus < 2:
        raise ArithValueError(f"rns-channel modulus={modulus!r} out of range: an integer >= 2")
    weights = np.random.default_rng(CATALOGUE_SEED).integers(1, modulus, size=terms)  # non-zero: every term built
    return rns_channel(modulus, [int(w) for w in weights])


def _essop(bl: int, n_in: int, n_out: int, width: int) -> RtlUnit:
    return essop_array(n_in=n_in, n_out=n_out, bl=bl, width=width)


register(UnitKind("rns-forward", _rns_forward, ("n", "width"), "binary -> residues of (2^n-1, 2^n, 2^n+1)",
                  defaults=(8,)))
register(UnitKind("rns-crt", _rns_crt, ("n",), "residues of (2^n-1, 2^n, 2^n+1) -> binary, division-free CRT"))
register(UnitKind("rns-mrc", _rns_mrc, ("n",), "residues of (2^n-1, 2^n, 2^n+1) -> binary, mixed radix"))
register(UnitKind("rns-channel", _rns_channel, ("modulus", "terms"),
                  "modular MAC channel, `terms` random non-zero constant weight residues (seed 0)"))
register(UnitKind("nk-decoder", nk_decoder, ("n", "k"), "(N,k) ternary group decoder: code -> N weights",
                  defaults=(8, 2)))
register(UnitKind("lfsr", essop_lfsr, ("width",), "ESSOP leap-forward LFSR, one random number a clock",
                  defaults=(16,)))
register(UnitKind("essop", _essop, ("bl", "n_in", "n_out", "width"),
                  "ESSOP update array (n_out x n_in cells, shared LFSRs and comparators), BL clocks an update",
                  defaults=(64, 1, 1, 8)))
register(UnitKind("outer", exact_outer_product, ("n_in", "n_out"),
                  "exact registered 8x8 outer-product array (the ESSOP baseline)", defaults=(1, 1)))


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
