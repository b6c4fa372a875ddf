# arith4ml: Vivado block design of {{top}} on {{board}} ({{family}}), through write_bitstream.
# Written by toolchain/shell/zynq.py.  Run after hls_ip.tcl has exported the IP:
#   vivado -mode batch -source block_design.tcl
#
# The design follows hls4ml 1.3's VivadoAccelerator axi_stream designs and FINN's Zynq shell
# (templates/vivado_accelerator/{pynq-z2,zcu102}/tcl_scripts/axi_stream_design.tcl in fastmachinelearning/hls4ml
# v1.3.0; src/finn/transformation/fpgadataflow/templates.py custom_zynq_shell_template in Xilinx/finn):
#   PS (board preset) --GP master--> AXI Interconnect --> AXI DMA S_AXI_LITE, IP s_axi_control
#   AXI DMA M_AXI_MM2S/S2MM --> AXI Interconnect (Zynq-7000) / SmartConnect (Zynq UltraScale+) --> PS HP0
#   AXI DMA M_AXIS_MM2S --> IP x_in;  IP y_out --> AXI DMA S_AXIS_S2MM
# One PL clock (FCLK_CLK0 / pl_clk0) at the board's clock clocks everything; proc_sys_reset makes the resets.
# IP versions are looked up with get_ipdefs (as FINN does) instead of hard-coded: they change between Vivado
# releases (processing_system7 5.5, zynq_ultra_ps_e 3.3 -> 3.5; PYNQ base.tcl across its tags).

set family {{family}}
set part {{part}}
set board_part {{board_part}}
set top {{top}}
set pl_clk_mhz {{pl_clk_mhz}}
set in_width {{in_width}}
set out_width {{out_width}}
set jobs {{jobs}}
set ip_repo {{ip_repo}}
set output {{output}}

set here [file dirname [file normalize [info script]]]
cd $here
set vivado_dir vivado_prj
set proj_name {{top}}_bd
set bd_name design_1

create_project $proj_name $vivado_dir -part $part -force
if {$board_part ne ""} {
    # board files of boards Vivado does not ship (e.g. the PYNQ-Z2's before Vivado 2022.1) can be given with
    # ARITH4ML_BOARD_REPO, a directory of board files (as FINN sets board_part_repo_paths)
    if {[info exists ::env(ARITH4ML_BOARD_REPO)]} {
        set_param board.repoPaths [list $::env(ARITH4ML_BOARD_REPO)]
    }
    if {[llength [get_board_parts -quiet $board_part]] == 0} {
        error "board part $board_part is not installed in this Vivado: install its board files (Vivado's\
               XHub store, or set ARITH4ML_BOARD_REPO to a directory holding them); the PS presets come from it"
    }
    set_property board_part $board_part [current_project]
}
set_property ip_repo_paths [list [file normalize $ip_repo]] [current_project]
update_ip_catalog

proc ipdef {name} {
    # the newest version of a Xilinx IP in this Vivado's catalog
    set defs [get_ipdefs "xilinx.com:ip:${name}:*"]
    if {[llength $defs] == 0} { error "IP xilinx.com:ip:${name} is not in this Vivado's IP catalog" }
    return [lindex [lsort -dictionary $defs] end]
}

create_bd_design $bd_name

# ---- processing system: the board preset (DDR, MIO), one GP master, one HP slave, the PL clock ----------------
if {$family eq "zynq7000"} {
    set ps [create_bd_cell -type ip -vlnv [ipdef processing_system7] processing_system7_0]
    apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
        -config {make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"} $ps
    set_property -dict [list CONFIG.PCW_USE_M_AXI_GP0 {1} CONFIG.PCW_USE_S_AXI_HP0 {1} \
        CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $pl_clk_mhz] $ps
    set ps_clk processing_system7_0/FCLK_CLK0
    set ps_resetn processing_system7_0/FCLK_RESET0_N
    set ps_master processing_system7_0/M_AXI_GP0
    set ps_hp processing_system7_0/S_AXI_HP0
    set ps_port_clocks {processing_system7_0/M_AXI_GP0_ACLK processing_system7_0/S_AXI_HP0_ACLK}
    set mem_ic_vlnv [ipdef axi_interconnect]
} else {
    set ps [create_bd_cell -type ip -vlnv [ipdef zynq_ultra_ps_e] zynq_ultra_ps_e_0]
    apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {apply_board_preset "1"} $ps
    # HPM0_FPD master only; S_AXI_GP2 is HP0_FPD (FINN's settings)
    set_property -dict [list CONFIG.PSU__USE__M_AXI_GP0 {1} CONFIG.PSU__USE__M_AXI_GP1 {0} \
        CONFIG.PSU__USE__M_AXI_GP2 {0} CONFIG.PSU__USE__S_AXI_GP2 {1} \
        CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $pl_clk_mhz] $ps
    set ps_clk zynq_ultra_ps_e_0/pl_clk0
    set ps_resetn zynq_ultra_ps_e_0/pl_resetn0
    set ps_master zynq_ultra_ps_e_0/M_AXI_HPM0_FPD
    set ps_hp zynq_ultra_ps_e_0/S_AXI_HP0_FPD
    set ps_port_clocks {zynq_ultra_ps_e_0/maxihpm0_fpd_aclk zynq_ultra_ps_e_0/saxihp0_fpd_aclk}
    set mem_ic_vlnv [ipdef smartconnect]
}

# ---- reset, DMA, interconnects, the HLS IP -------------------------------------------------------------------
create_bd_cell -type ip -vlnv [ipdef proc_sys_reset] rst_pl
set dma [create_bd_cell -type ip -vlnv [ipdef axi_dma] axi_dma_0]
# simple mode (no scatter-gather), 26-bit length register: up to 2^26 - 1 bytes per transfer (PG021);
# the stream widths are the IP's words, the memory-map widths at least 32 and at least the stream's
set_property -dict [list CONFIG.c_include_sg {0} CONFIG.c_sg_length_width {26} \
    CONFIG.c_m_axis_mm2s_tdata_width $in_width CONFIG.c_s_axis_s2mm_tdata_width $out_width \
    CONFIG.c_m_axi_mm2s_data_width [expr {max(32, $in_width)}] \
    CONFIG.c_m_axi_s2mm_data_width [expr {max(32, $out_width)}] \
    CONFIG.c_mm2s_burst_size {16} CONFIG.c_s2mm_burst_size {16}] $dma
set ctrl_ic [create_bd_cell -type ip -vlnv [ipdef axi_interconnect] ctrl_interconnect]
set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {2}] $ctrl_ic
set mem_ic [create_bd_cell -type ip -vlnv $mem_ic_vlnv mem_interconnect]
set_property -dict [list CONFIG.NUM_SI {2} CONFIG.NUM_MI {1}] $mem_ic
set ip_vlnv [lindex [lsort -dictionary [get_ipdefs "*:hls:${top}:*"]] end]
if {$ip_vlnv eq ""} { error "the HLS IP $top is not in $ip_repo: run hls_ip.tcl (with the export step) first" }
set ip [create_bd_cell -type ip -vlnv $ip_vlnv ${top}_0]

# ---- clock and reset nets ------------------------------------------------------------------------------------
set clocks [concat $ps_port_clocks {rst_pl/slowest_sync_clk axi_dma_0/s_axi_lite_aclk axi_dma_0/m_axi_mm2s_aclk
    axi_dma_0/m_axi_s2mm_aclk ctrl_interconnect/ACLK ctrl_interconnect/S00_ACLK ctrl_interconnect/M00_ACLK
    ctrl_interconnect/M01_ACLK} [list ${top}_0/ap_clk]]
set resets [list axi_dma_0/axi_resetn ctrl_interconnect/S00_ARESETN ctrl_interconnect/M00_ARESETN \
    ctrl_interconnect/M01_ARESETN ${top}_0/ap_rst_n]
if {$family eq "zynq7000"} {
    lappend clocks mem_interconnect/ACLK mem_interconnect/S00_ACLK mem_interconnect/S01_ACLK mem_interconnect/M00_ACLK
    lappend resets mem_interconnect/S00_ARESETN mem_interconnect/S01_ARESETN mem_interconnect/M00_ARESETN
    set mem_ic_resetn mem_interconnect/ARESETN
} else {
    lappend clocks mem_interconnect/aclk
    set mem_ic_resetn mem_interconnect/aresetn
}
connect_bd_net [get_bd_pins $ps_clk] {*}[lmap p $clocks {get_bd_pins $p}]
connect_bd_net [get_bd_pins $ps_resetn] [get_bd_pins rst_pl/ext_reset_in]
connect_bd_net [get_bd_pins rst_pl/peripheral_aresetn] {*}[lmap p $resets {get_bd_pins $p}]
connect_bd_net [get_bd_pins rst_pl/interconnect_aresetn] [get_bd_pins ctrl_interconnect/ARESETN] \
    [get_bd_pins $mem_ic_resetn]

# ---- AXI connections -----------------------------------------------------------------------------------------
# control: the PS's GP master -> the DMA's registers and the IP's (ap_start, auto-restart)
connect_bd_intf_net [get_bd_intf_pins $ps_master] [get_bd_intf_pins ctrl_interconnect/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins ctrl_interconnect/M00_AXI] [get_bd_intf_pins axi_dma_0/S_AXI_LITE]
connect_bd_intf_net [get_bd_intf_pins ctrl_interconnect/M01_AXI] [get_bd_intf_pins ${top}_0/s_axi_control]
# data: the DMA reads and writes DDR through the PS's HP port
connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXI_MM2S] [get_bd_intf_pins mem_interconnect/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXI_S2MM] [get_bd_intf_pins mem_interconnect/S01_AXI]
connect_bd_intf_net [get_bd_intf_pins mem_interconnect/M00_AXI] [get_bd_intf_pins $ps_hp]
# streams: memory -> IP -> memory
connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXIS_MM2S] [get_bd_intf_pins ${top}_0/x_in]
connect_bd_intf_net [get_bd_intf_pins ${top}_0/y_out] [get_bd_intf_pins axi_dma_0/S_AXIS_S2MM]

assign_bd_address
validate_bd_design
save_bd_design

# ---- wrapper, implementation, bitstream ----------------------------------------------------------------------
# -import puts the wrapper into the project's sources, wherever Vivado generated it (.srcs up to 2020.1,
# .gen from 2020.2: UG892 2021.1), as FINN's make_zynq_proj does
set bd_file [get_files ${bd_name}.bd]
generate_target all $bd_file
make_wrapper -files $bd_file -import -fileset sources_1 -top
update_compile_order -fileset sources_1
launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
set impl [get_runs impl_1]
if {[get_property PROGRESS $impl] ne "100%" || ![string match "*Complete*" [get_property STATUS $impl]]} {
    error "implementation of $top did not finish: [get_property STATUS $impl] (see $vivado_dir/$proj_name.runs/impl_1)"
}

# ---- collect: bitstream and hardware handoff side by side under one name (PYNQ's Overlay wants that), reports --
file mkdir $output
open_run impl_1
report_utilization -file [file join $output utilization.rpt]
report_utilization -hierarchical -file [file join $output utilization_hierarchical.rpt]
report_timing_summary -file [file join $output timing.rpt]
set bit [file join [get_property DIRECTORY $impl] ${bd_name}_wrapper.bit]
if {![file exists $bit]} { error "no bitstream at $bit" }
file copy -force $bit [file join $output ${top}.bit]
# the hardware handoff: <proj>.gen/... from Vivado 2020.2, <proj>.srcs/... before (UG994 2020.2)
set hwh ""
foreach dir {gen srcs} {
    set candidate [file join $vivado_dir ${proj_name}.$dir sources_1 bd $bd_name hw_handoff ${bd_name}.hwh]
    if {[file exists $candidate]} {
        set hwh $candidate
        break
    }
}
if {$hwh eq ""} { error "no ${bd_name}.hwh under $vivado_dir/${proj_name}.gen or .srcs" }
file copy -force $hwh [file join $output ${top}.hwh]
puts "arith4ml: [file join $here $output ${top}.bit] and .hwh written"
