#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The tools as `make install` puts them on a machine, without touching the host: install them
# (scripts/tools-install.sh) into a scratch root with PREFIX=/usr, check that every tool, its
# man page and its bash, zsh and fish completions are there and what the tool itself generates
# (`TOOL --generate KIND`), that man renders each page and bash loads each completion; then
# uninstall and check that all of it is gone. Needs the tools (make tools).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$REPO/out/tools/release
ROOT=$REPO/out/tools-install
PREFIX=/usr
# Every binary of the tools workspace (its members but the library), as tests/host/docs.sh.
mapfile -t TOOLS < <(sed -n 's/^members = \[\(.*\)\]/\1/p' "$REPO/tools/Cargo.toml" | tr -d '" ' | tr , '\n' | grep -vx pseudoscopic)

fail() {
	echo "FAIL  tools-install: $*"
	exit 1
}
pass() { echo "PASS  tools-install/$*"; }

# man_section TOOL: where TOOL's man page belongs: 8 for the daemon ps-tierd, 1 for the commands.
man_section() { if [ "$1" = ps-tierd ]; then echo 8; else echo 1; fi; }

# installed TOOL: "KIND FILE" for each generated file of TOOL under the scratch root.
installed() {
	local section
	section=$(man_section "$1")
	printf '%s\n' "man $ROOT$PREFIX/share/man/man$section/$1.$section" \
		"bash $ROOT$PREFIX/share/bash-completion/completions/$1" \
		"zsh $ROOT$PREFIX/share/zsh/site-functions/_$1" \
		"fish $ROOT$PREFIX/share/fish/vendor_completions.d/$1.fish"
}

tools_install() {
	PS_ROOT=$ROOT PREFIX=$PREFIX bash "$REPO/scripts/tools-install.sh" "$1" >"$REPO/out/tools-install.$1.log" 2>&1 ||
		fail "scripts/tools-install.sh $1 failed: $(cat "$REPO/out/tools-install.$1.log")"
}

rm -rf "$ROOT"
mkdir -p "$ROOT"
tools_install install

for tool in "${TOOLS[@]}"; do
	if [ "$tool" != ps-tierd ]; then
		cmp -s "$BIN/$tool" "$ROOT$PREFIX/bin/$tool" || fail "$tool not installed in $PREFIX/bin"
	fi
	while read -r kind file; do
		[ -s "$file" ] || fail "no $kind file for $tool: $file"
		cmp -s <("$BIN/$tool" --generate "$kind") "$file" || fail "$file is not what '$tool --generate $kind' writes"
	done < <(installed "$tool")
	section=$(man_section "$tool")
	man_page=$ROOT$PREFIX/share/man/man$section/$tool.$section
	head -n 5 "$man_page" | grep -q "^\.TH $tool $section" || fail "$man_page has no .TH header for $tool in section $section"
	if command -v man >/dev/null; then
		rendered=$(MANWIDTH=80 man -l "$man_page" 2>/dev/null | col -b)
		grep -q "^NAME" <<<"$rendered" || fail "man -l $man_page renders no NAME section"
		grep -q -- "-h, --help" <<<"$rendered" || fail "man -l $man_page lists no options"
	fi
	# The completion defines the completion of TOOL, and offers its options.
	bash_completion=$ROOT$PREFIX/share/bash-completion/completions/$tool
	bash -c "source '$bash_completion' && complete -p $tool" >/dev/null 2>&1 ||
		fail "$bash_completion does not set up completion for $tool"
	grep -q -- "--help" "$bash_completion" || fail "$bash_completion offers no --help"
	head -n 1 "$ROOT$PREFIX/share/zsh/site-functions/_$tool" | grep -qx "#compdef $tool" ||
		fail "the zsh completion of $tool does not start with #compdef $tool"
	grep -q "^complete -c $tool " "$ROOT$PREFIX/share/fish/vendor_completions.d/$tool.fish" ||
		fail "the fish completion of $tool completes nothing for $tool"
done
[ -e "$ROOT$PREFIX/share/man/man1/ps-tierd.1" ] && fail "ps-tierd's man page in section 1 as well as 8"
pass "install: ${#TOOLS[@]} tools, their man pages (ps-tierd's in section 8) and bash, zsh and fish completions in $PREFIX"

tools_install uninstall
left=$(find "$ROOT" -type f)
[ -z "$left" ] || fail "left after uninstall: $left"
pass "uninstall: nothing left under the scratch root"

# Twice in a row: the second install replaces the first.
tools_install install
tools_install install
[ -s "$ROOT$PREFIX/share/man/man1/ps-status.1" ] || fail "no man page after installing twice"
tools_install uninstall
rm -rf "$ROOT"
pass "install twice, then uninstall"
