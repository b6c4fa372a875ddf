// arith4ml Approx kernels (MAx-DNN): 8-bit products by approximate multipliers.
//
// Every input value is quantized once to the layer's signed 8-bit activation type act_t
// (ap_fixed<8, I, AP_RND, AP_SAT>, what the Keras ApproxDense/ApproxConv2D layer does) and the line buffers and
// windows hold that 8-bit code.  Each term multiplies it by a signed 8-bit weight code with the multiplier its
// (output, input channel) pair is assigned (toolchain/kernels/approx.py), and the sum stays exact.
//
// ROUP(k, m) (docs/arithmetic.md, "Approximate multipliers") is emitted as the reduced multiplier it is:
//   rounded activation   a_r = floor(a / 2^m) + a_{m-1}              (an (8 - m)-bit incrementer)
//   perforated weight    b_r = floor(b / 4^k) + b_{2k-1}             (a constant: the ROM holds b_r, not b)
//   narrower product     a_r * b_r                                    (act_width x operand_width bits)
//   shift                (a_r * b_r) << (m + 2k)                      (wiring)
// A table multiplier is a ROM of products indexed [slot][b + 128][a + 128]: with a constant weight a term reads
// one 256-entry row, the rest of the table is never addressed.
//
// The frames (io_parallel, io_stream line buffers) and the fold schedule are in nnet_arith_common.h; a kernel here
// only adds the terms of one fold step.  Weight arrays are in fold order (fold_index).
#ifndef NNET_APPROX_H_
#define NNET_APPROX_H_

#include "nnet_arith_common.h"

namespace nnet {
namespace arith {

static const int approx_operand_bits = 8;                      // activation and weight codes of every approximate multiplier
static const int approx_table_side = 1 << approx_operand_bits; // rows (weights) and columns (activations)

struct approx_config : dot_config {
    typedef ap_fixed<approx_operand_bits, 1, AP_RND, AP_SAT> act_t; // the layer's 8-bit activation quantizer
    static const int act_width = 9;     // bits of the rounded activation a_r (9 - min m; 8 when min m = 0)
    static const int operand_width = 9; // bits of the perforated weight b_r (9 - 2 min k; 8 when min k = 0)
    static const int product_shift = 0; // acc_frac - act frac - weight frac: the products onto the accumulator grid
    // one multiplier for the whole layer: its (k, m) are constants here and the shift ROMs are not read
    static const bool uniform = false;
    static const unsigned roup_k = 0, roup_m = 0;
    static const unsigned n_tables = 0; // table multipliers of the layer (approx_table_kernel)
};

// The ROUP product of activation code a and perforated weight b_r, on the product's own grid (before
// product_shift).  m and k are constants per term once the ROMs are constant-propagated (Strategy Latency).
template <typename CONFIG_T, class acc_T, class elem_T, class operand_T>
inline acc_T roup_product(const elem_T &a, const operand_T &b_r, unsigned m, unsigned k) {
#pragma HLS INLINE
    typedef typename exact_int<CONFIG_T::act_width>::type act_r_t;
    typedef typename exact_int<CONFIG_T::act_width + CONFIG_T::operand_width>::type product_t;
    // round half up at bit m: the bit below the cut is the incrementer's carry-in
    const act_r_t a_r = m == 0 ? act_r_t(a) : act_r_t(act_r_t(a >> m) + act_r_t((a >> (m - 1)) & 1));
    const product_t p = product_t(a_r) * product_t(b_r);
    return acc_T(p) << (m + 2 * k);
}

// (k, m) of a term: the config's constants for a uniform layer, else the term's shift ROM words.
template <typename CONFIG_T, class shift_T> inline unsigned term_m(const shift_T *m_rom, unsigned k) {
#pragma HLS INLINE
    return CONFIG_T::uniform ? CONFIG_T::roup_m : unsigned(m_rom[k]);
}
template <typename CONFIG_T, class shift_T> inline unsigned term_k(const shift_T *k_rom, unsigned k) {
#pragma HLS INLINE
    return CONFIG_T::uniform ? CONFIG_T::roup_k : unsigned(k_rom[k]);
}

// Elements are 8-bit activation codes; the accumulator, init and result are binary_kernel's.
struct approx_kernel_base : binary_kernel {
    template <typename CONFIG_T> struct element {
        typedef typename exact_int<approx_operand_bits>::type type;
    };
    // act_t(x): the 8-bit activation quantizer (round half up, saturate), once per input value
    template <typename CONFIG_T, class data_T> static typename element<CONFIG_T>::type encode(const data_T &x) {
#pragma HLS INLINE
        typedef typename element<CONFIG_T>::type elem_T;
        typedef typename CONFIG_T::act_t act_T;
#ifndef ARITH4ML_HW_PATH
        typedef fixed_traits<data_T> in;
        const int left = fixed_traits<act_T>::frac - in::frac; // a finer activation grid shifts the code left
        if (native_fixed<data_T>::value && in::width + (left > 0 ? left : 0) <= 62)
            return elem_T(native_requantize<act_T, in::frac>(native_code(x)));
#endif
        const act_T a = x;
        return raw_code<elem_T>(a);
    }
};

// One fold step (ri, d) of an approximate layer: every term's product, shifted onto the accumulator grid.  With
// TABLES, a term whose slot is j > 0 reads row b + 128, column a + 128 of table j - 1; every other term is ROUP.
// Without TABLES, slots and tables are not read (the caller passes any ROM for them).
template <bool TABLES, typename CONFIG_T, class elem_T, class acc_T, class operand_R, class m_R, class k_R, class slot_R,
          class table_R>
inline void approx_fold(const elem_T x[CONFIG_T::n_in], acc_T acc[CONFIG_T::n_out], unsigned ri, unsigned d,
                        const operand_R *operands, const m_R *m_rom, const k_R *k_rom, const slot_R *slots,
                        const table_R *tables) {
#pragma HLS INLINE
    const int offset = approx_table_side / 2; // codes -128..127 -> rows and columns 0..255
Inputs:
    for (unsigned s = 0; s < CONFIG_T::fold_in; s++) {
#pragma HLS UNROLL
        const elem_T a = x[ri * CONFIG_T::fold_in + s];
    Outputs:
        for (unsigned t = 0; t < CONFIG_T::fold_out; t++) {
#pragma HLS UNROLL
            const unsigned k = fold_index<CONFIG_T>(ri, d, s, t);
            const unsigned slot = TABLES ? unsigned(slots[k]) : 0;
            acc_T p;
            if (slot == 0) {
                p = roup_product<CONFIG_T, acc_T>(a, operands[k], term_m<CONFIG_T>(m_rom, k), term_k<CONFIG_T>(k_rom, k));
            } else {
                const unsigned row = unsigned(int(operands[k]) + offset), col = unsigned(int(a) + offset);
                p = acc_T(tables[((slot - 1) * approx_table_side + row) * approx_table_side + col]);
            }
            acc[d * CONFIG_T::fold_out + t] += p << CONFIG_T::product_shift;
        }
    }
}

// Layers whose multipliers are all ROUP(k, m) (exact is ROUP(0, 0)): the reduced multipliers only.
struct roup_kernel : approx_kernel_base {
    template <typename CONFIG_T, class elem_T, class acc_T>
    static void fold(const elem_T x[CONFIG_T::n_in], acc_T acc[CONFIG_T::n_out], unsigned ri, unsigned d,
                     const typename CONFIG_T::operand_t operands[CONFIG_T::n_in * CONFIG_T::n_out],
                     const typename CONFIG_T::act_shift_t act_shifts[CONFIG_T::n_in * CONFIG_T::n_out],
                     const typename CONFIG_T::weight_shift_t weight_shifts[CONFIG_T::n_in * CONFIG_T::n_out]) {
#pragma HLS function_instantiate variable = operands, act_shifts, weight_shifts
#pragma HLS ARRAY_RESHAPE variable = operands cyclic factor = CONFIG_T::fold_in * CONFIG_T::fold_out
#pragma HLS ARRAY_RESHAPE variable = act_shifts cyclic factor = CONFIG_T::fold_in * CONFIG_T::fold_out
#pragma HLS ARRAY_RESHAPE variable = weight_shifts cyclic factor = CONFIG_T::fold_in * CONFIG_T::fold_out
        const unsigned n_weights = CONFIG_T::n_in * CONFIG_T::n_out;
        const auto *operand_rom = weight_rom<CONFIG_T, 0, n_weights>(operands);
        const auto *m_rom = weight_rom<CONFIG_T, 1, n_weights>(act_shifts);
        const auto *k_rom = weight_rom<CONFIG_T, 2, n_weights>(weight_shifts);
        approx_fold<false, CONFIG_T>(x, acc, ri, d, operand_rom, m_rom, k_rom, operand_rom, operand_rom);
    }
};

// Layers with at least one table multiplier.
struct approx_table_kernel : approx_kernel_base {
    template <typename CONFIG_T, class elem_T, class acc_T>
    static void fold(const elem_T x[CONFIG_T::n_in], acc_T acc[CONFIG_T::n_out], unsigned ri, unsigned d,
                     const typename CONFIG_T::operand_t operands[CONFIG_T::n_in * CONFIG_T::n_out],
                     const typename CONFIG_T::act_shift_t act_shifts[CONFIG_T::n_in * CONFIG_T::n_out],
                     const typename CONFIG_T::weight_shift_t weight_shifts[CONFIG_T::n_in * CONFIG_T::n_out],
                     const typename CONFIG_T::slot_t slots[CONFIG_T::n_in * CONFIG_T::n_out],
                     const typename CONFIG_T::table_t tables[CONFIG_T::n_tables * approx_table_side * approx_table_side]) {
#pragma HLS function_instantiate variable = operands, act_shifts, weight_shifts, slots, tables
#pragma HLS ARRAY_RESHAPE variable = operands cyclic factor = CONFIG_T::fold_in * CONFIG_T::fold_out
#pragma HLS ARRAY_RESHAPE variable = act_shifts cyclic factor = CONFIG_T::fold_in * CONFIG_T::fold_out
#pragma HLS ARRAY_RESHAPE variable = weight_shifts cyclic factor = CONFIG_T::fold_in * CONFIG_T::fold_out
#pragma HLS ARRAY_RESHAPE variable = slots cyclic factor = CONFIG_T::fold_in * CONFIG_T::fold_out
        const unsigned n_weights = CONFIG_T::n_in * CONFIG_T::n_out;
        const unsigned n_entries = CONFIG_T::n_tables * approx_table_side * approx_table_side;
        const auto *operand_rom = weight_rom<CONFIG_T, 0, n_weights>(operands);
        const auto *m_rom = weight_rom<CONFIG_T, 1, n_weights>(act_shifts);
        const auto *k_rom = weight_rom<CONFIG_T, 2, n_weights>(weight_shifts);
        const auto *slot_rom = weight_rom<CONFIG_T, 3, n_weights>(slots);
        const auto *table_rom = weight_rom<CONFIG_T, 4, n_entries, acc_T>(tables);
        approx_fold<true, CONFIG_T>(x, acc, ri, d, operand_rom, m_rom, k_rom, slot_rom, table_rom);
    }
};

} // namespace arith
} // namespace nnet

#endif
