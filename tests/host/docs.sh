#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# README.md cannot drift from what it documents:
#   - each tool's `--help` (every member of tools/Cargo.toml but the library) is quoted in
#     README.md, verbatim, in the ```text block that follows the line "<!-- TOOL --help -->";
#   - every module parameter (module_param in rust/ps_params.c) has a description in modinfo and a
#     row in README.md's parameter table, and the table has no other rows.
# Needs the tools (make tools) and pseudoscopic.ko (make).
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
README=$REPO/README.md
BIN=$REPO/out/tools/release
# Every binary of the tools workspace (its members but the library).
mapfile -t TOOLS < <(sed -n 's/^members = \[\(.*\)\]/\1/p' "$REPO/tools/Cargo.toml" | tr -d '" ' | tr , '\n' | grep -vx pseudoscopic)
KO=$REPO/pseudoscopic.ko
failed=0

fail() {
	echo "docs: $*" >&2
	failed=1
}

# The ```text block after "<!-- $1 --help -->" in README.md.
readme_help() {
	awk -v marker="<!-- $1 --help -->" '
		$0 == marker { found = 1; next }
		found == 1 && $0 == "```text" { found = 2; next }
		found == 2 && $0 == "```" { exit }
		found == 2 { print }
	' "$README"
}

for tool in "${TOOLS[@]}"; do
	[ -x "$BIN/$tool" ] || {
		fail "$BIN/$tool is not built (make tools)"
		continue
	}
	documented=$(readme_help "$tool")
	if [ -z "$documented" ]; then
		fail "README.md does not quote '$tool --help' (a \`\`\`text block after '<!-- $tool --help -->')"
		continue
	fi
	diff -u --label "README.md: $tool --help" --label "$tool --help" <(echo "$documented") <("$BIN/$tool" --help) >&2 ||
		fail "README.md's copy of '$tool --help' differs from the tool (diff above)"
done

[ -f "$KO" ] || {
	fail "$KO is not built (make)"
	exit 1
}
declared=$(sed -n 's/^module_param(\([a-z_0-9]*\),.*/\1/p' "$REPO/rust/ps_params.c" | sort)
described=$(/sbin/modinfo -F parm "$KO" | sed -n 's/^\([a-z_0-9]*\):\(.\{10,\}\) ([a-z]*)$/\1/p' | sort)
[ "$declared" = "$described" ] ||
	fail "parameters declared in rust/ps_params.c ($(echo $declared)) and described by modinfo ($(echo $described)) differ: every module_param needs a MODULE_PARM_DESC"
# The rows of the table under "### Module parameters": | `name` | ...
tabled=$(awk '/^### Module parameters/ { on = 1; next } on && /^#/ { exit } on' "$README" |
	sed -n 's/^| `\([a-z_0-9]*\)` |.*/\1/p' | sort)
[ "$declared" = "$tabled" ] ||
	fail "README.md's parameter table ($(echo $tabled)) does not list exactly the module's parameters ($(echo $declared))"

[ $failed -eq 0 ] && echo "docs: README.md matches every tool's --help and the module's parameters"
exit $failed
