// arith4ml RNS kernel: a Dense/Conv layer computed in residue channels.
//
// Per layer the Python side chooses pairwise-coprime moduli m_0..m_{r-1} whose
// product M covers the exact accumulator (M > 2 max|acc|).  The kernel
//   1. converts every input code to residues |x|_{m_j} (forward conversion),
//   2. per channel j computes |sum_i |w_i|_{m_j} |x_i|_{m_j}|_{m_j}; weights whose
//      residue is 0 generate no term (residue-level sparsity),
//   3. converts back to a signed binary integer by CRT or mixed radix,
//   4. shifts it onto the accumulator grid, adds the bias and casts to the result type.
// Moduli and conversion constants are static const tables of the layer's config struct (moduli,
// crt_coefficients, mrc_inverses) and dynamic_range = M (below 2^62, so every constant fits 64 bits).
#ifndef NNET_RNS_H_
#define NNET_RNS_H_

#include "nnet_arith_common.h"

namespace nnet {
namespace arith {

struct rns_config : dot_config {
    static const unsigned n_mod = 3;     // number of residue channels
    static const int residue_width = 9;  // bits of one residue
    static const int channel_width = 32; // bits of one channel's un-reduced sum
    static const int reverse_width = 64; // bits of the CRT sum (or of M for mixed radix)
    static const bool use_crt = true;    // false: mixed-radix reverse conversion
    static const int post_shift = 0;     // acc grid shift applied after reverse conversion
};

// Integer types of one layer (native on the C-sim fast path, ap types on the hardware path; see exact_int).
template <typename CONFIG_T> struct rns_types {
    // forward conversion reduces input codes modulo m <= 2^residue_width, which needs residue_width + 2 signed
    // bits: more than the input codes have when a modulus exceeds their range
    static const int mod_width =
        CONFIG_T::raw_width > CONFIG_T::residue_width + 2 ? CONFIG_T::raw_width : CONFIG_T::residue_width + 2;
    typedef typename exact_int<CONFIG_T::raw_width>::type raw_int;             // input codes
    typedef typename exact_int<mod_width>::type mod_int;                       // input codes and moduli
    typedef typename exact_int<CONFIG_T::acc_width + 1>::type acc_int;         // signed accumulator
    typedef typename exact_uint<CONFIG_T::residue_width>::type residue_int;    // one residue, [0, m)
    typedef typename exact_uint<CONFIG_T::channel_width>::type sum_t;          // un-reduced channel sum
    typedef typename exact_uint<CONFIG_T::reverse_width>::type wide_t;         // CRT sum, or M
    typedef typename exact_int<2 * CONFIG_T::residue_width + 2>::type digit_t; // mixed-radix step
};

// Forward conversion of one signed code: |x|_m in [0, m).
template <typename CONFIG_T>
typename rns_types<CONFIG_T>::residue_int to_residue(const typename rns_types<CONFIG_T>::raw_int &x, unsigned j) {
#pragma HLS INLINE
    typedef typename rns_types<CONFIG_T>::mod_int mod_int;
    const mod_int m = mod_int(CONFIG_T::moduli[j]);
    mod_int r = mod_int(x) % m;
    if (r < 0) r += m;
    return typename rns_types<CONFIG_T>::residue_int(r);
}

// Reverse conversion of residues to the signed integer X, |X| < M/2.
template <typename CONFIG_T>
typename rns_types<CONFIG_T>::acc_int from_residues(const typename rns_types<CONFIG_T>::residue_int y[CONFIG_T::n_mod]) {
#pragma HLS INLINE
    typedef typename rns_types<CONFIG_T>::wide_t wide_t;
    typedef typename rns_types<CONFIG_T>::digit_t digit_t;
    const wide_t M = CONFIG_T::dynamic_range;
    wide_t X = 0;
    if (CONFIG_T::use_crt) {
        // X = | sum_j y_j * c_j |_M with c_j = M_j * |M_j^-1|_{m_j}
        for (unsigned j = 0; j < CONFIG_T::n_mod; j++) {
#pragma HLS UNROLL
            X += wide_t(y[j]) * wide_t(CONFIG_T::crt_coefficients[j]);
        }
        X = X % M;
    } else {
        // mixed radix digits d_j, X = d_0 + m_0 (d_1 + m_1 (d_2 + ...))
        digit_t d[CONFIG_T::n_mod];
        for (unsigned j = 0; j < CONFIG_T::n_mod; j++) {
#pragma HLS UNROLL
            const digit_t mj = digit_t(CONFIG_T::moduli[j]);
            digit_t t = digit_t(y[j]);
            for (unsigned i = 0; i < j; i++) {
                t = t - d[i];
                if (t < 0) t += mj;
                t = (t * digit_t(CONFIG_T::mrc_inverses[i * CONFIG_T::n_mod + j])) % mj;
            }
            d[j] = t;
        }
        for (int j = CONFIG_T::n_mod - 1; j >= 0; j--) {
            X = X * wide_t(CONFIG_T::moduli[j]) + wide_t(d[j]);
        }
    }
    // the upper half of [0, M) holds the negative numbers; M - X then is |X| and fits the accumulator
    typedef typename rns_types<CONFIG_T>::acc_int acc_int;
    if (X > (M - 1) / 2) return -acc_int(wide_t(M - X));
    return acc_int(X);
}

template <class data_T, class res_T, typename CONFIG_T>
void rns(const data_T data[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan],
         res_T res[CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_out],
         const typename CONFIG_T::bias_t biases[CONFIG_T::n_out],
         const typename CONFIG_T::residue_t w_res[CONFIG_T::n_mod * CONFIG_T::n_in * CONFIG_T::n_out]) {
#pragma HLS PIPELINE II = CONFIG_T::reuse_factor
    typedef rns_types<CONFIG_T> types;
    typedef typename types::raw_int raw_int;
    typedef typename types::acc_int acc_int;
    typedef typename types::residue_int residue_int;
    typedef typename types::sum_t sum_t;
    const unsigned n_frame = CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan;
    raw_int raw[n_frame];
    raw_frame<data_T, CONFIG_T, raw_int>(data, raw);
    residue_int x_res[CONFIG_T::n_mod][n_frame];
    for (unsigned j = 0; j < CONFIG_T::n_mod; j++)
        for (unsigned k = 0; k < n_frame; k++) x_res[j][k] = to_residue<CONFIG_T>(raw[k], j);

    const auto *w_rom = weight_rom<CONFIG_T, 0, CONFIG_T::n_mod * CONFIG_T::n_in * CONFIG_T::n_out>(w_res);
    residue_int patch[CONFIG_T::n_mod][CONFIG_T::n_in];
    sum_t sums[CONFIG_T::n_mod][CONFIG_T::n_out];
    for (unsigned oh = 0; oh < CONFIG_T::out_height; oh++) {
        for (unsigned ow = 0; ow < CONFIG_T::out_width; ow++) {
            for (unsigned j = 0; j < CONFIG_T::n_mod; j++) {
#pragma HLS UNROLL
                gather_patch<residue_int, CONFIG_T>(x_res[j], patch[j], oh, ow, residue_int(0));
                for (unsigned o = 0; o < CONFIG_T::n_out; o++) sums[j][o] = 0;
                // per-channel modular MAC; a zero weight residue is a constant 0 once the loops are
                // unrolled, so synthesis generates no term for it (the report counts those)
                for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
                    for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
                        sums[j][o] += sum_t(patch[j][i]) * sum_t(w_rom[(j * CONFIG_T::n_in + i) * CONFIG_T::n_out + o]);
                    }
                }
            }
            for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
                residue_int y[CONFIG_T::n_mod];
                for (unsigned j = 0; j < CONFIG_T::n_mod; j++) {
#pragma HLS UNROLL
                    y[j] = residue_int(sums[j][o] % sum_t(CONFIG_T::moduli[j]));
                }
                const acc_int acc = (from_residues<CONFIG_T>(y) << CONFIG_T::post_shift) + acc_int(biases[o]);
                res[(oh * CONFIG_T::out_width + ow) * CONFIG_T::n_out + o] =
                    cast_result<CONFIG_T::acc_width + 1, CONFIG_T::acc_frac, typename CONFIG_T::accum_t, res_T, false>(acc);
            }
        }
    }
}

// The io_parallel RNS layer as a type (run = rns), for frame_stream.
struct rns_layer {
    template <class data_T, class res_T, typename CONFIG_T>
    static void run(const data_T data[], res_T res[], const typename CONFIG_T::bias_t biases[],
                    const typename CONFIG_T::residue_t w_res[]) {
#pragma HLS INLINE
        rns<data_T, res_T, CONFIG_T>(data, res, biases, w_res);
    }
};

} // namespace arith
} // namespace nnet

#endif
