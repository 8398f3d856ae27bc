#!/bin/bash
# SQLite against PostgreSQL, side by side: creates/s and gets/s
# (`basalt-bench crud`, CLIENTS clients, a connection per request),
# fan-out deliveries/s (`basalt-bench fanout`, SUBS streams, RATE custom
# events/s) with p99, and the CPU per write and per delivery of basalt
# and of PostgreSQL (the postmaster and its backends), for:
#
#   sqlite  1 node on SQLite
#   pg      1 node on PostgreSQL
#   pg2     2 nodes on one PostgreSQL: the crud clients are split between
#           them (two benches at once, CLIENTS/2 each, figures summed);
#           the streams are on node 2 and the events are written through
#           node 1, so every delivery crosses the database
#
# interleaved (the order turned by one place each round), each on a new
# database, REPS rounds; then the idle streams of one node on each store
# (`basalt-bench idle -n IDLE`: RSS per stream). Prints the medians.
# PostgreSQL is a server of the script's own (tests/lib.sh's pg_start:
# fsync on, synchronous_commit on, its defaults otherwise).
#
#   contrib/bench/pg.sh [--basalt PATH] [--bench PATH] [--reps N]
#                       [-d SECONDS] [-c CLIENTS] [--subs N] [--rate R]
#                       [--idle N] [--runs LIST] [--pg-set KEY=VALUE]...
#                       [--out FILE]
#
# --runs: which of sqlite,pg,pg2 to run (default all three); --idle 0
# skips the idle streams; --pg-set sets a PostgreSQL setting for the
# whole run (ALTER SYSTEM, then a reload), e.g. synchronous_commit=off to
# see what the WAL flush costs. Measure a build without sanitizers; the
# load generator runs on the same cores as basalt and PostgreSQL.

set -u

BASALT=${BASALT:-./basalt}
BENCH=${BENCH:-./contrib/bench/basalt-bench}
REPS=3
SECS=10
CONC=64
SUBS=1000
RATE=100
IDLE=5000
RUNS=sqlite,pg,pg2
OUT=
PGSET=
usage() {
	echo "usage: $0 [--basalt PATH] [--bench PATH] [--reps N]" \
	    "[-d SECONDS] [-c CLIENTS] [--subs N] [--rate R] [--idle N]" \
	    "[--runs sqlite,pg,pg2] [--pg-set KEY=VALUE]... [--out FILE]" >&2
	exit 64
}
while [ $# -gt 0 ]; do
	case $1 in
	--basalt) BASALT=$2; shift ;;
	--bench) BENCH=$2; shift ;;
	--reps) REPS=$2; shift ;;
	-d) SECS=$2; shift ;;
	-c) CONC=$2; shift ;;
	--subs) SUBS=$2; shift ;;
	--rate) RATE=$2; shift ;;
	--idle) IDLE=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--out) OUT=$2; shift ;;
	--pg-set) PGSET="$PGSET $2"; shift ;;
	*) usage ;;
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
: >"$RESULTS"
PREFIX=/api/realms/bench/apps/bench/collections/c
NODE2_PID=
DBN=0

case ,$RUNS, in
*,pg*) pg_start || { echo "$0: PostgreSQL did not start" >&2; exit 1; } ;;
esac
for kv in $PGSET; do
	psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" -c "ALTER SYSTEM SET \
	    ${kv%%=*} = '${kv#*=}'" -c "SELECT pg_reload_conf()" >/dev/null ||
	    { echo "$0: cannot set $kv" >&2; exit 1; }
	echo "PostgreSQL: $kv"
done

# cpu PID...: the CPU seconds (user and system) of the processes, and of
# their children that have ended and been waited for.
cpu() {
	local p t=0
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] || continue
		t=$(($t + $(sed 's/.*) //' "/proc/$p/stat" |
		    awk '{ print $12 + $13 + $14 + $15 }')))
	done
	awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}

# pg_pids: the postmaster and its processes (backends, writers, walwriter).
pg_pids() {
	echo "$PG_PID" $(pgrep -P "$PG_PID")
}

stop_nodes() {
	[ -n "${BASALT_PID:-}" ] && basalt_stop
	[ -n "$NODE2_PID" ] && basalt_stop "$NODE2_PID"
	BASALT_PID= NODE2_PID=
}

# fresh KIND: new basalt processes (one, or two for pg2) on a new
# database (a new SQLite file, or a new PostgreSQL database) with realm
# bench, app bench, collection c and TOKEN. Sets NODES (the pids) and
# SOCK1, SOCK2.
fresh() {
	local db
	stop_nodes
	rm -f "$T"/basalt.db* "$T"/basalt*.sock
	if [ "$1" = sqlite ]; then
		db=$T/basalt.db
	else
		DBN=$((DBN + 1))
		_pg_as "$PG_BIN/createdb" -h "$T/pg" -p "$PGPORT" -U basalt \
		    -O basalt "bench$DBN" >>"$T/pg.log" 2>&1 ||
		    { echo "$0: createdb failed" >&2; exit 1; }
		db="postgresql://basalt@/bench$DBN?host=$T/pg"
	fi
	basalt_config log_level=warn "database=$db"
	basalt_cli realm create bench >/dev/null &&
	    basalt_cli app create bench bench >/dev/null &&
	    basalt_cli collection create bench bench c >/dev/null &&
	    TOKEN=$(basalt_cli token create bench bench \
	    --scope read,write,admin --label bench 2>/dev/null) ||
	    { echo "$0: the CLI failed" >&2; exit 1; }
	basalt_start || exit 1
	NODES=$BASALT_PID SOCK1=$T/basalt.sock SOCK2=
	if [ "$1" = pg2 ]; then
		SOCK2=$T/basalt2.sock
		sed "s|^listen = .*|listen = $SOCK2|" "$T/basalt.conf" \
		    >"$T/basalt2.conf"
		"$BASALT" -c "$T/basalt2.conf" serve 2>>"$T/basalt2.log" &
		NODE2_PID=$!
		bg_track "$NODE2_PID"
		wait_until 10 unix_open "$SOCK2" ||
		    { echo "$0: the second node did not start" >&2; exit 1; }
		NODES="$BASALT_PID $NODE2_PID"
	fi
}

# keyval FILE KEY: KEY's value on FILE's RESULT line.
keyval() {
	grep '^RESULT' "$1" | tail -n 1 | tr ' ' '\n' |
	    awk -F= -v k="$2" '$1 == k { print $2 }'
}

# record NAME KEY=VALUE...: one line of figures for NAME.
record() {
	echo "$*" >>"$RESULTS"
	[ -z "$OUT" ] || echo "$*" >>"$OUT"
}

# crud KIND OP: creates or gets, one bench per node at once; records
# requests/s, p99 and the CPU per request of basalt and PostgreSQL.
crud() {
	local kind=$1 op=$2 n=1 c b0 p0 b1 p1 ok=0 rps=0 p99=0 f s i=0 pids=
	[ "$kind" = pg2 ] && n=2
	c=$((CONC / n))
	b0=$(cpu $NODES) p0=0
	[ "$kind" = sqlite ] || p0=$(cpu $(pg_pids))
	for s in $SOCK1 $SOCK2; do
		i=$((i + 1))
		"$BENCH" crud --op "$op" -c "$c" -d "$SECS" --fcgi "$s" \
		    --prefix "$PREFIX" --token "$TOKEN" >"$T/crud$i.log" 2>&1 &
		pids="$pids $!"
	done
	wait $pids
	b1=$(cpu $NODES) p1=0
	[ "$kind" = sqlite ] || p1=$(cpu $(pg_pids))
	for i in $(seq "$n"); do
		f=$T/crud$i.log
		grep -q '^RESULT' "$f" ||
		    { echo "$0: crud $op failed:" >&2; cat "$f" >&2; exit 1; }
		ok=$((ok + $(keyval "$f" ok)))
		rps=$((rps + $(keyval "$f" req_per_s)))
		p99=$(awk -v a="$p99" -v b="$(keyval "$f" "${op}_p99_us")" \
		    'BEGIN { print (b > a) ? b : a }')
	done
	record "$kind-$op" "per_s=$rps" "p99_us=$p99" "ok=$ok" \
	    "basalt_us=$(awk -v a="$b0" -v b="$b1" -v n="$ok" \
	    'BEGIN { printf "%.1f", 1e6 * (b - a) / n }')" \
	    "pg_us=$(awk -v a="$p0" -v b="$p1" -v n="$ok" \
	    'BEGIN { printf "%.1f", 1e6 * (b - a) / n }')"
	echo "  $op: $rps/s, p99 $p99 us"
}

# fanout KIND: SUBS streams, RATE custom events/s; on pg2 the streams are
# on node 2 and the writes go through node 1. Records deliveries/s, p99,
# basalt's CPU per delivery (the streams' node, while publishing), the
# writing node's and PostgreSQL's CPU per write (the whole run).
fanout() {
	local kind=$1 f=$T/fanout.log sub=$SOCK1 subpid=$BASALT_PID w0 w1 p0 \
	    p1 pub del
	if [ "$kind" = pg2 ]; then
		sub=$SOCK2 subpid=$NODE2_PID
	fi
	w0=$(cpu "$BASALT_PID") p0=0
	[ "$kind" = sqlite ] || p0=$(cpu $(pg_pids))
	"$BENCH" fanout -n "$SUBS" -r "$RATE" -d "$SECS" --sub-fcgi "$sub" \
	    --pub-fcgi "$SOCK1" --prefix "$PREFIX" --token "$TOKEN" \
	    --pid "$subpid" >"$f" 2>&1
	w1=$(cpu "$BASALT_PID") p1=0
	[ "$kind" = sqlite ] || p1=$(cpu $(pg_pids))
	grep -q '^RESULT' "$f" ||
	    { echo "$0: fanout failed:" >&2; cat "$f" >&2; exit 1; }
	pub=$(keyval "$f" published) del=$(keyval "$f" delivered)
	record "$kind-fanout" "per_s=$(keyval "$f" deliveries_per_s)" \
	    "p99_us=$(keyval "$f" lat_p99_us)" "ok=$del" \
	    "missing=$(keyval "$f" missing)" \
	    "duplicates=$(keyval "$f" duplicates)" \
	    "basalt_us=$(awk -v c="$(keyval "$f" cpu_pub_s)" -v n="$del" \
	    'BEGIN { printf "%.2f", 1e6 * c / n }')" \
	    "write_us=$(awk -v a="$w0" -v b="$w1" -v n="$pub" \
	    'BEGIN { printf "%.1f", 1e6 * (b - a) / n }')" \
	    "pg_us=$(awk -v a="$p0" -v b="$p1" -v n="$pub" \
	    'BEGIN { printf "%.1f", 1e6 * (b - a) / n }')"
	echo "  fanout: $(keyval "$f" deliveries_per_s) deliveries/s," \
	    "p99 $(keyval "$f" lat_p99_us) us, missing $(keyval "$f" missing)"
}

# idle KIND: IDLE idle streams on one node; records the RSS per stream.
idle() {
	local f=$T/idle.log
	fresh "$1"
	"$BENCH" idle -n "$IDLE" -d 10 --fcgi "$SOCK1" --prefix "$PREFIX" \
	    --token "$TOKEN" --pid "$BASALT_PID" >"$f" 2>&1
	grep -q '^RESULT' "$f" ||
	    { echo "$0: idle failed:" >&2; cat "$f" >&2; exit 1; }
	record "$1-idle" "per_s=0" "rss_per_stream_b=$(keyval "$f" \
	    rss_per_stream_b)" "streams=$(keyval "$f" streams)"
	echo "$1: $(keyval "$f" streams) idle streams," \
	    "$(keyval "$f" rss_per_stream_b) B each"
}

# median NAME KEY
median() {
	grep "^$1 " "$RESULTS" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {
	    print $2 }' | sort -n | awk '{ v[NR] = $1 } END {
	    if (NR) print v[int((NR + 1) / 2)]; else print "-" }'
}

kinds=$(echo "$RUNS" | tr , ' ')
set -- $kinds
for r in $(seq "$REPS"); do
	for kind in "$@"; do
		echo "round $r: $kind"
		fresh "$kind"
		crud "$kind" create
		crud "$kind" get
		fanout "$kind"
	done
	# the next round starts with the next kind
	set -- "${@:2}" "$1"
done
if [ "$IDLE" -gt 0 ]; then
	for kind in $kinds; do
		[ "$kind" = pg2 ] || idle "$kind"
	done
fi
stop_nodes

echo
echo "medians of $REPS rounds of $SECS s over FastCGI: crud with $CONC" \
    "clients, fan-out to $SUBS streams at $RATE events/s; CPU in us"
printf '%-7s %-7s %10s %10s %11s %9s %9s\n' run what per_s p99_us \
    basalt_us write_us pg_us
for kind in $kinds; do
	for op in create get fanout; do
		printf '%-7s %-7s %10s %10s %11s %9s %9s\n' "$kind" "$op" \
		    "$(median "$kind-$op" per_s)" \
		    "$(median "$kind-$op" p99_us)" \
		    "$(median "$kind-$op" basalt_us)" \
		    "$([ $op = fanout ] && median "$kind-$op" write_us ||
		    echo -)" "$(median "$kind-$op" pg_us)"
	done
done
if [ "$IDLE" -gt 0 ]; then
	for kind in $kinds; do
		[ "$kind" = pg2 ] ||
		    echo "$kind: idle streams $(median "$kind-idle" streams)," \
		    "$(median "$kind-idle" rss_per_stream_b) B each"
	done
fi
echo "fan-out events missing or doubled: $(awk '/-fanout / {
    for (i = 2; i <= NF; i++) { split($i, kv, "=");
    if (kv[1] == "missing" || kv[1] == "duplicates") n += kv[2] } }
    END { print n + 0 }' "$RESULTS")"
