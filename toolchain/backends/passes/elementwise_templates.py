"""BatchNorm/ApplyAlpha and Add function-call templates: arith4ml's exact ``nnet::arith`` versions in place of
hls4ml's ``normalize`` and ``add`` (io_parallel).

Both compute what hls4ml's do (``x * scale + bias`` per channel, ``a + b``: the exact ap_fixed value, one cast to
the result type); ours let C-simulation take the native fast path of ``nnet_arith_common.h`` (hls4ml's go
through ap_fixed arithmetic: on a ResNet-8-style CNN they were most of the C-sim time).  Vivado's config
structs are reused unchanged; io_stream keeps hls4ml's stream versions.
"""
from __future__ import annotations

from hls4ml.backends.template import FunctionCallTemplate
from hls4ml.model.layers import ApplyAlpha, BatchNormalization, Merge

NORMALIZE_TEMPLATE = "nnet::arith::normalize<{input_t}, {output_t}, {config}>({input}, {output}, {scale}, {bias});"
ADD_TEMPLATE = "nnet::arith::add<{input1_t}, {input2_t}, {output_t}, {config}>({input1}, {input2}, {output});"
ARITH_HEADER = "nnet_utils/nnet_arith_common.h"  # beside hls4ml's, which declare the config structs we reuse


def _io_parallel(node) -> bool:
    return node.model.config.get_config_value("IOType") == "io_parallel"


class ArithBatchNormFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__((BatchNormalization, ApplyAlpha), include_header=["nnet_utils/nnet_batchnorm.h", ARITH_HEADER])
        self.name = "arith_batchnorm_function_template"

    def match(self, node) -> bool:
        return super().match(node) and _io_parallel(node)

    def format(self, node) -> str:
        params = self._default_function_params(node)
        params.update(scale=node.get_weights("scale").name, bias=node.get_weights("bias").name)
        return NORMALIZE_TEMPLATE.format(**params)


class ArithAddFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(Merge, include_header=["nnet_utils/nnet_merge.h", ARITH_HEADER])
        self.name = "arith_add_function_template"

    def match(self, node) -> bool:
        return super().match(node) and _io_parallel(node) and str(node.get_attr("op", "")).lower() == "add"

    def format(self, node) -> str:
        params = self._default_function_params(node)
        params.update(input1=node.get_input_variable(node.inputs[0]).name,
                      input2=node.get_input_variable(node.inputs[1]).name,
                      input1_t=node.get_input_variable(node.inputs[0]).type.name,
                      input2_t=node.get_input_variable(node.inputs[1]).type.name)
        return ADD_TEMPLATE.format(**params)
