// arith4ml Bitshift kernels: power-of-two weights by bitshift-accumulate, ternary
// weights by add/subtract, (N,k)-coded ternary weights decoded from a ROM of group
// codes with a pattern table.  No multiplication between data and weights
// (layers that are neither fall back to mult_kernel in nnet_arith_common.h).
//
// The frames (io_parallel, io_stream line buffers) and the fold schedule are
// in nnet_arith_common.h; a kernel here only adds the terms of one fold step.
// Weight arrays are in fold order (fold_index): with one fold step that is
// [i * n_out + o], i the position inside the Keras-ordered patch (filt_h, filt_w, chan).
#ifndef NNET_BITSHIFT_H_
#define NNET_BITSHIFT_H_

#include "nnet_arith_common.h"

namespace nnet {
namespace arith {

struct bitshift_config : dot_config {
    // (N,k) coding: groups of group_size consecutive patch positions, one code per group and output
    static const unsigned group_size = 8, n_groups = 1, n_patterns = 1;
};

// ---- the terms of one fold step -------------------------------------------------------------------------------
// Each kernel is a binary_kernel (nnet_arith_common.h: elements are input codes, the accumulator an exact integer)
// with its own fold().  A weight whose sign is 0 (pruned) makes signed_term's mask a constant 0 once the ROM is
// constant-propagated (Strategy Latency; function_instantiate gives every layer its own copy), so synthesis is
// expected to generate no term for it.  Under Strategy Resource a term unit serves n_fold weights and stays.

struct shift_kernel : binary_kernel {
    template <typename CONFIG_T, class elem_T, class acc_T>
    static void fold(const elem_T x[CONFIG_T::n_in], acc_T acc[CONFIG_T::n_out], unsigned ri, unsigned d,
                     const typename CONFIG_T::shift_t shifts[CONFIG_T::n_in * CONFIG_T::n_out],
                     const typename CONFIG_T::sign_t signs[CONFIG_T::n_in * CONFIG_T::n_out]) {
#pragma HLS function_instantiate variable = shifts, signs
#pragma HLS ARRAY_RESHAPE variable = shifts cyclic factor = CONFIG_T::fold_in * CONFIG_T::fold_out
#pragma HLS ARRAY_RESHAPE variable = signs cyclic factor = CONFIG_T::fold_in * CONFIG_T::fold_out
        const unsigned n_weights = CONFIG_T::n_in * CONFIG_T::n_out;
        const auto *shift_rom = weight_rom<CONFIG_T, 0, n_weights>(shifts);
        const auto *sign_rom = weight_rom<CONFIG_T, 1, n_weights>(signs);
    Inputs:
        for (unsigned s = 0; s < CONFIG_T::fold_in; s++) {
#pragma HLS UNROLL
            const acc_T xi = acc_T(x[ri * CONFIG_T::fold_in + s]);
        Outputs:
            for (unsigned t = 0; t < CONFIG_T::fold_out; t++) {
#pragma HLS UNROLL
                const unsigned k = fold_index<CONFIG_T>(ri, d, s, t);
                acc[d * CONFIG_T::fold_out + t] += signed_term(acc_T(xi << unsigned(shift_rom[k])), sign_rom[k]);
            }
        }
    }
};

// (N,k)-coded ternary weights: the fold units are groups of group_size inputs, one ROM code per group and output,
// decoded by the pattern table; every output has one power-of-two scale (a shift).
struct nk_kernel : binary_kernel {
    template <typename CONFIG_T, class elem_T, class acc_T>
    static void fold(const elem_T x[CONFIG_T::n_in], acc_T acc[CONFIG_T::n_out], unsigned ri, unsigned d,
                     const typename CONFIG_T::code_t codes[CONFIG_T::n_groups * CONFIG_T::n_out],
                     const typename CONFIG_T::pattern_t patterns[CONFIG_T::n_patterns * CONFIG_T::group_size],
                     const typename CONFIG_T::shift_t shifts[CONFIG_T::n_out]) {
#pragma HLS function_instantiate variable = codes, patterns, shifts
#pragma HLS ARRAY_RESHAPE variable = codes cyclic factor = CONFIG_T::fold_in * CONFIG_T::fold_out
#pragma HLS ARRAY_PARTITION variable = shifts complete
        const auto *code_rom = weight_rom<CONFIG_T, 0, CONFIG_T::n_groups * CONFIG_T::n_out>(codes);
        const auto *pattern_rom = weight_rom<CONFIG_T, 1, CONFIG_T::n_patterns * CONFIG_T::group_size>(patterns);
        const auto *shift_rom = weight_rom<CONFIG_T, 2, CONFIG_T::n_out>(shifts);
    Outputs:
        for (unsigned t = 0; t < CONFIG_T::fold_out; t++) {
#pragma HLS UNROLL
            const unsigned o = d * CONFIG_T::fold_out + t;
            const unsigned shift = shift_rom[o];
        Groups:
            for (unsigned s = 0; s < CONFIG_T::fold_in; s++) {
#pragma HLS UNROLL
                const unsigned g = ri * CONFIG_T::fold_in + s;
                const unsigned code = code_rom[fold_index<CONFIG_T>(ri, d, s, t)];
            GroupInputs:
                for (unsigned p = 0; p < CONFIG_T::group_size; p++) {
#pragma HLS UNROLL
                    const unsigned i = g * CONFIG_T::group_size + p;
                    if (i >= CONFIG_T::n_in) break; // the last group may be short
                    acc[o] += signed_term(acc_T(acc_T(x[i]) << shift), pattern_rom[code * CONFIG_T::group_size + p]);
                }
            }
        }
    }
};

} // namespace arith
} // namespace nnet

#endif
