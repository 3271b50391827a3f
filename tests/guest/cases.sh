# SPDX-License-Identifier: GPL-2.0
# group_case_names DIR FILE: the cases a group (FILE, in DIR) runs, in order: those of the groups it
# includes (a line ". /tests/groups/NAME.sh"), then its own. The one definition both runners use:
# the guest's (run-group.sh, DIR /tests/groups) and the host's (tests/vm/run-tests.sh).
group_case_names() {
	local inc
	for inc in $(sed -n 's|^\. /tests/groups/\([a-z0-9.-]*\)\.sh$|\1|p' "$2"); do
		group_case_names "$1" "$1/$inc.sh"
	done
	sed -n 's/^case_\([a-z0-9_]*\)() *{.*/\1/p' "$2"
}
