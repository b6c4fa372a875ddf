# Dry-run stand-ins for the Vivado and Vitis HLS Tcl commands the generated scripts call (toolchain/shell/dryrun.py).
#
# Each stub appends one Tcl list {command arg ...} to the file named by $::env(ARITH4ML_DRYRUN_LOG) and returns
# a plausible value, so a script runs under plain tclsh and the test reads back the sequence of vendor commands.
# Only the commands listed here exist: anything else (a typo, a command of another tool) is Tcl's "invalid
# command name" error, and an undefined variable is an error as in Vivado.  Plain Tcl (file, glob, puts, ...)
# runs for real.  Add a stub where a script needs a new vendor command, in the section of its tool.

set ::dryrun_log [open $::env(ARITH4ML_DRYRUN_LOG) a]

proc dryrun_record {args} {
    puts $::dryrun_log [list {*}$args]
    flush $::dryrun_log
}

# the last word that is not an option: the object or name most commands are called on
proc dryrun_last_word {words} {
    for {set i [expr {[llength $words] - 1}]} {$i >= 0} {incr i -1} {
        set w [lindex $words $i]
        if {![string match -* $w]} { return $w }
    }
    return ""
}

# commands that return (the name of) what they were given
proc dryrun_echo {name} {
    proc $name {args} "dryrun_record $name {*}\$args; return \[dryrun_last_word \$args\]"
}
# commands that return nothing
proc dryrun_void {name} {
    proc $name {args} "dryrun_record $name {*}\$args; return {}"
}

# ---- Vitis HLS / Vivado HLS ----------------------------------------------------------------------------------
foreach cmd {open_project open_solution open_component set_top add_files set_part create_clock set_clock_uncertainty
             config_export config_interface config_compile config_schedule csim_design csynth_design cosim_design
             export_design close_project close_solution} {
    dryrun_void $cmd
}

# ---- Vivado: projects, IP and block designs -----------------------------------------------------------------------
foreach cmd {create_project open_project_vivado set_property set_param update_ip_catalog create_bd_design
             open_bd_design connect_bd_intf_net connect_bd_net apply_bd_automation apply_board_connection
             assign_bd_address validate_bd_design save_bd_design regenerate_bd_layout update_compile_order
             generate_target launch_runs wait_on_run open_run write_bitstream write_hw_platform report_utilization
             report_timing_summary report_power write_checkpoint read_verilog read_xdc read_vhdl synth_design
             opt_design place_design phys_opt_design route_design create_ip close_project_vivado
             set_msg_config delete_bd_objs group_bd_cells import_files} {
    dryrun_void $cmd
}
foreach cmd {create_bd_cell create_bd_port create_bd_intf_port get_bd_cells get_bd_pins get_bd_intf_pins get_bd_nets
             get_bd_ports get_bd_intf_ports get_bd_addr_segs get_files get_runs get_ips get_board_parts
             make_wrapper create_fileset} {
    dryrun_echo $cmd
}
proc get_ipdefs {args} {
    dryrun_record get_ipdefs {*}$args
    # a VLNV pattern such as xilinx.com:ip:axi_dma:* -> that IP at version 1.0
    return [string map {* 1.0} [dryrun_last_word $args]]
}
proc current_project {args} { dryrun_record current_project {*}$args; return dryrun_project }
proc current_design {args} { dryrun_record current_design {*}$args; return dryrun_design }
proc get_property {args} {
    dryrun_record get_property {*}$args
    switch -- [lindex $args 0] {
        STATUS { return "write_bitstream Complete!" }
        PROGRESS { return "100%" }
        DIRECTORY { return [pwd] }
        default { return "" }
    }
}
proc version {args} { dryrun_record version {*}$args; return "Vivado v2024.1 (dry run)" }
