// arith4ml: ESSOP on-chip weight update of layer {{layer}} (docs/essop.md), written by toolchain/essop_hls.py.
//
// {{project}}_essop_update owns the trainable copy of the layer's kernel; the inference top function
// {{project}} keeps its constant weights.  One call is one update step, W <- W - dW.
#ifndef {{guard}}
#define {{guard}}

#include "ap_fixed.h"
#include "ap_int.h"
#include "nnet_utils/nnet_essop.h"

struct {{project}}_essop_config : nnet::essop::essop_config {
    static const unsigned n_in = {{n_in}}, n_out = {{n_out}};
    static const unsigned bl = {{bl}}, log2_bl = {{log2_bl}};
    static const unsigned lfsr_width = {{lfsr_width}};
    static const unsigned taps_x = {{taps_x}}, taps_d = {{taps_d}};
    static const unsigned seed_x = {{seed_x}}, seed_d = {{seed_d}};
    static const unsigned leap = {{leap}};
    static const int x_width = {{x_width}}, x_frac = {{x_frac}};
    static const int d_width = {{d_width}}, d_frac = {{d_frac}};
    static const int w_width = {{w_width}}, w_frac = {{w_frac}};
    static const int upd_width = {{upd_width}};
    static const int shift_base = {{shift_base}};
    typedef {{weight_t}} weight_t;
};

typedef {{x_t}} {{project}}_essop_x_t;         // layer input x >= 0, exactly
typedef {{delta_t}} {{project}}_essop_delta_t; // error delta = dL/dz of the layer's output
typedef {{project}}_essop_config::weight_t {{project}}_essop_weight_t;
typedef nnet::arith::exact_uint<{{lfsr_width}}>::type {{project}}_essop_lfsr_t;

// The update's state: the weight memory (Keras kernel layout (n_in, n_out), row-major), the two LFSR
// registers and a sticky overflow flag.  Globals, so that the C-sim bridge can read and reset them.
extern {{project}}_essop_weight_t {{project}}_essop_weights[{{n_weights}}];
extern const {{project}}_essop_weight_t {{project}}_essop_initial[{{n_weights}}];
extern {{project}}_essop_lfsr_t {{project}}_essop_lfsr_x, {{project}}_essop_lfsr_d;
extern bool {{project}}_essop_overflow;

void {{project}}_essop_update(const {{project}}_essop_x_t x[{{n_in}}], const {{project}}_essop_delta_t delta[{{n_out}}]);

#endif
