#!/bin/bash
# Before-images and filtered streams, through lighttpd: the event log
# keeps each record as it was before an update or delete (never sent to
# clients), and a stream with filter= and types= gets record_created,
# record_updated, record_entered, record_left and record_deleted as the
# record moves in and out of its filter, the same live and replayed.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq sqlite3

# A collection whose writes the before-hooks see (the writer then checks
# that the record did not change under them).
mkdir -p "$T/hooks/acme/web"
cat >"$T/hooks/acme/web/seen.js" <<'EOF'
onRecordUpdate("hooked", function (e) { e.record.fields.seen = true; });
onRecordDelete("hooked", function (e) { });
EOF
demo_start
send POST "$B/collections" '{"name":"hooked"}'

# prevs RECORD: "type prev" for each event of the record, prev NULL shown
# as -, in log order.
prevs() {
	sqlite3 "$T/basalt.db" "SELECT type || ' ' || coalesce(prev, '-')
	    FROM events WHERE record_id = '$1' ORDER BY id"
}

# ======================================================================
# Before-images in the event log
# ======================================================================
sub s1 "$P/events" -H "$AUTH"
wait_sub s1
send POST "$P/records" '{"room":"a","n":1}'
R=$(jbody .id)
get "$P/records/$R"
V0=$BODY
send PATCH "$P/records/$R" '{"n":2}'
V1=$BODY
send PUT "$P/records/$R" '{"room":"b"}'
V2=$BODY
http DELETE "$P/records/$R" -H "$AUTH"
send POST "$P/events" '{"type":"chat","payload":{"text":"hi"}}'
is "$(prevs "$R")" "record_created -
record_updated $V0
record_updated $V1
record_deleted $V2" \
    "prev: none for a create; for an update or delete, the record as GET showed it before"
is "$(sqlite3 "$T/basalt.db" "SELECT coalesce(prev, '-') FROM events
    WHERE type = 'chat'")" - "prev: none for a custom event"
wait_events s1 5
unsub s1
is "$(q s1 '[.events[].data] | join("\n")')" "$V0
$V1
$V2
{\"id\":\"$R\",\"collection\":\"posts\"}
{\"text\":\"hi\"}" "prev: the stream's data is the record after the write, as before"
is "$(grep -c prev "$T/s1.out")" 0 "prev: never in a frame"

send POST "$B/batch" "{\"requests\":[
    {\"method\":\"POST\",\"path\":\"collections/posts/records\",\"body\":{\"k\":1}}]}"
X=$(jbody '.responses[0].body.id')
X0=$(jq -c '.responses[0].body' <<<"$BODY")
send POST "$B/batch" "{\"requests\":[
    {\"method\":\"PATCH\",\"path\":\"collections/posts/records/$X\",\"body\":{\"k\":2}},
    {\"method\":\"PATCH\",\"path\":\"collections/posts/records/$X\",\"body\":{\"k\":3}},
    {\"method\":\"DELETE\",\"path\":\"collections/posts/records/$X\"}]}"
is "$STATUS" 200 "batch: 200"
is "$(prevs "$X" | tail -n 3 | cut -d' ' -f2- | jq -c . 2>/dev/null | tr '\n' ' ')" \
    "$X0 $(jq -c '.responses[0].body, .responses[1].body' <<<"$BODY" | tr '\n' ' ')" \
    "prev: a batch's writes each keep the record as the write before left it"
is "$(prevs "$X" | head -n 1)" "record_created -" "prev: none for a batch's create"

send POST "$B/collections/hooked/records" '{"v":1}'
H=$(jbody .id)
H0=$BODY
send PATCH "$B/collections/hooked/records/$H" '{"v":2}'
H1=$BODY
is "$(jbody .fields.seen)" true "hooks: the before-hook changed the update"
http DELETE "$B/collections/hooked/records/$H" -H "$AUTH"
is "$STATUS" 204 "hooks: the delete is done"
is "$(prevs "$H" | tail -n 2)" "record_updated $H0
record_deleted $H1" "prev: with before-hooks too, the record as stored before the write"

done_testing
