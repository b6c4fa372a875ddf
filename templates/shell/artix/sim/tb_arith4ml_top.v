// arith4ml Artix shell, TESTS ONLY: drives arith4ml_top's serial line like a host and records what it answers.
//
// The host side runs at exactly BAUD (the FPGA's UART divides its clock, rounded).  The script comes from
// $readmemh("stim.hex"), one 24-bit entry per line, command in bits 23:16, argument in bits 15:0:
//   00 BB    send byte BB
//   01 NNNN  stay quiet for NNNN bit times
//   02 NNNN  hold the reset button for NNNN bit times, then release it
//   03 NNNN  wait until NNNN reply frames (REPLY_BYTES bytes each) have come back
//   04 ----  end of the script
// Every byte the FPGA sends is written to reply.hex, one per line.  The run ends when the script has ended
// and EXPECT_BYTES bytes came back and the line stayed quiet for a while (or after MAX_MS, "TB TIMEOUT").
`timescale 1ns / 1ps
`default_nettype none

module tb;
    parameter real    BOARD_PERIOD_NS  = 10.0;
    parameter integer RESET_ACTIVE_LOW = 1;
    parameter real    BAUD             = 115200.0;
    parameter integer REPLY_BYTES      = 5;     // bytes of one reply frame (sync byte included)
    parameter integer EXPECT_BYTES     = 0;
    parameter integer TIMEOUT_CLKS     = 0;     // 0: the top's own
    parameter integer MAX_MS           = 100;   // simulated time limit (ms)

    localparam real BIT_NS = 1.0e9 / BAUD;

    reg board_clk = 1'b0;
    reg board_rst = RESET_ACTIVE_LOW ? 1'b1 : 1'b0;  // not pressed
    reg rxd = 1'b1;
    wire txd;

    always #(BOARD_PERIOD_NS / 2.0) board_clk = !board_clk;

    generate
        if (TIMEOUT_CLKS > 0) begin : g_timeout
            arith4ml_top #(.TIMEOUT_CLKS(TIMEOUT_CLKS)) dut (
                .board_clk(board_clk), .board_rst(board_rst), .uart_rxd(rxd), .uart_txd(txd));
        end else begin : g_default
            arith4ml_top dut (.board_clk(board_clk), .board_rst(board_rst), .uart_rxd(rxd), .uart_txd(txd));
        end
    endgenerate

    // ---- host receiver ------------------------------------------------------------------------------------
    integer out_fd;
    integer n_reply = 0;
    integer b;
    reg [7:0] rx_byte;
    realtime last_rx = 0.0;
    initial begin
        out_fd = $fopen("reply.hex", "w");
        forever begin
            @(negedge txd);
            #(BIT_NS * 1.5);
            for (b = 0; b < 8; b = b + 1) begin
                rx_byte[b] = txd;
                #(BIT_NS);
            end
            if (txd !== 1'b1)
                $display("TB ERROR: stop bit of reply byte %0d is %b", n_reply, txd);
            $fwrite(out_fd, "%02x\n", rx_byte);
            $fflush(out_fd);
            n_reply = n_reply + 1;
            last_rx = $realtime;
        end
    end

    // ---- host transmitter, following the script -----------------------------------------------------------
    reg [23:0] script [0:65535];
    integer pc;
    integer k;
    task send_byte(input [7:0] value);
        begin
            rxd = 1'b0;
            #(BIT_NS);
            for (k = 0; k < 8; k = k + 1) begin
                rxd = value[k];
                #(BIT_NS);
            end
            rxd = 1'b1;
            #(BIT_NS);
        end
    endtask

    initial begin
        for (pc = 0; pc < 65536; pc = pc + 1)
            script[pc] = 24'h040000;
        $readmemh("stim.hex", script);
        #(BIT_NS * 20);  // let the reset synchroniser (and the MMCM model) settle
        pc = 0;
        while (script[pc][23:16] != 8'h04) begin
            case (script[pc][23:16])
                8'h00: send_byte(script[pc][7:0]);
                8'h01: #(BIT_NS * script[pc][15:0]);
                8'h02: begin
                    board_rst = !board_rst;
                    #(BIT_NS * script[pc][15:0]);
                    board_rst = !board_rst;
                end
                8'h03: wait (n_reply >= REPLY_BYTES * script[pc][15:0]);
                default: begin
                    $display("TB ERROR: bad script entry %h at %0d", script[pc], pc);
                    $finish;
                end
            endcase
            pc = pc + 1;
        end
        wait (n_reply >= EXPECT_BYTES);
        // quiet for a few characters: nothing more is coming
        while ($realtime - last_rx < BIT_NS * 40)
            #(BIT_NS * 10);
        $display("TB DONE: %0d reply bytes", n_reply);
        $fclose(out_fd);
        $finish;
    end

    initial begin
        #(MAX_MS * 1.0e6);
        $display("TB TIMEOUT after %0d ms: %0d reply bytes, script at %0d", MAX_MS, n_reply, pc);
        $fclose(out_fd);
        $finish;
    end
endmodule

`default_nettype wire
