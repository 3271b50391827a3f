# SPDX-License-Identifier: GPL-2.0
# A RESIDENCY request between its page-table snapshot and the use of it (widened by the test-only
# test_residency_delay_ms) while another GPU, whose pages the snapshot names, is unbound: the
# snapshot's update lock (Documentation/mm/hmm.rst) holds the unbind's eviction of those pages
# until the request is done with them, so their struct pages and pagemap are still there; KASAN
# and the kernel log are watched.
# vm: kernel debug
# vm: ivshmem 256M
# vm: ivshmem 256M
# vm: timeout 900

case_unbind_during_residency_snapshot() {
	ps_ready
	local pid line addr holder other bdf rpid
	ps-test hold 4 >/tmp/hold.out 2>&1 &
	pid=$!
	wait_for_line /tmp/hold.out "^parked 1024 pages"
	line=$(grep '^parked' /tmp/hold.out)
	addr=${line##* at }
	# The GPU that holds the pages, and the other one, which the request names.
	for bdf in $(ls -d $DRIVER_DIR/????:??:??.? | xargs -n1 basename); do
		if [ "$(cat /sys/bus/pci/devices/$bdf/$MODULE/pool/free_pages)" -lt 65536 ]; then
			holder=$bdf
		else
			other=$(cat /sys/bus/pci/devices/$bdf/$MODULE/index)
		fi
	done
	[ -n "$holder" ] && [ -n "$other" ] || fail "no GPU holds the parked pages, or none is free"
	echo 1000 >/sys/module/$MODULE/parameters/test_residency_delay_ms
	ps-migrate --pid $pid --residency --device "$other" --range "$addr" >/tmp/residency.out 2>&1 &
	rpid=$!
	# Wait until the request sleeps between its snapshot and the use of it.
	wait_until "the RESIDENCY request is inside its snapshot" \
		"grep -q msleep /proc/$rpid/stack 2>/dev/null"
	check sh -c "echo $holder > $DRIVER_DIR/unbind"
	wait $rpid || fail "RESIDENCY during the unbind failed: $(cat /tmp/residency.out)"
	echo 0 >/sys/module/$MODULE/parameters/test_residency_delay_ms
	expect_match "$(cat /tmp/residency.out)" "0 of 1024 pages in VRAM" "residency on the other GPU"
	kill -USR1 $pid
	wait $pid || fail "process lost data across the unbind: $(cat /tmp/hold.out)"
	info "unbind of GPU at $holder while a RESIDENCY snapshot named its pages: no KASAN report, 4 MiB verified"
}
