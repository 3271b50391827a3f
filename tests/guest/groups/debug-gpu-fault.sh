# SPDX-License-Identifier: GPL-2.0
# A copy-engine failure on the debug kernel: an emulated Tesla P100 (Pascal: USERD in VRAM, written
# through BAR1) whose channel faults after a thousand copies; the CPU takes over, nothing is lost,
# and KASAN, lockdep and kmemleak see nothing. BAR1 is cut to 512 MiB (see debug-gpu).
# vm: kernel debug
# vm: gpu p100 512 --bar1-mib 512 --ce-fault error:1000
# vm: timeout 1500

case_copy_engine_error_debug() {
	ce_fault_suite "$(nvidia_bdf 15f8)" "channel error" pool_size_mb=256
}

case_no_kmemleak_reports_gpu_fault() { kmemleak_check; }
