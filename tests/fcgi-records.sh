#!/bin/bash
# How a stream's events go out in FastCGI records. Events that reach a
# stream together (a batch's, committed at once) share one STDOUT record,
# as many as fit in FastCGI's 65,535 bytes, each event whole in one
# record; an event alone is a record alone. Behind the web server the
# client sees the same bytes as without grouping: every event, in order,
# framed id, event, data, blank line.

. "$top_srcdir/tests/lib.sh"

need lighttpd node jq curl

demo_start heartbeat_interval=60
PEERS=$top_srcdir/tests/fcgi-peers.mjs
S=$PREFIX/events

# One stream straight on the socket, one through lighttpd.
node "$PEERS" get "$T/basalt.sock" 1 30 "$S" "$TOKEN" >"$T/peer.json" &
PEER=$!
bg_track "$PEER"
curl -sN --max-time 30 -H "$AUTH" "$P/events" >"$T/curl.out" &
bg_track $!
wait_until 5 streams_are 2
ok $? "two streams open (got $(health_streams))"

# batch N BYTES: one batch of N creates, each with a field of BYTES bytes.
batch() {
	local pad
	pad=$(head -c "$2" /dev/zero | tr '\0' x)
	jq -cn --argjson n "$1" --arg pad "$pad" '{requests: [range($n) |
	    {method: "POST", path: "collections/posts/records",
	     body: {n: ., pad: $pad}}]}' >"$T/batch.json"
	http POST "$B/batch" -H "$AUTH" -H "$J" --data-binary @"$T/batch.json"
}

send POST "$P/records" '{"alone":true}'
is "$STATUS" 201 "one create"
wait_until 5 grep -q '^event: record_created' "$T/curl.out"
batch 5 10
is "$STATUS" 200 "a batch of 5 small creates"
# 30 events of about 4 KB: more than one record holds
batch 30 4000
is "$STATUS" 200 "a batch of 30 creates of 4 KB each"

wait_until 10 test "$(grep -c '^event: record_created' "$T/curl.out")" -ge 36
is "$(grep -c '^event: record_created' "$T/curl.out")" 36 \
    "lighttpd: 36 events reach the client"
kill -TERM "$PEER"
wait "$PEER"
out=$(tail -n 1 "$T/peer.json")

# Each record's events: the records from the first event on.
per=$(jq -c '[.stdout[0][] | [scan("(?m)^event: record_created$")] | length |
    select(. > 0)]' <<<"$out")
diag "events per STDOUT record: $per"
is "$(jq -c '.[:2]' <<<"$per")" '[1,5]' \
    "FastCGI: the lone event is a record alone, the batch of 5 one record"
is "$(jq 'add' <<<"$per")" 36 "FastCGI: 36 events in all"
big=$(jq -c '.[2:]' <<<"$per")
ok "$(jq -e 'length >= 2 and length <= 3 and all(. >= 8)' <<<"$big" \
    >/dev/null; echo $?)" \
    "FastCGI: the 30 big events share 2 or 3 records ($big)"
ok "$(jq -e '[.stdout[0][] | length <= 65535] | all' <<<"$out" >/dev/null;
    echo $?)" "FastCGI: no record is longer than 65,535 bytes"
ok "$(jq -e '[.stdout[0][] | select(test("(?m)^event: record_created$")) |
    test("^(id: [0-9]+\nevent: record_created\ndata: [^\n]+\n\n)+$")] | all' \
    <<<"$out" >/dev/null; echo $?)" \
    "FastCGI: a record holds whole events only"

# The client behind lighttpd sees the bytes the FastCGI stream carried.
peer_events=$(jq -r '.stdout[0] | join("")' <<<"$out" |
    awk '/^id: /, 0')
curl_events=$(awk '/^id: /, 0' "$T/curl.out")
is "$(printf '%s' "$curl_events" | sha256sum)" \
    "$(printf '%s' "$peer_events" | sha256sum)" \
    "lighttpd: the client gets the same event bytes as the FastCGI stream"
ids=$(grep '^id: ' "$T/curl.out" | sed 's/^id: //')
is "$(awk 'NR > 1 && $1 != p + 1 { bad++ } { p = $1 } END { print bad + 0 }' \
    <<<"$ids")" 0 "lighttpd: ids ascend one by one"
is "$(grep -c '^data: {' "$T/curl.out")" 36 "lighttpd: each event has its data line"

done_testing
