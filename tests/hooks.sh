#!/bin/bash
# JavaScript hooks end to end, through lighttpd: a published custom event
# in order with record events and resumable, a validating hook (422, and
# nothing stored), a derived field, a hook that never returns, and a
# syntax error fixed and reloaded with SIGHUP.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq

HK=$T/hooks/acme/web
BUDGET=300

# Loaded first: a custom event published inside the write's transaction,
# and one published after the commit (through the writer).
write_hooks() {
	mkdir -p "$HK"
	cat >"$HK/05-publish.js" <<'EOF'
var webSecret = "only acme/web sees this";
onRecordAfterUpdate("posts", function (e) {
	if (e.record.fields.oops)
		null.f();
});
onRecordCreate("posts", function (e) {
	if (e.record.fields.announce)
		$app.realtime.publish("posts", {
			type: "announce",
			payload: { title: e.record.fields.title, n: 1 }
		});
});
onRecordAfterCreate("posts", function (e) {
	if (e.record.fields.announce)
		$app.realtime.publish("posts", { payload: { after: e.record.id } });
});
EOF
	cat >"$HK/10-validate.js" <<'EOF'
onRecordCreate("posts", function (e) {
	if (e.record.fields.title === "")
		throw new Error("title must not be empty");
});
onRecordUpdate("posts", function (e) {
	if (e.record.fields.spin)
		for (;;) {}
});
onRecordDelete("posts", function (e) {
	if (e.record.fields.keep)
		throw "this post is kept";
});
onRecordCreate("posts", function (e) {
	var s = "x";
	if (e.record.fields.grow) {
		while (s.length < e.record.fields.grow)
			s += s;
		e.record.fields.big = s.substring(0, e.record.fields.grow);
	}
});
EOF
	cat >"$HK/20-slug.js" <<'EOF'
function slug(e) {
	if (typeof e.record.fields.title === "string")
		e.record.fields.slug = e.record.fields.title.toLowerCase()
		    .replace(/[^a-z0-9]+/g, "-");
}
onRecordCreate(slug);
onRecordUpdate("posts", slug);
EOF
}

# sse_events FILE: one line "id<TAB>event<TAB>data" per event of an SSE
# capture.
sse_events() {
	tr -d '\r' <"$1" | awk '
	    /^id: / { id = substr($0, 5) }
	    /^event: / { ev = substr($0, 8) }
	    /^data: / { d = substr($0, 7) }
	    /^$/ { if (ev != "") print id "\t" ev "\t" d; id = ""; ev = ""; d = "" }'
}

# replay LAST_ID: the posts events after LAST_ID, read for 2 seconds.
replay() {
	curl -s -N --max-time 2 -H "$AUTH" -H "Last-Event-ID: $1" \
	    "$B/collections/posts/events" >"$T/replay.txt"
	sse_events "$T/replay.txt"
}

# at_least N CMD...: CMD prints a number that is N or more.
at_least() {
	local n=$1
	shift
	[ "$("$@")" -ge "$n" ]
}

count_events() {
	sse_events "$1" | wc -l
}

count_loaded() {
	grep -c 'hooks acme/web: 4 files loaded' "$T/basalt.log"
}

post() {
	send POST "$B/collections/posts/records" "$1"
}

write_hooks
# The shipped examples, for an app of their own.
mkdir -p "$T/hooks/acme/demo"
cp "$top_srcdir"/etc/hooks/*.js "$T/hooks/acme/demo/"
echo 'onRecordCreate(function (e) { e.record.fields.sees = typeof webSecret; });' \
    >"$T/hooks/acme/demo/zz-isolation.js"
# An app whose only file is broken at start: it runs without hooks.
mkdir -p "$T/hooks/acme/broken"
printf '// line 1\nonRecordCreate(function (e) {\n' >"$T/hooks/acme/broken/a.js"
demo_start hook_timeout_ms=$BUDGET max_body_size=64k

like "$(grep 'broken/a\.js' "$T/basalt.log")" 'broken/a\.js:[0-9]+: SyntaxError' \
    "a syntax error at start is logged with file and line"
like "$(grep 'hooks acme/broken' "$T/basalt.log")" 'no hooks' \
    "... and that app has no hooks"

# ------------------------------------------------ published custom events

curl -s -N --max-time 20 -H "$AUTH" "$B/collections/posts/events" \
    >"$T/live.txt" &
bg_track $!
wait_until 10 grep -q '^retry:' "$T/live.txt"
ok $? "a subscriber is connected"

post '{"title":"Hello World","announce":true}'
is "$STATUS" 201 "a write whose hooks publish is created"
ID1=$(jbody .id)
post '{"title":"Second"}'
is "$STATUS" 201 "the next write is created"
ID2=$(jbody .id)

wait_until 10 at_least 4 count_events "$T/live.txt"
sse_events "$T/live.txt" >"$T/live.events"
is "$(awk -F'\t' '{ print $2 }' "$T/live.events" | tr '\n' ' ')" \
    "announce record_created custom record_created " \
    "the subscriber sees the custom events in commit order"
is "$(awk -F'\t' '$2 == "announce" { print $3 }' "$T/live.events")" \
    '{"title":"Hello World","n":1}' \
    "the event published before the write carries its payload"
is "$(awk -F'\t' '$2 == "custom" { print $3 }' "$T/live.events")" \
    "{\"after\":\"$ID1\"}" \
    "an event published after the commit is named custom by default"
ids=$(awk -F'\t' '{ print $1 }' "$T/live.events" | tr '\n' ' ')
sorted=$(awk -F'\t' '{ print $1 }' "$T/live.events" | sort -n -u | tr '\n' ' ')
is "$ids" "$sorted" "event ids increase"
A_ID=$(awk -F'\t' '$2 == "announce" { print $1 }' "$T/live.events")
C_ID=$(awk -F'\t' '$2 == "custom" { print $1 }' "$T/live.events")

events=$(replay "$A_ID")
is "$(awk -F'\t' '{ print $2 }' <<<"$events" | tr '\n' ' ')" \
    "record_created custom record_created " \
    "resuming after the published event replays what followed it"
events=$(replay "$C_ID")
is "$(awk -F'\t' '{ print $2 }' <<<"$events" | head -n 1)" "record_created" \
    "resuming past the custom event starts with the next record event"
like "$(head -n 1 <<<"$events")" "\"id\":\"$ID2\"" \
    "... and it is the second record"

# ------------------------------------------------ a validating hook

before_events=$(replay 0 | wc -l)
post '{"title":"","announce":true}'
is "$STATUS" 422 "a hook refuses the write with 422"
is "$(jbody .error.code)" hook_rejected "the error code is hook_rejected"
is "$(jbody .error.message)" "title must not be empty" \
    "the error carries the hook's message"
http GET "$B/collections/posts/records" -H "$AUTH"
is "$(jbody '.items | length')" 2 "no record is stored"
is "$(replay 0 | wc -l)" "$before_events" \
    "no event is stored, not even the one its hook published first"

# ------------------------------------------------ a hook that changes fields

http GET "$B/collections/posts/records/$ID1" -H "$AUTH"
is "$(jbody .fields.slug)" hello-world "the stored record has the derived field"
is "$(awk -F'\t' -v id="$ID1" '$2 == "record_created" && index($3, id) {
    print $3 }' "$T/live.events" | jq -r .fields.slug)" hello-world \
    "the record_created event has it too"
send PATCH "$B/collections/posts/records/$ID1" '{"title":"New Title"}'
is "$STATUS" 200 "an update passes the hooks"
is "$(jbody .fields.slug)" new-title "the reply has the changed field"
http GET "$B/collections/posts/records/$ID1" -H "$AUTH"
is "$(jbody .fields.slug)" new-title "the stored record has the changed field"
wait_until 10 grep -q 'event: record_updated' "$T/live.txt"
sse_events "$T/live.txt" >"$T/live.events"
is "$(awk -F'\t' '$2 == "record_updated" { print $3 }' "$T/live.events" |
    jq -r .fields.slug)" new-title "the record_updated event has it too"

send PUT "$B/collections/posts/records/$ID1" '{"title":"Put Title"}'
is "$STATUS $(jbody .fields.slug)" "200 put-title" "a replacement passes the hooks"

# What a hook hands back obeys max_body_size (64 KiB here) like a body.
post '{"title":"grown","grow":1000}'
is "$STATUS $(jbody '.fields.big | length')" "201 1000" \
    "a hook may make the fields larger"
before_events=$(replay 0 | wc -l)
post '{"title":"too big","grow":70000}'
is "$STATUS $(jbody .error.code)" "500 hook_failed" \
    "fields a hook made larger than max_body_size are refused"
like "$(jbody .error.message)" 'larger than max_body_size' "... saying why"
like "$(grep 'over max_body_size' "$T/basalt.log")" 'acme/web' \
    "... and the log says which app"
is "$(replay 0 | wc -l)" "$before_events" "... and nothing is stored"

post '{"title":"Keep Me","keep":true}'
KEEP=$(jbody .id)
http DELETE "$B/collections/posts/records/$KEEP" -H "$AUTH"
is "$STATUS $(jbody .error.message)" "422 this post is kept" \
    "a delete hook refuses with a thrown string"
http GET "$B/collections/posts/records/$KEEP" -H "$AUTH"
is "$STATUS" 200 "the record is still there"

send PATCH "$B/collections/posts/records/$ID2" '{"oops":true}'
is "$STATUS $(jbody .fields.oops)" "200 true" \
    "an error in an after hook does not fail the committed write"
like "$(grep 'TypeError' "$T/basalt.log")" '05-publish\.js:4: TypeError' \
    "... it is logged with file and line"

# ------------------------------------------------ a hook that never returns

t=$(curl -s -o "$T/spin.json" -w '%{http_code} %{time_total}' --max-time 30 \
    -X PATCH -H "$AUTH" -H 'Content-Type: application/json' \
    -d '{"spin":true}' "$B/collections/posts/records/$ID1")
BODY=$(cat "$T/spin.json")
is "${t%% *}" 500 "an endless hook fails the request with 500"
is "$(jbody .error.code)" hook_failed "the error code is hook_failed"
ms=$(awk -v s="${t#* }" 'BEGIN { printf "%d", s * 1000 }')
diag "the endless hook's request took $ms ms (budget $BUDGET ms)"
[ "$ms" -ge $((BUDGET - 5)) ] && [ "$ms" -lt $((BUDGET + 1700)) ]
ok $? "it was stopped after its budget, not long after"
like "$(grep 'ran out of time' "$T/basalt.log")" "10-validate\\.js:[0-9]+" \
    "the log names the hook's file and line"
http GET "$B/collections/posts/records/$ID1" -H "$AUTH"
is "$(jbody .fields.spin)" null "the write was not stored"
post '{"title":"After the loop"}'
is "$STATUS" 201 "the next request succeeds"
is "$(jbody .fields.slug)" after-the-loop "... with its hooks"

# ------------------------------------------------ a syntax error, then SIGHUP

cat >"$HK/30-tag.js" <<'EOF'
// tags every new post
onRecordCreate("posts", function (e) {
	e.record.fields.tagged = ;
});
EOF
kill -HUP "$BASALT_PID"
wait_until 10 grep -q '30-tag\.js' "$T/basalt.log"
like "$(grep '30-tag\.js' "$T/basalt.log")" \
    '30-tag\.js:3: SyntaxError' "the syntax error is logged with file and line"
post '{"title":"Still Here"}'
is "$STATUS" 201 "the server goes on serving"
is "$(jbody .fields.slug)/$(jbody .fields.tagged)" still-here/null \
    "the app's hooks stay as they were"

sed -i 's/tagged = ;/tagged = true;/' "$HK/30-tag.js"
loaded=$(count_loaded)
kill -HUP "$BASALT_PID"
wait_until 10 at_least $((loaded + 1)) count_loaded
ok $? "the fixed file is loaded after SIGHUP"
post '{"title":"Tagged"}'
is "$(jbody .fields.tagged)/$(jbody .fields.slug)" true/tagged \
    "the fixed hook runs, with the others"
kill -0 "$BASALT_PID"
ok $? "basalt is still running"

# ------------------------------------------------ deeply nested bodies

# nest D: an object nested D deep ({} is 1), "announce":true at the top
# (the after hook of posts then publishes a custom event).
nest() {
	local s='{}' i
	for ((i = 2; i < $1; i++)); do
		s="{\"a\":$s}"
	done
	echo "{\"announce\":true,\"a\":$s}"
}
# depth: how deep the JSON object on stdin is nested ({} is 1).
depth() {
	jq '[paths | length] | max + 1'
}

curl -s -N --max-time 30 -H "$AUTH" "$B/collections/posts/events" \
    >"$T/deep.txt" &
bg_track $!
wait_until 10 grep -q '^retry:' "$T/deep.txt"
for d in 32 33 48 63 64; do
	http POST "$B/collections/posts/records" -H "$AUTH" \
	    -H 'Content-Type: application/json' -d "$(nest $d)"
	got="create $STATUS $(jbody .fields | depth)"
	DID=$(jbody .id)
	send PATCH "$B/collections/posts/records/$DID" "{\"b\":$d}"
	got="$got, patch $STATUS $(jbody .fields.b) $(jbody .fields | depth)"
	http PUT "$B/collections/posts/records/$DID" -H "$AUTH" \
	    -H 'Content-Type: application/json' -d "$(nest $d)"
	got="$got, put $STATUS $(jbody .fields | depth)"
	http GET "$B/collections/posts/records/$DID" -H "$AUTH"
	got="$got, get $STATUS $(jbody .fields | depth)"
	http GET "$B/collections/posts/records?limit=500" -H "$AUTH"
	got="$got, list $STATUS $(jbody ".items[] | select(.id == \"$DID\") |
	    .fields" | depth)"
	wait_until 10 grep -q "\"after\":\"$DID\"" "$T/deep.txt"
	got="$got, after hook $?"
	wait_until 10 grep -q "event: record_updated" "$T/deep.txt"
	got="$got, stream $(sse_events "$T/deep.txt" | awk -F'\t' -v id="$DID" \
	    '$2 == "record_created" && index($3, id) { print $3 }' |
	    jq .fields | depth)"
	is "$got" "create 201 $d, patch 200 $d $d, put 200 $d, get 200 $d,\
 list 200 $d, after hook 0, stream $d" \
	    "a body $d deep: written, patched, replaced, read, listed, streamed, after hook run"
done
http POST "$B/collections/posts/records" -H "$AUTH" \
    -H 'Content-Type: application/json' -d "$(nest 65)"
is "$STATUS $(jbody .error.code)" "400 invalid_json" "a body 65 deep is refused"
http PATCH "$B/collections/posts/records/$DID" -H "$AUTH" \
    -H 'Content-Type: application/json' -d "$(nest 65)"
is "$STATUS $(jbody .error.code)" "400 invalid_json" "... as a patch too"
basalt_cli app create acme plain &&
basalt_cli collection create acme plain notes &&
PTOKEN=$(basalt_cli token create acme plain --scope read,write --label p) ||
    bail_out "the admin CLI failed"
http POST "$URL/api/realms/acme/apps/plain/collections/notes/records" \
    -H "Authorization: Bearer $PTOKEN" -H 'Content-Type: application/json' \
    -d "$(nest 64)"
PID64=$(jbody .id)
http PATCH "$URL/api/realms/acme/apps/plain/collections/notes/records/$PID64" \
    -H "Authorization: Bearer $PTOKEN" -H 'Content-Type: application/json' \
    -d '{"b":1}'
is "$STATUS $(jbody .fields | depth)" "200 64" \
    "a record 64 deep in an app without hooks is patched"

# ------------------------------------------------ the examples in etc/hooks

basalt_cli app create acme demo &&
basalt_cli collection create acme demo posts &&
basalt_cli collection create acme demo notifications &&
DTOKEN=$(basalt_cli token create acme demo --scope read,write --label demo) ||
    bail_out "the admin CLI failed"
D=$URL/api/realms/acme/apps/demo
DAUTH="Authorization: Bearer $DTOKEN"
curl -s -N --max-time 20 -H "$DAUTH" "$D/collections/notifications/events" \
    >"$T/notes.txt" &
bg_track $!
wait_until 10 grep -q '^retry:' "$T/notes.txt"

http POST "$D/collections/posts/records" -H "$DAUTH" \
    -H 'Content-Type: application/json' -d '{"body":"no title"}'
is "$STATUS $(jbody .error.message)" "422 a post needs a title" \
    "validate.js refuses a post without a title"
http POST "$D/collections/posts/records" -H "$DAUTH" \
    -H 'Content-Type: application/json' -d '{"title":"Hello, Hooks!"}'
is "$STATUS $(jbody .fields.slug)" "201 hello-hooks" "slug.js derives the slug"
is "$(jbody .fields.sees)" undefined "one app does not see another app's globals"
DID=$(jbody .id)
http PATCH "$D/collections/posts/records/$DID" -H "$DAUTH" \
    -H 'Content-Type: application/json' -d '{"title":"Bye"}'
is "$(jbody .fields.slug) $(jbody .fields.edits)" "bye 1" \
    "slug.js follows the title and counts the edit"
http DELETE "$D/collections/posts/records/$DID" -H "$DAUTH"
is "$STATUS" 204 "the post is deleted"
wait_until 10 at_least 2 count_events "$T/notes.txt"
is "$(sse_events "$T/notes.txt" | cut -f 2,3)" \
    "$(printf 'new_post\t{"id":"%s","title":"Hello, Hooks!"}\npost_removed\t{"id":"%s"}' \
    "$DID" "$DID")" "notify.js publishes to notifications"
grep -q "hook acme/demo: post $DID removed" "$T/basalt.log"
ok $? "notify.js logs through \$app.log"

basalt_stop
is "$?" 0 "basalt exits with status 0"
is "$(grep -c -E 'Sanitizer|runtime error' "$T/basalt.log")" 0 \
    "no sanitizer report in the log"

done_testing
