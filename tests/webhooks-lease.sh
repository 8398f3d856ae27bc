#!/bin/bash
# A webhook's lease runs webhook_timeout_ms plus 5 s from the start of
# the request it covers. Here the statement that takes it waits on the
# database's lock, held by another process's write for longer than the
# lease lasts: the lease it takes counts from before the wait and has run
# out already. Sent on such a lease, a request is in flight while a second
# process, started then, takes the lease over and sends the same events:
# the receiver gets them twice, at the same time. The process waits for a
# lease it takes at once, and sends nothing until it has one.

. "$top_srcdir/tests/lib.sh"

need lighttpd curl jq node
if on_pg; then need psql; else need sqlite3; fi

receiver_start

# A lease lasts 4 s plus 5 s; the lock below is held 12 s, and the
# statement that takes a lease waits up to 30 s for it.
demo_start webhook_allow_private=yes webhook_timeout_ms=4000 \
    webhook_max_failures=100 busy_timeout_ms=30000
PID1=$BASALT_PID

control() {
	curl -s -X POST "$RURL/control?$1" >/dev/null
}

db() {
	if on_pg; then
		dbsql "$@"
	else
		sqlite3 -cmd '.timeout 30000' "$T/basalt.db" "$@"
	fi
}

lease() {
	db "SELECT $1 FROM webhooks WHERE id = '$W'"
}

held() {
	[ -n "$(lease lease_holder)" ]
}

W=$(basalt_cli webhook create acme web "$RURL/hook" --collections posts \
    --secret-file "$T/hook.secret") || bail_out "webhook create failed"
wait_until 10 held || bail_out "no process took the webhook's lease"
like "$(lease lease_holder)" "^$PID1:" "the first process holds the lease"

# Each request takes 3 s to answer.
control delay=3000

# Another process writes an event and holds the lock 12 s before its
# commit; the first process's scans wait on it to renew the lease.
# (SQLite's lock is the database's; on PostgreSQL it is the webhook's row,
# which the lease's UPDATE waits for, and the log's head, which the
# event's id comes from.)
LOCKED=$(date +%s%3N)
if on_pg; then
	{
		echo 'BEGIN;'
		echo "SELECT 1 FROM webhooks WHERE id = '$W' FOR UPDATE;"
		echo "WITH h AS (UPDATE log_head SET last_id = last_id + 1
		    RETURNING last_id) INSERT INTO events (id, created_ms,
		    realm, app, collection, record_id, type, data)
		    SELECT h.last_id, $LOCKED, 'acme', 'web', 'posts', NULL,
		    'ping', '{\"n\":1}' FROM h;"
		echo 'SELECT pg_sleep(12);'
		echo 'COMMIT;'
	} | psql -X -q -At -v ON_ERROR_STOP=1 "$PG_URL" >/dev/null &
	LOCKER=$!
	lease_waits() {
		[ "$(dbsql "SELECT count(*) FROM pg_stat_activity
		    WHERE wait_event_type = 'Lock'
		    AND query LIKE 'UPDATE webhooks SET lease_holder%'")" -ge 1 ]
	}
	wait_until 11 lease_waits
	ok $? "the statement that takes the lease waits on the locked row"
	wait "$LOCKER"
else
	{
		echo 'BEGIN IMMEDIATE;'
		echo "INSERT INTO events (created_ms, realm, app, collection,
		    record_id, type, data) VALUES ($LOCKED, 'acme', 'web',
		    'posts', NULL, 'ping', '{\"n\":1}');"
		echo '.shell sleep 12'
		echo 'COMMIT;'
	} | sqlite3 -cmd '.timeout 10000' "$T/basalt.db"
fi
is $? 0 "another process held the lock 12 s and wrote an event"
EV=$(db "SELECT max(id) FROM events")

started() {
	[ -n "$(jq -c --arg w "$W" 'select(.start and .webhook == $w)' \
	    "$LOG")" ]
}
wait_until 10 started || bail_out "no request started"
STARTED=$(date +%s%3N)

# A second process comes up while that request is in flight.
basalt_start --listen "$T/basalt2.sock" ||
	bail_out "a second basalt did not start"
PID2=$BASALT_PID
diag "the second process started $(($(date +%s%3N) - STARTED)) ms" \
    "after the first request"

answered() {
	[ "$(jq -c --arg w "$W" 'select(.status == 200 and
	    .webhook == $w)' "$LOG" | wc -l)" -ge 1 ]
}
wait_until 15 answered || bail_out "no request was answered"
# time for a second process's request to begin and be answered
sleep 5

REQS=$(jq -c --arg w "$W" 'select(.start == null and .webhook == $w)' \
    "$LOG" | jq -s -c 'sort_by(.t0)')
diag "requests: $(jq -c '[.[] | {ids, t0, t1}]' <<<"$REQS")"
is "$(jq -c '[.[] | .ids[]]' <<<"$REQS")" "[$EV]" \
    "the event reached the receiver once"
is "$(jq '[.[1:], .[:-1]] | transpose | map(.[0].t0 >= .[1].t1) | all' \
    <<<"$REQS")" true \
    "one request at a time: none began before the one before was answered"
is "$(jq '[.[] | .sig and .status == 200] | all' <<<"$REQS")" true \
    "signed and answered 200"
like "$(lease lease_holder)" "^$PID1:" \
    "the first process holds the lease still"
is "$(lease cursor)" "$EV" "the webhook's cursor is at the event"

basalt_stop "$PID2"
is $? 0 "the second process exits cleanly"
basalt_stop "$PID1"
is $? 0 "the first process exits cleanly"

done_testing
