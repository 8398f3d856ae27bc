#!/bin/bash
# CORS behind lighttpd: the origins an app allows (the CLI and GET/PUT
# .../cors), the server-wide cors_origins, preflight OPTIONS, the headers
# of answers, errors and streams, and the schema upgrade that brought the
# table. Then headless Chromium (tests/cors.mjs): a page on another origin
# fetches with a token and opens an EventSource with access_token, which
# both work from an allowed origin and both fail from another.

. "$top_srcdir/tests/lib.sh"

need lighttpd curl jq sqlite3
! on_pg || need psql

EVERY=https://every.example		# in cors_origins
PAGE=http://page.example:8080		# allowed by the app acme/web
EVIL=https://evil.example		# allowed nowhere
ACAO=Access-Control-Allow-Origin

demo_start "cors_origins=$EVERY"
OTOKEN=$(basalt_cli token create acme web --scope read,write --label rw) ||
	bail_out "token create failed"

# cors_is DESC ORIGIN: the last answer allows ORIGIN ("" for none) and
# varies on Origin.
cors_is() {
	is "$(header "$ACAO")|$(header Vary)" "$2|Origin" "$1"
}

# --- the CLI
basalt_cli app cors acme web >"$T/out" 2>"$T/err"
is "$?:$(cat "$T/out")" "0:" "cli: a new app allows no origin"
basalt_cli app cors acme web HTTP://Page.Example:8080 https://b.example:443 \
    https://b.example >"$T/out" 2>"$T/err"
is "$?:$(cat "$T/out")" "0:" "cli: app cors REALM APP ORIGIN... sets them"
is "$(basalt_cli app cors acme web | tr '\n' ' ')" \
    "$PAGE https://b.example " \
    "cli: stored lower-cased, without the default port, once each, sorted"
basalt_cli app cors acme web --clear && out=$(basalt_cli app cors acme web)
is "$?:$out" "0:" "cli: --clear allows none again"
for bad in 'https://a.example/' 'https://a.example/x' null '*' \
    'a.example' 'https://a.example:0' 'https://a.example:99999' \
    'https://u@a.example' 'https://a..example' 'https://' \
    'https://a.example?q' 'ftp//a.example'; do
	basalt_cli app cors acme web https://ok.example "$bad" 2>"$T/err"
	rc=$?
	is "$rc:$(basalt_cli app cors acme web)" "1:" \
	    "cli: '$bad' is refused, nothing stored ($(cat "$T/err"))"
done
basalt_cli app cors acme nope https://a.example 2>"$T/err"
is "$?:$(cat "$T/err")" "1:basalt: app not found" "cli: an unknown app"
basalt_cli app cors acme web "$PAGE" || bail_out "app cors failed"

# --- answers without an Origin, from an allowed one, from another
get "$B/collections"
is "$STATUS|$(header "$ACAO")|$(header Vary)" "200||Origin" \
    "no Origin: no CORS header, Vary: Origin"
get "$B/collections" -H "Origin: $PAGE"
is "$STATUS" 200 "the app's origin: 200"
cors_is "... Access-Control-Allow-Origin: $PAGE, Vary: Origin" "$PAGE"
is "$(header Access-Control-Expose-Headers)" "Location, X-Request-Id" \
    "... Location and X-Request-Id exposed"
get "$B/collections" -H "Origin: $EVIL"
is "$STATUS|$(jbody '.items | length')" "200|1" \
    "another origin: still answered (CORS is not authentication)"
cors_is "... without Access-Control-Allow-Origin" ""
get "$B/collections" -H "Origin: $EVERY"
cors_is "an origin of cors_origins is allowed on every app" "$EVERY"
http GET "$URL/api/health" -H "Origin: $EVERY"
cors_is "... and on /api/health" "$EVERY"
http GET "$URL/api/health" -H "Origin: $PAGE"
cors_is "an app's origin does not apply to /api/health" ""
http GET "$URL/_/" -H "Origin: $EVERY"
is "$STATUS|$(header "$ACAO")|$(header Vary)" "200||" \
    "the dashboard takes no part in CORS"

# --- errors carry the header, so that the page can read them
http GET "$P/records" -H "Origin: $PAGE"
is "$STATUS $(jbody .error.code)" "401 unauthorized" "401 for an allowed origin"
cors_is "... with Access-Control-Allow-Origin" "$PAGE"
get "$P/records/01ARZ3NDEKTSV4RRFFQ69G5FAV" -H "Origin: $PAGE"
is "$STATUS" 404 "404 for an allowed origin"
cors_is "... with Access-Control-Allow-Origin" "$PAGE"
http GET "$B/cors" -H "Authorization: Bearer $RTOKEN" -H "Origin: $PAGE"
is "$STATUS $(jbody .error.code)" "403 forbidden" "403 for an allowed origin"
cors_is "... with Access-Control-Allow-Origin" "$PAGE"
get "$URL/api/nope" -H "Origin: $EVERY"
is "$STATUS" 404 "no such endpoint, for an origin of cors_origins"
cors_is "... with Access-Control-Allow-Origin" "$EVERY"

# --- preflight
http OPTIONS "$P/records" -H "Origin: $PAGE" \
    -H 'Access-Control-Request-Method: POST' \
    -H 'Access-Control-Request-Headers: authorization,content-type'
is "$STATUS|$BODY" "204|" "preflight from the app's origin, no token: 204"
cors_is "... Access-Control-Allow-Origin" "$PAGE"
is "$(header Access-Control-Allow-Methods)" "GET, HEAD, POST" \
    "... the methods of the path"
is "$(header Access-Control-Allow-Headers)" \
    "Authorization, Content-Type, Last-Event-ID" "... the headers"
is "$(header Access-Control-Max-Age)" 3600 "... Max-Age"
http OPTIONS "$P/records/01ARZ3NDEKTSV4RRFFQ69G5FAV" -H "Origin: $EVERY" \
    -H 'Access-Control-Request-Method: DELETE'
is "$STATUS|$(header Access-Control-Allow-Methods)|$(header "$ACAO")" \
    "204|GET, HEAD, PATCH, PUT, DELETE|$EVERY" \
    "preflight on a record from an origin of cors_origins"
http OPTIONS "$P/events" -H "Origin: $PAGE" \
    -H 'Access-Control-Request-Method: GET' \
    -H 'Access-Control-Request-Headers: last-event-id'
is "$STATUS|$(header "$ACAO")" "204|$PAGE" "preflight on a stream"
http OPTIONS "$P/records" -H "Origin: $EVIL" \
    -H 'Access-Control-Request-Method: POST'
is "$STATUS|$(jbody .error.code)|$(jbody .error.message)" \
    "403|forbidden|the origin $EVIL is not allowed here" \
    "preflight from another origin: 403 with a JSON error"
cors_is "... without Access-Control-Allow-Origin" ""
is "$(header Access-Control-Allow-Methods)" "" "... nor the methods"
http OPTIONS "$P/records" -H 'Origin: null'
is "$STATUS|$(header "$ACAO")" "403|" "the null origin is never allowed"
http OPTIONS "$P/records"
is "$STATUS|$(header Allow)|$(header "$ACAO")" "204|GET, HEAD, POST|" \
    "OPTIONS without an Origin: 204 with Allow"
http OPTIONS "$URL/api/nope" -H "Origin: $EVERY"
is "$STATUS|$(jbody .error.code)|$(header "$ACAO")" "404|not_found|$EVERY" \
    "OPTIONS on no endpoint: 404"

# --- streams
sub s1 "$P/events?access_token=$TOKEN" -H "Origin: $PAGE"
sub s2 "$P/events?access_token=$TOKEN" -H "Origin: $EVIL"
wait_sub s1 && wait_sub s2
ok $? "streams open from either origin"
is "$(sheader s1 "$ACAO")|$(sheader s1 Vary)" "$PAGE|Origin" \
    "a stream from the app's origin: Access-Control-Allow-Origin, Vary"
is "$(sheader s2 "$ACAO")|$(sheader s2 Vary)" "|Origin" \
    "a stream from another origin: Vary alone"
http HEAD "$P/events" -H "$AUTH" -H "Origin: $PAGE"
cors_is "HEAD on a stream: the same headers" "$PAGE"
unsub s1
unsub s2

# --- over HTTP, for admin tokens
get "$B/cors"
is "$STATUS|$(jq -c . <<<"$BODY")" "200|{\"origins\":[\"$PAGE\"]}" \
    "GET .../cors lists the app's origins"
send PUT "$B/cors" \
    '{"origins":["https://Z.example:443","http://127.0.0.1:9000","https://z.example"]}'
is "$STATUS|$(jq -c .origins <<<"$BODY")" \
    '200|["http://127.0.0.1:9000","https://z.example"]' \
    "PUT .../cors replaces them; the answer holds what is stored"
is "$(basalt_cli app cors acme web | tr '\n' ' ')" \
    "http://127.0.0.1:9000 https://z.example " "... the CLI sees the same"
get "$B/collections" -H "Origin: https://z.example"
cors_is "... and the new origin is allowed at once" "https://z.example"
get "$B/collections" -H "Origin: $PAGE"
cors_is "... the old one no longer" ""
http PUT "$B/cors" -H "Authorization: Bearer $OTOKEN" -H "$J" \
    --data-binary '{"origins":[]}'
is "$STATUS $(jbody .error.code)" "403 forbidden" \
    "PUT .../cors without the admin scope: 403"
http GET "$B/cors" -H "Authorization: Bearer $RTOKEN"
is "$STATUS $(jbody .error.code)" "403 forbidden" \
    "GET .../cors without the admin scope: 403"
http GET "$B/cors"
is "$STATUS $(jbody .error.code)" "401 unauthorized" "GET .../cors without a token: 401"
http PUT "$B/cors" -H "$AUTH" --data-binary '{"origins":[]}'
is "$STATUS $(jbody .error.code)" "415 unsupported_media_type" \
    "PUT .../cors without Content-Type: 415"
many=$(jq -cn '{origins: [range(101) | "https://h\(.).example"]}')
while IFS='|' read -r body want; do
	send PUT "$B/cors" "$body"
	is "$STATUS|$(jbody .error.code)|$(jbody .error.message)" \
	    "400|$want" "PUT .../cors ${body:0:50}: 400"
done <<EOF
{"origins":"https://a.example"}|invalid_parameter|"origins" must be an array of origins, as ["https://app.example.com"]
{}|invalid_parameter|"origins" must be an array of origins, as ["https://app.example.com"]
{"origins":["https://a.example",7]}|invalid_parameter|origins[1] must be a string
{"origins":["https://a.example/"]}|invalid_parameter|origins[0]: an origin has no path (not even a trailing /), query or fragment
{"origins":["null"]}|invalid_parameter|origins[0]: the null origin cannot be allowed: every sandboxed page and local file sends it
{"origins":["*"]}|invalid_parameter|origins[0]: * (every origin) is only for cors_origins in basalt.conf
{"origins":["app.example.com"]}|invalid_parameter|origins[0]: an origin is written scheme://host[:port], as https://app.example.com
{"origins":["https://a.example:70000"]}|invalid_parameter|origins[0]: the port must be a number from 1 to 65535
{"origins":["https://a.example\u0000.evil"]}|invalid_parameter|origins[0] must be a string
[1]|not_an_object|the body must be a JSON object
{"origins":|invalid_json|the body is not valid JSON
$many|invalid_parameter|an app allows at most 100 origins
EOF
is "$(basalt_cli app cors acme web | tr '\n' ' ')" \
    "http://127.0.0.1:9000 https://z.example " "... and nothing changed"
send PUT "$B/cors" '{"origins":[]}'
is "$STATUS|$(jq -c . <<<"$BODY")" '200|{"origins":[]}' "PUT [] clears them"
send PUT "$B/cors" "{\"origins\":[\"$PAGE\"]}"
is "$STATUS" 200 "PUT sets one again"

# --- the origins go with their app
basalt_cli app create acme gone && basalt_cli app cors acme gone "$PAGE" &&
    basalt_cli app delete acme gone && basalt_cli app create acme gone
is "$?:$(basalt_cli app cors acme gone)" "0:" \
    "an app deleted and made again allows no origin"
is "$(dbsql 'SELECT count(*) FROM app_cors')" 1 \
    "... its rows are gone from the database"

# --- cors_origins: reloaded by SIGHUP, "*", validation
# allows ORIGIN WANT: /api/health answers ORIGIN with Allow-Origin WANT.
allows() {
	http GET "$URL/api/health" -H "Origin: $1"
	[ "$(header "$ACAO")" = "$2" ]
}
basalt_config "cors_origins=https://one.example, https://TWO.example:8443"
kill -HUP "$BASALT_PID"
wait_until 5 allows https://two.example:8443 https://two.example:8443
ok $? "cors_origins, comma-separated, is reloaded by SIGHUP"
allows "$EVERY" ""
ok $? "... the origin it no longer lists is refused"
basalt_config 'cors_origins=*'
kill -HUP "$BASALT_PID"
wait_until 5 allows https://any.example https://any.example
ok $? "cors_origins = *: any origin, echoed"
http GET "$URL/api/health" -H 'Origin: null'
cors_is "... but never null" ""
http GET "$URL/api/health"
is "$(header "$ACAO")|$(header Vary)" "|Origin" "... and no Origin, no header"
while IFS='|' read -r value want; do
	basalt_config "cors_origins=$value"
	basalt_cli check-config >/dev/null 2>"$T/err"
	rc=$?
	is "$rc|$(sed 's/^.*basalt.conf:[0-9]*: //' "$T/err")" "1|$want" \
	    "check-config refuses cors_origins = $value"
done <<'EOF'
* https://a.example|bad value for cors_origins: "* https://a.example": * stands alone: it allows every origin
https://a.example/|bad value for cors_origins: "https://a.example/": https://a.example/: an origin has no path (not even a trailing /), query or fragment
null|bad value for cors_origins: "null": null: the null origin cannot be allowed: every sandboxed page and local file sends it
EOF
basalt_config 'cors_origins='
basalt_cli check-config >/dev/null
ok $? "an empty cors_origins is accepted (no origin)"

# --- the schema: version 3 or a later one, and a version 2 database is
# upgraded to the current one (store.c's SCHEMA_VERSION)
CUR=$(sed -n 's/^#define SCHEMA_VERSION[[:space:]]*//p' "$top_srcdir/src/store.c")
# (PostgreSQL keeps the version in meta; its schema starts at the current
# one, so the upgrade is tried on an SQLite copy of the database)
if on_pg; then
	is "$(dbsql "SELECT value FROM meta WHERE key = 'schema_version'")" \
	    "$CUR" "schema version $CUR, the current one (3 made app_cors)"
	basalt_cli copy "$PG_URL" "$T/v2.db" 2>>"$T/copy.err" ||
	    diag "basalt copy: $(cat "$T/copy.err")"
else
	is "$(dbsql 'PRAGMA user_version')" "$CUR" \
	    "schema version $CUR, the current one (3 made app_cors)"
	sqlite3 "$T/basalt.db" ".backup '$T/v2.db'"
fi
# (a version 2 database has neither app_cors nor what later versions add)
sqlite3 "$T/v2.db" 'DROP TABLE app_cors; ALTER TABLE events DROP COLUMN prev;
    DROP TABLE collection_indexes; DROP TABLE jwt_settings;
    DROP TABLE jwt_keys; DROP TABLE collection_rules; DROP TABLE webhooks;
    PRAGMA user_version = 2'
"$BASALT" -c "$T/basalt.conf" --db "$T/v2.db" app cors acme web \
    https://up.example 2>"$T/err"
is "$?|$(sqlite3 "$T/v2.db" 'PRAGMA user_version; SELECT origin FROM app_cors' |
    tr '\n' ' ')" "0|$CUR https://up.example " \
    "a version 2 database is upgraded to $CUR and takes origins"
like "$(cat "$T/err")" 'schema upgraded to version 3' "... which is logged"

# --- Chromium: a page on another origin
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ] || ! command -v node >/dev/null 2>&1 ||
    [ ! -d "$top_srcdir/tests/node_modules/playwright-core" ]; then
	skip_tests 11 "no chromium, node or playwright-core (cd tests && npm install)"
	done_testing
fi
basalt_config
kill -HUP "$BASALT_PID"
wait_until 5 allows https://any.example "" ||
	bail_out "cors_origins = * was not reloaded away"
PAGE_PORT=$(free_port)
basalt_cli app cors acme web "http://127.0.0.1:$PAGE_PORT" ||
	bail_out "app cors failed"
export URL TOKEN CHROMIUM PAGE_PORT
while IFS= read -r line; do
	case $line in
	'ok '*)		ok 0 "${line#ok }" ;;
	'not ok '*)	ok 1 "${line#not ok }" ;;
	*)		printf '%s\n' "$line" ;;
	esac
done < <(cd "$top_srcdir/tests" && node cors.mjs 2>"$T/node.err" ||
    echo "not ok cors.mjs ran to its end (exit $?)")
[ -s "$T/node.err" ] && diag "$(tail -n 20 "$T/node.err")"
done_testing
