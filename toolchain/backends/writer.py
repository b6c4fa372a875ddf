"""Writer of the arith4ml backends: the Vivado project plus a batch C-simulation entry point
and a C-sim build script that compiles its two translation units in parallel."""
from __future__ import annotations

import re
import stat
from pathlib import Path

from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType
from hls4ml.writer.vivado_writer import VivadoWriter

from toolchain.resources import templates_dir

PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")  # the one placeholder convention of every file in templates/
# hls4ml's weight-loading call in the top-level file: template arguments, array name
HLS4ML_LOADER = re.compile(r"nnet::load_weights_from_txt<([\w:, ]+)>\((\w+), ")


def render(name: str, **values: object) -> str:
    """The text of ``templates/<name>`` with every ``{{key}}`` replaced by ``values[key]``.

    KeyError names a placeholder the template has and ``values`` lacks (a template and its writer
    out of step), so no file is written with a placeholder left in it.
    """
    text = (templates_dir() / name).read_text()

    def value(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"template {name} has placeholder {{{{{key}}}}} and no value was given for it")
        return str(values[key])

    return PLACEHOLDER.sub(value, text)


class Arith4mlWriter(VivadoWriter):
    def write_hls(self, model, is_multigraph=False):
        from toolchain import essop_hls

        essop = essop_hls.essop_spec(model)  # hls.yml Model: EssopUpdate (reads the kernel before it is dropped)
        drop_replaced_weights(model)
        result = super().write_hls(model, is_multigraph=is_multigraph)
        if essop is not None:
            essop_hls.write_essop(model, essop)  # after the bridge, which it appends to
        return result

    def write_project_cpp(self, model):
        """hls4ml's top-level file, with the weight arrays loaded by arith4ml's loaders (``nnet_arith_common.h``):
        integer arrays by ``load_weight_codes``, fixed-point ones by ``load_weight_values``, instead of hls4ml's
        ``load_weights_from_txt`` (an ap_fixed istream parser per array type); other types keep hls4ml's."""
        super().write_project_cpp(model)
        loaders = {var.name: loader for layer in model.get_layers() for var in layer.get_weights()
                   if (loader := weight_loader(var.type.precision)) is not None}
        top = Path(model.config.get_output_dir()) / "firmware" / f"{model.config.get_project_name()}.cpp"
        text = HLS4ML_LOADER.sub(lambda m: f"{loaders[m.group(2)]}<{m.group(1)}>({m.group(2)}, "
                                 if m.group(2) in loaders else m.group(0), top.read_text())
        top.write_text(text)

    def write_bridge(self, model):
        super().write_bridge(model)
        project = model.config.get_project_name()
        in_vars, out_vars = model.get_input_variables(), model.get_output_variables()
        if len(in_vars) != 1 or len(out_vars) != 1:
            return  # multi-input models keep hls4ml's per-sample predict
        io_parallel = int(model.config.get_config_value("IOType") == "io_parallel")
        text = render("bridge_batch.cpp", project=project, n_in=in_vars[0].size(), n_out=out_vars[0].size(),
                      io_parallel=io_parallel)
        bridge = Path(model.config.get_output_dir()) / f"{project}_bridge.cpp"
        with bridge.open("a") as f:
            f.write(text)

    def write_build_script(self, model):
        super().write_build_script(model)  # project.tcl (Vivado's build scripts read it) and build_lib.sh
        script = Path(model.config.get_output_dir()) / "build_lib.sh"  # ours replaces hls4ml's
        io_type = model.config.get_config_value("IOType")
        script.write_text(render("build_lib.sh", project=model.config.get_project_name(),
                                 stamp=model.config.get_config_value("Stamp"), optimization=OPTIMIZATION[io_type]))
        script.chmod(script.stat().st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)


# g++ optimisation of the C-sim library per io type: io_parallel's whole-frame native kernels need the
# vectoriser (-O3); io_stream C-sim time is shared with hls4ml's ap_fixed stream layers, where the
# vectoriser's compile time is not repaid (bench/bench_cifar.py measures compile time and rate).
OPTIMIZATION = {"io_parallel": "-O3", "io_stream": "-O2"}


def weight_loader(precision) -> str | None:
    """arith4ml's C-sim loader for a weight array of this hls4ml precision, or None (hls4ml's loader stays)."""
    # (hls4ml's XNOR and exponent types are neither, and keep hls4ml's own loader)
    if isinstance(precision, IntegerPrecisionType):
        return "nnet::arith::load_weight_codes"
    if isinstance(precision, FixedPrecisionType):
        return "nnet::arith::load_weight_values"
    return None


def drop_replaced_weights(model) -> None:
    """Remove a planned layer's Keras weight and bias variables before the project is written.

    The arith4ml kernels read only the plan's own arrays (shift/sign codes, residues, the bias on the
    accumulator grid); writing and loading the Keras arrays as well cost g++ about 2 s per project
    (their ap_fixed types instantiate the double-parsing conversions) and the device nothing.
    """
    for node in model.get_layers():
        if node.get_attr("arith_plan") is not None:
            for name in ("weight", "bias"):
                node.weights.pop(name, None)
