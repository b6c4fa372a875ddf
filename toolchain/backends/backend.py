"""The ``Bitshift`` and ``RNS`` hls4ml backends.

Both subclass hls4ml's Vivado backend, so the projects they write build with
Vivado HLS and Vitis HLS like any hls4ml project.  They add one pass
(``arith_exact_types``: exact precisions and a DotPlan per Dense/Conv layer),
their own dot-product templates (C++ in ``templates/nnet_utils``), a writer
that adds a batch entry point to the bridge, and a batch ``predict``.
"""
from __future__ import annotations

import ctypes
import inspect
import os
import warnings

import numpy as np
from hls4ml.backends import VivadoBackend
from hls4ml.backends.template import Template
from hls4ml.model.flow import get_flow, register_flow, update_flow
from hls4ml.model.optimizer import extract_optimizers_from_path, get_backend_passes, get_optimizer

from toolchain.backends.plan import ARITHMETICS
from toolchain.errors import DataError
from toolchain.resources import templates_dir

HEADERS = ("nnet_arith_common.h", "nnet_bitshift.h", "nnet_rns.h")


class Arith4mlBackend(VivadoBackend):
    """Common base: Vivado flows plus exact types, arith4ml kernels and batch C-simulation."""

    backend_name = ""
    arith_kind = ""
    arithmetics: tuple[str, ...] = ()

    def __init__(self):
        # as hls4ml's VivadoAccelerator does: FPGABackend.__init__ under our own name
        super(VivadoBackend, self).__init__(self.backend_name)
        self._register_layer_attributes()
        self._register_flows()
        for header in HEADERS:
            self.register_source(templates_dir() / "nnet_utils" / header)

    def _init_file_optimizers(self):
        # Only our own passes/: the Vivado flows we inherit name the Vivado backend's passes
        # ('vivado:...'), so registering copies of them under our name would only add unused passes.
        opt_path = os.path.join(os.path.dirname(inspect.getfile(Arith4mlBackend)), "passes")
        return extract_optimizers_from_path(opt_path, __name__.rsplit(".", 1)[0] + ".passes", self)

    def _register_flows(self):
        prefix = self.name.lower()
        with warnings.catch_warnings():
            # Vivado's check runs before we add our two passes to the flows just below
            warnings.filterwarnings("ignore", message=f'.*"{prefix}:(arith_exact_types|write_hls)" is not part of any flow')
            warnings.filterwarnings("ignore", message=f'.*"{prefix}:arith_fuse_batch_normalization" is not part of any flow')
            super()._register_flows()
        # BatchNorm folding policy (see ArithFuseBatchNormalization): this backend's copy of hls4ml's
        # 'convert' and 'optimize' flows, with our fusion pass in place of 'fuse_batch_normalization';
        # the shared flows, and so the other backends, stay as they are
        convert = get_flow("convert")
        ours = [f"{prefix}:arith_fuse_batch_normalization" if o == "fuse_batch_normalization" else o
                for o in convert.optimizers]
        register_flow("convert", ours, requires=list(convert.requires), backend=self.name)
        register_flow("graph_optimize", list(get_flow("optimize").optimizers), requires=[f"{prefix}:convert"],
                      backend=self.name)
        for flow_name in (f"{prefix}:init_layers", f"{prefix}:ip"):
            flow = get_flow(flow_name)
            flow.requires = [f"{prefix}:graph_optimize" if r == "optimize" else r for r in flow.requires]
        update_flow(f"{prefix}:optimize", remove_optimizers=["infer_precision_types"])
        update_flow(f"{prefix}:optimize", add_optimizers=[f"{prefix}:arith_exact_types", "infer_precision_types"])
        for flow_name in (f"{prefix}:write", f"{prefix}:fifo_depth_optimization"):
            # Vivado's writer flows require (and would re-run) Vivado's own 'ip' flow and writer
            flow = get_flow(flow_name)
            flow.requires = [f"{prefix}:ip" if r == "vivado:ip" else r for r in flow.requires]
            update_flow(flow_name, remove_optimizers=["vivado:write_hls"])
            update_flow(flow_name, add_optimizers=[f"{prefix}:write_hls"])

    def _get_layer_templates(self):
        # Vivado's templates for every layer, then ours, which replace them for planned Dense/Conv layers
        vivado = [name for name in get_backend_passes("vivado") if isinstance(get_optimizer(name), Template)]
        ours = [name for name in get_backend_passes(self.name) if isinstance(get_optimizer(name), Template)]
        return vivado + ours

    def create_initial_config(self, part="xc7z020clg400-1", clock_period=10, **kwargs):
        kwargs.pop("board", None)
        return super().create_initial_config(part=part, clock_period=clock_period, **kwargs)

    # ---- batch C-simulation ---------------------------------------------------------------

    def predict(self, model, x, *args, **kwargs) -> np.ndarray:
        """C-simulate a whole batch in one native call; returns float64 (n, n_out), exact for outputs up to 53 bits."""
        lib = model._top_function_lib
        if lib is None:
            raise DataError("model is not compiled: call hls_model.compile() first")
        in_vars, out_vars = model.get_input_variables(), model.get_output_variables()
        if len(in_vars) != 1 or len(out_vars) != 1:
            return model._predict(x)
        n_in, n_out = int(in_vars[0].size()), int(out_vars[0].size())
        x = check_input(x, n_in, in_vars[0].shape)
        out = np.empty((x.shape[0], n_out), dtype=np.float64)
        fn = getattr(lib, model.config.get_project_name() + "_batch")
        fn.restype = None
        fn.argtypes = [np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS"),
                       np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS"), ctypes.c_ulong]
        fn(x, out, ctypes.c_ulong(x.shape[0]))
        return out


def check_input(x, n_in: int, shape) -> np.ndarray:
    """Batch of inputs as contiguous float64 (n, n_in); float32 converts exactly."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise DataError(f"input data has dtype {x.dtype}; expected floating point numbers")
    if x.size % n_in != 0 or x.size == 0:
        raise DataError(f"input data of shape {x.shape} does not hold whole samples of shape {tuple(shape)} ({n_in} values)")
    flat = np.ascontiguousarray(x, dtype=np.float64).reshape(-1, n_in)
    bad = ~np.isfinite(flat)
    if bad.any():
        s, i = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(f"input data sample {s} value {i} is {flat[s, i]}; only finite values can be simulated")
    return flat


class BitshiftBackend(Arith4mlBackend):
    """Power-of-two weights by bitshift-accumulate, ternary by add/subtract, (N,k) by table decode."""

    backend_name = "Bitshift"
    arith_kind = "bitshift"
    arithmetics = ARITHMETICS["bitshift"]


class RNSBackend(Arith4mlBackend):
    """Dense and Conv layers in residue channels with zero-residue skipping."""

    backend_name = "RNS"
    arith_kind = "rns"
    arithmetics = ARITHMETICS["rns"]
