#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The VM tests' probe-line parser (tests/guest/probe-line.sh) against README.md's example probe
# lines (a generic device's, an NVIDIA board's, a board's in BAR1 virtual mode), field by field; then the parser itself is
# tested: a line with a piece altered, removed or added must fail to parse, at that piece, and a
# field that differs from what a test expects, or that the line lacks, must fail probe_check.
# Plain sh: `make check` runs it under the guest's shell (busybox sh) and bash.
#
#   tests/host/probe-line.sh

REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/guest/probe-line.sh"

failures=0
bad() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# README's example line that starts with "pseudoscopic BDF: " and contains $1, without that prefix.
readme_line() {
	grep -E '^pseudoscopic [0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]: ' "$REPO/README.md" |
		grep -F -- "$1" | head -n 1 | sed -E 's/^pseudoscopic [^ ]+: //'
}

# parses LINE FIELD=ERE...: LINE parses and has those fields.
parses() {
	local line=$1 out
	shift
	if ! probe_parse "$line"; then
		bad "did not parse (stopped at: $probe_rest): $line"
		return
	fi
	out=$(probe_check "$@") || bad "$out"
}

# refuses LINE PIECE: LINE does not parse, and the parser stops where PIECE starts.
refuses() {
	if probe_parse "$1"; then
		bad "parsed an altered line: $1"
	else
		case "$probe_rest" in
		"$2"*) ;;
		*) bad "stopped at '$probe_rest', not at '$2', in: $1" ;;
		esac
	fi
}

generic=$(readme_line 'generic device')
nvidia=$(readme_line 'as device-private memory; copies by')
[ -n "$generic" ] || bad "README.md has no generic device's probe line"
[ -n "$nvidia" ] || bad "README.md has no NVIDIA board's probe line"

parses "$generic" name='generic device' id=1af4:1110 bar=2 bar_start=0x100000000 bar_end=0x17fffffff \
	bar_mib=2048 bar_kind='64-bit prefetchable memory' gpu=0 lent_mib=2048 pages=524288
probe_check chip=GP100 >/dev/null && bad "a generic device's line has a chip"
probe_check cpu_copy=avx2 >/dev/null && bad "a generic device's line has a copy path"

parses "$nvidia" name='Tesla P100' id=10de:15f8 chip=GP100 arch=Pascal rev=A1 vram_mib=16384 bar=1 \
	bar_start=0xf800000000 bar_end=0xfbffffffff bar_mib=16384 bar_kind='physical mode' gpu=0 \
	lent_mib=16380 pages=4193472 cpu_copy=avx2
probe_check engine='L?CE[0-9]+' >/dev/null && bad "a line where the CPU copies has a copy engine"

virtual=$(readme_line 'virtual mode, a window of')
[ -n "$virtual" ] || bad "README.md has no probe line of a board in BAR1 virtual mode"
parses "$virtual" name='Quadro RTX' id=10de:1e30 chip=TU102 arch=Turing vram_mib=49152 bar=1 bar_mib=256 \
	bar_kind='virtual mode, a window of 128 2 MiB slots remapped on demand' lent_mib=49150 \
	pages=12582448 engine=LCE2 runlist=2 class=0xc5b5 dma_min_pages=32 cpu_copy=avx2 \
	cpu_through="BAR1's window"
probe_check cpu_through=BAR1 >/dev/null && bad "cpu_through matched BAR1 on a line through BAR1's window"

engine="${nvidia%%; copies by*}; copies by copy engine LCE1 (runlist 1) (class 0xc3b5) for batches of 16+ pages, by the CPU (sse4.1) through BAR1 otherwise"
parses "$engine" engine=LCE1 runlist=1 class=0xc3b5 dma_min_pages=16 cpu_copy='avx2|sse4\.1|io' chip=GP100 \
	cpu_through=BAR1

# probe_check: a differing field, a missing one and an unknown name each fail, and say which.
probe_parse "$engine"
out=$(probe_check chip=GV100) && bad "probe_check passed chip=GV100 on a GP100 line"
case "$out" in *"chip is 'GP100', expected /GV100/"*) ;; *) bad "probe_check said: $out" ;; esac
out=$(probe_check cpu_copy='avx2|io') && bad "probe_check passed cpu_copy=avx2|io on sse4.1"
out=$(probe_check pages=419347) && bad "probe_check matched a field partly"
out=$(probe_check colour=green) && bad "probe_check passed an unknown field"
case "$out" in *"no probe line field 'colour'"*) ;; *) bad "probe_check said: $out" ;; esac

# Altered lines: each fails at the piece that changed.
refuses "$(echo "$nvidia" | sed 's/ rev A1,/ revision A1,/')" 'GP100 (Pascal) revision'
refuses "$(echo "$nvidia" | sed 's/ lends / lent /')" 'GPU 0 lent'
refuses "$(echo "$nvidia" | sed 's/ pages)/ page)/')" 'GPU 0 lends'
refuses "$(echo "$nvidia" | sed 's/, mapped write-combined//')" 'BAR1 at'
refuses "$(echo "$nvidia" | sed 's/ through BAR1$/ through BAR1 (fast)/')" ' (fast)'
refuses "$(echo "$nvidia" | sed 's/; copies by .*//')" ''
refuses "$(echo "$generic" | sed 's/ as device-private memory$/ as device memory/')" 'GPU 0 lends'
refuses "$generic; copies by the CPU (avx2) through BAR1" '; copies by'
refuses "$(echo "$generic" | sed 's/\[1af4:1110\]/[1af4:111]/')" 'generic device'

if [ $failures -ne 0 ]; then
	echo "probe-line: $failures failed"
	exit 1
fi
echo "probe-line: the parser reads README's probe lines and refuses altered ones"
