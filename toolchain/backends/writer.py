"""Writer of the arith4ml backends: the Vivado project plus a batch C-simulation entry point
and a C-sim build script that compiles its two translation units in parallel."""
from __future__ import annotations

import stat
from pathlib import Path

from hls4ml.writer.vivado_writer import VivadoWriter

from toolchain.resources import templates_dir


class Arith4mlWriter(VivadoWriter):
    def write_hls(self, model, is_multigraph=False):
        drop_replaced_weights(model)
        return super().write_hls(model, is_multigraph=is_multigraph)

    def write_bridge(self, model):
        super().write_bridge(model)
        project = model.config.get_project_name()
        in_vars, out_vars = model.get_input_variables(), model.get_output_variables()
        if len(in_vars) != 1 or len(out_vars) != 1:
            return  # multi-input models keep hls4ml's per-sample predict
        text = (templates_dir() / "bridge_batch.cpp").read_text()
        text = (text.replace("{{project}}", project).replace("{{n_in}}", str(in_vars[0].size()))
                .replace("{{n_out}}", str(out_vars[0].size())))
        bridge = Path(model.config.get_output_dir()) / f"{project}_bridge.cpp"
        with bridge.open("a") as f:
            f.write(text)

    def write_build_script(self, model):
        super().write_build_script(model)
        script = Path(model.config.get_output_dir()) / "build_lib.sh"
        text = (templates_dir() / "build_lib.sh").read_text()
        text = text.replace("myproject", model.config.get_project_name())
        text = text.replace("mystamp", model.config.get_config_value("Stamp"))
        script.write_text(text)
        script.chmod(script.stat().st_mode | stat.S_IEXEC)


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
