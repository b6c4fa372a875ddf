
// ---- arith4ml: batch entry point, one native call per batch -------------------------------
// Inputs are converted float/double -> double exactly; outputs are returned as double, which
// holds every result type arith4ml infers (up to 53 significant bits) without rounding.
extern "C" {
void {{project}}_batch(const double *in, double *out, unsigned long n) {
    double x[{{n_in}}];
    for (unsigned long s = 0; s < n; s++) {
        for (unsigned i = 0; i < {{n_in}}; i++) x[i] = in[s * {{n_in}} + i];
        {{project}}_double(x, out + s * {{n_out}});
    }
}
}
