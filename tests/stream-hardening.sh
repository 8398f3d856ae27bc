#!/bin/bash
# End-to-end tests of streams and FastCGI connections under hostile or
# unlucky use, through lighttpd with curl -N and with raw FastCGI peers:
# a resume over big events (replay), an event larger than
# stream_buffer_limit (live and replay), a peer that writes but never
# reads, request headers over 64 KiB, revoked and expired tokens, and the
# deletion of a collection with open streams.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq node
need_npm eventsource

demo_start stream_buffer_limit=64k

alive() { kill -0 "$BASALT_PID" 2>/dev/null; }
# revive: starts basalt again if it died (a failed check above), so that
# each part below tests its own item.
revive() {
	alive && return 0
	diag "basalt died; starting it again for the next part"
	basalt_start || bail_out "basalt serve did not start again"
	wait_until 10 health_ok	# lighttpd takes the backend back
}
# payload N: a JSON string of N bytes of text.
payload() { head -c "$1" /dev/zero | tr '\0' 'p'; }

# ======================================================================
# Replay of big events (stream_buffer_limit = 64k here): a resume over 20
# events of 50 KB gets them all, whole and in order; a client that does
# not read is paused, not a crash.
# ======================================================================
before=$(curl -s -H "$AUTH" -H "$J" -d '{"type":"mark","payload":0}' \
    "$P/events" | jq -r .id)
like "$before" '^[0-9]+$' "replay: a mark event before the big ones"
printf '{"type":"big","payload":{"i":%%d,"s":"%s"}}' "$(payload 50000)" \
    >"$T/big.fmt"
for i in $(seq 1 20); do
	# shellcheck disable=SC2059
	printf "$(cat "$T/big.fmt")" "$i" >"$T/big.json"
	curl -s -o /dev/null -H "$AUTH" -H "$J" --data-binary @"$T/big.json" \
	    "$P/events"
done
sub rp "$P/events" -H "$AUTH" -H "Last-Event-ID: $before"
wait_until 30 has_events rp 20
ok $? "replay: curl -N resume over 20 events of 50 KB gets all 20 ($(nevents rp))"
unsub rp
is "$(q rp '[.events[] | .data | fromjson | .i] | join(",")')" \
    "$(seq -s, 1 20)" "replay: in order"
is "$(q rp '[.events[] | .data | fromjson | .s | length] | unique | join(",")')" \
    50000 "replay: every event whole (50,000 bytes of payload)"
is "$(q rp '[.events[] | .id | tonumber] | . == (sort) and (.[0] > '"$before"')')" \
    true "replay: ids ascend after Last-Event-ID"
ok "$(alive; echo $?)" "replay: basalt is still running"

# A raw FastCGI peer that resumes and never reads: replay waits for it.
LAST_EVENT_ID=$before node "$FP" stall "$BASALT_SOCK" 3 3 \
    /api/realms/acme/apps/web/collections/posts/events "$RTOKEN" \
    2>"$T/stall.err" | tail -n 1 >"$T/stall.json"
wait_until 5 alive
ok $? "replay: a client that does not read does not crash basalt"
health_ok
is "$STATUS" 200 "replay: basalt answers after the stalled resumes"

revive
# ======================================================================
# An event larger than stream_buffer_limit is delivered, live and on
# resume, and the stream goes on after it.
# ======================================================================
# Clients that read at 300 kB/s: lighttpd then reads no faster, and the
# event cannot go out in one write.
sub lv "$P/events" -H "$AUTH" --limit-rate 300k
wait_sub lv
ok $? "large: the live stream opens"
printf '{"type":"huge","payload":"%s"}' "$(payload 600000)" >"$T/huge.json"
http POST "$P/events" -H "$AUTH" -H "$J" --data-binary @"$T/huge.json"
is "$STATUS" 202 "large: an event of 600 KB (limit 64k) is accepted"
HUGE=$(jbody .id)
send POST "$P/events" '{"type":"after","payload":1}'
AFTER=$(jbody .id)
wait_until 15 has_events lv 2
ok $? "large: the live stream gets the big event and the next ($(nevents lv))"
ok "$(ended lv && echo 1 || echo 0)" "large: the live stream is still open"
unsub lv
is "$(q lv '[.events[] | .id] | join(",")')" "$HUGE,$AFTER" \
    "large: live ids in order"
is "$(q lv '.events[0].data | fromjson | length')" 600000 \
    "large: live, the event is whole"
sub lr "$P/events" -H "$AUTH" -H "Last-Event-ID: $((HUGE - 1))" \
    --limit-rate 300k
wait_until 15 has_events lr 2
ok $? "large: a resume before it gets it and the next ($(nevents lr))"
unsub lr
is "$(q lr '[.events[] | .id] | join(",")')" "$HUGE,$AFTER" \
    "large: replayed ids in order"
is "$(q lr '.events[0].data | fromjson | length')" 600000 \
    "large: replayed, the event is whole"
# A raw FastCGI peer that reads nothing for a second: the event waits.
LAST_EVENT_ID=$((HUGE - 1)) node "$FP" late "$BASALT_SOCK" 1 6 \
    /api/realms/acme/apps/web/collections/posts/events "$RTOKEN" \
    2>"$T/late.err" | tail -n 1 >"$T/late.json"
jq -r '.replies[0] // "" | split("\r\n\r\n")[1:] | join("\r\n\r\n")' \
    "$T/late.json" | node "$SC" parse >"$T/late.parsed"
is "$(jq -c '[.events[] | [.id, (.data | length)]]' "$T/late.parsed")" \
    "[[\"$HUGE\",600002],[\"$AFTER\",1]]" \
    "large: a peer that reads late gets it whole on resume, then the next"
node "$SC" es --url "$P/events" --token "$RTOKEN" --types huge,after \
    --count 2 --timeout 20 --last-id "$((HUGE - 1))" >"$T/es-large.out"
is "$(jq -s -c '[.[] | select(.ev) | .type]' "$T/es-large.out")" \
    '["huge","after"]' "large: the eventsource client gets both on resume"

revive
# ======================================================================
# A FastCGI peer that writes but never reads is closed, with basalt's
# memory bounded; a big legitimate reply is whole.
# ======================================================================
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$BASALT_PID/status" 2>/dev/null || echo 0; }
rss0=$(rss)
node "$FP" flood "$BASALT_SOCK" 1 8 2>"$T/flood.err" |
    tail -n 1 >"$T/flood.json" &
FLOOD=$!
bg_track $FLOOD
peak=$rss0
for i in $(seq 1 80); do
	kill -0 $FLOOD 2>/dev/null || break
	r=$(rss)
	[ "${r:-0}" -gt "$peak" ] && peak=$r
	sleep 0.1
done
wait $FLOOD
diag "flood: $(jq -c '{closed, close_after, written}' "$T/flood.json"); RSS $rss0 kB, peak $peak kB"
is "$(jq .closed "$T/flood.json")" 1 "flood: basalt closed the peer that does not read"
ok "$([ $((peak - rss0)) -lt 65536 ]; echo $?)" \
    "flood: basalt's RSS grew by less than 64 MB ($(( (peak - rss0) / 1024 )) MB)"
ok "$(alive; echo $?)" "flood: basalt is still running"

send POST "$B/collections" '{"name":"bulk"}'
for i in $(seq 1 500); do
	printf '{"i":%d,"s":"%s"}\n' "$i" "$(payload 2000)"
done | xargs -d '\n' -P 4 -I{} curl -s -o /dev/null -H "$AUTH" -H "$J" \
    -d {} "$B/collections/bulk/records"
http GET "$B/collections/bulk/records?limit=500" -H "$AUTH"
is "$STATUS" 200 "big reply: 200"
is "$(jbody '.items | length')" 500 "big reply: 500 records of 2 KB"
is "$(jbody '[.items[].fields.s | length] | unique | join(",")')" 2000 \
    "big reply: every record whole"
is "$(header Content-Length)" "$(printf '%s' "$BODY" | wc -c)" \
    "big reply: Content-Length bytes arrived ($(header Content-Length))"

revive
# ======================================================================
# Request headers over 64 KiB get a JSON 431, not a silent close.
# ======================================================================
node "$FP" bigparams "$BASALT_SOCK" 1 10 /api/health 2>"$T/bigp.err" |
    tail -n 1 >"$T/bigp.json"
R=$(jq -r '.replies[0] // ""' "$T/bigp.json")
like "$R" '^Status: 431 Request Header Fields Too Large' "big headers: 431"
is "$(sed -n '/^\r*$/,$p' <<<"$R" | tail -n 1 | jq -r .error.code 2>/dev/null)" \
    request_header_fields_too_large "big headers: a JSON error"
is "$(jq -c '.records[0][-1]' "$T/bigp.json")" '"END_REQUEST"' \
    "big headers: the request ends with END_REQUEST"

revive
# ======================================================================
# Reserved event types
# ======================================================================
for t in token_revoked token_expired collection_deleted; do
	send POST "$P/events" "{\"type\":\"$t\",\"payload\":1}"
	is "$STATUS $(jbody .error.code)" "400 invalid_event" \
	    "custom event type $t is reserved"
done

revive
# ======================================================================
# Revoked and expired tokens end their streams within a heartbeat
# (heartbeat_interval = 1 here) with a last event.
# ======================================================================
tok_id() { basalt_cli token list acme web | awk -F'\t' -v l="$1" '$3 == l { print $1 }'; }
T1=$(basalt_cli token create acme web --scope read --label revhdr)
T2=$(basalt_cli token create acme web --scope read --label revqry)
T3=$(basalt_cli token create acme web --scope read --label expiring \
    --expires 4s)
sub rh "$P/events" -H "Authorization: Bearer $T1"
sub rq "$P/events?access_token=$T2"
sub ex "$P/events" -H "Authorization: Bearer $T3"
wait_sub rh && wait_sub rq && wait_sub ex
ok $? "tokens: three streams open"
send POST "$P/events" '{"type":"before_revoke","payload":1}'
wait_until 5 has_events rh 1 && wait_until 5 has_events rq 1
ok $? "tokens: the streams get events before the revocation"
basalt_cli token revoke "$(tok_id revhdr)" &&
    basalt_cli token revoke "$(tok_id revqry)"
ok $? "tokens: two revoked with the CLI"
t0=$(date +%s%3N)
wait_until 6 ended rh && wait_until 6 ended rq
ok $? "tokens: both revoked streams end"
el=$(( $(date +%s%3N) - t0 ))
ok "$([ "$el" -lt 4500 ]; echo $?)" \
    "tokens: within a heartbeat, 3x slack ($el ms)"
send POST "$P/events" '{"type":"after_revoke","payload":1}'
for s in rh rq; do
	unsub $s
	is "$(q $s '.events[-1].event')" token_revoked "tokens: $s: the last event is token_revoked"
	is "$(q $s '.events[-1].data | fromjson | .token_id')" \
	    "$(tok_id "$([ $s = rh ] && echo revhdr || echo revqry)")" \
	    "tokens: $s: its data names the token"
	is "$(q $s '[.events[].event] | index("after_revoke")')" null \
	    "tokens: $s: nothing after it"
done
wait_until 10 ended ex
ok $? "tokens: the expiring token's stream ends"
unsub ex
is "$(q ex '.events[-1].event')" token_expired "tokens: the last event is token_expired"
http GET "$P/events" -H "Authorization: Bearer $T1" --max-time 3
is "$STATUS" 401 "tokens: the revoked token cannot reopen the stream"

revive
# ======================================================================
# Deleting a collection: one collection_deleted event, which ends the
# collection's streams and its records' streams, live and on resume.
# ======================================================================
send POST "$B/collections" '{"name":"gone"}'
G=$B/collections/gone
send POST "$G/records" '{"a":1}'
GR=$(jbody .id)
subs gc "$G/events" gr "$G/records/$GR/events" other "$P/events"
ok $? "delete: collection, record and other streams open"
send PATCH "$G/records/$GR" '{"a":2}'
wait_until 5 has_events gr 1
UPD=$(sed -n 's/^id: //p' "$T/gr.out" | head -n 1)
http DELETE "$G" -H "$AUTH"
is "$STATUS" 204 "delete: the collection is deleted"
wait_until 5 ended gc && wait_until 5 ended gr
ok $? "delete: the collection's and the record's streams end"
send POST "$P/events" '{"type":"still","payload":1}'
wait_until 5 has_events other 1
ok "$(ended other && echo 1 || echo 0)" "delete: another collection's stream goes on"
unsub gc
unsub gr
is "$(q gc '[.events[].event] | join(",")')" "record_updated,collection_deleted" \
    "delete: the collection stream's events"
is "$(q gr '[.events[].event] | join(",")')" "record_updated,collection_deleted" \
    "delete: the record stream's events"
is "$(q gc '.events[-1].data')" '{"collection":"gone"}' "delete: its data"
DEL=$(q gc '.events[-1].id')
is "$(q gr '.events[-1].id')" "$DEL" "delete: the same event on both"
http GET "$G/records/$GR" -H "$AUTH"
is "$STATUS" 404 "delete: the records are gone"
# One event for the deletion, not one per record.
{ on_pg || command -v sqlite3 >/dev/null 2>&1; } &&
    dbsql "SELECT type FROM events WHERE collection = 'gone'" \
    >"$T/gone.types" &&
    is "$(sort "$T/gone.types" | uniq -c | awk '{ print $2 ":" $1 }' | tr '\n' ' ')" \
    "collection_deleted:1 record_created:1 record_updated:1 " \
    "delete: one collection_deleted event in the log"

# Resume: the collection is made again; a resume from before the
# deletion replays up to it and ends there.
send POST "$B/collections" '{"name":"gone"}'
sub gc2 "$G/events" -H "$AUTH" -H "Last-Event-ID: $((UPD - 1))"
wait_until 5 ended gc2
ok $? "delete: a resume from before it ends"
unsub gc2
is "$(q gc2 '[.events[] | "\(.id):\(.event)"] | join(",")')" \
    "$UPD:record_updated,$DEL:collection_deleted" \
    "delete: the resume replays up to collection_deleted"
http GET "$G/records/$GR/events" -H "$AUTH" -H "Last-Event-ID: $((UPD - 1))" \
    --max-time 5
if [ "$STATUS" = 404 ]; then
	diag "a record stream of a record that is gone is refused: 404"
	ok 0 "delete: a record stream resume is refused or ends"
else
	node "$SC" parse <"$T/.http-body" >"$T/gr2.json"
	is "$(q gr2 '[.events[] | "\(.id):\(.event)"] | join(",")')" \
	    "$UPD:record_updated,$DEL:collection_deleted" \
	    "delete: a record stream resume replays up to collection_deleted and ends"
fi
sub gc3 "$G/events" -H "$AUTH" -H "Last-Event-ID: $DEL"
wait_sub gc3
send POST "$G/records" '{"again":1}'
wait_until 5 has_events gc3 1
ok $? "delete: a resume from the deletion on goes on live"

wait_until 10 streams_are 2
ok $? "streams: only the two left open remain ($(jbody .streams))"
ok "$(alive; echo $?)" "basalt is still running"
basalt_stop
is "$?" 0 "basalt stops cleanly"
done_testing
