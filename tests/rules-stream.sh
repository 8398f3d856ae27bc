#!/bin/bash
# End users' streams obey the collection's rules, through lighttpd: two
# users' JWT streams on one collection with the list rule
# `fields.owner = @token.sub`, where A's stream (curl -N and the npm
# eventsource client) never carries a byte of B's records through
# create, update into view (record_entered) and out of it (record_left),
# delete and resume with Last-Event-ID; a record's stream under the view
# rule; custom events under the subscribe rule; a change of rules gives
# a reset (rules_changed) and the new rules hold after it, live and on
# resume; a stream ends at its token's expiry, to the second.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq node
if on_pg; then need psql; else need sqlite3; fi
need_npm eventsource

# A long heartbeat: a stream that ends at its expiry does so on its own
# timer, not at a heartbeat.
demo_start heartbeat_interval=30
send POST "$B/collections" '{"name":"todos"}'
TD=$B/collections/todos
SIGN=$top_srcdir/tests/jwt-sign.mjs
head -c 32 /dev/urandom >"$T/hs.key"
basalt_cli app jwt acme web --hs256-secret-file "$T/hs.key" >/dev/null ||
    bail_out "cannot make the app trust JWTs"

# jwt SUB [ARGS...]: an HS256 JWT of the app for user SUB.
jwt() {
	node "$SIGN" --alg HS256 --key "$T/hs.key" --sub "$@"
}

# rules ARGS...: sets the rules of todos with the CLI.
rules() {
	basalt_cli collection rules acme web todos "$@" >/dev/null
}

# enc TEXT: TEXT percent-encoded for a query string.
enc() {
	jq -rn --arg s "$1" '$s | @uri'
}

# frames NAME: the event frames of NAME's stream as sent (the opening and
# comments left out), for a comparison byte for byte.
frames() {
	awk 'BEGIN { RS = ""; ORS = "\n\n" } /^id: |^event: /' "$T/$1.out"
}

# jsub NAME URL JWT [CURL ARGS...]: a subscriber with JWT.
jsub() {
	sub "$1" "$2" -H "Authorization: Bearer $3" "${@:4}"
}

# mk OWNER NOTE: creates a todo with the service token; ID is its id.
mk() {
	send POST "$TD/records" "{\"owner\":\"$1\",\"note\":\"$2\"}"
	ID=$(jbody .id)
}

JA=$(jwt alice)
JB=$(jwt bob)
ESTYPES=record_created,record_updated,record_entered,record_left,record_deleted,reset,public,internal,done

# ======================================================================
# Refused: no list rule, no view rule
# ======================================================================
http GET "$TD/events" -H "Authorization: Bearer $JA" --max-time 5
is "$STATUS $(jbody .error.code)" "403 forbidden" \
    "no list rule: a JWT stream is refused"
like "$(header Content-Type)" '^application/json' "no list rule: JSON, not a stream"
get "$TD/events" --max-time 2
is "$STATUS" 200 "no list rule: a service token's stream opens"

rules --list 'fields.owner = @token.sub' --view 'fields.owner = @token.sub'
http GET "$TD/events?filter=$(enc 'fields.owner = @token.sub || true')" \
    -H "Authorization: Bearer $JA" --max-time 5
is "$STATUS $(jbody .error.code)" "400 invalid_filter" \
    "filter= cannot name @token: only rules can"
http GET "$TD/events?types=rules_changed" -H "Authorization: Bearer $JA" \
    --max-time 5
is "$STATUS $(jbody .error.code)" "400 invalid_parameter" \
    "types= cannot ask for rules_changed: it is never sent as such"

# ======================================================================
# Two users: create, update into and out of view, delete
# ======================================================================
jsub a "$TD/events" "$JA"
jsub b "$TD/events" "$JB"
jsub af "$TD/events?filter=$(enc 'fields.n > 1')" "$JA"
sub all "$TD/events" -H "$AUTH"
node "$SC" es --url "$TD/events" --token "$JA" --types "$ESTYPES" \
    --count 5 --timeout 30 >"$T/esa.out" &
ESA=$!
bg_track $ESA
wait_sub a && wait_sub b && wait_sub af && wait_sub all &&
    wait_until 5 grep -q '"open"' "$T/esa.out"
ok $? "users: the streams open"
like "$(sheader a Content-Type)" '^text/event-stream' "users: A's is an event stream"

mk alice a-note-1;		A1=$ID
mk bob bob-secret-1;		B1=$ID
send PATCH "$TD/records/$B1" '{"note":"bob-secret-2","n":2}'
send PATCH "$TD/records/$B1" '{"owner":"alice","note":"given-to-alice"}'
B1IN=$BODY
send PATCH "$TD/records/$B1" '{"owner":"bob","note":"bob-secret-3"}'
send PATCH "$TD/records/$A1" '{"n":5}'
A1UP=$BODY
mk bob bob-secret-4;		B2=$ID
http DELETE "$TD/records/$B2" -H "$AUTH"
http DELETE "$TD/records/$A1" -H "$AUTH"
send POST "$TD/events" '{"type":"done","payload":1}'
wait_events all 10 && wait_events a 5 && wait_events b 6
sleep 0.5
for n in a b af all; do unsub $n; done
wait $ESA

LEFT="{\"id\":\"$B1\",\"collection\":\"todos\"}"
is "$(q a '[.events[] | .event + ":" + (.data | fromjson | .id)] | join(" ")')" \
    "record_created:$A1 record_entered:$B1 record_left:$B1 record_updated:$A1 record_deleted:$A1" \
    "users: A gets its own record, B's record entering and leaving its view, nothing else"
is "$(q a '.events[1].data')" "$B1IN" "users: record_entered carries the record as it entered"
is "$(q a '.events[2].data')" "$LEFT" "users: record_left carries {id, collection} alone"
is "$(q a '.events[3].data')" "$A1UP" "users: record_updated carries the record"
is "$(grep -c 'bob-secret' "$T/a.out")" 0 "users: not a byte of B's records' fields in A's stream"
is "$(grep -c "$B2" "$T/a.out")" 0 "users: not even the id of a record A never saw"
is "$(q a '[.events[].id] | join(",")')" \
    "$(q all '[.events[0,3,4,5,8].id] | join(",")')" \
    "users: each event A gets keeps its id in the log"
is "$(q b '[.events[].id] | join(",")')" \
    "$(q all '[.events[1,2,3,4,6,7].id] | join(",")')" \
    "users: and so does each of B's"
is "$(q b '[.events[] | .event + ":" + (.data | fromjson | .id)] | join(" ")')" \
    "record_created:$B1 record_updated:$B1 record_left:$B1 record_entered:$B1 record_created:$B2 record_deleted:$B2" \
    "users: B gets its own records and none of A's"
is "$(grep -c 'a-note-1' "$T/b.out")" 0 "users: not a byte of A's records in B's stream"
is "$(q af '[.events[] | .event + ":" + (.data | fromjson | .id)] | join(" ")')" \
    "record_entered:$B1 record_left:$B1 record_entered:$A1 record_deleted:$A1" \
    "users: filter= narrows A's stream further (n > 1), never widens it"
is "$(q all '[.events[].event] | join(",")')" \
    "record_created,record_created,record_updated,record_updated,record_updated,record_updated,record_created,record_deleted,record_deleted,done" \
    "users: a service token's stream gets every event"
is "$(jq -s -r '[.[] | select(.ev) | .type + ":" + .ev] | join(" ")' "$T/esa.out")" \
    "$(q a '[.events[] | .event + ":" + .id] | join(" ")')" \
    "users: the eventsource client gets the same events as curl"
is "$(grep -c bob-secret "$T/esa.out")" 0 "users: nothing of B's records reaches A's eventsource client"

# ======================================================================
# Resume: A's stream resumed from any point carries exactly what the
# live one did after it, with curl and with the eventsource client
# ======================================================================
AIDS=($(q a '.events[].id'))
jsub r0 "$TD/events" "$JA" -H "Last-Event-ID: $((AIDS[0] - 1))"
jsub r2 "$TD/events" "$JA" -H "Last-Event-ID: ${AIDS[1]}"
wait_events r0 5 && wait_events r2 3
sleep 0.3
unsub r0
unsub r2
is "$(frames r0)" "$(frames a)" \
    "resume: from before the first, the same frames as the live stream, byte for byte"
is "$(frames r2)" "$(frames a | awk -v id="${AIDS[1]}" '
    BEGIN { RS = ""; ORS = "\n\n" } { split($0, l, "\n"); sub(/^id: /, "", l[1]) }
    l[1] + 0 > id + 0')" "resume: from A's second event, the frames after it"
is "$(grep -c bob-secret "$T/r0.out")" 0 "resume: nothing of B's records in the replay"
node "$SC" es --url "$TD/events" --token "$JA" --types "$ESTYPES" \
    --last-id "${AIDS[0]}" --count 4 --timeout 20 >"$T/esr.out"
is "$(jq -s -r '[.[] | select(.ev) | .type + ":" + .ev] | join(" ")' "$T/esr.out")" \
    "$(q a '[.events[1:][] | .event + ":" + .id] | join(" ")')" \
    "resume: the eventsource client with Last-Event-ID gets the same"
http GET "$TD/events?access_token=$JA" -H "Last-Event-ID: $((AIDS[0] - 1))" \
    --max-time 2
is "$(awk 'BEGIN { RS = ""; ORS = "\n\n" } /^id: /' <<<"$BODY")" "$(frames a)" \
    "resume: access_token in the query works the same"

# ======================================================================
# A record's stream: the view rule
# ======================================================================
mk alice a-note-2;	A2=$ID
mk bob bob-secret-5;	B3=$ID
http GET "$TD/records/$B3/events" -H "Authorization: Bearer $JA" --max-time 3
is "$STATUS $(jbody .error.code)" "404 not_found" \
    "record: A cannot stream B's record (404, as if it did not exist)"
jsub ra "$TD/records/$A2/events" "$JA"
wait_sub ra
ok $? "record: A streams its own record"
send PATCH "$TD/records/$A2" '{"n":1}'
send PATCH "$TD/records/$A2" '{"owner":"bob","note":"bob-secret-6"}'
send PATCH "$TD/records/$A2" '{"n":2}'
send PATCH "$TD/records/$A2" '{"owner":"alice","note":"back"}'
http DELETE "$TD/records/$A2" -H "$AUTH"
wait_events ra 4
sleep 0.3
unsub ra
is "$(q ra '[.events[].event] | join(",")')" \
    "record_updated,record_left,record_entered,record_deleted" \
    "record: updated, out of view, into view, deleted"
is "$(grep -c bob-secret "$T/ra.out")" 0 "record: nothing of the record while it was B's"

# ======================================================================
# Custom events: the subscribe rule
# ======================================================================
JS=$(jwt carol --claims '{"role":"staff"}')
pubs() {
	local t
	for t in "$@"; do
		send POST "$TD/events" "{\"type\":\"$t\",\"payload\":\"$t\"}"
	done
}
# unset: none
jsub cu "$TD/events" "$JA"
wait_sub cu
pubs public internal
mk alice after-unset
wait_events cu 1
sleep 0.3
unsub cu
is "$(q cu '[.events[].event] | join(",")')" record_created \
    "subscribe unset: no custom events, records still"
# "": all
rules --subscribe ''
jsub ce "$TD/events" "$JA"
wait_sub ce
pubs public internal
wait_events ce 2
sleep 0.3
unsub ce
is "$(q ce '[.events[].event] | join(",")')" public,internal \
    "subscribe \"\": every custom event"
# an expression on @event.type and @token
rules --subscribe '@event.type = "public" || @token.role = "staff"'
jsub ca "$TD/events" "$JA"
jsub cs "$TD/events" "$JS"
wait_sub ca && wait_sub cs
pubs public internal public
wait_events cs 3 && wait_events ca 2
sleep 0.3
unsub ca
unsub cs
is "$(q ca '[.events[].event] | join(",")')" public,public \
    "subscribe rule: A gets the public events only"
is "$(q cs '[.events[].event] | join(",")')" public,internal,public \
    "subscribe rule: a staff token gets them all"
CIDS=$(q cs '.events[0].id')
jsub cr "$TD/events" "$JA" -H "Last-Event-ID: $((CIDS - 1))"
wait_events cr 2
sleep 0.3
unsub cr
is "$(frames cr)" "$(frames ca)" "subscribe rule: the same on resume"

# ======================================================================
# A change of rules: reset, then the new rules
# ======================================================================
mk alice a-note-3;	A3=$ID
jsub ch "$TD/events" "$JA"
jsub chrec "$TD/records/$A3/events" "$JA"
sub chs "$TD/events" -H "$AUTH"
wait_sub ch && wait_sub chrec && wait_sub chs
mk bob bob-secret-7;	B4=$ID
rules --list 'fields.owner = @token.sub || fields.shared = true'
RID=$(dbsql "SELECT max(id) FROM events WHERE type = 'rules_changed'")
mk bob shared-by-bob;	B5=$ID
send PATCH "$TD/records/$B5" '{"shared":true}'
mk bob bob-secret-8
pubs public
send PATCH "$TD/records/$A3" '{"n":3}'
wait_events ch 4 && wait_events chs 6 && wait_events chrec 2
sleep 0.5
unsub ch
unsub chrec
unsub chs
is "$(q ch '.events[0].event + " " + (.events[0].data | fromjson | .reason)')" \
    "reset rules_changed" "rules: the change reaches A's stream as a reset (rules_changed)"
is "$(q ch '.events[0].id + " " + (.events[0].data | fromjson | .last_event_id | tostring)')" \
    "$RID $RID" "rules: the reset has the change's id in the log"
is "$(q ch '[.events[1:][] | .event + ":" + (.data | fromjson | .id? // .)] | join(" ")')" \
    "record_entered:$B5 public:public record_updated:$A3" \
    "rules: then the new rule holds (B's shared record enters A's view)"
is "$(grep -c bob-secret "$T/ch.out")" 0 "rules: nothing of B's other records"
is "$(q chs '[.events[].event] | map(select(. == "reset" or . == "rules_changed")) | length')" 0 \
    "rules: a service token's stream never sees the change"
is "$(q chrec '[.events[] | .event + ":" + .id] | join(" ")')" \
    "reset:$RID record_updated:$(q ch '.events[-1].id')" \
    "rules: a record's JWT stream gets the reset too, then goes on"
jsub chr "$TD/events" "$JA" -H "Last-Event-ID: $((RID - 2))"
wait_events chr 4
jsub chrr "$TD/records/$A3/events" "$JA" -H "Last-Event-ID: $((RID - 1))"
wait_events chrr 2
sleep 0.3
unsub chr
unsub chrr
is "$(frames chr)" "$(frames ch)" \
    "rules: on resume from before the change, the same frames: the reset in its place, then the new rule"
is "$(frames chrr)" "$(frames chrec)" "rules: the same for a record's stream"
jsub ug "$TD/events" "$JA"
wait_sub ug
rules --unset list
wait_until 5 ended ug
ok $? "rules: unsetting the list rule ends the open JWT streams"
unsub ug
is "$(q ug '[.events[] | .event + ":" + (.data | fromjson | .reason)] | join(",")')" \
    reset:rules_changed "rules: after a last reset (rules_changed)"
http GET "$TD/events" -H "Authorization: Bearer $JA" --max-time 3
is "$STATUS $(jbody .error.code)" "403 forbidden" \
    "rules: with the list rule unset, a JWT stream is refused"
rules --list 'fields.owner = @token.sub'

# ======================================================================
# Expiry: the stream ends at the token's exp with token_expired
# ======================================================================
EXP=$(( $(date +%s) + 3 ))
JX=$(jwt alice --exp "$EXP")
jsub ex "$TD/events" "$JX"
wait_sub ex
ok $? "expiry: the stream opens"
wait_until 10 ended ex
rc=$?
ENDED=$(date +%s.%N)
ok $rc "expiry: the stream ends by itself"
unsub ex
is "$(q ex '.events[-1].event')" token_expired "expiry: the last event is token_expired"
is "$(q ex '.events[-1].data | fromjson | .expires_at')" "$EXP" \
    "expiry: it names the expiry"
ok "$(awk -v e="$ENDED" -v x="$EXP" 'BEGIN { print (e >= x && e < x + 1.5) ? 0 : 1 }')" \
    "expiry: at the token's exp, well before the next heartbeat (ended $ENDED, exp $EXP)"

# Stopped, so that a leak would be reported too.
basalt_stop
is "$?" 0 "basalt stops cleanly"
ok "$(grep -qE 'Sanitizer|runtime error:' "$T/basalt.log"; [ $? -ne 0 ]
    echo $?)" "no sanitizer report in basalt's log"

done_testing
