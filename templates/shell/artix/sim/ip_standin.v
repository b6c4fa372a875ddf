// arith4ml Artix shell, TESTS ONLY: a stand-in for the HLS IP {{ip_module}} with the same ports (ap_ctrl_none,
// AXI4-Stream x_in and y_out from ap_axiu), so the shell simulates without Vitis HLS.
//
// Per frame it reads N_IN words (signed W_IN-bit codes x[i]) and writes N_OUT words
//     y[j] = sum_i (i + j + 1) * x[i]   (mod 2**W_OUT),   TLAST on y[N_OUT-1],
// a function that changes when words are reordered, dropped or byte-swapped.  TREADY and TVALID follow a
// pseudo-random pattern to exercise the shell's back-pressure.  A TLAST, TKEEP or TSTRB that is not what
// the shell must send prints "STANDIN ERROR".
`default_nettype none

module {{ip_module}} #(
    parameter integer N_IN  = {{n_in}},
    parameter integer W_IN  = {{w_in}},
    parameter integer N_OUT = {{n_out}},
    parameter integer W_OUT = {{w_out}}
) (
    input  wire               ap_clk,
    input  wire               ap_rst_n,
    input  wire [W_IN-1:0]    x_in_TDATA,
    input  wire               x_in_TVALID,
    output wire               x_in_TREADY,
    input  wire [W_IN/8-1:0]  x_in_TKEEP,
    input  wire [W_IN/8-1:0]  x_in_TSTRB,
    input  wire               x_in_TLAST,
    output wire [W_OUT-1:0]   y_out_TDATA,
    output wire               y_out_TVALID,
    input  wire               y_out_TREADY,
    output wire [W_OUT/8-1:0] y_out_TKEEP,
    output wire [W_OUT/8-1:0] y_out_TSTRB,
    output wire               y_out_TLAST
);
    reg signed [63:0] acc [0:N_OUT-1];
    reg               writing;
    integer           idx;
    integer           j;
    reg [7:0]         lfsr;
    wire              go = lfsr[0] | lfsr[1];  // stall about one cycle in four

    assign x_in_TREADY  = !writing && go;
    assign y_out_TVALID = writing && go;
    assign y_out_TDATA  = acc[idx][W_OUT-1:0];
    assign y_out_TLAST  = idx == N_OUT - 1;
    assign y_out_TKEEP  = {(W_OUT/8){1'b1}};
    assign y_out_TSTRB  = {(W_OUT/8){1'b1}};

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            writing <= 1'b0;
            idx <= 0;
            lfsr <= 8'h5b;
            for (j = 0; j < N_OUT; j = j + 1)
                acc[j] <= 64'sd0;
        end else begin
            lfsr <= {lfsr[6:0], lfsr[7] ^ lfsr[5] ^ lfsr[4] ^ lfsr[3]};
            if (x_in_TVALID && x_in_TREADY) begin
                if (x_in_TLAST != (idx == N_IN - 1) || x_in_TKEEP != {(W_IN/8){1'b1}}
                        || x_in_TSTRB != {(W_IN/8){1'b1}})
                    $display("STANDIN ERROR: input word %0d: TLAST %b TKEEP %b TSTRB %b", idx, x_in_TLAST,
                             x_in_TKEEP, x_in_TSTRB);
                for (j = 0; j < N_OUT; j = j + 1)
                    acc[j] <= acc[j] + $signed(x_in_TDATA) * (idx + j + 1);
                if (idx == N_IN - 1) begin
                    idx <= 0;
                    writing <= 1'b1;
                end else begin
                    idx <= idx + 1;
                end
            end
            if (y_out_TVALID && y_out_TREADY) begin
                if (idx == N_OUT - 1) begin
                    idx <= 0;
                    writing <= 1'b0;
                    for (j = 0; j < N_OUT; j = j + 1)
                        acc[j] <= 64'sd0;
                end else begin
                    idx <= idx + 1;
                end
            end
        end
    end
endmodule

`default_nettype wire
