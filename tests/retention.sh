#!/bin/bash
# End-to-end test of event retention per app through lighttpd: one app's
# burst of events never prunes another app's history; an app's own
# overflow gives its resuming streams a reset, exactly when events after
# their Last-Event-ID are gone; the upgrade of a version 1 database.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq sqlite3

# publish URL TOKEN N: N custom events; their ids go to $T/published.
publish() {
	local i
	: >"$T/published"
	for i in $(seq 1 "$3"); do
		curl -s -H "Authorization: Bearer $2" -H "$J" \
		    -d "{\"type\":\"tick\",\"payload\":$i}" "$1" |
		    jq -r .id >>"$T/published"
	done
}
# resume URL TOKEN ID: what a client resuming from ID gets in 2 s, as
# "event:id" words ("reset:..." first when it got a reset).
resume() {
	curl -sN --max-time "${RESUME_SECS:-2}" -H "Authorization: Bearer $2" \
	    -H "Last-Event-ID: $3" "$1" 2>/dev/null |
	    awk '/^id: / { id = $2 } /^event: / { printf "%s%s:%s", sep, $2, id; sep = " " }'
}
# ticks ID...: the words resume prints for these tick events.
ticks() {
	local id sep=
	for id in "$@"; do
		printf '%s%s' "$sep" "tick:$id"
		sep=' '
	done
}
got_reset() { [[ $(RESUME_SECS=1 resume "$@") == reset:* ]]; }
# restart: retention sweeps at start (and every minute, and on SIGHUP).
restart() {
	basalt_stop
	basalt_start || bail_out "basalt did not restart"
}

demo_start event_retention_count=5
basalt_cli realm create other && basalt_cli app create other burst &&
    basalt_cli collection create other burst c || bail_out "CLI failed"
TOKEN_B=$(basalt_cli token create other burst --scope read,write)
EA=$B/collections/posts/events
EB=$URL/api/realms/other/apps/burst/collections/c/events

# ======================================================================
# Another app's burst past the count keeps this app's history
# ======================================================================
publish "$EA" "$TOKEN" 3
mapfile -t A <"$T/published"
publish "$EB" "$TOKEN_B" 12
mapfile -t BB <"$T/published"
restart
wait_until 15 got_reset "$EB" "$TOKEN_B" "${BB[0]}"
ok $? "burst: app B's 12 events past a count of 5 give B's old ids a reset"
is "$(resume "$EA" "$TOKEN" "${A[0]}")" "$(ticks "${A[1]}" "${A[2]}")" \
    "burst: app A resumes from its first event without reset"
is "$(resume "$EA" "$TOKEN" 0)" "$(ticks "${A[@]}")" \
    "burst: app A's whole history is still there"
is "$(resume "$EB" "$TOKEN_B" "${BB[6]}")" "$(ticks "${BB[@]:7}")" \
    "burst: B resumes without reset from its newest pruned event"
like "$(resume "$EB" "$TOKEN_B" "${BB[5]}")" '^reset:[0-9]+$' \
    "burst: B gets a reset, then nothing older, from one event earlier"
RESET=$(curl -sN --max-time 2 -H "Authorization: Bearer $TOKEN_B" \
    -H "Last-Event-ID: ${BB[0]}" "$EB" | sed -n 's/^data: //p' | head -n 1)
is "$(jq -r .reason <<<"$RESET")" events_pruned "burst: the reset's reason is events_pruned"

# ======================================================================
# An app's own overflow resets its streams, exactly
# ======================================================================
publish "$EA" "$TOKEN" 5
mapfile -t A2 <"$T/published"
kill -HUP "$BASALT_PID"
wait_until 15 got_reset "$EA" "$TOKEN" "${A[1]}"
ok $? "overflow: A's own 8 events past 5 give a reset from its second event" \
    "(SIGHUP sweeps at once)"
is "$(resume "$EA" "$TOKEN" "${A[2]}")" "$(ticks "${A2[@]}")" \
    "overflow: from its last pruned event A resumes without reset"
like "$(resume "$EA" "$TOKEN" "${A[0]}")" '^reset:[0-9]+$' \
    "overflow: from its first event A gets a reset"
is "$(resume "$EB" "$TOKEN_B" "${BB[6]}")" "$(ticks "${BB[@]:7}")" \
    "overflow: A's pruning leaves B's stream as it was"

basalt_stop
is "$(dbsql "SELECT realm || '/' || app || '=' || events \
    FROM app_log ORDER BY realm, app" | tr '\n' ' ')" "acme/web=5 other/burst=5 " \
    "counts: each app keeps 5 events in the log"
is "$(dbsql 'SELECT count(*) FROM events')" 10 \
    "counts: 10 events in all (2 apps x 5)"

# ======================================================================
# Age: every app's old events go, each app marked
# ======================================================================
basalt_config event_retention_seconds=1
basalt_start || bail_out "basalt did not restart"
sleep 1.2
kill -HUP "$BASALT_PID"
wait_until 15 eval '[ "$(dbsql "SELECT count(*) FROM events")" = 0 ]'
ok $? "age: events older than event_retention_seconds are deleted"
like "$(resume "$EA" "$TOKEN" "${A[2]}")" '^reset:[0-9]+$' "age: A gets a reset"
like "$(resume "$EB" "$TOKEN_B" "${BB[6]}")" '^reset:[0-9]+$' "age: B gets a reset"
is "$(resume "$EA" "$TOKEN" "${A2[4]}")" "" \
    "age: from A's newest id, nothing lost and nothing to send"
basalt_stop

# ======================================================================
# A version 1 database: upgraded in place, nothing lost
# ======================================================================
# SQLite's own history: PostgreSQL's schema starts at version 7, so on
# the PostgreSQL leg too this part runs on an SQLite file.
# The schema that basalt 0.1 (version 1) created, as it shipped.
V1=$T/v1.db
sqlite3 "$V1" >/dev/null <<'EOF'
CREATE TABLE realms ( id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);CREATE TABLE apps ( id INTEGER PRIMARY KEY, realm_id INTEGER NOT NULL REFERENCES realms(id) ON DELETE CASCADE, name TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (realm_id, name));CREATE TABLE collections ( id INTEGER PRIMARY KEY, app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE, name TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (app_id, name));CREATE TABLE records ( collection_id INTEGER NOT NULL  REFERENCES collections(id) ON DELETE CASCADE, id TEXT NOT NULL, fields TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (collection_id, id)) WITHOUT ROWID;CREATE TABLE events ( id INTEGER PRIMARY KEY AUTOINCREMENT, created_ms INTEGER NOT NULL, realm TEXT NOT NULL, app TEXT NOT NULL, collection TEXT NOT NULL, record_id TEXT, type TEXT NOT NULL, data TEXT NOT NULL);CREATE TABLE tokens ( id TEXT PRIMARY KEY, app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE, hash TEXT NOT NULL UNIQUE, scopes INTEGER NOT NULL, label TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL DEFAULT 0, revoked_at INTEGER NOT NULL DEFAULT 0);CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);INSERT INTO meta (key, value) VALUES ('pruned_through', 0);
PRAGMA user_version = 1;
PRAGMA journal_mode = WAL;
INSERT INTO realms VALUES (1, 'acme', '2026-11-01T00:00:00.000Z');
INSERT INTO apps VALUES (1, 1, 'web', '2026-11-01T00:00:00.000Z'),
    (2, 1, 'two', '2026-11-01T00:00:00.000Z');
INSERT INTO collections VALUES (1, 1, 'posts', '2026-11-01T00:00:00.000Z'),
    (2, 2, 'c', '2026-11-01T00:00:00.000Z');
INSERT INTO records VALUES (1, '01JDV1AAAAAAAAAAAAAAAAAAAA', '{"v":1}',
    '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z');
-- version 1 pruned ids 1 to 3 (of apps it did not record)
WITH RECURSIVE n(value) AS (SELECT 4 UNION ALL SELECT value + 1 FROM n
    WHERE value < 12)
INSERT INTO events (id, created_ms, realm, app, collection, record_id, type, data)
    SELECT value, strftime('%s', 'now') * 1000, 'acme',
    CASE WHEN value % 2 THEN 'web' ELSE 'two' END,
    CASE WHEN value % 2 THEN 'posts' ELSE 'c' END, NULL, 'tick', value
    FROM n;
UPDATE meta SET value = 3 WHERE key = 'pruned_through';
EOF
[ "$(sqlite3 "$V1" 'PRAGMA user_version')" = 1 ] || bail_out "no v1 database"
is "$(sed -n '/^static const char \*schema_v1 =/,/;";$/p' "$top_srcdir/src/store.c" |
    sed '1d; s/^ *"//; s/"[;]*$//' | tr -d '\n')" \
    "$(sed -n '/^CREATE TABLE realms/p' "$0" | tr -d '\n')" \
    "v1: the schema above is store.c's version 1 text"
TOKEN_V1=$("$BASALT" -c "$T/basalt.conf" --db "$V1" token create acme web \
    --scope read,write)
CUR=$(sed -n 's/^#define SCHEMA_VERSION[[:space:]]*//p' "$top_srcdir/src/store.c")
is "$(sqlite3 "$V1" 'PRAGMA user_version')" "$CUR" "v1: the database is now version $CUR, the current one"
is "$(sqlite3 "$V1" "SELECT app || '=' || events || '/' || pruned_through \
    FROM app_log ORDER BY app" | tr '\n' ' ')" "two=5/0 web=4/0 " \
    "v1: each app's events are counted"
basalt_config event_retention_count=5 "database=$V1"
basalt_start || bail_out "basalt did not start on the upgraded database"
AV1="Authorization: Bearer $TOKEN_V1"
http GET "$B/collections/posts/records/01JDV1AAAAAAAAAAAAAAAAAAAA" -H "$AV1"
is "$STATUS $(jq -c .fields <<<"$BODY")" '200 {"v":1}' "v1: records are kept"
is "$(resume "$EA" "$TOKEN_V1" 5)" "$(ticks 7 9 11)" \
    "v1: events are kept; a resume after what version 1 pruned replays"
like "$(resume "$EA" "$TOKEN_V1" 2)" '^reset:[0-9]+$' \
    "v1: a resume from before what version 1 pruned gets a reset"
publish "$EA" "$TOKEN_V1" 1
is "$(cat "$T/published")" 13 "v1: new events go on after the old ids"
basalt_stop
is "$(sqlite3 "$V1" "SELECT events FROM app_log WHERE app = 'web'")" 5 \
    "v1: new events are counted"

done_testing
