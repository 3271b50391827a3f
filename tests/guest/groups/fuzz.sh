# SPDX-License-Identifier: GPL-2.0
# ABI fuzzing: ps-fuzz sends random and boundary ioctl arguments from several threads, alone and
# while the GPU is unbound and rebound over and over. Every answer must be one the README
# documents for the request, and every byte of the fuzzer's reference data must stay intact.
# Longer on demand: PS_GUEST_ARGS="ps.duration=SECONDS" (per case), see README.
# vm: ivshmem 256M

# fuzz_run ARGS...: runs ps-fuzz, prints its summary, checks the pool came back full.
fuzz_run() {
	local out
	out=$(ps-fuzz "$@") || fail "ps-fuzz $*: $out"
	echo "ps-fuzz $*"
	echo "$out"
	expect_match "$out" "[1-9][0-9]* ioctls, [1-9][0-9]* succeeded, [1-9][0-9]* pages moved" "ps-fuzz summary"
	FUZZ_OUT=$out
	info "$(echo "$out" | head -n 1)"
}

case_fuzz_ioctls() {
	ps_ready
	fuzz_run --seed "$(guest_arg seed 1)" --duration "$(guest_arg duration 60)" --threads 3
	expect_eq "$(cat /sys/module/$MODULE/pool/free_pages)" "$(cat /sys/module/$MODULE/pool/total_pages)" "pool after fuzzing"
	check rmmod $MODULE
}

case_fuzz_across_unbind() {
	ps_ready
	local bdf
	bdf=$(ivshmem_bdf)
	fuzz_run --seed "$(guest_arg seed 2)" --duration "$(guest_arg duration 45)" --threads 2 --unbind "$bdf"
	expect_match "$FUZZ_OUT" "[1-9][0-9]* unbind/rebind cycles" "unbinds during the run"
	expect_eq "$(bound_driver "$bdf")" "$MODULE" "driver after the run"
	expect_eq "$(cat /sys/module/$MODULE/pool/free_pages)" "$(cat /sys/module/$MODULE/pool/total_pages)" "pool after fuzzing"
	check rmmod $MODULE
}
