#!/bin/bash
# The metrics' cost: basalt's CPU per request (`basalt-bench crud`,
# creates then gets, a connection per request) and per delivery
# (`basalt-bench fanout`, SUBS streams, RATE events/s) over basalt's
# FastCGI socket, with metrics = off and metrics = open, the two
# interleaved (off first, then on first), each on a new database, REPS
# times; prints the medians and
# the ratios on/off. Each "on" run is scraped once at its end, to check
# that the figures moved.
#
#   contrib/bench/metrics.sh [--basalt PATH] [--bench PATH] [--reps N]
#                            [-d SECONDS] [-c CLIENTS] [--subs N]
#                            [--rate N] [--instructions] [--same]
#
# --same: both arms with metrics = off, run and printed as above: the
# spread of the method itself on this machine, to read the ratios by.
#
# --instructions: instead, counts instructions with valgrind's callgrind
# (exact where CPU time is not): one run each of creates, gets and
# fan-out with metrics = open, basalt under callgrind from its first
# request to its last, and prints per operation all of basalt's
# instructions and those spent in the metrics_* functions (the clock
# read a request's figures need included), and the share.
#
# Measure a build without sanitizers. Uses tests/lib.sh, as
# contrib/bench/run does.

set -u

BASALT=${BASALT:-./basalt}
BENCH=${BENCH:-./contrib/bench/basalt-bench}
REPS=5
SECS=10
CONC=64
SUBS=500
RATE=200
INSTR=
SAME=
while [ $# -gt 0 ]; do
	case $1 in
	--basalt) BASALT=$2; shift ;;
	--bench) BENCH=$2; shift ;;
	--reps) REPS=$2; shift ;;
	-d) SECS=$2; shift ;;
	-c) CONC=$2; shift ;;
	--subs) SUBS=$2; shift ;;
	--rate) RATE=$2; shift ;;
	--instructions) INSTR=1 ;;
	--same) SAME=1 ;;
	*) echo "usage: $0 [--basalt PATH] [--bench PATH] [--reps N]" \
	    "[-d SECONDS] [-c CLIENTS] [--subs N] [--rate N]" \
	    "[--instructions] [--same]" >&2; exit 64 ;;
	esac
	shift
done
for b in "$BASALT" "$BENCH"; do
	[ -x "$b" ] || { echo "$0: no program at $b" >&2; exit 1; }
done
BASALT=$(cd "$(dirname "$BASALT")" && pwd)/$(basename "$BASALT")
BENCH=$(cd "$(dirname "$BENCH")" && pwd)/$(basename "$BENCH")

. "$(dirname "$0")/../../tests/lib.sh"
ulimit -n "$(ulimit -Hn)" 2>/dev/null
RESULTS=$T/results
PREFIX=/api/realms/bench/apps/bench/collections/c

# setup MODE: a new database with realm bench, app bench, collection c
# and TOKEN, and basalt.conf with metrics = MODE.
setup() {
	[ -n "${BASALT_PID:-}" ] && basalt_stop
	rm -f "$T"/basalt.db* "$T/basalt.sock"
	basalt_config log_level=warn "metrics=$1"
	basalt_cli realm create bench >/dev/null &&
	    basalt_cli app create bench bench >/dev/null &&
	    basalt_cli collection create bench bench c >/dev/null &&
	    TOKEN=$(basalt_cli token create bench bench --scope read,write \
	    --label bench 2>/dev/null) || { echo "$0: the CLI failed" >&2; exit 1; }
}

# fresh MODE: a new basalt on a new database with metrics = MODE.
fresh() {
	setup "$1"
	basalt_start || exit 1
}

# run NAME ARGS...: one bench run; its RESULT line goes into RESULTS as
# NAME.
run() {
	local name=$1
	shift
	"$BENCH" "$@" --fcgi "$T/basalt.sock" --prefix "$PREFIX" \
	    --token "$TOKEN" --pid "$BASALT_PID" >"$T/run.log" 2>&1
	grep '^RESULT' "$T/run.log" | sed "s/^RESULT/$name/" >>"$RESULTS"
}

# scraped: the requests counted in the figures, through a FastCGI GET.
scraped() {
	node "$top_srcdir/tests/fcgi-peers.mjs" get "$T/basalt.sock" 1 2 \
	    /api/metrics 2>/dev/null | tail -n 1 | jq -r '.replies[0]' |
	    awk '/^basalt_requests_total/ { n += $NF } END { print n + 0 }'
}

# median NAME KEY
median() {
	grep "^$1 " "$RESULTS" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {
	    print $2 }' | sort -n | awk '{ v[NR] = $1 } END {
	    if (NR) print v[int((NR + 1) / 2)] }'
}

# last NAME KEY: KEY of NAME's last run.
last() {
	grep "^$1 " "$RESULTS" | tail -n 1 | tr ' ' '\n' |
	    awk -F= -v k="$2" '$1 == k { print $2 }'
}

# cpu_us NAME CPU COUNT: the median over runs of basalt's CPU (key CPU,
# seconds) per COUNT, in microseconds.
cpu_us() {
	grep "^$1 " "$RESULTS" | awk -v c="$2" -v n="$3" '{
	    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	    printf "%.3f\n", 1e6 * v[c] / v[n] }' |
	    sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# instructions OP ARGS...: one run of basalt-bench ARGS against a basalt
# under callgrind with metrics = open; prints the instructions per
# operation (ok requests, or deliveries for fanout), in all and in the
# metrics_* functions with what they call (callgrind's inclusive cost:
# the clock read that ends a request's time is in it; the one at its
# start is made with metrics off too, for the access log and time-outs).
instructions() {
	local op=$1 out=$T/cg n all mine
	shift
	rm -f "$out".*
	setup open
	valgrind --tool=callgrind --instr-atstart=no \
	    --callgrind-out-file="$out.%p" "$BASALT" -c "$T/basalt.conf" \
	    serve 2>>"$T/basalt.log" &
	BASALT_PID=$!
	bg_track "$BASALT_PID"
	wait_until 60 unix_open "$T/basalt.sock" ||
	    { echo "$0: basalt under valgrind did not start" >&2; exit 1; }
	callgrind_control -i on "$BASALT_PID" >/dev/null 2>&1
	"$BENCH" "$@" --fcgi "$T/basalt.sock" --prefix "$PREFIX" \
	    --token "$TOKEN" >"$T/run.log" 2>&1
	callgrind_control -i off "$BASALT_PID" >/dev/null 2>&1
	callgrind_control -d "$BASALT_PID" >/dev/null 2>&1
	basalt_stop
	n=$(grep '^RESULT' "$T/run.log" | tr ' ' '\n' | awk -F= -v op="$op" '
	    (op == "fanout" && $1 == "delivered") ||
	    (op != "fanout" && $1 == "ok") { print $2 }')
	all=0 mine=0
	for f in "$out".*; do
		set -- $(callgrind_annotate --auto=no --threshold=100 \
		    --inclusive=yes "$f" 2>/dev/null | tr -d , | awk '
		    /PROGRAM TOTALS/ { a = $1 }
		    /metrics\.c:metrics_/ { m += $1 }
		    END { print a + 0, m + 0 }')
		all=$((all + $1)) mine=$((mine + $2))
	done
	printf '%-8s %10s %14.0f %12.1f %8.3f%%\n' "$op" "$n" \
	    "$(awk -v a="$all" -v n="$n" 'BEGIN { print a / n }')" \
	    "$(awk -v a="$mine" -v n="$n" 'BEGIN { print a / n }')" \
	    "$(awk -v a="$all" -v m="$mine" 'BEGIN { print 100 * m / a }')"
}

if [ -n "$INSTR" ]; then
	command -v valgrind >/dev/null && command -v callgrind_annotate \
	    >/dev/null || { echo "$0: valgrind is missing" >&2; exit 1; }
	echo "instructions per operation under callgrind, metrics = open," \
	    "$SECS s each over FastCGI"
	printf '%-8s %10s %14s %12s %9s\n' what count instr/op \
	    metrics/op share
	instructions create crud --op create -c "$CONC" -d "$SECS"
	instructions get crud --op get -c "$CONC" -d "$SECS"
	instructions fanout fanout -n "$SUBS" -r "$RATE" -d "$SECS"
	exit 0
fi

# off first in odd rounds, on first in even ones: a drift of the machine
# weighs on both alike.
for r in $(seq "$REPS"); do
	order="off on"
	[ $((r % 2)) = 0 ] && order="on off"
	for mode in $order; do
		fresh "$([ $mode = on ] && [ -z "$SAME" ] && echo open ||
		    echo off)"
		run "create-$mode" crud --op create -c "$CONC" -d "$SECS"
		run "get-$mode" crud --op get -c "$CONC" -d "$SECS"
		run "fanout-$mode" fanout -n "$SUBS" -r "$RATE" -d "$SECS"
		[ $mode = on ] && [ -z "$SAME" ] && counted=$(scraped)
		echo "rep $r $mode: create $(last "create-$mode" req_per_s)/s," \
		    "get $(last "get-$mode" req_per_s)/s," \
		    "$(last "fanout-$mode" deliveries_per_s) deliveries/s" \
		    "${counted:+($counted requests counted)}"
		counted=
	done
done
basalt_stop
echo
echo "medians of $REPS runs of $SECS s over FastCGI: crud with $CONC" \
    "clients, fanout to $SUBS streams at $RATE events/s"
printf '%-8s %12s %12s %7s %14s %14s %7s\n' what off/s on/s ratio \
    off_cpu_us on_cpu_us ratio
line() {
	local name=$1 key=$2 cpu=$3 count=$4 a b c d
	a=$(median "$name-off" "$key") b=$(median "$name-on" "$key")
	c=$(cpu_us "$name-off" "$cpu" "$count")
	d=$(cpu_us "$name-on" "$cpu" "$count")
	printf '%-8s %12s %12s %7s %14s %14s %7s\n' "$name" "$a" "$b" \
	    "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')" \
	    "$c" "$d" "$(awk -v a="$c" -v b="$d" 'BEGIN { printf "%.3f", b / a }')"
}
line create req_per_s cpu_server_s ok
line get req_per_s cpu_server_s ok
line fanout deliveries_per_s cpu_pub_s delivered
