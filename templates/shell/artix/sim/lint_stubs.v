// arith4ml Artix shell, LINT ONLY: port-level stubs of the Xilinx primitives for 'verilator --lint-only', which
// has no unisim library.  Vivado never reads this file.
/* verilator lint_off UNUSEDSIGNAL */
/* verilator lint_off UNUSEDPARAM */
/* verilator lint_off DECLFILENAME */
/* verilator lint_off PINCONNECTEMPTY */
`default_nettype none

module MMCME2_BASE #(
    parameter real    CLKIN1_PERIOD    = 10.0,
    parameter real    CLKFBOUT_MULT_F  = 5.0,
    parameter integer DIVCLK_DIVIDE    = 1,
    parameter real    CLKOUT0_DIVIDE_F = 1.0
) (
    input  wire CLKIN1,
    input  wire CLKFBIN,
    input  wire RST,
    input  wire PWRDWN,
    output wire CLKFBOUT,
    output wire CLKFBOUTB,
    output wire CLKOUT0,
    output wire CLKOUT0B,
    output wire CLKOUT1, output wire CLKOUT1B, output wire CLKOUT2, output wire CLKOUT2B,
    output wire CLKOUT3, output wire CLKOUT3B, output wire CLKOUT4, output wire CLKOUT5, output wire CLKOUT6,
    output wire LOCKED
);
    assign CLKFBOUT = CLKIN1;
    assign CLKOUT0 = CLKIN1;
    assign {CLKFBOUTB, CLKOUT0B, CLKOUT1, CLKOUT1B, CLKOUT2, CLKOUT2B, CLKOUT3, CLKOUT3B, CLKOUT4, CLKOUT5,
            CLKOUT6} = 11'b0;
    assign LOCKED = !RST && !PWRDWN && CLKFBIN;
endmodule

module BUFG (input wire I, output wire O);
    assign O = I;
endmodule

`default_nettype wire
