// arith4ml: ESSOP on-chip weight update of a Dense layer (docs/essop.md).
//
// One update step computes dW = lr * delta x^T by the stochastic outer product that
// toolchain/arith/essop.py defines bit for bit, and subtracts it from the weight memory:
//
//   1. power-of-two scaling: the leading one of OR(x codes) and of OR(|delta| codes) (for
//      non-negative codes the OR has the leading one of the maximum: no comparator tree);
//   2. magnitude codes q = round(code * 2^(w - p - 1)) in [0, 2^w], by a shift (and a half-LSB
//      add before a right shift, AP_RND);
//   3. BL time steps: one random number per vector and step from a leap-forward LFSR
//      (random-number reuse), stream bits r < q, AND of the two streams, one counter per weight;
//   4. dW = +-count * 2^(sx + sd - log2 BL + lr_shift): a left shift of the count onto the weight
//      grid (the Python side chose the weight type so that the shift is never negative).
//
// Shifts, compares, ANDs and counters only: no multiplier.  The LFSR states live with the weight
// memory (the caller's statics), so consecutive steps draw fresh random numbers exactly as the
// reference's LFSR objects do across calls.
#ifndef NNET_ESSOP_H_
#define NNET_ESSOP_H_

#include "ap_fixed.h"
#include "ap_int.h"
#include "nnet_arith_common.h"

namespace nnet {
namespace essop {

// What toolchain/essop_hls.py writes per project (values here are placeholders).
struct essop_config {
    static const unsigned n_in = 1, n_out = 1;            // kernel (n_in, n_out), Keras layout, row-major
    static const unsigned bl = 64, log2_bl = 6;           // stream length, a power of two
    static const unsigned lfsr_width = 16;                // w: LFSR width and magnitude code width
    static const unsigned taps_x = 0x2D, taps_d = 0x100B; // feedback masks: bit (w - t) per tap t
    static const unsigned seed_x = 0xACE1, seed_d = 0x1D0F;
    static const unsigned leap = 16;            // clocks per random number (leap-forward)
    static const int x_width = 8, x_frac = 4;   // x: unsigned, x_frac fractional bits
    static const int d_width = 16, d_frac = 14; // delta: signed
    static const int w_width = 32, w_frac = 24; // weight memory: signed
    static const int upd_width = 32;            // |count| << shift fits upd_width - 1 bits
    static const int shift_base = 0;            // shift onto the weight grid = p_x + p_d + shift_base >= 0
    typedef ap_fixed<32, 8> weight_t;
};

// Leap-forward Fibonacci LFSR, shifting right: `leap` clocks of f = parity(s & mask),
// s = (s >> 1) | (f << (W - 1)).  Unrolled, one random number per hardware clock (an XOR network).
template <class state_T, unsigned W, unsigned MASK, unsigned LEAP> state_T lfsr_leap(state_T s) {
#pragma HLS INLINE
LeapLoop:
    for (unsigned c = 0; c < LEAP; c++) {
#pragma HLS UNROLL
        state_T f = 0;
    TapLoop:
        for (unsigned b = 0; b < W; b++) {
#pragma HLS UNROLL
            if ((MASK >> b) & 1) f ^= (s >> b) & 1;
        }
        s = (s >> 1) | (f << (W - 1));
    }
    return s;
}

// Position of the leading one of v (0 .. W-1), or 0 when v is 0: a priority encoder.  A zero vector
// has zero stream bits and zero counts, so its shift does not matter; 0 keeps it in range.
template <int W, class T> int leading_one(T v) {
#pragma HLS INLINE
    int p = 0;
LeadingOne:
    for (int b = 0; b < W; b++) {
#pragma HLS UNROLL
        if ((v >> b) & 1) p = b;
    }
    return p;
}

// q = floor(code * 2^(w - p - 1) + 1/2), as quantize_magnitude(code / 2^(p+1), w) computes it.
template <class q_T, int W_CODE, int LFSR_W, class code_T> q_T magnitude_code(code_T code, int p) {
#pragma HLS INLINE
    typedef typename nnet::arith::exact_uint<W_CODE + LFSR_W + 1>::type wide_t;
    const int left = LFSR_W - p - 1;
    if (left >= 0) return (q_T)((wide_t)code << left); // code < 2^(p+1), so q < 2^w: exact
    const int right = -left;                           // AP_RND: add half an LSB, then truncate
    return (q_T)(((wide_t)code + ((wide_t)1 << (right - 1))) >> right);
}

// One ESSOP step: weights[j * n_out + i] -= dW[i][j] (Keras kernel layout), LFSR states advanced by
// BL numbers each.  overflow becomes (and stays) true if a weight leaves weight_t's range (it then
// saturates: no longer the reference's value).
template <class x_T, class d_T, typename CONFIG_T>
void essop_update(const x_T x[CONFIG_T::n_in], const d_T delta[CONFIG_T::n_out],
                  typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_out],
                  typename nnet::arith::exact_uint<CONFIG_T::lfsr_width>::type &state_x,
                  typename nnet::arith::exact_uint<CONFIG_T::lfsr_width>::type &state_d, bool &overflow) {
    typedef typename nnet::arith::exact_uint<CONFIG_T::x_width>::type xcode_t;
    typedef typename nnet::arith::exact_uint<CONFIG_T::d_width>::type dcode_t; // |delta| code
    typedef typename nnet::arith::exact_uint<CONFIG_T::lfsr_width + 1>::type q_t;
    typedef typename nnet::arith::exact_uint<CONFIG_T::lfsr_width>::type lfsr_t;
    typedef typename nnet::arith::exact_uint<CONFIG_T::log2_bl + 1>::type count_t;
    typedef ap_int<CONFIG_T::upd_width> upd_t;
    typedef ap_int<CONFIG_T::w_width + 1> sum_t;
    static const unsigned n_in = CONFIG_T::n_in, n_out = CONFIG_T::n_out;

    xcode_t xc[n_in];
    dcode_t dc[n_out];
    bool neg[n_out];
    q_t qx[n_in], qd[n_out];
    count_t counts[n_out][n_in];
#pragma HLS ARRAY_PARTITION variable = xc complete
#pragma HLS ARRAY_PARTITION variable = dc complete
#pragma HLS ARRAY_PARTITION variable = neg complete
#pragma HLS ARRAY_PARTITION variable = qx complete
#pragma HLS ARRAY_PARTITION variable = qd complete
#pragma HLS ARRAY_PARTITION variable = counts complete dim = 0

    // 1. raw codes, signs and the OR of the magnitudes (leading one of the maximum)
    xcode_t x_or = 0;
    dcode_t d_or = 0;
XCodes:
    for (unsigned j = 0; j < n_in; j++) {
#pragma HLS UNROLL
        xc[j] = (xcode_t)x[j].range(CONFIG_T::x_width - 1, 0).to_uint64();
        x_or |= xc[j];
    }
DCodes:
    for (unsigned i = 0; i < n_out; i++) {
#pragma HLS UNROLL
        const ap_int<CONFIG_T::d_width> code = delta[i].range(CONFIG_T::d_width - 1, 0);
        neg[i] = code < 0;
        const ap_uint<CONFIG_T::d_width> mag =
            neg[i] ? (ap_uint<CONFIG_T::d_width>)(-code) : (ap_uint<CONFIG_T::d_width>)code;
        dc[i] = (dcode_t)mag.to_uint64();
        d_or |= dc[i];
    }
    const int px = leading_one<CONFIG_T::x_width>(x_or);
    const int pd = leading_one<CONFIG_T::d_width>(d_or);

    // 2. magnitude codes
XQuant:
    for (unsigned j = 0; j < n_in; j++) {
#pragma HLS UNROLL
        qx[j] = magnitude_code<q_t, CONFIG_T::x_width, CONFIG_T::lfsr_width>(xc[j], px);
    }
DQuant:
    for (unsigned i = 0; i < n_out; i++) {
#pragma HLS UNROLL
        qd[i] = magnitude_code<q_t, CONFIG_T::d_width, CONFIG_T::lfsr_width>(dc[i], pd);
    }
CountInit:
    for (unsigned i = 0; i < n_out; i++) {
#pragma HLS UNROLL
        for (unsigned j = 0; j < n_in; j++) {
#pragma HLS UNROLL
            counts[i][j] = 0;
        }
    }

    // 3. BL time steps, one per clock: two shared random numbers, n_in + n_out compares,
    //    n_in * n_out ANDs and counters
    lfsr_t rx = state_x, rd = state_d;
StreamLoop:
    for (unsigned t = 0; t < CONFIG_T::bl; t++) {
#pragma HLS PIPELINE II = 1
        bool xb[n_in], db[n_out];
#pragma HLS ARRAY_PARTITION variable = xb complete
#pragma HLS ARRAY_PARTITION variable = db complete
    XBits:
        for (unsigned j = 0; j < n_in; j++) xb[j] = (q_t)rx < qx[j];
    DBits:
        for (unsigned i = 0; i < n_out; i++) db[i] = (q_t)rd < qd[i];
    Count:
        for (unsigned i = 0; i < n_out; i++) {
            for (unsigned j = 0; j < n_in; j++) counts[i][j] += (count_t)(xb[j] & db[i]);
        }
        rx = lfsr_leap<lfsr_t, CONFIG_T::lfsr_width, CONFIG_T::taps_x, CONFIG_T::leap>(rx);
        rd = lfsr_leap<lfsr_t, CONFIG_T::lfsr_width, CONFIG_T::taps_d, CONFIG_T::leap>(rd);
    }
    state_x = rx;
    state_d = rd;

    // 4. dW = +-count << (px + pd + shift_base) on the weight grid, subtracted (gradient descent)
    const int shift = px + pd + CONFIG_T::shift_base;
    const sum_t w_max = (sum_t(1) << (CONFIG_T::w_width - 1)) - 1, w_min = -(sum_t(1) << (CONFIG_T::w_width - 1));
    bool ovf = false;
UpdateRows:
    for (unsigned j = 0; j < n_in; j++) {
    UpdateCols:
        for (unsigned i = 0; i < n_out; i++) {
#pragma HLS PIPELINE II = 1
            const unsigned k = j * n_out + i;
            const upd_t mag = (upd_t)counts[i][j] << shift;
            const ap_int<CONFIG_T::w_width> wcode = weights[k].range(CONFIG_T::w_width - 1, 0);
            sum_t sum = neg[i] ? (sum_t)(wcode + mag) : (sum_t)(wcode - mag);
            if (sum > w_max || sum < w_min) {
                ovf = true;
                sum = sum > w_max ? w_max : w_min;
            }
            weights[k].range(CONFIG_T::w_width - 1, 0) = sum.range(CONFIG_T::w_width - 1, 0);
        }
    }
    overflow = overflow || ovf;
}

} // namespace essop
} // namespace nnet

#endif
