
// ---- arith4ml: batch entry point, one native call per batch -------------------------------
// Inputs are converted float/double -> double exactly; outputs are returned as double, which
// holds every result type arith4ml infers (up to 53 significant bits) without rounding.
// The samples are split into n_threads contiguous slices, one thread each.  The first sample runs
// alone first: it loads the weights and fills the C-sim weight caches (function statics), after
// which the top function only reads shared state.  The caller passes n_threads = 1 for io_stream
// projects, whose hls4ml stream kernels keep per-frame state in statics.
#include "firmware/nnet_utils/nnet_arith_common.h"
#include <algorithm>
#include <thread>
#include <vector>

// io_parallel: the top function on arrays, with arith4ml's input/output conversions (native in C-sim, the
// same values as hls4ml's convert_data); io_stream: hls4ml's double wrapper, which fills the streams.
static void {{project}}_slice(const double *in, double *out, unsigned long first, unsigned long last) {
#if {{io_parallel}}
    input_t x[{{n_in}}];
    result_t y[{{n_out}}];
    for (unsigned long s = first; s < last; s++) {
        nnet::arith::from_doubles<input_t, {{n_in}}>(in + s * {{n_in}}, x);
        {{project}}(x, y);
        nnet::arith::to_doubles<result_t, {{n_out}}>(y, out + s * {{n_out}});
    }
#else
    double x[{{n_in}}];
    for (unsigned long s = first; s < last; s++) {
        for (unsigned i = 0; i < {{n_in}}; i++) x[i] = in[s * {{n_in}} + i];
        {{project}}_double(x, out + s * {{n_out}});
    }
#endif
}

extern "C" {
void {{project}}_batch(const double *in, double *out, unsigned long n, unsigned n_threads) {
    if (n == 0) return;
    {{project}}_slice(in, out, 0, 1);
    const unsigned long rest = n - 1;
    if (n_threads < 2 || rest < 2) {
        {{project}}_slice(in, out, 1, n);
        return;
    }
    const unsigned long chunk = (rest + n_threads - 1) / n_threads;
    std::vector<std::thread> workers;
    for (unsigned long first = 1; first < n; first += chunk)
        workers.emplace_back({{project}}_slice, in, out, first, std::min(n, first + chunk));
    for (std::thread &worker : workers) worker.join();
}
}
