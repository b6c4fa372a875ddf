// arith4ml Artix shell: UART transmitter, 8N1, LSB first.
//
// A byte is taken when valid and ready are both high (ready is high while the transmitter is idle) and sent as
// a start bit (0), eight data bits and a stop bit (1), each CLKS_PER_BIT clocks long.  The line idles high,
// also during reset, so the host sees no spurious start bit.
`default_nettype none

module uart_tx #(
    parameter integer CLKS_PER_BIT = 868  // clock cycles per bit: design clock (Hz) / baud rate, rounded
) (
    input  wire       clk,
    input  wire       rst_n,  // synchronous, active low
    input  wire [7:0] data,   // byte to send, taken when valid && ready
    input  wire       valid,
    output wire       ready,  // idle: the next byte may be offered
    output reg        tx      // the serial line
);
    localparam integer CW = $clog2(CLKS_PER_BIT + 1);

    reg          busy;
    reg [CW-1:0] count;  // clocks left in the current bit
    reg [3:0]    bits;   // bits left to send after the current one
    reg [8:0]    shift;  // data bits then the stop bit, sent from bit 0

    assign ready = !busy;

    always @(posedge clk) begin
        if (!rst_n) begin
            busy  <= 1'b0;
            tx    <= 1'b1;
            count <= {CW{1'b0}};
            bits  <= 4'd0;
            shift <= 9'h1ff;
        end else if (!busy) begin
            if (valid) begin
                busy  <= 1'b1;
                tx    <= 1'b0;  // start bit
                shift <= {1'b1, data};
                bits  <= 4'd9;  // eight data bits and the stop bit follow
                count <= CLKS_PER_BIT[CW-1:0] - 1'b1;
            end
        end else if (count != 0) begin
            count <= count - 1'b1;
        end else if (bits != 0) begin
            tx    <= shift[0];
            shift <= {1'b1, shift[8:1]};
            bits  <= bits - 1'b1;
            count <= CLKS_PER_BIT[CW-1:0] - 1'b1;
        end else begin
            busy <= 1'b0;  // the stop bit has lasted a full bit time
        end
    end
endmodule

`default_nettype wire
