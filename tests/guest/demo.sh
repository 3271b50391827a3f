#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The `make run` demo: pseudoscopic on emulated VRAM, start to finish.
. /tests/lib.sh

step() { printf '\n==> %s\n' "$*"; }
kernel_says() { dmesg | grep "$MODULE" | tail -n "${1:-1}" | sed 's/^\[[^]]*\] /    dmesg: /'; }

step "modprobe $MODULE, then bind the emulated VRAM device ($IVSHMEM_ID) through new_id"
modprobe $MODULE || exit 1
echo "$IVSHMEM_ID" >$DRIVER_DIR/new_id
kernel_says 2
ps-status

step "a process fills 64 MiB and parks it in VRAM"
ps-test hold 64 >/tmp/hold.out 2>&1 &
pid=$!
while ! grep -q '^parked' /tmp/hold.out; do sleep 0.1; done
cat /tmp/hold.out
ps-migrate --pid $pid --residency --all | grep -v ' 0 of '
ps-status | grep -E '^Device'

step "ps-migrate brings its pages back to RAM, then parks every private mapping of it"
ps-migrate --pid $pid --to ram --all | tail -n 1
ps-migrate --pid $pid --all | tail -n 1
ps-status | grep -E '^Device|^stats'

step "unbind the GPU while the process still has pages in VRAM"
cleanup_module
kernel_says 2
kill -USR1 $pid
wait $pid && echo "    the process checked its memory: $(tail -n 2 /tmp/hold.out | head -n 1)"
ps-status
echo
