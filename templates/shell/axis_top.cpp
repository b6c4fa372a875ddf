// arith4ml: AXI4-Stream top of project {{project}}, written by toolchain/shell/hls.py (see {{project}}_axis.h).
#include "{{project}}_axis.h"

// The raw code of a beat's low bits as a value (bits reinterpreted: no rounding, no overflow).
static {{project}}_axis_in_t {{project}}_axis_decode(const in_word_t &w) {
#pragma HLS INLINE
    {{project}}_axis_in_t v;
    v.range({{in_bits}} - 1, 0) = w.data.range({{in_bits}} - 1, 0);
    return v;
}

// A value as a beat: its code sign- or zero-extended (by the code type) to the word; every byte valid.
static out_word_t {{project}}_axis_encode(const {{project}}_axis_out_t &v, bool last) {
#pragma HLS INLINE
    {{project}}_axis_out_code_t code;
    code.range({{out_bits}} - 1, 0) = v.range({{out_bits}} - 1, 0);
    out_word_t w;
    w.data = code; // ap_int -> wider ap_uint: sign-extends; ap_uint: zero-extends
    w.keep = -1;   // the DMA's S2MM writes only the bytes TKEEP marks
    w.strb = -1;
    w.last = last;
    return w;
}

#if {{macro}}_IO_STREAM

// io_stream: reader, network and writer run as a dataflow pipeline; the frame's TLAST travels beside the
// network in its own stream.
static void {{project}}_axis_read(hls::stream<in_word_t> &x_in, hls::stream<{{input_cpp}}> &x,
                                  hls::stream<bool> &last) {
    bool seen = false;
    unsigned j = 0;
    {{input_cpp}} pack;
    PRAGMA_DATA_PACK(pack)
read_frame:
    for (unsigned i = 0; i < {{project}}_axis_n_in; i++) {
#pragma HLS PIPELINE II = 1
        in_word_t w = x_in.read();
        seen |= (w.last == 1);
        pack[j] = {{project}}_axis_decode(w);
        if (j == {{input_cpp}}::size - 1) {
            x.write(pack);
            j = 0;
        } else {
            j++;
        }
    }
    last.write(seen);
}

static void {{project}}_axis_write(hls::stream<{{output_cpp}}> &y, hls::stream<bool> &last,
                                   hls::stream<out_word_t> &y_out) {
    bool seen = last.read();
    unsigned j = 0;
    {{output_cpp}} pack;
    PRAGMA_DATA_PACK(pack)
write_frame:
    for (unsigned i = 0; i < {{project}}_axis_n_out; i++) {
#pragma HLS PIPELINE II = 1
        if (j == 0) {
            pack = y.read();
        }
        y_out.write({{project}}_axis_encode(pack[j], seen && i == {{project}}_axis_n_out - 1));
        j = (j == {{output_cpp}}::size - 1) ? 0 : j + 1;
    }
}

void {{project}}_axis(hls::stream<in_word_t> &x_in, hls::stream<out_word_t> &y_out) {
#pragma HLS INTERFACE axis port=x_in
#pragma HLS INTERFACE axis port=y_out
#pragma HLS INTERFACE {{control}}
#pragma HLS DATAFLOW
    hls::stream<{{input_cpp}}> x("x");
    hls::stream<{{output_cpp}}> y("y");
    hls::stream<bool> last("last");
    {{project}}_axis_read(x_in, x, last);
    {{project}}(x, y);
    {{project}}_axis_write(y, last, y_out);
}

#else

// io_parallel: read the whole frame into the network's input array, call it, write its output array.
void {{project}}_axis(hls::stream<in_word_t> &x_in, hls::stream<out_word_t> &y_out) {
#pragma HLS INTERFACE axis port=x_in
#pragma HLS INTERFACE axis port=y_out
#pragma HLS INTERFACE {{control}}
    {{input_cpp}} x[{{project}}_axis_n_in];
    {{output_cpp}} y[{{project}}_axis_n_out];
    bool seen = false;
read_frame:
    for (unsigned i = 0; i < {{project}}_axis_n_in; i++) {
#pragma HLS PIPELINE II = 1
        in_word_t w = x_in.read();
        seen |= (w.last == 1);
        x[i] = {{project}}_axis_decode(w);
    }
    {{project}}(x, y);
write_frame:
    for (unsigned i = 0; i < {{project}}_axis_n_out; i++) {
#pragma HLS PIPELINE II = 1
        y_out.write({{project}}_axis_encode(y[i], seen && i == {{project}}_axis_n_out - 1));
    }
}

#endif
