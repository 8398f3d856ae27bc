#!/bin/bash
# Batch writes end to end, through lighttpd: a batch that succeeds (each
# answer in order, one event per write in request order), one that fails
# in the middle (nothing stored, no event, the failing index), the limits
# (1,001 requests, max_batch_size, max_body_size on other routes), bad
# shapes refused before any write, hooks on every record, and the scope.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq node

# A second app with hooks: one stamps each created record, one refuses a
# record marked bad, one publishes a custom event before its record's.
HK=$T/hooks/acme/hk
mkdir -p "$HK"
cat >"$HK/10-batch.js" <<'EOF'
onRecordCreate("posts", function (e) {
	if (e.record.fields.bad)
		throw new Error("bad record " + e.record.fields.n);
	e.record.fields.stamped = true;
	if (e.record.fields.announce)
		$app.realtime.publish("posts", {
			type: "announce", payload: { n: e.record.fields.n }
		});
});
onRecordUpdate("posts", function (e) {
	e.record.fields.edits = (e.record.fields.edits || 0) + 1;
});
onRecordAfterCreate("posts", function (e) {
	if (e.record.fields.after)
		$app.realtime.publish("posts", {
			type: "after", payload: { n: e.record.fields.n }
		});
});
EOF

demo_start max_batch_size=128k max_body_size=8k
basalt_cli collection create acme web bulk >/dev/null ||
	bail_out "cannot create the bulk collection"
basalt_cli app create acme hk >/dev/null &&
basalt_cli collection create acme hk posts >/dev/null &&
HTOKEN=$(basalt_cli token create acme hk --scope read,write --label hk) ||
	bail_out "cannot set up the app with hooks"
HB=$URL/api/realms/acme/apps/hk

# batch JSON [BASE [TOKEN]]: POSTs JSON to BASE/batch (default $B),
# from a file: a large batch does not fit on a command line.
batch() {
	printf '%s' "$1" >"$T/.batch.json"
	http POST "${2:-$B}/batch" -H "Authorization: Bearer ${3:-$TOKEN}" \
	    -H "$J" --data-binary "@$T/.batch.json"
}

# expect_error STATUS CODE INDEX DESC: the last answer is the error
# STATUS with CODE and, unless INDEX is -, the failing request's index.
expect_error() {
	local st=$1 code=$2 idx=$3
	shift 3
	is "$STATUS" "$st" "$*: status $st" || diag "body: $BODY"
	is "$(jbody '"\(.error.status) \(.error.code)"')" "$st $code" \
	    "$*: error $code"
	if [ "$idx" = - ]; then
		is "$(jbody 'has("index")')" false "$*: no index"
	else
		is "$(jbody .index)" "$idx" "$*: index $idx"
	fi
}

# count [BASE]: the records of posts.
count() {
	http GET "${1:-$B}/collections/posts/records?limit=500" \
	    -H "Authorization: Bearer ${2:-$TOKEN}"
	jbody '.items | length'
}

# ======================================================================
# All succeed: statuses, bodies, order, and one event per write in order
# ======================================================================
send POST "$P/records" '{"title":"old"}'
OLD=$(jbody .id)
send POST "$P/records" '{"title":"doomed"}'
DOOMED=$(jbody .id)
subs s1 "$P/events" || bail_out "no stream"

batch '{"requests":[
 {"method":"POST","path":"collections/posts/records","body":{"title":"a","n":1}},
 {"method":"PATCH","path":"collections/posts/records/'"$OLD"'","body":{"title":"new","x":null}},
 {"method":"DELETE","path":"collections/posts/records/'"$DOOMED"'"},
 {"method":"PUT","path":"collections/posts/records/'"$OLD"'","body":{"title":"put"}},
 {"method":"POST","path":"collections/posts/records","body":{"title":"b","n":2}}]}'
is "$STATUS" 200 "a batch that succeeds is 200" || diag "$BODY"
like "$(header Content-Type)" '^application/json' "its answer is JSON"
is "$(jbody '[.responses[].status] | join(",")')" "201,200,204,200,201" \
    "each request's status, in order"
is "$(jbody '.responses[0].body.fields | tojson')" '{"title":"a","n":1}' \
    "a create's body is the record"
A=$(jbody .responses[0].body.id)
BID=$(jbody .responses[4].body.id)
is "$(jbody .responses[1].body.fields.title)" new "a patch's body is the record"
is "$(jbody '.responses[2] | has("body")')" false "a delete has no body"
is "$(jbody '.responses[3].body.fields | tojson')" '{"title":"put"}' \
    "a put after a patch of the same record sees it"
get "$P/records/$A"
is "$STATUS" 200 "the created record is stored"
get "$P/records/$DOOMED"
is "$STATUS" 404 "the deleted record is gone"
get "$P/records/$OLD"
is "$(jbody .fields.title)" put "the record updated twice has the last write"

wait_events s1 5 || diag "s1: $(cat "$T/s1.out")"
unsub s1
is "$(q s1 '[.events[].event] | join(",")')" \
    "record_created,record_updated,record_deleted,record_updated,record_created" \
    "one event per write, in request order"
is "$(q s1 '[.events[].id | tonumber] | . == sort and . == unique')" true \
    "event ids increase"
is "$(q s1 '[.events[] | .data | fromjson | .id // empty] | join(" ")')" \
    "$A $OLD $DOOMED $OLD $BID" "each event names its record"

batch '{"requests":[]}'
is "$STATUS $(jbody '.responses | tojson')" "200 []" "an empty batch is 200 with no answers"

# ======================================================================
# One fails in the middle: nothing stored, no event, the index
# ======================================================================
BEFORE=$(count)
subs s2 "$P/events" || bail_out "no stream"
MISSING=01ARZ3NDEKTSV4RRFFQ69G5FAV
batch '{"requests":[
 {"method":"POST","path":"collections/posts/records","body":{"n":10}},
 {"method":"PATCH","path":"collections/posts/records/'"$OLD"'","body":{"title":"never"}},
 {"method":"DELETE","path":"collections/posts/records/'"$MISSING"'"},
 {"method":"POST","path":"collections/posts/records","body":{"n":11}}]}'
expect_error 404 not_found 2 "a delete of a missing record in a batch"
is "$(jbody .error.message)" "record not found" "the error is the request's own"
is "$(count)" "$BEFORE" "nothing of the batch is stored"
get "$P/records/$OLD"
is "$(jbody .fields.title)" put "the update before the failure is undone"
send POST "$P/events" '{"type":"marker"}'
wait_events s2 1
sleep 0.3
unsub s2
is "$(q s2 '[.events[].event] | join(",")')" marker \
    "no event of the failed batch was sent"

batch '{"requests":[
 {"method":"POST","path":"collections/posts/records","body":{"n":1}},
 {"method":"POST","path":"collections/nope/records","body":{"n":2}}]}'
expect_error 404 not_found 1 "a missing collection"
is "$(jbody .error.message)" "collection 'nope' not found" \
    "the message names the collection"

# ======================================================================
# Limits
# ======================================================================
many() {
	jq -cn --argjson n "$1" '{requests: [range($n) |
	    {method: "POST", path: "collections/bulk/records",
	     body: {i: .}}]}'
}
batch "$(many 1001)"
expect_error 413 batch_too_large - "1,001 requests"
like "$(jbody .error.message)" "at most 1000 requests" "the message says the limit"
batch "$(many 1000)"
is "$STATUS" 200 "1,000 requests are one batch"
is "$(jbody '.responses | length')" 1000 "with 1,000 answers"
is "$(jbody '[.responses[].body.fields.i] == [range(1000)]')" true \
    "in request order"

BIG=$(jq -cn '{requests: [range(20) | {method: "POST",
    path: "collections/bulk/records", body: {s: ("x" * 7000)}}]}')
batch "$BIG"
expect_error 413 payload_too_large - "a batch over max_batch_size"
like "$(jbody .error.message)" "131072 bytes" "the message says max_batch_size"
SOME=$(jq -cn '{requests: [range(5) | {method: "POST",
    path: "collections/bulk/records", body: {s: ("x" * 7000)}}]}')
batch "$SOME"
is "$STATUS" 200 "a batch over max_body_size but within max_batch_size passes"
send POST "$P/records" "$(jq -cn '{s: ("x" * 9000)}')"
expect_error 413 payload_too_large - "a single record over max_body_size"
send POST "$P/events" "$(jq -cn '{type: "t", payload: ("x" * 9000)}')"
expect_error 413 payload_too_large - "an event over max_body_size"
batch "$(jq -cn '{requests: [{method: "POST", path: "collections/posts/records",
    body: {s: ("x" * 9000)}}]}')"
expect_error 413 payload_too_large 0 "a request in a batch over max_body_size"

# ======================================================================
# Bad shapes: refused before any write
# ======================================================================
BEFORE=$(count)
C='"method":"POST","path":"collections/posts/records","body":{}'
bad() {
	batch "$1"
	expect_error "$2" "$3" "$4" "${@:5}"
}
bad '[1]' 400 not_an_object - "a batch that is not an object"
bad '{"requests":' 400 invalid_json - "a batch that is not JSON"
bad '{"requests":{}}' 400 invalid_batch - "requests not an array"
bad '{}' 400 invalid_batch - "no requests"
bad '{"requests":[{'"$C"'},7]}' 400 invalid_batch 1 "a request not an object"
bad '{"requests":[{'"$C"'},{"path":"collections/posts/records"}]}' \
    400 invalid_batch 1 "a request without a method"
bad '{"requests":[{"method":"POST","body":{}}]}' 400 invalid_batch 0 \
    "a request without a path"
bad '{"requests":[{'"$C"'},{"method":"GET","path":"collections/posts/records"}]}' \
    400 invalid_batch 1 "a GET inside a batch"
bad '{"requests":[{"method":"PATCH","path":"collections/posts/records"}]}' \
    400 invalid_batch 0 "a method the path does not have"
bad '{"requests":[{"method":"POST","path":"collections","body":{"name":"x"}}]}' \
    400 invalid_batch 0 "a collection create inside a batch"
bad '{"requests":[{'"$C"'},{"method":"POST","path":"batch","body":{"requests":[]}}]}' \
    400 invalid_batch 1 "a nested batch"
bad '{"requests":[{"method":"POST","path":"/api/realms/acme/apps/web/collections/posts/records","body":{}}]}' \
    400 invalid_batch 0 "an absolute path"
bad '{"requests":[{"method":"POST","path":"../../apps/hk/collections/posts/records","body":{}}]}' \
    400 invalid_batch 0 "a path that leaves the app"
bad '{"requests":[{"method":"POST","path":"collections/posts/records?x=1","body":{}}]}' \
    400 invalid_batch 0 "a path with a query"
bad '{"requests":[{"method":"POST","path":"collections/nothing here/records","body":{}}]}' \
    400 invalid_name 0 "a bad collection name"
bad '{"requests":[{"method":"DELETE","path":"collections/posts/records/xyz"}]}' \
    400 invalid_id 0 "a bad record id"
bad '{"requests":[{'"$C"'},{"method":"POST","path":"collections/posts/records","body":[1]}]}' \
    400 not_an_object 1 "a body that is not an object"
bad '{"requests":[{"method":"POST","path":"collections/posts/records"}]}' \
    400 not_an_object 0 "a create without a body"
http POST "$B/batch" -H "$AUTH" -H 'Content-Type: text/plain' \
    --data-binary '{"requests":[]}'
expect_error 415 unsupported_media_type - "a batch not sent as JSON"
is "$(count)" "$BEFORE" "no bad batch stored anything"

# ======================================================================
# Auth: the batch needs the write scope and stays in the token's app
# ======================================================================
batch '{"requests":[{'"$C"'}]}' "$B" "$RTOKEN"
expect_error 403 forbidden - "a read-only token"
batch '{"requests":[{'"$C"'}]}' "$HB"
is "$STATUS" 403 "a token of another app"
http POST "$B/batch" -H "$J" --data-binary '{"requests":[]}'
is "$STATUS" 401 "no token"
is "$(count)" "$BEFORE" "nothing stored"

# ======================================================================
# Hooks: on each record, in request order
# ======================================================================
sub h1 "$HB/collections/posts/events" -H "Authorization: Bearer $HTOKEN"
wait_sub h1 || bail_out "no stream on the app with hooks"
batch '{"requests":[
 {"method":"POST","path":"collections/posts/records","body":{"n":1}},
 {"method":"POST","path":"collections/posts/records","body":{"n":2,"announce":true,"after":true}},
 {"method":"POST","path":"collections/posts/records","body":{"n":3}}]}' \
    "$HB" "$HTOKEN"
is "$STATUS" 200 "a batch through before-hooks" || diag "$BODY"
is "$(jbody '[.responses[].body.fields.stamped] | join(",")')" \
    "true,true,true" "each record is stamped by its hook"
H1=$(jbody .responses[0].body.id)
wait_events h1 5 || diag "h1: $(cat "$T/h1.out")"
sleep 0.3
unsub h1
is "$(q h1 '[.events[] | .event + ":" + ((.data | fromjson) | (.n // .fields.n | tostring))] | join(",")')" \
    "record_created:1,announce:2,record_created:2,record_created:3,after:2" \
    "a before-hook's event goes just before its record's, the after-hook's after the commit"

batch '{"requests":[
 {"method":"PATCH","path":"collections/posts/records/'"$H1"'","body":{"t":"a"}},
 {"method":"PATCH","path":"collections/posts/records/'"$H1"'","body":{"t":"b"}}]}' \
    "$HB" "$HTOKEN"
is "$STATUS" 200 "two hooked updates of one record in a batch" || diag "$BODY"
is "$(jbody '[.responses[].body.fields.edits] | join(",")')" "1,2" \
    "the second hook sees the first update"
http GET "$HB/collections/posts/records/$H1" -H "Authorization: Bearer $HTOKEN"
is "$(jbody .fields.edits) $(jbody .fields.t)" "2 b" "and both are stored"

BEFORE=$(count "$HB" "$HTOKEN")
sub h2 "$HB/collections/posts/events" -H "Authorization: Bearer $HTOKEN"
wait_sub h2
batch '{"requests":[
 {"method":"POST","path":"collections/posts/records","body":{"n":1,"announce":true}},
 {"method":"POST","path":"collections/posts/records","body":{"n":2}},
 {"method":"POST","path":"collections/posts/records","body":{"n":3,"bad":true}},
 {"method":"POST","path":"collections/posts/records","body":{"n":4}}]}' \
    "$HB" "$HTOKEN"
expect_error 422 hook_rejected 2 "a hook that refuses the third record"
like "$(jbody .error.message)" "bad record 3" "with the hook's message"
is "$(count "$HB" "$HTOKEN")" "$BEFORE" "nothing of it is stored"
http POST "$HB/collections/posts/events" -H "Authorization: Bearer $HTOKEN" \
    -H "$J" --data-binary '{"type":"marker"}'
wait_events h2 1
sleep 0.3
unsub h2
is "$(q h2 '[.events[].event] | join(",")')" marker \
    "not even the event a hook published for an earlier record"

done_testing
