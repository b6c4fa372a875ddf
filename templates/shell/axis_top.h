// arith4ml: AXI4-Stream top of project {{project}}, written by toolchain/shell/hls.py (board shells).
//
// {{project}}_axis reads one frame of {{n_in}} input values from x_in, runs {{project}} and writes {{n_out}}
// output values to y_out.  One beat carries one value: its raw code (value * 2^frac) in the low bits of the
// word, sign-extended (signed types) or zero-extended (unsigned) to the word's width.
//
// Words are ap_axiu<W,0,0,0> from ap_axi_sdata.h, not a struct of our own: Vitis HLS gives a port of a
// custom struct no TLAST (UG1399 "AXI4-Stream Interfaces without Side-Channels"), ap_axiu has it in every
// HLS version.  TLAST of the output: set on the last value of a frame whose input carried TLAST, so a batch
// sent by one DMA transfer (TLAST on its final beat only) comes back as one transfer too, and a frame sent
// alone ends with TLAST (the AXI DMA's S2MM channel ends a simple transfer at TLAST, PG021).
#ifndef {{guard}}
#define {{guard}}

#include "ap_axi_sdata.h"
#include "hls_stream.h"

#include "nnet_utils/nnet_common.h" // PRAGMA_DATA_PACK: the pragma Vivado HLS and Vitis HLS each understand
#include "{{project}}.h"

// 1: the project is io_stream (its top takes hls::stream of nnet::array), 0: io_parallel (arrays)
#define {{macro}}_IO_STREAM {{io_stream}}

static const unsigned {{project}}_axis_n_in = {{n_in}};   // values per input frame
static const unsigned {{project}}_axis_n_out = {{n_out}}; // values per output frame

typedef ap_axiu<{{in_width}}, 0, 0, 0> in_word_t;   // input beat: {{in_width}}-bit TDATA, TKEEP, TSTRB, TLAST
typedef ap_axiu<{{out_width}}, 0, 0, 0> out_word_t; // output beat: {{out_width}}-bit TDATA, TKEEP, TSTRB, TLAST

typedef {{in_value_t}} {{project}}_axis_in_t;   // one input value: {{input_type}}
typedef {{out_value_t}} {{project}}_axis_out_t; // one output value: {{output_type}}
typedef {{in_code_t}} {{project}}_axis_in_code_t;   // its raw code
typedef {{out_code_t}} {{project}}_axis_out_code_t; // the output value's raw code

void {{project}}_axis(hls::stream<in_word_t> &x_in, hls::stream<out_word_t> &y_out);

#endif
