"""Writer of the arith4ml backends: the Vivado project plus a batch C-simulation entry point."""
from __future__ import annotations

from pathlib import Path

from hls4ml.writer.vivado_writer import VivadoWriter

from toolchain.resources import templates_dir



class Arith4mlWriter(VivadoWriter):
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
