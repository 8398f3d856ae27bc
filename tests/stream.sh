#!/bin/bash
# End-to-end test of the event stream through lighttpd with real clients
# (curl -N and the npm eventsource package): framing, heartbeats, per-record
# streams, auth, custom events, resume, reset, 1,000 subscribers, a reader
# that stops reading, and two basalt processes on one database.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq node
need_npm eventsource
need_files 4200 "1,000 streams need 4,200 open files"

LIGHTTPD_EXTRA='server.max-fds = 16384
server.max-connections = 8000'

demo_start

# expect_error STATUS CODE DESC: the last reply is the error STATUS with
# CODE, as JSON where a stream was asked for.
expect_error() {
	local st=$1 code=$2
	shift 2
	is "$STATUS" "$st" "$*: status $st" || diag "body: $BODY"
	is "$(jbody '"\(.error.status) \(.error.code)"')" "$st $code" \
	    "$*: error $code"
	like "$(header Content-Type)" '^application/json' "$*: JSON, not a stream"
}
# write_records N COLLECTION: creates N records; their ids go to $T/written.
write_records() {
	local i
	: >"$T/written"
	for i in $(seq 1 "$1"); do
		curl -s -H "$AUTH" -H "$J" -d "{\"i\":$i}" \
		    "$B/collections/${2:-posts}/records" | jq -r .id >>"$T/written"
	done
}

# ======================================================================
# One collection stream: headers, opening, framing, payloads, heartbeats
# ======================================================================
sub s1 "$P/events" -H "$AUTH"
node "$SC" es --url "$P/events" --token "$TOKEN" --count 4 --timeout 20 \
    --types record_created,record_updated,record_deleted,chat >"$T/es1.out" &
ES1=$!
bg_track $ES1
wait_sub s1
ok $? "curl -N: the stream opens"
wait_until 5 grep -q '"open"' "$T/es1.out"
ok $? "eventsource: the stream opens"
wait_until 3 streams_are 2
ok $? "health: 2 open streams (got $(health_streams))"

send POST "$P/records" '{"title":"hello"}'
CREATED=$BODY R=$(jbody .id)
send PATCH "$P/records/$R" '{"title":"bye"}'
UPDATED=$BODY
http DELETE "$P/records/$R" -H "$AUTH"
send POST "$P/events" '{"type":"chat","payload":{"text":"hi"}}'
is "$STATUS" 202 "custom event: 202"
CHAT_ID=$(jbody .id)
is "$(jnorm "$BODY")" "{\"id\":$CHAT_ID,\"type\":\"chat\"}" \
    "custom event: the reply is {id, type}"
like "$CHAT_ID" '^[0-9]+$' "custom event: the id is a number"

wait_events s1 4
ok $? "curl -N: 4 events arrive"
sleep 2.5			# heartbeats with heartbeat_interval=1
unsub s1
wait $ES1

like "$(head -n 1 "$T/s1.h" | tr -d '\r')" '^HTTP/1\.1 200' "stream: 200"
like "$(sheader s1 Content-Type)" '^text/event-stream' \
    "stream: Content-Type: text/event-stream"
is "$(sheader s1 Cache-Control)" no-cache "stream: Cache-Control: no-cache"
is "$(sheader s1 X-Accel-Buffering)" no "stream: X-Accel-Buffering: no"
is "$(q s1 '.head | startswith(": basalt stream\nretry: 2000\n\n")')" true \
    "stream: opens with ': basalt stream', 'retry: 2000', a blank line"
is "$(q s1 .has_cr)" false "stream: lines end in LF"
is "$(q s1 '[.events[].event] | join(",")')" \
    "record_created,record_updated,record_deleted,chat" \
    "stream: created, updated, deleted, chat in order"
is "$(q s1 '[.events[].framing] | unique | join(" ")')" "id,event,data" \
    "stream: every event is exactly id:, event:, data: (one line), blank line"
is "$(q s1 '[.events[].id | tonumber] | . == sort and . == unique')" true \
    "stream: ids increase"
is "$(q s1 '.events[3].id')" "$CHAT_ID" "stream: the custom event's id is the one POST returned"
is "$(jnorm "$(q s1 '.events[0].data')")" "$(jnorm "$CREATED")" \
    "stream: record_created carries the record as the API returned it"
is "$(jnorm "$(q s1 '.events[1].data')")" "$(jnorm "$UPDATED")" \
    "stream: record_updated carries the updated record"
is "$(jnorm "$(q s1 '.events[2].data')")" "{\"collection\":\"posts\",\"id\":\"$R\"}" \
    "stream: record_deleted carries {id, collection}"
is "$(q s1 '.events[3].data | fromjson | tojson')" '{"text":"hi"}' "stream: the custom event carries its payload"
ok "$([ "$(q s1 .keepalives)" -ge 2 ]; echo $?)" \
    "stream: :keepalive comments arrive ($(q s1 .keepalives) in about 3 s)"
is "$(q s1 '[.comments[] | select(. != ":keepalive")] | join("|")')" \
    ": basalt stream" "stream: no other comment"

es=$(tail -n 1 "$T/es1.out")
is "$(jq -r .done <<<"$es")" count "eventsource: all 4 events"
is "$(jq -r '[.events[].type] | join(",")' <<<"$es")" \
    "record_created,record_updated,record_deleted,chat" "eventsource: in order"
is "$(jq -r '[.events[].id] | join(",")' <<<"$es")" \
    "$(q s1 '[.events[].id] | join(",")')" "eventsource: same ids as curl"
is "$(jq -r '[.events[].data] | join("\n")' <<<"$es")" \
    "$(q s1 '[.events[].data] | join("\n")')" "eventsource: same data as curl"
wait_until 5 streams_are 0
ok $? "health: streams back to 0 after the clients left (got $(health_streams))"

# ======================================================================
# Custom events: validation and payloads
# ======================================================================
sub s2 "$P/events" -H "$AUTH"
wait_sub s2
t64=$(printf 'e%.0s' {1..64})
for body in '{"type":"reset","payload":1}' \
    '{"type":"record_created","payload":1}' \
    '{"type":"record_anything","payload":1}' \
    '{"type":"a\nb","payload":1}' \
    '{"type":"a\rb","payload":1}' \
    "{\"type\":\"${t64}e\",\"payload\":1}" \
    '{"type":"","payload":1}' \
    '{"type":"two words","payload":1}' \
    '{"type":"caf\u00e9","payload":1}' \
    '{"type":"chat\u0000record_created","payload":1}' \
    '{"type":42,"payload":1}' \
    '{"payload":1}'; do
	send POST "$P/events" "$body"
	expect_error 400 invalid_event "custom event $body"
done
send POST "$P/events" '{"type":'
expect_error 400 invalid_json "custom event: bad JSON"
send POST "$P/events" '["chat"]'
expect_error 400 not_an_object "custom event: an array"
http POST "$P/events" -H "$AUTH" -d '{"type":"chat","payload":1}'
expect_error 415 unsupported_media_type "custom event: form Content-Type"
http POST "$P/events" -H "$J" -d '{"type":"chat","payload":1}'
expect_error 401 unauthorized "custom event: no token"
http POST "$P/events" -H "Authorization: Bearer $RTOKEN" -H "$J" \
    -d '{"type":"chat","payload":1}'
expect_error 403 forbidden "custom event: a read token"
send POST "$B/collections/nosuch/events" '{"type":"chat","payload":1}'
expect_error 404 not_found "custom event: unknown collection"
n=0
for body in "{\"type\":\"$t64\",\"payload\":{\"a\":[1,{\"b\":null}]}}" \
    '{"type":"A.b:c-d_9","payload":42}' \
    '{"type":"x","payload":"str\nwith newline"}' \
    '{"type":"x","payload":[1,"two"]}' \
    '{"type":"x","payload":null}' \
    '{"type":"x","payload":"caf\u00e9 \u2713"}'; do
	send POST "$P/events" "$body"
	is "$STATUS" 202 "custom event $body: 202"
	n=$((n + 1))
done
wait_events s2 $n
sleep 0.3
unsub s2
is "$(q s2 '.events | length')" 6 "custom events: only the 6 accepted ones arrive"
is "$(q s2 '[.events[].event] | join(",")')" "$t64,A.b:c-d_9,x,x,x,x" \
    "custom events: event: is the type"
is "$(q s2 '[.events[].data | fromjson | tojson] | join(" ")')" \
    '{"a":[1,{"b":null}]} 42 "str\nwith newline" [1,"two"] null "café ✓"' \
    "custom events: data: is the payload as JSON on one line"
is "$(q s2 '[.events[].framing] | unique | join(" ")')" "id,event,data" \
    "custom events: framing"

# ======================================================================
# Per-record streams and collection isolation
# ======================================================================
send POST "$B/collections" '{"name":"other"}'
send POST "$P/records" '{"v":1}'
R1=$(jbody .id)
subs rec "$P/records/$R1/events" col "$P/events" \
    oth "$B/collections/other/events"
ok $? "per-record: the streams open"
like "$(sheader rec Content-Type)" '^text/event-stream' "per-record: an event stream"
send PATCH "$P/records/$R1" '{"v":2}'
send POST "$P/records" '{"w":1}'
R2=$(jbody .id)
send PATCH "$P/records/$R2" '{"w":2}'
send POST "$P/events" '{"type":"chat","payload":"for the collection"}'
send POST "$B/collections/other/records" '{"elsewhere":true}'
http DELETE "$P/records/$R2" -H "$AUTH"
send PUT "$P/records/$R1" '{"v":3}'
http DELETE "$P/records/$R1" -H "$AUTH"
wait_events col 7
wait_events rec 3
wait_events oth 1
sleep 0.5
unsub rec
unsub col
unsub oth
is "$(q rec '[.events[].event] | join(",")')" \
    "record_updated,record_updated,record_deleted" \
    "per-record: only the record's own events"
is "$(q rec '[.events[].data | fromjson | .id] | unique | join(",")')" "$R1" \
    "per-record: all about $R1"
is "$(q rec '[.events[].data | fromjson | .fields.v // "-"] | join(",")')" "2,3,-" \
    "per-record: the right payloads"
is "$(q col '[.events[].event] | join(",")')" \
    "record_updated,record_created,record_updated,chat,record_deleted,record_updated,record_deleted" \
    "collection: all 7 events of posts, none of other"
is "$(q col '[.events[].id] | join(",")' | cut -d, -f6,7)" \
    "$(q rec '[.events[].id] | join(",")' | cut -d, -f2,3)" \
    "collection and per-record streams give an event the same id"
is "$(q oth '[.events[].event] | join(",")')/$(q oth '.events[0].data | fromjson | .collection')" \
    "record_created/other" "other collection: only its own record"

# ======================================================================
# Auth on the streams
# ======================================================================
http GET "$P/events" --max-time 5
expect_error 401 unauthorized "stream without a token"
like "$(header WWW-Authenticate)" '^Bearer' "stream without a token: WWW-Authenticate"
http GET "$P/events" --max-time 5 -H "Authorization: Bearer nope"
expect_error 401 unauthorized "stream with an unknown token"
http GET "$P/events?access_token=nope" --max-time 5
expect_error 401 unauthorized "stream with a wrong access_token"
http GET "$P/events?access_token=$RTOKEN" --max-time 2
is "$STATUS" 200 "access_token: a read token opens the stream"
like "$(header Content-Type)" '^text/event-stream' "access_token: an event stream"
like "$BODY" '^: basalt stream' "access_token: the stream starts"
send POST "$P/records" '{"for":"record stream"}'
R3=$(jbody .id)
http GET "$P/records/$R3/events?access_token=$RTOKEN" --max-time 2
like "$STATUS/$(header Content-Type)" "^200/text/event-stream" \
    "access_token: works on a record's stream too"
http GET "$P/events" --max-time 5 -H "Authorization: Bearer $(basalt_cli \
    token create acme web --scope write)"
expect_error 403 forbidden "stream with a write-only token"
basalt_cli app create acme web2 && basalt_cli collection create acme web2 posts
http GET "$URL/api/realms/acme/apps/web2/collections/posts/events" \
    --max-time 5 -H "$AUTH"
expect_error 403 forbidden "stream of another app"
get "$B/collections/nosuch/events" --max-time 5
expect_error 404 not_found "stream of an unknown collection"
get "$P/records/bad-id/events" --max-time 5
expect_error 400 invalid_id "stream of a bad record id"
get "$P/events?last_event_id=abc" --max-time 5
expect_error 400 invalid_parameter "stream with last_event_id=abc"
out=$(node "$SC" es --url "$P/events" --token nope --types chat --count 1 \
    --timeout 5 | tail -n 1)
is "$(jq -r '"\(.done) \(.opens)"' <<<"$out")" "closed 0" \
    "eventsource with a wrong token: fails and does not retry"
grep -q '"error":401' <<<"$(node "$SC" es --url "$P/events" --token nope \
    --types chat --count 1 --timeout 5)"
ok $? "eventsource with a wrong token: the error has code 401"
out=$(node "$SC" es --url "$P/events?access_token=$RTOKEN" --types chat \
    --count 1 --timeout 10 & sleep 1.5
    send POST "$P/events" '{"type":"chat","payload":"via query"}')
is "$(jq -r '.events[0].data' <<<"$(tail -n 1 <<<"$out")")" '"via query"' \
    "eventsource with ?access_token= gets events"
ok "$(grep -qF "$RTOKEN" "$T/basalt.log"; [ $? -ne 0 ]; echo $?)" \
    "access_token never appears in basalt's log (log_level=debug)"

# ======================================================================
# Resume with Last-Event-ID
# ======================================================================
sub r1 "$P/events" -H "$AUTH"
wait_sub r1
send POST "$P/records" '{"before":"the gap"}'
wait_events r1 1
unsub r1
L=$(q r1 '.events[-1].id')
like "$L" '^[0-9]+$' "resume: the subscriber saw event $L, then stopped"
write_records 100
is "$(grep -cE '^[0-9A-Z]{26}$' "$T/written")" 100 "resume: 100 records written meanwhile"
cp "$T/written" "$T/gap"
sub r2 "$P/events" -H "$AUTH" -H "Last-Event-ID: $L"
wait_events r2 100 10
send POST "$P/records" '{"after":"the gap"}'
LIVE=$(jbody .id)
wait_events r2 101
sleep 0.5
unsub r2
is "$(q r2 '.events | length')" 101 "resume (Last-Event-ID): 100 replayed + 1 live, nothing more"
is "$(q r2 '[.events[:100][].data | fromjson | .id] | join(" ")')" \
    "$(tr '\n' ' ' <"$T/gap" | sed 's/ $//')" \
    "resume (Last-Event-ID): the 100 records, each once, in order"
is "$(q r2 '.events[100].data | fromjson | .id')" "$LIVE" "resume: then live"
is "$(q r2 '[.events[].id | tonumber] | (. == sort) and (. == unique) and (.[0] > '"$L"')')" \
    true "resume: ids increase, all after $L"
sub r3 "$P/events?last_event_id=$L" -H "$AUTH"
wait_events r3 101 10
sleep 0.5
unsub r3
is "$(q r3 '[.events[].data | fromjson | .id] | join(" ")')" \
    "$(q r2 '[.events[].data | fromjson | .id] | join(" ")')" \
    "resume (?last_event_id=): the same 101 events"
out=$(node "$SC" es --url "$P/events" --token "$TOKEN" --last-id "$L" \
    --types record_created --count 101 --timeout 15 | tail -n 1)
is "$(jq -r '[.events[].id] | join(",")' <<<"$out")" \
    "$(q r2 '[.events[].id] | join(",")')" \
    "resume (eventsource, Last-Event-ID): the same 101 events"

# The seam: reconnect while writes go on.
send POST "$P/events" '{"type":"mark","payload":0}'
M=$(jbody .id)
(write_records 300) &
W=$!
bg_track $W
wait_until 10 eval '[ "$(wc -l <"$T/written")" -ge 60 ]'
sub r4 "$P/events" -H "$AUTH" -H "Last-Event-ID: $M"
diag "the subscriber joined when $(wc -l <"$T/written") of 300 were written"
wait $W
wait_events r4 300 15
sleep 0.5
unsub r4
is "$(q r4 '.events | length')" 300 "resume during writes: 300 events, no more"
is "$(q r4 '[.events[].data | fromjson | .id] | join(" ")')" \
    "$(tr '\n' ' ' <"$T/written" | sed 's/ $//')" \
    "resume during writes: every record once, in order, across the seam"

# An EventSource across a basalt restart: one reconnect, nothing lost.
node "$SC" es --url "$P/events" --token "$TOKEN" --types record_created \
    --count 10 --timeout 30 >"$T/es2.out" &
ES2=$!
bg_track $ES2
wait_until 5 grep -q '"open"' "$T/es2.out"
write_records 5
cp "$T/written" "$T/es2.ids"
wait_until 5 eval '[ "$(grep -c "\"ev\"" "$T/es2.out")" -ge 5 ]'
sleep 0.5
basalt_stop
is $? 0 "restart: basalt exits 0 on SIGTERM with streams open"
basalt_start || bail_out "basalt did not restart"
wait_until 5 health_ok
write_records 5
cat "$T/written" >>"$T/es2.ids"
wait $ES2
out=$(tail -n 1 "$T/es2.out")
is "$(jq -r '"\(.done) \(.opens)"' <<<"$out")" "count 2" \
    "restart: the EventSource reconnected once by itself"
is "$(jq -r '[.events[].data | fromjson | .id] | join(" ")' <<<"$out")" \
    "$(tr '\n' ' ' <"$T/es2.ids" | sed 's/ $//')" \
    "restart: all 10 records once, in order, across the restart"

# ======================================================================
# Retention and the reset event
# ======================================================================
basalt_stop
basalt_config event_retention_count=5 retry_ms=750
basalt_start || bail_out "basalt did not restart"
wait_until 5 health_ok
for i in 1 2 3; do
	send POST "$P/events" "{\"type\":\"tick\",\"payload\":$i}"
	TICK[$i]=$(jbody .id)
done
# Pruning runs in the background: at start-up and every minute.
reset_seen() {
	curl -sN --max-time 1.5 -H "$AUTH" -H "Last-Event-ID: 1" "$P/events" \
	    >"$T/rs.out" 2>/dev/null
	grep -q '^event: reset' "$T/rs.out"
}
wait_until 70 reset_seen
ok $? "reset: an id older than retention gets a reset event"
node "$SC" parse <"$T/rs.out" >"$T/rs.json"
q rs '.events[0]' >"$T/rs0"
is "$(jq -r .event "$T/rs0")" reset "reset: it is the first event"
is "$(q rs '.retries | join(",")')" 750 "retry_ms=750: the stream's retry: hint follows it"
is "$(jq -r '.data | fromjson | .reason' "$T/rs0")" events_pruned \
    "reset: reason events_pruned"
is "$(jq -r '.data | fromjson | .last_event_id' "$T/rs0")" "$(jq -r .id "$T/rs0")" \
    "reset: last_event_id is the event's id"
is "$(q rs '[.events[].id | tonumber] | (. == sort) and (. == unique)')" true \
    "reset: then ids go on increasing"
RID=$(jq -r .id "$T/rs0")
sub rs2 "$P/events" -H "$AUTH" -H "Last-Event-ID: 1"
wait_events rs2 1
send POST "$P/records" '{"after":"reset"}'
AR=$(jbody .id)
wait_until 5 eval 'grep -q "$AR" "$T/rs2.out"'
sleep 0.3
unsub rs2
is "$(q rs2 '.events[0].event')" reset "reset: a second client also starts with reset"
is "$(q rs2 '.events[-1].data | fromjson | .id')" "$AR" "reset: then the stream goes on live"
ok "$(q rs2 "[.events[1:][].id | tonumber] | all(. > $RID)" | grep -q true; echo $?)" \
    "reset: nothing at or before the reset id follows it"
sub rs3 "$P/events" -H "$AUTH" -H "Last-Event-ID: ${TICK[1]}"
wait_events rs3 3
sleep 0.5
unsub rs3
is "$(q rs3 '[.events[].event] | join(",")')" "tick,tick,record_created" \
    "retention: an id still kept replays without reset"

basalt_stop
basalt_config
basalt_start || bail_out "basalt did not restart"
wait_until 5 health_ok

# ======================================================================
# 1,000 subscribers, one of them not reading
# ======================================================================
nfd() { ls "/proc/$BASALT_PID/fd" 2>/dev/null | wc -l; }
FD0=$(nfd)
node "$SC" crowd --url "$P/events" --write-url "$P/records" --token "$TOKEN" \
    --n 1000 --events 100 --paused 1 --timeout 120 \
    --health-url "$URL/api/health" >"$T/crowd.json" 2>"$T/crowd.err"
ok $? "crowd: the client ran"
C=$(tail -n 1 "$T/crowd.json")
diag "crowd: $(jq -c 'del(.first_ids)' <<<"$C")"
is "$(jq .status200 <<<"$C")" 1000 "crowd: 1,000 streams open (200 + opening)"
is "$(jq .streams_open <<<"$C")" 1000 "crowd: health reports 1,000 streams"
is "$(jq .writes <<<"$C")" 100 "crowd: 100 writes"
is "$(jq .complete <<<"$C")" 999 "crowd: each of the 999 readers got all 100 events"
is "$(jq .in_order <<<"$C")" 999 "crowd: ... in order"
is "$(jq .same_order <<<"$C")" true "crowd: ... all with the same ids"
ok "$(jq -e '.all_done_after_last_write_ms < 5000' <<<"$C" >/dev/null; echo $?)" \
    "crowd: the reader that stopped did not hold the others back ($(jq .all_done_after_last_write_ms <<<"$C") ms after the last write)"
wait_until 10 streams_are 0
ok $? "crowd: after they all left, health reports 0 streams (got $(health_streams))"
kill -0 "$BASALT_PID"
ok $? "crowd: basalt still runs"
ok "$([ "$(nfd)" -le $((FD0 + 4)) ]; echo $?)" \
    "crowd: no leaked file descriptor ($FD0 open before, $(nfd) after)"

# A reader that stops while big events flow is closed at stream_buffer_limit.
node "$SC" crowd --url "$P/events" --write-url "$P/records" --token "$TOKEN" \
    --n 6 --events 40 --paused 1 --payload-bytes 262144 --timeout 60 \
    --health-url "$URL/api/health" >"$T/slow.json" 2>"$T/slow.err"
C=$(tail -n 1 "$T/slow.json")
diag "slow reader: $(jq -c 'del(.first_ids)' <<<"$C")"
is "$(jq .complete <<<"$C")" 5 "slow reader: the 5 readers got all 40 events of 256 kB"
ok "$(jq -e '.all_done_after_last_write_ms < 5000' <<<"$C" >/dev/null; echo $?)" \
    "slow reader: without delay ($(jq .all_done_after_last_write_ms <<<"$C") ms after the last write)"
is "$(jq .streams_after_writes <<<"$C")" 5 \
    "slow reader: basalt closed the stream of the one that stopped reading"
is "$(jq '.paused[0].ended and .paused[0].got < 40' <<<"$C")" true \
    "slow reader: it sees its stream end before the 40th event ($(jq .paused[0].got <<<"$C") got)"
wait_until 10 streams_are 0
ok $? "slow reader: health back to 0 streams"

# ======================================================================
# Two processes on one database
# ======================================================================
PID1=$BASALT_PID URL1=$URL
basalt_start --listen "$T/basalt2.sock" || bail_out "a second basalt did not start"
PID2=$BASALT_PID
lighttpd_start "$T/basalt2.sock" || bail_out "a second lighttpd did not start"
URL2=$URL
P1=$URL1/api/realms/acme/apps/web/collections/posts
P2=$URL2/api/realms/acme/apps/web/collections/posts
node "$SC" crowd --url "$P1/events,$P2/events" \
    --write-url "$P1/records,$P2/records" --token "$TOKEN" \
    --n 20 --events 100 --timeout 60 >"$T/two.json" 2>"$T/two.err"
C=$(tail -n 1 "$T/two.json")
diag "two processes: $(jq -c 'del(.first_ids)' <<<"$C")"
is "$(jq .writes <<<"$C")" 100 "two processes: 100 writes, alternating between them"
is "$(jq .complete <<<"$C")" 20 "two processes: the 20 subscribers (10 on each) got all 100"
is "$(jq .same_order <<<"$C")" true "two processes: in the same order, with the same ids"
ok "$(jq -e '.latency_ms.max < 1000' <<<"$C" >/dev/null; echo $?)" \
    "two processes: every event within 1 s (max $(jq .latency_ms.max <<<"$C") ms, p50 $(jq .latency_ms.p50 <<<"$C") ms, target 50)"
node "$SC" crowd --url "$P2/events" --write-url "$P1/records" --token "$TOKEN" \
    --n 5 --events 50 --timeout 30 >"$T/cross.json" 2>"$T/cross.err"
C=$(tail -n 1 "$T/cross.json")
diag "written through 1, read through 2: $(jq -c 'del(.first_ids)' <<<"$C")"
is "$(jq .complete <<<"$C")" 5 "two processes: written through one, every event reaches the other's 5 subscribers"
ok "$(jq -e '.latency_ms.max < 1000' <<<"$C" >/dev/null; echo $?)" \
    "two processes: from one to the other within 1 s (max $(jq .latency_ms.max <<<"$C") ms, p50 $(jq .latency_ms.p50 <<<"$C") ms, target 50)"
http GET "$URL2/api/health"
is "$(jbody .status)" ok "two processes: the second answers health"

# Straight on the FastCGI socket: one END_REQUEST per request, then close.
PEERS=$top_srcdir/tests/fcgi-peers.mjs
out=$(node "$PEERS" get "$T/basalt2.sock" 3 5 /api/health | tail -n 1)
is "$(jq -c '[.records[] | [.[] | select(. == "END_REQUEST")] | length]' <<<"$out")" \
    "[1,1,1]" "FastCGI: a REST reply has exactly one END_REQUEST"
is "$(jq -c '[.records[] | .[-2:]] | unique' <<<"$out")" '[["STDOUT_END","END_REQUEST"]]' \
    "FastCGI: ... after the closing empty STDOUT, and last"
is "$(jq .closed <<<"$out")" 3 "FastCGI: basalt closes the connection (keep_conn off)"
like "$(jq -r '.replies[0]' <<<"$out")" '"status":"ok"' "FastCGI: the reply is health's"

# SIGTERM ends the streams cleanly.
node "$PEERS" get "$T/basalt2.sock" 2 30 \
    /api/realms/acme/apps/web/collections/posts/events "$TOKEN" >"$T/direct.json" &
DIRECT=$!
bg_track $DIRECT
subs end1 "$P1/events" end2 "$P2/events"
wait_until 3 streams_are 3	# end1 is on the first process
basalt_stop "$PID1"
is $? 0 "SIGTERM: the first basalt exits 0 with a stream open"
wait_until 5 eval '! kill -0 $SUB_end1 2>/dev/null'
ok $? "SIGTERM: its subscriber's stream ends"
wait "$SUB_end1"
is $? 0 "SIGTERM: ... cleanly (curl exit 0: the response was complete)"
send POST "$P2/records" '{"still":"here"}'
wait_events end2 1
ok $? "SIGTERM: the second process goes on serving its stream"
basalt_stop "$PID2"
is $? 0 "SIGTERM: the second basalt exits 0"
wait $DIRECT
out=$(tail -n 1 "$T/direct.json")
is "$(jq .closed <<<"$out")" 2 "SIGTERM: FastCGI stream connections are closed"
is "$(jq -c '[.records[] | [.[] | select(. == "END_REQUEST")] | length]' <<<"$out")" \
    "[1,1]" "SIGTERM: each stream got exactly one END_REQUEST"
is "$(jq -c '[.records[] | .[-2:]] | unique' <<<"$out")" '[["STDOUT_END","END_REQUEST"]]' \
    "SIGTERM: ... after the closing empty STDOUT, and nothing after it"
like "$(jq -r '.replies[0]' <<<"$out")" $'^([A-Za-z-]+: [^\r\n]*\r?\n)+\r?\n: basalt stream\n' \
    "SIGTERM: the FastCGI stream had CGI headers, then the opening"
like "$(jq -r '.replies[0]' <<<"$out")" $'Content-Type: text/event-stream\r?\n' \
    "SIGTERM: ... an event stream"
like "$(jq -r '.replies[0]' <<<"$out")" '"still":"here"' \
    "SIGTERM: ... and the event written before the stop"
ok "$(grep -qE 'Sanitizer|runtime error:' "$T/basalt.log"; [ $? -ne 0 ]
    echo $?)" "no sanitizer report in basalt's log"

done_testing
