// arith4ml Artix shell top for project {{project}} on board {{board}} (written by toolchain/shell/artix.py).
//
//   board clock --[MMCM when the board clock is not the design clock]--> design clock
//   reset button + MMCM LOCKED --> reset_sync --> rst_n (every block, the HLS IP's ap_rst_n)
//   uart_rxd --> uart_rx --> frame_packer --AXI4-Stream x_in--> {{ip_module}} --y_out--> frame_unpacker
//            --> uart_tx --> uart_txd
//
// The frames on the serial line are described in frame_packer.v and docs/boards.md ("Artix flow").  The IP
// runs free (ap_ctrl_none): it takes a frame's N_IN words, computes, and returns N_OUT words.
`default_nettype none

module arith4ml_top #(
    // clocking (from the board file): board oscillator and design clock
    parameter real    CLK_IN_PERIOD_NS = {{clk_in_period_ns}},  // board oscillator period (ns)
    parameter integer USE_MMCM         = {{use_mmcm}},          // 1: the design clock comes from an MMCM
    // MMCM settings, used when USE_MMCM = 1 (chosen by toolchain/shell/artix.py, see mmcm_settings):
    // design clock = board clock * MMCM_MULT / (MMCM_DIVCLK * MMCM_OUT_DIV), VCO = board clock * MMCM_MULT /
    // MMCM_DIVCLK within 600-1200 MHz (7-series MMCM, speed grade -1)
    parameter real    MMCM_MULT        = {{mmcm_mult}},         // CLKFBOUT_MULT_F: 2.000-64.000 in steps of 0.125
    parameter integer MMCM_DIVCLK      = {{mmcm_divclk}},       // DIVCLK_DIVIDE: 1-106
    parameter real    MMCM_OUT_DIV     = {{mmcm_out_div}},      // CLKOUT0_DIVIDE_F: 1.000-128.000 in steps of 0.125
    // reset button polarity (from the board file)
    parameter integer RESET_ACTIVE_LOW = {{reset_active_low}},
    // UART: design clock cycles per bit = design clock (Hz) / baud rate ({{baud}} baud), rounded
    parameter integer CLKS_PER_BIT     = {{clks_per_bit}},
    // a partial input frame is dropped after this many quiet design clock cycles ({{timeout_ms}} ms)
    parameter integer TIMEOUT_CLKS     = {{timeout_clks}},
    // the project's I/O: values per frame and bytes per value (type width rounded up to bytes)
    parameter integer N_IN             = {{n_in}},
    parameter integer IN_BYTES         = {{in_bytes}},
    parameter integer N_OUT            = {{n_out}},
    parameter integer OUT_BYTES        = {{out_bytes}}
) (
    input  wire board_clk,  // {{clock_port}} on the board's master XDC
    input  wire board_rst,  // {{reset_port}}: the reset button
    input  wire uart_rxd,   // {{uart_rx_port}}: the host's TX, the FPGA's RX
    output wire uart_txd    // {{uart_tx_port}}: the FPGA's TX, the host's RX
);
    localparam integer W_IN = IN_BYTES * 8;
    localparam integer W_OUT = OUT_BYTES * 8;

    // ---- clock --------------------------------------------------------------------------------------------
    wire clk;
    wire locked;
    generate
        if (USE_MMCM != 0) begin : g_mmcm
            wire clkfb;     // feedback straight from CLKFBOUT: the output's phase does not matter here
            wire clk_mmcm;
            MMCME2_BASE #(
                .CLKIN1_PERIOD(CLK_IN_PERIOD_NS),
                .CLKFBOUT_MULT_F(MMCM_MULT),
                .DIVCLK_DIVIDE(MMCM_DIVCLK),
                .CLKOUT0_DIVIDE_F(MMCM_OUT_DIV)
            ) u_mmcm (
                .CLKIN1(board_clk),
                .CLKFBIN(clkfb),
                .CLKFBOUT(clkfb),
                // the other outputs are unused (named and left open, so lint sees they are on purpose)
                /* verilator lint_off PINCONNECTEMPTY */
                .CLKFBOUTB(),
                .CLKOUT0(clk_mmcm),
                .CLKOUT0B(),
                .CLKOUT1(), .CLKOUT1B(), .CLKOUT2(), .CLKOUT2B(), .CLKOUT3(), .CLKOUT3B(),
                .CLKOUT4(), .CLKOUT5(), .CLKOUT6(),
                /* verilator lint_on PINCONNECTEMPTY */
                .LOCKED(locked),
                .PWRDWN(1'b0),
                // the button also restarts the MMCM (asynchronous, active high), as Xilinx's clocking
                // wizard does with its reset input
                .RST(RESET_ACTIVE_LOW != 0 ? !board_rst : board_rst)
            );
            BUFG u_bufg (.I(clk_mmcm), .O(clk));
        end else begin : g_direct
            // the board clock is the design clock: Vivado puts it on a global buffer itself
            assign clk = board_clk;
            assign locked = 1'b1;
        end
    endgenerate

    // ---- reset --------------------------------------------------------------------------------------------
    wire rst_n;
    reset_sync #(.ACTIVE_LOW(RESET_ACTIVE_LOW)) u_reset (
        .clk(clk), .button(board_rst), .locked(locked), .rst_n(rst_n)
    );

    // ---- host -> IP ---------------------------------------------------------------------------------------
    wire [7:0] rx_data;
    wire       rx_valid;
    /* verilator lint_off UNUSEDSIGNAL */
    wire       rx_frame_err;  // status pulses: nothing on the board shows them (free for a debug core)
    wire       frame_dropped;
    wire       frame_overrun;
    /* verilator lint_on UNUSEDSIGNAL */
    uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_uart_rx (
        .clk(clk), .rst_n(rst_n), .rx(uart_rxd), .data(rx_data), .valid(rx_valid), .frame_err(rx_frame_err)
    );

    wire [W_IN-1:0] x_tdata;
    wire            x_tvalid;
    wire            x_tready;
    wire            x_tlast;
    frame_packer #(.N_WORDS(N_IN), .WORD_BYTES(IN_BYTES), .TIMEOUT_CLKS(TIMEOUT_CLKS)) u_packer (
        .clk(clk), .rst_n(rst_n), .rx_data(rx_data), .rx_valid(rx_valid),
        .m_tdata(x_tdata), .m_tvalid(x_tvalid), .m_tready(x_tready), .m_tlast(x_tlast),
        .dropped(frame_dropped), .overrun(frame_overrun)
    );

    // ---- the HLS IP (ap_ctrl_none: free-running) ----------------------------------------------------------
    wire [W_OUT-1:0]     y_tdata;
    wire                 y_tvalid;
    wire                 y_tready;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [OUT_BYTES-1:0] y_tkeep;  // every byte is valid and frames are counted: these are not needed
    wire [OUT_BYTES-1:0] y_tstrb;
    wire                 y_tlast;
    /* verilator lint_on UNUSEDSIGNAL */
    {{ip_module}} u_ip (
        .ap_clk(clk),
        .ap_rst_n(rst_n),
        .x_in_TDATA(x_tdata),
        .x_in_TVALID(x_tvalid),
        .x_in_TREADY(x_tready),
        .x_in_TKEEP({IN_BYTES{1'b1}}),
        .x_in_TSTRB({IN_BYTES{1'b1}}),
        .x_in_TLAST(x_tlast),
        .y_out_TDATA(y_tdata),
        .y_out_TVALID(y_tvalid),
        .y_out_TREADY(y_tready),
        .y_out_TKEEP(y_tkeep),
        .y_out_TSTRB(y_tstrb),
        .y_out_TLAST(y_tlast)
    );

    // ---- IP -> host ---------------------------------------------------------------------------------------
    wire [7:0] tx_data;
    wire       tx_valid;
    wire       tx_ready;
    frame_unpacker #(.N_WORDS(N_OUT), .WORD_BYTES(OUT_BYTES)) u_unpacker (
        .clk(clk), .rst_n(rst_n), .s_tdata(y_tdata), .s_tvalid(y_tvalid), .s_tready(y_tready),
        .tx_data(tx_data), .tx_valid(tx_valid), .tx_ready(tx_ready)
    );
    uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_uart_tx (
        .clk(clk), .rst_n(rst_n), .data(tx_data), .valid(tx_valid), .ready(tx_ready), .tx(uart_txd)
    );
endmodule

`default_nettype wire
