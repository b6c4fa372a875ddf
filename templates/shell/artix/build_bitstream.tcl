# arith4ml: builds the bitstream of project {{project}} for the Artix board {{board}} (Vivado non-project flow).
# Written by toolchain/shell/artix.py.
#
#   vivado -mode batch -source build_bitstream.tcl      (from any directory)
#
# It needs the HLS IP exported first (hls_ip.tcl with the 'export' step; 'arith4ml build' runs both).  The IP is
# added from its repository ({{ip_repo}}) as instance {{ip_module}}, then our RTL (rtl/) and the constraints
# ({{xdc}}) are read, and the design goes through synthesis, placement, routing and write_bitstream.  Everything
# it writes goes into output/: the bitstream, checkpoints, utilization and timing reports.

set here [file dirname [file normalize [info script]]]
set part {{part}}
set top arith4ml_top
set ip_name {{ip_name}}
set ip_module {{ip_module}}
set ip_repo [file join $here {{ip_repo}}]
set out [file join $here {{output}}]
set jobs {{jobs}}

if {![file isdirectory $ip_repo]} {
    error "arith4ml: the HLS IP is not exported yet ($ip_repo is missing): run hls_ip.tcl with the export step first"
}
file mkdir $out
file mkdir [file join $out ip]
set_param general.maxThreads $jobs

# an in-memory project holds the IP catalogue for create_ip; synthesis and implementation stay non-project
create_project -in_memory -part $part
set_property ip_repo_paths [list $ip_repo] [current_project]
update_ip_catalog
set vlnvs [get_ipdefs -all "*:hls:${ip_name}:*"]
if {[llength $vlnvs] == 0} {
    error "arith4ml: no IP named $ip_name in $ip_repo"
}
create_ip -vlnv [lindex $vlnvs end] -module_name $ip_module -dir [file join $out ip]
set xci [get_files ${ip_module}.xci]
# synthesised with the top (no out-of-context checkpoint): one synth_design run, no IP cache needed
set_property generate_synth_checkpoint false $xci
generate_target all $xci

foreach f {{rtl_files}} {
    read_verilog [file join $here rtl $f]
}
read_xdc [file join $here {{xdc}}]

synth_design -top $top -part $part
write_checkpoint -force [file join $out post_synth.dcp]
report_utilization -file [file join $out utilization_synth.rpt]

opt_design
place_design
phys_opt_design
route_design
write_checkpoint -force [file join $out post_route.dcp]

report_utilization -file [file join $out utilization.rpt]
report_utilization -hierarchical -file [file join $out utilization_hierarchical.rpt]
report_timing_summary -max_paths 10 -file [file join $out timing.rpt]
write_bitstream -force [file join $out {{bitstream}}]
puts "arith4ml: wrote [file join $out {{bitstream}}]"
