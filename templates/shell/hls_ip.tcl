# arith4ml: builds the AXI4-Stream IP of an arith4ml project ({{top}}) and exports it to the IP catalog.
# Written by toolchain/shell/hls.py; every board shell (Zynq and Artix) uses it.
#
# Run it from any directory with one of
#   vitis-run --mode hls --tcl hls_ip.tcl      (Vitis 2023.2 and later)
#   vitis_hls -f hls_ip.tcl                    (Vitis HLS 2020.2 - 2024.x)
#   vivado_hls -f hls_ip.tcl                   (Vivado HLS up to 2020.1)
# vitis-run passes no arguments to the script (hls4ml works around this the same way, PR #1327: a
# build_opt.tcl sourced by build_prj.tcl), so what to do comes from hls_options.tcl beside this file:
#   hls_steps      steps to run, in this order: csim csynth cosim export
#   hls_top        the top function, <project>_axis
#   hls_project    the project name (the network's top function, firmware/<project>.cpp)
#   hls_part       the FPGA part;  hls_clock_ns  the clock period in ns
#   hls_firmware   the project's firmware directory, relative to this file
#   hls_dir        the HLS project directory to create, relative to this file
#   hls_ip_version the version of the exported IP ("1.0")
# The exported IP lands in <hls_dir>/solution1/impl/ip (UG1399 "Output of RTL Export"), which the Vivado
# scripts add to their IP repository paths.

set here [file dirname [file normalize [info script]]]
source [file join $here hls_options.tcl]
cd $here

set firmware [file normalize [file join $here $hls_firmware]]
set cflags "-std=c++0x -I$firmware -I[file join $here src]"

open_project -reset $hls_dir
set_top $hls_top
add_files [file join $firmware ${hls_project}.cpp] -cflags $cflags
add_files [file join src ${hls_top}.cpp] -cflags $cflags
add_files -tb [file join src ${hls_top}_tb.cpp] -cflags $cflags
add_files -tb tb_data
# the C-sim build reads the network's weights from weights/<name>.txt in its run directory (as hls4ml's build_prj.tcl)
add_files -tb [file join $firmware weights]

# Vitis HLS chooses the IP (vivado) flow with -flow_target; Vivado HLS has no such option (and only the IP flow)
if {[catch {open_solution -reset -flow_target vivado solution1}]} {
    open_solution -reset solution1
}
set_part $hls_part
create_clock -period $hls_clock_ns -name default
# hls4ml's build_prj.tcl raises Vivado HLS's array partition limit for its large arrays; Vitis HLS no longer
# has the option (it is an error there, hence catch)
catch {config_array_partition -maximum_size 4096}
config_compile -name_max_length 80

foreach step $hls_steps {
    switch -- $step {
        csim { csim_design }
        csynth { csynth_design }
        cosim { cosim_design }
        export { export_design -format ip_catalog -version $hls_ip_version -description "arith4ml $hls_project AXI4-Stream" }
        default { error "hls_options.tcl: unknown step '$step' (known: csim csynth cosim export)" }
    }
}
close_project
exit
