"""Config and function-call templates of every planned Dense/Conv layer, written by its kernel.

The config struct is the kernel's own (``config_template`` in ``toolchain/kernels/<name>.py``); the call is
one of the frames of ``nnet_arith_common.h`` around the kernel's struct (``cpp_kernel``); these two hls4ml templates
only fill in the placeholders, as hls4ml's ``core_templates.py`` does for its
layers.  They run after hls4ml's Vivado templates (``Arith4mlBackend._get_layer_templates``)
and so replace them for planned layers.
"""
from __future__ import annotations

from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.model.layers import Conv1D, Conv2D, Dense

from toolchain.backends.exact.dot import plan_arrays
from toolchain.kernels.base import (
    DENSE_STREAM_CALL_TEMPLATE,
    DOT_CONFIG_FIELDS,
    FRAME_CALL_TEMPLATE,
    STREAM_CALL_TEMPLATE,
)
from toolchain.kernels.plan import DotPlan

DOT_CLASSES = (Dense, Conv1D, Conv2D)


def dot_config_params(node, plan: DotPlan) -> dict:
    """Values of the common dot config fields (``DOT_CONFIG_FIELDS``) and the arrays' typedefs."""
    g, fold = plan.geometry, plan.schedule
    params = {name: getattr(g, name) for name in ("in_height", "in_width", "n_chan", "filt_height", "filt_width",
                                                   "out_height", "out_width", "stride_height", "stride_width",
                                                   "pad_top", "pad_left", "pad_bottom", "pad_right")}
    params.update(n_in=plan.n_in, n_out=plan.n_out, acc_width=plan.acc_type_width, acc_frac=plan.acc_frac,
                  raw_width=max(plan.acc_type_width, plan.x_type.width + 1),
                  in_bits=plan.x_type.width, in_signed=str(plan.x_type.signed).lower(),
                  reuse_factor=node.get_attr("reuse_factor", 1), n_fold=fold.steps, fold_in_steps=fold.in_steps,
                  fold_out_steps=fold.out_steps, fold_in=fold.fold_in, fold_out=fold.fold_out,
                  accum_t=node.get_attr("accum_t").name)
    params.update({array.typedef: node.get_weights(array.name).type.name for array in plan_arrays(plan)})
    return params


class ArithDotConfigTemplate(LayerConfigTemplate):
    def __init__(self):
        super().__init__(DOT_CLASSES)
        self.name = "arith_dot_config_template"

    def match(self, node) -> bool:
        return node.get_attr("arith_plan") is not None

    def format(self, node) -> str:
        plan: DotPlan = node.get_attr("arith_plan")
        params = dot_config_params(node, plan)
        params.update(plan.kernel.config_params(plan))
        template = plan.kernel.config_template_for(plan)
        return template.format(index=node.index, dot_config=DOT_CONFIG_FIELDS.format(**params), **params)


class ArithDotFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(DOT_CLASSES, include_header=[])
        self.name = "arith_dot_function_template"

    def match(self, node) -> bool:
        return node.get_attr("arith_plan") is not None

    def transform(self, model, node):
        self.include_header = [node.get_attr("arith_plan").kernel.header]
        return super().transform(model, node)

    def format(self, node) -> str:
        plan: DotPlan = node.get_attr("arith_plan")
        params = self._default_function_params(node)
        params["weights"] = ", ".join(node.get_weights(array.name).name for array in plan_arrays(plan))
        params["kernel"] = plan.kernel.cpp_kernel_for(plan)
        if node.model.config.get_config_value("IOType") != "io_stream":
            return FRAME_CALL_TEMPLATE.format(**params)
        return (DENSE_STREAM_CALL_TEMPLATE if isinstance(node, Dense) else STREAM_CALL_TEMPLATE).format(**params)
