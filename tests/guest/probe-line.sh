# SPDX-License-Identifier: GPL-2.0
# The probe line (README.md, "What probe does"): the one place the tests know its format. Tests ask
# for the facts they care about by name (expect_probe); a changed format fails here, in probe_parse,
# with the piece it stopped at, and tests/host/probe-line.sh checks this parser against README's
# example line and against altered lines. Plain sh and sed -E: it runs under the guest's busybox.
#
# What follows "pseudoscopic BDF: ", piece by piece. An NVIDIA board's line:
#   NAME [VVVV:DDDD]: CHIP (ARCH) rev RR, N MiB VRAM; BAR1 at 0xS-0xE (N MiB, physical mode), mapped
#   write-combined; GPU I lends N MiB (P pages) as device-private memory; copies by COPY PATH
# where COPY PATH is "copy engine E (runlist R) (class 0xC) for batches of N+ pages, by the CPU
# (ROUTINE) through WAY otherwise" or "the CPU (ROUTINE) through WAY", WAY being "BAR1" or, in BAR1
# virtual mode, "BAR1's window". Any other device's:
#   NAME [VVVV:DDDD]: BARn at 0xS-0xE (N MiB, KIND), mapped write-combined; GPU I lends N MiB
#   (P pages) as device-private memory
# Each piece is an extended regex whose groups are, in order, the fields named beside it.
PROBE_NVIDIA_BOARD='([^[]+) \[([0-9a-f]{4}:[0-9a-f]{4})\]: ([A-Z]+[0-9]+) \(([A-Z][a-z]+)\) rev ([0-9A-F]{2}), ([0-9]+) MiB VRAM; '
PROBE_NVIDIA_BOARD_FIELDS='name id chip arch rev vram_mib'
PROBE_OTHER_BOARD='([^[]+) \[([0-9a-f]{4}:[0-9a-f]{4})\]: '
PROBE_OTHER_BOARD_FIELDS='name id'
PROBE_BAR_PIECE='BAR([0-9]) at (0x[0-9a-f]+)-(0x[0-9a-f]+) \(([0-9]+) MiB, ([^)]+)\), mapped write-combined; '
PROBE_BAR_FIELDS='bar bar_start bar_end bar_mib bar_kind'
PROBE_POOL_PIECE='GPU ([0-9]+) lends ([0-9]+) MiB \(([0-9]+) pages\) as device-private memory'
PROBE_POOL_FIELDS='gpu lent_mib pages'
PROBE_COPY_WAY="(BAR1|BAR1's window)"
PROBE_COPY_ENGINE="; copies by copy engine (L?CE[0-9]+) \\(runlist ([0-9]+)\\) \\(class (0x[0-9a-f]{4})\\) for batches of ([0-9]+)\\+ pages, by the CPU \\(([a-z0-9.]+)\\) through $PROBE_COPY_WAY otherwise"
PROBE_COPY_ENGINE_FIELDS='engine runlist class dma_min_pages cpu_copy cpu_through'
PROBE_COPY_CPU="; copies by the CPU \\(([a-z0-9.]+)\\) through $PROBE_COPY_WAY"
PROBE_COPY_CPU_FIELDS='cpu_copy cpu_through'
# Every field a line can have; an NVIDIA line has them all but the copy engine's when the CPU
# copies everything, any other device's only name, id, the BAR's and the pool's.
PROBE_FIELDS="$PROBE_NVIDIA_BOARD_FIELDS $PROBE_BAR_FIELDS $PROBE_POOL_FIELDS $PROBE_COPY_ENGINE_FIELDS"

# probe_take PIECE FIELDS: when $probe_rest starts with PIECE, sets probe_FIELD for each of FIELDS
# (PIECE's groups, in order) and leaves the text after PIECE in $probe_rest; else status 1.
probe_take() {
	local piece=$1 field n=0 subst='' out
	for field in $2; do
		n=$((n + 1))
		subst="$subst\\$n\\
"
	done
	# One field a line, then the rest (group n+1), so a field may hold any character but newline.
	out=$(printf '%s\n' "$probe_rest" | sed -nE "s/^$piece(.*)\$/$subst\\$((n + 1))/p")
	[ -n "$out" ] || return 1
	n=0
	for field in $2; do
		n=$((n + 1))
		eval "probe_$field=\$(printf '%s\n' \"\$out\" | sed -n ${n}p)"
	done
	probe_rest=$(printf '%s\n' "$out" | sed -n "$((n + 1))p")
}

# probe_parse TEXT: parses TEXT, a probe line after "pseudoscopic BDF: ", into probe_FIELD for each
# of PROBE_FIELDS it has (the others unset). Status 1, with $probe_rest the text it could not
# parse, when TEXT does not have the format above, to its end.
probe_parse() {
	local field
	for field in $PROBE_FIELDS; do unset "probe_$field"; done
	probe_rest=$1
	if probe_take "$PROBE_NVIDIA_BOARD" "$PROBE_NVIDIA_BOARD_FIELDS"; then
		probe_take "$PROBE_BAR_PIECE" "$PROBE_BAR_FIELDS" &&
			probe_take "$PROBE_POOL_PIECE" "$PROBE_POOL_FIELDS" || return 1
		probe_take "$PROBE_COPY_ENGINE" "$PROBE_COPY_ENGINE_FIELDS" ||
			probe_take "$PROBE_COPY_CPU" "$PROBE_COPY_CPU_FIELDS" || return 1
	else
		probe_take "$PROBE_OTHER_BOARD" "$PROBE_OTHER_BOARD_FIELDS" &&
			probe_take "$PROBE_BAR_PIECE" "$PROBE_BAR_FIELDS" &&
			probe_take "$PROBE_POOL_PIECE" "$PROBE_POOL_FIELDS" || return 1
	fi
	[ -z "$probe_rest" ]
}

# probe_check FIELD=ERE...: each named field of the last probe_parse matches its ERE whole (a field
# the line lacks, or a name not in PROBE_FIELDS, fails). Prints what differs; status 1 if any does.
probe_check() {
	local arg field want have status=0
	for arg in "$@"; do
		field=${arg%%=*}
		want=${arg#*=}
		case " $PROBE_FIELDS " in
		*" $field "*) ;;
		*)
			echo "no probe line field '$field' (fields: $PROBE_FIELDS)"
			status=1
			continue
			;;
		esac
		if eval "[ -z \"\${probe_$field+set}\" ]"; then
			echo "the probe line has no $field"
			status=1
			continue
		fi
		eval "have=\$probe_$field"
		if ! printf '%s\n' "$have" | grep -qE -- "^($want)\$"; then
			echo "$field is '$have', expected /$want/"
			status=1
		fi
	done
	return $status
}
