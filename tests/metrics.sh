#!/bin/bash
# GET /api/metrics behind lighttpd: 404 while metrics = off (the default),
# 401 without or with a wrong bearer secret under metrics = token, 200
# with it and under metrics = open (each applied by SIGHUP); the text
# read by a strict parser (tests/prom-parse.mjs); counters that move by
# exactly what the test did (creates, 404s, streams, deliveries, a slow
# consumer, batches, hook calls, failures and time-outs, the log's head);
# no realm, app, collection or token in the text; check-config; and a
# real Prometheus server that scrapes basalt through lighttpd and answers
# a query for a counter the test moved.

. "$top_srcdir/tests/lib.sh"

need lighttpd curl jq node sqlite3 prometheus

PARSE=$top_srcdir/tests/prom-parse.mjs
MT=$T/metrics.token
SECRET=m-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$SECRET" >"$MT"
mkdir -p "$T/hooks/acme/web"
cat >"$T/hooks/acme/web/hooks.js" <<'JS'
onRecordCreate("hooked", function (e) {
	if (e.record.fields.boom)
		null.x = 1;
	if (e.record.fields.spin)
		for (;;)
			;
});
JS
demo_start stream_buffer_limit=64k hook_timeout_ms=200
basalt_cli collection create acme web hooked || bail_out "collection create"
H=${URL}/api/realms/acme/apps/web/collections/hooked
M=$URL/api/metrics

# reconf KEY=VALUE...: the test's config with these keys, applied by
# SIGHUP; waits for basalt's line that it reloaded.
reloads() { grep -c "SIGHUP: reloaded" "$T/basalt.log"; }
reloads_past() { [ "$(reloads)" -gt "$1" ]; }
reconf() {
	local n
	basalt_config stream_buffer_limit=64k hook_timeout_ms=200 "$@"
	n=$(reloads)
	kill -HUP "$BASALT_PID"
	wait_until 5 reloads_past "$n" || diag "SIGHUP: no reload seen"
}

# --- off (the default): no such endpoint
http GET "$M"
is "$STATUS" 404 "metrics = off: GET /api/metrics is a 404"

# --- token
reconf metrics=token "metrics_token_file=$MT"
http GET "$M"
is "$STATUS|$(jbody .error.code)" "401|unauthorized" \
    "metrics = token: no bearer secret is a 401"
http GET "$M" -H "Authorization: Bearer ${SECRET}x"
is "$STATUS" 401 "metrics = token: a wrong secret is a 401"
http GET "$M" -H "Authorization: Bearer $TOKEN"
is "$STATUS" 401 "metrics = token: an app's token is a 401"
http GET "$M" -H "Authorization: Bearer $SECRET"
is "$STATUS" 200 "metrics = token: the secret gets the figures"
like "$(header Content-Type)" '^text/plain; version=0\.0\.4' \
    "the text format 0.0.4"

# check-config: token without a readable file is refused
basalt_config metrics=token "metrics_token_file=$T/nonesuch"
out=$("$BASALT" -c "$T/basalt.conf" check-config 2>&1)
like "$?|$out" "^1\|.*metrics_token_file .*nonesuch" \
    "check-config refuses metrics = token with a missing token file"
basalt_config metrics=token
out=$("$BASALT" -c "$T/basalt.conf" check-config 2>&1)
like "$?|$out" "^1\|.*needs metrics_token_file" \
    "check-config refuses metrics = token without metrics_token_file"
basalt_config metrics=sometimes
out=$("$BASALT" -c "$T/basalt.conf" check-config 2>&1)
like "$?|$out" '^1\|.*bad value for metrics' \
    "check-config refuses metrics = sometimes"

reconf metrics=open
http GET "$M"
is "$STATUS" 200 "metrics = open: no secret needed"

# scrape NAME: the figures parsed into $T/NAME.json; fails the test when
# the text breaks a rule of the format.
scrape() {
	curl -s --max-time 10 -o "$T/$1.txt" -H "Authorization: Bearer $SECRET" \
	    "$M"
	node "$PARSE" "$BASALT_PID" <"$T/$1.txt" >"$T/$1.json" 2>"$T/$1.err"
	ok $? "scrape $1: the text parses strictly ($(cat "$T/$1.err"))"
}
# val NAME KEY: a sample's value in scrape NAME (0 when absent).
val() {
	jq -r --arg k "$2" '.[$k] // 0' "$T/$1.json"
}
# delta A B KEY: how much KEY moved from scrape A to scrape B.
delta() {
	echo $(($(val "$2" "$3") - $(val "$1" "$3")))
}

RP=/api/realms/:realm/apps/:app/collections/:coll/records
CREATE="basalt_requests_total{method=\"POST\",route=\"$RP\",status=\"201\"}"
NOTFOUND="basalt_requests_total{method=\"GET\",route=\"$RP/:id\",status=\"404\"}"
UNMATCHED='basalt_requests_total{method="",route="unmatched",status="404"}'
RCOUNT='basalt_request_duration_seconds_count{}'
BSUM='basalt_writer_batch_size_sum{}'
BCOUNT='basalt_writer_batch_size_count{}'
CCOUNT='basalt_commit_duration_seconds_count{}'
HEAD='basalt_event_log_head_id{}'
OLDEST='basalt_event_log_oldest_id{}'
DELIV='basalt_events_delivered_total{}'
OPEN='basalt_streams_open{}'
SLOW='basalt_streams_slow_closed_total{}'

scrape a
for f in basalt_requests_total basalt_request_duration_seconds \
    basalt_streams_open basalt_events_delivered_total \
    basalt_streams_slow_closed_total basalt_writer_batch_size \
    basalt_commit_duration_seconds basalt_event_log_head_id \
    basalt_event_log_oldest_id basalt_hook_calls_total \
    basalt_hook_failures_total basalt_hook_timeouts_total \
    basalt_webhook_deliveries_total basalt_webhook_failures_total \
    basalt_webhook_delivery_duration_seconds basalt_webhook_lag_events; do
	grep -q "^# TYPE $f " "$T/a.txt" || missing="$missing $f"
done
is "${missing:-}" "" "every family is there"

# --- 5 creates, one at a time; 2 reads of a missing record; 1 bad path
for i in 1 2 3 4 5; do
	send POST "$P/records" "{\"title\":\"t$i\"}"
done
is "$STATUS" 201 "the creates went through"
get "$P/records/01ARZ3NDEKTSV4RRFFQ69G5FAV"
get "$P/records/01ARZ3NDEKTSV4RRFFQ69G5FAV"
http GET "$URL/api/nonesuch"
scrape b
is "$(delta a b "$CREATE")" 5 "5 creates: requests_total{POST records 201} +5"
is "$(delta a b "$NOTFOUND")" 2 "2 missing records: {GET records/:id 404} +2"
is "$(delta a b "$UNMATCHED")" 1 "1 unknown path: {route=unmatched 404} +1"
# the scrape a itself is counted once it is answered, then 8 requests
is "$(delta a b "$RCOUNT")" 9 "request duration: +9 observations"
is "$(delta a b "$BSUM")|$(delta a b "$BCOUNT")|$(delta a b "$CCOUNT")" \
    "5|5|5" "writer: 5 batches of 1 write, 5 commits"
is "$(delta a b "$HEAD")" 5 "the log's head moved by 5"
is "$(val b "$OLDEST")" 1 "the log's oldest id is 1"
is "$(val b "$HEAD")" "$(dbsql 'SELECT max(id) FROM events')" \
    "the head is the log's last id"

# --- a stream: opened, 3 events delivered, closed
sub s1 "$P/events" -H "$AUTH"
wait_sub s1
scrape c
is "$(val c "$OPEN")" 1 "one stream open"
for i in 1 2 3; do
	send POST "$P/records" "{\"title\":\"s$i\"}"
done
wait_events s1 3
unsub s1
wait_until 5 streams_are 0
scrape d
is "$(delta c d "$DELIV")" 3 "3 events delivered to the stream"
is "$(val d "$OPEN")" 0 "no stream open after it closed"

# --- a slow consumer: a FastCGI peer that never reads its stream while
# 40 events of 100 kB come (lighttpd would take them all in for its
# client: it keeps what it cannot send yet)
node "$FP" stall "$BASALT_SOCK" 1 30 "$PREFIX/events" "$TOKEN" \
    >"$T/stall.out" 2>"$T/stall.err" &
STALL=$!
bg_track "$STALL"
wait_until 10 grep -q ready "$T/stall.out"
big=$(head -c 100000 /dev/zero | tr '\0' 'p')
for i in $(seq 1 40); do
	curl -s -o /dev/null -H "$AUTH" -H "$J" \
	    -d "{\"type\":\"big\",\"payload\":\"$big\"}" "$P/events"
done
wait_until 20 grep -q "closing a stream of .* bytes behind" "$T/basalt.log"
ok $? "the stream that is not read is closed"
stop_pid "$STALL"
scrape e
is "$(delta d e "$SLOW")" 1 "streams_slow_closed_total +1"

# --- hooks: a call that passes, one that throws, one that runs out of time
send POST "$H/records" '{"n":1}'
is "$STATUS" 201 "a hooked create passes"
send POST "$H/records" '{"boom":true}'
is "$STATUS" 500 "a hook that throws fails the create"
send POST "$H/records" '{"spin":true}'
is "$STATUS" 500 "a hook that spins runs out of time"
scrape f
is "$(delta e f 'basalt_hook_calls_total{}')|$(delta e f 'basalt_hook_failures_total{}')|$(delta e f 'basalt_hook_timeouts_total{}')" \
    "3|1|1" "hooks: 3 calls, 1 failure, 1 time-out"
is "$(val f 'basalt_webhook_deliveries_total{}')|$(val f 'basalt_webhook_failures_total{}')|$(val f 'basalt_webhook_lag_events{}')" \
    "0|0|0" "webhooks: none yet"

# --- no tenant's names or secrets
leaks=$(grep -o -E "acme|web[^h]|posts|hooked|$SECRET|$TOKEN|$RTOKEN" \
    "$T"/[a-f].txt | sort -u | tr '\n' ' ')
is "$leaks" "" "no realm, app, collection or secret in the figures"

# ======================================================================
# Prometheus scrapes basalt through lighttpd every second (with the
# bearer secret), and its HTTP API answers for the creates counter.
# ======================================================================
reconf metrics=token "metrics_token_file=$MT"
PP=$(free_port)
mkdir -p "$T/prom"
cat >"$T/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: basalt
    metrics_path: /api/metrics
    authorization:
      credentials_file: $MT
    static_configs:
      - targets: ['127.0.0.1:$PORT']
EOF
prometheus --config.file="$T/prom/prometheus.yml" \
    --storage.tsdb.path="$T/prom/data" \
    --web.listen-address="127.0.0.1:$PP" >"$T/prometheus.log" 2>&1 &
PROM_PID=$!
bg_track "$PROM_PID"
wait_until 30 port_open "$PP"
ok $? "prometheus is up on 127.0.0.1:$PP"

scrape g
want=$(val g "$CREATE")
# promq EXPR: the value of the query's first result ("" if none).
promq() {
	curl -s --max-time 5 "http://127.0.0.1:$PP/api/v1/query" \
	    --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // ""'
}
Q="basalt_requests_total{route=\"$RP\",method=\"POST\",status=\"201\",process=\"$BASALT_PID\"}"
# promq_is WANT: the query Q has the value WANT now.
promq_is() { [ "$(promq "$Q")" = "$1" ]; }
wait_until 30 promq_is "$want"
is "$(promq "$Q")" "$want" "prometheus has the creates counter ($want)"
is "$(promq "up{job=\"basalt\"}")" 1 "prometheus sees the target up"
is "$(curl -s "http://127.0.0.1:$PP/api/v1/targets" |
    jq -r '.data.activeTargets[0].lastError')" "" \
    "prometheus reports no scrape error"
send POST "$P/records" '{"title":"seen by prometheus"}'
wait_until 30 promq_is "$((want + 1))"
is "$(promq "$Q")" "$((want + 1))" "prometheus sees one more create"
curl -s "http://127.0.0.1:$PP/api/v1/targets" >"$T/targets.json"
stop_pid "$PROM_PID"
ok $? "prometheus stopped"

done_testing
