"""The ``Bitshift``, ``RNS`` and ``Approx`` hls4ml backends.

All subclass hls4ml's Vivado backend, so the projects they write build with
Vivado HLS and Vitis HLS like any hls4ml project.  Each offers an ordered tuple
of kernels from ``toolchain.kernels``; they add arith4ml's passes
(``arith_fuse_batch_normalization``, ``arith_merge_linear_activation``,
``arith_final_softmax``, ``arith_exact_types``), the kernels' templates, a writer that adds a batch entry
point to the bridge, and a batch ``predict``.  Their flows are declared below as
explicit lists, as hls4ml's ``VivadoBackend._register_flows`` does;
``tests/test_flows.py`` checks the resolved pass order against hls4ml 1.3's.
"""
from __future__ import annotations

import ctypes
import inspect
import os
from pathlib import Path

import numpy as np
from hls4ml.backends import VivadoBackend
from hls4ml.backends.template import Template
from hls4ml.model.flow import register_flow
from hls4ml.model.layers import Conv1D, Conv2D, Dense
from hls4ml.model.optimizer import extract_optimizers_from_path, get_backend_passes, get_optimizer

from toolchain.backends.attributes import arithmetic_option, register_attributes
from toolchain.errors import DataError
from toolchain.kernels import KERNELS, Kernel, Option
from toolchain.kernels.plan import AUTO
from toolchain.resources import templates_dir
from toolchain.simlib import run_build

DOT_LAYERS = (Dense, Conv1D, Conv2D)  # planned by arith_exact_types: an arith4ml kernel computes each
COMMON_HEADER = "nnet_utils/nnet_arith_common.h"  # the frame, casts and C-sim fast path every kernel uses

# hls4ml 1.3's model-level 'convert' flow, with 'fuse_batch_normalization' and 'merge_linear_activation' replaced
# by ours ({ours}: this backend)
CONVERT_PASSES = (
    "channels_last_converter", "separable_to_depthwise_and_conv", "remove_transpose_before_flatten",
    "remove_nop_transpose", "remove_single_channel_transpose", "fuse_bias_add", "expand_time_distributed",
    "expand_layer_group", "output_rounding_saturation_mode", "qkeras_factorize_alpha", "extract_ternary_threshold",
    "fuse_consecutive_batch_normalization", "{ours}:arith_fuse_batch_normalization",
    "replace_multidimensional_dense_with_conv", "enforce_proxy_model_embedded_config", "bit_exact",
    "fuse_fixed_point_quantizer", "fix_input_precision", "eliminate_linear_activation",
    "{ours}:arith_merge_linear_activation",
    "infer_precision_types",
)
GRAPH_OPTIMIZE_PASSES = ("remove_nop_batch_normalization",)  # hls4ml's model-level 'optimize' flow
# Vivado's backend flows, as VivadoBackend._register_flows declares them, less the passes whose output no
# arith4ml kernel uses: our io_stream convolutions pad inside the stream (no ZeroPadding layer before them), and
# our frames gather their own patches (no im2col or streaming-instruction code in nnet_code_gen.h, nor hls4ml's
# unrolled Resource dense).  Every Dense/Conv layer is planned (or refused), so no hls4ml kernel needs them.
STREAMING_PASSES = (
    "vivado:inplace_stream_flatten", "vivado:reshape_stream", "vivado:clone_output", "vivado:broadcast_stream",
)
QUANTIZATION_PASSES = (
    "vivado:merge_batch_norm_quantized_tanh", "vivado:quantize_dense_output", "fuse_consecutive_batch_normalization",
    "vivado:xnor_pooling",
)
# Vivado's 'optimize' flow with our final-softmax check before skip_softmax and our exact types before
# infer_precision_types (which then finds every type set and leaves it)
OPTIMIZATION_PASSES = (
    "vivado:remove_final_reshape", "vivado:optimize_pointwise_conv", "vivado:inplace_parallel_reshape",
    "vivado:inplace_stream_flatten", "{ours}:arith_final_softmax", "vivado:skip_softmax",
    "vivado:fix_softmax_table_size", "vivado:distributed_arithmetic_codegen",
    "vivado:distributed_arithmetic_einsum_codegen", "vivado:fuse_quantizer_into_d_a_layers",
    "vivado:process_fixed_point_quantizer_layer", "{ours}:arith_exact_types", "infer_precision_types",
)
SPECIFIC_TYPES_PASSES = (
    "vivado:transform_types", "vivado:register_bram_weights", "vivado:apply_resource_strategy",
    "vivado:set_pipeline_style", "vivado:d_a_latency_dense_template", "vivado:d_a_latency_conv_template",
    "vivado:d_a_combinational_template",
)
WRITER_PASSES = ("make_stamp", "{ours}:write_hls")
FIFO_DEPTH_PASSES = ("vivado:fifo_depth_optimization",) + WRITER_PASSES


class Arith4mlBackend(VivadoBackend):
    """Common base: Vivado's layers and templates, plus exact types, arith4ml kernels and batch C-simulation."""

    backend_name = ""
    kernel_names: tuple[str, ...] = ()  # offered kernels; 'Arithmetic: auto' takes the first that suits a layer

    def __init__(self):
        # as hls4ml's VivadoAccelerator does: FPGABackend.__init__ under our own name
        super(VivadoBackend, self).__init__(self.backend_name)
        self.dot_kernels: tuple[Kernel, ...] = tuple(KERNELS[name] for name in self.kernel_names)
        self.arithmetics = (AUTO,) + tuple(k.arithmetic for k in self.dot_kernels)
        options = {o.name: o for k in self.dot_kernels for o in k.options}
        self.options: tuple[Option, ...] = (arithmetic_option(self.arithmetics),) + tuple(options.values())
        self._register_layer_attributes()
        self._register_flows()
        # every registered kernel's header (a project may be reconfigured to any kernel the backend offers)
        for header in sorted({COMMON_HEADER} | {k.header for k in KERNELS.values()}):
            self.register_source(templates_dir() / header)

    def _init_file_optimizers(self):
        # Only our own passes/: the Vivado flows we reuse name the Vivado backend's passes ('vivado:...'),
        # so registering copies of them under our name would only add unused passes.
        opt_path = os.path.join(os.path.dirname(inspect.getfile(Arith4mlBackend)), "passes")
        return extract_optimizers_from_path(opt_path, __name__.rsplit(".", 1)[0] + ".passes", self)

    def _register_layer_attributes(self):
        super()._register_layer_attributes()
        register_attributes(self.attribute_map, self.options)

    def _register_flows(self):
        ours = self.name.lower()

        def passes(names: tuple[str, ...]) -> list[str]:
            return [n.format(ours=ours) for n in names]

        convert = register_flow("convert", passes(CONVERT_PASSES), requires=["parse_qonnx"], backend=self.name)
        graph_optimize = register_flow("graph_optimize", passes(GRAPH_OPTIMIZE_PASSES), requires=[convert],
                                       backend=self.name)
        init = register_flow("init_layers", self._get_layer_initializers(), requires=[graph_optimize],
                             backend=self.name)
        streaming = register_flow("streaming", passes(STREAMING_PASSES), requires=[init], backend=self.name)
        quantization = register_flow("quantization", passes(QUANTIZATION_PASSES), requires=[init], backend=self.name)
        optimization = register_flow("optimize", passes(OPTIMIZATION_PASSES), requires=[init], backend=self.name)
        specific_types = register_flow("specific_types", passes(SPECIFIC_TYPES_PASSES), requires=[init],
                                       backend=self.name)
        templates = register_flow("apply_templates", self._get_layer_templates, requires=[init], backend=self.name)
        self._default_flow = register_flow("ip", None, requires=[graph_optimize, init, streaming, quantization,
                                                                 optimization, specific_types, templates],
                                           backend=self.name)
        self._writer_flow = register_flow("write", passes(WRITER_PASSES), requires=[self._default_flow],
                                          backend=self.name)
        register_flow("fifo_depth_optimization", passes(FIFO_DEPTH_PASSES), requires=[self._default_flow],
                      backend=self.name)

    def _get_layer_templates(self):
        # Vivado's templates for every layer, then ours, which replace them for planned Dense/Conv layers
        vivado = [name for name in get_backend_passes("vivado") if isinstance(get_optimizer(name), Template)]
        ours = [name for name in get_backend_passes(self.name) if isinstance(get_optimizer(name), Template)]
        return vivado + ours

    def set_closest_reuse_factor(self, layer, n_in, n_out, attribute="reuse_factor", include_max_rf=True):
        """hls4ml's rule (replace an invalid ReuseFactor by the closest valid one, with a printed warning) for
        every layer but Dense/Conv: arith4ml's kernels fold by their own rule and refuse an invalid ReuseFactor
        by name (``toolchain.kernels.fold.make_fold``, from ``arith_exact_types``)."""
        if isinstance(layer, DOT_LAYERS):
            return
        super().set_closest_reuse_factor(layer, n_in, n_out, attribute=attribute, include_max_rf=include_max_rf)

    def compile(self, model) -> str:
        """hls4ml's compile step (run the project's build_lib.sh), with the build's output in build.log and
        a one-line ToolFailedError naming the command and the log when it fails; returns the library path."""
        out = Path(model.config.get_output_dir())
        run_build(out)
        return str(out / "firmware" / f"{model.config.get_project_name()}-{model.config.get_config_value('Stamp')}.so")

    def create_initial_config(self, part="xc7z020clg400-1", clock_period=10, **kwargs):
        kwargs.pop("board", None)
        return super().create_initial_config(part=part, clock_period=clock_period, **kwargs)

    # ---- batch C-simulation ---------------------------------------------------------------

    def predict(self, model, x, *args, threads: int | None = None, **kwargs) -> np.ndarray:
        """C-simulate a whole batch in one native call; returns float64 (n, n_out), exact for outputs up to 53 bits.

        The batch is split over ``threads`` native threads (default: ``$ARITH4ML_THREADS``, else every core
        this process may use); io_stream projects run on one thread (hls4ml's stream kernels keep per-frame
        state in statics).  The results do not depend on the thread count.
        """
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
                       np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS"), ctypes.c_ulong, ctypes.c_uint]
        n_threads = thread_count(threads)  # checked for io_stream too, which then runs on one thread
        if model.config.get_config_value("IOType") == "io_stream":
            n_threads = 1
        fn(x, out, ctypes.c_ulong(x.shape[0]), ctypes.c_uint(n_threads))
        return out


THREADS_ENV = "ARITH4ML_THREADS"


def thread_count(threads: int | None = None) -> int:
    """``threads``, else ``$ARITH4ML_THREADS``, else the cores this process may run on (at least 1)."""
    if threads is None:
        text = os.environ.get(THREADS_ENV, "").strip()
        if text:
            if not text.isdigit() or int(text) < 1:
                raise DataError(f"{THREADS_ENV}={text!r} must be a positive integer (threads for batch C-sim)")
            threads = int(text)
        else:
            threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise DataError(f"threads={threads!r} must be a positive integer")
    return threads


def check_input(x, n_in: int, shape) -> np.ndarray:
    """Batch of inputs as contiguous float64 (n, n_in); float32 converts exactly."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise DataError(f"input data has dtype {x.dtype}; expected floating point numbers")
    if x.size % n_in != 0 or x.size == 0:
        raise DataError(f"input data of shape {x.shape} does not hold whole samples of shape {tuple(shape)} "
                        f"({n_in} values)")
    flat = np.ascontiguousarray(x, dtype=np.float64).reshape(-1, n_in)
    bad = ~np.isfinite(flat)
    if bad.any():
        s, i = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(f"input data sample {s} value {i} is {flat[s, i]}; only finite values can be simulated")
    return flat


class BitshiftBackend(Arith4mlBackend):
    """Power-of-two weights by bitshift-accumulate, ternary by add/subtract, (N,k) by table decode;
    other weights by ordinary products."""

    backend_name = "Bitshift"
    kernel_names = ("nk", "shift", "mult")


class RNSBackend(Arith4mlBackend):
    """Dense and Conv layers in residue channels with zero-residue skipping."""

    backend_name = "RNS"
    kernel_names = ("rns",)


class ApproxBackend(Arith4mlBackend):
    """8-bit Dense and Conv layers whose products use approximate multipliers (ROUP(k, m) or 256x256 tables)
    assigned per layer, filter or kernel (MAx-DNN)."""

    backend_name = "Approx"
    kernel_names = ("approx",)
