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

// ---- the terms of one pixel: every kernel adds them to all n_out exact accumulators ----------
// Each kernel is a struct with a static dot(); dot_frame in nnet_arith_common.h calls it.  A weight
// whose sign is 0 (pruned) makes signed_term's mask a constant 0, so synthesis generates no term.

struct shift_kernel {
    template <typename CONFIG_T, class acc_T>
    static void dot(const acc_T x[CONFIG_T::n_in], acc_T acc[CONFIG_T::n_out],
                    const typename CONFIG_T::shift_t shifts[CONFIG_T::n_in * CONFIG_T::n_out],
                    const typename CONFIG_T::sign_t signs[CONFIG_T::n_in * CONFIG_T::n_out]) {
#pragma HLS INLINE
        const unsigned n_weights = CONFIG_T::n_in * CONFIG_T::n_out;
        const auto *shift_rom = weight_rom<CONFIG_T, 0, n_weights>(shifts);
        const auto *sign_rom = weight_rom<CONFIG_T, 1, n_weights>(signs);
        for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
            for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
#pragma HLS UNROLL
                const unsigned k = i * CONFIG_T::n_out + o;
                acc[o] += signed_term(acc_T(x[i] << unsigned(shift_rom[k])), sign_rom[k]);
            }
        }
    }
};

struct nk_kernel {
    template <typename CONFIG_T, class acc_T>
    static void dot(const acc_T x[CONFIG_T::n_in], acc_T acc[CONFIG_T::n_out],
                    const typename CONFIG_T::code_t codes[CONFIG_T::n_groups * CONFIG_T::n_out],
                    const typename CONFIG_T::pattern_t patterns[CONFIG_T::n_patterns * CONFIG_T::group_size],
                    const typename CONFIG_T::shift_t shifts[CONFIG_T::n_out]) {
#pragma HLS INLINE
        const auto *code_rom = weight_rom<CONFIG_T, 0, CONFIG_T::n_groups * CONFIG_T::n_out>(codes);
        const auto *pattern_rom = weight_rom<CONFIG_T, 1, CONFIG_T::n_patterns * CONFIG_T::group_size>(patterns);
        const auto *shift_rom = weight_rom<CONFIG_T, 2, CONFIG_T::n_out>(shifts);
        for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
#pragma HLS UNROLL
            const unsigned shift = shift_rom[o];
            for (unsigned g = 0; g < CONFIG_T::n_groups; g++) {
#pragma HLS UNROLL
                // one ROM code per group of group_size inputs, decoded by the pattern table
                const unsigned code = code_rom[g * CONFIG_T::n_out + o];
                for (unsigned p = 0; p < CONFIG_T::group_size; p++) {
                    const unsigned i = g * CONFIG_T::group_size + p;
                    if (i >= CONFIG_T::n_in) break; // the last group may be short
                    acc[o] += signed_term(acc_T(x[i] << shift), pattern_rom[code * CONFIG_T::group_size + p]);
                }
            }
        }
    }
};

} // namespace arith
} // namespace nnet

#endif
