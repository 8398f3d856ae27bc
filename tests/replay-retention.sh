#!/bin/bash
# A retention sweep while a stream replays: a client resumes from the
# start of a long history and stops reading, so its replay waits; a
# sweep (SIGHUP after lowering event_retention_count) deletes what it has
# not been sent yet. The client must then get a `reset`, never a silent
# jump over the events it lost.

. "$top_srcdir/tests/lib.sh"

need jq node sqlite3

N=1500

basalt_config
basalt_start || bail_out "basalt serve did not start"
demo_setup

# N events of 1 KB from another process, as a long history. On
# PostgreSQL the ids come from log_head, as basalt's appends take them.
if on_pg; then
	dbsql "WITH h AS (UPDATE log_head SET last_id = last_id + $N
	    RETURNING last_id - $N AS base)
	    INSERT INTO events (id, created_ms, realm, app, collection,
	    record_id, type, data) SELECT h.base + i,
	    CAST(extract(epoch FROM now()) AS bigint) * 1000, 'acme', 'web',
	    'posts', NULL, 'tick', '\"' || repeat('x', 1000) || '\"'
	    FROM h, generate_series(1, $N) AS i" >/dev/null
else
	sqlite3 "$T/basalt.db" >/dev/null <<SQL
.timeout 5000
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO events (created_ms, realm, app, collection, record_id, type, data)
SELECT CAST(strftime('%s','now') AS INTEGER) * 1000, 'acme', 'web', 'posts',
    NULL, 'tick', '"' || printf('%.1000c', 'x') || '"' FROM n;
SQL
fi || bail_out "the insert failed"
FIRST=$(dbsql "SELECT min(id) FROM events WHERE type = 'tick'")
LAST=$(dbsql "SELECT max(id) FROM events WHERE type = 'tick'")
is "$((LAST - FIRST + 1))" "$N" "the history holds $N events"

# The peer resumes from before the first and reads nothing for 4 s.
LAST_EVENT_ID=$((FIRST - 1)) LATE_MS=4000 node "$FP" late "$BASALT_SOCK" 1 8 \
    "$PREFIX/events" "$RTOKEN" >"$T/late.out" 2>"$T/late.err" &
PEER=$!
bg_track $PEER
sleep 1.5
basalt_config event_retention_count=10
kill -HUP "$BASALT_PID"
ticks_left() { dbsql "SELECT count(*) FROM events WHERE type = 'tick'"; }
swept() { [ "$(ticks_left)" = 10 ]; }
wait_until 10 swept
ok $? "the sweep left the newest 10 events ($(ticks_left))"
wait $PEER
tail -n 1 "$T/late.out" >"$T/late.json"
jq -r '.replies[0] // "" | split("\r\n\r\n")[1:] | join("\r\n\r\n")' \
    "$T/late.json" | node "$SC" parse >"$T/late.parsed"
jq -r '.events[] | "\(.event) \(.id)"' "$T/late.parsed" >"$T/got"
GOT=$(grep -c '^tick ' "$T/got")
diag "the peer got $GOT ticks before the sweep caught up with it"
ok "$([ "$GOT" -gt 0 ] && [ "$GOT" -lt $((N - 10)) ]; echo $?)" \
    "the replay was under way when the sweep ran ($GOT of $N sent)"
# Every tick it got is the next one: no jump.
JUMPS=$(awk -v f="$FIRST" '$1 == "tick" { if ($2 != f + n) j++; n++ } END { print j + 0 }' "$T/got")
is "$JUMPS" 0 "the ticks it got are contiguous from the first"
AFTER=$(awk '$1 == "tick" { last = NR } END { print last + 0 }' "$T/got")
is "$(sed -n "$((AFTER + 1))p" "$T/got" | cut -d' ' -f1)" reset \
    "after the last tick it got, the next event is a reset"
done_testing
