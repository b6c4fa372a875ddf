// arith4ml RNS kernel: a Dense/Conv layer computed in residue channels.
//
// Per layer the Python side chooses pairwise-coprime moduli m_0..m_{r-1} whose
// product M covers the exact accumulator (M > 2 max|acc|).  The kernel
//   1. converts every input code to residues |x|_{m_j} (forward conversion),
//   2. per channel j computes |sum_i |w_i|_{m_j} |x_i|_{m_j}|_{m_j}; weights whose
//      residue is 0 generate no term (residue-level sparsity),
//   3. converts back to a signed binary integer by CRT or mixed radix,
//   4. shifts it onto the accumulator grid, adds the bias and casts to the result type.
// The layer's config names its moduli (typedef moduli_list<...> rns_base); every conversion constant
// follows from them at compile time.  No % or / touches data: see the RNS-DATAPATH section.
#ifndef NNET_RNS_H_
#define NNET_RNS_H_

#include "nnet_arith_common.h"

namespace nnet {
namespace arith {

// =====================================================================================================
// RNS primitives of the hardware path: residue arithmetic with no % and no / on data.
//
// Two sections.  "Compile-time constants" computes what depends on the moduli only (widths, kinds, Barrett
// factors, fold bounds, CRT and mixed-radix constants) with constexpr functions and static constants: % and /
// appear there, but they run in the compiler and never reach hardware.  The "residue data path" section
// (between its BEGIN and END markers) holds every function that touches data; it uses shifts, masks,
// additions, subtractions, comparisons and multiplications only, and tests/test_rns_hw.py checks that no %
// or / is written there (comments aside).
//
// toolchain/arith/rns.py models every step (modulus_kind, reduce_plan, reduce_bounded, barrett_reduce,
// mod_add/mod_sub/mod_mul/mod_mac, to_residue_fold, crt_division_free, mrc_division_free) and the tests compare
// the two bit for bit, on the C-sim fast path (native integers) and on the hardware path (ap types), against
// plain % and big-integer CRT.
//
// One modulus M (2 <= M <= 2^31 + 1) is a type, modulus<M>; every function is templated on it, so each
// channel gets the reduction of its own kind at compile time:
//   mod_pow2     M = 2^n      residues n bits;   x mod M is the low n bits (truncation)
//   mod_low      M = 2^n - 1  residues n bits;   2^n = 1 (mod M): n-bit chunks are added (end-around carry)
//   mod_high     M = 2^n + 1  residues n+1 bits; 2^n = -1 (mod M): n-bit chunks are added with
//                                                alternating signs (the diminished-one idea)
//   mod_generic  otherwise    residues k bits (2^(k-1) < M < 2^k); Barrett reduction
// A set of moduli is a type too, moduli_list<m_0, ..., m_{r-1}> (the "RNS base", see below).

// ---- compile-time constants (% and / allowed here: evaluated by the compiler) -------------------------
namespace rns_const {
typedef unsigned long long ull;

constexpr int bit_length(ull v) { return v == 0 ? 0 : 1 + bit_length(v >> 1); }
constexpr int at_least_one(int w) { return w < 1 ? 1 : w; }
constexpr int max_of(int a, int b) { return a > b ? a : b; }
constexpr ull low_mask(int n) { return n >= 64 ? ~0ULL : (1ULL << n) - 1; }
constexpr bool is_pow2(ull v) { return v != 0 && (v & (v - 1)) == 0; }
// |2^e|_m for m <= 2^62 (2 * (m - 1) < 2^63)
constexpr ull pow2_mod(int e, ull m) { return e == 0 ? 1 % m : (2 * pow2_mod(e - 1, m)) % m; }
// a * b mod m for a, b < m <= 2^32 + 1 (the product fits 64 bits)
constexpr ull mul_mod(ull a, ull b, ull m) { return a * b % m; }
constexpr ull gcd(ull a, ull b) { return b == 0 ? a : gcd(b, a % b); }
// extended Euclid: t_i * a = r_i (mod m) along the remainder sequence; |t_i| <= m
constexpr long long inverse_step(long long r0, long long r1, long long t0, long long t1) {
    return r1 == 0 ? t0 : inverse_step(r1, r0 % r1, t1, t0 - (r0 / r1) * t1);
}
// |a^-1|_m for gcd(a, m) = 1 and m <= 2^62
constexpr ull mod_inverse(ull a, ull m) {
    return m == 1 ? 0
                  : ull((inverse_step((long long)m, (long long)(a % m), 0, 1) % (long long)m + (long long)m) % (long long)m);
}
// the smallest multiple of m that is >= v
constexpr ull round_up(ull v, ull m) { return (v + m - 1) / m * m; }
// a * b, or 2^62 + 1 when that passes 2^62 (an RNS dynamic range must not)
constexpr ull mul_capped(ull a, ull b) { return a != 0 && b > (1ULL << 62) / a ? (1ULL << 62) + 1 : a * b; }

// Chunks of a value x <= b cut into n-bit pieces: there are chunks(b, n) of them; chunk j is at most the
// n-bit mask below the top one, and the top one at most b >> (n * j).
constexpr int chunks(ull b, int n) { return (bit_length(b) + n - 1) / n; }
constexpr ull chunk_max(ull b, int n, int j, int c) { return j < c - 1 ? low_mask(n) : b >> (n * j); }
// sum of the chunk maxima j, j + step, j + 2 step, ... < c
constexpr ull chunk_sum(ull b, int n, int j, int c, int step) {
    return j >= c ? 0 : chunk_max(b, n, j, c) + chunk_sum(b, n, j + step, c, step);
}
// sum over chunks j, j + 1, ... < c of max chunk_j * |2^(j n)|_m (the generic pre-fold)
constexpr ull weighted_chunk_sum(ull b, int n, ull m, int j, int c) {
    return j >= c ? 0 : chunk_max(b, n, j, c) * pow2_mod(j * n, m) + weighted_chunk_sum(b, n, m, j + 1, c);
}
} // namespace rns_const

enum modulus_kind { mod_pow2, mod_low, mod_high, mod_generic };

namespace rns_const {
constexpr modulus_kind kind_of(ull m) {
    return is_pow2(m) ? mod_pow2 : m >= 3 && is_pow2(m + 1) ? mod_low : m >= 5 && is_pow2(m - 1) ? mod_high : mod_generic;
}
} // namespace rns_const

// One modulus.  width: bits of a residue (of M - 1); n: chunk width (M = 2^n, 2^n - 1 or 2^n + 1; = width
// for generic moduli); barrett_k = bits of M; mu: the Barrett factor floor(2^w / M) of a product of two
// residues (w = bits of (M - 1)^2, see barrett_params); residue_t holds [0, M).
template <unsigned long long M> struct modulus {
    static_assert(M >= 2 && M <= (1ULL << 31) + 1, "RNS moduli are 2 .. 2^31 + 1 (a residue product fits 64 bits)");
    static const unsigned long long value = M;
    static const modulus_kind kind = rns_const::kind_of(M);
    static const int width = rns_const::bit_length(M - 1);
    static const int n = kind == mod_high ? width - 1 : width;
    static const int barrett_k = rns_const::bit_length(M);
    static const unsigned long long mu =
        M < (1ULL << 31) ? (1ULL << rns_const::bit_length((M - 1) * (M - 1))) / M : 0; // 0: no Barrett above 2^31
    typedef typename exact_uint<width>::type residue_t;
};

// Unsigned type for every value in [0, B].
template <unsigned long long B> struct uint_upto {
    static const int width = rns_const::at_least_one(rns_const::bit_length(B));
    typedef typename exact_uint<width>::type type;
};

// How a value x in [0, B] is reduced, one step at a time (reducer<M, B> runs the step, then reduces its
// result with the smaller bound that the step guarantees, until a step lands in [0, M)).
enum reduce_method {
    method_none,       // B < M: x is its residue
    method_mask,       // 2^n: the low n bits
    method_subtract,   // B < 2M: one conditional subtract of M
    method_fold_low,   // 2^n - 1: sum of the n-bit chunks
    method_fold_high,  // 2^n + 1: even chunks + K - odd chunks, K a multiple of M
    method_high_final, // 2^n + 1 with x >> n <= M: low - high, plus M when negative
    method_barrett,    // generic, bits(B) <= 2k: Barrett quotient, two conditional subtracts
    method_prefold     // generic, bits(B) > 2k: sum of k-bit chunk_j * |2^(j k)|_M
};

namespace rns_const {
constexpr reduce_method generic_method(ull m, ull b) {
    return b < m                                ? method_none
           : b < 2 * m                          ? method_subtract
           : bit_length(b) <= 2 * bit_length(m) ? method_barrett
                                                : method_prefold;
}
constexpr reduce_method special_method(ull m, ull b) {
    return b < m                                 ? method_none
           : kind_of(m) == mod_pow2              ? method_mask
           : b < 2 * m                           ? method_subtract
           : kind_of(m) == mod_low               ? method_fold_low
           : kind_of(m) != mod_high              ? generic_method(m, b)
           : (b >> (bit_length(m - 1) - 1)) <= m ? method_high_final
                                                 : method_fold_high;
}
} // namespace rns_const

// Bounds of the chunk folds of a value x <= B (n-bit chunks for the special kinds, k-bit for the generic
// pre-fold).  low: sum of all chunks; even/odd: sums of the even/odd chunks; offset: the smallest multiple of
// M >= odd, so even + offset - odd >= 0 and = x (mod M) (2^n = -1: chunk j has sign (-1)^j); high = even +
// offset; prefold: sum of chunk_j * |2^(j k)|_M.
template <unsigned long long M, unsigned long long B> struct fold_bounds {
    static const int n = modulus<M>::n;
    static const int c = rns_const::chunks(B, n);
    static const unsigned long long chunk_mask = rns_const::low_mask(n);
    static const unsigned long long low = rns_const::chunk_sum(B, n, 0, c, 1);
    static const unsigned long long even = rns_const::chunk_sum(B, n, 0, c, 2);
    static const unsigned long long odd = rns_const::chunk_sum(B, n, 1, c, 2);
    static const unsigned long long offset = rns_const::round_up(odd, M);
    static const unsigned long long high = even + offset;
    static const int k = modulus<M>::barrett_k;
    static const int kc = rns_const::chunks(B, k);
    static const unsigned long long k_mask = rns_const::low_mask(k);
    static const unsigned long long prefold = rns_const::weighted_chunk_sum(B, k, M, 0, kc);
};

// Barrett reduction of x <= B < 2^w, w = bits(B) <= 2k, 2^(k-1) <= M < 2^k (k = bits of M):
//   q1 = x >> (k-1), q = (q1 * mu) >> (w - k + 1) with mu = floor(2^w / M), r = x - q M.
// q <= x / M because q1 <= x / 2^(k-1) and mu <= 2^w / M.  And q > x/M - 3: with q1 > x / 2^(k-1) - 1 and
// mu > 2^w / M - 1, q1 mu / 2^(w-k+1) > x/M - x/2^w - 2^(k-1)/M > x/M - 2 (x < 2^w, 2^(k-1) <= M), and the
// floor loses less than 1.  So q is floor(x / M) minus 0, 1 or 2: 0 <= r < 3M, and two conditional subtracts
// of M end in [0, M).  r < 3M < 2^(k+2), so r is computed on its low k+2 bits only (x and q M modulo 2^(k+2)).
// Widths: q1 < 2^(w-k+1), mu <= 2^(w-k+1) (equal only for M = 2^(k-1)), q <= x / M < 2^(w-k+1).
template <unsigned long long M, unsigned long long B> struct barrett_params {
    static const int k = rns_const::bit_length(M);
    static const int w = rns_const::bit_length(B);
    static_assert(w <= 2 * k && w <= 62, "Barrett step needs bits(B) <= 2 bits(M)");
    static_assert(k <= 31, "Barrett reduction is for moduli below 2^31");
    static const int shift_in = k - 1;
    static const int shift_out = w - k + 1;
    static const unsigned long long mu = (1ULL << w) / M;
    static const int q1_width = rns_const::at_least_one(rns_const::bit_length(B >> shift_in));
    static const int product_width = q1_width + rns_const::bit_length(mu);
    static const int q_width = rns_const::at_least_one(shift_out);
    static const int r_width = k + 2;
};

// |2^E|_M (the sign weight of a W-bit two's complement code is 2^W)
template <unsigned long long M, int E> struct pow2_residue {
    static const unsigned long long value = rns_const::pow2_mod(E, M);
};

// ---- the RNS base: a set of moduli and its conversion constants ------------------------------------
// moduli_list<m_0, ..., m_{r-1}> is the config that the conversions below are templated on (BASE); a layer
// config holds one as `typedef nnet::arith::moduli_list<...> rns_base;` and the Python side only emits the
// moduli (the constants below follow from them at compile time, so they cannot disagree).  Fields:
//   n_mod                 r, the number of channels (>= 2)
//   dynamic_range         M = m_0 ... m_{r-1} <= 2^62 (pairwise coprime moduli, both checked)
//   half_range            (M - 1) / 2: reverse conversion reads values above it as X - M
//   residue_width         bits of the widest residue; residue_t = exact_uint<residue_width>, the element
//                         type of residue arrays y[n_mod] (channel j uses the low bits it needs)
//   value_width, value_t  signed result of reverse conversion: exact_int<bits of M>, |X| <= M/2
//   crt_steps             compare-and-subtract steps after the CRT sum: bits of (n_mod - 1)
//   crt_sum_width         bits of the CRT sum (< n_mod M <= 2^crt_steps M)
//   at<J>::value          m_J;   at<J>::type = modulus<m_J>
//   at<J>::weight         M_J = M / m_J
//   at<J>::inverse        |M_J^-1|_{m_J} (CRT)
//   mrc_inverse<I, J>     ::value = |m_I^-1|_{m_J} for I < J (mixed radix)
//   suffix_product<J>     ::value = m_J m_{J+1} ... m_{r-1} (1 for J = r): bound of the Horner partial sums
namespace rns_const {
template <unsigned J, unsigned long long... MODULI> struct pack_at;
template <unsigned long long M0, unsigned long long... REST> struct pack_at<0, M0, REST...> {
    static const unsigned long long value = M0;
};
template <unsigned J, unsigned long long M0, unsigned long long... REST> struct pack_at<J, M0, REST...> {
    static const unsigned long long value = pack_at<J - 1, REST...>::value;
};
template <unsigned long long... MODULI> struct pack_product {
    static const unsigned long long value = 1;
    static const int width = 0;
    static const bool coprime = true;
};
template <unsigned long long A, unsigned long long... REST> struct coprime_with {
    static const bool value = true;
};
template <unsigned long long A, unsigned long long B0, unsigned long long... REST> struct coprime_with<A, B0, REST...> {
    static const bool value = gcd(A, B0) == 1 && coprime_with<A, REST...>::value;
};
template <unsigned long long M0, unsigned long long... REST> struct pack_product<M0, REST...> {
    static const unsigned long long value = mul_capped(M0, pack_product<REST...>::value);
    static const int width = max_of(bit_length(M0 - 1), pack_product<REST...>::width);
    static const bool coprime = coprime_with<M0, REST...>::value && pack_product<REST...>::coprime;
};
} // namespace rns_const

template <unsigned long long... MODULI> struct moduli_list {
    typedef rns_const::pack_product<MODULI...> product;
    static const unsigned n_mod = sizeof...(MODULI);
    static_assert(sizeof...(MODULI) >= 2, "an RNS base needs at least two moduli");
    static_assert(product::coprime, "RNS moduli must be pairwise coprime");
    static_assert(product::value <= (1ULL << 62), "the dynamic range M must not exceed 2^62");
    static const unsigned long long dynamic_range = product::value;
    static const unsigned long long half_range = (product::value - 1) / 2;
    static const int residue_width = product::width;
    static const int value_width = rns_const::bit_length(product::value);
    static const int crt_steps = rns_const::bit_length(sizeof...(MODULI) - 1);
    static const int crt_sum_width = value_width + crt_steps;
    typedef typename exact_uint<residue_width>::type residue_t;
    typedef typename exact_int<value_width>::type value_t;

    template <unsigned J> struct at {
        static_assert(J < sizeof...(MODULI), "channel index out of range");
        static const unsigned long long value = rns_const::pack_at<J, MODULI...>::value;
        typedef nnet::arith::modulus<value> type;
        static const unsigned long long weight = product::value / value;
        static const unsigned long long inverse = rns_const::mod_inverse(weight % value, value);
        static_assert(rns_const::mul_mod(weight % value, inverse, value) == 1 % value, "M_J is not invertible");
    };
    template <unsigned I, unsigned J> struct mrc_inverse {
        static const unsigned long long value = rns_const::mod_inverse(at<I>::value % at<J>::value, at<J>::value);
    };
    template <unsigned J, bool END = (J >= sizeof...(MODULI))> struct suffix_product {
        static const unsigned long long value = at<J>::value * suffix_product<J + 1>::value;
    };
    template <unsigned J> struct suffix_product<J, true> {
        static const unsigned long long value = 1;
    };
};

// ---- residue data path ----------------------------------------------------------------------------
// RNS-DATAPATH-BEGIN  (no % and no / from here to the END marker; tests/test_rns_hw.py checks it)
//
// Every function works on both code paths: exact_uint<W> is a native unsigned integer on the C-sim fast path
// (the arithmetic below then wraps modulo 2^32 or 2^64, which never matters: every true intermediate is
// non-negative and fits its type, and the Barrett remainder is wanted modulo 2^(k+2) anyway) and ap_uint<W>
// on the hardware path, where each value has exactly the bits its bound needs.  Small functions are
// INLINE: they are a few adders each and must merge into the caller's pipeline instead of becoming
// sub-modules with call overhead.  Chunk loops and channel loops have constant trip counts and are UNROLLed
// so that every chunk and channel gets its own adder (the fold is an adder tree, not a sequential loop).
// Channel loops are template recursions (channel J is a separate instantiation with its own constant
// modulus type), which unrolls them by construction.

template <unsigned long long M, unsigned long long B, bool GENERIC,
          reduce_method METHOD = GENERIC ? rns_const::generic_method(M, B) : rns_const::special_method(M, B)>
struct reducer;

// B < M: nothing to do.
template <unsigned long long M, unsigned long long B, bool G> struct reducer<M, B, G, method_none> {
    typedef typename modulus<M>::residue_t R;
    static R run(const typename uint_upto<B>::type &x) {
#pragma HLS INLINE
        return R(x);
    }
};

// M = 2^n: truncation to the low n bits.
template <unsigned long long M, unsigned long long B, bool G> struct reducer<M, B, G, method_mask> {
    typedef typename modulus<M>::residue_t R;
    typedef typename uint_upto<B>::type T;
    static R run(const T &x) {
#pragma HLS INLINE
        return R(x & T(fold_bounds<M, B>::chunk_mask));
    }
};

// B < 2M: x - M < M when x >= M, so one conditional subtract suffices.
template <unsigned long long M, unsigned long long B, bool G> struct reducer<M, B, G, method_subtract> {
    typedef typename modulus<M>::residue_t R;
    typedef typename uint_upto<B>::type T;
    static R run(const T &x) {
#pragma HLS INLINE
        const T m = T(M);
        return x >= m ? R(x - m) : R(x);
    }
};

// M = 2^n - 1: 2^n = 1 (mod M), so x = sum_j chunk_j 2^(j n) = sum_j chunk_j (mod M).  The sum is bounded by
// fold_bounds::low (< B: static_assert), and the next step folds it again (its carries are the end-around
// carries) until the bound is below 2M, where one conditional subtract finishes: an n-bit value <= 2^n - 1
// = M needs it only for x = M.
template <unsigned long long M, unsigned long long B, bool G> struct reducer<M, B, G, method_fold_low> {
    typedef fold_bounds<M, B> F;
    typedef typename modulus<M>::residue_t R;
    typedef typename uint_upto<B>::type T;
    typedef typename uint_upto<F::low>::type S;
    static_assert(F::low < B, "a fold must shrink the bound");
    static R run(const T &x) {
#pragma HLS INLINE
        S s = 0;
        for (int j = 0; j < F::c; j++) {
#pragma HLS UNROLL
            s += S((x >> (j * F::n)) & T(F::chunk_mask));
        }
        return reducer<M, F::low, G>::run(s);
    }
};

// M = 2^n + 1: 2^n = -1 (mod M), so x = sum_j (-1)^j chunk_j = even - odd (mod M).  even + offset - odd with
// offset the smallest multiple of M >= max(odd) is never negative and is bounded by fold_bounds::high (< B).
template <unsigned long long M, unsigned long long B, bool G> struct reducer<M, B, G, method_fold_high> {
    typedef fold_bounds<M, B> F;
    typedef typename modulus<M>::residue_t R;
    typedef typename uint_upto<B>::type T;
    typedef typename uint_upto<F::even>::type E;
    typedef typename uint_upto<F::odd>::type O;
    typedef typename uint_upto<F::high>::type A;
    static_assert(F::high < B, "a fold must shrink the bound");
    static R run(const T &x) {
#pragma HLS INLINE
        E even = 0;
        O odd = 0;
        for (int j = 0; j < F::c; j += 2) {
#pragma HLS UNROLL
            even += E((x >> (j * F::n)) & T(F::chunk_mask));
        }
        for (int j = 1; j < F::c; j += 2) {
#pragma HLS UNROLL
            odd += O((x >> (j * F::n)) & T(F::chunk_mask));
        }
        const A a = A(A(even) + (A(F::offset) - A(odd)));
        return reducer<M, F::high, G>::run(a);
    }
};

// M = 2^n + 1 and x = h 2^n + l with l < 2^n, h <= M: x = l - h (mod M).  l - h is in [-M, 2^n), so l - h when
// l >= h and l - h + M otherwise is in [0, M).  (The diminished-one adder computes the same.)
template <unsigned long long M, unsigned long long B, bool G> struct reducer<M, B, G, method_high_final> {
    typedef typename modulus<M>::residue_t R;
    typedef typename uint_upto<B>::type T;
    static R run(const T &x) {
#pragma HLS INLINE
        const R l = R(x & T(fold_bounds<M, B>::chunk_mask));
        const R h = R(x >> modulus<M>::n);
        return l >= h ? R(l - h) : R(l + R(R(M) - h));
    }
};

// Generic M, bits(B) <= 2k: Barrett (the bounds are derived at barrett_params).
template <unsigned long long M, unsigned long long B, bool G> struct reducer<M, B, G, method_barrett> {
    typedef barrett_params<M, B> P;
    typedef typename modulus<M>::residue_t R;
    typedef typename uint_upto<B>::type T;
    typedef typename exact_uint<P::q1_width>::type Q1;
    typedef typename exact_uint<P::product_width>::type QP;
    typedef typename exact_uint<P::q_width>::type Q;
    typedef typename exact_uint<P::r_width>::type RR;
    static R run(const T &x) {
#pragma HLS INLINE
        const Q1 q1 = Q1(x >> P::shift_in);
        const QP product = QP(q1) * QP(P::mu);
        const Q q = Q(product >> P::shift_out);
        const RR m = RR(M);
        RR r = RR(RR(x) - RR(q) * m); // the true r = x - q M is in [0, 3M), below 2^(k+2)
        r = r >= m ? RR(r - m) : r;   // [0, 2M)
        r = r >= m ? RR(r - m) : r;   // [0, M)
        return R(r);
    }
};

// Generic M, bits(B) > 2k: x = sum_j chunk_j 2^(j k) = sum_j chunk_j |2^(j k)|_M (mod M) for k-bit chunks;
// each constant is below M, so the sum is bounded by fold_bounds::prefold (< B), of about 2k bits, which
// Barrett then takes.  The multiplications are by constants.
template <unsigned long long M, unsigned long long B, unsigned J, unsigned C> struct prefold_terms {
    typedef typename uint_upto<B>::type T;
    typedef typename uint_upto<fold_bounds<M, B>::prefold>::type S;
    static S sum(const T &x) {
#pragma HLS INLINE
        const S chunk = S((x >> (J * fold_bounds<M, B>::k)) & T(fold_bounds<M, B>::k_mask));
        return S(chunk * S(pow2_residue<M, J * fold_bounds<M, B>::k>::value) + prefold_terms<M, B, J + 1, C>::sum(x));
    }
};
template <unsigned long long M, unsigned long long B, unsigned C> struct prefold_terms<M, B, C, C> {
    static typename uint_upto<fold_bounds<M, B>::prefold>::type sum(const typename uint_upto<B>::type &) {
#pragma HLS INLINE
        return 0;
    }
};
template <unsigned long long M, unsigned long long B, bool G> struct reducer<M, B, G, method_prefold> {
    typedef fold_bounds<M, B> F;
    static_assert(F::prefold < B, "a fold must shrink the bound");
    static typename modulus<M>::residue_t run(const typename uint_upto<B>::type &x) {
#pragma HLS INLINE
        return reducer<M, F::prefold, G>::run(prefold_terms<M, B, 0, F::kc>::sum(x));
    }
};

// x mod M for x in [0, B], by the reduction of M's kind.
template <unsigned long long M, unsigned long long B>
typename modulus<M>::residue_t reduce_bounded(const typename uint_upto<B>::type &x) {
#pragma HLS INLINE
    return reducer<M, B, false>::run(x);
}

// x mod M for an unsigned W-bit x (1 <= W <= 64).
template <unsigned long long M, int W> typename modulus<M>::residue_t reduce(const typename exact_uint<W>::type &x) {
#pragma HLS INLINE
    static_assert(W >= 1 && W <= 64, "reduce: 1 to 64 bits");
    return reducer<M, rns_const::low_mask(W), false>::run(x);
}

// x mod M for x in [0, B] by the generic path (pre-fold and Barrett) whatever M's kind; M < 2^31.  reduce
// takes it for generic moduli; this entry point lets the tests run Barrett on every modulus.
template <unsigned long long M, unsigned long long B>
typename modulus<M>::residue_t barrett_reduce(const typename uint_upto<B>::type &x) {
#pragma HLS INLINE
    return reducer<M, B, true>::run(x);
}

// |a + b|_M for residues a, b < M: an (n+1)-bit add (a + b <= 2M - 2) and one conditional subtract
// (truncation for M = 2^n).
template <unsigned long long M>
typename modulus<M>::residue_t mod_add(const typename modulus<M>::residue_t &a, const typename modulus<M>::residue_t &b) {
#pragma HLS INLINE
    typedef typename uint_upto<2 * (M - 1)>::type S;
    return reduce_bounded<M, 2 * (M - 1)>(S(S(a) + S(b)));
}

// |a - b|_M for residues a, b < M: a - b when a >= b, else a + (M - b) (< M because a < b).
template <unsigned long long M>
typename modulus<M>::residue_t mod_sub(const typename modulus<M>::residue_t &a, const typename modulus<M>::residue_t &b) {
#pragma HLS INLINE
    typedef typename modulus<M>::residue_t R;
    typedef typename exact_uint<modulus<M>::width + 1>::type S; // holds M
    return a >= b ? R(a - b) : R(S(a) + (S(M) - S(b)));
}

// |a b|_M for residues a, b < M: the width x width product (<= (M - 1)^2 < 2^62) and one reduction.
template <unsigned long long M>
typename modulus<M>::residue_t mod_mul(const typename modulus<M>::residue_t &a, const typename modulus<M>::residue_t &b) {
#pragma HLS INLINE
    typedef typename uint_upto<(M - 1) * (M - 1)>::type P;
    return reduce_bounded<M, (M - 1) * (M - 1)>(P(P(a) * P(b)));
}

// Modular multiply-accumulate |acc + a b|_M for residues acc, a, b < M: acc + a b <= M (M - 1) needs one
// reduction, no more than a product does.
template <unsigned long long M>
typename modulus<M>::residue_t mod_mac(const typename modulus<M>::residue_t &acc, const typename modulus<M>::residue_t &a,
                                       const typename modulus<M>::residue_t &b) {
#pragma HLS INLINE
    typedef typename uint_upto<(M - 1) * M>::type P;
    return reduce_bounded<M, (M - 1) * M>(P(P(acc) + P(a) * P(b)));
}

// Forward conversion of a signed W-bit code x (two's complement) to |x|_M.  The W-bit pattern p is x + 2^W
// for negative x, so |x|_M = |p|_M - |2^W|_M (mod M) when the sign bit is set: reduce p by chunk folding,
// then one modular subtract of a constant.
template <unsigned long long M, int W>
typename modulus<M>::residue_t to_residue_fold(const typename exact_int<W>::type &code) {
#pragma HLS INLINE
    typedef typename exact_uint<W>::type U;
    typedef typename modulus<M>::residue_t R;
    const U pattern = U(U(code) & U(rns_const::low_mask(W)));
    const R r = reduce<M, W>(pattern);
    const bool negative = ((pattern >> (W - 1)) & U(1)) != 0;
    return negative ? mod_sub<M>(r, R(pow2_residue<M, W>::value)) : r;
}

// Per-channel recursions over an RNS base (channel J, then J + 1, ...; END stops them).
template <class BASE, unsigned J, bool END = (J >= BASE::n_mod)> struct rns_channels {
    typedef typename BASE::residue_t residue_t;
    typedef typename BASE::template at<J> ch;
    typedef typename ch::type::residue_t R;

    // y[j] = |code|_{m_j}
    template <int W> static void forward(const typename exact_int<W>::type &code, residue_t y[BASE::n_mod]) {
#pragma HLS INLINE
        y[J] = residue_t(to_residue_fold<ch::value, W>(code));
        rns_channels<BASE, J + 1>::template forward<W>(code, y);
    }
    // y[j] = |sums[j]|_{m_j} for sums in [0, XMAX]
    template <unsigned long long XMAX>
    static void reduce_all(const typename uint_upto<XMAX>::type sums[BASE::n_mod], residue_t y[BASE::n_mod]) {
#pragma HLS INLINE
        y[J] = residue_t(reduce_bounded<ch::value, XMAX>(sums[J]));
        rns_channels<BASE, J + 1>::template reduce_all<XMAX>(sums, y);
    }
    // CRT: s += M_J |y_J M_J^-1|_{m_J}; each term < M_J m_J = M
    template <class S> static void crt_add(const residue_t y[BASE::n_mod], S &s) {
#pragma HLS INLINE
        const R z = mod_mul<ch::value>(R(y[J]), R(ch::inverse));
        s += S(S(ch::weight) * S(z));
        rns_channels<BASE, J + 1>::crt_add(y, s);
    }
    // mixed radix: digit J from y_J and the digits d_0..d_{J-1} before it
    static void mrc_digits(const residue_t y[BASE::n_mod], residue_t d[BASE::n_mod]) {
#pragma HLS INLINE
        R t = R(y[J]);
        mrc_steps<0>::run(d, t);
        d[J] = residue_t(t);
        rns_channels<BASE, J + 1>::mrc_digits(y, d);
    }
    // t = |(t - |d_I|_{m_J}) |m_I^-1|_{m_J}|_{m_J} for I, I + 1, ..., J - 1 (d_I < m_I may exceed m_J)
    template <unsigned I, bool DONE = (I >= J)> struct mrc_steps {
        static const unsigned long long d_max = BASE::template at<I>::value - 1;
        static void run(const residue_t d[BASE::n_mod], R &t) {
#pragma HLS INLINE
            const R d_i = reduce_bounded<ch::value, d_max>(typename uint_upto<d_max>::type(d[I]));
            t = mod_mul<ch::value>(mod_sub<ch::value>(t, d_i), R(BASE::template mrc_inverse<I, J>::value));
            mrc_steps<I + 1>::run(d, t);
        }
    };
    template <unsigned I> struct mrc_steps<I, true> {
        static void run(const residue_t *, R &) {}
    };
    // Horner: X_J = d_J + m_J X_{J+1} < m_J m_{J+1} ... m_{r-1}, and X_{r-1} = d_{r-1}
    typedef typename uint_upto<BASE::template suffix_product<J>::value - 1>::type horner_t;
    template <bool LAST, int ANY = 0> struct horner_step {
        static horner_t run(const residue_t d[BASE::n_mod]) {
#pragma HLS INLINE
            return horner_t(horner_t(d[J]) + horner_t(ch::value) * horner_t(rns_channels<BASE, J + 1>::horner(d)));
        }
    };
    template <int ANY> struct horner_step<true, ANY> {
        static horner_t run(const residue_t d[BASE::n_mod]) {
#pragma HLS INLINE
            return horner_t(d[J]);
        }
    };
    static horner_t horner(const residue_t d[BASE::n_mod]) {
#pragma HLS INLINE
        return horner_step<(J + 1 >= BASE::n_mod)>::run(d);
    }
};
template <class BASE, unsigned J> struct rns_channels<BASE, J, true> {
    typedef typename BASE::residue_t residue_t;
    template <int W> static void forward(const typename exact_int<W>::type &, residue_t *) {}
    template <unsigned long long XMAX> static void reduce_all(const typename uint_upto<XMAX>::type *, residue_t *) {}
    template <class S> static void crt_add(const residue_t *, S &) {}
    static void mrc_digits(const residue_t *, residue_t *) {}
};

// Forward conversion of one signed W-bit code into every channel.
template <class BASE, int W>
void to_residues_fold(const typename exact_int<W>::type &code, typename BASE::residue_t y[BASE::n_mod]) {
#pragma HLS INLINE
    rns_channels<BASE, 0>::template forward<W>(code, y);
}

// Per-channel reduction of un-reduced channel sums in [0, XMAX] (e.g. XMAX = n_in (m_max - 1)^2).
template <class BASE, unsigned long long XMAX>
void reduce_channels(const typename uint_upto<XMAX>::type sums[BASE::n_mod], typename BASE::residue_t y[BASE::n_mod]) {
#pragma HLS INLINE
    rns_channels<BASE, 0>::template reduce_all<XMAX>(sums, y);
}

// Signed reading of X in [0, M): the upper half holds the negative numbers, X - M = -(M - X) with
// 0 < M - X <= M/2, which fits value_t.
template <class BASE, class U> typename BASE::value_t rns_signed(const U &x) {
#pragma HLS INLINE
    typedef typename BASE::value_t V;
    typedef typename exact_uint<BASE::value_width>::type W; // holds M
    return x > U(BASE::half_range) ? V(-V(W(W(BASE::dynamic_range) - W(x)))) : V(x);
}

// Reverse conversion by the Chinese remainder theorem without division: z_j = |y_j |M_j^-1|_{m_j}|_{m_j}
// (mod_mul by a constant), S = sum_j M_j z_j < n_mod M, then S is brought into [0, M) by comparing with and
// subtracting 2^p M for p = crt_steps - 1 .. 0 (before step p, S < 2^(p+1) M; after it, S < 2^p M; n_mod <=
// 2^crt_steps), and read as signed.  y[j] must be in [0, m_j).
template <class BASE> typename BASE::value_t reverse_crt(const typename BASE::residue_t y[BASE::n_mod]) {
#pragma HLS INLINE
    typedef typename exact_uint<BASE::crt_sum_width>::type S;
    S s = 0;
    rns_channels<BASE, 0>::crt_add(y, s);
    for (int p = BASE::crt_steps - 1; p >= 0; p--) {
#pragma HLS UNROLL
        const S step = S(S(BASE::dynamic_range) << p);
        if (s >= step) s = S(s - step);
    }
    return rns_signed<BASE>(s);
}

// Reverse conversion by mixed radix without division: digits d_j = |(...((y_j - d_0) c_0j - d_1) c_1j ...
// - d_{j-1}) c_{j-1,j}|_{m_j} with the constants c_ij = |m_i^-1|_{m_j} (modular subtracts and mod_mul by
// constants), then X = d_0 + m_0 (d_1 + m_1 (d_2 + ...)) < M by Horner with constant multipliers, read as
// signed.  y[j] must be in [0, m_j).
template <class BASE> typename BASE::value_t reverse_mrc(const typename BASE::residue_t y[BASE::n_mod]) {
#pragma HLS INLINE
    typename BASE::residue_t d[BASE::n_mod];
#pragma HLS ARRAY_PARTITION variable = d complete
    rns_channels<BASE, 0>::mrc_digits(y, d);
    return rns_signed<BASE>(rns_channels<BASE, 0>::horner(d));
}
// RNS-DATAPATH-END
// =====================================================================================================

// =====================================================================================================
// The RNS layer kernel of the common frames (nnet_arith_common.h: encode / init / fold / result).
//
// Elements are the residues of an input code (forward conversion by chunk folding, once per input value: the
// line buffer holds residues).  One output's accumulator is its channel registers, one residue per modulus,
// at most n + 1 bits each.  A fold step adds, per channel, fold_in residue products to each of its outputs:
// the products (< m^2) are summed in binary and reduced once per group of lazy_terms products by the
// modulus' own reduction (truncation, end-around carry, diminished-one step or Barrett), so the sum never
// exceeds (m - 1) + lazy_terms (m - 1)^2 < 2^62 (bounded lazy reduction; the width is uint_upto of that bound)
// and only an n(+1)-bit residue leaves the step.  A weight residue that is 0 is a constant 0 in the unrolled
// Latency datapath (function_instantiate), so its product is expected to vanish.  result() converts back by
// CRT or mixed radix (division-free, constants from the moduli at compile time), moves the value onto the
// accumulator grid (post_shift), adds the bias and casts.
//
// Layer config (toolchain/kernels/rns.py): the dot_config fields and
//   typedef moduli_list<m_0, ..., m_{r-1}> rns_base;   the moduli (constants follow from them)
//   static const bool use_crt;                          false: mixed radix
//   static const int post_shift;                        accumulator-grid shift after reverse conversion
//   typedef ... residue_t;                              element type of the weight-residue ROM
struct rns_config : dot_config {
    typedef moduli_list<255ULL, 256ULL, 257ULL> rns_base;
    static const bool use_crt = true;
    static const int post_shift = 0;
};

// The residues of one value, one per channel (channel j uses the low bits its modulus needs).
template <typename CONFIG_T> struct rns_residues {
    typename CONFIG_T::rns_base::residue_t r[CONFIG_T::rns_base::n_mod];
};

// Residue products of modulus M a channel may add in binary before one reduction: (M - 1) + G (M - 1)^2 <= 2^62.
template <unsigned long long M, unsigned long long TERMS> struct lazy_terms {
    static const unsigned long long max_product = (M - 1) * (M - 1);
    static const unsigned long long limit = max_product == 0 ? TERMS : ((1ULL << 62) - (M - 1)) / max_product;
    static const unsigned long long value = limit < 1 ? 1 : limit < TERMS ? limit : TERMS;
    static const unsigned long long bound = (M - 1) + value * max_product;
};

// Fold step of channel J (then of channels J + 1, ...): a template recursion, so every channel has its own
// constant modulus type and reduction.
template <typename CONFIG_T, unsigned J, bool END = (J >= CONFIG_T::rns_base::n_mod)> struct rns_fold_channels {
    typedef typename CONFIG_T::rns_base BASE;
    static const unsigned long long M = BASE::template at<J>::value;
    typedef lazy_terms<M, CONFIG_T::fold_in> lazy;
    typedef typename uint_upto<lazy::bound>::type sum_t;
    typedef typename modulus<M>::residue_t residue_t;

    template <class W_T>
    static void fold(const rns_residues<CONFIG_T> x[CONFIG_T::n_in], rns_residues<CONFIG_T> acc[CONFIG_T::n_out],
                     unsigned ri, unsigned d, const W_T *w_rom) {
#pragma HLS INLINE
        sum_t sums[CONFIG_T::fold_out];
#pragma HLS ARRAY_PARTITION variable = sums complete
    Registers:
        for (unsigned t = 0; t < CONFIG_T::fold_out; t++) {
#pragma HLS UNROLL
            sums[t] = sum_t(residue_t(acc[d * CONFIG_T::fold_out + t].r[J]));
        }
    Groups:
        for (unsigned s0 = 0; s0 < CONFIG_T::fold_in; s0 += lazy::value) {
#pragma HLS UNROLL
        Inputs:
            for (unsigned s = s0; s < s0 + lazy::value && s < CONFIG_T::fold_in; s++) {
#pragma HLS UNROLL
                const sum_t xi = sum_t(residue_t(x[ri * CONFIG_T::fold_in + s].r[J]));
            Outputs:
                for (unsigned t = 0; t < CONFIG_T::fold_out; t++) {
#pragma HLS UNROLL
                    // channels innermost: one ROM word holds every channel's residue of a term
                    sums[t] += xi * sum_t(residue_t(w_rom[fold_index<CONFIG_T>(ri, d, s, t) * BASE::n_mod + J]));
                }
            }
        Reduce:
            for (unsigned t = 0; t < CONFIG_T::fold_out; t++) {
#pragma HLS UNROLL
                sums[t] = sum_t(reduce_bounded<M, lazy::bound>(sums[t]));
            }
        }
    Store:
        for (unsigned t = 0; t < CONFIG_T::fold_out; t++) {
#pragma HLS UNROLL
            acc[d * CONFIG_T::fold_out + t].r[J] = typename BASE::residue_t(sums[t]);
        }
        rns_fold_channels<CONFIG_T, J + 1>::fold(x, acc, ri, d, w_rom);
    }
};
template <typename CONFIG_T, unsigned J> struct rns_fold_channels<CONFIG_T, J, true> {
    template <class W_T>
    static void fold(const rns_residues<CONFIG_T>[], rns_residues<CONFIG_T>[], unsigned, unsigned, const W_T *) {}
};

// Reverse conversion chosen at compile time (only the chosen one is instantiated).
template <bool CRT> struct rns_reverse {
    template <class BASE> static typename BASE::value_t run(const typename BASE::residue_t y[BASE::n_mod]) {
#pragma HLS INLINE
        return reverse_crt<BASE>(y);
    }
};
template <> struct rns_reverse<false> {
    template <class BASE> static typename BASE::value_t run(const typename BASE::residue_t y[BASE::n_mod]) {
#pragma HLS INLINE
        return reverse_mrc<BASE>(y);
    }
};

struct rns_kernel {
    template <typename CONFIG_T> struct element {
        typedef rns_residues<CONFIG_T> type;
    };
    template <typename CONFIG_T> struct accumulator {
        typedef rns_residues<CONFIG_T> type;
    };
    // input codes as signed integers: an unsigned type gets one more (zero) sign bit
    template <typename CONFIG_T> struct code {
        static const int width = CONFIG_T::in_signed ? CONFIG_T::in_bits : CONFIG_T::in_bits + 1;
        typedef typename exact_int<width>::type type;
    };

    template <typename CONFIG_T, class data_T> static rns_residues<CONFIG_T> encode(const data_T &x) {
#pragma HLS INLINE
        rns_residues<CONFIG_T> e;
        to_residues_fold<typename CONFIG_T::rns_base, code<CONFIG_T>::width>(raw_code<typename code<CONFIG_T>::type>(x),
                                                                             e.r);
        return e;
    }
    template <typename CONFIG_T> static void init(rns_residues<CONFIG_T> &acc, const typename CONFIG_T::bias_t &) {
#pragma HLS INLINE
        for (unsigned j = 0; j < CONFIG_T::rns_base::n_mod; j++) {
#pragma HLS UNROLL
            acc.r[j] = 0;
        }
    }
    template <typename CONFIG_T>
    static void
    fold(const rns_residues<CONFIG_T> x[CONFIG_T::n_in], rns_residues<CONFIG_T> acc[CONFIG_T::n_out], unsigned ri,
         unsigned d,
         const typename CONFIG_T::residue_t w_res[CONFIG_T::rns_base::n_mod * CONFIG_T::n_in * CONFIG_T::n_out]) {
#pragma HLS function_instantiate variable = w_res
#pragma HLS ARRAY_RESHAPE variable = w_res cyclic factor = CONFIG_T::fold_in * CONFIG_T::fold_out * CONFIG_T::rns_base::n_mod
        const auto *w_rom = weight_rom<CONFIG_T, 0, CONFIG_T::rns_base::n_mod * CONFIG_T::n_in * CONFIG_T::n_out,
                                       typename CONFIG_T::rns_base::residue_t>(w_res);
        rns_fold_channels<CONFIG_T, 0>::fold(x, acc, ri, d, w_rom);
    }
    template <typename CONFIG_T, class res_T>
    static res_T result(const rns_residues<CONFIG_T> &acc, const typename CONFIG_T::bias_t &bias) {
#pragma HLS INLINE
        typedef typename exact_int<CONFIG_T::acc_width + 1>::type acc_int;
        const acc_int value = acc_int(rns_reverse<CONFIG_T::use_crt>::template run<typename CONFIG_T::rns_base>(acc.r));
        return cast_result<CONFIG_T::acc_width + 1, CONFIG_T::acc_frac, typename CONFIG_T::accum_t, res_T, false>(
            acc_int(value << CONFIG_T::post_shift) + acc_int(bias));
    }
};

} // namespace arith
} // namespace nnet

#endif
