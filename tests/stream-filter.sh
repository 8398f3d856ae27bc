#!/bin/bash
# Before-images and filtered streams, through lighttpd: the event log
# keeps each record as it was before an update or delete (never sent to
# clients), and a stream with filter= and types= gets record_created,
# record_updated, record_entered, record_left and record_deleted as the
# record moves in and out of its filter. Live, resumed (curl -N and
# EventSource) and replayed streams get the same bytes over random
# writes, indexed and unindexed filters alike; bad filters and types are
# refused; 300 streams on their own rooms through the load generator.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq
if on_pg; then need psql; else need sqlite3; fi

# A collection whose writes the before-hooks see (the writer then checks
# that the record did not change under them).
mkdir -p "$T/hooks/acme/web"
cat >"$T/hooks/acme/web/seen.js" <<'EOF'
onRecordUpdate("hooked", function (e) { e.record.fields.seen = true; });
onRecordDelete("hooked", function (e) { });
EOF
demo_start
send POST "$B/collections" '{"name":"hooked"}'

# enc TEXT: TEXT percent-encoded for a query string.
enc() {
	jq -rn --arg s "$1" '$s | @uri'
}

# frames NAME: the event frames of subscriber NAME's stream, as sent
# (comments and the opening left out), for a comparison byte for byte.
frames() {
	awk 'BEGIN { RS = ""; ORS = "\n\n" } /^id: /' "$T/$1.out"
}

# expect_error STATUS CODE DESC: the last reply is the error STATUS with
# CODE, as JSON where a stream was asked for.
expect_error() {
	local st=$1 code=$2
	shift 2
	is "$STATUS $(jbody '"\(.error.status) \(.error.code)"')" \
	    "$st $st $code" "$*: $st $code" || diag "body: $BODY"
	like "$(header Content-Type)" '^application/json' "$*: JSON, not a stream"
}

# prevs RECORD: "type prev" for each event of the record, prev NULL shown
# as -, in log order.
prevs() {
	dbsql "SELECT type || ' ' || coalesce(prev, '-')
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
is "$(dbsql "SELECT coalesce(prev, '-') FROM events
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

# ======================================================================
# A filtered stream: created, updated, entered, left, deleted
# ======================================================================
F1=$(enc 'fields.room = "r1"')
F2=$(enc 'fields.n > 2 && fields.room = "r1"')
sub f1 "$P/events?filter=$F1" -H "$AUTH"
sub f2 "$P/events?filter=$F2&types=record_left,record_entered" -H "$AUTH"
sub all "$P/events" -H "$AUTH"
wait_sub f1 && wait_sub f2 && wait_sub all
ok $? "filter: the streams open"
like "$(sheader f1 Content-Type)" '^text/event-stream' "filter: an event stream"
send POST "$P/records" '{"room":"r1","n":1}'
A=$(jbody .id) A1=$BODY
send PATCH "$P/records/$A" '{"n":3}'
A2=$BODY
send PATCH "$P/records/$A" '{"room":"r2"}'
send PATCH "$P/records/$A" '{"n":4}'
send PATCH "$P/records/$A" '{"room":"r1"}'
A5=$BODY
send POST "$P/records" '{"room":"r2"}'
Bid=$(jbody .id)
send POST "$P/events" '{"type":"chat","payload":1}'
http DELETE "$P/records/$A" -H "$AUTH"
http DELETE "$P/records/$Bid" -H "$AUTH"
wait_events all 10 && wait_events f1 6
sleep 0.5
unsub f1
unsub f2
unsub all
LEFT="{\"id\":\"$A\",\"collection\":\"posts\"}"
is "$(q f1 '[.events[].event] | join(",")')" \
    "record_created,record_updated,record_left,record_entered,chat,record_deleted" \
    "filter: created, updated, left, entered, the custom event, deleted; nothing of the other record"
is "$(q f1 '.events[0].data')" "$A1" "filter: record_created carries the record"
is "$(q f1 '.events[1].data')" "$A2" "filter: record_updated carries the record"
is "$(q f1 '.events[2].data')" "$LEFT" "filter: record_left carries {id, collection}"
is "$(q f1 '.events[3].data')" "$A5" "filter: record_entered carries the whole record"
is "$(q f1 '.events[5].data')" "$LEFT" "filter: record_deleted carries {id, collection}"
is "$(q f1 '[.events[].framing] | unique | join(" ")')" "id,event,data" \
    "filter: each event is id:, event:, data:"
is "$(q f2 '[.events[].event] | join(",")')" \
    "record_entered,record_left,record_entered" \
    "filter and types: only the record's entries and exits"
is "$(q f2 '[.events[].data] | join(" ")')" "$A2 $LEFT $A5" \
    "filter and types: the same data as without types"
is "$(q f1 '[.events[].id] | join(",")')" \
    "$(q all '[.events[0,1,2,4,6,7].id] | join(",")')" \
    "filter: each event keeps its id in the log"
is "$(q all '[.events[].event] | join(",")')" \
    "record_created,record_updated,record_updated,record_updated,record_updated,record_created,chat,record_deleted,record_deleted" \
    "no filter: every event as it was logged"

# types alone
sub t1 "$P/events?types=chat,record_deleted,chat" -H "$AUTH"
wait_sub t1
send POST "$P/records" '{"x":1}'
C=$(jbody .id)
send POST "$P/events" '{"type":"other","payload":2}'
send POST "$P/events" '{"type":"chat","payload":3}'
http DELETE "$P/records/$C" -H "$AUTH"
wait_events t1 2
sleep 0.3
unsub t1
is "$(q t1 '[.events[] | "\(.event):\(.data)"] | join(" ")')" \
    "chat:3 record_deleted:{\"id\":\"$C\",\"collection\":\"posts\"}" \
    "types: only the types listed, custom ones too"

# A record's stream takes a filter too.
send POST "$P/records" '{"n":1}'
D=$(jbody .id)
FN=$(enc 'fields.n >= 2')
sub rf "$P/records/$D/events?filter=$FN" -H "$AUTH"
wait_sub rf
for n in 2 3 1 5; do
	send PATCH "$P/records/$D" "{\"n\":$n}"
done
http DELETE "$P/records/$D" -H "$AUTH"
wait_events rf 4
sleep 0.3
unsub rf
is "$(q rf '[.events[] | .event + ":" + ((.data | fromjson | .fields.n) // "-" | tostring)] | join(" ")')" \
    "record_entered:2 record_updated:3 record_left:- record_entered:5 record_deleted:-" \
    "record stream with a filter: in, updated, out, in, deleted"

# ======================================================================
# Bad filters and types
# ======================================================================
LONG=$(printf 'fields.a%%3D1%%20%%26%%26%%20%.0s' {1..200})x
while IFS='|' read -r url code desc; do
	get "$url" --max-time 5
	expect_error 400 "$code" "$desc"
	[ "$desc" = "filter: no value" ] &&
	    is "$(jbody .error.message)" "at 14: expected a value" \
	    "filter: the message names the position"
done <<EOF
$P/events?filter=$(enc 'fields.room =')|invalid_filter|filter: no value
$P/events?filter=$(enc 'fields.a = 1 ) ')|invalid_filter|filter: an unmatched )
$P/events?filter=$LONG|invalid_filter|filter: longer than 2 KiB
$P/events?filter=%ZZ|invalid_filter|filter: bad percent-encoding
$P/records/$A/events?filter=$(enc 'nope = 1')|invalid_filter|filter on a record stream: checked too
$P/events?types=record_bogus|invalid_parameter|types: record_bogus
$P/events?types=reset|invalid_parameter|types: reset, not a logged event
$P/events?types=token_revoked|invalid_parameter|types: token_revoked
$P/events?types=chat,,x|invalid_parameter|types: an empty one
$P/events?types=|invalid_parameter|types: empty
$P/events?types=a%20b|invalid_parameter|types: a space
$P/events?types=$(printf 'e%.0s' {1..65})|invalid_parameter|types: 65 characters
EOF
get "$P/events?types=$(seq -s, -f 't%g' 1 33)" --max-time 5
expect_error 400 invalid_parameter "types: 33 types"
http GET "$P/events?types=chat&filter=$F1&access_token=$RTOKEN" --max-time 2
is "$STATUS" 200 "filter and types with access_token: 200"
like "$BODY" '^: basalt stream' "... the stream starts"

# A collection's end ends a filtered stream; types may leave its frame out.
send POST "$B/collections" '{"name":"gone"}'
sub g1 "$B/collections/gone/events?filter=$F1" -H "$AUTH"
sub g2 "$B/collections/gone/events?types=chat" -H "$AUTH"
wait_sub g1 && wait_sub g2
http DELETE "$B/collections/gone" -H "$AUTH"
wait_until 5 ended g1 && wait_until 5 ended g2
ok $? "collection deleted: both streams end"
wait "$SUB_g1"
is $? 0 "collection deleted: cleanly (curl exit 0)"
unsub g1
unsub g2
is "$(q g1 '[.events[].event] | join(",")')" collection_deleted \
    "collection deleted: a filtered stream gets collection_deleted"
is "$(q g2 '.events | length')" 0 "collection deleted: types=chat gets no frame, only the end"

# ======================================================================
# Resumed = never dropped: random writes, a stream that stays open, and
# streams that drop in the middle and resume with Last-Event-ID
# ======================================================================
send POST "$B/collections" '{"name":"rooms"}'
RP=$B/collections/rooms
FR=$(enc 'fields.room = "r1" && fields.n >= 2')
# the same filter without a top-level equality term: not indexed
FU=$(enc '!(fields.room != "r1") && fields.n >= 2')
ESTYPES=record_created,record_updated,record_entered,record_left,record_deleted,p1
: >"$T/ids"
RANDOM=1309

# rand_write: one random write to rooms: a create while there are fewer
# than 3 records (sometimes up to 6), else a PUT, a PATCH or a delete.
rand_write() {
	local ids n k id r v
	mapfile -t ids <"$T/ids"
	n=${#ids[@]} k=$((RANDOM % 10)) r=r$((RANDOM % 3 + 1)) v=$((RANDOM % 4))
	if [ "$n" -lt 3 ] || { [ "$k" = 0 ] && [ "$n" -lt 6 ]; }; then
		send POST "$RP/records" "{\"room\":\"$r\",\"n\":$v}"
		jbody .id >>"$T/ids"
		return
	fi
	id=${ids[$((RANDOM % n))]}
	case $k in
	0|1)	http DELETE "$RP/records/$id" -H "$AUTH"
		grep -v "$id" "$T/ids" >"$T/ids.new"
		mv "$T/ids.new" "$T/ids" ;;
	2|3)	send PUT "$RP/records/$id" "{\"room\":\"$r\",\"n\":$v}" ;;
	4|5|6)	send PATCH "$RP/records/$id" "{\"room\":\"$r\"}" ;;
	*)	send PATCH "$RP/records/$id" "{\"n\":$v}" ;;
	esac
}

rand_writes() {
	local i
	for i in $(seq "$1"); do
		rand_write
	done
}

send POST "$RP/events" '{"type":"start","payload":0}'
MARK=$(jbody .id)
sub L "$RP/events?filter=$FR" -H "$AUTH"
sub U "$RP/events?filter=$FU" -H "$AUTH"
sub M1 "$RP/events?filter=$FR" -H "$AUTH"
node "$SC" es --url "$RP/events?filter=$FR" --token "$TOKEN" --types "$ESTYPES" \
    --count 100000 --until done --timeout 60 >"$T/E.out" &
E_PID=$!
bg_track $E_PID
node "$SC" es --url "$RP/events?filter=$FR" --token "$TOKEN" --types "$ESTYPES" \
    --count 100000 --close-after 4 --timeout 60 >"$T/E1.out" &
E1_PID=$!
bg_track $E1_PID
wait_sub L && wait_sub U && wait_sub M1 && wait_until 5 grep -q '"open"' "$T/E.out" &&
    wait_until 5 grep -q '"open"' "$T/E1.out"
ok $? "resume: the streams open"
for v in 2 3 2; do
	send POST "$RP/records" "{\"room\":\"r1\",\"n\":$v}"
	jbody .id >>"$T/ids"
done
rand_writes 30
send POST "$RP/events" '{"type":"p1","payload":1}'
wait_until 5 grep -q '^event: p1' "$T/M1.out"
ok $? "resume: the stream to drop has every event of the first part"
unsub M1
wait $E1_PID
M1LAST=$(q M1 '.events[-1].id')
E1LAST=$(tail -n 1 "$T/E1.out" | jq -r '.events[-1].id')
rand_writes 30		# while those two are away
(rand_writes 30; send POST "$RP/events" '{"type":"done","payload":2}') &
W=$!
bg_track $W
sleep 0.3
sub M2 "$RP/events?filter=$FR" -H "$AUTH" -H "Last-Event-ID: $M1LAST"
node "$SC" es --url "$RP/events?filter=$FR" --token "$TOKEN" --types "$ESTYPES" \
    --last-id "$E1LAST" --count 100000 --until done --timeout 60 >"$T/E2.out" &
E2_PID=$!
bg_track $E2_PID
wait $W
wait_until 10 grep -q '^event: done' "$T/L.out" &&
    wait_until 10 grep -q '^event: done' "$T/M2.out"
ok $? "resume: the streams get the last event"
wait $E_PID $E2_PID
wait_until 10 grep -q '^event: done' "$T/U.out"
unsub L
unsub U
unsub M2
curl -sN --max-time 2 -H "$AUTH" -H "Last-Event-ID: $MARK" \
    "$RP/events?filter=$FR" >"$T/R.out"
frames L >"$T/L.frames"
{ frames M1; frames M2; } >"$T/M.frames"
frames R >"$T/R.frames"
frames U >"$T/U.frames"
diag "resume: $(grep -c '^id: ' "$T/L.frames") events; M1 dropped after $M1LAST, E1 after $E1LAST"
for ty in record_created record_updated record_entered record_left record_deleted; do
	ok "$(grep -q "^event: $ty\$" "$T/L.frames"; echo $?)" \
	    "resume: the writes made a $ty"
done
cmp -s "$T/L.frames" "$T/M.frames"
ok $? "resume (curl -N, Last-Event-ID): dropped and resumed equals never dropped, byte for byte" ||
    diag "$(diff "$T/L.frames" "$T/M.frames" | head -n 20)"
cmp -s "$T/L.frames" "$T/R.frames"
ok $? "replay from the start equals the live stream, byte for byte" ||
    diag "$(diff "$T/L.frames" "$T/R.frames" | head -n 20)"
cmp -s "$T/L.frames" "$T/U.frames"
ok $? "fan-out index: a stream found by its room's slot gets what an unindexed one with the same filter gets" ||
    diag "$(diff "$T/L.frames" "$T/U.frames" | head -n 20)"
q L '[.events[] | {id, type: .event, data}]' | jq -Sc . >"$T/L.events"
tail -n 1 "$T/E.out" | jq -Sc '.events' >"$T/E.events"
jq -Ssc 'map(.events) | add' <(tail -n 1 "$T/E1.out") \
    <(tail -n 1 "$T/E2.out") >"$T/E12.events"
is "$(cat "$T/E.events")" "$(cat "$T/L.events")" \
    "eventsource: the same events as curl -N"
is "$(cat "$T/E12.events")" "$(cat "$T/L.events")" \
    "eventsource: dropped and resumed with Last-Event-ID equals never dropped"
is "$(tail -n 1 "$T/E2.out" | jq -r .opens)" 1 "eventsource: one open each"

# A client that applies the events by record id holds what the filter
# selects.
get "$RP/records?limit=500"
want=$(jbody '[.items[] | select(.fields.room == "r1" and .fields.n >= 2) |
    tojson] | sort | join("\n")')
got=$(q L 'reduce .events[] as $e ({};
    if ($e.event | test("^record_(created|updated|entered)$")) then
	.[$e.data | fromjson | .id] = $e.data
    elif ($e.event | test("^record_(left|deleted)$")) then
	del(.[$e.data | fromjson | .id])
    else . end) | [.[]] | map(fromjson | tojson) | sort | join("\n")')
is "$got" "$want" "a client applying the events holds exactly the records the filter selects"
like "$(wc -l <<<"$want")" '^[1-9]' "... some of them ($(wc -l <<<"$want"))"

# A replay that reads many rows for the stream before one it takes.
{
	printf '{"requests":['
	for i in $(seq 600); do
		printf '%s{"method":"POST","path":"collections/rooms/records","body":{"room":"r9","n":%d}}' \
		    "$([ "$i" = 1 ] || echo ,)" "$i"
	done
	printf ']}'
} >"$T/batch.json"
send POST "$B/batch" "@$T/batch.json"
is "$STATUS" 200 "a batch of 600 records outside the filter"
send POST "$RP/records" '{"room":"r1","n":9}'
NINE=$BODY
sub far "$RP/events?filter=$FR&types=record_created" -H "$AUTH" \
    -H "Last-Event-ID: $(q L '.events[-1].id')"
wait_events far 1
sleep 0.3
unsub far
is "$(q far '[.events[].data] | join(" ")')" "$NINE" \
    "replay: past 600 rows it does not take, the one it does, once"

# An EventSource that reconnects by itself, across a restart of basalt,
# gets what a replay of the same filter from the same point gets.
send POST "$RP/events" '{"type":"start","payload":3}'
MARK2=$(jbody .id)
node "$SC" es --url "$RP/events?filter=$FR" --token "$TOKEN" --types "$ESTYPES" \
    --count 100000 --until done --timeout 60 >"$T/X.out" &
X_PID=$!
bg_track $X_PID
wait_until 5 grep -q '"open"' "$T/X.out"
ok $? "restart: the EventSource opens"
rand_writes 15
# one write it takes, received before the restart: an EventSource that
# has no event yet reconnects without Last-Event-ID, from the head
send POST "$RP/records" '{"room":"r1","n":3}'
jbody .id >>"$T/ids"
wait_until 5 grep -q '"ev"' "$T/X.out"
ok $? "restart: the EventSource has an event before basalt stops"
basalt_stop
basalt_start || bail_out "basalt did not restart"
rand_writes 15
send POST "$RP/events" '{"type":"done","payload":4}'
wait $X_PID
curl -sN --max-time 2 -H "$AUTH" -H "Last-Event-ID: $MARK2" \
    "$RP/events?filter=$FR" >"$T/XR.out"
node "$SC" parse <"$T/XR.out" >"$T/XR.json"
is "$(tail -n 1 "$T/X.out" | jq -r '"\(.done) \(.opens)"')" "until 2" \
    "restart: the EventSource reconnected once by itself"
is "$(tail -n 1 "$T/X.out" | jq -Sc '.events')" \
    "$(q XR '[.events[] | {id, type: .event, data}]' | jq -Sc .)" \
    "restart: it got what a replay from the same point gets ($(tail -n 1 \
    "$T/X.out" | jq '.events | length') events)"

# Many filtered streams over FastCGI, each on its own room (the load
# generator's --rooms, as in BENCHMARKS.md, small): each gets its room's
# writes and nothing else.
BENCH=$top_builddir/contrib/bench/basalt-bench
if [ -x "$BENCH" ]; then
	send POST "$B/collections" '{"name":"fan"}'
	"$BENCH" fanout -n 300 --rooms 300 -r 300 -d 1 --drain 5 --settle 0.5 \
	    --connect-conc 64 --kind records --fcgi "$T/basalt.sock" \
	    --prefix "${B#"$URL"}/collections/fan" --token "$TOKEN" \
	    --pid "$BASALT_PID" >"$T/bench.log" 2>&1
	is "$?" 0 "300 rooms: the bench exits 0"
	is "$(bench_result "$T/bench.log" published)/$(bench_result "$T/bench.log" \
	    expected)/$(bench_result "$T/bench.log" delivered)" 300/300/300 \
	    "300 rooms: 300 writes, each delivered to its one stream"
	is "$(bench_result "$T/bench.log" missing) $(bench_result "$T/bench.log" \
	    unexpected) $(bench_result "$T/bench.log" duplicates)" "0 0 0" \
	    "300 rooms: none missing, none to another room, none twice"
else
	skip_tests 3 "contrib/bench/basalt-bench is not built"
fi

ok "$(grep -qE 'Sanitizer|runtime error:' "$T/basalt.log"; [ $? -ne 0 ]
    echo $?)" "no sanitizer report in basalt's log"

done_testing
