"""ReLU function-call template: arith4ml's exact ``nnet::arith::relu`` in place of hls4ml's.

Both compute ``res_T(x > 0 ? x : 0)``; ours lets C-simulation take the native
fast path of ``nnet_arith_common.h`` (hls4ml's goes through ap_fixed
conversions, a third of the C-sim time of a PoT MLP).  io_stream keeps
hls4ml's stream relu.  Vivado's activation config struct is reused unchanged.
"""
from __future__ import annotations

from hls4ml.backends.template import FunctionCallTemplate
from hls4ml.model.layers import Activation

RELU_FUNCTION_TEMPLATE = "nnet::arith::relu<{input_t}, {output_t}, {activation}_config{index}>({input}, {output});"


class ArithReluFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(Activation, include_header=["nnet_utils/nnet_activation.h", "nnet_utils/nnet_arith_common.h"])
        self.name = "arith_relu_function_template"

    def match(self, node) -> bool:
        return (super().match(node) and str(node.get_attr("activation", "")).lower() == "relu"
                and node.model.config.get_config_value("IOType") == "io_parallel")

    def format(self, node) -> str:
        params = self._default_function_params(node)
        return RELU_FUNCTION_TEMPLATE.format(**params)  # params hold the node attributes: activation, index
