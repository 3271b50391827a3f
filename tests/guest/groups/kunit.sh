# SPDX-License-Identifier: GPL-2.0
# The KUnit suites of the module's pure logic (`#[kunit_tests]` modules in src/): the module built
# with them (`make modules-kunit`, in the guest as /kunit/pseudoscopic.ko) runs them when it
# loads, and every case's KTAP result in the kernel log becomes a result of its own,
# kunit/<suite>.<case>. The host expects every case the sources declare (host_cases): one that
# fails, is skipped or never reports fails.

KUNIT_KO=/kunit/pseudoscopic.ko

# The KTAP the load printed: the kernel log since the mark without its timestamps.
ktap_since_mark() { dmesg_since | sed 's/^\[[^]]*\] \{0,1\}//'; }

case_suites_run_at_load() {
	[ -f $KUNIT_KO ] || fail "no KUnit module in the guest: run 'make modules-kunit' (make vm-test does)"
	expect_eq "$(modinfo -F vermagic $KUNIT_KO | cut -d' ' -f1)" "$(uname -r)" "vermagic of the KUnit module"
	dmesg_mark
	# KUnit runs a module's suites when it goes live, before insmod returns.
	check insmod $KUNIT_KO
	local ktap suites
	ktap=$(ktap_since_mark)
	suites=$(echo "$ktap" | sed -n 's/^    # Subtest: \(pseudoscopic_[a-z0-9_]*\)$/\1/p')
	[ -n "$suites" ] || fail "loading $KUNIT_KO ran no pseudoscopic KUnit suite (built without CONFIG_PSEUDOSCOPIC_KUNIT_TEST?)"
	# Each case as a result of its own: "    ok N case" or "    not ok N case", after its suite's
	# "# Subtest:" line; a failed assertion's "# case: ASSERTION FAILED at FILE:LINE" and
	# "Expected ..." lines come before the case's result and give the reason.
	echo "$ktap" | awk '
		/^    # Subtest: / { suite = $3; reason = ""; next }
		suite != "" && /^ *# [a-z0-9_]+: ASSERTION FAILED at / { reason = $NF; next }
		suite != "" && /^ *Expected / && reason != "" { sub(/^ +/, ""); reason = reason ": " $0; next }
		suite != "" && /^    (not )?ok [0-9]+ / {
			ok = ($1 == "ok"); name = ok ? $3 : $4
			if (ok && $0 !~ / # SKIP/) print "PASS " suite "." name
			else if ($0 ~ / # SKIP/) print "FAIL " suite "." name " skipped"
			else print "FAIL " suite "." name " " (reason == "" ? "failed" : reason)
			reason = ""; next
		}
		/^(not )?ok [0-9]+ pseudoscopic_/ { suite = "" }
	' >/tmp/kunit.results
	local status name reason
	while read -r status name reason; do
		report "PSTEST $status $name${reason:+ $reason}"
	done </tmp/kunit.results
	info "$(echo "$suites" | wc -l) suites, $(grep -c '^PASS ' /tmp/kunit.results) cases passed, $(grep -c '^FAIL ' /tmp/kunit.results) failed"
	# Each suite's own verdict, so that a failure the per-case lines missed still fails here.
	for suite in $suites; do
		echo "$ktap" | grep -qx "ok [0-9]* $suite" || fail "suite $suite: $(echo "$ktap" | grep -m1 "# $suite: pass:")"
	done
	check rmmod $MODULE
}
