"""Types of an hls4ml node as ``FixedType``s, and the rule for which types the user has forced."""
from __future__ import annotations

from toolchain.arith.fixed import FixedType
from toolchain.backends.hls_types import from_fixed, is_unspecified, to_fixed
from toolchain.errors import UnsupportedError


def input_type(node, i: int = 0) -> FixedType:
    """Type of the node's ``i``-th input."""
    var = node.get_input_variable(node.inputs[i])
    return to_fixed(var.type.precision, f"input of layer {node.name}")


def user_forced(node, key: str = "result") -> bool:
    """True if the layer's own config sets Precision[key] (not 'auto').

    hls4ml's early ``infer_precision_types`` fills 'auto' types with guesses
    (e.g. accum = fixed<16,6>), so the type on the node cannot tell us; the
    config can.  Model-level defaults do not count as forcing a layer.
    """
    cfg = node.model.config.get_layer_config(node) or {}
    precision = cfg.get("Precision")
    value = precision.get(key) if isinstance(precision, dict) else (precision if key == "result" else None)
    return value is not None and str(value).strip().lower() != "auto"


def forced_result_type(node) -> FixedType | None:
    """The layer's result type if the user forced it, else None (infer exactly)."""
    if not user_forced(node, "result"):
        return None
    return to_fixed(node.get_output_variable().type.precision, f"result of layer {node.name}")


def set_if_unspecified(node, t: FixedType) -> None:
    """Give the layer the exact type ``t`` unless its result type was forced by the user or a quantizer."""
    if not user_forced(node, "result") or is_unspecified(node.get_output_variable().type.precision):
        node.get_output_variable().type.precision = from_fixed(t)


def fixed_or_none(precision) -> FixedType | None:
    """``precision`` as a FixedType, or None if it is unspecified or not fixed point."""
    try:
        return None if is_unspecified(precision) else to_fixed(precision)
    except UnsupportedError:
        return None


def allow_inexact(node) -> bool:
    """Whether the user accepts hls4ml's approximation where QKeras cannot be matched exactly (``AllowInexact``
    in the layer's config or in ``Model``)."""
    cfg = node.model.config.get_layer_config(node) or {}
    value = cfg.get("AllowInexact", (node.model.config.config.get("HLSConfig", {}).get("Model") or {}).get(
        "AllowInexact", False))
    return value is True or str(value).strip().lower() in ("true", "yes", "1")
