"""The exact fixed-point type of a QKeras activation quantizer, as QKeras computes it (not as hls4ml maps it).

QKeras 0.9 (qkeras/quantizers.py) quantizes an activation ``x`` (float32) as

* ``quantized_bits(bits, integer, symmetric, keep_negative, alpha)``: with ``u = bits - keep_negative`` and
  ``f = u - integer`` fractional bits, ``round_half_even(x * 2**f)`` clipped to ``[-2**u + symmetric, 2**u - 1]``
  (``[0, 2**u - 1]`` without ``keep_negative``);
* ``quantized_relu(bits, integer)`` (``negative_slope = 0``): ``round_half_even(x * 2**(bits - integer))``
  clipped to ``[0, 2**bits - 1]``.

So each is ``ap_[u]fixed<width, integer, AP_RND_CONV, AP_SAT or AP_SAT_SYM>`` exactly.  hls4ml 1.3 maps
``quantized_bits`` to a signed ``AP_SAT`` type whatever ``symmetric`` and ``keep_negative`` say; here they
are honoured.  What no fixed-point type reproduces (a data-dependent or non-unit ``alpha``, stochastic
rounding, ``qnoise_factor < 1``, a sigmoid, a ``relu_upper_bound`` below the type's maximum, a negative
slope) is refused with the reason, for the caller to name the layer.
"""
from __future__ import annotations

from typing import Any

from toolchain.arith.fixed import FixedType

ROUNDING = "AP_RND_CONV"  # tf.round: half to even


def _config(quantizer: Any) -> tuple[str, dict]:
    """(class name, config) of a serialised quantizer or a QKeras quantizer object (hls4ml stores both)."""
    if isinstance(quantizer, dict):
        name = str(quantizer.get("class_name", ""))
        return ("quantized_bits" if name == "linear" else name), dict(quantizer.get("config") or {})
    if hasattr(quantizer, "get_config"):
        return type(quantizer).__name__, dict(quantizer.get_config())
    return type(quantizer).__name__, {}


def exact_type(quantizer: Any) -> tuple[FixedType | None, str | None]:
    """(the exact type, None) of a QKeras activation quantizer, or (None, why no fixed-point type matches it)."""
    name, cfg = _config(quantizer)
    if cfg.get("use_stochastic_rounding"):
        return None, f"{name} with stochastic rounding"
    if float(cfg.get("qnoise_factor", 1.0)) != 1.0:
        return None, f"{name} with qnoise_factor {cfg.get('qnoise_factor')} (it mixes in the unquantized value)"
    bits, integer = int(cfg.get("bits", 0)), int(cfg.get("integer", 0))
    if name == "quantized_bits":
        if cfg.get("alpha") not in (None, 1, 1.0, "1"):
            return None, f"quantized_bits with alpha={cfg.get('alpha')!r} (a data-dependent or non-unit scale)"
        signed = bool(cfg.get("keep_negative", True))
        unsigned_bits = bits - int(signed)
        if unsigned_bits < 1:
            return None, "quantized_bits with fewer than 2 bits (a sign function)"
        overflow = "AP_SAT_SYM" if signed and cfg.get("symmetric") else "AP_SAT"
        return FixedType(bits, integer + int(signed), signed, ROUNDING, overflow), None
    if name == "quantized_relu":
        if cfg.get("use_sigmoid"):
            return None, "quantized_relu with use_sigmoid"
        if float(cfg.get("negative_slope", 0.0)) != 0.0:
            return None, f"quantized_relu with negative_slope {cfg.get('negative_slope')}"
        t = FixedType(bits, integer, False, ROUNDING, "AP_SAT")
        bound = cfg.get("relu_upper_bound")
        if bound is not None and float(bound) < t.max_code * 2.0 ** -t.frac:
            return None, f"quantized_relu with relu_upper_bound {bound} below its largest value"
        return t, None
    return None, f"{name or 'this quantizer'}"
