#!/bin/bash
# The access log (access_log = FILE) and X-Request-Id behind lighttpd: the
# line of a create, a 404, a 401 and a stream (the route's pattern, never
# the query or a token), the request id taken from the web server or
# made, on answers, errors and streams, error lines in basalt's log with
# the same id, a new file after logrotate's move and SIGHUP, and
# check-config. Then nginx, if installed, passes X-Request-Id through.

. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/servers-lib.sh"

need lighttpd curl jq

AL=$T/access.log
RP=/api/realms/:realm/apps/:app/collections/:coll	# patterns below it
mkdir -p "$T/hooks/acme/web"
cat >"$T/hooks/acme/web/boom.js" <<'JS'
onRecordCreate("boom", function (e) {
	if (e.record.fields.boom)
		null.x = 1;
});
JS
demo_start "access_log=$AL"
basalt_cli collection create acme web boom || bail_out "collection create"

# line ID: the access log's line of request ID, once it is written (the
# log is buffered for up to a second). Sets F to its fields.
line() {
	wait_until 5 grep -q "^[^ ]* $1 " "$AL"
	L=$(grep "^[^ ]* $1 " "$AL")
	read -r -a F <<<"$L"
}

# fields_are DESC TAIL: the line L has a good time, a duration, and the
# fields from realm/app to bytes are TAIL.
fields_are() {
	like "${F[0]}" '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z$' \
	    "$1: the time"
	is "${F[*]:2:5}" "$2" "$1: realm/app, method, route, status, bytes"
	like "${F[7]}:${#F[@]}" '^[0-9]+\.[0-9]{3}:8$' \
	    "$1: the duration in ms, last of 8 fields"
}

bytes() {
	printf %s "$BODY" | wc -c
}

HEX16='^[0-9a-f]{16}$'

# --- a create with the web server's X-Request-Id
send POST "$P/records" '{"title":"one"}' -H 'X-Request-Id: create-1.A_b'
is "$STATUS|$(header X-Request-Id)" "201|create-1.A_b" \
    "a create answers with the request's X-Request-Id"
ID=$(jbody .id)
line create-1.A_b
fields_are "create" "acme/web POST $RP/records 201 $(bytes)"

# --- a 404 with an id of basalt's
get "$P/records/01ARZ3NDEKTSV4RRFFQ69G5FAV"
RID=$(header X-Request-Id)
like "$STATUS|$RID" "^404\|[0-9a-f]{16}$" \
    "a 404 carries a new id: 16 hex digits"
line "$RID"
fields_are "404" "acme/web GET $RP/records/:id 404 $(bytes)"
get "$P/records/01ARZ3NDEKTSV4RRFFQ69G5FAV"
isnt "$(header X-Request-Id)" "$RID" "each request gets an id of its own"

# --- a 401: no token and no query string in the log
http GET "$P/records?filter=title%3D%22qsecret%22" \
    -H 'Authorization: Bearer badtoken-sekrit-123' -H 'X-Request-Id: unauth-1'
is "$STATUS|$(header X-Request-Id)" "401|unauth-1" \
    "a 401 answers with the request's id"
line unauth-1
fields_are "401" "acme/web GET $RP/records 401 $(bytes)"
http GET "$P/events?access_token=qtoken-sekrit-456" -H 'X-Request-Id: unauth-2'
is "$STATUS|$(header X-Request-Id)" "401|unauth-2" \
    "a stream's 401 (access_token in the query) too"
line unauth-2
fields_are "stream 401" "acme/web GET $RP/events 401 $(bytes)"

# --- an unknown path: no route to show; a 405: the route of its path
http GET "$URL/api/nope/x?y=1" -H 'X-Request-Id: nope-1'
is "$STATUS|$(header X-Request-Id)" "404|nope-1" "no such endpoint: 404 with the id"
line nope-1
fields_are "no route" "- GET - 404 $(bytes)"
http PUT "$P/records?x=qsecret" -H "$AUTH" -H 'X-Request-Id: method-1'
is "$STATUS|$(header X-Request-Id)" "405|method-1" "405 with the id"
line method-1
fields_are "405" "acme/web PUT $RP/records 405 $(bytes)"
http DELETE "$B/webhooks/01ARZ3NDEKTSV4RRFFQ69G5FAV/resume" -H "$AUTH" \
    -H 'X-Request-Id: method-2'
line method-2
fields_are "405 on a path with an id" \
    "acme/web DELETE /api/realms/:realm/apps/:app/webhooks/:id/resume 405 $(bytes)"

# --- ids that are not taken: a new one instead
for bad in 'has space' 'semi;colon' "$(printf 'x%.0s' $(seq 129))" \
    'über'; do
	get "$URL/api/health" -H "X-Request-Id: $bad"
	like "$STATUS|$(header X-Request-Id)" "^200\|[0-9a-f]{16}$" \
	    "X-Request-Id '${bad:0:20}' is not taken: a new id"
done
max=$(printf 'y%.0s' $(seq 128))
get "$URL/api/health" -H "X-Request-Id: $max"
is "$(header X-Request-Id)" "$max" "128 characters are taken"

# --- streams: the id on the headers, one line when the stream opens
sub s1 "$P/events?access_token=$TOKEN" -H 'X-Request-Id: stream-1'
wait_sub s1 || bail_out "the stream did not open"
is "$(sheader s1 X-Request-Id)" stream-1 "a stream answers with the request's id"
line stream-1
# its bytes: the opening (a comment, retry and a blank line)
fields_are "stream" "acme/web GET $RP/events 200 $(sed -n 1,3p "$T/s1.out" |
    wc -c)"
sub s2 "$P/records/$ID/events" -H "$AUTH"
wait_sub s2 || bail_out "the stream did not open"
like "$(sheader s2 X-Request-Id)" "$HEX16" "a stream without one gets a new id"
line "$(sheader s2 X-Request-Id)"
is "${F[*]:2:5}" "acme/web GET $RP/records/:id/events 200 ${F[6]}" \
    "a record's stream: its pattern"
unsub s1
unsub s2

# --- a 500: the error line in basalt's log has the same id
send POST "$B/collections/boom/records" '{"boom":true}' -H 'X-Request-Id: boom-1'
is "$STATUS|$(jbody .error.code)|$(header X-Request-Id)" \
    "500|hook_failed|boom-1" "a 500 answers with the request's id"
like "$(grep 'error: request boom-1: ' "$T/basalt.log" | head -1)" 'TypeError|hook' \
    "basalt's error line about it carries the id"
line boom-1
fields_are "500" "acme/web POST $RP/records 500 $(bytes)"

# --- never a secret or a query in the log
n=$(grep -c -e sekrit -e qsecret -e "$TOKEN" -e '?' "$AL")
is "$n" 0 "no token and no query string in the access log"
n=$(grep -c -e sekrit -e qsecret -e "$TOKEN" "$T/basalt.log")
is "$n" 0 "nor in basalt's log"

# --- logrotate: move the file, SIGHUP, a new file
mv "$AL" "$AL.1"
get "$URL/api/health" -H 'X-Request-Id: before-hup'
kill -HUP "$BASALT_PID"
wait_until 5 test -f "$AL"
ok $? "SIGHUP after the move makes a new file"
get "$URL/api/health" -H 'X-Request-Id: after-hup'
line after-hup
is "${F[*]:2:5}" "- GET /api/health 200 $(bytes)" "the next line goes into it"
grep -q ' before-hup ' "$AL.1"
ok $? "the line queued before SIGHUP went to the moved file"
is "$(grep -c ' after-hup ' "$AL.1")" 0 "... and nothing after it"

# --- access_log = off and check-config
basalt_config "access_log=$T/nodir/access.log"
out=$("$BASALT" -c "$T/basalt.conf" check-config 2>&1)
is "$?" 1 "check-config: an access log that cannot be opened fails"
like "$out" "access_log $T/nodir/access.log: No such file" "... saying why"
basalt_config "access_log=off"
"$BASALT" -c "$T/basalt.conf" check-config >/dev/null
is "$?" 0 "check-config: access_log = off is good"
basalt_config "access_log="
"$BASALT" -c "$T/basalt.conf" check-config >/dev/null 2>&1
is "$?" 1 "check-config: an empty access_log is not"

# --- nginx passes X-Request-Id through
if have_server nginx && nginx_start; then
	http GET "$URL/api/health" -H 'X-Request-Id: via-nginx-1'
	is "$STATUS|$(header X-Request-Id)" "200|via-nginx-1" \
	    "behind nginx: the request's id comes back"
	line via-nginx-1
	is "${F[*]:2:5}" "- GET /api/health 200 $(bytes)" "... and is in the log"
else
	skip_tests 2 "nginx: ${WHY_MISSING:-it did not start}"
fi

done_testing
