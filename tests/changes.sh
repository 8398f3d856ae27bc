#!/bin/bash
# The app's change feed, through lighttpd: an NDJSON export of every
# event of the app, in pages, then ?since= from its last id, is the log;
# collections=, types= and filter= choose; SSE live and resumed with
# Last-Event-ID (curl -N and the npm eventsource client); two users'
# JWT feeds under a collection's list rule never carry the other's
# records, and collections without a list rule are left out; a since=
# that retention passed is 410 (reset on SSE), one the log never gave a
# reset; bad parameters are 400 JSON errors.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq node sqlite3
need_npm eventsource

# A small stream_buffer_limit: an export goes out in many parts, each
# cut by its size rather than its count of events.
demo_start stream_buffer_limit=16k
send POST "$B/collections" '{"name":"notes"}'
CH=$B/changes
SSE='Accept: text/event-stream'

# enc TEXT: TEXT percent-encoded for a query string.
enc() {
	jq -rn --arg s "$1" '$s | @uri'
}

# batch COLL N FROM: N creates in COLL in one batch, n = FROM, FROM+1...
batch() {
	send POST "$B/batch" "$(jq -nc --arg c "$1" --argjson n "$2" \
	    --argjson f "$3" '{requests: [range($n) | {method: "POST",
	    path: "collections/\($c)/records", body: {n: (. + $f)}}]}')"
	[ "$STATUS" = 200 ] || diag "batch: $STATUS $BODY"
}

# log [WHERE]: the app's events in the log as "id type collection data"
# lines, data as compact JSON (rules_changed is never sent as such).
log() {
	local w="FROM events WHERE realm = 'acme' AND app = 'web'
	    AND type != 'rules_changed' ${1:-}"
	if on_pg; then
		dbsql "SELECT coalesce(json_agg(json_build_object('id', id,
		    'type', type, 'collection', collection, 'data', data)
		    ORDER BY id), '[]') $w"
	else
		sqlite3 -json "$T/basalt.db" "SELECT id, type, collection, data
		    $w ORDER BY id"
	fi | jq -r '.[] | "\(.id) \(.type) \(.collection) \(.data | fromjson | tojson)"'
}

# lines FILE: an NDJSON answer as log prints the log.
lines() {
	jq -r '"\(.id) \(.type) \(.collection) \(.data | tojson)"' "$1"
}

# export FILE URL [CURL ARGS...]: GET URL as NDJSON into FILE, with $AUTH
# unless other args are given; sets STATUS and HDRS.
export_to() {
	local f=$1 url=$2
	shift 2
	[ $# -gt 0 ] || set -- -H "$AUTH"
	HDRS=$T/.export-headers
	STATUS=$(curl -s --max-time 20 -o "$f" -D "$HDRS" -w '%{http_code}' \
	    "$@" "$url")
}

# expect_error STATUS CODE DESC: the last answer is the JSON error.
expect_error() {
	local st=$1 code=$2
	shift 2
	is "$STATUS $(jbody '"\(.error.status) \(.error.code)"')" \
	    "$st $st $code" "$*: $st $code" || diag "body: $BODY"
	like "$(header Content-Type)" '^application/json' "$*: JSON"
}

# ======================================================================
# NDJSON export, then ?since=
# ======================================================================
batch posts 400 0
batch notes 300 1000
send POST "$P/records" '{"n":5000,"title":"x"}'
R=$(jbody .id)
send PATCH "$P/records/$R" '{"n":5001}'
send POST "$P/events" '{"type":"chat","payload":{"text":"hi\nthere"}}'
http DELETE "$P/records/$R" -H "$AUTH"
send POST "$B/collections" '{"name":"gone"}'
send POST "$B/collections/gone/records" '{"n":1}'
http DELETE "$B/collections/gone" -H "$AUTH"
is "$STATUS" 204 "a collection is deleted"

export_to "$T/export.ndjson" "$CH"
is "$STATUS" 200 "export: 200"
HDRS=$HDRS like "$(header Content-Type)" '^application/x-ndjson' \
    "export: Content-Type application/x-ndjson"
is "$(jq -s length "$T/export.ndjson")" "$(log | wc -l)" \
    "export: one line per event of the app ($(log | wc -l), several pages)"
lines "$T/export.ndjson" >"$T/export.lines"
log >"$T/log.lines"
cmp -s "$T/export.lines" "$T/log.lines"
ok $? "export: every event in log order, with its id, type, collection and data"
is "$(jq -c 'select(.type == "collection_deleted") | [.collection, .data]' \
    "$T/export.ndjson")" '["gone",{"collection":"gone"}]' \
    "export: a collection's deletion is its one collection_deleted event"
is "$(jq -r 'select(.type == "chat") | .data.text' \
    "$T/export.ndjson")" "hi
there" "export: a custom event's data as JSON"
is "$(grep -c . "$T/export.ndjson")" "$(jq -s length "$T/export.ndjson")" \
    "export: one JSON object per line"

LAST=$(tail -n 1 "$T/export.ndjson" | jq -r .id)
batch notes 5 2000
send POST "$P/records" '{"n":6000}'
export_to "$T/more.ndjson" "$CH?since=$LAST"
is "$STATUS" 200 "since=: 200"
is "$(jq -s length "$T/more.ndjson")" 6 "since=: only what came after"
cat "$T/export.lines" <(lines "$T/more.ndjson") >"$T/both.lines"
log >"$T/log.lines"
cmp -s "$T/both.lines" "$T/log.lines"
ok $? "export then since= its last id: the whole log, once"
HEAD=$(tail -n 1 "$T/more.ndjson" | jq -r .id)
export_to "$T/none.ndjson" "$CH?since=$HEAD"
is "$STATUS $(wc -c <"$T/none.ndjson")" "200 0" "since= the head: nothing"

# A client that goes away in the middle of an export: the rest is not
# read, and basalt goes on.
curl -s --limit-rate 1k -H "$AUTH" "$CH" -o "$T/cut.ndjson" &
CUT=$!
bg_track $CUT
sleep 1
kill $CUT
wait $CUT 2>/dev/null
ok "$([ "$(wc -c <"$T/cut.ndjson")" -gt 0 ] && [ "$(wc -l <"$T/cut.ndjson")" -lt 700 ]; echo $?)" \
    "a slow export read in part ($(wc -c <"$T/cut.ndjson") bytes) when its client left"
health_ok
ok $? "basalt answers after a client left an export"
http HEAD "$CH" -H "$AUTH"
is "$STATUS $(header Content-Type) $(grep -c '"id":' "$T/.http-body")" \
    "200 application/x-ndjson 0" "HEAD: the headers alone"

# ======================================================================
# collections=, types=, filter=
# ======================================================================
export_to "$T/c.ndjson" "$CH?collections=notes"
is "$(lines "$T/c.ndjson")" "$(log "AND collection = 'notes'")" \
    "collections=notes: the notes' events alone"
export_to "$T/c2.ndjson" "$CH?collections=notes,posts"
is "$(lines "$T/c2.ndjson")" \
    "$(log "AND collection IN ('notes', 'posts')")" \
    "collections=notes,posts: both, in log order"
export_to "$T/t.ndjson" "$CH?types=record_deleted,collection_deleted,chat"
is "$(lines "$T/t.ndjson")" \
    "$(log "AND type IN ('record_deleted', 'collection_deleted', 'chat')")" \
    "types=: those types alone"
export_to "$T/f.ndjson" "$CH?filter=$(enc 'fields.n >= 1298 && fields.n < 2002')&types=record_created"
is "$(jq -r '.data.fields.n' "$T/f.ndjson" | tr '\n' ' ')" \
    "1298 1299 2000 2001 " "filter=: the records that match, over all collections"

# ======================================================================
# 400s, 404, before anything is sent
# ======================================================================
for q in since=abc since=-1 "since=1x" "collections=Bad%21" \
    "collections=notes,," "types=$(enc 'a b')"; do
	get "$CH?$q"
	expect_error 400 invalid_parameter "$q"
done
get "$CH?filter=$(enc '(((')"
expect_error 400 invalid_filter "a bad filter"
get "$CH?collections=nope"
expect_error 404 not_found "collections= names a collection that is not there"
get "$CH?since=abc" -H "$SSE"
expect_error 400 invalid_parameter "SSE: since=abc"
http GET "$CH" -H "Authorization: Bearer nope"
is "$STATUS" 401 "no valid token: 401"

# ======================================================================
# SSE: live, then resumed with Last-Event-ID
# ======================================================================
sub s1 "$CH?collections=posts" -H "$AUTH" -H "$SSE"
sub s2 "$CH" -H "$AUTH" -H "$SSE"
wait_sub s1 && wait_sub s2
ok $? "SSE: the feeds open"
like "$(sheader s1 Content-Type)" '^text/event-stream' "SSE: text/event-stream"
H0=$(log | tail -n 1 | cut -d' ' -f1)
node "$SC" es --url "$CH" --token "$RTOKEN" --last-id "$H0" \
    --types record_created,record_updated,chat --count 4 --timeout 20 \
    >"$T/es.out" &
ES=$!
bg_track $ES
send POST "$P/records" '{"n":7000}'
send POST "$B/collections/notes/records" '{"n":7001}'
send POST "$P/events" '{"type":"chat","payload":{}}'
send POST "$P/records" '{"n":7002}'
wait_events s1 3 && wait_events s2 4
ok $? "SSE: live events arrive"
unsub s1
unsub s2
is "$(q s2 '[.events[] | .event + " " + .id] | join(",")')" \
    "$(log "AND id > $H0" | awk '{ print $2 " " $1 }' | paste -sd,)" \
    "SSE live: every event of the app, ids as in the log"
is "$(q s1 '[.events[] | .event] | join(",")')" \
    "record_created,chat,record_created" "SSE collections=posts: the posts' alone"
wait $ES
is "$(jq -s -r '[.[] | select(.ev) | .type + " " + .ev] | join(",")' "$T/es.out")" \
    "$(q s2 '[.events[] | .event + " " + .id] | join(",")')" \
    "eventsource client from Last-Event-ID: the same events"
S1=$(q s2 '.events[0].id')
sub r1 "$CH" -H "$AUTH" -H "$SSE" -H "Last-Event-ID: $S1"
wait_events r1 3
unsub r1
is "$(q r1 '[.events[] | .id] | join(",")')" \
    "$(q s2 '[.events[1:][] | .id] | join(",")')" \
    "curl -N with Last-Event-ID: the rest, replayed"
sub r2 "$CH?since=$S1" -H "$AUTH" -H "$SSE"
wait_events r2 3
unsub r2
is "$(q r2 '[.events[] | .id] | join(",")')" \
    "$(q s2 '[.events[1:][] | .id] | join(",")')" "SSE since= resumes the same"
sub hb "$CH" -H "$AUTH" -H "$SSE"
wait_until 5 grep -q '^:keepalive' "$T/hb.out"
ok $? "SSE: heartbeats"
unsub hb

# A revoked token ends its feed, as it ends its streams.
get "$B/tokens"
RID=$(jbody '.items[] | select(.label == "reader") | .id')
sub rv "$CH" -H "Authorization: Bearer $RTOKEN" -H "$SSE"
wait_sub rv
http DELETE "$B/tokens/$RID" -H "$AUTH"
is "$STATUS" 204 "revoke: 204"
wait_until 6 ended rv
ok $? "SSE: the feed of a revoked token ends"
like "$(tr -d '\r' <"$T/rv.out")" "event: token_revoked" \
    "SSE: its last event is token_revoked"

# ======================================================================
# End users: JWT feeds under the rules
# ======================================================================
SIGN=$top_srcdir/tests/jwt-sign.mjs
head -c 32 /dev/urandom >"$T/hs.key"
basalt_cli app jwt acme web --hs256-secret-file "$T/hs.key" >/dev/null ||
    bail_out "cannot make the app trust JWTs"
jwt() {
	node "$SIGN" --alg HS256 --key "$T/hs.key" --sub "$@"
}
JA=$(jwt alice)
JB=$(jwt bob)
send POST "$B/collections" '{"name":"todos"}'
TD=$B/collections/todos
basalt_cli collection rules acme web todos \
    --list 'fields.owner = @token.sub' >/dev/null
mk() {
	send POST "$TD/records" "{\"owner\":\"$1\",\"note\":\"$2\"}"
	ID=$(jbody .id)
}
AIDS=() BIDS=()
for i in 1 2 3; do
	mk alice "a$i"; AIDS+=("$ID")
	mk bob "b$i"; BIDS+=("$ID")
done
sub ja "$CH" -H "Authorization: Bearer $JA" -H "$SSE"
sub jb "$CH" -H "Authorization: Bearer $JB" -H "$SSE"
wait_sub ja && wait_sub jb
mk bob b4; BIDS+=("$ID")
mk alice a4; AIDS+=("$ID")
send PATCH "$TD/records/${BIDS[0]}" '{"note":"b1!"}'
send PATCH "$TD/records/${AIDS[0]}" '{"note":"a1!"}'
send POST "$P/records" '{"n":8000}'
http DELETE "$TD/records/${BIDS[1]}" -H "$AUTH"
http DELETE "$TD/records/${AIDS[1]}" -H "$AUTH"
wait_events ja 3 && wait_events jb 3
sleep 0.5
unsub ja
unsub jb
is "$(q ja '[.events[] | .event + " " + (.data | fromjson | .id)] | join(",")')" \
    "record_created ${AIDS[3]},record_updated ${AIDS[0]},record_deleted ${AIDS[1]}" \
    "JWT SSE: alice's feed carries her todos alone"
is "$(q jb '[.events[] | .event + " " + (.data | fromjson | .id)] | join(",")')" \
    "record_created ${BIDS[3]},record_updated ${BIDS[0]},record_deleted ${BIDS[1]}" \
    "JWT SSE: bob's feed carries his todos alone"
leak=0
for id in "${BIDS[@]}"; do grep -q "$id" "$T/ja.out" && leak=1; done
for id in "${AIDS[@]}"; do grep -q "$id" "$T/jb.out" && leak=1; done
is "$leak" 0 "JWT SSE: not a byte of the other user's records"

export_to "$T/ja.ndjson" "$CH" -H "Authorization: Bearer $JA"
is "$STATUS" 200 "JWT NDJSON: 200"
is "$(jq -r '"\(.type) \(.collection) \(.data.fields.owner // .data.id)"' \
    "$T/ja.ndjson" | sort | uniq -c | awk '{ print $1, $2, $3, $4 }' | tr '\n' ',')" \
    "4 record_created todos alice,1 record_deleted todos ${AIDS[1]},1 record_updated todos alice," \
    "JWT NDJSON: alice's todos alone, none of the collections without a list rule"
leak=0
for id in "${BIDS[@]}"; do grep -q "$id" "$T/ja.ndjson" && leak=1; done
is "$leak" 0 "JWT NDJSON: none of bob's records"
export_to "$T/jb.ndjson" "$CH?types=record_created" -H "Authorization: Bearer $JB"
is "$(jq -r .data.id "$T/jb.ndjson" | tr '\n' ' ')" \
    "${BIDS[0]} ${BIDS[1]} ${BIDS[2]} ${BIDS[3]} " \
    "JWT NDJSON types=: bob's creates alone"
http GET "$CH?collections=posts" -H "Authorization: Bearer $JA"
expect_error 403 forbidden "JWT: collections= names one without a list rule"

# A change of rules: the reset of the streams, then the new rules.
sub jr "$CH" -H "Authorization: Bearer $JA" -H "$SSE"
wait_sub jr
basalt_cli collection rules acme web todos --list 'true' >/dev/null
mk bob b5
wait_events jr 2
unsub jr
is "$(q jr '[.events[] | .event] | join(",")')" "reset,record_created" \
    "JWT SSE: a change of rules is a reset, then the new rules hold"
is "$(q jr '.events[0].data | fromjson | .reason')" rules_changed \
    "JWT SSE: the reset says rules_changed"

# A collection deleted and made again under its name starts without
# rules: a feed bound to the old one's shows nothing of the new one's.
sub jd "$CH" -H "Authorization: Bearer $JA" -H "$SSE"
wait_sub jd
send POST "$B/collections" '{"name":"tmp"}'
basalt_cli collection rules acme web tmp --list 'true' >/dev/null
send POST "$B/collections/tmp/records" '{"n":1}'
T1=$(jbody .id)
http DELETE "$B/collections/tmp" -H "$AUTH"
send POST "$B/collections" '{"name":"tmp"}'
send POST "$B/collections/tmp/records" '{"n":2}'
T2=$(jbody .id)
mk alice a6
wait_events jd 4
sleep 0.3
unsub jd
is "$(q jd '[.events[] | .event + " " + (.data | fromjson | .id // .collection // .reason)] | join(",")')" \
    "reset rules_changed,record_created $T1,collection_deleted tmp,record_created $ID" \
    "JWT SSE: after its collection_deleted, a new collection of that name is not shown"
grep -q "$T2" "$T/jd.out"
isnt $? 0 "JWT SSE: not a byte of the new collection's record"

# ======================================================================
# Retention and ids the log does not hold
# ======================================================================
export_to "$T/u.ndjson" "$CH?since=999999999"
# the head: the highest id ever given (log_head on PostgreSQL)
if on_pg; then
	MAX=$(dbsql "SELECT last_id FROM log_head")
else
	MAX=$(dbsql "SELECT seq FROM sqlite_sequence WHERE name = 'events'")
fi
is "$STATUS $(jq -c . "$T/u.ndjson")" \
    "200 {\"type\":\"reset\",\"data\":{\"reason\":\"unknown_event_id\",\"last_event_id\":$MAX}}" \
    "since= past the head: the reset of the streams, with the head"
basalt_config event_retention_count=10
kill -HUP "$BASALT_PID"
left() { dbsql "SELECT count(*) FROM events WHERE app = 'web'"; }
swept() { [ "$(left)" = 10 ]; }
wait_until 10 swept
ok $? "retention kept the newest 10 events"
OLDEST=$(dbsql "SELECT min(id) FROM events WHERE app = 'web'")
get "$CH?since=1"
expect_error 410 events_pruned "since= older than the log keeps"
is "$(jbody .error.oldest_id)" "$OLDEST" "410: the oldest id the log keeps"
sub p1 "$CH?since=1" -H "$AUTH" -H "$SSE"
wait_events p1 1
unsub p1
is "$(q p1 '.events[0].event + " " + (.events[0].data | fromjson | .reason)')" \
    "reset events_pruned" "SSE: since= older than the log keeps is a reset"
export_to "$T/kept.ndjson" "$CH"
is "$(lines "$T/kept.ndjson")" "$(log)" "no since=: from the oldest event kept"

# Stopped, so that a leak would be reported too.
basalt_stop
is "$?" 0 "basalt stops cleanly"
ok "$(grep -qE 'Sanitizer|runtime error:' "$T/basalt.log"; [ $? -ne 0 ]
    echo $?)" "no sanitizer report in basalt's log"

done_testing
