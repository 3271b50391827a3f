#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The C files of rust/ and their Rust declarations agree: every function src/shim.rs declares is
# prototyped in rust/ps_shim.h, in the same order, with as many parameters and a value returned or
# not alike, and is defined in exactly one rust/*.c; every other ps_*() of the header is a
# ps_rust_*() that src/ defines with #[no_mangle] (same parameter count), or is called only between
# the C files.  Then the check itself is tested: a declaration dropped from src/shim.rs, a
# parameter added to the header, a C definition renamed and a Rust entry point renamed must each
# fail.
#
#   tests/host/shim.sh                        check rust/ and src/, then the self-tests
#   tests/host/shim.sh --check RUST SRC       only check the tree RUST (rust/) against SRC (src/)
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)

# check RUST SRC: prints what is wrong, one line each (nothing when the two agree).
check() {
	python3 - "$1" "$2" <<'EOF'
import glob, os, re, sys

rust_dir, src_dir = sys.argv[1], sys.argv[2]

def strip_c(text):
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    return '\n'.join(l for l in text.split('\n') if not l.lstrip().startswith('#'))

def arity(params, void_word):
    params = [p.strip() for p in params.split(',') if p.strip()]
    return 0 if params in ([], [void_word]) else len(params)

# The header's prototypes, in order: name -> (parameters, returns a value).
header = strip_c(open(os.path.join(rust_dir, 'ps_shim.h')).read())
protos = {}
for m in re.finditer(r'([A-Za-z_][\w\s\*]*?)\b(ps_\w+)\s*\(([^()]*)\)\s*;', header):
    ret, name = m.group(1).split(), m.group(2)
    protos[name] = (arity(m.group(3), 'void'), ret != ['void'])
order = list(protos)

# src/shim.rs's extern block, in order.
shim = open(os.path.join(src_dir, 'shim.rs')).read()
shim = re.sub(r'//[^\n]*', '', shim)
block = re.search(r'extern "C" \{(.*?)\n\}', shim, re.S)
decls = {}
for m in re.finditer(r'fn (ps_\w+)\(([^()]*)\)\s*(->)?', block.group(1) if block else ''):
    decls[m.group(1)] = (arity(m.group(2), ''), m.group(3) is not None)

# Definitions in the C files, and calls between them.
defined, called = {}, {}
for path in sorted(glob.glob(os.path.join(rust_dir, '*.c'))):
    text = strip_c(open(path).read())
    base = os.path.basename(path)
    for m in re.finditer(r'^[A-Za-z_][\w \*]*?\b(ps_\w+)\([^;{]*\)\s*\{', text, re.M):
        defined.setdefault(m.group(1), []).append(base)
    for m in re.finditer(r'(?<![\w])(ps_\w+)\(', text):
        called.setdefault(m.group(1), set()).add(base)

# Rust entry points: #[no_mangle] ... fn ps_rust_*(...).
entries = {}
for path in glob.glob(os.path.join(src_dir, '**', '*.rs'), recursive=True):
    text = open(path).read()
    for m in re.finditer(r'#\[no_mangle\][^{;]*?fn (ps_rust_\w+)\(([^()]*)\)\s*(->)?', text, re.S):
        entries[m.group(1)] = (arity(m.group(2), ''), m.group(3) is not None)

problems = []
for name, sig in decls.items():
    if name not in protos:
        problems.append(f'src/shim.rs declares {name}, which rust/ps_shim.h does not')
        continue
    if sig != protos[name]:
        problems.append(f'{name}: src/shim.rs has {sig[0]} parameters (returns a value: {sig[1]}), '
                        f'rust/ps_shim.h {protos[name][0]} ({protos[name][1]})')
    where = defined.get(name, [])
    if len(where) != 1:
        problems.append(f'{name} is defined in {len(where)} C files of rust/ ({" ".join(where)}), not one')
in_header = [n for n in order if n in decls]
if in_header != [n for n in decls if n in protos]:
    problems.append('src/shim.rs declares the functions in another order than rust/ps_shim.h')
for name, sig in protos.items():
    if name in decls:
        continue
    if name.startswith('ps_rust_'):
        if name not in entries:
            problems.append(f'rust/ps_shim.h declares {name}, which no #[no_mangle] fn of src/ defines')
        elif entries[name] != sig:
            problems.append(f'{name}: src/ has {entries[name][0]} parameters (returns a value: '
                            f'{entries[name][1]}), rust/ps_shim.h {sig[0]} ({sig[1]})')
    elif not (called.get(name, set()) - set(defined.get(name, []))):
        problems.append(f'rust/ps_shim.h declares {name}, which src/shim.rs does not (nor another C file calls)')
for line in sorted(problems):
    print(line)
EOF
}

if [ "${1:-}" = --check ]; then
	problems=$(check "$2" "$3")
	[ -z "$problems" ] || {
		echo "$problems" | sed 's/^/shim: /' >&2
		exit 1
	}
	exit 0
fi

failed=0
fail() {
	echo "shim: $*" >&2
	failed=1
}

problems=$(check "$REPO/rust" "$REPO/src")
[ -z "$problems" ] || fail "$problems"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# drifted NAME EXPECTED FILE SED-SCRIPT: a copy of rust/ and src/ with FILE changed by SED-SCRIPT
# must fail with EXPECTED in the message.
drifted() {
	rm -rf "$tmp/tree" && mkdir -p "$tmp/tree" && cp -r "$REPO/rust" "$REPO/src" "$tmp/tree/"
	sed -i "$4" "$tmp/tree/$3"
	cmp -s "$REPO/$3" "$tmp/tree/$3" && {
		fail "drift '$1' did not change $3 (the test is stale)"
		return
	}
	out=$(check "$tmp/tree/rust" "$tmp/tree/src")
	if [ -z "$out" ]; then
		fail "drift '$1' passed the check"
	elif ! grep -qF "$2" <<<"$out"; then
		fail "drift '$1' failed for another reason: $out"
	fi
}

drifted declaration-dropped "rust/ps_shim.h declares ps_wmb, which src/shim.rs does not" src/shim.rs \
	'/pub(crate) fn ps_wmb();/d'
drifted parameter-added "ps_folio_order: src/shim.rs has 1 parameters (returns a value: True), rust/ps_shim.h 2" \
	rust/ps_shim.h 's/^unsigned int ps_folio_order(struct folio \*folio);$/unsigned int ps_folio_order(struct folio *folio, int extra);/'
drifted definition-renamed "ps_cond_resched is defined in 0 C files" rust/ps_copy.c \
	's/^void ps_cond_resched(void)$/void ps_resched(void)/'
drifted entry-renamed "rust/ps_shim.h declares ps_rust_copy_path, which no #[no_mangle] fn of src/ defines" \
	src/sysfs.rs 's/fn ps_rust_copy_path(/fn ps_rust_cpu_copy_path(/'

[ $failed -eq 0 ] &&
	echo "shim: src/shim.rs matches rust/ps_shim.h and the C files of rust/; 4 deliberate drifts caught"
exit $failed
