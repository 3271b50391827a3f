#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The module's layers (ARCHITECTURE.md, the ```text block after "<!-- layers -->", top layer first)
# must match its imports: a module (src/NAME.rs with src/NAME/) may use `crate::OTHER` only if OTHER
# sits in a lower layer, or the pair is one of the block's "upward:" lines; every module of the
# crate sits in exactly one layer, the lowest its imports allow (so the list says what the code
# does); every "upward:" line is used.  Then the check itself is tested: an import of a higher
# layer, a module missing from the list, a module listed higher than it needs and an unused "upward:"
# line must each fail.
#
#   tests/host/layers.sh                      check src/ against ARCHITECTURE.md, then the self-tests
#   tests/host/layers.sh --check SRC DOC      only check SRC (a src/ tree) against DOC
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)

# imports SRC: "module used-module" lines, from `use crate::...` and `crate::x::` paths outside
# comments (the root, SRC/pseudoscopic.rs, declares the modules and is above them all).
imports() {
	local src=$1 file module
	for file in $(cd "$src" && find . -name '*.rs' ! -path ./pseudoscopic.rs | sort); do
		module=${file#./}
		module=${module%%/*}
		module=${module%.rs}
		sed 's://.*$::' "$src/$file" | tr '\n' ' ' | awk -v module="$module" '
			{
				text = $0
				# `use crate::{a::{..}, b, c::d};`: the top-level names of the tree.
				while (match(text, /use crate::\{/)) {
					rest = substr(text, RSTART + RLENGTH)
					depth = 1; item = ""; n = length(rest)
					for (i = 1; i <= n && depth > 0; i++) {
						c = substr(rest, i, 1)
						if (c == "{") depth++
						else if (c == "}") depth--
						if (depth == 1 && c == ",") { names[++count] = item; item = "" }
						else if (depth == 1) item = item c
						else if (depth == 0) names[++count] = item
					}
					text = substr(rest, i)
				}
				for (k = 1; k <= count; k++) {
					name = names[k]
					gsub(/^[ \t]+/, "", name)
					sub(/[^a-z0-9_].*$/, "", name)
					if (name != "" && name != "self") print module, name
				}
				# `crate::x::...` and `use crate::x;` anywhere else.
				text = $0
				while (match(text, /crate::[a-z_][a-z0-9_]*/)) {
					print module, substr(text, RSTART + 7, RLENGTH - 7)
					text = substr(text, RSTART + RLENGTH)
				}
			}'
	done | awk '$1 != $2' | sort -u
}

# check SRC DOC: prints what is wrong, one line each (nothing when the layering holds).
check() {
	local src=$1 doc=$2
	awk -v src="$src" -v imports="$(imports "$src")" \
		-v modules="$(sed -n 's/^mod \([a-z_0-9]*\);$/\1/p' "$src/pseudoscopic.rs" | tr '\n' ' ')" '
		FNR == 1 && FILENAME != "-" { }
		$0 == "<!-- layers -->" { marker = 1; next }
		marker == 1 && $0 == "```text" { marker = 2; next }
		marker == 2 && $0 == "```" { marker = 3; next }
		marker == 2 && $1 == "upward:" {
			if ($3 != "->" || NF != 4) { print "ARCHITECTURE.md: bad line \"" $0 "\" (upward: A -> B)"; next }
			upward[$2 " " $4] = 1
			next
		}
		marker == 2 && NF > 0 { lines[++nlines] = $0 }
		END {
			if (marker != 3) { print "ARCHITECTURE.md has no ```text block after <!-- layers -->"; exit }
			# Top layer first: the last line is layer 1.
			for (l = 1; l <= nlines; l++) {
				n = split(lines[l], names, /[ \t]+/)
				for (k = 1; k <= n; k++) {
					if (names[k] == "") continue
					if (names[k] in layer) print "ARCHITECTURE.md lists " names[k] " twice"
					layer[names[k]] = nlines - l + 1
				}
			}
			n = split(modules, mods, " ")
			for (k = 1; k <= n; k++) {
				known[mods[k]] = 1
				if (!(mods[k] in layer)) print "module " mods[k] " is in no layer of ARCHITECTURE.md"
			}
			for (name in layer)
				if (!(name in known)) print "ARCHITECTURE.md lists " name ", which is no module of src/"
			n = split(imports, edges, "\n")
			for (k = 1; k <= n; k++) {
				split(edges[k], e, " ")
				from = e[1]; to = e[2]
				if (!(to in known) || !(from in layer) || !(to in layer)) continue
				if (edges[k] in upward) { used[edges[k]] = 1; continue }
				if (layer[to] >= layer[from])
					print "src/" from ": uses crate::" to ", which is not in a lower layer (" from ": layer " layer[from] ", " to ": layer " layer[to] ")"
				if (layer[to] + 1 > need[from]) need[from] = layer[to] + 1
			}
			for (edge in upward)
				if (!(edge in used)) print "ARCHITECTURE.md: upward: " edge " is not an import of src/ (stale)"
			for (name in layer)
				if (name in known && layer[name] > (name in need ? need[name] : 1))
					print "ARCHITECTURE.md lists " name " in layer " layer[name] " but its imports put it in layer " (name in need ? need[name] : 1)
		}' "$doc" | sort
}

if [ "${1:-}" = --check ]; then
	problems=$(check "$2" "$3")
	[ -z "$problems" ] || {
		echo "$problems" | sed 's/^/layers: /' >&2
		exit 1
	}
	exit 0
fi

failed=0
fail() {
	echo "layers: $*" >&2
	failed=1
}

problems=$(check "$REPO/src" "$REPO/ARCHITECTURE.md")
[ -z "$problems" ] || fail "$problems"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. "$REPO/tests/host/drift.sh"
# violated NAME EXPECTED FILE SED-SCRIPT: the copy of src and ARCHITECTURE.md with FILE changed must fail.
violated() { tree_drifted "$@" src ARCHITECTURE.md; }

violated copy-uses-vram "src/copy: uses crate::vram, which is not in a lower layer" src/copy.rs \
	's/^use crate::shim;$/use crate::{shim, vram::Vram};/'
violated nvidia-path-to-migrate "src/nvidia: uses crate::migrate, which is not in a lower layer" src/nvidia/channel.rs \
	's/^use core::mem::ManuallyDrop;$/&\nconst _: usize = crate::migrate::WINDOW_PAGES;/'
violated module-unlisted "module sysfs is in no layer of ARCHITECTURE.md" ARCHITECTURE.md \
	's/^sysfs chardev power$/chardev power/'
violated module-too-high "ARCHITECTURE.md lists stats in layer 2 but its imports put it in layer 1" ARCHITECTURE.md \
	's/^copy bus$/copy bus stats/; s/^shim uapi hw stats compat$/shim uapi hw compat/'
violated upward-stale "upward: copy vram is not an import of src/" ARCHITECTURE.md \
	's/^upward: vram -> migrate$/&\nupward: copy -> vram/'

[ $failed -eq 0 ] &&
	echo "layers: src/ imports only downward as ARCHITECTURE.md lists; 5 deliberate violations caught"
exit $failed
