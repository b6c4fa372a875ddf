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

template <int D, int U, int TI, int TD> struct ap_axis {
    ap_int<D> data;
    ap_uint<(D + 7) / 8> keep;
    ap_uint<(D + 7) / 8> strb;
    ap_uint<U> user;
    ap_uint<1> last;
    ap_uint<TI> id;
    ap_uint<TD> dest;
};

template <int D> struct ap_axis<D, 0, 0, 0> {
    ap_int<D> data;
    ap_uint<(D + 7) / 8> keep;
    ap_uint<(D + 7) / 8> strb;
    ap_uint<1> last;
};

template <int D, int U, int TI, int TD> struct ap_axiu {
    ap_uint<D> data;
    ap_uint<(D + 7) / 8> keep;
    ap_uint<(D + 7) / 8> strb;
    ap_uint<U> user;
    ap_uint<1> last;
    ap_uint<TI> id;
    ap_uint<TD> dest;
};

template <int D> struct ap_axiu<D, 0, 0, 0> {
    ap_uint<D> data;
    ap_uint<(D + 7) / 8> keep;
    ap_uint<(D + 7) / 8> strb;
    ap_uint<1> last;
};

#endif
