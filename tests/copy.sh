#!/bin/bash
# basalt copy: SQLite to PostgreSQL and back. The copy holds the same
# records, tokens, indexes and event log, with the same ids, so a client
# that took an event id before the copy resumes on the copy with exactly
# the events after it; new events get ids past the copied head, even when
# the last events were deleted from the log. A destination that holds
# anything is refused and left as it was.

. "$top_srcdir/tests/lib.sh"

need lighttpd curl jq node sqlite3 psql
pg_available || skip_all "PostgreSQL is not installed"
BASALT_TEST_DB= pg_start || bail_out "no PostgreSQL server"

# ---------------------------------------------------------------- SQLite
demo_start
basalt_cli index create acme web posts fields.n >/dev/null
for i in 1 2 3 4 5; do
	send POST "$P/records" "{\"n\":$i}"
done
send POST "$P/events" '{"type":"chat","payload":{"text":"hi"}}'
MID=$(jbody .id)
like "$MID" '^[0-9]+$' "SQLite: a custom event, id $MID"
for i in 6 7 8; do
	send POST "$P/records" "{\"n\":$i}"
	R=$(jbody .id)
done
send PATCH "$P/records/$R" '{"n":80}'
http DELETE "$P/records/$R" -H "$AUTH"
send POST "$P/events" '{"type":"chat","payload":{"text":"last"}}'
HEAD=$(jbody .id)
get "$P/records?limit=100"
LIST=$BODY
get "$P/records?filter=fields.n%20%3E%3D%203&sort=-fields.n"
FILTERED=$(jnorm "$BODY")
is "$(jbody '[.items[].fields.n] | join(" ")')" "7 6 5 4 3" \
    "SQLite: a filtered, sorted list"
# The head past the last event kept: the last event deleted from the log.
basalt_stop
sqlite3 "$T/basalt.db" "DELETE FROM events WHERE id = $HEAD"
SEVENTS=$(sqlite3 "$T/basalt.db" "SELECT id, type, record_id, data FROM events ORDER BY id")

# ------------------------------------------------- SQLite to PostgreSQL
out=$("$BASALT" copy "$T/basalt.db" "$PG_URL" 2>"$T/copy.err")
is "$?/$out" "0/$HEAD" "copy to PostgreSQL: exit 0, the head ($HEAD) on stdout"
like "$(cat "$T/copy.err")" "copied 7 records, $((HEAD - 1)) events" \
    "copy to PostgreSQL: says what it copied"
PEVENTS=$(psql -X -q -At "$PG_URL" -c "SELECT id, type, record_id, data FROM events ORDER BY id")
is "$PEVENTS" "$SEVENTS" "copy to PostgreSQL: the event log row for row, ids kept"

"$BASALT" copy "$T/basalt.db" "$PG_URL" 2>"$T/copy2.err"
is $? 1 "copy into a database that holds data: exit 1"
like "$(cat "$T/copy2.err")" "not empty" "copy into a database that holds data: says why"
is "$(psql -X -q -At "$PG_URL" -c "SELECT count(*) FROM events")" \
    "$((HEAD - 1))" "copy refused: the destination is as it was"
"$BASALT" copy "$T/basalt.db" "$T/basalt.db" 2>/dev/null
is $? 1 "copy onto itself: exit 1"

"$BASALT" --db "$PG_URL" backup "$T/pg-backup.db" 2>"$T/backup.err"
is $? 1 "basalt backup of a PostgreSQL database: exit 1"
like "$(cat "$T/backup.err")" "pg_dump" "basalt backup of a PostgreSQL database: names PostgreSQL's tools"
ok "$([ ! -e "$T/pg-backup.db" ]; echo $?)" "basalt backup of a PostgreSQL database: no file made"

basalt_config "database=$PG_URL"
basalt_start || bail_out "basalt did not start on PostgreSQL"
get "$P/records?limit=100"
is "$BODY" "$LIST" "PostgreSQL: the records, byte for byte, the same token"
get "$P/records?filter=fields.n%20%3E%3D%203&sort=-fields.n"
is "$(jnorm "$BODY")" "$FILTERED" "PostgreSQL: the filtered, sorted list is the same"
is "$(basalt_cli index list acme web posts)" "fields.n" \
    "PostgreSQL: the index is listed"
like "$(psql -X -q -At "$PG_URL" -c "SELECT indexdef FROM pg_indexes WHERE indexname LIKE 'records_field_%'")" \
    'CREATE INDEX records_field_' "PostgreSQL: the index was made in PostgreSQL's dialect"

# Resume from an id taken before the copy: the events after it, then live.
sub r1 "$P/events" -H "$AUTH" -H "Last-Event-ID: $MID"
wait_sub r1
send POST "$P/records" '{"n":9}'
wait_until 5 grep -q '"n":9' "$T/r1.out"
unsub r1
want=$(sqlite3 "$T/basalt.db" "SELECT group_concat(id, ' ') FROM (SELECT id FROM events WHERE id > $MID AND collection = 'posts' ORDER BY id)")
got=$(q r1 '[.events[].id] | join(" ")')
NEW1=$(q r1 '.events[-1].id')
is "$got" "$want $NEW1" "PostgreSQL: resuming from $MID gets the copied events after it, then the live one"
ok "$([ "$NEW1" -gt "$HEAD" ] && echo 0 || echo 1)" \
    "PostgreSQL: the new event's id ($NEW1) is past the copied head ($HEAD)"
send POST "$P/events" '{"type":"chat","payload":{"text":"on pg"}}'
PGHEAD=$(jbody .id)
basalt_stop

# ------------------------------------------------- PostgreSQL to SQLite
out=$("$BASALT" copy "$PG_URL" "$T/back.db" 2>"$T/copy3.err")
is "$?/$out" "0/$PGHEAD" "copy back to SQLite: exit 0, PostgreSQL's head ($PGHEAD)"
is "$(sqlite3 "$T/back.db" "SELECT id, type, record_id, data FROM events ORDER BY id")" \
    "$(psql -X -q -At "$PG_URL" -c "SELECT id, type, record_id, data FROM events ORDER BY id")" \
    "copy back to SQLite: the event log row for row"
basalt_config "database=$T/back.db"
basalt_start || bail_out "basalt did not start on the copy"
get "$P/records?limit=100"
is "$(jbody '.items | length')" 8 "SQLite copy: the 8 records"
sub r2 "$P/events" -H "$AUTH" -H "Last-Event-ID: $MID"
wait_sub r2
send POST "$P/records" '{"n":10}'
wait_until 5 grep -q '"n":10' "$T/r2.out"
unsub r2
NEW2=$(q r2 '.events[-1].id')
is "$(q r2 '[.events[:-1][].id] | join(" ")')" "$got $PGHEAD" \
    "SQLite copy: resuming from $MID gets the same events as on PostgreSQL, and its last"
ok "$([ "$NEW2" -gt "$PGHEAD" ] && echo 0 || echo 1)" \
    "SQLite copy: the new event's id ($NEW2) is past PostgreSQL's head ($PGHEAD)"
basalt_stop

done_testing
