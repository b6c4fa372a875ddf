// arith4ml: C-sim / co-sim testbench of {{project}}_axis, written by toolchain/shell/hls.py.
//
// tb_data/axis_in.dat holds one input frame per line (raw codes of {{input_type}}), tb_data/axis_out.dat the
// codes of {{output_type}} the reference (toolchain.reference) computes for them.  Frame 0 is sent alone with
// TLAST on its last beat, the other frames as one batch with TLAST on the batch's last beat only (as the AXI
// DMA sends one transfer); the output's TLAST must follow: at the end of frame 0 and of the last frame.
// Exit status 0 when every word and TLAST is as expected.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "{{project}}_axis.h"

static std::vector<std::vector<long long>> {{project}}_tb_read(const char *path) {
    std::vector<std::vector<long long>> frames;
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
        std::istringstream s(line);
        std::vector<long long> frame;
        long long v;
        while (s >> v) {
            frame.push_back(v);
        }
        if (!frame.empty()) {
            frames.push_back(frame);
        }
    }
    return frames;
}

int main() {
    std::vector<std::vector<long long>> in = {{project}}_tb_read("tb_data/axis_in.dat");
    std::vector<std::vector<long long>> expected = {{project}}_tb_read("tb_data/axis_out.dat");
    if (in.empty() || in.size() != expected.size()) {
        std::cout << "FAIL: tb_data/axis_in.dat and axis_out.dat are missing or differ in frames" << std::endl;
        return 2;
    }
    unsigned errors = 0;
    const unsigned n = in.size();
    for (unsigned f = 0; f < n; f++) {
        hls::stream<in_word_t> x_in("x_in");
        hls::stream<out_word_t> y_out("y_out");
        const bool frame_last = (f == 0 || f == n - 1); // the DMA's TLAST: end of frame 0, end of the batch
        for (unsigned i = 0; i < {{project}}_axis_n_in; i++) {
            in_word_t w;
            w.data = {{project}}_axis_in_code_t(in[f][i]); // sign- or zero-extended as the code type is
            w.keep = -1;
            w.strb = -1;
            w.last = frame_last && i == {{project}}_axis_n_in - 1;
            x_in.write(w);
        }
        {{project}}_axis(x_in, y_out);
        for (unsigned i = 0; i < {{project}}_axis_n_out; i++) {
            out_word_t w = y_out.read();
            ap_uint<{{out_width}}> want = {{project}}_axis_out_code_t(expected[f][i]);
            bool want_last = frame_last && i == {{project}}_axis_n_out - 1;
            if (w.data != want || bool(w.last) != want_last) {
                if (errors < 10) {
                    std::cout << "frame " << f << " value " << i << ": got " << w.data.to_string(16) << " last "
                              << int(w.last) << ", expected " << want.to_string(16) << " last " << want_last
                              << std::endl;
                }
                errors++;
            }
        }
        if (!y_out.empty()) {
            std::cout << "frame " << f << ": more than " << {{project}}_axis_n_out << " output words" << std::endl;
            errors++;
        }
    }
    std::cout << (errors ? "FAIL" : "PASS") << ": " << n << " frames, " << errors << " mismatches" << std::endl;
    return errors ? 1 : 0;
}
