#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A minimal QMP client for the VM tests (groups with a "# vm: qmp" line).

  qmp.py SOCKET wait-status STATE SECONDS   waits until QEMU's run state is STATE
  qmp.py SOCKET wakeup                      wakes a guest suspended to RAM (system_wakeup)
  qmp.py SOCKET quit                        ends QEMU

Exits 1 with a message on stderr when QEMU refuses or the state does not come in time.
"""
import json
import socket
import sys
import time


def session(path):
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    stream = sock.makefile("rw")
    json.loads(stream.readline())  # the greeting

    def execute(name):
        stream.write(json.dumps({"execute": name}) + "\n")
        stream.flush()
        while True:
            msg = json.loads(stream.readline())
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                sys.exit(f"qmp {name}: {msg['error'].get('desc', msg['error'])}")
            # Anything else is an event (SUSPEND, WAKEUP, ...): not an answer.

    execute("qmp_capabilities")
    return execute


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    path, what = argv[1], argv[2]
    if what == "wait-status" and len(argv) == 5:
        state, deadline = argv[3], time.monotonic() + float(argv[4])
        while True:
            now = session(path)("query-status")["status"]
            if now == state:
                return 0
            if time.monotonic() > deadline:
                sys.exit(f"QEMU run state is {now}, not {state}, after {argv[4]} s")
            time.sleep(0.5)
    if what in ("wakeup", "quit") and len(argv) == 3:
        session(path)({"wakeup": "system_wakeup", "quit": "quit"}[what])
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
