#!/bin/bash
# End-to-end test of basalt backup and restore through lighttpd: a backup
# taken under a write load holds exactly the records its event id covers;
# after a restore, event ids go on past every id given before, and a
# client resuming with an id the restored log does not hold gets a reset
# (unknown_event_id), before and after new writes. A restore is refused
# while basalt runs, a backup will not overwrite a file unless told, and
# a database of the previous schema version is backed up as it is.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq sqlite3

# records_all: every record of acme/web/posts, one JSON object a line,
# sorted keys, in id order (paged through with after=).
records_all() {
	local after= url
	while :; do
		url="$P/records?limit=500${after:+&after=$after}"
		get "$url"
		[ "$STATUS" = 200 ] || { echo "list: $STATUS"; return 1; }
		jq -S -c '.items[]' <<<"$BODY"
		after=$(jbody '.next // empty')
		[ -n "$after" ] || return 0
	done
}
# first_event ID: "event:reason" of the first event a client resuming
# from ID gets within 2 s ("event:" when it is no reset).
first_event() {
	curl -sN --max-time 2 -H "$AUTH" -H "Last-Event-ID: $1" \
	    "$P/events" 2>/dev/null | awk '
	    /^event: / && ev == "" { ev = $2 }
	    /^data: / && ev != "" { sub(/^data: /, ""); print ev ":" $0; exit }' |
	    { IFS= read -r l; ev=${l%%:*}; d=${l#*:}
	      echo "$ev:$(jq -r '.reason // empty' <<<"$d" 2>/dev/null)"; }
}
# replay ID: the ids of the events a client resuming from ID gets in 2 s.
replay() {
	curl -sN --max-time 2 -H "$AUTH" -H "Last-Event-ID: $1" \
	    "$P/events" 2>/dev/null | awk '/^id: / { print $2 }' | tr '\n' ' '
}

demo_start

# ======================================================================
# backup never overwrites a file unless told
# ======================================================================
echo keep >"$T/exists.db"
basalt_cli backup "$T/exists.db" >/dev/null 2>"$T/err"
is "$?|$(cat "$T/exists.db")" "1|keep" "backup: an existing file is refused and left as it was"
like "$(cat "$T/err")" 'exists \(--force replaces it\)' "backup: ... saying --force replaces it"
BID=$(basalt_cli backup "$T/exists.db" --force 2>/dev/null)
is "$?|$(sqlite3 "$T/exists.db" 'SELECT count(*) FROM collections')" "0|1" \
    "backup: --force replaces it with a copy of the database"
is "$(stat -c %a "$T/exists.db")" 600 "backup: the copy is readable by its owner only"
basalt_cli backup "$T/basalt.db" --force >/dev/null 2>"$T/err"
is "$?|$(cat "$T/err")" "1|basalt: $T/basalt.db is the database itself" \
    "backup: --force never replaces the database itself"

# ======================================================================
# a backup under a write load
# ======================================================================
# 20 MB of records in another collection: the copy takes several steps
basalt_cli collection create acme web bulk || bail_out "CLI failed"
sqlite3 "$T/basalt.db" "PRAGMA busy_timeout = 5000;
    INSERT INTO records SELECT c.id, printf('bulk%05d', n),
    json_object('pad', hex(randomblob(2000))), 'x', 'x'
    FROM collections c, (WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL
    SELECT n + 1 FROM s WHERE n < 5000) SELECT n FROM s)
    WHERE c.name = 'bulk'" >/dev/null || bail_out "no bulk records"
load() {
	local i=0
	while [ ! -e "$T/stop" ]; do
		i=$((i + 1))
		curl -s -o /dev/null -H "$AUTH" -H "$J" \
		    -d "{\"n\":$i,\"loop\":$1}" "$P/records"
	done
}
posts() {
	sqlite3 "$T/basalt.db" "PRAGMA busy_timeout = 5000; SELECT count(*)
	    FROM records JOIN collections c ON c.id = collection_id
	    WHERE c.name = 'posts'" | tail -n 1
}
load 1 &
LOAD1=$!
load 2 &
LOAD2=$!
bg_track "$LOAD1"
bg_track "$LOAD2"
wait_until 20 eval '[ "$(posts)" -ge 100 ]' ||
    bail_out "the write load did not start"
BEFORE=$(posts)
BID=$(basalt_cli backup "$T/b.db" 2>"$T/err")
ok $? "load: backup under a write load succeeds"
AFTER=$(posts)
like "$BID" '^[0-9]+$' "load: backup prints the event id it holds up to ($BID)"
like "$(cat "$T/err")" "event id $BID \\(schema version [0-9]+\\)" \
    "load: ... and says so with the schema version"
# the load goes on after the backup
wait_until 20 eval '[ "$(posts)" -ge $((AFTER + 50)) ]'
ok $? "load: writes went on during and after the backup ($BEFORE, then $AFTER records)"
touch "$T/stop"
wait "$LOAD1" "$LOAD2"

is "$(sqlite3 "$T/b.db" 'PRAGMA journal_mode; PRAGMA quick_check' | tr '\n' ' ')" \
    "delete ok " "load: the copy is one self-contained, intact file"
HEAD=$(get "$P/records?limit=1" && jbody .event_id)
[ "$HEAD" -gt "$BID" ] || bail_out "no events after the backup ($HEAD <= $BID)"

# the records as of BID, from the log (the load only creates)
curl -sN --max-time 3 -H "$AUTH" -H "Last-Event-ID: 0" "$P/events" |
    awk -v max="$BID" '/^id: / { id = $2 } /^event: / { ev = $2 }
	/^data: / && ev == "record_created" && id <= max {
	    sub(/^data: /, ""); print }' |
    jq -S -c '{id, collection, fields, created_at, updated_at}' |
    sort >"$T/expected"
N=$(wc -l <"$T/expected")
[ "$N" -ge 100 ] || bail_out "the log holds $N creates up to $BID"

# ======================================================================
# restore: refused while basalt runs
# ======================================================================
basalt_cli restore "$T/b.db" >/dev/null 2>"$T/err"
is "$?" 1 "restore: refused while basalt runs"
like "$(cat "$T/err")" 'is in use: stop every basalt on it first' "restore: ... saying why"
is "$(get "$P/records?limit=1" && jbody .event_id)" "$HEAD" \
    "restore: the refused restore changed nothing"

basalt_stop
basalt_cli restore "$T/b.db" 2>"$T/err"
ok $? "restore: with basalt stopped, the restore succeeds"
like "$(cat "$T/err")" "ids $((BID + 1)) to $HEAD are not in the restored log" \
    "restore: it says which ids the restored log does not hold"
basalt_start || bail_out "basalt did not start after the restore"

# ======================================================================
# the restored records: exactly those of event id BID
# ======================================================================
# (the log is in commit order, lists in id order: two loops' ids are
# made on workers and commit in either order, so both sides are sorted)
records_all | sort >"$T/restored"
is "$(wc -l <"$T/restored")" "$N" "records: as many as the log held at $BID ($N)"
cmp -s "$T/expected" "$T/restored"
ok $? "records: each restored record is the one created up to $BID, byte for byte" ||
    diag "$(diff "$T/expected" "$T/restored" | head -n 5)"
is "$(sqlite3 "$T/basalt.db" "SELECT count(*), sum(length(fields)) FROM records
    WHERE id GLOB 'bulk*'")" "5000|$((5000 * 4010))" "records: the 20 MB of the other collection too"
is "$(get "$P/records?limit=1" && jbody .event_id)" "$((HEAD + 1))" \
    "records: the list's event_id is past the old head ($HEAD)"

# ======================================================================
# event ids after a restore
# ======================================================================
MID=$((BID + (HEAD - BID + 1) / 2))
is "$(first_event "$HEAD")" "reset:unknown_event_id" \
    "ids: resuming from the old head ($HEAD) gets reset unknown_event_id"
is "$(first_event "$((BID + 1))")" "reset:unknown_event_id" \
    "ids: ... and from the first id past the backup's ($((BID + 1)))"
is "$(first_event "$MID")" "reset:unknown_event_id" "ids: ... and from one between ($MID)"
is "$(replay "$BID")" "" "ids: resuming from the backup's last id ($BID) gets no reset"
is "$(replay "$((BID - 2))")" "$((BID - 1)) $BID " \
    "ids: resuming from an id before it replays the restored events"
RESET_ID=$(curl -sN --max-time 2 -H "$AUTH" -H "Last-Event-ID: $HEAD" \
    "$P/events" | sed -n 's/^data: //p' | head -n 1 | jq -r .last_event_id)
is "$(replay "$RESET_ID")" "" "ids: resuming from the reset's id ($RESET_ID) is no reset"

sub live "$P/events" -H "$AUTH"
wait_sub live || bail_out "no stream"
send POST "$P/records" '{"after":"restore"}'
is "$STATUS" 201 "ids: a record is created after the restore"
wait_events live 1
NEW=$(awk '/^id: / { print $2 }' "$T/live.out")
[ "$NEW" -gt "$HEAD" ] 2>/dev/null
ok $? "ids: its event id ($NEW) is past every id given before ($HEAD)"
[ "$NEW" -gt "$MID" ] || bail_out "new ids did not pass $MID"
is "$(first_event "$MID")" "reset:unknown_event_id" \
    "ids: after new writes past it, $MID still gets reset unknown_event_id"
is "$(first_event "$HEAD")" "reset:unknown_event_id" "ids: ... and so does $HEAD"
is "$(replay "$BID")" "$NEW " "ids: from $BID, the new event alone"

# ======================================================================
# a restore again: the ids of both restores stay unknown
# ======================================================================
basalt_stop
basalt_cli backup "$T/b2.db" >/dev/null 2>&1
basalt_cli restore "$T/b.db" 2>/dev/null
ok $? "again: the first backup restored a second time"
basalt_start || bail_out "basalt did not restart"
is "$(first_event "$NEW")" "reset:unknown_event_id" \
    "again: the id given between the restores gets a reset"
is "$(first_event "$MID")" "reset:unknown_event_id" "again: so does one of the first gap"
basalt_stop
basalt_cli restore "$T/b2.db" 2>/dev/null
basalt_start || bail_out "basalt did not restart"
is "$(replay "$BID")" "$NEW " "again: restoring the later backup, $NEW is known again"
is "$(first_event "$MID")" "reset:unknown_event_id" \
    "again: its own gap ($MID) comes back with it"

# ======================================================================
# copies that are no basalt database, or of another schema version
# ======================================================================
basalt_stop
CUR=$(sed -n 's/^#define SCHEMA_VERSION[[:space:]]*//p' "$top_srcdir/src/store.c")
sqlite3 "$T/plain.db" 'CREATE TABLE t (x)'
basalt_cli restore "$T/plain.db" 2>"$T/err"
is "$?|$(cat "$T/err")" "1|basalt: $T/plain.db is not a basalt database" \
    "check: a database that is not basalt's is refused"
cp "$T/b.db" "$T/new.db"
sqlite3 "$T/new.db" "PRAGMA user_version = $((CUR + 1))"
basalt_cli restore "$T/new.db" 2>"$T/err"
is "$?|$(cat "$T/err")" "1|basalt: $T/new.db has schema version $((CUR + 1)); this basalt opens versions 1 to $CUR" \
    "check: a newer schema version is refused"
basalt_cli restore "$T/missing.db" 2>/dev/null
is "$?" 1 "check: a missing file is refused"
basalt_start || bail_out "basalt did not restart"
is "$(replay "$BID")" "$NEW " "check: the refused restores left the database as it was"
basalt_stop

# The previous schema version: a copy of the database taken back to it.
PREV=$((CUR - 1))
LAST=$(sqlite3 "$T/basalt.db" "SELECT seq FROM sqlite_sequence WHERE name = 'events'")
# What each version added, undone (store.c's schema_vN): a new version
# adds its step here.
case $CUR in
6)	DOWN='DROP TABLE jwt_settings; DROP TABLE jwt_keys;
	    DROP TABLE collection_rules;' ;;
*)	bail_out "tests/backup.sh does not know how to undo schema version $CUR" ;;
esac
sqlite3 "$T/basalt.db" ".backup '$T/prev.db'"
sqlite3 "$T/prev.db" "$DOWN PRAGMA user_version = $PREV"
PID_=$(basalt_cli --db "$T/prev.db" backup "$T/prev-b.db" 2>"$T/err")
is "$?|$PID_" "0|$LAST" "previous: a version $PREV database is backed up"
is "$(sqlite3 "$T/prev-b.db" 'PRAGMA user_version')|$(sqlite3 "$T/prev.db" 'PRAGMA user_version')" \
    "$PREV|$PREV" "previous: the copy and the database stay at version $PREV"
mkdir "$T/fresh"
"$BASALT" -c "$T/basalt.conf" --db "$T/fresh/basalt.db" restore "$T/prev-b.db" 2>"$T/err"
ok $? "previous: its copy restores into a fresh location"
is "$(sqlite3 "$T/fresh/basalt.db" 'PRAGMA user_version')|$(sqlite3 "$T/fresh/basalt.db" "SELECT count(*) FROM records")" \
    "$CUR|$((N + 5001))" "previous: upgraded to version $CUR, with every record"
is "$(sqlite3 "$T/fresh/basalt.db" "SELECT seq FROM sqlite_sequence WHERE name = 'events'")" \
    "$LAST" "previous: a fresh location goes on from the backup's last id"

done_testing
