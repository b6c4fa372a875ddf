// arith4ml: ESSOP on-chip weight update of layer {{layer}} (docs/essop.md), written by toolchain/essop_hls.py.
// Synthesise with this file as the top (set_top {{project}}_essop_update).
#include "{{project}}_essop.h"

// The layer's weights at conversion, on the weight grid ({{weight_t}}).
const {{project}}_essop_weight_t {{project}}_essop_initial[{{n_weights}}] = {{{weights}}};
{{project}}_essop_weight_t {{project}}_essop_weights[{{n_weights}}] = {{{weights}}};
{{project}}_essop_lfsr_t {{project}}_essop_lfsr_x = {{seed_x}}, {{project}}_essop_lfsr_d = {{seed_d}};
bool {{project}}_essop_overflow = false;

void {{project}}_essop_update(const {{project}}_essop_x_t x[{{n_in}}], const {{project}}_essop_delta_t delta[{{n_out}}]) {
#pragma HLS ARRAY_PARTITION variable = x complete
#pragma HLS ARRAY_PARTITION variable = delta complete
    nnet::essop::essop_update<{{project}}_essop_x_t, {{project}}_essop_delta_t, {{project}}_essop_config>(
        x, delta, {{project}}_essop_weights, {{project}}_essop_lfsr_x, {{project}}_essop_lfsr_d, {{project}}_essop_overflow);
}
