// The constant functions every RNS module of arith4ml uses (toolchain.rtl.rns), written once: Verilog-2005
// functions belong to a module, so the generator pastes this text into each module that needs them.
// Constant functions only: they run at elaboration, never on data.
    // bits of an unsigned value (at least 1)
    function integer bits_for(input integer value);
        begin
            bits_for = 1;
            while (bits_for < 31 && value >= (1 << bits_for)) bits_for = bits_for + 1;
        end
    endfunction
    // 0: 2^N, 1: 2^N - 1, 2: 2^N + 1
    function integer kind_of(input integer m);
        begin
            if ((m & (m - 1)) == 0) kind_of = 0;
            else if (((m + 1) & m) == 0) kind_of = 1;
            else kind_of = 2;
        end
    endfunction
