"""``arith_final_softmax``: only a final softmax may go, and only through hls4ml's own ``Skip``.

The arith4ml backends default hls4ml's ``Skip`` attribute of ``Softmax`` to True
(``toolchain.backends.attributes``), and hls4ml's ``skip_softmax`` pass, which
runs right after this one, removes every softmax marked so: the project outputs
logits, because softmax tables are not modelled by the reference.  hls4ml would
remove an inner softmax as well, changing what the network computes; this pass
refuses that, and refuses a final softmax the user wants kept (``Skip: false``).
``Softmax: logits`` (arith4ml's earlier key) is accepted as an alias of ``Skip: true``.
"""
from __future__ import annotations

from hls4ml.model.layers import Softmax
from hls4ml.model.optimizer import OptimizerPass

from toolchain.errors import UnsupportedError

LEGACY_KEY = "Softmax"  # the old layer config key ('Softmax: logits'); read from the config, since a node's
# attributes also hold its output variables by name and a softmax layer is often called 'softmax'


class ArithFinalSoftmax(OptimizerPass):
    def match(self, node) -> bool:
        return isinstance(node, Softmax) and not node.get_attr("arith_softmax_checked")

    def transform(self, model, node) -> bool:
        legacy = (model.config.get_layer_config(node) or {}).get(LEGACY_KEY)
        if legacy is not None and str(legacy).lower() != "logits":
            raise UnsupportedError(f"layer {node.name}: Softmax '{legacy}': softmax tables are not modelled by the "
                                   "reference; leave 'Skip: true' (the default) and apply softmax on the host",
                                   layer=node.name, key="Softmax")
        final = any(out in model.outputs for out in node.outputs)
        if not final:
            raise UnsupportedError(f"layer {node.name}: a softmax inside the network is not supported (softmax "
                                   "tables are not modelled by the reference); only a final softmax is removed",
                                   layer=node.name)
        if legacy is not None:
            node.set_attr("skip", True)
        if not node.get_attr("skip", True):
            raise UnsupportedError(f"layer {node.name}: Skip: false keeps the softmax, whose tables are not modelled "
                                   "by the reference; leave 'Skip: true' (the default: logits) and apply softmax on "
                                   "the host", layer=node.name, key="Skip")
        node.set_attr("arith_softmax_checked", True)
        return False
