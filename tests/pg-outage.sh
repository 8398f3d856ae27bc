#!/bin/bash
# PostgreSQL goes away under load, through lighttpd: writers and
# subscribers run while the server is stopped (connections refused), then
# frozen (SIGSTOP: it accepts and never answers). Meanwhile every request
# gets 503 database_unavailable with Retry-After: 1 within a second, open
# streams keep their heartbeats, and basalt does not spin. Then basalt's
# connections are ended under it, writes in flight. Each time, writes
# work again without a restart, and at the end every acknowledged write
# is in the database and every subscriber got every committed event
# exactly once, in order.

BASALT_TEST_DB=pg
. "$top_srcdir/tests/lib.sh"

need lighttpd jq curl
pg_available || skip_all "PostgreSQL's server programs are not installed"
pg_start || bail_out "PostgreSQL did not start"

# The default limit (database_timeout_ms, 800 ms): with a frozen server
# the first call waits it out, and the process's other connections then
# fail at once until one of them sees the server answer again.
demo_start

# ms: the time now, in milliseconds.
ms() {
	date +%s%3N
}

# writer N: creates records and sends custom events until $T/stop
# exists; one line per request in $T/wN.log:
#	KIND NAME STATUS SECONDS ID
writer() {
	local i=$1 n=0 st id
	while [ ! -e "$T/stop" ]; do
		n=$((n + 1))
		if [ $((n % 2)) = 1 ]; then
			st=$(curl -s --max-time 10 -o "$T/w$i.body" \
			    -w '%{http_code} %{time_total}' -X POST \
			    -H "$AUTH" -H "$J" \
			    --data-binary "{\"title\":\"w$i-$n\"}" "$P/records")
			id=$(jq -r '.id // "-"' "$T/w$i.body" 2>/dev/null)
			echo "rec w$i-$n $st ${id:--}"
		else
			st=$(curl -s --max-time 10 -o "$T/w$i.body" \
			    -w '%{http_code} %{time_total}' -X POST \
			    -H "$AUTH" -H "$J" --data-binary \
			    "{\"type\":\"mark\",\"payload\":{\"m\":\"w$i-$n\"}}" \
			    "$P/events")
			id=$(jq -r '.id // "-"' "$T/w$i.body" 2>/dev/null)
			echo "ev w$i-$n $st ${id:--}"
		fi >>"$T/w$i.log"
		sleep 0.05
	done
}

# beats NAME: the comment lines (heartbeats) NAME got so far.
beats() {
	grep -c '^:' "$T/$1.out" 2>/dev/null
}

# cpu_ms PID: the CPU time PID used so far, in milliseconds.
cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' \
	    "/proc/$1/stat"
}

# acked: how many writes got 201 or 202 so far.
acked() {
	cat "$T"/w?.log 2>/dev/null | awk '$3 == 201 || $3 == 202' | wc -l
}

# acked_ge N: N writes or more got 201 or 202.
acked_ge() {
	[ "$(acked)" -ge "$1" ]
}

# all_open: the three subscribers' streams are open.
all_open() {
	! ended s1 && ! ended s2 && ! ended s3
}

# write_ok: one write is answered 201 now.
write_ok() {
	send POST "$P/records" '{"title":"probe"}'
	[ "$STATUS" = 201 ]
}

# outage_checks WHAT: during an outage, a read and a write each get 503
# database_unavailable with Retry-After: 1 within a second; the streams
# keep their heartbeats; basalt uses little CPU.
outage_checks() {
	local what=$1 t0 el b0 b1 c0 c1 i slow=0 n503=0 other=
	for i in 1 2 3 4 5; do
		t0=$(ms)
		get "$P/records"
		el=$(( $(ms) - t0 ))
		[ "$el" -lt 1000 ] || slow=$((slow + 1))
		if [ "$STATUS $(jbody .error.code)" = "503 database_unavailable" ] &&
		    [ "$(header Retry-After)" = 1 ]; then
			n503=$((n503 + 1))
		else
			other="$other $STATUS/$(header Retry-After)/${el}ms"
		fi
		diag "$what: GET took $el ms: $STATUS"
	done
	is "$n503" 5 "$what: 5 reads get 503 database_unavailable with Retry-After: 1$other"
	is "$slow" 0 "$what: each read answered within a second"
	t0=$(ms)
	send POST "$P/records" '{"title":"during"}'
	el=$(( $(ms) - t0 ))
	is "$STATUS $(jbody .error.code) $(header Retry-After)" \
	    "503 database_unavailable 1" "$what: a write gets 503 too"
	ok "$([ "$el" -lt 1000 ]; echo $?)" \
	    "$what: the write is answered within a second ($el ms)"
	http GET "$P/events" -H "$AUTH" --max-time 3
	is "$STATUS $(jbody .error.code) $(header Retry-After)" \
	    "503 database_unavailable 1" "$what: a new stream gets 503"
	b0=$(beats s1)
	c0=$(cpu_ms "$BASALT_PID")
	sleep 3
	b1=$(beats s1)
	c1=$(cpu_ms "$BASALT_PID")
	ok "$([ $((b1 - b0)) -ge 2 ]; echo $?)" \
	    "$what: a stream gets its heartbeats ($((b1 - b0)) in 3 s)"
	all_open
	ok $? "$what: the three streams stay open"
	ok "$([ $((c1 - c0)) -lt 1500 ]; echo $?)" \
	    "$what: basalt does not spin ($((c1 - c0)) ms of CPU in 3 s)"
}

subs s1 "$P/events" s2 "$P/events" s3 "$P/events" ||
    bail_out "the subscribers did not start"
: >"$T/w1.log" ; : >"$T/w2.log"; : >"$T/w3.log"
for i in 1 2 3; do
	writer "$i" &
	bg_track $!
	eval "W$i=$!"
done
wait_until 10 acked_ge 30
ok $? "writers: 30 writes acknowledged before the outage"

# ======================================================================
# The server stops: connections are refused.
# ======================================================================
pg_stop
ok $? "postgresql stopped"
outage_checks stopped
pg_start
ok $? "postgresql started again"
t0=$(ms)
wait_until 10 write_ok
ok $? "stopped: a write works again without a restart ($(( $(ms) - t0 )) ms)"
n=$(acked)
wait_until 10 acked_ge $((n + 20))
ok $? "stopped: the writers go on"

# ======================================================================
# The server freezes: it accepts connections and never answers.
# ======================================================================
frozen=$(pgrep -P "$PG_PID" | tr '\n' ' ')
kill -STOP "$PG_PID" $frozen
ok $? "postgresql frozen (SIGSTOP to the postmaster and its processes)"
outage_checks frozen
kill -CONT "$PG_PID" $frozen
ok $? "postgresql thawed"
t0=$(ms)
wait_until 10 write_ok
ok $? "frozen: a write works again without a restart ($(( $(ms) - t0 )) ms)"
n=$(acked)
wait_until 10 acked_ge $((n + 20))
ok $? "frozen: the writers go on"

# ======================================================================
# basalt's connections are ended under it (the server stays up), five
# times: writes in flight, in a batch or at its commit, lose theirs.
# ======================================================================
killed=0
for i in 1 2 3 4 5; do
	n=$(dbsql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	    WHERE application_name = 'basalt'")
	killed=$((killed + n))
	sleep 0.3
done
ok "$([ "$killed" -ge 5 ]; echo $?)" \
    "terminated: $killed of basalt's connections ended"
t0=$(ms)
wait_until 10 write_ok
ok $? "terminated: a write works again ($(( $(ms) - t0 )) ms)"
n=$(acked)
wait_until 10 acked_ge $((n + 20))
ok $? "terminated: the writers go on"

# ======================================================================
# The end: nothing acknowledged lost, every event once and in order.
# ======================================================================
touch "$T/stop"
for i in 1 2 3; do
	eval "wait \$W$i"
done
cat "$T"/w?.log >"$T/writes.log"
diag "writes: $(awk '{ print $3 }' "$T/writes.log" | sort | uniq -c |
    tr '\n' ' ')"
bad=$(awk '$3 != 201 && $3 != 202 && $3 != 503' "$T/writes.log" | head -3)
is "$bad" "" "writes: every answer is 201, 202 or 503"

# every acknowledged record is in the table, with its title
awk '$1 == "rec" && $3 == 201 { print $5 " " $2 }' "$T/writes.log" |
    sort >"$T/acked-recs"
dbsql "SELECT id || ' ' || (fields::json->>'title') FROM records" |
    sort >"$T/db-recs"
ok "$([ -s "$T/acked-recs" ]; echo $?)" \
    "writes: $(wc -l <"$T/acked-recs") records acknowledged"
is "$(comm -23 "$T/acked-recs" "$T/db-recs" | head -3)" "" \
    "writes: every acknowledged record is in the database"
# every acknowledged custom event is in the log, with its payload
awk '$1 == "ev" && $3 == 202 { print $5 " " $2 }' "$T/writes.log" |
    sort >"$T/acked-evs"
dbsql "SELECT id || ' ' || (data::json->>'m') FROM events
    WHERE type = 'mark'" | sort >"$T/db-evs"
ok "$([ -s "$T/acked-evs" ]; echo $?)" \
    "writes: $(wc -l <"$T/acked-evs") custom events acknowledged"
is "$(comm -23 "$T/acked-evs" "$T/db-evs" | head -3)" "" \
    "writes: every acknowledged custom event is in the log"

# the streams: every committed event once, in the log's order
dbsql "SELECT id FROM events WHERE realm = 'acme' AND app = 'web'
    AND collection = 'posts' ORDER BY id" >"$T/db-ids"
last=$(tail -n 1 "$T/db-ids")
for s in s1 s2 s3; do
	wait_until 15 grep -q "^id: $last\$" "$T/$s.out"
	ok $? "$s: got the last event ($last)"
	unsub "$s"
	q "$s" '.events[].id' >"$T/$s.ids"
	is "$(diff "$T/db-ids" "$T/$s.ids" | head -5)" "" \
	    "$s: every committed event once, in order ($(wc -l <"$T/$s.ids") events)"
done
is "$(cat "$T"/basalt*.log | grep -c 'Sanitizer\|runtime error')" 0 \
    "no sanitizer report"
ok "$(kill -0 "$BASALT_PID"; echo $?)" "basalt still runs"
basalt_stop
is $? 0 "basalt stops cleanly"
done_testing
