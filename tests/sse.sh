#!/bin/bash
# A hostile event log: rows written into the database by another process
# (sqlite3 or psql here) with a type holding line breaks and data holding
# CR, LF and CRLF. Through lighttpd, a live stream and a resumed one must
# carry each row as one event that a client reads back (sse_frame's rules:
# a type byte outside [A-Za-z0-9_.:-] as '_', one data: line per line).

. "$top_srcdir/tests/lib.sh"

need lighttpd sqlite3

demo_start

# hex TEXT: TEXT's bytes in hex.
hex() {
	printf '%s' "$1" | od -An -tx1 | tr -d ' \n'
}

# insert TYPE DATA: one event row of acme/web/posts, as another process
# (on PostgreSQL with its id from log_head, as basalt's appends take it).
insert() {
	if on_pg; then
		dbsql "WITH h AS (UPDATE log_head SET last_id = last_id + 1
		    RETURNING last_id) INSERT INTO events (id, created_ms, realm,
		    app, collection, record_id, type, data) SELECT h.last_id,
		    CAST(extract(epoch FROM now()) AS bigint) * 1000, 'acme',
		    'web', 'posts', NULL,
		    convert_from(decode('$(hex "$1")', 'hex'), 'UTF8'),
		    convert_from(decode('$(hex "$2")', 'hex'), 'UTF8') FROM h"
	else
		sqlite3 -cmd ".timeout 5000" "$T/basalt.db" "INSERT INTO events
		    (created_ms, realm, app, collection, record_id, type, data)
		    VALUES (CAST(strftime('%s','now') AS INTEGER) * 1000, 'acme',
		    'web', 'posts', NULL, CAST(X'$(hex "$1")' AS TEXT),
		    CAST(X'$(hex "$2")' AS TEXT))"
	fi
}

# The live stream, open before the rows are written.
curl -sN --max-time 4 -H "$AUTH" -H "Last-Event-ID: 0" \
    "$B/collections/posts/events" >"$T/live" 2>/dev/null &
live=$!
sleep 1
insert $'x\ndata: forged\n\nevent: y' '{"a":1}'
insert 'ok' $'line1\r\nline2\rline3\nline4'
insert 'ok2' '{"b":2}'
wait $live
curl -sN --max-time 2 -H "$AUTH" -H "Last-Event-ID: 0" \
    "$B/collections/posts/events" >"$T/resumed" 2>/dev/null

f1=$'id: 1\nevent: x_data:_forged__event:_y\ndata: {"a":1}\n\n'
f2=$'id: 2\nevent: ok\ndata: line1\ndata: line2\ndata: line3\ndata: line4\n\n'
f3=$'id: 3\nevent: ok2\ndata: {"b":2}\n\n'
for s in live resumed; do
	out=$(cat "$T/$s"; echo .)
	[[ $out == *"$f3"* ]]
	ok $? "$s: an ordinary event after the hostile rows arrives" ||
	    diag "$(od -c "$T/$s" | tail -n 20)"
	[[ $out != *$'\nevent: y\n'* && $out != *$'\ndata: forged\n'* ]]
	ok $? "$s: a type with line breaks forges no field"
	[[ $out == *"$f1"* ]]
	ok $? "$s: that type is sent sanitised"
	[[ $out == *"$f2"* ]]
	ok $? "$s: data with CR, LF, CRLF is one data: line per line"
done

done_testing
