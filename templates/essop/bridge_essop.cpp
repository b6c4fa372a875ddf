
// ---- arith4ml: ESSOP update entry points (C-sim only) ------------------------------------------------
// The update's translation unit is compiled into the bridge's (build_lib.sh builds two units, and the
// update is independent of the inference top).  Inputs are doubles that the Python side has checked to
// lie exactly on the x and delta grids; weights come back as doubles, exact (the weight type has at
// most 53 bits).
#include "firmware/{{project}}_essop.cpp"

extern "C" {
// n update steps in order: x is n x {{n_in}}, delta n x {{n_out}}, row-major.
void {{project}}_essop_batch(const double *x, const double *delta, unsigned long n) {
    {{project}}_essop_x_t xs[{{n_in}}];
    {{project}}_essop_delta_t ds[{{n_out}}];
    for (unsigned long s = 0; s < n; s++) {
        for (unsigned j = 0; j < {{n_in}}; j++) xs[j] = x[s * {{n_in}} + j];
        for (unsigned i = 0; i < {{n_out}}; i++) ds[i] = delta[s * {{n_out}} + i];
        {{project}}_essop_update(xs, ds);
    }
}

// The weight memory (Keras layout, {{n_in}} x {{n_out}}) into w; returns the sticky overflow flag.
int {{project}}_essop_read(double *w) {
    for (unsigned k = 0; k < {{n_weights}}; k++) w[k] = {{project}}_essop_weights[k].to_double();
    return {{project}}_essop_overflow ? 1 : 0;
}

// The two LFSR registers.
void {{project}}_essop_lfsr(unsigned *state) {
    state[0] = (unsigned)({{project}}_essop_lfsr_x);
    state[1] = (unsigned)({{project}}_essop_lfsr_d);
}

// Back to the state after conversion: initial weights, seeds, no overflow.
void {{project}}_essop_reset() {
    for (unsigned k = 0; k < {{n_weights}}; k++) {{project}}_essop_weights[k] = {{project}}_essop_initial[k];
    {{project}}_essop_lfsr_x = {{seed_x}};
    {{project}}_essop_lfsr_d = {{seed_d}};
    {{project}}_essop_overflow = false;
}
}
