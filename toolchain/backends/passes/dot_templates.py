"""Config and function-call templates of the arith4ml dot-product kernels.

They format the :class:`~toolchain.backends.plan.DotPlan` that ``exact_types``
stored on the node.  They run after hls4ml's Vivado templates (see
``Arith4mlBackend._get_layer_templates``) and so replace them for planned layers.
"""
from __future__ import annotations

from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.model.layers import Conv1D, Conv2D, Dense

from toolchain.arith import rns, ternary
from toolchain.backends.plan import DotPlan

DOT_CLASSES = (Dense, Conv1D, Conv2D)
INCLUDES = {"shift": "nnet_utils/nnet_bitshift.h", "nk": "nnet_utils/nnet_bitshift.h",
            "mult": "nnet_utils/nnet_arith_common.h", "rns": "nnet_utils/nnet_rns.h"}
KERNEL_STRUCT = {"shift": "nnet::arith::shift_kernel", "nk": "nnet::arith::nk_kernel", "mult": "nnet::arith::mult_kernel"}
WEIGHT_ARGS = {"shift": ("arith_shift", "arith_sign"), "nk": ("arith_code", "arith_pattern", "arith_shift"),
               "mult": ("arith_weight",), "rns": ("arith_residue",)}


def _type_name(node, var: str) -> str:
    return node.get_weights(var).type.name


def _geometry_lines(plan: DotPlan) -> list[str]:
    g = plan.geometry
    return [
        f"static const unsigned in_height = {g.in_height}, in_width = {g.in_width}, n_chan = {g.n_chan};",
        f"static const unsigned filt_height = {g.filt_height}, filt_width = {g.filt_width};",
        f"static const unsigned out_height = {g.out_height}, out_width = {g.out_width};",
        f"static const unsigned stride_height = {g.stride_height}, stride_width = {g.stride_width};",
        f"static const unsigned pad_top = {g.pad_top}, pad_left = {g.pad_left};",
        f"static const unsigned n_in = {plan.n_in}, n_out = {plan.n_out};",
        f"static const int acc_width = {plan.acc_type_width}, acc_frac = {plan.acc_frac};",
        f"static const int raw_width = {max(plan.acc_type_width, plan.x_type.width + 1)};",
        f"static const bool in_signed = {str(plan.x_type.signed).lower()};",
    ]


def _rns_lines(plan: DotPlan) -> list[str]:
    moduli = plan.moduli
    big_m = rns.dynamic_range(moduli)
    residue_width = max(m - 1 for m in moduli).bit_length()
    channel_width = (plan.n_in * max(m - 1 for m in moduli) ** 2).bit_length() + 1
    crt = [(big_m // m) * pow(big_m // m, -1, m) % big_m for m in moduli]
    reverse_width = (len(moduli) * max(moduli) * big_m).bit_length() + 1
    mods = ", ".join(f"{m}ULL" for m in moduli)
    crts = ", ".join(f"{c}ULL" for c in crt)
    inv = [[pow(moduli[i], -1, moduli[j]) if i < j else 0 for j in range(len(moduli))] for i in range(len(moduli))]
    invs = ", ".join(str(v) for row in inv for v in row)
    if reverse_width > 64:
        crt_fn = ("static ap_uint<reverse_width> crt_coef(unsigned j) { "
                  f"static const char *c[n_mod] = {{{', '.join(chr(34) + str(c) + chr(34) for c in crt)}}}; "
                  "return ap_uint<reverse_width>(c[j], 10); }")
        m_fn = f"static ap_uint<reverse_width> range_M() {{ return ap_uint<reverse_width>(\"{big_m}\", 10); }}"
    else:
        crt_fn = f"static unsigned long long crt_coef(unsigned j) {{ static const unsigned long long c[n_mod] = {{{crts}}}; return c[j]; }}"
        m_fn = f"static unsigned long long range_M() {{ return {big_m}ULL; }}"
    return [
        f"static const unsigned n_mod = {len(moduli)};",
        f"static const int residue_width = {residue_width}, channel_width = {channel_width}, reverse_width = {reverse_width};",
        f"static const bool use_crt = {str(plan.reverse == 'crt').lower()};",
        f"static const int post_shift = {plan.pre_shift};",
        f"static unsigned long long modulus(unsigned j) {{ static const unsigned long long m[n_mod] = {{{mods}}}; return m[j]; }}",
        crt_fn,
        m_fn,
        f"static unsigned mrc_inverse(unsigned i, unsigned j) {{ static const unsigned v[n_mod * n_mod] = {{{invs}}}; return v[i * n_mod + j]; }}",
    ]


class ArithDotConfigTemplate(LayerConfigTemplate):
    def __init__(self):
        super().__init__(DOT_CLASSES)
        self.name = "arith_dot_config_template"

    def match(self, node) -> bool:
        return node.get_attr("arith_plan") is not None

    def format(self, node) -> str:
        plan: DotPlan = node.get_attr("arith_plan")
        base = {"rns": "nnet::arith::rns_config", "mult": "nnet::arith::dot_config"}.get(plan.kind,
                                                                                    "nnet::arith::bitshift_config")
        lines = _geometry_lines(plan)
        lines.append(f"static const unsigned reuse_factor = {node.get_attr('reuse_factor', 1)};")
        lines.append(f"typedef {node.get_attr('accum_t').name} accum_t;")
        lines.append(f"typedef {_type_name(node, 'arith_bias')} bias_t;")
        if plan.kind == "shift":
            lines += [f"typedef {_type_name(node, 'arith_shift')} shift_t;", f"typedef {_type_name(node, 'arith_sign')} sign_t;"]
        elif plan.kind == "nk":
            n_groups = -(-plan.n_in // plan.nk[0])
            lines += [f"static const unsigned group_size = {plan.nk[0]}, n_groups = {n_groups}, "
                      f"n_patterns = {ternary.n_patterns(*plan.nk)};",
                      f"typedef {_type_name(node, 'arith_code')} code_t;",
                      f"typedef {_type_name(node, 'arith_pattern')} pattern_t;",
                      f"typedef {_type_name(node, 'arith_shift')} shift_t;"]
        elif plan.kind == "mult":
            lines.append(f"typedef {_type_name(node, 'arith_weight')} weight_t;")
        else:
            lines += _rns_lines(plan)
            lines.append(f"typedef {_type_name(node, 'arith_residue')} residue_t;")
        body = "\n".join("    " + line for line in lines)
        return f"struct config{node.index} : {base} {{\n{body}\n}};\n"


class ArithDotFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(DOT_CLASSES, include_header=[])
        self.name = "arith_dot_function_template"

    def match(self, node) -> bool:
        return node.get_attr("arith_plan") is not None

    def transform(self, model, node):
        plan: DotPlan = node.get_attr("arith_plan")
        self.include_header = [INCLUDES[plan.kind]]
        return super().transform(model, node)

    def format(self, node) -> str:
        plan: DotPlan = node.get_attr("arith_plan")
        params = self._default_function_params(node)
        stream = node.model.config.get_config_value("IOType") == "io_stream"
        weights = ", ".join(node.get_weights(v).name for v in ("arith_bias",) + WEIGHT_ARGS[plan.kind])
        targs = f"{params['input_t']}, {params['output_t']}, {params['config']}"
        if plan.kind == "rns":
            layer, parallel = "nnet::arith::rns_layer", f"nnet::arith::rns<{targs}>"
        else:
            layer = f"nnet::arith::dot_layer<{KERNEL_STRUCT[plan.kind]}>"
            parallel = f"nnet::arith::dot_frame<{KERNEL_STRUCT[plan.kind]}, {targs}>"
        fn = f"nnet::arith::frame_stream<{layer}, {targs}>" if stream else parallel
        return f"{fn}({params['input']}, {params['output']}, {weights});"
