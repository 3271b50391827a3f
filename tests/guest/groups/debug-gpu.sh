# SPDX-License-Identifier: GPL-2.0
# The copy engine on the debug kernel (KASAN, lockdep, DEBUG_VM, debug objects, atomic-sleep
# checks): every migration scenario on an emulated Tesla V100 with its copy engine, eviction and the
# VRAM scrub at unbind, then kmemleak. BAR1 is cut to 512 MiB: KASAN shadows every ioremap, and
# a 16 GiB BAR1 would need 2 GiB of shadow; the board's VRAM with it, so that BAR1 covers it
# (physical mode, as a V100 runs).
# vm: kernel debug
# vm: gpu v100 512 --board-vram-mib 512 --bar1-mib 512
# vm: timeout 1500

case_migrate_with_copy_engine_debug() { migration_suite "$(nvidia_bdf 1db4)" 1 pool_size_mb=256; }

case_unbind_with_parked_pages_debug() {
	scrub_on_unbind "$(nvidia_bdf 1db4)" "the copy engine" pool_size_mb=256
}

case_no_kmemleak_reports_gpu() { kmemleak_check; }
