// arith4ml Artix shell: reset synchroniser (asynchronous assert, synchronous deassert).
//
// The reset button and the MMCM's LOCKED are asynchronous to the design clock.  The reset output goes active
// at once when either asks for a reset (even while the clock is not running, as before LOCKED), and goes
// inactive only on a clock edge, STAGES edges after the request ended, so every flip-flop leaves reset in the
// same cycle (no recovery/removal violation on the button's release).
`default_nettype none

module reset_sync #(
    parameter integer ACTIVE_LOW = 1,  // the button's polarity: 1 when pressing it pulls the pin low
    parameter integer STAGES = 3       // synchroniser depth (at least 2)
) (
    input  wire clk,
    input  wire button,   // the board's reset button (asynchronous)
    input  wire locked,   // the clock is good (tie to 1 when there is no MMCM)
    output wire rst_n     // active-low reset, deasserted synchronously to clk
);
    wire request = (ACTIVE_LOW != 0 ? !button : button) || !locked;

    (* ASYNC_REG = "TRUE" *) reg [STAGES-1:0] chain = {STAGES{1'b0}};  // in reset at configuration
    always @(posedge clk or posedge request) begin
        if (request)
            chain <= {STAGES{1'b0}};
        else
            chain <= {chain[STAGES-2:0], 1'b1};
    end
    assign rst_n = chain[STAGES-1];
endmodule

`default_nettype wire
