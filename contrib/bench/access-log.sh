#!/bin/bash
# The access log's cost: creates and gets over basalt's FastCGI socket
# (`basalt-bench crud`, a connection per request as nginx and lighttpd
# make them) with access_log = off and with access_log = FILE, the two
# interleaved, each on a new database, REPS times; prints the medians of
# requests/s and of basalt's CPU per request, and the ratios on/off.
#
#   contrib/bench/access-log.sh [--basalt PATH] [--bench PATH] [--reps N]
#                               [-d SECONDS] [-c CLIENTS]
#
# Measure a build without sanitizers. Uses tests/lib.sh, as
# contrib/bench/run does.

set -u

BASALT=${BASALT:-./basalt}
BENCH=${BENCH:-./contrib/bench/basalt-bench}
REPS=5
SECS=10
CONC=64
while [ $# -gt 0 ]; do
	case $1 in
	--basalt) BASALT=$2; shift ;;
	--bench) BENCH=$2; shift ;;
	--reps) REPS=$2; shift ;;
	-d) SECS=$2; shift ;;
	-c) CONC=$2; shift ;;
	*) echo "usage: $0 [--basalt PATH] [--bench PATH] [--reps N]" \
	    "[-d SECONDS] [-c CLIENTS]" >&2; exit 64 ;;
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

# fresh LOG: a new basalt on a new database with access_log = LOG.
fresh() {
	[ -n "${BASALT_PID:-}" ] && basalt_stop
	rm -f "$T"/basalt.db* "$T/basalt.sock" "$T/access.log"
	basalt_config log_level=warn "access_log=$1"
	basalt_cli realm create bench >/dev/null &&
	    basalt_cli app create bench bench >/dev/null &&
	    basalt_cli collection create bench bench c >/dev/null &&
	    TOKEN=$(basalt_cli token create bench bench --scope read,write \
	    --label bench 2>/dev/null) || { echo "$0: the CLI failed" >&2; exit 1; }
	basalt_start || exit 1
}

# run NAME OP: one crud run; its RESULT line goes into RESULTS as NAME.
run() {
	"$BENCH" crud --op "$2" -c "$CONC" -d "$SECS" --fcgi "$T/basalt.sock" \
	    --prefix /api/realms/bench/apps/bench/collections/c \
	    --token "$TOKEN" --pid "$BASALT_PID" >"$T/run.log" 2>&1
	grep '^RESULT' "$T/run.log" | sed "s/^RESULT/$1/" >>"$RESULTS"
}

# median NAME KEY
median() {
	grep "^$1 " "$RESULTS" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {
	    print $2 }' | sort -n | awk '{ v[NR] = $1 } END {
	    if (NR) print v[int((NR + 1) / 2)] }'
}

# last NAME: the requests/s of NAME's last run.
last() {
	grep "^$1 " "$RESULTS" | tail -n 1 | tr ' ' '\n' |
	    awk -F= '$1 == "req_per_s" { print $2 }'
}

# cpu_us NAME: basalt's CPU per request, microseconds, per run.
cpu_us() {
	grep "^$1 " "$RESULTS" | awk '{ for (i = 2; i <= NF; i++) {
	    split($i, kv, "="); v[kv[1]] = kv[2] }
	    printf "%.2f\n", 1e6 * v["cpu_server_s"] / v["ok"] }' |
	    sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

for r in $(seq "$REPS"); do
	for mode in off on; do
		fresh "$([ $mode = on ] && echo "$T/access.log" || echo off)"
		run "create-$mode" create
		run "get-$mode" get
		[ $mode = on ] && lines=$(wc -l <"$T/access.log")
		echo "rep $r $mode: create $(last "create-$mode")/s," \
		    "get $(last "get-$mode")/s" \
		    "${lines:+($lines lines logged)}"
		lines=
	done
done
basalt_stop
echo
echo "medians of $REPS runs of $SECS s, $CONC clients over FastCGI:"
printf '%-8s %12s %12s %7s %14s %14s %7s\n' op off_req/s on_req/s ratio \
    off_cpu_us/req on_cpu_us/req ratio
for op in create get; do
	a=$(median "$op-off" req_per_s) b=$(median "$op-on" req_per_s)
	c=$(cpu_us "$op-off") d=$(cpu_us "$op-on")
	printf '%-8s %12s %12s %7s %14s %14s %7s\n' "$op" "$a" "$b" \
	    "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')" \
	    "$c" "$d" "$(awk -v a="$c" -v b="$d" 'BEGIN { printf "%.3f", b / a }')"
done
