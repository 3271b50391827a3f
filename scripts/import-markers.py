#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make fmt: marks the last item of every multi-line `use` group with a trailing `//`.

The kernel's import style (Documentation/rust/coding-guidelines.rst) is one item per line, which
rustfmt writes with `imports_layout=Vertical`; the marker keeps that layout under the kernel's own
rustfmt configuration, which would otherwise fold short groups back onto one line.
Usage: import-markers.py FILE.rs...
"""
import re
import sys

USE = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?use\s.*\{$')

for path in sys.argv[1:]:
    lines = open(path).read().split('\n')
    depth = 0
    for i, line in enumerate(lines):
        if depth == 0 and not USE.match(line):
            continue
        depth += line.count('{') - line.count('}')
        item = line.strip()
        following = lines[i + 1].strip() if i + 1 < len(lines) else ''
        if (following.startswith('}') and item and not item.endswith('{')
                and not item.startswith('}') and '//' not in item):
            lines[i] = line.rstrip() + ' //'
    open(path, 'w').write('\n'.join(lines))
