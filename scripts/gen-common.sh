# SPDX-License-Identifier: GPL-2.0
#
# Sourced by the generators of committed Rust files (scripts/gen-abi.sh, scripts/gen-items.sh):
# their options, their formatting and their check-or-write, so that both behave the same.
#
# The generator sets GEN_NAME (for messages), HEADER and OUTPUT (defaults) and GEN_HINT (how to
# regenerate) first; it then writes its file into "$tmp" and calls gen_finish with it.
#   --check          fail (exit 1, with the diff) when OUTPUT is out of date
#   --header FILE    generate from another source (the tests' deliberate drifts)
#   --output FILE    compare with, or write, another file

PS_CACHE=${PS_CACHE:-/var/cache/pseudoscopic}
CC=${CC:-gcc}
RUSTFMT=${RUSTFMT:-/usr/bin/rustfmt}
RUSTFMT_CONFIG=${RUSTFMT_CONFIG:-$PS_CACHE/test-kernel/source/.rustfmt.toml}
check=0

while [ $# -gt 0 ]; do
	case "$1" in
	--check) check=1 ;;
	--header)
		HEADER=$2
		shift
		;;
	--output)
		OUTPUT=$2
		shift
		;;
	*)
		echo "usage: $0 [--check] [--header FILE] [--output FILE]" >&2
		exit 2
		;;
	esac
	shift
done

die() {
	echo "$GEN_NAME: $*" >&2
	exit 2
}
[ -f "$RUSTFMT_CONFIG" ] || die "no rustfmt configuration at $RUSTFMT_CONFIG (set RUSTFMT_CONFIG)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# gen_finish FILE: formats FILE as the module's code is formatted; with --check, compares it with
# OUTPUT and fails naming the source when they differ; else writes it to OUTPUT.
gen_finish() {
	"$RUSTFMT" --edition 2021 --config-path "$RUSTFMT_CONFIG" "$1"
	if [ $check -eq 1 ]; then
		if ! diff -u "$OUTPUT" "$1"; then
			echo "$GEN_NAME: ${OUTPUT#"$REPO"/} does not match ${HEADER#"$REPO"/}; run $GEN_HINT" >&2
			exit 1
		fi
		return 0
	fi
	mkdir -p "$(dirname "$OUTPUT")"
	cp "$1" "$OUTPUT"
}
