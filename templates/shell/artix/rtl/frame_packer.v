// arith4ml Artix shell: frames between the UART's bytes and the HLS IP's AXI4-Stream words.
//
// Framing (the host's serial driver speaks it; docs/boards.md "Artix flow"):
//   host -> FPGA: SYNC_IN (0xA5), then N_WORDS input words, each WORD_BYTES bytes, least significant first
//   FPGA -> host: SYNC_OUT (0x5A), then the N_WORDS output words, each WORD_BYTES bytes, least significant first
// A word carries one value's raw two's-complement (or unsigned) code in its low bits.
//
// frame_packer (host -> IP).  Bytes are collected into one of two frame buffers and streamed to the IP only
// once the frame is complete, so the IP never sees part of a frame: a frame cut short by the host (a crash, an
// unplugged cable) is dropped when the line stays quiet for TIMEOUT_CLKS clocks, and bytes outside a frame
// that are not SYNC_IN are ignored.  That is how a host resynchronises: wait longer than the timeout, then
// start a frame (or press reset).  Two buffers let the next frame arrive while the IP still holds the previous
// one; a frame that arrives while both are full is received and discarded (overrun pulses), so a host may keep
// at most two frames in flight (the driver keeps one by default: replies carry no frame number, and with one in
// flight a lost frame is a missing reply, which the driver answers with a resync and a resend).
//
// frame_unpacker (IP -> host).  Each output word is sent as WORD_BYTES bytes, and SYNC_OUT before the first
// word of every frame (counted: N_WORDS words per frame, whatever the IP's TLAST says).
`default_nettype none

module frame_packer #(
    parameter integer N_WORDS = 4,          // words per frame (the project's inputs)
    parameter integer WORD_BYTES = 2,       // bytes per word (the input type's width rounded up to bytes)
    parameter [7:0]   SYNC_IN = 8'hA5,      // the byte that starts a frame
    parameter integer TIMEOUT_CLKS = 1000000 // quiet clocks after which a partial frame is dropped
) (
    input  wire                      clk,
    input  wire                      rst_n,  // synchronous, active low
    // bytes from uart_rx
    input  wire [7:0]                rx_data,
    input  wire                      rx_valid,
    // AXI4-Stream master to the IP's x_in
    output wire [WORD_BYTES*8-1:0]   m_tdata,
    output wire                      m_tvalid,
    input  wire                      m_tready,
    output wire                      m_tlast,
    // status pulses (free for LEDs or a debug core)
    output reg                       dropped,  // a partial frame timed out
    output reg                       overrun   // a complete frame arrived while both buffers were full
);
    localparam integer W = WORD_BYTES * 8;
    localparam integer FRAME_BYTES = N_WORDS * WORD_BYTES;
    localparam integer AW = $clog2(2 * FRAME_BYTES);          // buffer address bits (two frames)
    localparam integer BW = $clog2(FRAME_BYTES + 1);          // byte counter bits
    localparam integer NW = $clog2(N_WORDS + 1);              // word counter bits
    localparam integer KW = $clog2(WORD_BYTES + 1);           // byte-in-word counter bits
    localparam integer TW = $clog2(TIMEOUT_CLKS + 1);         // timeout counter bits
    localparam [AW-1:0] BANK1 = FRAME_BYTES[AW-1:0];          // first address of the second buffer
    localparam integer  LAST_WORD_I = N_WORDS - 1;
    localparam integer  LAST_BYTE_I = WORD_BYTES - 1;
    localparam [NW-1:0] LAST_WORD = LAST_WORD_I[NW-1:0];      // counter values of the last word and byte
    localparam [KW-1:0] LAST_BYTE = LAST_BYTE_I[KW-1:0];

    // ---- the two frame buffers: one memory, written by the receiver, read by the streamer -----------------
    // one write port, one synchronous read port: Vivado infers block RAM (or LUT RAM for small frames)
    reg [7:0] mem [0:2*FRAME_BYTES-1];
    reg [1:0] full;  // full[b]: buffer b holds a complete frame not yet streamed to the IP

    // ---- receiver: SYNC_IN, then FRAME_BYTES bytes into buffer wr_bank ------------------------------------
    reg          receiving;
    reg          keep;       // the frame being received has a free buffer (else it is discarded)
    reg          wr_bank;
    reg [AW-1:0] wr_addr;
    reg [BW-1:0] wr_left;    // bytes of the frame still to come
    reg [TW-1:0] quiet;      // clocks since the last byte
    wire         frame_done = receiving && rx_valid && wr_left == 1;
    wire         set_full = frame_done && keep;

    always @(posedge clk) begin
        dropped <= 1'b0;
        overrun <= 1'b0;
        if (!rst_n) begin
            receiving <= 1'b0;
            keep      <= 1'b0;
            wr_bank   <= 1'b0;
            wr_addr   <= {AW{1'b0}};
            wr_left   <= {BW{1'b0}};
            quiet     <= {TW{1'b0}};
        end else if (!receiving) begin
            if (rx_valid && rx_data == SYNC_IN) begin
                receiving <= 1'b1;
                keep      <= !full[wr_bank];
                wr_addr   <= wr_bank ? BANK1 : {AW{1'b0}};
                wr_left   <= FRAME_BYTES[BW-1:0];
                quiet     <= {TW{1'b0}};
            end
        end else if (rx_valid) begin
            wr_addr <= wr_addr + 1'b1;
            wr_left <= wr_left - 1'b1;
            quiet   <= {TW{1'b0}};
            if (wr_left == 1) begin
                receiving <= 1'b0;
                if (keep)
                    wr_bank <= !wr_bank;
                else
                    overrun <= 1'b1;
            end
        end else if (quiet == TIMEOUT_CLKS[TW-1:0]) begin
            receiving <= 1'b0;  // the host went quiet in mid-frame: forget the partial frame
            dropped   <= 1'b1;
        end else begin
            quiet <= quiet + 1'b1;
        end
    end

    always @(posedge clk) begin
        if (receiving && rx_valid && keep)
            mem[wr_addr] <= rx_data;
    end

    // ---- streamer: the words of buffer rd_bank to the IP, least significant byte first ---------------------
    localparam [1:0] R_IDLE = 2'd0, R_ADDR = 2'd1, R_DATA = 2'd2, R_VALID = 2'd3;
    reg [1:0]    rstate;
    reg          rd_bank;
    reg [AW-1:0] rd_addr;
    reg [7:0]    rd_q;       // mem[rd_addr] of the previous cycle (synchronous read)
    reg [KW-1:0] byte_idx;   // bytes of the current word loaded
    reg [NW-1:0] word_idx;   // words of the frame sent
    reg [W-1:0]  word;
    wire         clear_full = rstate == R_VALID && m_tready && word_idx == LAST_WORD;

    always @(posedge clk)
        rd_q <= mem[rd_addr];

    // the next word with the byte just read on top: after WORD_BYTES bytes the first one is at the bottom
    wire [W-1:0] word_next;
    generate
        if (WORD_BYTES == 1) begin : g_byte
            assign word_next = rd_q;
        end else begin : g_bytes
            assign word_next = {rd_q, word[W-1:8]};
        end
    endgenerate

    always @(posedge clk) begin
        if (!rst_n) begin
            rstate   <= R_IDLE;
            rd_bank  <= 1'b0;
            rd_addr  <= {AW{1'b0}};
            byte_idx <= {KW{1'b0}};
            word_idx <= {NW{1'b0}};
            word     <= {W{1'b0}};
        end else begin
            case (rstate)
                R_IDLE: if (full[rd_bank]) begin
                    rd_addr  <= rd_bank ? BANK1 : {AW{1'b0}};
                    byte_idx <= {KW{1'b0}};
                    word_idx <= {NW{1'b0}};
                    rstate   <= R_ADDR;
                end
                R_ADDR: rstate <= R_DATA;  // rd_q loads mem[rd_addr] at this edge
                R_DATA: begin
                    word    <= word_next;
                    rd_addr <= rd_addr + 1'b1;
                    if (byte_idx == LAST_BYTE) begin
                        byte_idx <= {KW{1'b0}};
                        rstate   <= R_VALID;
                    end else begin
                        byte_idx <= byte_idx + 1'b1;
                        rstate   <= R_ADDR;
                    end
                end
                default: if (m_tready) begin  // R_VALID: the word is offered until the IP takes it
                    if (word_idx == LAST_WORD) begin
                        rd_bank <= !rd_bank;
                        rstate  <= R_IDLE;
                    end else begin
                        word_idx <= word_idx + 1'b1;
                        rstate   <= R_ADDR;
                    end
                end
            endcase
        end
    end

    // full flags: set by the receiver, cleared by the streamer (never the same buffer in the same cycle)
    always @(posedge clk) begin
        if (!rst_n) begin
            full <= 2'b00;
        end else begin
            if (set_full)
                full[wr_bank] <= 1'b1;
            if (clear_full)
                full[rd_bank] <= 1'b0;
        end
    end

    assign m_tdata  = word;
    assign m_tvalid = rstate == R_VALID;
    assign m_tlast  = rstate == R_VALID && word_idx == LAST_WORD;
endmodule


// two modules in one file: the two directions of the same framing
/* verilator lint_off DECLFILENAME */
module frame_unpacker #(
    parameter integer N_WORDS = 2,      // words per frame (the project's outputs)
    parameter integer WORD_BYTES = 2,   // bytes per word (the output type's width rounded up to bytes)
    parameter [7:0]   SYNC_OUT = 8'h5A  // the byte sent before every frame
) (
    input  wire                    clk,
    input  wire                    rst_n,  // synchronous, active low
    // AXI4-Stream slave from the IP's y_out (TLAST is not needed: frames are counted)
    input  wire [WORD_BYTES*8-1:0] s_tdata,
    input  wire                    s_tvalid,
    output wire                    s_tready,
    // bytes to uart_tx
    output wire [7:0]              tx_data,
    output wire                    tx_valid,
    input  wire                    tx_ready
);
    localparam integer W = WORD_BYTES * 8;
    localparam integer NW = $clog2(N_WORDS + 1);
    localparam integer KW = $clog2(WORD_BYTES + 1);
    localparam integer  LAST_WORD_I = N_WORDS - 1;
    localparam integer  LAST_BYTE_I = WORD_BYTES - 1;
    localparam [NW-1:0] LAST_WORD = LAST_WORD_I[NW-1:0];      // counter values of the last word and byte
    localparam [KW-1:0] LAST_BYTE = LAST_BYTE_I[KW-1:0];
    localparam [1:0] U_WAIT = 2'd0, U_SYNC = 2'd1, U_BYTES = 2'd2;

    reg [1:0]    state;
    reg [W-1:0]  word;      // the word being sent, shifted right a byte at a time
    reg [KW-1:0] byte_idx;
    reg [NW-1:0] word_idx;  // words of the current frame taken from the IP

    always @(posedge clk) begin
        if (!rst_n) begin
            state    <= U_WAIT;
            word     <= {W{1'b0}};
            byte_idx <= {KW{1'b0}};
            word_idx <= {NW{1'b0}};
        end else begin
            case (state)
                U_WAIT: if (s_tvalid) begin
                    word     <= s_tdata;
                    byte_idx <= {KW{1'b0}};
                    state    <= word_idx == 0 ? U_SYNC : U_BYTES;
                    word_idx <= word_idx == LAST_WORD ? {NW{1'b0}} : word_idx + 1'b1;
                end
                U_SYNC: if (tx_ready) state <= U_BYTES;
                default: if (tx_ready) begin  // U_BYTES
                    word <= word >> 8;
                    if (byte_idx == LAST_BYTE)
                        state <= U_WAIT;
                    else
                        byte_idx <= byte_idx + 1'b1;
                end
            endcase
        end
    end

    assign s_tready = state == U_WAIT;
    assign tx_valid = state != U_WAIT;
    assign tx_data  = state == U_SYNC ? SYNC_OUT : word[7:0];
endmodule
/* verilator lint_on DECLFILENAME */

`default_nettype wire
