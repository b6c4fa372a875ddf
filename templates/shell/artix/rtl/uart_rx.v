// arith4ml Artix shell: UART receiver, 8 data bits, no parity, 1 stop bit (8N1), LSB first.
//
// The line idles high.  A falling edge starts a character; the receiver waits half a bit to the middle of the
// start bit, checks that the line is still low (a shorter glitch is ignored), then samples every data bit and
// the stop bit in its middle (mid-bit sampling: one sample per bit, CLKS_PER_BIT clocks apart).  A character
// whose stop bit is low (a framing error: wrong baud rate, a break, a glitch) is reported on frame_err and not
// delivered.
//
// The line comes from another clock domain (the USB-UART bridge), so it passes a two-flop synchroniser before
// any logic looks at it; its reset value is the idle level, so a reset never looks like a start bit.
`default_nettype none

module uart_rx #(
    parameter integer CLKS_PER_BIT = 868  // clock cycles per bit: design clock (Hz) / baud rate, rounded
) (
    input  wire       clk,
    input  wire       rst_n,      // synchronous, active low
    input  wire       rx,         // the serial line (asynchronous)
    output reg  [7:0] data,       // the received byte, valid while valid is high
    output reg        valid,      // one-cycle pulse: data holds a new byte
    output reg        frame_err   // one-cycle pulse: a character ended with a low stop bit (dropped)
);
    localparam integer HALF_BIT = CLKS_PER_BIT / 2;
    localparam integer CW = $clog2(CLKS_PER_BIT + 1);  // bits of the bit-time counter

    localparam [1:0] S_IDLE = 2'd0, S_START = 2'd1, S_DATA = 2'd2, S_STOP = 2'd3;

    // two-flop synchroniser; ASYNC_REG keeps the flops together (and out of SRL) in Vivado
    (* ASYNC_REG = "TRUE" *) reg rx_meta = 1'b1;
    (* ASYNC_REG = "TRUE" *) reg rx_sync = 1'b1;
    always @(posedge clk) begin
        rx_meta <= rx;
        rx_sync <= rx_meta;
    end

    reg [1:0]    state;
    reg [CW-1:0] count;   // clocks left until the next sample point
    reg [2:0]    bit_idx; // data bit being received, LSB first
    reg [7:0]    shift;

    always @(posedge clk) begin
        valid     <= 1'b0;
        frame_err <= 1'b0;
        if (!rst_n) begin
            state   <= S_IDLE;
            count   <= {CW{1'b0}};
            bit_idx <= 3'd0;
            shift   <= 8'd0;
            data    <= 8'd0;
        end else begin
            case (state)
                S_IDLE: if (!rx_sync) begin
                    // falling edge: the middle of the start bit is half a bit away
                    count <= HALF_BIT[CW-1:0];
                    state <= S_START;
                end
                S_START: if (count != 0) begin
                    count <= count - 1'b1;
                end else if (rx_sync) begin
                    state <= S_IDLE;  // high again in the middle of the start bit: a glitch, not a character
                end else begin
                    count   <= CLKS_PER_BIT[CW-1:0] - 1'b1;
                    bit_idx <= 3'd0;
                    state   <= S_DATA;
                end
                S_DATA: if (count != 0) begin
                    count <= count - 1'b1;
                end else begin
                    shift   <= {rx_sync, shift[7:1]};  // LSB first: the first bit ends at bit 0
                    count   <= CLKS_PER_BIT[CW-1:0] - 1'b1;
                    bit_idx <= bit_idx + 1'b1;
                    if (bit_idx == 3'd7)
                        state <= S_STOP;
                end
                default: if (count != 0) begin  // S_STOP
                    count <= count - 1'b1;
                end else begin
                    // back to idle in the middle of the stop bit, so the next start edge is not missed
                    if (rx_sync) begin
                        data  <= shift;
                        valid <= 1'b1;
                    end else begin
                        frame_err <= 1'b1;
                    end
                    state <= S_IDLE;
                end
            endcase
        end
    end
endmodule

`default_nettype wire
