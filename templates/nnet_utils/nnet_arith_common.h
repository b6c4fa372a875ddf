// arith4ml: pieces shared by the Bitshift and RNS kernels.
//
// Every arith4ml dot-product kernel works on the raw two's-complement integer
// code of its inputs (value = code * 2^-frac) and accumulates exactly in an
// ap_int whose width the Python side derived from the weights and the input
// type, so nothing in the kernel can overflow.  Only the final assignment to
// the layer's result type rounds or saturates, as that type says.
#ifndef NNET_ARITH_COMMON_H_
#define NNET_ARITH_COMMON_H_

#include "ap_fixed.h"
#include "ap_int.h"
#include "hls_stream.h"
#include <cmath>

// ---- which code path: the C-simulation fast path or the hardware path -------------------------------
// Every arith4ml branch between the two is keyed on ARITH4ML_HW_PATH.  Vitis HLS defines __SYNTHESIS__
// when it synthesises, and then gets the hardware path: ap types everywhere, the weight ROMs read as they
// are, ap_fixed conversions.  A C-simulation build defines ARITH4ML_SYNTHESIS_PATH instead
// (templates/build_lib.sh with ARITH4ML_CSIM_PATH=synthesis; toolchain.simlib) to compile that same path
// with g++ and the real ap types, so it is simulated and checked against the reference.  That build must
// not define __SYNTHESIS__ itself: the open-source ap types refuse it (#error), hls4ml's generated code
// then loads no weights from firmware/weights/*.txt but compiles every weight array in as an initialiser
// (minutes and gigabytes of g++ on a CIFAR-sized model), and hls4ml's stream kernels take other branches.
#if defined(__SYNTHESIS__) || defined(ARITH4ML_SYNTHESIS_PATH)
#define ARITH4ML_HW_PATH
#endif

namespace nnet {
namespace arith {

// Geometry and accumulator of an arith4ml dot-product layer.  A Dense layer is the
// 1x1 special case (in_height = in_width = 1, n_chan = n_in); Conv1D has height 1.
struct dot_config {
    static const unsigned in_height = 1, in_width = 1, n_chan = 1;
    static const unsigned filt_height = 1, filt_width = 1;
    static const unsigned out_height = 1, out_width = 1;
    static const unsigned stride_height = 1, stride_width = 1, pad_top = 0, pad_left = 0;
    static const unsigned n_in = 1, n_out = 1;     // patch length (filt_h * filt_w * n_chan), outputs per pixel
    static const int acc_width = 32, acc_frac = 0; // exact accumulator: acc_width bits, acc_frac fractional
    static const int raw_width = 33;               // input codes widened to this (>= input width + 1)
    static const bool in_signed = true;
    static const unsigned reuse_factor = 1;
};

// Integer types of exact codes and sums.  The hardware path always gets ap_int<W>/ap_uint<W>; the
// C-simulation fast path uses native 64-bit integers when W fits, which compute the same bits (every
// sum is exact by construction) an order of magnitude faster.
// 32-bit words where they suffice let g++ vectorise twice as wide.
template <int W, int NATIVE = (W <= 31 ? 32 : W <= 62 ? 64 : 0)> struct exact_int {
    typedef ap_int<W> type;
};
template <int W, int NATIVE = (W <= 32 ? 32 : W <= 64 ? 64 : 0)> struct exact_uint {
    typedef ap_uint<W> type;
};
#ifndef ARITH4ML_HW_PATH
template <int W> struct exact_int<W, 32> {
    typedef int type;
};
template <int W> struct exact_int<W, 64> {
    typedef long long type;
};
template <int W> struct exact_uint<W, 32> {
    typedef unsigned type;
};
template <int W> struct exact_uint<W, 64> {
    typedef unsigned long long type;
};
#endif

// ---- fixed-point type traits -------------------------------------------------------------------
// Width, integer bits, sign, rounding and overflow of an ap type; `known` is false for other types.
template <class T> struct fixed_traits {
    static const bool known = false;
};
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N> struct fixed_traits_of {
    static const bool known = true;
    static const int width = W, integer = I, frac = W - I, sat_bits = N;
    static const bool is_signed = S;
    static const ap_q_mode rounding = Q;
    static const ap_o_mode overflow = O;
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
struct fixed_traits<ap_fixed<W, I, Q, O, N>> : fixed_traits_of<W, I, true, Q, O, N> {};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
struct fixed_traits<ap_ufixed<W, I, Q, O, N>> : fixed_traits_of<W, I, false, Q, O, N> {};
template <int W> struct fixed_traits<ap_int<W>> : fixed_traits_of<W, W, true, AP_TRN, AP_WRAP, 0> {};
template <int W> struct fixed_traits<ap_uint<W>> : fixed_traits_of<W, W, false, AP_TRN, AP_WRAP, 0> {};

// ---- C-simulation fast path ----------------------------------------------------------------------
// ap_fixed conversions dominate C-sim time once the sums are native, so C-sim reads and writes the
// raw codes of ap types directly and rounds/saturates with 64-bit integer arithmetic that follows
// ap_fixed's rules (toolchain/arith/fixed.py is the reference; tests/test_native_cast.py checks this
// code against the ap_fixed cast itself for every rounding and overflow mode).  The hardware path never
// sees it.
#ifndef ARITH4ML_HW_PATH
// True when T's codes fit a native integer with room for one rounding carry.
template <class T> struct native_fixed {
    static const bool value = fixed_traits<T>::known && fixed_traits<T>::width <= 62 && fixed_traits<T>::sat_bits == 0 &&
                              fixed_traits<T>::overflow != AP_WRAP_SM;
};

// Raw two's complement code of an ap type whose width is at most 64 bits: ap_private keeps it sign-
// (or zero-) extended in one 64-bit word.
template <class T> inline long long native_code(const T &x) { return (long long)x.V.get_VAL(); }

// code * 2^-shift rounded to an integer with an ap_fixed rounding mode; shift in [1, 62].  Written without
// branches on the data (the mode is a compile-time constant once inlined), so loops over arrays vectorise.
inline long long native_round(long long code, int shift, ap_q_mode q) {
    const long long floor_ = code >> shift;                                        // arithmetic shift: floor
    const long long rem = code - (long long)((unsigned long long)floor_ << shift); // in [0, 2^shift)
    if (q == AP_TRN) return floor_;
    if (q == AP_TRN_ZERO) return floor_ + ((code < 0) & (rem != 0));
    const long long half = 1LL << (shift - 1);
    // exactly half-way: up towards +inf (RND), never (RND_MIN_INF), for negatives (RND_ZERO: towards zero),
    // for positives (RND_INF: away from zero), from an odd floor (RND_CONV: to even)
    const bool tie_up = q == AP_RND           ? true
                        : q == AP_RND_MIN_INF ? false
                        : q == AP_RND_ZERO    ? code < 0
                        : q == AP_RND_INF     ? code > 0
                                              : (floor_ & 1) != 0;
    return floor_ + ((rem > half) | ((rem == half) & tie_up));
}

// Apply an overflow mode to an integer code on the target grid (width <= 62); branch-free like native_round.
inline long long native_overflow(long long code, int width, bool is_signed, ap_o_mode o) {
    if (o == AP_WRAP) {
        const unsigned long long bits = (unsigned long long)code << (64 - width);
        return is_signed ? (long long)bits >> (64 - width) : (long long)(bits >> (64 - width));
    }
    const long long hi = is_signed ? (1LL << (width - 1)) - 1 : (1LL << width) - 1;
    const long long lo = !is_signed ? 0 : o == AP_SAT_SYM ? -hi : -(1LL << (width - 1));
    if (o == AP_SAT_ZERO) return (code < lo) | (code > hi) ? 0 : code;
    return code < lo ? lo : code > hi ? hi : code;
}

// The code of T for a double, as T(v) gives it: v * 2^frac is exact (a power-of-two scaling), then T's
// rounding (the half-way tests compare with floor + 1/2, exact below 2^52, where doubles are integers) and
// T's overflow (a value beyond 2^62 keeps its low width bits under AP_WRAP: fmod is exact).  Decimal
// literals (2^62, 2^52, the smallest subnormal): hex floats need C++17, Vivado HLS compiles C++11.
template <class T> inline long long native_from_double(double v) {
    typedef fixed_traits<T> t;
    double s = std::ldexp(v, t::frac);
    if (s == 0.0 && v != 0.0)
        s = v < 0 ? -4.9406564584124654e-324 : 4.9406564584124654e-324; // underflow: keep the sign for floor
    if (std::fabs(s) >= 4611686018427387904.0) {
        if (t::overflow != AP_WRAP)
            return native_overflow(s < 0 ? -(1LL << 62) : (1LL << 62), t::width, t::is_signed, t::overflow);
        s = std::fmod(s, 4611686018427387904.0); // same low bits: 2^62 is a multiple of 2^width
    }
    const double fl = std::floor(s);
    long long code = (long long)fl;
    if (t::rounding == AP_TRN_ZERO) {
        code += (s < 0 && s > fl);
    } else if (t::rounding != AP_TRN && std::fabs(s) < 4503599627370496.0) {
        const double mid = fl + 0.5;
        if (s > mid)
            code += 1;
        else if (s == mid) {
            switch (t::rounding) {
            case AP_RND:
                code += 1;
                break;
            case AP_RND_MIN_INF:
                break;
            case AP_RND_ZERO:
                code += (s < 0);
                break;
            case AP_RND_INF:
                code += (s > 0);
                break;
            default:
                code += (code & 1);
                break; // AP_RND_CONV
            }
        }
    }
    return native_overflow(code, t::width, t::is_signed, t::overflow);
}

// The code of res_T for the exact value code * 2^-FRAC, as res_T(value) would give it.  The caller
// guarantees native_fixed<res_T> and that code << (res frac - FRAC) cannot overflow 63 bits.
template <class res_T, int FRAC> inline long long native_requantize(long long code) {
    typedef fixed_traits<res_T> t;
    const int shift = FRAC - t::frac;
    if (shift > 62) // |value| < 1/2 LSB (|code| < 2^62): only truncation of a negative value gives -1
        code = (t::rounding == AP_TRN && code < 0) ? -1 : 0;
    else if (shift > 0)
        code = native_round(code, shift, t::rounding);
    else if (shift < 0)
        code = (long long)((unsigned long long)code << (-shift));
    return native_overflow(code, t::width, t::is_signed, t::overflow);
}

// Store a code (already rounded and within res_T's range: sign- or zero-extended) straight into the ap
// type's word: setBits goes through ap_private's volatile clearUnusedBits, a store and a reload per value.
template <class res_T> inline void set_code(res_T &res, long long code) { res.V.set_VAL((uint64_t)code); }
#endif

// Weight arrays as the kernels read them.  The hardware path reads the ROM itself.  The C-simulation
// fast path reads a native copy made once per array (hls4ml fills the arrays before the first inference
// and never changes them), because converting ap_int elements on every read costs more than the arithmetic.
// TAG tells apart two arrays of one layer.
#ifdef ARITH4ML_HW_PATH
template <typename CONFIG_T, int TAG, unsigned N, class native_T = int, class T> const T *weight_rom(const T w[N]) {
    return w;
}
#else
template <typename CONFIG_T, int TAG, unsigned N, class native_T = int, class T> const native_T *weight_rom(const T w[N]) {
    static native_T native[N];
    static const T *source = 0;
    if (source != w) {
        for (unsigned k = 0; k < N; k++) native[k] = native_T(w[k]);
        source = w;
    }
    return native;
}
#endif

// The ap_fixed way of the two conversions below; the hardware path always takes it.  Each conversion
// picks its way at compile time (a struct per way), so C-simulation does not instantiate the unused one.
struct ap_way {
    template <class raw_T, class data_T> static raw_T raw_code(const data_T &x) {
#pragma HLS INLINE
        typedef fixed_traits<data_T> t;
        if (t::is_signed) {
            ap_int<t::width> r = x.range(t::width - 1, 0);
            return raw_T(r);
        }
        ap_uint<t::width> r = x.range(t::width - 1, 0);
        return raw_T(r);
    }
    template <int ACC_W, int ACC_FRAC, class accum_T, class res_T, bool RELU, class acc_T>
    static res_T cast_result(const acc_T &acc) {
#pragma HLS INLINE
        const ap_int<ACC_W> bits = acc;
        ap_fixed<ACC_W, ACC_W - ACC_FRAC> exact;
        exact.range(ACC_W - 1, 0) = bits.range(ACC_W - 1, 0);
        const accum_T sum = exact;
        if (RELU && sum < 0) return res_T(0);
        return res_T(sum);
    }
};

#ifndef ARITH4ML_HW_PATH
struct native_way {
    template <class raw_T, class data_T> static raw_T raw_code(const data_T &x) { return raw_T(native_code(x)); }
    template <int ACC_W, int ACC_FRAC, class accum_T, class res_T, bool RELU, class acc_T>
    static res_T cast_result(const acc_T &acc) {
        long long code = native_requantize<accum_T, ACC_FRAC>((long long)acc);
        if (RELU && code < 0) code = 0;
        res_T res;
        set_code(res, native_requantize<res_T, fixed_traits<accum_T>::frac>(code));
        return res;
    }
};

template <bool NATIVE> struct conversion_way {
    typedef ap_way type;
};
template <> struct conversion_way<true> {
    typedef native_way type;
};

// Native casts need every intermediate code (shifted left onto a finer grid) to stay within 62 bits.
template <int ACC_W, int ACC_FRAC, class accum_T, class res_T> struct native_cast_ok {
    static const int accum_frac = fixed_traits<accum_T>::frac, res_frac = fixed_traits<res_T>::frac;
    static const bool value = native_fixed<accum_T>::value && native_fixed<res_T>::value && ACC_W <= 62 &&
                              ACC_W + (accum_frac > ACC_FRAC ? accum_frac - ACC_FRAC : 0) <= 62 &&
                              fixed_traits<accum_T>::width + (res_frac > accum_frac ? res_frac - accum_frac : 0) <= 62;
};
#endif

// Raw integer code of a fixed-point value (value = code * 2^-frac), sign- or zero-extended.
template <class raw_T, class data_T> raw_T raw_code(const data_T &x) {
#pragma HLS INLINE
#ifdef ARITH4ML_HW_PATH
    return ap_way::raw_code<raw_T>(x);
#else
    return conversion_way<native_fixed<data_T>::value>::type::template raw_code<raw_T>(x);
#endif
}

// Assign an exact accumulator (acc * 2^-ACC_FRAC) to accum_T and then to res_T, each with its own
// rounding and overflow, as res_T(accum_T(acc)) does; with RELU, negative accum_T values give 0.
template <int ACC_W, int ACC_FRAC, class accum_T, class res_T, bool RELU, class acc_T> res_T cast_result(const acc_T &acc) {
#pragma HLS INLINE
#ifdef ARITH4ML_HW_PATH
    return ap_way::cast_result<ACC_W, ACC_FRAC, accum_T, res_T, RELU>(acc);
#else
    typedef typename conversion_way<native_cast_ok<ACC_W, ACC_FRAC, accum_T, res_T>::value>::type way;
    return way::template cast_result<ACC_W, ACC_FRAC, accum_T, res_T, RELU>(acc);
#endif
}

// Exact ReLU of a whole array; res_T rounds and saturates as it says.  hls4ml's relu computes the
// same values; this one lets C-simulation take the native fast path.
template <class data_T, class res_T, typename CONFIG_T>
void relu(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
#pragma HLS PIPELINE
    typedef typename exact_int<fixed_traits<data_T>::width + 1>::type code_t;
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        const code_t code = raw_code<code_t>(data[i]);
        res[i] = cast_result<fixed_traits<data_T>::width + 1, fixed_traits<data_T>::frac, data_T, res_T, true>(code);
    }
}

// A batch entry point's input and output conversions: doubles to T (as T(v) does) and T to doubles (exact
// below 53 bits).  C-simulation only (bridges are never synthesised); native where T's codes fit.
template <bool NATIVE> struct from_double_way { // ap_fixed's own conversion
    template <class T> static void convert(double v, T &out) { out = T(v); }
};
#ifndef ARITH4ML_HW_PATH
template <> struct from_double_way<true> {
    template <class T> static void convert(double v, T &out) { set_code(out, native_from_double<T>(v)); }
};
#endif

template <class T, unsigned N> void from_doubles(const double in[N], T out[N]) {
#ifdef ARITH4ML_HW_PATH
    for (unsigned i = 0; i < N; i++) from_double_way<false>::convert(in[i], out[i]);
#else
    for (unsigned i = 0; i < N; i++) from_double_way<native_fixed<T>::value>::convert(in[i], out[i]);
#endif
}

template <class T, unsigned N> void to_doubles(const T in[N], double out[N]) {
    for (unsigned i = 0; i < N; i++) out[i] = in[i].to_double();
}

// The raw code of constant w[k] as code_T.  The hardware path reads the ROM; C-simulation reads a table of
// native codes made once per array (as weight_rom does for integer arrays).
#ifdef ARITH4ML_HW_PATH
template <typename CONFIG_T, int TAG, unsigned N, class code_T, class T> code_T rom_code(const T w[N], unsigned k) {
#pragma HLS INLINE
    return raw_code<code_T>(w[k]);
}
#else
template <typename CONFIG_T, int TAG, unsigned N, class code_T, class T> code_T rom_code(const T w[N], unsigned k) {
    static code_T codes[N];
    static const T *source = 0;
    if (source != w) {
        for (unsigned j = 0; j < N; j++) codes[j] = raw_code<code_T>(w[j]);
        source = w;
    }
    return codes[k];
}
#endif

// The exact type of a + b for fixed-point a (A_W bits, A_F fractional) and b (B_W, B_F): both aligned to the
// finer grid, one carry bit.  This is the value ap_fixed arithmetic gives before the cast to a result type.
template <int A_W, int A_F, int B_W, int B_F> struct exact_sum {
    static const int frac = A_F > B_F ? A_F : B_F;
    static const int a_shift = frac - A_F, b_shift = frac - B_F;
    static const int width = (A_W + a_shift > B_W + b_shift ? A_W + a_shift : B_W + b_shift) + 1;
    typedef typename exact_int<width>::type code_t;
    typedef ap_fixed<width, width - frac> type;
};

// Exact BatchNorm / ApplyAlpha: y = x * scale + bias per channel (channels last), one cast to res_T, as
// hls4ml's normalize computes it; in C-simulation on native codes.  The exact types make the product and
// the sum lossless (toolchain/backends/exact/batchnorm.py keeps input + scale within 62 bits).
template <class data_T, class res_T, typename CONFIG_T>
void normalize(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
               const typename CONFIG_T::scale_t scale[CONFIG_T::n_scale_bias],
               const typename CONFIG_T::bias_t bias[CONFIG_T::n_scale_bias]) {
#pragma HLS function_instantiate variable = scale, bias
#pragma HLS PIPELINE II = CONFIG_T::reuse_factor
#pragma HLS ARRAY_PARTITION variable = scale complete
#pragma HLS ARRAY_PARTITION variable = bias complete
    typedef fixed_traits<data_T> x_t;
    typedef fixed_traits<typename CONFIG_T::scale_t> s_t;
    typedef fixed_traits<typename CONFIG_T::bias_t> b_t;
    typedef exact_sum<x_t::width + s_t::width, x_t::frac + s_t::frac, b_t::width, b_t::frac> sum;
    typedef typename sum::code_t code_t;
Normalize:
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        const unsigned c = CONFIG_T::n_filt == (unsigned)-1 ? i : i % CONFIG_T::n_filt;
        const code_t x = raw_code<code_t>(data[i]);
        const code_t s = rom_code<CONFIG_T, 0, CONFIG_T::n_scale_bias, code_t>(scale, c);
        const code_t b = rom_code<CONFIG_T, 1, CONFIG_T::n_scale_bias, code_t>(bias, c);
        const code_t acc = ((x * s) << sum::a_shift) + (b << sum::b_shift);
        res[i] = cast_result<sum::width, sum::frac, typename sum::type, res_T, false>(acc);
    }
}

// Exact elementwise a + b (hls4ml's add for Merge 'add'), one cast to res_T; native codes in C-simulation.
template <class input1_T, class input2_T, class res_T, typename CONFIG_T>
void add(const input1_T data1[CONFIG_T::n_elem1], const input2_T data2[CONFIG_T::n_elem2], res_T res[CONFIG_T::n_elem]) {
#pragma HLS PIPELINE
    typedef fixed_traits<input1_T> a_t;
    typedef fixed_traits<input2_T> b_t;
    typedef exact_sum<a_t::width, a_t::frac, b_t::width, b_t::frac> sum;
    typedef typename sum::code_t code_t;
Add:
    for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
        const code_t a = raw_code<code_t>(data1[i % CONFIG_T::n_elem1]);
        const code_t b = raw_code<code_t>(data2[i % CONFIG_T::n_elem2]);
        res[i] =
            cast_result<sum::width, sum::frac, typename sum::type, res_T, false>((a << sum::a_shift) + (b << sum::b_shift));
    }
}

// Gather one convolution patch (filt_height x filt_width x n_chan, Keras order) for output pixel (oh, ow).
// Positions in the zero padding get `pad`.
template <class T, typename CONFIG_T>
void gather_patch(const T data[], T patch[CONFIG_T::filt_height * CONFIG_T::filt_width * CONFIG_T::n_chan], unsigned oh,
                  unsigned ow, const T &pad) {
#pragma HLS INLINE
    for (unsigned fh = 0; fh < CONFIG_T::filt_height; fh++) {
        for (unsigned fw = 0; fw < CONFIG_T::filt_width; fw++) {
            const int ih = int(oh * CONFIG_T::stride_height + fh) - int(CONFIG_T::pad_top);
            const int iw = int(ow * CONFIG_T::stride_width + fw) - int(CONFIG_T::pad_left);
            const bool inside = ih >= 0 && ih < int(CONFIG_T::in_height) && iw >= 0 && iw < int(CONFIG_T::in_width);
            for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                const unsigned p = (fh * CONFIG_T::filt_width + fw) * CONFIG_T::n_chan + c;
                patch[p] = inside ? data[(ih * CONFIG_T::in_width + iw) * CONFIG_T::n_chan + c] : pad;
            }
        }
    }
}

// io_stream adaptor: read a whole frame of beats into a flat array.
template <class beat_T, class T, unsigned N> void read_frame(hls::stream<beat_T> &in, T flat[N]) {
    for (unsigned b = 0; b < N / beat_T::size; b++) {
#pragma HLS PIPELINE
        beat_T beat = in.read();
        for (unsigned k = 0; k < beat_T::size; k++) flat[b * beat_T::size + k] = beat[k];
    }
}

// io_stream adaptor: write a flat array as beats.
template <class beat_T, class T, unsigned N> void write_frame(const T flat[N], hls::stream<beat_T> &out) {
    for (unsigned b = 0; b < N / beat_T::size; b++) {
#pragma HLS PIPELINE
        beat_T beat;
        for (unsigned k = 0; k < beat_T::size; k++) beat[k] = flat[b * beat_T::size + k];
        out.write(beat);
    }
}

// Raw codes of a whole input frame, widened to the accumulator.
template <class data_T, typename CONFIG_T, class raw_T>
void raw_frame(const data_T data[], raw_T raw[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan]) {
#pragma HLS INLINE
    for (unsigned k = 0; k < CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan; k++) {
#pragma HLS UNROLL
        raw[k] = raw_code<raw_T>(data[k]);
    }
}

// +term, -term or 0 for sign +1, -1 or 0: two masks instead of a branch (the sign pattern is
// random, so C-sim would mispredict half the branches) and no multiplication.
template <class acc_T, class sign_T> inline acc_T signed_term(const acc_T &term, const sign_T &sign) {
#pragma HLS INLINE
    const acc_T keep = -acc_T(sign != 0), negate = -acc_T(sign < 0);
    return ((term & keep) ^ negate) - negate;
}

// Ordinary product, for layers whose weights are neither power-of-two nor ternary.
struct mult_kernel {
    template <typename CONFIG_T, class acc_T>
    static void dot(const acc_T x[CONFIG_T::n_in], acc_T acc[CONFIG_T::n_out],
                    const typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_out]) {
#pragma HLS INLINE
        const auto *rom = weight_rom<CONFIG_T, 0, CONFIG_T::n_in * CONFIG_T::n_out, long long>(weights);
        for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
            for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
#pragma HLS UNROLL
                const auto w = rom[i * CONFIG_T::n_out + o];
                if (w == 0) continue; // pruned weight: no product is generated
                acc[o] += x[i] * acc_T(w);
            }
        }
    }
};

// The layer: every output pixel; KERNEL::dot adds the patch's terms to all n_out exact accumulators,
// which start at the bias (already on the accumulator grid).
template <class KERNEL, class data_T, class res_T, typename CONFIG_T, class... WEIGHTS>
void dot_frame(const data_T data[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan],
               res_T res[CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_out],
               const typename CONFIG_T::bias_t biases[CONFIG_T::n_out], const WEIGHTS *...weights) {
#pragma HLS PIPELINE II = CONFIG_T::reuse_factor
    // raw_width >= acc_width, so one exact integer type serves inputs, terms and the accumulator
    typedef typename exact_int<CONFIG_T::raw_width>::type acc_int;
    acc_int raw[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan];
    raw_frame<data_T, CONFIG_T, acc_int>(data, raw);
    acc_int patch[CONFIG_T::n_in];
    acc_int acc[CONFIG_T::n_out];
    for (unsigned oh = 0; oh < CONFIG_T::out_height; oh++) {
        for (unsigned ow = 0; ow < CONFIG_T::out_width; ow++) {
            gather_patch<acc_int, CONFIG_T>(raw, patch, oh, ow, acc_int(0));
            for (unsigned o = 0; o < CONFIG_T::n_out; o++) acc[o] = biases[o];
            KERNEL::template dot<CONFIG_T, acc_int>(patch, acc, weights...);
            for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
                res[(oh * CONFIG_T::out_width + ow) * CONFIG_T::n_out + o] =
                    cast_result<CONFIG_T::acc_width, CONFIG_T::acc_frac, typename CONFIG_T::accum_t, res_T, false>(acc[o]);
            }
        }
    }
}

// The io_parallel dot layer as a type (run = dot_frame), for frame_stream.
template <class KERNEL> struct dot_layer {
    template <class data_T, class res_T, typename CONFIG_T, class... ARGS>
    static void run(const data_T data[], res_T res[], const ARGS *...args) {
#pragma HLS INLINE
        dot_frame<KERNEL, data_T, res_T, CONFIG_T>(data, res, args...);
    }
};

// io_stream: buffer one frame, run the io_parallel LAYER on it (biases and weights in args), stream
// the result out.
template <class LAYER, class data_T, class res_T, typename CONFIG_T, class... ARGS>
void frame_stream(hls::stream<data_T> &data, hls::stream<res_T> &res, const ARGS *...args) {
    const unsigned n_in_total = CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan;
    const unsigned n_out_total = CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_out;
    typename data_T::value_type in_flat[n_in_total];
    typename res_T::value_type out_flat[n_out_total];
    read_frame<data_T, typename data_T::value_type, n_in_total>(data, in_flat);
    LAYER::template run<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(in_flat, out_flat, args...);
    write_frame<res_T, typename res_T::value_type, n_out_total>(out_flat, res);
}

} // namespace arith
} // namespace nnet

#endif
