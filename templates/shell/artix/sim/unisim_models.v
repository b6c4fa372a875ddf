// arith4ml Artix shell, SIMULATION ONLY: behavioural stand-ins for the two Xilinx primitives the top uses, so
// the top simulates with Icarus Verilog without Vivado's unisim library.  Vivado never reads this file.
//
// MMCME2_BASE: CLKOUT0 runs at CLKIN1 * CLKFBOUT_MULT_F / (DIVCLK_DIVIDE * CLKOUT0_DIVIDE_F) from time 0 (not
// phase-locked to CLKIN1: nothing in the shell relies on the phase); LOCKED rises after LOCK_CYCLES input
// clocks with RST low and falls with RST.  Only the parameters and ports the top uses are modelled.
`timescale 1ns / 1ps

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
    output reg  CLKOUT0,
    output wire CLKOUT0B,
    output wire CLKOUT1, output wire CLKOUT1B, output wire CLKOUT2, output wire CLKOUT2B,
    output wire CLKOUT3, output wire CLKOUT3B, output wire CLKOUT4, output wire CLKOUT5, output wire CLKOUT6,
    output reg  LOCKED
);
    localparam integer LOCK_CYCLES = 16;
    localparam real VCO_PERIOD = CLKIN1_PERIOD * DIVCLK_DIVIDE / CLKFBOUT_MULT_F;  // ns
    localparam real OUT_PERIOD = VCO_PERIOD * CLKOUT0_DIVIDE_F;                     // ns

    integer seen = 0;
    initial begin
        CLKOUT0 = 1'b0;
        LOCKED = 1'b0;
        $display("MMCME2_BASE model: CLKIN1 %0.3f ns, VCO %0.3f MHz, CLKOUT0 %0.3f ns", CLKIN1_PERIOD,
                 1000.0 / VCO_PERIOD, OUT_PERIOD);
    end
    always #(OUT_PERIOD / 2.0) CLKOUT0 = !CLKOUT0;
    always @(posedge CLKIN1 or posedge RST) begin
        if (RST) begin
            seen <= 0;
            LOCKED <= 1'b0;
        end else if (seen < LOCK_CYCLES) begin
            seen <= seen + 1;
        end else begin
            LOCKED <= 1'b1;
        end
    end
    assign CLKFBOUT = CLKFBIN;  // feedback is not modelled
    assign CLKFBOUTB = 1'b0;
    assign CLKOUT0B = !CLKOUT0;
    assign {CLKOUT1, CLKOUT1B, CLKOUT2, CLKOUT2B, CLKOUT3, CLKOUT3B, CLKOUT4, CLKOUT5, CLKOUT6} = 9'b0;
endmodule

module BUFG (input wire I, output wire O);
    assign O = I;
endmodule
