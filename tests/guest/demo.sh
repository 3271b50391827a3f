#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The `make run` demo: pseudoscopic on emulated VRAM, start to finish.
. /tests/lib.sh

step() { printf '\n==> %s\n' "$*"; }

step "modprobe $MODULE"
modprobe $MODULE || exit 1
step "bind the emulated VRAM device ($IVSHMEM_ID) through new_id"
echo "$IVSHMEM_ID" >$DRIVER_DIR/new_id
dmesg | grep "$MODULE" | sed 's/^\[[^]]*\] //'
step "ps-status"
ps-status
step "unbind and rmmod"
cleanup_module
dmesg | grep "$MODULE" | tail -n 1 | sed 's/^\[[^]]*\] //'
ps-status
echo
