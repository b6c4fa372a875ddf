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
#include <type_traits>
#ifndef __SYNTHESIS__
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>
#endif

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
    static const unsigned stride_height = 1, stride_width = 1, pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
    static const unsigned n_in = 1, n_out = 1;     // patch length (filt_h * filt_w * n_chan), outputs per pixel
    static const int acc_width = 32, acc_frac = 0; // exact accumulator: acc_width bits, acc_frac fractional
    static const int raw_width = 33;               // input codes widened to this (>= input width + 1)
    static const int in_bits = 16;                 // width of the input type (what line buffers store per value)
    static const bool in_signed = true;
    static const unsigned reuse_factor = 1;
    // fold (toolchain/kernels/fold.py): n_fold = fold_in_steps * fold_out_steps cycles of fold_in x fold_out terms
    static const unsigned n_fold = 1, fold_in_steps = 1, fold_out_steps = 1, fold_in = 1, fold_out = 1;
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

#if !defined(__SYNTHESIS__) && defined(WEIGHTS_DIR) // C-sim builds define WEIGHTS_DIR, as hls4ml's loader needs
// ---- loading the weight arrays in C-simulation -------------------------------------------------------
// hls4ml loads every weight array from WEIGHTS_DIR/<name>.txt (one line of comma-separated values) through
// `istringstream >> T`, which instantiates ap_fixed's istream and double-conversion machinery for every array
// type.  arith4ml's loaders read the line once with strtoll (integer arrays: codes, residues, the bias on the
// accumulator grid, exact beyond 2^53) or strtod (fixed-point arrays, e.g. BatchNorm scales) and convert as
// T(double) does (natively on the fast path, as from_doubles does); toolchain/backends/writer.py calls them.
// Same file format and messages as hls4ml's.
inline std::string read_weight_line(const char *fname) {
    const std::string full_path = std::string(WEIGHTS_DIR) + "/" + std::string(fname);
    std::ifstream infile(full_path.c_str(), std::ios::binary);
    if (infile.fail()) {
        std::cerr << "ERROR: file " << full_path << " does not exist" << std::endl;
        exit(1);
    }
    std::string line;
    std::getline(infile, line);
    return line;
}

// The numbers of one line, parsed by PARSE (strtoll or strtod in a wrapper); a message if there are not SIZE.
template <class V, V (*PARSE)(const char *, char **)> std::vector<V> parse_weight_line(const char *fname, size_t expected) {
    const std::string line = read_weight_line(fname);
    std::vector<V> values;
    values.reserve(expected);
    const char *p = line.c_str();
    char *end = 0;
    for (V v = PARSE(p, &end); end != p; v = PARSE(p, &end)) {
        values.push_back(v);
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    if (values.size() != expected)
        std::cerr << "ERROR: Expected " << expected << " values but read " << values.size() << " values from " << fname
                  << std::endl;
    return values;
}
inline long long parse_code(const char *p, char **end) { return std::strtoll(p, end, 10); }
inline double parse_value(const char *p, char **end) { return std::strtod(p, end); }

template <class T, size_t SIZE> void load_weight_codes(T *w, const char *fname) {
    const std::vector<long long> codes = parse_weight_line<long long, parse_code>(fname, SIZE);
    for (size_t i = 0; i < SIZE && i < codes.size(); i++) w[i] = T(codes[i]);
}

template <class T, size_t SIZE> void load_weight_values(T *w, const char *fname) {
    const std::vector<double> values = parse_weight_line<double, parse_value>(fname, SIZE);
#ifdef ARITH4ML_HW_PATH
    for (size_t i = 0; i < SIZE && i < values.size(); i++) from_double_way<false>::convert(values[i], w[i]);
#else
    for (size_t i = 0; i < SIZE && i < values.size(); i++) from_double_way<native_fixed<T>::value>::convert(values[i], w[i]);
#endif
}
#endif

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

// Gather one convolution patch (filt_height x filt_width x n_chan, Keras order) for output pixel (oh, ow) of a
// whole frame (io_parallel).  Positions in the zero padding get `pad`.
template <class T, typename CONFIG_T>
void gather_patch(const T data[], T patch[CONFIG_T::filt_height * CONFIG_T::filt_width * CONFIG_T::n_chan], unsigned oh,
                  unsigned ow, const T &pad) {
#pragma HLS INLINE
PatchRows:
    for (unsigned fh = 0; fh < CONFIG_T::filt_height; fh++) {
    PatchCols:
        for (unsigned fw = 0; fw < CONFIG_T::filt_width; fw++) {
            const int ih = int(oh * CONFIG_T::stride_height + fh) - int(CONFIG_T::pad_top);
            const int iw = int(ow * CONFIG_T::stride_width + fw) - int(CONFIG_T::pad_left);
            const bool inside = ih >= 0 && ih < int(CONFIG_T::in_height) && iw >= 0 && iw < int(CONFIG_T::in_width);
        PatchChans:
            for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                const unsigned p = (fh * CONFIG_T::filt_width + fw) * CONFIG_T::n_chan + c;
                patch[p] = inside ? data[(ih * CONFIG_T::in_width + iw) * CONFIG_T::n_chan + c] : pad;
            }
        }
    }
}

// +term, -term or 0 for sign +1, -1 or 0: two masks instead of a branch (the sign pattern is
// random, so C-sim would mispredict half the branches) and no multiplication.
template <class acc_T, class sign_T> inline acc_T signed_term(const acc_T &term, const sign_T &sign) {
#pragma HLS INLINE
    const acc_T keep = -acc_T(sign != 0), negate = -acc_T(sign < 0);
    return ((term & keep) ^ negate) - negate;
}

// ==== The dot-product kernel interface ============================================================================
// A Dense/Conv layer is a frame (io_parallel: dot_frame; io_stream: dot_stream with line buffers, or dense_stream)
// around a kernel.  A kernel is a struct with
//   template <class CONFIG_T> struct element { typedef ... type; };      one input value as the line buffer and the
//                                                                         window hold it (its code, or its residues)
//   template <class CONFIG_T> struct accumulator { typedef ... type; };  one output's running sum
//   template <class CONFIG_T, class data_T> static element encode(const data_T &x);   once per input value
//   template <class CONFIG_T> static void init(accumulator &acc, const bias_t &bias);
//   template <class CONFIG_T> static void fold(const element x[n_in], accumulator acc[n_out], unsigned ri,
//                                               unsigned d, const WEIGHTS *...);  the terms of fold step (ri, d)
//   template <class CONFIG_T, class res_T> static res_T result(const accumulator &acc, const bias_t &bias);
// The frames pad with the encoding of 0 (zero_element): ap types are not zero-initialised by their constructors.
//
// Folding (toolchain/kernels/fold.py): fold step (ri, d) adds the terms of units [ri * fold_in, (ri + 1) * fold_in)
// to outputs [d * fold_out, (d + 1) * fold_out); the weight ROMs are stored in fold order, so step
// ri * fold_out_steps + d reads one row of fold_in * fold_out words.  n_fold = 1 (Strategy Latency) is one step
// holding every term; n_fold = ReuseFactor (Strategy Resource) shares fold_in * fold_out term units over n_fold
// cycles.

// The element of the value 0 (zero padding), a constant once inlined.
template <class KERNEL, typename CONFIG_T> typename KERNEL::template element<CONFIG_T>::type zero_element() {
#pragma HLS INLINE
    return KERNEL::template encode<CONFIG_T>(ap_int<2>(0));
}

// Index of term (s, t) of fold step (ri, d) in a fold-ordered ROM.
template <typename CONFIG_T> inline unsigned fold_index(unsigned ri, unsigned d, unsigned s, unsigned t) {
#pragma HLS INLINE
    return ((ri * CONFIG_T::fold_out_steps + d) * CONFIG_T::fold_in + s) * CONFIG_T::fold_out + t;
}

// How the fold steps of one output pixel are scheduled.
template <bool FOLDED> struct fold_schedule {
    // Latency: one step with every term; the caller pipelines per output pixel with II = reuse_factor.
    template <class KERNEL, typename CONFIG_T, class elem_T, class acc_T, class... WEIGHTS>
    static void terms(const elem_T x[CONFIG_T::n_in], acc_T acc[CONFIG_T::n_out], const WEIGHTS *...weights) {
#pragma HLS INLINE
        KERNEL::template fold<CONFIG_T>(x, acc, 0, 0, weights...);
    }
    // every output's result (cast; RNS: reverse conversion) at once
    template <class KERNEL, typename CONFIG_T, class acc_T, class res_T>
    static void results(const acc_T acc[CONFIG_T::n_out], res_T res[CONFIG_T::n_out],
                        const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
#pragma HLS INLINE
    Result:
        for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
#pragma HLS UNROLL
            res[o] = KERNEL::template result<CONFIG_T, res_T>(acc[o], biases[o]);
        }
    }
};
template <> struct fold_schedule<true> {
    // Resource: n_fold cycles, each computing fold_in * fold_out terms on shared units and reading one ROM row,
    // then n_out cycles of results.
    template <class KERNEL, typename CONFIG_T, class elem_T, class acc_T, class... WEIGHTS>
    static void terms(const elem_T x[CONFIG_T::n_in], acc_T acc[CONFIG_T::n_out], const WEIGHTS *...weights) {
#pragma HLS INLINE
    FoldIn:
        for (unsigned ri = 0; ri < CONFIG_T::fold_in_steps; ri++) {
        FoldOut:
            for (unsigned d = 0; d < CONFIG_T::fold_out_steps; d++) {
#pragma HLS PIPELINE II = 1
                KERNEL::template fold<CONFIG_T>(x, acc, ri, d, weights...);
            }
        }
    }
    // one result per cycle on one shared converter (the RNS reverse conversion is the expensive part)
    template <class KERNEL, typename CONFIG_T, class acc_T, class res_T>
    static void results(const acc_T acc[CONFIG_T::n_out], res_T res[CONFIG_T::n_out],
                        const typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
#pragma HLS INLINE
    Result:
        for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
#pragma HLS PIPELINE II = 1
            res[o] = KERNEL::template result<CONFIG_T, res_T>(acc[o], biases[o]);
        }
    }
};

// One output pixel: accumulators from the biases, the fold steps, the results.
template <class KERNEL, typename CONFIG_T, class elem_T, class res_T, class... WEIGHTS>
void dot_pixel(const elem_T x[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
               const typename CONFIG_T::bias_t biases[CONFIG_T::n_out], const WEIGHTS *...weights) {
#pragma HLS INLINE
    typedef typename KERNEL::template accumulator<CONFIG_T>::type acc_T;
    acc_T acc[CONFIG_T::n_out];
#pragma HLS ARRAY_PARTITION variable = acc complete
InitAcc:
    for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
#pragma HLS UNROLL
        KERNEL::template init<CONFIG_T>(acc[o], biases[o]);
    }
    fold_schedule<(CONFIG_T::n_fold > 1)>::template terms<KERNEL, CONFIG_T>(x, acc, weights...);
    fold_schedule<(CONFIG_T::n_fold > 1)>::template results<KERNEL, CONFIG_T>(acc, res, biases);
}

// ---- io_parallel: the whole frame is an array; every input value is encoded once -------------------------------

// Output pixel (oh, ow) of a frame of encoded inputs.
template <class KERNEL, typename CONFIG_T, class elem_T, class res_T, class... WEIGHTS>
void frame_pixel(const elem_T frame[], res_T res[], unsigned oh, unsigned ow,
                 const typename CONFIG_T::bias_t biases[CONFIG_T::n_out], const WEIGHTS *...weights) {
#pragma HLS INLINE
    elem_T patch[CONFIG_T::n_in];
#pragma HLS ARRAY_PARTITION variable = patch complete
    gather_patch<elem_T, CONFIG_T>(frame, patch, oh, ow, zero_element<KERNEL, CONFIG_T>());
    dot_pixel<KERNEL, CONFIG_T>(patch, &res[(oh * CONFIG_T::out_width + ow) * CONFIG_T::n_out], biases, weights...);
}

// The output-pixel loops, one per schedule: Latency pipelines each output pixel with II = reuse_factor; Resource
// leaves them sequential and pipelines the fold loop inside (fold_schedule<true>).
template <bool FOLDED> struct frame_loops {
    template <class KERNEL, typename CONFIG_T, class elem_T, class res_T, class... WEIGHTS>
    static void run(const elem_T frame[], res_T res[], const typename CONFIG_T::bias_t biases[CONFIG_T::n_out],
                    const WEIGHTS *...weights) {
#pragma HLS INLINE
    OutRows:
        for (unsigned oh = 0; oh < CONFIG_T::out_height; oh++) {
        OutCols:
            for (unsigned ow = 0; ow < CONFIG_T::out_width; ow++) {
#pragma HLS PIPELINE II = CONFIG_T::reuse_factor
                frame_pixel<KERNEL, CONFIG_T>(frame, res, oh, ow, biases, weights...);
            }
        }
    }
};
template <> struct frame_loops<true> {
    template <class KERNEL, typename CONFIG_T, class elem_T, class res_T, class... WEIGHTS>
    static void run(const elem_T frame[], res_T res[], const typename CONFIG_T::bias_t biases[CONFIG_T::n_out],
                    const WEIGHTS *...weights) {
#pragma HLS INLINE
    OutRows:
        for (unsigned oh = 0; oh < CONFIG_T::out_height; oh++) {
        OutCols:
            for (unsigned ow = 0; ow < CONFIG_T::out_width; ow++) {
                frame_pixel<KERNEL, CONFIG_T>(frame, res, oh, ow, biases, weights...);
            }
        }
    }
};

// An io_parallel Dense/Conv layer (Dense: the 1x1 frame with n_chan = n_in).
template <class KERNEL, class data_T, class res_T, typename CONFIG_T, class... WEIGHTS>
void dot_frame(const data_T data[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan],
               res_T res[CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_out],
               const typename CONFIG_T::bias_t biases[CONFIG_T::n_out], const WEIGHTS *...weights) {
#pragma HLS function_instantiate variable = biases
#pragma HLS ARRAY_PARTITION variable = biases complete
    typedef typename KERNEL::template element<CONFIG_T>::type elem_T;
    const unsigned n_frame = CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan;
    elem_T frame[n_frame];
#pragma HLS ARRAY_PARTITION variable = frame complete
Encode:
    for (unsigned k = 0; k < n_frame; k++) {
#pragma HLS UNROLL
        frame[k] = KERNEL::template encode<CONFIG_T>(data[k]);
    }
    frame_loops<(CONFIG_T::n_fold > 1)>::template run<KERNEL, CONFIG_T>(frame, res, biases, weights...);
}

// ---- io_stream: one input pixel (a beat of n_chan values) in, output pixels out as their windows complete -------
// The stream walks the padded grid (pad_top + in_height + pad_bottom rows of pad_left + in_width + pad_right
// columns); padding positions read nothing from the stream and shift encoded zeros in.  The line buffer keeps the
// previous filt_height - 1 rows of the in_width real columns (padding columns are zeros and are not stored); the
// window holds the patch of the current position in Keras order (filt_h, filt_w, chan).
template <typename CONFIG_T> struct line_buffer_shape {
    static const unsigned rows = CONFIG_T::filt_height > 1 ? CONFIG_T::filt_height - 1 : 1; // an array needs one row
};

// Where the walk is: the next output row and the padded row that completes it, the same for columns.
struct stream_counters {
    unsigned oh, next_row, ow, next_col;
};

// One position (ph, pw) of the padded grid: read and encode a pixel if it is inside, update the line buffer and the
// window, and if an output window is complete (stride-aligned) compute and write that output pixel.
template <class KERNEL, class data_T, class res_T, typename CONFIG_T, class elem_T, class... WEIGHTS>
void stream_position(hls::stream<data_T> &data, hls::stream<res_T> &res,
                     elem_T line_buffer[line_buffer_shape<CONFIG_T>::rows][CONFIG_T::in_width][CONFIG_T::n_chan],
                     elem_T window[CONFIG_T::n_in], stream_counters &st, unsigned ph, unsigned pw,
                     const typename CONFIG_T::bias_t biases[CONFIG_T::n_out], const WEIGHTS *...weights) {
#pragma HLS INLINE
    const unsigned fh_last = CONFIG_T::filt_height - 1, fw_last = CONFIG_T::filt_width - 1;
    const bool row_in = ph >= CONFIG_T::pad_top && ph < CONFIG_T::pad_top + CONFIG_T::in_height;
    const bool col_in = pw >= CONFIG_T::pad_left && pw < CONFIG_T::pad_left + CONFIG_T::in_width;
    elem_T pixel[CONFIG_T::n_chan];
#pragma HLS ARRAY_PARTITION variable = pixel complete
    if (row_in && col_in) {
        const data_T beat = data.read();
    EncodePixel:
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
#pragma HLS UNROLL
            pixel[c] = KERNEL::template encode<CONFIG_T>(beat[c]);
        }
    } else {
    PadPixel:
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
#pragma HLS UNROLL
            pixel[c] = zero_element<KERNEL, CONFIG_T>();
        }
    }
    // shift the window one column left
ShiftWindowRows:
    for (unsigned fh = 0; fh < CONFIG_T::filt_height; fh++) {
#pragma HLS UNROLL
    ShiftWindowCols:
        for (unsigned fw = 0; fw < fw_last; fw++) {
#pragma HLS UNROLL
        ShiftWindowChans:
            for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
#pragma HLS UNROLL
                window[(fh * CONFIG_T::filt_width + fw) * CONFIG_T::n_chan + c] =
                    window[(fh * CONFIG_T::filt_width + fw + 1) * CONFIG_T::n_chan + c];
            }
        }
    }
    // the new window column: filt_height - 1 rows from the line buffer and this pixel (zeros in a padding column)
    const unsigned iw = col_in ? pw - CONFIG_T::pad_left : 0;
NewColumn:
    for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
#pragma HLS UNROLL
    NewColumnRows:
        for (unsigned fh = 0; fh < fh_last; fh++) {
#pragma HLS UNROLL
            window[(fh * CONFIG_T::filt_width + fw_last) * CONFIG_T::n_chan + c] =
                col_in ? line_buffer[fh][iw][c] : zero_element<KERNEL, CONFIG_T>();
        }
        window[(fh_last * CONFIG_T::filt_width + fw_last) * CONFIG_T::n_chan + c] = pixel[c];
    }
    if (col_in) {
    ShiftLineBuffer:
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
#pragma HLS UNROLL
            for (unsigned r = 0; r + 1 < fh_last; r++) {
#pragma HLS UNROLL
                line_buffer[r][iw][c] = line_buffer[r + 1][iw][c];
            }
            if (fh_last > 0) line_buffer[fh_last > 0 ? fh_last - 1 : 0][iw][c] = pixel[c];
        }
    }
    const bool at_col = pw == st.next_col;
    if (ph == st.next_row && st.oh < CONFIG_T::out_height && at_col && st.ow < CONFIG_T::out_width) {
        typename res_T::value_type out[CONFIG_T::n_out];
#pragma HLS ARRAY_PARTITION variable = out complete
        dot_pixel<KERNEL, CONFIG_T>(window, out, biases, weights...);
        res_T beat;
    WriteOutput:
        for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
#pragma HLS UNROLL
            beat[o] = out[o];
        }
        res.write(beat);
    }
    if (at_col) {
        st.next_col += CONFIG_T::stride_width;
        st.ow++;
    }
}

// The padded-grid loops, one per schedule (as frame_loops).
template <bool FOLDED> struct stream_loops {
    template <class KERNEL, class data_T, class res_T, typename CONFIG_T, class elem_T, class... WEIGHTS>
    static void run(hls::stream<data_T> &data, hls::stream<res_T> &res,
                    elem_T line_buffer[line_buffer_shape<CONFIG_T>::rows][CONFIG_T::in_width][CONFIG_T::n_chan],
                    elem_T window[CONFIG_T::n_in], stream_counters &st,
                    const typename CONFIG_T::bias_t biases[CONFIG_T::n_out], const WEIGHTS *...weights) {
#pragma HLS INLINE
    PaddedRows:
        for (unsigned ph = 0; ph < CONFIG_T::pad_top + CONFIG_T::in_height + CONFIG_T::pad_bottom; ph++) {
            st.ow = 0;
            st.next_col = CONFIG_T::filt_width - 1;
        PaddedCols:
            for (unsigned pw = 0; pw < CONFIG_T::pad_left + CONFIG_T::in_width + CONFIG_T::pad_right; pw++) {
#pragma HLS PIPELINE II = CONFIG_T::reuse_factor
                stream_position<KERNEL, data_T, res_T, CONFIG_T>(data, res, line_buffer, window, st, ph, pw, biases,
                                                                 weights...);
            }
            if (ph == st.next_row) {
                st.next_row += CONFIG_T::stride_height;
                st.oh++;
            }
        }
    }
};
template <> struct stream_loops<true> {
    template <class KERNEL, class data_T, class res_T, typename CONFIG_T, class elem_T, class... WEIGHTS>
    static void run(hls::stream<data_T> &data, hls::stream<res_T> &res,
                    elem_T line_buffer[line_buffer_shape<CONFIG_T>::rows][CONFIG_T::in_width][CONFIG_T::n_chan],
                    elem_T window[CONFIG_T::n_in], stream_counters &st,
                    const typename CONFIG_T::bias_t biases[CONFIG_T::n_out], const WEIGHTS *...weights) {
#pragma HLS INLINE
    PaddedRows:
        for (unsigned ph = 0; ph < CONFIG_T::pad_top + CONFIG_T::in_height + CONFIG_T::pad_bottom; ph++) {
            st.ow = 0;
            st.next_col = CONFIG_T::filt_width - 1;
        PaddedCols:
            for (unsigned pw = 0; pw < CONFIG_T::pad_left + CONFIG_T::in_width + CONFIG_T::pad_right; pw++) {
                stream_position<KERNEL, data_T, res_T, CONFIG_T>(data, res, line_buffer, window, st, ph, pw, biases,
                                                                 weights...);
            }
            if (ph == st.next_row) {
                st.next_row += CONFIG_T::stride_height;
                st.oh++;
            }
        }
    }
};

// An io_stream Conv1D/Conv2D layer: beats of n_chan values per pixel in, beats of n_out values per pixel out.
template <class KERNEL, class data_T, class res_T, typename CONFIG_T, class... WEIGHTS>
void dot_stream(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::bias_t biases[CONFIG_T::n_out],
                const WEIGHTS *...weights) {
#pragma HLS function_instantiate variable = biases
#pragma HLS ARRAY_PARTITION variable = biases complete
    static_assert(data_T::size == CONFIG_T::n_chan, "io_stream convolution: one input beat must hold one pixel");
    static_assert(res_T::size == CONFIG_T::n_out, "io_stream convolution: one output beat must hold one pixel");
    typedef typename KERNEL::template element<CONFIG_T>::type elem_T;
    // every row of the line buffer is one memory of in_width words of n_chan elements; the window is registers
    elem_T line_buffer[line_buffer_shape<CONFIG_T>::rows][CONFIG_T::in_width][CONFIG_T::n_chan];
#pragma HLS ARRAY_PARTITION variable = line_buffer complete dim = 1
#pragma HLS ARRAY_PARTITION variable = line_buffer complete dim = 3
    elem_T window[CONFIG_T::n_in];
#pragma HLS ARRAY_PARTITION variable = window complete
    stream_counters st = {0, CONFIG_T::filt_height - 1, 0, 0};
    stream_loops<(CONFIG_T::n_fold > 1)>::template run<KERNEL, data_T, res_T, CONFIG_T>(data, res, line_buffer, window, st,
                                                                                        biases, weights...);
}

// An io_stream Dense layer: read the n_in inputs (in beats of any size), one output pixel, write it in beats.
template <class KERNEL, class data_T, class res_T, typename CONFIG_T, class... WEIGHTS>
void dense_stream(hls::stream<data_T> &data, hls::stream<res_T> &res,
                  const typename CONFIG_T::bias_t biases[CONFIG_T::n_out], const WEIGHTS *...weights) {
#pragma HLS function_instantiate variable = biases
#pragma HLS ARRAY_PARTITION variable = biases complete
    typedef typename KERNEL::template element<CONFIG_T>::type elem_T;
    elem_T x[CONFIG_T::n_in];
#pragma HLS ARRAY_PARTITION variable = x complete
    typename res_T::value_type out[CONFIG_T::n_out];
#pragma HLS ARRAY_PARTITION variable = out complete
ReadInputs:
    for (unsigned b = 0; b < CONFIG_T::n_in / data_T::size; b++) {
#pragma HLS PIPELINE
        const data_T beat = data.read();
        for (unsigned k = 0; k < data_T::size; k++) x[b * data_T::size + k] = KERNEL::template encode<CONFIG_T>(beat[k]);
    }
    dot_pixel<KERNEL, CONFIG_T>(x, out, biases, weights...);
WriteOutputs:
    for (unsigned b = 0; b < CONFIG_T::n_out / res_T::size; b++) {
#pragma HLS PIPELINE
        res_T beat;
        for (unsigned k = 0; k < res_T::size; k++) beat[k] = out[b * res_T::size + k];
        res.write(beat);
    }
}

// ==== Binary kernels: exact two's-complement sums ==============================================================
// Elements are the input codes at the input's own width (what the line buffer stores); the accumulator is the
// exact integer of raw_width bits (>= acc_width) that starts at the bias, already on the accumulator grid.
struct binary_kernel {
    template <typename CONFIG_T> struct element {
        typedef typename std::conditional<CONFIG_T::in_signed, typename exact_int<CONFIG_T::in_bits>::type,
                                          typename exact_uint<CONFIG_T::in_bits>::type>::type type;
    };
    template <typename CONFIG_T> struct accumulator {
        typedef typename exact_int<CONFIG_T::raw_width>::type type;
    };
    template <typename CONFIG_T, class data_T> static typename element<CONFIG_T>::type encode(const data_T &x) {
#pragma HLS INLINE
        return raw_code<typename element<CONFIG_T>::type>(x);
    }
    template <typename CONFIG_T>
    static void init(typename accumulator<CONFIG_T>::type &acc, const typename CONFIG_T::bias_t &bias) {
#pragma HLS INLINE
        acc = bias;
    }
    template <typename CONFIG_T, class res_T>
    static res_T result(const typename accumulator<CONFIG_T>::type &acc, const typename CONFIG_T::bias_t &) {
#pragma HLS INLINE
        return cast_result<CONFIG_T::acc_width, CONFIG_T::acc_frac, typename CONFIG_T::accum_t, res_T, false>(acc);
    }
};

// Ordinary products, for layers whose weights are neither power-of-two nor ternary.  A zero weight is a constant
// 0 once the ROM is constant-propagated (Latency), so its product vanishes.
struct mult_kernel : binary_kernel {
    template <typename CONFIG_T, class elem_T, class acc_T>
    static void fold(const elem_T x[CONFIG_T::n_in], acc_T acc[CONFIG_T::n_out], unsigned ri, unsigned d,
                     const typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_out]) {
#pragma HLS function_instantiate variable = weights
#pragma HLS ARRAY_RESHAPE variable = weights cyclic factor = CONFIG_T::fold_in * CONFIG_T::fold_out
        const auto *rom = weight_rom<CONFIG_T, 0, CONFIG_T::n_in * CONFIG_T::n_out, acc_T>(weights);
    Inputs:
        for (unsigned s = 0; s < CONFIG_T::fold_in; s++) {
#pragma HLS UNROLL
        Outputs:
            for (unsigned t = 0; t < CONFIG_T::fold_out; t++) {
#pragma HLS UNROLL
                acc[d * CONFIG_T::fold_out + t] +=
                    acc_T(x[ri * CONFIG_T::fold_in + s]) * rom[fold_index<CONFIG_T>(ri, d, s, t)];
            }
        }
    }
};

} // namespace arith
} // namespace nnet

#endif
