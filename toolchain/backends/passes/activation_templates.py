"""ReLU function-call template: arith4ml's exact ``nnet::arith::relu`` in place of hls4ml's.

Both compute ``res_T(x > 0 ? x : 0)``; ours lets C-simulation take the native
fast path of ``nnet_arith_common.h`` (hls4ml's goes through ap_fixed
conversions, a third of the C-sim time of a PoT MLP).  io_stream keeps
hls4ml's stream relu.  Vivado's activation config struct is reused unchanged.
"""
from __future__ import annotations

from hls4ml.backends.template import FunctionCallTemplate
from hls4ml.model.layers import Activation


class ArithReluFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(Activation, include_header=["nnet_utils/nnet_activation.h", "nnet_utils/nnet_arith_common.h"])
        self.name = "arith_relu_function_template"

    def match(self, node) -> bool:
        return (super().match(node) and str(node.get_attr("activation", "")).lower() == "relu"
                and node.model.config.get_config_value("IOType") == "io_parallel")

    def format(self, node) -> str:
        params = self._default_function_params(node)
        config = f"{node.get_attr('activation')}_config{node.index}"
        return (f"nnet::arith::relu<{params['input_t']}, {params['output_t']}, {config}>"
                f"({params['input']}, {params['output']});")
