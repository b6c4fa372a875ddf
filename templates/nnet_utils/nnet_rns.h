// arith4ml RNS kernel: a Dense/Conv layer computed in residue channels.
//
// Per layer the Python side chooses pairwise-coprime moduli m_0..m_{r-1} whose
// product M covers the exact accumulator (M > 2 max|acc|).  The kernel
//   1. converts every input code to residues |x|_{m_j} (forward conversion),
//   2. per channel j computes |sum_i |w_i|_{m_j} |x_i|_{m_j}|_{m_j}; weights whose
//      residue is 0 generate no term (residue-level sparsity),
//   3. converts back to a signed binary integer by CRT or mixed radix,
//   4. shifts it onto the accumulator grid, adds the bias and casts to the result type.
// Moduli and conversion constants come from the layer config as small static tables.
#ifndef NNET_RNS_H_
#define NNET_RNS_H_

#include "nnet_arith_common.h"

namespace nnet {
namespace arith {

struct rns_config : dot_config {
    static const unsigned n_mod = 3;        // number of residue channels
    static const int residue_width = 9;     // bits of one residue
    static const int channel_width = 32;    // bits of one channel's un-reduced sum
    static const int reverse_width = 64;    // bits of the CRT sum (or of M for mixed radix)
    static const bool use_crt = true;       // false: mixed-radix reverse conversion
    static const int post_shift = 0;        // acc grid shift applied after reverse conversion
};

// Forward conversion of one signed code: |x|_m in [0, m).
template <typename CONFIG_T> typename CONFIG_T::residue_t to_residue(const ap_int<CONFIG_T::raw_width> &x, unsigned j) {
    #pragma HLS INLINE
    const ap_int<CONFIG_T::raw_width + 1> m = CONFIG_T::modulus(j);
    ap_int<CONFIG_T::raw_width + 1> r = x % m;
    if (r < 0) r += m;
    return typename CONFIG_T::residue_t(r);
}

// Reverse conversion of residues to the signed integer X, |X| < M/2.
template <typename CONFIG_T>
ap_int<CONFIG_T::acc_width> from_residues(const typename CONFIG_T::residue_t y[CONFIG_T::n_mod]) {
    #pragma HLS INLINE
    typedef ap_uint<CONFIG_T::reverse_width> wide_t;
    const wide_t M = CONFIG_T::range_M();
    wide_t X = 0;
    if (CONFIG_T::use_crt) {
        // X = | sum_j y_j * c_j |_M with c_j = M_j * |M_j^-1|_{m_j}
        for (unsigned j = 0; j < CONFIG_T::n_mod; j++) {
            #pragma HLS UNROLL
            X += wide_t(y[j]) * wide_t(CONFIG_T::crt_coef(j));
        }
        X = X % M;
    } else {
        // mixed radix digits d_j, X = d_0 + m_0 (d_1 + m_1 (d_2 + ...))
        ap_uint<CONFIG_T::residue_width> d[CONFIG_T::n_mod];
        for (unsigned j = 0; j < CONFIG_T::n_mod; j++) {
            #pragma HLS UNROLL
            const ap_int<2 * CONFIG_T::residue_width + 2> mj = CONFIG_T::modulus(j);
            ap_int<2 * CONFIG_T::residue_width + 2> t = y[j];
            for (unsigned i = 0; i < j; i++) {
                t = t - d[i];
                if (t < 0) t += mj;
                t = (t * CONFIG_T::mrc_inverse(i, j)) % mj;
            }
            d[j] = t;
        }
        for (int j = CONFIG_T::n_mod - 1; j >= 0; j--) {
            X = X * wide_t(CONFIG_T::modulus(j)) + wide_t(d[j]);
        }
    }
    // the upper half of [0, M) holds the negative numbers
    if (X > (M - 1) / 2) return ap_int<CONFIG_T::acc_width>(ap_int<CONFIG_T::reverse_width + 1>(X) - ap_int<CONFIG_T::reverse_width + 1>(M));
    return ap_int<CONFIG_T::acc_width>(X);
}

template <class data_T, class res_T, typename CONFIG_T>
void rns(const data_T data[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan],
         res_T res[CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_out],
         const typename CONFIG_T::bias_t biases[CONFIG_T::n_out],
         const typename CONFIG_T::residue_t w_res[CONFIG_T::n_mod * CONFIG_T::n_in * CONFIG_T::n_out]) {
    #pragma HLS PIPELINE II = CONFIG_T::reuse_factor
    typedef ap_int<CONFIG_T::acc_width> acc_int;
    typedef typename CONFIG_T::residue_t residue_t;
    const unsigned n_frame = CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan;
    ap_int<CONFIG_T::raw_width> raw[n_frame];
    raw_frame<data_T, CONFIG_T, ap_int<CONFIG_T::raw_width> >(data, raw);
    residue_t x_res[CONFIG_T::n_mod][n_frame];
    for (unsigned j = 0; j < CONFIG_T::n_mod; j++)
        for (unsigned k = 0; k < n_frame; k++) x_res[j][k] = to_residue<CONFIG_T>(raw[k], j);

    residue_t patch[CONFIG_T::n_mod][CONFIG_T::n_in];
    for (unsigned oh = 0; oh < CONFIG_T::out_height; oh++) {
        for (unsigned ow = 0; ow < CONFIG_T::out_width; ow++) {
            for (unsigned j = 0; j < CONFIG_T::n_mod; j++)
                gather_patch<residue_t, CONFIG_T>(x_res[j], patch[j], oh, ow, residue_t(0));
            for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
                residue_t y[CONFIG_T::n_mod];
                for (unsigned j = 0; j < CONFIG_T::n_mod; j++) {
                    #pragma HLS UNROLL
                    ap_uint<CONFIG_T::channel_width> sum = 0;
                    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
                        const residue_t w = w_res[(j * CONFIG_T::n_in + i) * CONFIG_T::n_out + o];
                        if (w == 0) continue; // zero residue: no term is generated
                        sum += patch[j][i] * w;
                    }
                    y[j] = sum % CONFIG_T::modulus(j);
                }
                const acc_int acc = (from_residues<CONFIG_T>(y) << CONFIG_T::post_shift) + acc_int(biases[o]);
                res[(oh * CONFIG_T::out_width + ow) * CONFIG_T::n_out + o] =
                    res_T(cast_result<CONFIG_T::acc_width, CONFIG_T::acc_frac, typename CONFIG_T::accum_t>(acc));
            }
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void rns_stream(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::bias_t biases[CONFIG_T::n_out],
                const typename CONFIG_T::residue_t w_res[CONFIG_T::n_mod * CONFIG_T::n_in * CONFIG_T::n_out]) {
    const unsigned n_in_total = CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan;
    const unsigned n_out_total = CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_out;
    typename data_T::value_type in_flat[n_in_total];
    typename res_T::value_type out_flat[n_out_total];
    read_frame<data_T, typename data_T::value_type, n_in_total>(data, in_flat);
    rns<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(in_flat, out_flat, biases, w_res);
    write_frame<res_T, typename res_T::value_type, n_out_total>(out_flat, res);
}

} // namespace arith
} // namespace nnet

#endif
