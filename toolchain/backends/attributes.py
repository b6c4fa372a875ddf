"""arith4ml's config keys as hls4ml layer attributes, and their lookup.

``Arithmetic`` (a ``ChoiceAttribute`` of the backend's arithmetics) and every
kernel option (``NK``, ``Moduli``, ``Reverse``, ...) are registered on the dot
layers (Dense, Conv1D, Conv2D and their subclasses) like hls4ml's own
``ReuseFactor`` or ``ConvImplementation``, so ``config_from_keras_model(...,
backend=...)``, ``LayerName``/``LayerType`` configs and hls4ml's attribute
checks treat them as any other.

Lookup is LayerName -> LayerType -> Model -> the key's automatic choice, with
hls4ml's ``'auto'`` convention (as for ``Precision``): every key's attribute
default is ``'auto'``, so ``config_from_keras_model(..., granularity='name')``
writes ``Arithmetic: auto`` (and ``Moduli: auto``, ``NK: auto``, ...) into each
dot layer's config, where a user sees and edits them.  Two deviations from
hls4ml's configurable attributes, on purpose:

* ``auto`` in a layer's config means "as ``Model`` says, else automatic".  A
  plain hls4ml default in every generated layer config would hide a
  ``Model``-level value (hls4ml special-cases ``ReuseFactor`` and ``Strategy``
  in its config lookups for the same reason);
* all are ``ConfigurableAttribute`` accepting any value, checked by us
  (:func:`option_value`), also those with a fixed set of choices.  hls4ml checks
  a ``ChoiceAttribute`` (and a typed attribute) while parsing the model and
  raises a bare ``Exception`` that names the expected *type* (``list``) rather
  than the choices; ours name the layer, the key and the values the backend
  offers, accept any case (``Bitshift``) and accept tuples where lists are meant.

The final softmax: the backends set hls4ml's own ``Skip`` attribute of
``Softmax`` to True by default, so hls4ml's ``skip_softmax`` pass removes a
final softmax and the project outputs logits (softmax tables are not modelled
by the reference); ``passes/final_softmax.py`` refuses any other softmax.
"""
from __future__ import annotations

from typing import Any

from hls4ml.model.attributes import ConfigurableAttribute
from hls4ml.model.layers import Conv1D, Conv2D, Dense, Softmax

from toolchain.errors import ArithValueError, UnsupportedError
from toolchain.kernels import Option
from toolchain.kernels.base import AUTO

DOT_LAYERS = (Dense, Conv1D, Conv2D)
SOFTMAX_SKIP_DESCRIPTION = ("Remove this softmax and output logits (arith4ml default: softmax tables are not "
                            "modelled by the reference; only a final softmax may be removed)")


def arithmetic_option(arithmetics: tuple[str, ...]) -> Option:
    """The ``Arithmetic`` key of a backend offering ``arithmetics`` (``'auto'`` first)."""
    return Option("arithmetic", "Arithmetic", "arith4ml datapath of the layer: " + ", ".join(arithmetics),
                  choices=arithmetics, default=AUTO, check=_lower)


def _lower(value: Any) -> str:
    return str(value).strip().lower()


def hls4ml_attribute(option: Option) -> ConfigurableAttribute:
    """The hls4ml attribute of ``option``: any value, default 'auto' (see the module docstring)."""
    return ConfigurableAttribute(option.name, value_type=object, default=AUTO, description=option.description)


def is_auto(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() == AUTO)


def register_attributes(attribute_map: dict, options: tuple[Option, ...]) -> None:
    """Add ``options`` to the dot layers of a backend's ``attribute_map`` and default Softmax ``Skip`` to True."""
    for layer in DOT_LAYERS:
        attrs = attribute_map.setdefault(layer, [])
        attrs.extend(hls4ml_attribute(o) for o in options)
    softmax = attribute_map.setdefault(Softmax, [])
    softmax[:] = [a for a in softmax if a.name != "skip"]
    softmax.append(ConfigurableAttribute("skip", value_type=bool, default=True,
                                         description=SOFTMAX_SKIP_DESCRIPTION))


def option_value(node, option: Option) -> Any:
    """The layer's value of ``option``: the first that is not 'auto' of LayerName (the node's attribute, which
    hls4ml merged from LayerName over LayerType), what the Keras layer itself says (``option.from_layer``, set by
    a layer handler), LayerType, Model, what the layer's weight quantizer says
    (if the option reads one), ``option.default`` (None: the kernel chooses).

    The value is checked and normalised by ``option.check``; a bad value raises UnsupportedError naming
    the layer and the key.
    """
    hls_config = node.model.config.config.get("HLSConfig", {})
    scopes = ((hls_config.get("LayerType") or {}).get(node.class_name), hls_config.get("Model"))
    value = node.get_attr(option.name)
    if is_auto(value) and option.from_layer is not None:
        value = node.get_attr(option.from_layer)
    for scope in scopes:
        if is_auto(value):
            value = (scope or {}).get(option.config_name)
    if is_auto(value) and option.from_quantizer is not None:
        value = option.from_quantizer(node.get_attr("weight_quantizer"))
    if is_auto(value):
        value = option.default
    if value is None:
        return None
    try:
        return checked_value(option, value, node.model.config.backend.name)
    except ArithValueError as exc:
        raise UnsupportedError(f"layer {node.name}: {exc}", layer=node.name, key=option.config_name) from None


def checked_value(option: Option, value: Any, backend: str) -> Any:
    """``value`` checked and normalised by ``option.check`` and its choices; ArithValueError names the key."""
    value = option.check(value) if option.check is not None else value
    if option.choices is not None and value not in option.choices:
        raise ArithValueError(f"{option.config_name} '{value}' is not offered by the {backend} backend; choose one "
                              f"of {', '.join(option.choices)}", key=option.config_name)
    return value
