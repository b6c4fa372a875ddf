"""Conversion between hls4ml precision types and ``toolchain.arith.fixed.FixedType``."""
from __future__ import annotations

from hls4ml.model.types import (
    FixedPrecisionType,
    IntegerPrecisionType,
    RoundingMode,
    SaturationMode,
    UnspecifiedPrecisionType,
)

from toolchain.arith.fixed import FixedType
from toolchain.errors import UnsupportedError


def to_fixed(precision, what: str = "type") -> FixedType:
    """FixedType of an hls4ml Fixed/Integer precision (raises UnsupportedError otherwise)."""
    if isinstance(precision, IntegerPrecisionType):
        return FixedType(precision.width, precision.width, bool(precision.signed))
    if isinstance(precision, FixedPrecisionType):
        rounding = "AP_" + (precision.rounding_mode.name if precision.rounding_mode else "TRN")
        overflow = "AP_" + (precision.saturation_mode.name if precision.saturation_mode else "WRAP")
        return FixedType(precision.width, precision.integer, bool(precision.signed), rounding, overflow)
    raise UnsupportedError(f"{what}: precision {precision} is not a fixed-point type")


def from_fixed(t: FixedType) -> FixedPrecisionType:
    return FixedPrecisionType(t.width, t.integer, t.signed,
                              RoundingMode.from_string(t.rounding), SaturationMode.from_string(t.overflow))


def is_unspecified(precision) -> bool:
    return precision is None or isinstance(precision, UnspecifiedPrecisionType)
