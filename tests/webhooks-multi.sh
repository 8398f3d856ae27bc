#!/bin/bash
# Webhooks with two basalt processes on one database, each on a socket of
# its own behind a lighttpd of its own, and one webhook: writes through
# both reach the receiver (tests/webhook-receiver.mjs) exactly once and
# in order, one request at a time, from the one process that holds the
# webhook's lease. Then kill -9 of that process while a request is in
# flight (the receiver is slow): the other process takes over once the
# lease has run out, and nothing is lost. Only the batch that was in
# flight at the kill is sent twice: basalt never saw its answer. Last,
# the killed process is started again and the holder stopped with
# SIGTERM: it lets its lease go, and the restarted one goes on at once.

. "$top_srcdir/tests/lib.sh"

need lighttpd curl jq node
if on_pg; then need psql; else need sqlite3; fi

receiver_start

# A lease lasts webhook_timeout_ms plus 5 s from the start of a request.
demo_start webhook_allow_private=yes webhook_timeout_ms=3000 \
    webhook_max_failures=100
PID1=$BASALT_PID URL1=$URL
basalt_start --listen "$T/basalt2.sock" || bail_out "a second basalt did not start"
PID2=$BASALT_PID
lighttpd_start "$T/basalt2.sock" || bail_out "a second lighttpd did not start"
URL2=$URL

control() {
	curl -s -X POST "$RURL/control?$1" >/dev/null
}

db() {
	dbsql "$@"
}

# lease COLUMN: the webhook's lease_holder or lease_expires.
lease() {
	db "SELECT $1 FROM webhooks WHERE id = '$W'"
}

# accepted: the ids of the requests the receiver answered 200, in the
# order they came.
accepted() {
	jq -r --arg w "$W" 'select(.status == 200 and .webhook == $w) |
	    .ids[]' "$LOG" | tr '\n' ' '
}

# firsts: accepted, each id once, where it came first.
firsts() {
	accepted | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' '
}

# expected: the ids of the posts events written since the webhook was
# made.
expected() {
	db "SELECT id FROM events WHERE app = 'web' AND collection = 'posts'
	    AND id > $HEAD0 ORDER BY id" | tr '\n' ' '
}

at_least() {	# at_least N CMD...: CMD prints N words or more
	[ "$("${@:2}" | wc -w)" -ge "$1" ]
}

# requests FROM: the webhook's requests, answered, that came after line
# FROM of the log, by arrival, as JSON lines.
requests() {
	tail -n +"$1" "$LOG" | jq -c --arg w "$W" \
	    'select(.start == null and .webhook == $w)' | jq -s -c 'sort_by(.t0) | .[]'
}

# increasing: the Basalt-Event-Ids of the requests on stdin, one after
# the other, are strictly increasing ("true").
increasing() {
	jq -s '[.[].header_ids | split(",") | .[] | tonumber] | . as $a |
	    [range(1; length) | $a[.] > $a[. - 1]] | all'
}

# writer URL N TAG: N creates through URL, one at a time; their statuses
# go to $T/writes.TAG.
writer() {
	local i
	for i in $(seq "$2"); do
		curl -s -o /dev/null -w '%{http_code}\n' -H "$AUTH" -H "$J" \
		    --data-binary "{\"by\":\"$3\",\"n\":$i}" "$1$PREFIX/records"
	done >"$T/writes.$3"
}

# batch URL N TAG: N creates in one batch through URL.
batch() {
	local reqs
	reqs=$(seq "$2" | jq -c -s --arg t "$3" 'map({method: "POST",
	    path: "collections/posts/records", body: {by: $t, n: .}}) |
	    {requests: .}')
	curl -s -o /dev/null -w '%{http_code}\n' -H "$AUTH" -H "$J" \
	    --data-binary "$reqs" "$1/api/realms/acme/apps/web/batch" \
	    >"$T/writes.$3"
}

# the highest event id ever given (log_head on PostgreSQL)
if on_pg; then
	HEAD0=$(db "SELECT last_id FROM log_head")
else
	HEAD0=$(db "SELECT coalesce(max(seq), 0) FROM sqlite_sequence
	    WHERE name = 'events'")
fi
W=$(basalt_cli webhook create acme web "$RURL/hook" --collections posts \
    --secret-file "$T/hook.secret") || bail_out "webhook create failed"
held() {
	[ -n "$(lease lease_holder)" ]
}
wait_until 10 held ||
	bail_out "no process took the webhook's lease"

# ======================================================================
# Writes through both processes at once
# ======================================================================
# Each request takes 100 ms to answer: two processes sending at once
# would overlap.
control delay=100
# the lease holder, every 50 ms, as long as the writes are delivered
while :; do lease lease_holder; sleep 0.05; done >"$T/holders" 2>/dev/null &
SAMPLER=$!
bg_track $SAMPLER
writer "$URL1" 40 one & WR1=$!
writer "$URL2" 40 two & WR2=$!
batch "$URL1" 30 bone & WR3=$!
batch "$URL2" 30 btwo & WR4=$!
wait $WR1 $WR2 $WR3 $WR4
is "$(cat "$T"/writes.one "$T"/writes.two | sort | uniq -c | awk '{ print $1, $2 }')|$(cat "$T"/writes.bone "$T"/writes.btwo | tr '\n' ' ')" \
    "80 201|200 200 " "80 creates and two batches of 30, through both processes"
N=$(expected | wc -w)
wait_until 60 at_least "$N" accepted
stop_pid "$SAMPLER" 2 2>/dev/null
is "$(accepted)" "$(expected)" \
    "the $N events reach the receiver, each once, in order"
is "$(jq -r --arg w "$W" 'select(.status == 200 and .webhook == $w) |
    .body[].data.fields.by' "$LOG" | sort | uniq -c | awk '{ print $1, $2 }' |
    tr '\n' ' ')" "30 bone 30 btwo 40 one 40 two " \
    "... written through either process"
requests 1 >"$T/phase1"
NREQ=$(wc -l <"$T/phase1")
ok "$([ "$NREQ" -gt 1 ]; echo $?)" "... in several requests ($NREQ)"
is "$(increasing <"$T/phase1")" true \
    "Basalt-Event-Ids strictly increase across requests: no id sent twice"
is "$(jq -s '[.[1:], .[:-1]] | transpose | map(.[0].t0 >= .[1].t1) | all' \
    <"$T/phase1")" true \
    "one request at a time: each came after the one before was answered"
is "$(jq -s '[.[] | .sig and .status == 200] | all' <"$T/phase1")" true \
    "every request signed, every one answered 200"
HOLDERS=$(grep -v '^$' "$T/holders" | sort -u)
like "$(wc -l <<<"$HOLDERS")|$HOLDERS" "^1\|($PID1|$PID2):[0-9]+$" \
    "one process held the lease all along ($(wc -l <"$T/holders") looks)"

# ======================================================================
# kill -9 of the lease holder mid-delivery
# ======================================================================
HPID=$(lease lease_holder | cut -d: -f1)
if [ "$HPID" = "$PID1" ]; then
	OTHER=$PID2 OURL=$URL2 HURL=$URL1 HSOCK=$T/basalt.sock
else
	OTHER=$PID1 OURL=$URL1 HURL=$URL2 HSOCK=$T/basalt2.sock
fi
control delay=2500
N0=$(($(wc -l <"$LOG") + 1))
batch "$HURL" 5 kh
batch "$OURL" 5 ko
# (jq -e exits 0 on empty input: the output is what counts)
started() {
	[ -n "$(tail -n +"$N0" "$LOG" | jq -c --arg w "$W" \
	    'select(.start and .webhook == $w)')" ]
}
wait_until 10 started || bail_out "no request started"
EXPIRES=$(lease lease_expires)
kill -KILL "$HPID"
wait "$HPID" 2>/dev/null
KILLED=$(date +%s%3N)
control delay=0
INFLIGHT=$(tail -n +"$N0" "$LOG" | jq -c --arg w "$W" \
    'select(.start and .webhook == $w) | .ids' | head -n 1)
diag "killed $HPID with $INFLIGHT in flight; its lease ran until" \
    "$((EXPIRES - KILLED)) ms after the kill"
batch "$OURL" 5 after
is "$(cat "$T"/writes.kh "$T"/writes.ko "$T"/writes.after | tr '\n' ' ')" \
    "200 200 200 " "writes before and after the kill committed"
N=$(expected | wc -w)
wait_until 30 at_least "$N" firsts
is "$(firsts)" "$(expected)" \
    "after the kill, every event reached the receiver, in order"
is "$(accepted | tr ' ' '\n' | awk 'NF' | sort -n | uniq -d | jq -s -c .)" \
    "$(jq -c sort <<<"$INFLIGHT")" \
    "only the batch in flight at the kill came twice"
requests "$N0" >"$T/phase2"
TAKE=$(sed -n 2p "$T/phase2")
is "$(jq -c --argjson n "$(jq length <<<"$INFLIGHT")" '.ids[:$n]' <<<"$TAKE")" \
    "$INFLIGHT" \
    "the first request after the kill starts again with that batch"
T0=$(jq .t0 <<<"$TAKE")
ok "$([ "$T0" -ge "$EXPIRES" ] && [ "$T0" -lt $((EXPIRES + 3000)) ]; echo $?)" \
    "... sent once the lease had run out, within 3 s ($((T0 - EXPIRES)) ms after)"
like "$(lease lease_holder)" "^$OTHER:" "the other process holds the lease now"
is "$(tail -n +2 "$T/phase2" | increasing)" true \
    "from the takeover on, Basalt-Event-Ids strictly increase again"
is "$(jq -s '[.[] | .sig and .status == 200] | all' <"$T/phase2")" true \
    "every request signed and answered 200"

# ======================================================================
# A clean stop lets the lease go at once
# ======================================================================
basalt_start --listen "$HSOCK" || bail_out "the killed basalt did not restart"
NEW=$BASALT_PID
batch "$HURL" 3 back1
N=$(expected | wc -w)
wait_until 10 at_least "$N" firsts
is "$(cat "$T/writes.back1")|$(firsts)" "200|$(expected)" \
    "restarted, it takes writes; they are delivered"
like "$(lease lease_holder)" "^$OTHER:" \
    "... by the holder: a restarted process waits for a lease that runs"
basalt_stop "$OTHER"
is $? 0 "SIGTERM: the holder exits cleanly"
STOPPED=$(date +%s%3N)
N0=$(($(wc -l <"$LOG") + 1))
batch "$HURL" 3 back2
N=$(expected | wc -w)
wait_until 10 at_least "$N" firsts
is "$(cat "$T/writes.back2")|$(firsts)" "200|$(expected)" \
    "the restarted process delivers what is written next"
T0=$(requests "$N0" | head -n 1 | jq .t0)
ok "$([ $((T0 - STOPPED)) -lt 3000 ]; echo $?)" \
    "... at once, without waiting for the lease to run out ($((T0 - STOPPED)) ms)"
like "$(lease lease_holder)" "^$NEW:" "... and holds the lease"
is "$(accepted | tr ' ' '\n' | awk 'NF' | sort -n | uniq -d | jq -s -c .)" \
    "$(jq -c sort <<<"$INFLIGHT")" \
    "still only the batch in flight at the kill came twice"
basalt_stop "$NEW"
is $? 0 "the restarted process exits cleanly"

done_testing
