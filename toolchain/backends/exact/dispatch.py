"""``exact_type(node)``: the exact-types rule of each layer class, dispatched on hls4ml's layer classes.

As hls4ml's ``bit_exact`` pass does, one generic function with one registration
per layer class (``functools.singledispatch``; the backend-wrapped classes hls4ml
creates are subclasses, so they dispatch to their base's rule).  Each rule sets
the node's exact result type (and for Dense/Conv its plan); the modules beside
this one register the rules, one concern each.
"""
from __future__ import annotations

from functools import singledispatch

from toolchain.errors import UnsupportedError

# What the rules cover, for the message of an unsupported layer (kept beside the dispatch it describes)
SUPPORTED = ("Dense", "Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D", "Activation (relu, linear)",
             "BatchNormalization", "QBatchNormalization", "ApplyAlpha", "MaxPooling1D/2D",
             "AveragePooling1D/2D and GlobalAverage/MaxPooling1D/2D (power-of-two windows)", "Flatten",
             "ZeroPadding1D/2D", "Add", "Dropout (removed)", "a final Softmax (removed: logits)")


@singledispatch
def exact_type(node) -> None:
    """Set the exact result type of ``node`` (and plan it, for Dense/Conv); UnsupportedError for other layers."""
    raise UnsupportedError(f"layer {node.name} of type {node.class_name} is not supported by the "
                           f"{node.model.config.backend.name} backend; supported: {', '.join(SUPPORTED)}",
                           layer=node.name)
