#!/bin/bash
# End-to-end test of the admin CLI and the REST API through lighttpd:
# every endpoint and every error of the README, persistence across a
# restart, and slow FastCGI peers that must not starve the workers.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq node

ULID_RE='^[0-9A-HJKMNP-TV-Z]{26}$'
TIME_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'

# strings_has TEXT: some string anywhere in BODY equals TEXT.
strings_has() { [ "$(jq --arg s "$1" '[.. | strings] | any(. == $s)' \
    <<<"$BODY" 2>/dev/null)" = true ]; }

# expect_error STATUS CODE DESC: the last reply is the error STATUS with
# CODE, in basalt's one error shape, as JSON.
expect_error() {
	local st=$1 code=$2
	shift 2
	is "$STATUS" "$st" "$*: status $st" || diag "body: $BODY"
	is "$(jbody '"\(.error.status) \(.error.code) \(.error.message | type)"')" \
	    "$st $code string" "$*: error body {status:$st, code:$code, message}"
	like "$(header Content-Type)" '^application/json' "$*: JSON"
}

# forbidden TOKEN METHOD URL JSON DESC: the request (a write with the JSON
# body, or without one when JSON is empty) with TOKEN is refused as 403.
forbidden() {
	if [ -n "$4" ]; then
		AUTH="Authorization: Bearer $1" send "$2" "$3" "$4"
	else
		http "$2" "$3" -H "Authorization: Bearer $1"
	fi
	expect_error 403 forbidden "$5"
}

# elapsed CMD...: runs CMD, prints the seconds it took (e.g. 0.012).
elapsed() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null
	t1=$(date +%s%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'
}
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# ======================================================================
# The admin CLI
# ======================================================================
basalt_config

out=$(basalt_cli realm create acme 2>"$T/err"); rc=$?
ok $rc "cli: realm create acme"
out=$(basalt_cli realm create acme 2>"$T/err"); rc=$?
isnt $rc 0 "cli: realm create of an existing realm fails"
ok "$([ -s "$T/err" ]; echo $?)" "cli: ... with a message on stderr"
for bad in Acme "bad name" _acme "" "$(printf 'a%.0s' {1..64})" "a/b"; do
	out=$(basalt_cli realm create "$bad" 2>"$T/err"); rc=$?
	is "$rc" 1 "cli: realm create '$bad' exits 1"
	ok "$([ -s "$T/err" ] && [ -z "$out" ]; echo $?)" \
	    "cli: realm create '$bad': stderr only"
done
long=$(printf 'a%.0s' {1..63})
basalt_cli realm create "$long" 2>"$T/err"
ok $? "cli: a 63-character name is valid"
basalt_cli realm create other-1_x 2>"$T/err"
ok $? "cli: digits, '-' and '_' in names"
is "$(basalt_cli realm list | sort | tr '\n' ' ')" "$long acme other-1_x " \
    "cli: realm list, one name per line"
basalt_cli realm delete "$long"
ok $? "cli: realm delete"
is "$(basalt_cli realm list | sort | tr '\n' ' ')" "acme other-1_x " \
    "cli: the deleted realm is gone"
basalt_cli realm delete nosuch 2>"$T/err"
isnt $? 0 "cli: realm delete of an unknown realm fails"

basalt_cli app create acme web
ok $? "cli: app create"
basalt_cli app create acme tmp && basalt_cli app create other-1_x web
ok $? "cli: more apps"
basalt_cli app create nosuch web 2>"$T/err"
isnt $? 0 "cli: app create in an unknown realm fails"
basalt_cli app create acme "Web" 2>"$T/err"
is $? 1 "cli: app create with a bad name exits 1"
is "$(basalt_cli app list acme | sort | tr '\n' ' ')" "tmp web " "cli: app list"
basalt_cli app delete acme tmp
ok $? "cli: app delete"
is "$(basalt_cli app list acme | tr '\n' ' ')" "web " "cli: the app is gone"

basalt_cli collection create acme web posts
ok $? "cli: collection create"
basalt_cli collection create acme web drafts && \
    basalt_cli collection create other-1_x web posts
ok $? "cli: more collections"
basalt_cli collection create acme web posts 2>"$T/err"
isnt $? 0 "cli: collection create of an existing one fails"
basalt_cli collection create acme nosuch posts 2>"$T/err"
isnt $? 0 "cli: collection create in an unknown app fails"
basalt_cli collection create acme web "po sts" 2>"$T/err"
is $? 1 "cli: collection create with a bad name exits 1"
is "$(basalt_cli collection list acme web | sort | tr '\n' ' ')" \
    "drafts posts " "cli: collection list"
basalt_cli collection delete acme web drafts
ok $? "cli: collection delete"
is "$(basalt_cli collection list acme web | tr '\n' ' ')" "posts " \
    "cli: the collection is gone"

TOKEN=$(basalt_cli token create acme web --scope read,write,admin \
    --label admin-token 2>"$T/err"); rc=$?
ok $rc "cli: token create"
is "$(printf '%s\n' "$TOKEN" | wc -l)" 1 "cli: token create prints one line"
like "$TOKEN" '^[^[:space:]]{20,}$' "cli: ... the secret alone"
RTOKEN=$(basalt_cli token create acme web --scope read --label reader)
WTOKEN=$(basalt_cli token create acme web --scope write --label writer)
VTOKEN=$(basalt_cli token create acme web --scope read --label revoked-one)
OTOKEN=$(basalt_cli token create other-1_x web --scope read,write,admin)
ok "$([ -n "$RTOKEN" ] && [ -n "$WTOKEN" ] &&
    [ -n "$VTOKEN" ] && [ -n "$OTOKEN" ]; echo $?)" "cli: more tokens"
isnt "$RTOKEN" "$TOKEN" "cli: every token has its own secret"
basalt_cli token create acme web --scope read,delete 2>"$T/err"
isnt $? 0 "cli: token create with an unknown scope fails"
basalt_cli token create acme web --scope read --expires soon 2>"$T/err"
isnt $? 0 "cli: token create with a bad duration fails"
basalt_cli token create acme nosuch --scope read 2>"$T/err"
isnt $? 0 "cli: token create for an unknown app fails"

basalt_cli token list acme web >"$T/tokens" 2>"$T/err"
ok $? "cli: token list"
is "$(wc -l <"$T/tokens")" 4 "cli: token list prints one line per token"
ok "$(grep -qF -e "$TOKEN" -e "$RTOKEN" "$T/tokens"; [ $? -ne 0 ]; echo $?)" \
    "cli: token list never shows a secret"
vline=$(grep revoked-one "$T/tokens")
VID=$(awk '{ print $1 }' <<<"$vline")
like "$vline" 'read' "cli: token list shows scopes"
basalt_cli token revoke "$VID"
ok $? "cli: token revoke $VID"
like "$(basalt_cli token list acme web | grep revoked-one)" 'revoked' \
    "cli: token list shows the revoked state"
basalt_cli token revoke nosuchtoken 2>"$T/err"
isnt $? 0 "cli: token revoke of an unknown id fails"
ok "$(cat "$T"/basalt.db* | grep -aqF -e "$TOKEN" -e "$RTOKEN"; [ $? -ne 0 ]
    echo $?)" "cli: the database holds no secret, only hashes"

basalt_cli check-config >"$T/out" 2>"$T/err"
ok $? "cli: check-config accepts the test configuration"
cp "$T/basalt.conf" "$T/good.conf"
echo "no_such_key = 1" >>"$T/basalt.conf"
n=$(wc -l <"$T/basalt.conf")
basalt_cli check-config 2>"$T/err"
isnt $? 0 "cli: check-config refuses an unknown key"
like "$(cat "$T/err")" "basalt.conf:$n" "cli: ... naming file:line"
basalt_config workers=many
basalt_cli check-config 2>"$T/err"
isnt $? 0 "cli: check-config refuses a bad value"
like "$(cat "$T/err")" "basalt.conf:[0-9]+" "cli: ... naming file:line"
basalt_config

# ======================================================================
# The server behind lighttpd
# ======================================================================
basalt_start || bail_out "basalt serve did not start"
lighttpd_start || bail_out "lighttpd did not start"
B=$URL/api/realms/acme/apps/web
P=$B/collections/posts
AUTH="Authorization: Bearer $TOKEN"

is "$(stat -c %a "$T/basalt.sock")" 660 "serve: the socket has mode 0660"

http GET "$URL/api/health"
is "$STATUS" 200 "health: 200 without a token"
like "$(header Content-Type)" '^application/json' "health: JSON"
is "$(jbody '"\(.status) \(.streams)"')" "ok 0" "health: status ok, streams 0"

get "$URL/api/token"
is "$STATUS" 200 "token: 200"
ok "$(strings_has acme && strings_has web; echo $?)" \
    "token: names realm acme and app web"
AUTH="Authorization: Bearer $RTOKEN" get "$URL/api/token"
ok "$(strings_has read && ! grep -q write <<<"$BODY"; echo $?)" \
    "token: a read token grants read only"
http GET "$URL/api/token"
expect_error 401 unauthorized "token without a token"

# --- collections
get "$B/collections"
is "$STATUS" 200 "collections: list 200"
like "$(header Content-Type)" '^application/json' "collections: JSON"
ok "$(strings_has posts; echo $?)" "collections: lists posts"
send POST "$B/collections" '{"name":"comments"}'
is "$STATUS" 201 "collections: create 201"
ok "$(strings_has comments; echo $?)" "collections: the reply names it"
get "$B/collections"
ok "$(strings_has comments && strings_has posts; echo $?)" \
    "collections: the new one is listed"
is "$(basalt_cli collection list acme web | sort | tr '\n' ' ')" \
    "comments posts " "collections: the CLI sees it too"
send POST "$B/collections" '{"name":"comments"}'
expect_error 409 conflict "collections: create twice"
send POST "$B/collections" '{"name":"Bad Name"}'
expect_error 400 invalid_name "collections: create with a bad name"
send POST "$B/collections" '{"name":""}'
expect_error 400 invalid_name "collections: create with an empty name"
send POST "$B/collections" '{"name":42}'
expect_error 400 invalid_name "collections: create with a number for name"
forbidden "$RTOKEN" POST "$B/collections" '{"name":"x1"}' \
    "collections: create with a read token"
forbidden "$WTOKEN" POST "$B/collections" '{"name":"x2"}' \
    "collections: create with a write token"
forbidden "$WTOKEN" DELETE "$B/collections/comments" "" \
    "collections: delete with a write token"
get "$B/collections"
ok "$(! strings_has x1 && ! strings_has x2; echo $?)" \
    "collections: refused creates created nothing"
http DELETE "$B/collections/comments" -H "$AUTH"
is "$STATUS" 204 "collections: delete 204"
is "$BODY" "" "collections: 204 has no body"
http DELETE "$B/collections/comments" -H "$AUTH"
expect_error 404 not_found "collections: delete twice"
http DELETE "$B/collections/Bad%20Name" -H "$AUTH"
expect_error 400 invalid_name "collections: delete a bad name"

# --- records: create and read
send POST "$P/records" '{"title":"hello","n":1}'
is "$STATUS" 201 "records: create 201"
like "$(header Content-Type)" '^application/json' "records: create JSON"
R1=$(jbody .id)
like "$R1" "$ULID_RE" "records: the id is a ULID"
is "$(header Location)" "/api/realms/acme/apps/web/collections/posts/records/$R1" \
    "records: Location is the record's path"
is "$(jbody .collection)" posts "records: collection posts"
is "$(jnorm "$(jbody .fields)")" '{"n":1,"title":"hello"}' "records: fields"
C1=$(jbody .created_at)
like "$C1" "$TIME_RE" "records: created_at is an ISO time in ms, UTC"
is "$(jbody .updated_at)" "$C1" "records: updated_at equals created_at"
is "$(jbody 'keys | join(",")')" "collection,created_at,fields,id,updated_at" \
    "records: a record has exactly id, collection, fields, created_at, updated_at"
CREATED=$BODY

get "$P/records/$R1"
is "$STATUS" 200 "records: get 200"
is "$(jnorm "$BODY")" "$(jnorm "$CREATED")" "records: get returns what create did"
get "$B/collections/po%73ts/records/$R1"
is "$STATUS" 200 "records: path segments are percent-decoded"

utf='{"text":"h\u00e9llo \u2713 \ud83d\ude00","s":"a\"b\\c\nd","arr":[1,2.5,true,null,{"x":[]}],"empty":{}}'
send POST "$P/records" "$utf"
is "$STATUS" 201 "records: create with unicode, escapes, nesting"
R2=$(jbody .id)
get "$P/records/$R2"
is "$(jnorm "$(jbody .fields)")" "$(jnorm "$utf")" "records: fields round-trip exactly"
like "$(cat "$T/.http-body")" 'héllo ✓ 😀' "records: UTF-8 out"

send POST "$P/records" '{"a":1}'
R3=$(jbody .id)
http POST "$P/records" -H "$AUTH" -H 'Content-Type: application/json; charset=utf-8' \
    --data-binary '{"charset":1}'
is "$STATUS" 201 "records: a JSON Content-Type with charset is accepted" ||
    diag "$BODY"
ok "$([[ "$R1" < "$R2" && "$R2" < "$R3" ]]; echo $?)" \
    "records: ids sort in creation order"

# --- merge patch (RFC 7396) and replace
send PATCH "$P/records/$R1" '{"n":2,"title":null,"meta":{"a":1,"b":{"c":2}}}'
is "$STATUS" 200 "patch: 200"
is "$(jnorm "$(jbody .fields)")" '{"meta":{"a":1,"b":{"c":2}},"n":2}' \
    "patch: null removes, new keys are added"
is "$(jbody .id)/$(jbody .created_at)" "$R1/$C1" "patch: id and created_at kept"
U1=$(jbody .updated_at)
like "$U1" "$TIME_RE" "patch: updated_at is a time"
ok "$([[ ! "$U1" < "$C1" ]]; echo $?)" "patch: updated_at not before created_at"
send PATCH "$P/records/$R1" '{"meta":{"b":{"c":null,"d":3},"e":[1,2]}}'
is "$(jnorm "$(jbody .fields)")" '{"meta":{"a":1,"b":{"d":3},"e":[1,2]},"n":2}' \
    "patch: objects merge recursively"
send PATCH "$P/records/$R1" '{"meta":{"e":[3]},"n":{"k":null}}'
is "$(jnorm "$(jbody .fields)")" '{"meta":{"a":1,"b":{"d":3},"e":[3]},"n":{}}' \
    "patch: arrays and scalars are replaced whole"
send PATCH "$P/records/$R1" '{}'
is "$STATUS/$(jnorm "$(jbody .fields)")" \
    '200/{"meta":{"a":1,"b":{"d":3},"e":[3]},"n":{}}' "patch: {} changes nothing"
get "$P/records/$R1"
is "$(jnorm "$(jbody .fields)")" '{"meta":{"a":1,"b":{"d":3},"e":[3]},"n":{}}' \
    "patch: the merge is stored"
send PATCH "$P/records/$R1" '[1]'
expect_error 400 not_an_object "patch: an array"
send PATCH "$P/records/$R1" '{"a":'
expect_error 400 invalid_json "patch: bad JSON"
http PATCH "$P/records/$R1" -H "$AUTH" -d '{"a":1}'
expect_error 415 unsupported_media_type "patch: form Content-Type"

send PUT "$P/records/$R1" '{"title":"replaced"}'
is "$STATUS" 200 "put: 200"
is "$(jnorm "$(jbody .fields)")" '{"title":"replaced"}' "put: replaces the fields"
is "$(jbody .id)/$(jbody .created_at)" "$R1/$C1" "put: id and created_at kept"
get "$P/records/$R1"
is "$(jnorm "$(jbody .fields)")" '{"title":"replaced"}' "put: stored"
send PUT "$P/records/$R1" '"x"'
expect_error 400 not_an_object "put: a string"
http PUT "$P/records/$R1" -H "$AUTH" -H 'Content-Type: text/plain' -d '{}'
expect_error 415 unsupported_media_type "put: text/plain"

# --- delete
http DELETE "$P/records/$R3" -H "$AUTH"
is "$STATUS" 204 "delete: 204"
is "$BODY" "" "delete: no body"
get "$P/records/$R3"
expect_error 404 not_found "delete: then get"
http DELETE "$P/records/$R3" -H "$AUTH"
expect_error 404 not_found "delete: twice"
send PATCH "$P/records/$R3" '{"a":1}'
expect_error 404 not_found "delete: then patch"
send PUT "$P/records/$R3" '{"a":1}'
expect_error 404 not_found "delete: then put"

# --- body errors on create
send POST "$P/records" '{"title":'
expect_error 400 invalid_json "create: truncated JSON"
send POST "$P/records" ''
expect_error 400 invalid_json "create: empty body"
send POST "$P/records" '{"a":1} x'
expect_error 400 invalid_json "create: trailing garbage"
send POST "$P/records" $'{"a":"\xff\xfe"}'
expect_error 400 invalid_json "create: invalid UTF-8"
send POST "$P/records" "$(printf '[%.0s' {1..200})$(printf ']%.0s' {1..200})"
is "${STATUS:0:1}" 4 "create: 200 nested arrays are refused with a 4xx, no crash"
for body in '[1,2]' '"str"' '42' 'null' 'true'; do
	send POST "$P/records" "$body"
	expect_error 400 not_an_object "create: body $body"
done
http POST "$P/records" -H "$AUTH" -d '{"a":1}'
expect_error 415 unsupported_media_type "create: form Content-Type"
http POST "$P/records" -H "$AUTH" -H 'Content-Type: text/plain' -d '{"a":1}'
expect_error 415 unsupported_media_type "create: text/plain"
http POST "$P/records" -H "$AUTH" -H 'Content-Type:' --data-binary '{"a":1}'
expect_error 415 unsupported_media_type "create: no Content-Type"

# --- ids, names, paths
get "$P/records/not-a-ulid"
expect_error 400 invalid_id "get: a bad id"
get "$P/records/01ARZ3NDEKTSV4RRFFQ69G5FAU"
expect_error 400 invalid_id "get: a ULID with a U"
get "$P/records/01ARZ3NDEKTSV4RRFFQ69G5FAVX"
expect_error 400 invalid_id "get: 27 characters"
send PATCH "$P/records/xyz" '{"a":1}'
expect_error 400 invalid_id "patch: a bad id"
get "$P/records/01ARZ3NDEKTSV4RRFFQ69G5FAV"
expect_error 404 not_found "get: an unknown record"
get "$B/collections/postz/records"
expect_error 404 not_found "records of an unknown collection"
like "$(jbody .error.message)" "postz" "... the message names it"
send POST "$B/collections/postz/records" '{"a":1}'
expect_error 404 not_found "create in an unknown collection"
get "$B/collections/Po%20sts/records"
expect_error 400 invalid_name "records of a bad collection name"
get "$URL/api/nope"
expect_error 404 not_found "an unknown path"
get "$B/nope"
expect_error 404 not_found "an unknown path under an app"
get "$P/records/$R1/nope"
expect_error 404 not_found "an unknown path under a record"
get "$URL/api/realms/other-1_x/apps/web/collections"
expect_error 403 forbidden "a token of acme/web on realm other-1_x"
AUTH="Authorization: Bearer $OTOKEN" get "$B/collections"
expect_error 403 forbidden "a token of other-1_x/web on acme/web"
basalt_cli app create acme web2 && basalt_cli collection create acme web2 posts
AUTH="Authorization: Bearer $TOKEN" get "$URL/api/realms/acme/apps/web2/collections/posts/records"
expect_error 403 forbidden "a token of acme/web on acme/web2"

# --- 405 with Allow
allow_has() {
	local m a
	a=$(header Allow)
	for m in "$@"; do
		[[ ",${a// /}," == *",$m,"* ]] || return 1
	done
}
http DELETE "$B/collections" -H "$AUTH"
expect_error 405 method_not_allowed "DELETE on collections"
ok "$(allow_has GET POST; echo $?)" "... Allow: GET, POST (got '$(header Allow)')"
send PUT "$P/records" '{}'
expect_error 405 method_not_allowed "PUT on records"
ok "$(allow_has GET POST; echo $?)" "... Allow: GET, POST (got '$(header Allow)')"
send POST "$P/records/$R1" '{}'
expect_error 405 method_not_allowed "POST on a record"
ok "$(allow_has GET PATCH PUT DELETE; echo $?)" \
    "... Allow: GET, PATCH, PUT, DELETE (got '$(header Allow)')"
http POST "$URL/api/health" -H "$J" -d '{}'
expect_error 405 method_not_allowed "POST on health"
ok "$(allow_has GET; echo $?)" "... Allow: GET (got '$(header Allow)')"
send PATCH "$P/events" '{}'
expect_error 405 method_not_allowed "PATCH on events"
ok "$(allow_has GET POST; echo $?)" "... Allow: GET, POST (got '$(header Allow)')"

# --- 401 and 403
http GET "$B/collections"
expect_error 401 unauthorized "no token"
like "$(header WWW-Authenticate)" '^Bearer' "no token: WWW-Authenticate: Bearer"
http GET "$B/collections" -H "Authorization: Bearer not-a-token"
expect_error 401 unauthorized "an unknown token"
like "$(header WWW-Authenticate)" '^Bearer' "unknown: WWW-Authenticate: Bearer"
http GET "$B/collections" -H "Authorization: Bearer $VTOKEN"
expect_error 401 unauthorized "a revoked token"
like "$(header WWW-Authenticate)" '^Bearer' "revoked: WWW-Authenticate: Bearer"
http GET "$B/collections" -H "Authorization: Basic $(printf 'a:b' | base64)"
expect_error 401 unauthorized "Basic auth"
http GET "$B/collections?access_token=$TOKEN"
expect_error 401 unauthorized "access_token outside the event streams"
http POST "$P/records" -H "$J" -d '{"a":1}'
expect_error 401 unauthorized "a write without a token"
XTOKEN=$(basalt_cli token create acme web --scope read,write --label expiring \
    --expires 1s)
http GET "$B/collections" -H "Authorization: Bearer $XTOKEN"
xstatus=$STATUS
sleep 2
http GET "$B/collections" -H "Authorization: Bearer $XTOKEN"
expect_error 401 unauthorized "an expired token (--expires 1s, 2 s later)"
like "$(header WWW-Authenticate)" '^Bearer' "expired: WWW-Authenticate: Bearer"
diag "the 1s token right after its creation got $xstatus"
like "$(basalt_cli token list acme web | grep expiring)" 'expired' \
    "cli: token list shows the expired state"

forbidden "$RTOKEN" POST "$P/records" '{"a":1}' "create with a read token"
forbidden "$RTOKEN" PATCH "$P/records/$R1" '{"a":1}' "patch with a read token"
forbidden "$RTOKEN" PUT "$P/records/$R1" '{"a":1}' "put with a read token"
forbidden "$RTOKEN" DELETE "$P/records/$R1" "" "delete with a read token"
forbidden "$WTOKEN" GET "$P/records/$R1" "" "get with a write-only token"
forbidden "$WTOKEN" GET "$P/records" "" "list with a write-only token"
AUTH="Authorization: Bearer $RTOKEN" get "$P/records/$R1"
is "$STATUS/$(jnorm "$(jbody .fields)")" '200/{"title":"replaced"}' \
    "a read token reads"
AUTH="Authorization: Bearer $WTOKEN" send POST "$P/records" '{"by":"writer"}'
is "$STATUS" 201 "a write-only token writes"
RW=$(jbody .id)
get "$P/records/$RW"
is "$STATUS/$(jbody .fields.by)" 200/writer "... and the write is stored"

# --- paging
send POST "$B/collections" '{"name":"pages"}'
G=$B/collections/pages
get "$G/records"
is "$STATUS/$(jq -c 'del(.event_id)' <<<"$BODY")" \
    '200/{"items":[],"next":null}' "paging: an empty collection"
ids=()
for i in $(seq 1 55); do
	send POST "$G/records" "{\"i\":$i}"
	ids+=("$(jbody .id)")
done
is "$(printf '%s\n' "${ids[@]}" | grep -cE "$ULID_RE")" 55 "paging: 55 records created"
get "$G/records"
is "$(jbody '.items | length')" 50 "paging: the default limit is 50"
is "$(jbody .next)" "${ids[49]}" "paging: next is the 50th id"
is "$(jbody '[.items[].fields.i] | map(tostring) | join(",")')" \
    "$(seq -s, 1 50)" "paging: items in id order"
is "$(jbody '.items[0] | keys | join(",")')" \
    "collection,created_at,fields,id,updated_at" "paging: items are records"
get "$G/records?after=${ids[49]}"
is "$(jbody '[.items[].fields.i] | map(tostring) | join(",")')/$(jbody .next)" \
    "51,52,53,54,55/null" "paging: the last page and next null"
pages=0 seen=() after=
while :; do
	get "$G/records?limit=7${after:+&after=$after}"
	[ "$STATUS" = 200 ] || break
	pages=$((pages + 1))
	seen+=($(jbody '.items[].id'))
	after=$(jbody .next)
	[ "$after" = null ] && break
	[ "$pages" -gt 20 ] && break
done
is "$pages" 8 "paging: limit=7 walks 55 records in 8 pages"
is "${seen[*]}" "${ids[*]}" "paging: every record once, in order"
get "$G/records?limit=500"
is "$STATUS/$(jbody '.items | length')/$(jbody .next)" "200/55/null" \
    "paging: limit=500 is allowed"
get "$G/records?limit=1"
is "$(jbody '.items | length')/$(jbody .next)" "1/${ids[0]}" "paging: limit=1"
get "$G/records?after=${ids[54]}"
is "$(jq -c 'del(.event_id)' <<<"$BODY")" '{"items":[],"next":null}' \
    "paging: after the last id"
for q in limit=0 limit=501 limit=abc limit=-1 limit=1.5; do
	get "$G/records?$q"
	expect_error 400 invalid_parameter "paging: $q"
done
get "$G/records?after=nonsense"
is "$STATUS" 400 "paging: after=nonsense is 400"
like "$(jbody .error.code)" '^invalid_(parameter|id)$' "... invalid_parameter"

# --- many writers at once
cpids=()
for i in $(seq 1 40); do
	curl -s -o /dev/null -w '%{http_code}\n' -H "$AUTH" -H "$J" \
	    -d "{\"c\":$i}" "$G/records" >>"$T/par" 2>&1 &
	cpids+=($!)
done
wait "${cpids[@]}"
is "$(grep -c '^201$' "$T/par")" 40 "40 concurrent creates all answer 201"
get "$G/records?limit=500"
is "$(jbody '.items | length')" 95 "... and all 95 records are there"
is "$(jbody '[.items[].id] | (. == sort) and (. == unique)')" true \
    "... with distinct ids in order"

# ======================================================================
# Slow peers straight on basalt's socket
# ======================================================================
for mode in silent params body; do
	node "$top_srcdir/tests/fcgi-peers.mjs" "$mode" "$T/basalt.sock" 40 8 \
	    >"$T/peers-$mode" 2>&1 &
	ppid=$!
	bg_track $ppid
	wait_until 5 grep -q ready "$T/peers-$mode"
	ok $? "slow peers: 40 '$mode' connections open"
	worst=0
	for i in 1 2 3 4 5; do
		t=$(elapsed curl -s -f -H "$AUTH" "$P/records/$R1")
		lt "$worst" "$t" && worst=$t
	done
	t=$(elapsed curl -s -f -H "$AUTH" -H "$J" -d '{"during":"peers"}' "$P/records")
	lt "$worst" "$t" && worst=$t
	t=$(elapsed curl -s -f "$URL/api/health")
	lt "$worst" "$t" && worst=$t
	ok "$(lt "$worst" 1; echo $?)" \
	    "slow peers: with 40 '$mode' peers, requests answer in under 1 s (worst ${worst}s)"
	get "$P/records/$R1"
	is "$STATUS" 200 "slow peers: ... and answer right"
	kill -TERM $ppid 2>/dev/null
	wait $ppid 2>/dev/null
done

# ======================================================================
# Restart: persistence, max_body_size, request_timeout, SIGHUP
# ======================================================================
get "$P/records/$R2"
before=$(jnorm "$BODY")
get "$G/records?limit=500"
before_list=$(jnorm "$BODY")
basalt_stop
is $? 0 "SIGTERM: basalt exits with status 0"
if on_pg; then
	is "$(dbsql "SELECT count(*) FROM records WHERE id = '$R2'")" 1 \
	    "the records are in PostgreSQL's tables"
else
	is "$(head -c 15 "$T/basalt.db")" "SQLite format 3" "the database is an SQLite file"
fi
basalt_config max_body_size=1k request_timeout=2
basalt_start || bail_out "basalt did not restart"
wait_until 5 health_ok
ok $? "restart: health answers again"

get "$P/records/$R2"
is "$(jnorm "$BODY")" "$before" "restart: a record survives"
get "$G/records?limit=500"
is "$(jnorm "$BODY")" "$before_list" "restart: a whole collection survives"
get "$P/records/$R3"
expect_error 404 not_found "restart: a deleted record stays deleted"
AUTH="Authorization: Bearer $VTOKEN" get "$P/records/$R1"
expect_error 401 unauthorized "restart: a revoked token stays revoked"
get "$B/collections"
ok "$(strings_has pages && strings_has posts && ! strings_has comments
    echo $?)" "restart: collections survive"

# --- max_body_size = 1024
small="{\"t\":\"$(head -c 900 /dev/zero | tr '\0' a)\"}"
big="{\"t\":\"$(head -c 2000 /dev/zero | tr '\0' a)\"}"
{ printf '{"t":"'; head -c 300000 /dev/zero | tr '\0' a; printf '"}'; } >"$T/huge"
send POST "$P/records" "$small"
is "$STATUS" 201 "max_body_size=1k: a 910-byte body is taken"
send POST "$P/records" "$big"
expect_error 413 payload_too_large "max_body_size=1k: a 2010-byte create"
send PATCH "$P/records/$R1" "$big"
expect_error 413 payload_too_large "max_body_size=1k: a 2010-byte patch"
send PUT "$P/records/$R1" "@$T/huge"
expect_error 413 payload_too_large "max_body_size=1k: a 300 kB put"
get "$P/records/$R1"
is "$(jnorm "$(jbody .fields)")" '{"title":"replaced"}' "413: nothing was written"
basalt_config max_body_size=4k request_timeout=2
kill -HUP "$BASALT_PID"
sleep 1
send POST "$P/records" "$big"
is "$STATUS" 201 "SIGHUP: max_body_size=4k now takes the 2010-byte body"
kill -0 "$BASALT_PID"
ok $? "SIGHUP: basalt still runs"

# --- request_timeout = 2
for mode in silent params body; do
	out=$(node "$top_srcdir/tests/fcgi-peers.mjs" "$mode" "$T/basalt.sock" 5 6)
	res=$(sed -n '/^{/p' <<<"$out")
	is "$(jq .closed <<<"$res")" 5 \
	    "request_timeout=2: 5 '$mode' peers are dropped"
	ok "$(jq -e '.close_after | length > 0 and all(. >= 1.5 and . <= 4.5)' \
	    <<<"$res" >/dev/null; echo $?)" \
	    "request_timeout=2: '$mode' dropped after 1.5-4.5 s ($(jq -c .close_after <<<"$res"))"
	r=$(jq -r '.replies[0] // ""' <<<"$res")
	[ -n "$r" ] && diag "'$mode' peer got: $(head -n 1 <<<"$r")"
	if [ "$mode" != silent ] && [ -n "$r" ]; then
		like "$r" '^Status: 408' "request_timeout=2: a '$mode' peer that got a reply got 408"
	fi
done
get "$P/records/$R1"
is "$STATUS" 200 "after the slow peers, requests are answered"

# --- the log
ok "$(grep -qF -e "$TOKEN" -e "$RTOKEN" -e "$WTOKEN" "$T/basalt.log"
    [ $? -ne 0 ]; echo $?)" "no secret in basalt's log (log_level=debug)"
basalt_stop
is $? 0 "SIGTERM: basalt exits with status 0 again"
basalt_start
ok $? "serve: starts again"
kill -KILL "$BASALT_PID"
wait "$BASALT_PID" 2>/dev/null
ok "$([ -S "$T/basalt.sock" ]; echo $?)" "a crash leaves the socket file behind"
basalt_start
ok $? "serve: a stale socket file does not stop the next start"
wait_until 5 health_ok
ok $? "serve: ... and it answers"
basalt_stop
ok "$(grep -qE 'Sanitizer|runtime error:' "$T/basalt.log"; [ $? -ne 0 ]
    echo $?)" "no sanitizer report in basalt's log"

done_testing
