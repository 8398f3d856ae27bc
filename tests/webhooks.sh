#!/bin/bash
# Webhooks against a receiver of the test's own (tests/webhook-receiver.mjs,
# which checks each signature with the README's three lines): the CLI,
# every event once and in order in batches of at most 100, a receiver
# that fails three times then gets the same events again, kill -9 of
# basalt mid-delivery losing nothing, a webhook paused after
# webhook_max_failures and resumed, a slow receiver that does not hold
# another, a redirect counted as a failure and not followed, a loopback
# address refused without webhook_allow_private, and the same over HTTP.

. "$top_srcdir/tests/lib.sh"

need lighttpd curl jq node
if on_pg; then need psql; else need sqlite3; fi

receiver_start

SETTINGS="webhook_timeout_ms=3000 webhook_max_failures=4"
# shellcheck disable=SC2086
demo_start webhook_allow_private=yes $SETTINGS
basalt_cli collection create acme web other || bail_out "collection create"

control() {
	curl -s -X POST "$RURL/control?$1" >/dev/null
}

# accepted WEBHOOK: the ids of the requests the receiver answered 200.
accepted() {
	jq -r --arg w "$1" 'select(.status == 200 and .webhook == $w) |
	    .ids[]' "$LOG" | tr '\n' ' '
}

# firsts WEBHOOK: accepted, each id once, where it came first.
firsts() {
	accepted "$1" | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' '
}

# expected: the ids of the posts events written since the webhook was
# made.
expected() {
	dbsql "SELECT id FROM events WHERE app = 'web' AND
	    collection = 'posts' AND id > $HEAD0 ORDER BY id" | tr '\n' ' '
}

field() {	# field WEBHOOK N: column N of its `webhook list` line
	basalt_cli webhook list acme web | awk -F '\t' -v w="$1" -v n="$2" \
	    '$1 == w { print $n }'
}

# at_least N CMD...: CMD prints N words or more (for wait_until, which
# runs its command again each time).
at_least() {
	[ "$("${@:2}" | wc -w)" -ge "$1" ]
}

field_is() {	# field_is WEBHOOK N VALUE
	[ "$(field "$1" "$2")" = "$3" ]
}

write_posts() {	# write_posts N: N posts in one transaction
	local reqs
	reqs=$(seq "$1" | jq -c -s 'map({method: "POST",
	    path: "collections/posts/records", body: {n: .}}) |
	    {requests: .}')
	send POST "$B/batch" "$reqs"
	[ "$STATUS" = 200 ] || diag "batch of $1: $STATUS $BODY"
}

# --- the CLI
basalt_cli webhook create acme web ftp://example.com/x 2>"$T/err"
is "$?|$(cat "$T/err")" "1|basalt: bad URL 'ftp://example.com/x': only http and https URLs are allowed" \
    "create: an ftp URL is refused"
basalt_cli webhook create acme web "$RURL/" --collections 'Posts!' 2>"$T/err"
is "$?|$(cat "$T/err")" "1|basalt: bad --collections: 'Posts!' is not a collection name" \
    "create: a bad collection name is refused"
OUT=$(basalt_cli webhook create acme web "$RURL/two" 2>"$T/err")
W2=$(sed -n 1p <<<"$OUT")
like "$(sed -n 2p <<<"$OUT")|$(wc -l <<<"$OUT")|$(cat "$T/err")" \
    '^[0-9a-f]{64}\|2\|basalt: webhook .* is shown only once$' \
    "create: without a secret file, a new secret is printed once"
basalt_cli webhook delete acme web "$W2"
ok $? "delete: exits 0"
basalt_cli webhook delete acme web "$W2" 2>"$T/err"
is "$?|$(cat "$T/err")" "1|basalt: webhook '$W2' not found" \
    "delete: a second time, not found"
# the highest event id ever given (log_head on PostgreSQL)
if on_pg; then
	HEAD0=$(dbsql "SELECT last_id FROM log_head")
else
	HEAD0=$(dbsql "SELECT coalesce(max(seq), 0) FROM sqlite_sequence
	    WHERE name = 'events'")
fi
W=$(basalt_cli webhook create acme web "$RURL/hook" --collections posts \
    --secret-file "$T/hook.secret")
like "$W" '^[0-9A-Z]{26}$' "create: with a secret file, prints the id alone"
is "$(basalt_cli webhook list acme web)" \
    "$W	$RURL/hook	posts	*	active	0	$HEAD0	-" \
    "list: id, URL, collections, types, state, failures, cursor, error"

# --- every event once, in order, at most 100 a request
write_posts 120
HTTP_MAX_TIME=10 send POST "$B/collections/other/records" '{"x":1}'
wait_until 30 at_least 120 accepted "$W"
is "$(accepted "$W")" "$(expected)" "the 120 events arrive once and in order"
is "$(jq -s "[.[] | select(.webhook == \"$W\" and .ids != null and .start == null)] |
    [length > 1, all(.sig), all(.ids | length <= 100),
    all(.header_ids == (.ids | map(tostring) | join(\",\"))),
    all(.type == \"application/json\")] | map(tostring) | join(\" \")" "$LOG")" \
    '"true true true true true"' \
    "signatures hold; batches of at most 100; Basalt-Event-Ids match; JSON"
is "$(jq -r "select(.webhook == \"$W\" and .status == 200) | .body[] |
    [.collection, .type, (.data | type)] | join(\" \")" "$LOG" | sort -u)" \
    "posts record_created object" "events of posts only, with their data"
# the cursor passes the last event delivered and, once no later event is
# the webhook's, the other collection's too: they are not read again
HEADNOW=$(dbsql "SELECT max(id) FROM events")
[ "$HEADNOW" -gt "$(expected | awk 'END { print $NF }')" ] ||
    bail_out "the other collection's event is not after the posts'"
wait_until 5 field_is "$W" 7 "$HEADNOW"
is "$(field "$W" 7)" "$HEADNOW" \
    "list: the cursor is past the last event delivered and the later ones not for it"

# --- a receiver that fails three times, then answers
N0=$(wc -l <"$LOG")
control fail=3
write_posts 5
wait_until 30 at_least 125 accepted "$W"
is "$(accepted "$W")" "$(expected)" \
    "after three failures, every event once more and in order"
is "$(tail -n +$((N0 + 1)) "$LOG" | jq -c 'select(.start == null) |
    [.status, .ids]' | awk -F, '{ print $1 }' | tr -d '[' | tr '\n' ' ')" \
    "$(printf '500 500 500 200 %.0s' 1 | sed 's/ $//') " \
    "three 500s, then one 200"
FAILED=$(tail -n +$((N0 + 1)) "$LOG" | jq -c 'select(.status == 500) |
    .ids' | sort -u)
OKIDS=$(tail -n +$((N0 + 1)) "$LOG" | jq -c 'select(.status == 200) | .ids')
is "$FAILED" "$OKIDS" "the failed requests carried the events delivered after"
is "$(field "$W" 5)|$(field "$W" 6)|$(field "$W" 8)" "active|0|HTTP status 500" \
    "list: active again, the last error kept"

# --- kill -9 mid-delivery
control delay=2000
N0=$(wc -l <"$LOG")
write_posts 5
started() {
	tail -n +$((N0 + 1)) "$LOG" | grep -q '"start":true'
}
wait_until 10 started
kill -KILL "$BASALT_PID"
wait "$BASALT_PID" 2>/dev/null
control delay=0
basalt_start || bail_out "basalt did not restart"
INFLIGHT=$(tail -n +$((N0 + 1)) "$LOG" | jq -r 'select(.start) | .ids[0]' |
    head -n 1)
times_accepted() {	# times_accepted ID: how often the receiver took it
	accepted "$W" | tr ' ' '\n' | grep -cx "$1"
}
sent_twice() {
	[ "$(times_accepted "$INFLIGHT")" -ge 2 ]
}
wait_until 40 sent_twice
wait_until 10 at_least 130 firsts "$W"
is "$(firsts "$W")" "$(expected)" \
    "kill -9 mid-delivery, restart: nothing lost, still in order"
is "$(times_accepted "$INFLIGHT")" 2 \
    "the request in flight at the kill is sent again after the restart"

# --- paused after webhook_max_failures, resumed
control fail=100
N0=$(wc -l <"$LOG")
write_posts 3
wait_until 40 field_is "$W" 5 paused
is "$(field "$W" 5)|$(field "$W" 6)|$(field "$W" 8)" "paused|4|HTTP status 500" \
    "four failures in a row: paused, with the last error"
sleep 2
is "$(tail -n +$((N0 + 1)) "$LOG" | jq -c 'select(.status == 500)' | wc -l)" 4 \
    "a paused webhook is not tried again"
control fail=0
basalt_cli webhook resume acme web "$W"
ok $? "resume: exits 0"
wait_until 20 at_least 133 firsts "$W"
is "$(firsts "$W")" "$(expected)" "resumed, it catches up from its cursor"
is "$(field "$W" 5)|$(field "$W" 6)" "active|0" "list: active after the resume"

# --- a slow receiver does not hold another webhook
control slow=10000
SW=$(basalt_cli webhook create acme web "$RURL/slow" --secret-file "$T/hook.secret")
write_posts 1
slow_started() {
	jq -e --arg w "$SW" 'select(.start and .webhook == $w)' "$LOG" >/dev/null
}
wait_until 10 slow_started || diag "the slow webhook's request did not start"
T0=$(date +%s%N)
write_posts 2
wait_until 10 at_least 136 firsts "$W"
MS=$((($(date +%s%N) - T0) / 1000000))
is "$(firsts "$W")" "$(expected)" "with a slow receiver hanging, the other gets its events"
ok "$([ "$MS" -lt 2000 ]; echo $?)" \
    "... in ${MS} ms, before the slow one's request times out (3 s)"
basalt_cli webhook delete acme web "$SW"

# --- a redirect is not followed: it counts as a failure
RW=$(basalt_cli webhook create acme web "$RURL/redirect" --types record_created \
    --secret-file "$T/hook.secret")
CUR0=$(field "$RW" 7)
write_posts 1
wait_until 20 field_is "$RW" 6 1
is "$(field "$RW" 5)|$(field "$RW" 6)|$(field "$RW" 7)|$(field "$RW" 8)" \
    "failing|1|$CUR0|HTTP status 302: redirects are not followed" \
    "list: a 302 answer is a failure, the cursor stays, the last error says why"
get "$B/webhooks"
is "$(jbody ".items[] | select(.id == \"$RW\") |
    [.state, .failures, .cursor, .last_error] | map(tostring) | join(\"|\")")" \
    "failing|1|$CUR0|HTTP status 302: redirects are not followed" \
    "HTTP: the webhook shows as failing, with that error"
wait_until 10 field_is "$RW" 6 2
RQ=$(jq -r "select(.webhook == \"$RW\" and .start == null) |
    [.path, .status] | join(\" \")" "$LOG")
is "$(sort -u <<<"$RQ")|$(wc -l <<<"$RQ")" "/redirect 302|2" \
    "the receiver saw two tries, each on the webhook's path, answered 302"
is "$(jq -r 'select(.path == "/target")' "$LOG" | wc -l)" 0 \
    "the Location's path was never requested"
basalt_cli webhook delete acme web "$RW"

# --- loopback refused without webhook_allow_private
basalt_stop || diag "basalt did not stop cleanly"
# shellcheck disable=SC2086
basalt_config $SETTINGS
basalt_start || bail_out "basalt did not restart"
W3=$(basalt_cli webhook create acme web "http://localhost:$RPORT/private" \
    --types record_created --secret-file "$T/hook.secret")
write_posts 1
wait_until 20 field_is "$W3" 6 1
like "$(field "$W3" 5)|$(field "$W3" 8)" \
    '^failing\|address (127\.0\.0\.1|::1) refused: a private or loopback address' \
    "localhost is refused on the address it resolves to"
is "$(jq -r "select(.webhook == \"$W3\")" "$LOG" | wc -l)" 0 \
    "the receiver got nothing from it"
basalt_cli webhook delete acme web "$W3"

# --- over HTTP, for admin tokens
http GET "$B/webhooks" -H "Authorization: Bearer $RTOKEN"
is "$STATUS" 403 "HTTP: a read token may not list webhooks"
send POST "$B/webhooks" '{"url":"gopher://example.com/"}'
is "$STATUS|$(jbody .error.code)" "400|invalid_parameter" "HTTP: a gopher URL is refused"
send POST "$B/webhooks" '{"url":"https://example.com/in","types":["record_deleted"]}'
HW=$(jbody .id)
is "$STATUS|$(jbody '[.url, (.types | join(",")), .collections, .state, (.secret | length)] | map(tostring) | join(" ")')|$(header Location)" \
    "201|https://example.com/in record_deleted null active 64|/api/realms/acme/apps/web/webhooks/$HW" \
    "HTTP: create answers 201 with the webhook and its new secret"
get "$B/webhooks"
is "$STATUS|$(jbody '.items | map(.id) | join(" ")')|$(jbody '.items | map(.secret) | unique | map(tostring) | join("")')" \
    "200|$W $HW|null" "HTTP: the list has both, and no secret"
send POST "$B/webhooks/$HW/resume" ''
is "$STATUS|$(jbody .state)" "200|active" "HTTP: resume answers with the webhook"
send DELETE "$B/webhooks/$HW" ''
is "$STATUS" 204 "HTTP: delete answers 204"
send DELETE "$B/webhooks/$HW" ''
is "$STATUS" 404 "HTTP: a second delete, 404"
send DELETE "$B/webhooks/not-an-id" ''
is "$STATUS|$(jbody .error.code)|$(jbody .error.message)" \
    "400|invalid_id|invalid webhook id 'not-an-id'" \
    "HTTP: a malformed webhook id is named as one"
send POST "$B/webhooks/${HW,,}/resume" ''
is "$STATUS|$(jbody .error.message)" "400|invalid webhook id '${HW,,}'" \
    "HTTP: ... on resume too"
get "$B/collections/posts/records/not-an-id"
is "$STATUS|$(jbody .error.message)" "400|invalid record id 'not-an-id'" \
    "HTTP: a record's stays a record id"
is "$(basalt_cli webhook list acme web | cut -f1)" "$W" "delete: gone from the list"

done_testing
