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

namespace nnet {
namespace arith {

// Geometry and accumulator of an arith4ml dot-product layer.  A Dense layer is the
// 1x1 special case (in_height = in_width = 1, n_chan = n_in); Conv1D has height 1.
struct dot_config {
    static const unsigned in_height = 1, in_width = 1, n_chan = 1;
    static const unsigned filt_height = 1, filt_width = 1;
    static const unsigned out_height = 1, out_width = 1;
    static const unsigned stride_height = 1, stride_width = 1, pad_top = 0, pad_left = 0;
    static const unsigned n_in = 1, n_out = 1; // patch length (filt_h * filt_w * n_chan), outputs per pixel
    static const int acc_width = 32, acc_frac = 0; // exact accumulator: acc_width bits, acc_frac fractional
    static const int raw_width = 33;               // input codes widened to this (>= input width + 1)
    static const bool in_signed = true;
    static const unsigned reuse_factor = 1;
};

// Integer type of the exact accumulator.  Synthesis always gets ap_int<W>; C-simulation uses a
// native 64-bit integer when W fits, which computes the same bits (the arithmetic is exact) an order
// of magnitude faster.
template <int W, bool NATIVE = (W <= 62)> struct exact_int { typedef ap_int<W> type; };
#ifndef __SYNTHESIS__
template <int W> struct exact_int<W, true> { typedef long long type; };
#endif

// Raw integer code of a fixed-point value (value = code * 2^-frac), sign- or zero-extended to W bits.
template <int W, bool SIGNED, class data_T> ap_int<W> raw_code(const data_T &x) {
    #pragma HLS INLINE
    if (SIGNED) {
        ap_int<data_T::width> r = x.range(data_T::width - 1, 0);
        return ap_int<W>(r);
    }
    ap_uint<data_T::width> r = x.range(data_T::width - 1, 0);
    return ap_int<W>(r);
}

// Assign an exact accumulator (acc * 2^-ACC_FRAC) to the result type, with its rounding and overflow.
template <int ACC_W, int ACC_FRAC, class res_T, class acc_T> res_T cast_result(const acc_T &acc) {
    #pragma HLS INLINE
    const ap_int<ACC_W> bits = acc;
    ap_fixed<ACC_W, ACC_W - ACC_FRAC> exact;
    exact.range(ACC_W - 1, 0) = bits.range(ACC_W - 1, 0);
    return res_T(exact);
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
        raw[k] = raw_code<CONFIG_T::raw_width, CONFIG_T::in_signed>(data[k]);
    }
}

// Ordinary product, for layers whose weights are neither power-of-two nor ternary.
struct mult_kernel {
    template <typename CONFIG_T, class acc_T>
    static acc_T dot(const acc_T x[CONFIG_T::n_in], unsigned o,
                                           const typename CONFIG_T::bias_t &bias,
                                           const typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_out]) {
        #pragma HLS INLINE
        acc_T acc = bias;
        for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
            #pragma HLS UNROLL
            const typename CONFIG_T::weight_t w = weights[i * CONFIG_T::n_out + o];
            if (w == 0) continue;
            acc += x[i] * acc_T(w);
        }
        return acc;
    }
};

// The layer: every output pixel, every output; KERNEL::dot computes one exact accumulator.
template <class KERNEL, class data_T, class res_T, typename CONFIG_T, class... WEIGHTS>
void dot_frame(const data_T data[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan],
               res_T res[CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_out],
               const typename CONFIG_T::bias_t biases[CONFIG_T::n_out], const WEIGHTS *...weights) {
    #pragma HLS PIPELINE II = CONFIG_T::reuse_factor
    // raw_width >= acc_width, so one exact integer type serves inputs, terms and the accumulator
    typedef typename exact_int<CONFIG_T::raw_width>::type raw_int;
    typedef raw_int acc_int;
    raw_int raw[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan];
    raw_frame<data_T, CONFIG_T, raw_int>(data, raw);
    raw_int patch[CONFIG_T::n_in];
    for (unsigned oh = 0; oh < CONFIG_T::out_height; oh++) {
        for (unsigned ow = 0; ow < CONFIG_T::out_width; ow++) {
            gather_patch<raw_int, CONFIG_T>(raw, patch, oh, ow, raw_int(0));
            for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
                const acc_int acc = KERNEL::template dot<CONFIG_T, acc_int>(patch, o, biases[o], weights...);
                res[(oh * CONFIG_T::out_width + ow) * CONFIG_T::n_out + o] =
                    res_T(cast_result<CONFIG_T::acc_width, CONFIG_T::acc_frac, typename CONFIG_T::accum_t>(acc));
            }
        }
    }
}

// io_stream: buffer one frame, run the parallel layer, stream the result out.
template <class KERNEL, class data_T, class res_T, typename CONFIG_T, class... WEIGHTS>
void dot_frame_stream(hls::stream<data_T> &data, hls::stream<res_T> &res,
                      const typename CONFIG_T::bias_t biases[CONFIG_T::n_out], const WEIGHTS *...weights) {
    const unsigned n_in_total = CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan;
    const unsigned n_out_total = CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_out;
    typename data_T::value_type in_flat[n_in_total];
    typename res_T::value_type out_flat[n_out_total];
    read_frame<data_T, typename data_T::value_type, n_in_total>(data, in_flat);
    dot_frame<KERNEL, typename data_T::value_type, typename res_T::value_type, CONFIG_T>(in_flat, out_flat, biases,
                                                                                        weights...);
    write_frame<res_T, typename res_T::value_type, n_out_total>(out_flat, res);
}

} // namespace arith
} // namespace nnet

#endif
