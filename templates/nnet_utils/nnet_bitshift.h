// arith4ml Bitshift kernels: power-of-two weights by bitshift-accumulate, ternary
// weights by add/subtract, (N,k)-coded ternary weights decoded from a ROM of group
// codes with a pattern table.  No multiplication between data and weights
// (layers that are neither fall back to mult_kernel in nnet_arith_common.h).
//
// A Dense layer is the 1x1 special case of the convolution frame below
// (in_height = in_width = 1, n_chan = n_in), so one frame serves both and
// Conv1D uses height 1.  Weight arrays are indexed [i * n_out + o] with i the
// position inside the Keras-ordered patch (filt_h, filt_w, chan).
#ifndef NNET_BITSHIFT_H_
#define NNET_BITSHIFT_H_

#include "nnet_arith_common.h"

namespace nnet {
namespace arith {

struct bitshift_config : dot_config {
    // (N,k) coding: groups of group_size consecutive patch positions, one code per group and output
    static const unsigned group_size = 8, n_groups = 1, n_patterns = 1;
};

// ---- one output of one pixel: a dot product over the patch --------------------------------
// Each kernel is a struct with a static dot(); the frame in nnet_arith_common.h calls it.

struct shift_kernel {
    template <typename CONFIG_T, class acc_T>
    static acc_T dot(const acc_T x[CONFIG_T::n_in], unsigned o,
                                           const typename CONFIG_T::bias_t &bias,
                                           const typename CONFIG_T::shift_t shifts[CONFIG_T::n_in * CONFIG_T::n_out],
                                           const typename CONFIG_T::sign_t signs[CONFIG_T::n_in * CONFIG_T::n_out]) {
        #pragma HLS INLINE
        acc_T acc = bias;
        for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
            #pragma HLS UNROLL
            const typename CONFIG_T::sign_t s = signs[i * CONFIG_T::n_out + o];
            if (s == 0) continue; // pruned weight: no term is generated
            const acc_T term = x[i] << unsigned(shifts[i * CONFIG_T::n_out + o]);
            if (s < 0)
                acc -= term;
            else
                acc += term;
        }
        return acc;
    }
};

struct nk_kernel {
    template <typename CONFIG_T, class acc_T>
    static acc_T dot(const acc_T x[CONFIG_T::n_in], unsigned o,
                                           const typename CONFIG_T::bias_t &bias,
                                           const typename CONFIG_T::code_t codes[CONFIG_T::n_groups * CONFIG_T::n_out],
                                           const typename CONFIG_T::pattern_t patterns[CONFIG_T::n_patterns * CONFIG_T::group_size],
                                           const typename CONFIG_T::shift_t shifts[CONFIG_T::n_out]) {
        #pragma HLS INLINE
        acc_T acc = bias;
        for (unsigned g = 0; g < CONFIG_T::n_groups; g++) {
            #pragma HLS UNROLL
            const typename CONFIG_T::code_t code = codes[g * CONFIG_T::n_out + o];
            for (unsigned p = 0; p < CONFIG_T::group_size; p++) {
                const unsigned i = g * CONFIG_T::group_size + p;
                const typename CONFIG_T::pattern_t v = patterns[code * CONFIG_T::group_size + p];
                if (i >= CONFIG_T::n_in || v == 0) continue;
                const acc_T term = x[i] << unsigned(shifts[o]);
                if (v < 0)
                    acc -= term;
                else
                    acc += term;
            }
        }
        return acc;
    }
};

} // namespace arith
} // namespace nnet

#endif
