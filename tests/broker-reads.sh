#!/bin/bash
# The broker's reads, done on its reader thread: streams that resume
# while events keep coming replay from the log, then go live, and each
# gets every event once and in order (the head moves on while a step of
# replay is being read); clients that leave while their step is being
# read harm nothing; and the loop answers meanwhile.

. "$top_srcdir/tests/lib.sh"

need lighttpd
if on_pg; then need psql; else need sqlite3; fi

N=3000		# events in the log before the readers resume
W=4		# writers creating records while they replay
C=100		# records a writer creates
R=16		# readers
demo_start log_level=info

# burst COUNT TAG: COUNT events committed in one transaction by another
# process (the database's shell, as a second basalt would), made now
# (retention would take older ones).
burst() {
	local ms
	ms=$(date +%s%3N)
	if on_pg; then
		# ids from log_head, as basalt's own appends take them
		dbsql "WITH h AS (UPDATE log_head SET last_id = last_id + $1
		    RETURNING last_id)
		    INSERT INTO events (id, created_ms, realm, app, collection,
		    record_id, type, data) SELECT h.last_id - $1 + k, $ms, 'acme',
		    'web', 'posts', NULL, 'burst',
		    '{\"b\":$2,\"k\":' || k || '}'
		    FROM h, generate_series(1, $1) AS k"
	else
		dbsql "WITH RECURSIVE c(k) AS
		    (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < $1)
		    INSERT INTO events (created_ms, realm, app, collection,
		    record_id, type, data) SELECT $ms, 'acme', 'web', 'posts',
		    NULL, 'burst', '{\"b\":$2,\"k\":' || k || '}' FROM c"
	fi
}

n0=$(dbsql 'SELECT coalesce(max(id), 0) FROM events')
burst $N 0
ok $? "$N events committed before the readers come"
last=$((n0 + N + W * C))

# reader R: a client that resumes from the id before the first burst,
# and again with its last id if its stream is closed, until it has the
# last event. Its frames go to $T/rR.out.
reader() {
	local r=$1 from=$n0
	: >"$T/r$r.out"
	while [ "$from" -lt "$last" ]; do
		curl -sN --max-time 60 -H "$AUTH" -H "Last-Event-ID: $from" \
		    "$URL$PREFIX/events" >"$T/r$r.part" &
		echo $! >"$T/r$r.pid"
		wait $!
		# complete frames only: id, event, data, blank line
		awk '/^id: / { i = $0; getline e; getline d; getline b
		    if (e ~ /^event: / && d ~ /^data: / && b == "")
			print i "\n" e "\n" d "\n" }' "$T/r$r.part" \
		    >>"$T/r$r.out"
		from=$(grep '^id: ' "$T/r$r.out" | tail -n 1 | cut -c5-)
		from=${from:-$n0}
	done
}
# seen R: the last id reader R has seen, on a stream ended or open.
seen() {
	cat "$T/r$1.out" "$T/r$1.part" 2>/dev/null | grep '^id: ' |
	    tail -n 1 | cut -c5-
}
all_seen() {
	local r
	for r in $(seq 1 $R); do
		[ "$(seen "$r")" = "$last" ] || return 1
	done
}

# writer: C creates through basalt, one after the other: each one's
# commit wakes the tail, so the head moves while the readers replay.
writer() {
	local i
	for i in $(seq 1 $C); do
		curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 \
		    -H "$AUTH" -H 'Content-Type: application/json' \
		    -d "{\"w\":$1,\"i\":$i}" "$URL$PREFIX/records" || return 1
	done
}
WRITERS=
for w in $(seq 1 $W); do
	writer "$w" >"$T/w$w.codes" &
	WRITERS="$WRITERS $!"
	bg_track $!
done
for r in $(seq 1 $R); do
	reader "$r" &
	bg_track $!
	# and a client that leaves while its replay is being read
	curl -sN --max-time "0.$((r % 4 + 1))" -H "$AUTH" \
	    -H "Last-Event-ID: $n0" "$URL$PREFIX/events" >/dev/null &
	bg_track $!
	sleep 0.1
done
# The loop answers while the readers replay.
(
	while :; do
		curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 \
		    "$URL/api/health"
		sleep 0.01
	done
) >"$T/health.codes" &
PROBE=$!
bg_track $PROBE
for w in $WRITERS; do
	wait "$w"
done
is "$(cat "$T"/w*.codes | sort | uniq -c | tr -s ' ' | tr '\n' ';')" \
    " $((W * C)) 201;" "$W writers created $C records each while the readers resume"
wait_until 90 all_seen
ok $? "every reader has the last event"
stop_pid $PROBE
is "$(sort -u "$T/health.codes" | tr '\n' ' ')" "200 " \
    "the loop answered meanwhile ($(wc -l <"$T/health.codes") requests)"

dbsql "SELECT id FROM events WHERE id > $n0 ORDER BY id" >"$T/ids.db"
is "$(wc -l <"$T/ids.db")" $((N + W * C)) "the log has every event"
for r in $(seq 1 $R); do
	kill "$(cat "$T/r$r.pid")" 2>/dev/null
done
sleep 0.5
for r in $(seq 1 $R); do
	grep '^id: ' "$T/r$r.out" | cut -c5- >"$T/ids.r$r"
	cmp -s "$T/ids.db" "$T/ids.r$r"
	ok $? "reader $r: every event of the log once, in order ($(wc -l \
	    <"$T/ids.r$r") ids, $(sort -u "$T/ids.r$r" | wc -l) different)"
done
same=0
for r in $(seq 2 $R); do
	cmp -s "$T/r1.out" "$T/r$r.out" && same=$((same + 1))
done
is "$same" $((R - 1)) "every reader got the same bytes"
is "$(grep -c '^data: {"b":' "$T/r1.out")" $N \
    "each event of the bursts carries its data"
is "$(grep -c '^event: record_created' "$T/r1.out")" $((W * C)) \
    "and each create is there"

# Streams that resume now, with nothing coming, go live at once.
sub s1 "$P/events" -H "$AUTH" -H "Last-Event-ID: $((last - 2))"
wait_events s1 2
ok $? "a stream resuming 2 events back gets them"
send POST "$P/records" '{"after":"bursts"}'
is "$STATUS" 201 "a create"
wait_events s1 3
ok $? "and then the create, live"
is "$(grep '^id: ' "$T/s1.out" | cut -c5- | tr '\n' ' ')" \
    "$((last - 1)) $last $((last + 1)) " "in order, once each"

basalt_stop
ok "$(grep -qE 'Sanitizer|runtime error:' "$T/basalt.log"; [ $? -ne 0 ]
    echo $?)" "no sanitizer report in basalt's log"

done_testing
