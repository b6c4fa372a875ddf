// arith4ml: a minimal stand-in for the vendor's ap_axi_sdata.h, for C simulation with g++ only.
//
// hls4ml's bundled ap_types do not include ap_axi_sdata.h.  This header declares ap_axis / ap_axiu with the
// members of the vendor's (data, keep, strb, user, last, id, dest; the <D, 0, 0, 0> case without user, id
// and dest) so that the board shells' AXI4-Stream top compiles in our tests.  It is never given to Vitis HLS
// or Vivado HLS: their own header, which also tells the synthesis tool how to map the members onto the
// AXI4-Stream signals, is the one the HLS scripts use.
#ifndef ARITH4ML_CSIM_AP_AXI_SDATA_H
#define ARITH4ML_CSIM_AP_AXI_SDATA_H

#include "ap_int.h"

// One AXI4-Stream word of data type data_T (D bits); ap_axis (signed data) and ap_axiu (unsigned) are it.
template <class data_T, int D, int U, int TI, int TD> struct axi_word {
    data_T data;
    ap_uint<(D + 7) / 8> keep;
    ap_uint<(D + 7) / 8> strb;
    ap_uint<U> user;
    ap_uint<1> last;
    ap_uint<TI> id;
    ap_uint<TD> dest;
};

template <class data_T, int D> struct axi_word<data_T, D, 0, 0, 0> {
    data_T data;
    ap_uint<(D + 7) / 8> keep;
    ap_uint<(D + 7) / 8> strb;
    ap_uint<1> last;
};

template <int D, int U, int TI, int TD> struct ap_axis : axi_word<ap_int<D>, D, U, TI, TD> {};
template <int D, int U, int TI, int TD> struct ap_axiu : axi_word<ap_uint<D>, D, U, TI, TD> {};

#endif
