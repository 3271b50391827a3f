#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# ps-tierd's systemd unit passes `systemd-analyze verify` without a single complaint. The unit
# names the installed binary (/usr/local/sbin/ps-tierd), which verify insists exists, so a copy
# that names the built one (make tools) is what gets verified; nothing else differs.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
UNIT=$REPO/packaging/ps-tierd.service
BIN=$REPO/out/tools/release/ps-tierd
DIR=$REPO/out/unit

command -v systemd-analyze >/dev/null || {
	echo "unit: systemd-analyze is missing (make setup installs Debian's systemd)" >&2
	exit 1
}
[ -x "$BIN" ] || {
	echo "unit: $BIN is not built (make tools)" >&2
	exit 1
}
grep -q '^ExecStart=/usr/local/sbin/ps-tierd$' "$UNIT" || {
	echo "unit: $UNIT does not start /usr/local/sbin/ps-tierd, where make install puts it" >&2
	exit 1
}
rm -rf "$DIR"
mkdir -p "$DIR"
sed "s|^ExecStart=/usr/local/sbin/ps-tierd|ExecStart=$BIN|" "$UNIT" >"$DIR/ps-tierd.service"
out=$(systemd-analyze verify "$DIR/ps-tierd.service" 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
	echo "unit: systemd-analyze verify $UNIT (status $rc):" >&2
	echo "$out" >&2
	exit 1
fi
echo "unit: $UNIT passes systemd-analyze verify"
