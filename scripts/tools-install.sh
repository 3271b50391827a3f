#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The tools on the PATH, with their man pages and shell completions.
#
#   scripts/tools-install.sh generate   each tool's man page and bash, zsh and fish completions,
#                                       from its own clap definitions (`TOOL --generate KIND`),
#                                       into out/tools/share as they go under PREFIX/share
#                                       (`make tools` runs it)
#   scripts/tools-install.sh install    the tools in PREFIX/bin and those files in PREFIX/share
#                                       (`make install` runs it through scripts/dkms.sh)
#   scripts/tools-install.sh uninstall  removes all of it
#
# ps-tierd's man page (section 8, a daemon's) and completions go with the others; its binary, in
# /usr/local/sbin where its systemd unit expects it, is scripts/dkms.sh's.
#
# Environment:
#   PREFIX   where the tools go (default /usr/local: PREFIX/bin, PREFIX/share)
#   PS_ROOT  install under this directory instead of / (tests)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$REPO/out/tools/release
SHARE=$REPO/out/tools/share
PREFIX=${PREFIX:-/usr/local}
ROOT=${PS_ROOT:-}
ROOT=${ROOT%/}
# The tools in PREFIX/bin, and every tool with a man page and completions.
BIN_TOOLS=(ps-status ps-migrate ps-test ps-stress ps-bench ps-fuzz)
DOC_TOOLS=("${BIN_TOOLS[@]}" ps-tierd)
# The daemons, whose man pages are in section 8 (`cli::ManSection::Admin`); the rest are in 1.
DAEMONS=(ps-tierd)

say() { printf 'tools-install.sh: %s\n' "$*"; }
die() {
	printf 'tools-install.sh: error: %s\n' "$*" >&2
	exit 1
}

# man_section TOOL: the section of TOOL's man page.
man_section() {
	if [[ " ${DAEMONS[*]} " == *" $1 "* ]]; then echo 8; else echo 1; fi
}

# doc_files TOOL: TOOL's generated files, relative to share/, one per line, with the kind
# `TOOL --generate` writes each from: "KIND PATH". Where man, bash-completion, zsh and fish look.
doc_files() {
	local section
	section=$(man_section "$1")
	printf '%s\n' "man man/man$section/$1.$section" "bash bash-completion/completions/$1" \
		"zsh zsh/site-functions/_$1" "fish fish/vendor_completions.d/$1.fish"
}

do_generate() {
	local tool kind path
	rm -rf "$SHARE"
	for tool in "${DOC_TOOLS[@]}"; do
		[ -x "$BIN/$tool" ] || die "$BIN/$tool is not built (make tools)"
		while read -r kind path; do
			mkdir -p "$(dirname "$SHARE/$path")"
			"$BIN/$tool" --generate "$kind" >"$SHARE/$path" || die "$tool --generate $kind failed"
			[ -s "$SHARE/$path" ] || die "$tool --generate $kind wrote nothing"
		done < <(doc_files "$tool")
	done
	say "man pages and bash, zsh and fish completions of ${DOC_TOOLS[*]} in $SHARE"
}

do_install() {
	local tool path
	for tool in "${BIN_TOOLS[@]}"; do
		[ -x "$BIN/$tool" ] || die "$BIN/$tool is not built (make install builds the tools first)"
	done
	for tool in "${BIN_TOOLS[@]}"; do
		install -D -m 0755 "$BIN/$tool" "$ROOT$PREFIX/bin/$tool"
	done
	for tool in "${DOC_TOOLS[@]}"; do
		while read -r _ path; do
			[ -s "$SHARE/$path" ] || die "$SHARE/$path is missing (make tools)"
			install -D -m 0644 "$SHARE/$path" "$ROOT$PREFIX/share/$path"
		done < <(doc_files "$tool")
	done
	say "installed ${BIN_TOOLS[*]} in $ROOT$PREFIX/bin, man pages and completions in $ROOT$PREFIX/share"
}

do_uninstall() {
	local tool path
	for tool in "${BIN_TOOLS[@]}"; do
		rm -f "$ROOT$PREFIX/bin/$tool"
	done
	for tool in "${DOC_TOOLS[@]}"; do
		while read -r _ path; do
			rm -f "$ROOT$PREFIX/share/$path"
		done < <(doc_files "$tool")
	done
	say "removed the tools from $ROOT$PREFIX/bin and their man pages and completions from $ROOT$PREFIX/share"
}

case "${1:-}" in
generate) do_generate ;;
install) do_install ;;
uninstall) do_uninstall ;;
*) die "usage: scripts/tools-install.sh generate|install|uninstall" ;;
esac
