#!/bin/bash
# An app's service tokens over HTTP, through lighttpd: admin tokens create
# them (the secret in that answer only), list them (never a secret) and
# revoke them (the token stops working and its open streams end), with
# the CLI's checks; other tokens, other apps' tokens and JWTs are refused.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq node

demo_start
TK=$B/tokens

# expect_error STATUS CODE DESC: the last answer is that JSON error.
expect_error() {
	is "$STATUS $(jbody .error.code)" "$1 $2" "$3" || diag "body: $BODY"
}

# epoch ISO: the unix seconds of a timestamp of the API.
epoch() { date -u -d "$1" +%s; }

# count: the app's tokens as the API lists them.
count() {
	get "$TK"
	jbody '.items | length'
}

# ======================================================================
# Create
# ======================================================================
now=$(date -u +%s)
send POST "$TK" '{"scopes":["read","write"],"label":"ci job","expires_in":"30d"}'
is "$STATUS" 201 "create: 201" || diag "body: $BODY"
S1=$(jbody .secret)
ID1=$(jbody .id)
like "$S1" '^bas_[A-Za-z0-9_-]{43}$' "create: the answer holds the secret"
like "$ID1" '^[0-9a-f]{16}$' "create: and the token's id"
is "$(header Location)" "/api/realms/acme/apps/web/tokens/$ID1" \
    "create: Location names the token"
is "$(header Cache-Control)" no-store "create: Cache-Control: no-store"
is "$(jbody '[.scopes, .label, .state, .revoked_at] | tojson')" \
    '[["read","write"],"ci job","active",null]' \
    "create: scopes, label, state active, not revoked"
exp=$(epoch "$(jbody .expires_at)")
cre=$(epoch "$(jbody .created_at)")
ok "$([ $((cre - now)) -ge 0 ] && [ $((cre - now)) -le 2 ]; echo $?)" \
    "create: created_at is now ($((cre - now)) s off)"
ok "$([ $((exp - now - 30 * 86400)) -ge 0 ] &&
    [ $((exp - now - 30 * 86400)) -le 2 ]; echo $?)" \
    "create: expires_in 30d: expires_at 30 days on"

http GET "$URL/api/token" -H "Authorization: Bearer $S1"
is "$STATUS $(jbody '[.realm, .app, .scopes, .label] | tojson')" \
    '200 ["acme","web",["read","write"],"ci job"]' \
    "the new secret works: GET /api/token shows its grant"
AUTH="Authorization: Bearer $S1" send POST "$P/records" '{"by":"ci"}'
is "$STATUS" 201 "the new secret can write"
AUTH="Authorization: Bearer $S1" get "$TK"
expect_error 403 forbidden "the new secret (no admin) cannot list tokens"

send POST "$TK" '{"scopes":["write","read","read"],"expires_in":3600}'
is "$STATUS $(jbody '[.scopes, .label] | tojson')" '201 [["read","write"],""]' \
    "create: scopes in order, once each; no label is \"\""
ID2=$(jbody .id)
S2=$(jbody .secret)
d=$(( $(epoch "$(jbody .expires_at)") - $(epoch "$(jbody .created_at)") ))
ok "$([ "$d" -ge 3599 ] && [ "$d" -le 3601 ]; echo $?)" \
    "create: expires_in 3600 (seconds): expires_at an hour on ($d s)"
isnt "$S2" "$S1" "create: every secret is new"

send POST "$TK" '{"scopes":["admin"],"expires_in":null}'
is "$STATUS $(jbody '[.scopes, .expires_at] | tojson')" '201 [["admin"],null]' \
    "create: an admin token, expires_in null: never expires"
SADM=$(jbody .secret)
AUTH="Authorization: Bearer $SADM" get "$TK"
is "$STATUS" 200 "the new admin token lists tokens"

label=$(printf 'caf\303\251 \342\230\225 %.0s' $(seq 20) | head -c 200)
send POST "$TK" "$(jq -nc --arg l "$label" '{scopes:["read"],label:$l}')"
is "$STATUS $(jbody .label)" "201 $label" \
    "create: a label of 200 bytes of UTF-8 is kept as sent"

# ======================================================================
# Refused bodies: the CLI's checks, a JSON error, nothing stored
# ======================================================================
before=$(count)
while IFS='|' read -r body code desc; do
	send POST "$TK" "$body"
	expect_error 400 "$code" "create refused: $desc"
done <<'EOF'
{}|invalid_parameter|no scopes
{"scopes":[]}|invalid_parameter|no scope in scopes
{"scopes":"read"}|invalid_parameter|scopes as a string
{"scopes":["read","root"]}|invalid_parameter|an unknown scope
{"scopes":[1]}|invalid_parameter|a scope that is not a string
{"scopes":["read"],"label":7}|invalid_parameter|a label that is not a string
{"scopes":["read"],"label":"a\nb"}|invalid_parameter|a newline in the label
{"scopes":["read"],"label":"a\tb"}|invalid_parameter|a TAB in the label
{"scopes":["read"],"label":"a\u0000b"}|invalid_parameter|a NUL in the label
{"scopes":["read"],"expires_in":0}|invalid_parameter|expires_in 0
{"scopes":["read"],"expires_in":-60}|invalid_parameter|expires_in negative
{"scopes":["read"],"expires_in":1.5}|invalid_parameter|expires_in a fraction
{"scopes":["read"],"expires_in":"10x"}|invalid_parameter|expires_in "10x"
{"scopes":["read"],"expires_in":"0d"}|invalid_parameter|expires_in "0d"
{"scopes":["read"],"expires_in":"-1d"}|invalid_parameter|expires_in "-1d"
{"scopes":["read"],"expires_in":99999999999999999999}|invalid_parameter|expires_in too large
{"scopes":["read"],"expires":"1d"}|invalid_parameter|an unknown member
{"scopes":["read"]|invalid_json|broken JSON
["read"]|not_an_object|an array
EOF
send POST "$TK" "$(jq -nc --arg l "$(head -c 201 /dev/zero | tr '\0' l)" \
    '{scopes:["read"],label:$l}')"
expect_error 400 invalid_parameter "create refused: a label of 201 bytes"
like "$(jbody .error.message)" '200 bytes' "create refused: the message says the limit"
http POST "$TK" -H "$AUTH" --data-binary '{"scopes":["read"]}' \
    -H 'Content-Type: text/plain'
expect_error 415 unsupported_media_type "create refused: not application/json"
is "$(count)" "$before" "refused creates store nothing"

# ======================================================================
# List: every token of the app, never a secret
# ======================================================================
get "$TK"
is "$STATUS" 200 "list: 200"
n=$(jbody '.items | length')
is "$n" "$(basalt_cli token list acme web | wc -l)" \
    "list: as many tokens as the CLI lists ($n)"
is "$(jbody '[.items[] | keys | join(",")] | unique | join(" ")')" \
    created_at,expires_at,id,label,revoked_at,scopes,state \
    "list: each token has id, scopes, label, created_at, expires_at, revoked_at, state"
is "$(jbody "[.items[] | select(.id == \"$ID1\") | [.label, .scopes, .state]] | tojson")" \
    '[["ci job",["read","write"],"active"]]' "list: shows the token made over HTTP"
is "$(jbody '[.items[].created_at] | . == sort')" true "list: oldest first"
for s in "$S1" "$S2" "$SADM" "${S1#bas_}"; do
	case $BODY in *"$s"*) leak=1 ;; *) leak=0 ;; esac
	ok "$leak" "list: no secret in the answer (${s:0:8}...)" || break
done
like "$(basalt_cli token list acme web | grep "^$ID1")" \
    "^$ID1	read,write	ci job	.*	active$" \
    "the CLI lists the token made over HTTP"

# ======================================================================
# Expiry
# ======================================================================
send POST "$TK" '{"scopes":["read"],"label":"short","expires_in":"1s"}'
SSHORT=$(jbody .secret)
IDSHORT=$(jbody .id)
sleep 2.1
http GET "$URL/api/token" -H "Authorization: Bearer $SSHORT"
expect_error 401 unauthorized "an expired token made over HTTP is refused"
get "$TK"
is "$(jbody ".items[] | select(.id == \"$IDSHORT\") | .state")" expired \
    "list: its state is expired"

# ======================================================================
# Revoke
# ======================================================================
sub rv "$P/events" -H "Authorization: Bearer $S2"
wait_sub rv
ok $? "revoke: a stream with the token is open"
http DELETE "$TK/$ID2" -H "$AUTH"
is "$STATUS" 204 "revoke: 204"
is "$BODY" "" "revoke: no body"
t0=$(date +%s%3N)
wait_until 6 ended rv
ok $? "revoke: the token's open stream ends"
el=$(( $(date +%s%3N) - t0 ))
ok "$([ "$el" -lt 4500 ]; echo $?)" \
    "revoke: within a heartbeat, 3x slack ($el ms)"
like "$(tr -d '\r' <"$T/rv.out")" "event: token_revoked
data: \\{\"token_id\":\"$ID2\"\\}" "revoke: the stream's last event is token_revoked"
http GET "$URL/api/token" -H "Authorization: Bearer $S2"
expect_error 401 unauthorized "revoke: the secret no longer works"
get "$TK"
is "$(jbody ".items[] | select(.id == \"$ID2\") | [.state, (.revoked_at | type)] | tojson")" \
    '["revoked","string"]' "revoke: listed as revoked, with revoked_at"
like "$(basalt_cli token list acme web | grep "^$ID2")" 'revoked$' \
    "revoke: the CLI lists it revoked"
http GET "$URL/api/token" -H "Authorization: Bearer $S1"
is "$STATUS" 200 "revoke: the other tokens still work"
http DELETE "$TK/$ID2" -H "$AUTH"
expect_error 409 conflict "revoke again: 409"
http DELETE "$TK/0123456789abcdef" -H "$AUTH"
expect_error 404 not_found "revoke: an id the app has not: 404"
http DELETE "$TK/0123456789ABCDEF" -H "$AUTH"
expect_error 400 invalid_id "revoke: an id in upper case: 400"
http DELETE "$TK/xyz" -H "$AUTH"
expect_error 400 invalid_id "revoke: a malformed id: 400"
http DELETE "$TK/0123456789abcdef0" -H "$AUTH"
is "$STATUS" 400 "revoke: an id too long: 400"
http DELETE "$TK/" -H "$AUTH"
is "$STATUS" 404 "revoke: an empty id is no route: 404"

# ======================================================================
# Who may: admin tokens of the app alone
# ======================================================================
http GET "$TK" -H "Authorization: Bearer $RTOKEN"
expect_error 403 forbidden "GET tokens with a read token: 403"
AUTH="Authorization: Bearer $RTOKEN" send POST "$TK" '{"scopes":["read"]}'
expect_error 403 forbidden "POST tokens with a read token: 403"
http DELETE "$TK/$ID1" -H "Authorization: Bearer $S1"
expect_error 403 forbidden "DELETE a token with a read, write token: 403"
http GET "$TK"
expect_error 401 unauthorized "list without a token: 401"
http POST "$TK" -H "$J" --data-binary '{"scopes":["admin"]}'
expect_error 401 unauthorized "create without a token: 401"

basalt_cli app create acme other || bail_out "app create failed"
OADM=$(basalt_cli token create acme other --scope read,write,admin \
    --label other-admin)
OID=$(basalt_cli token list acme other | cut -f1)
http GET "$TK" -H "Authorization: Bearer $OADM"
expect_error 403 forbidden "another app's admin token cannot list this app's tokens"
http DELETE "$URL/api/realms/acme/apps/other/tokens/$ID1" \
    -H "Authorization: Bearer $OADM"
expect_error 404 not_found "an app cannot revoke another app's token (404)"
http DELETE "$TK/$OID" -H "$AUTH"
expect_error 404 not_found "nor through its own path (404)"
http GET "$URL/api/token" -H "Authorization: Bearer $S1"
is "$STATUS" 200 "the token stays valid"
http GET "$URL/api/realms/acme/apps/other/tokens" -H "Authorization: Bearer $OADM"
is "$STATUS $(jbody '[.items[].label] | tojson')" '200 ["other-admin"]' \
    "each app lists its own tokens alone"
http GET "$URL/api/realms/acme/apps/nope/tokens" -H "$AUTH"
expect_error 403 forbidden "an app that does not exist: 403 (not the token's)"

# A JWT never has admin: the app's users cannot see or make tokens.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/hs.key"
basalt_cli app jwt acme web --hs256-secret-file "$T/hs.key" >/dev/null
ok $? "the app trusts HS256 JWTs"
USER_JWT=$(node "$top_srcdir/tests/jwt-sign.mjs" --alg HS256 --key "$T/hs.key" \
    --sub alice --ttl 600 --scope 'read write admin')
http GET "$TK" -H "Authorization: Bearer $USER_JWT"
expect_error 403 insufficient_scope "a JWT (even one claiming admin) cannot list tokens"
AUTH="Authorization: Bearer $USER_JWT" send POST "$TK" '{"scopes":["read"]}'
expect_error 403 insufficient_scope "nor create one"
http DELETE "$TK/$ID1" -H "Authorization: Bearer $USER_JWT"
expect_error 403 insufficient_scope "nor revoke one"

# An admin token may revoke itself; it is refused from then on.
send POST "$TK" '{"scopes":["admin"],"label":"self"}'
SSELF=$(jbody .secret)
IDSELF=$(jbody .id)
http DELETE "$TK/$IDSELF" -H "Authorization: Bearer $SSELF"
is "$STATUS" 204 "an admin token revokes itself: 204"
http GET "$TK" -H "Authorization: Bearer $SSELF"
expect_error 401 unauthorized "and is refused after"

http PUT "$TK" -H "$AUTH"
is "$STATUS $(header Allow)" "405 GET, HEAD, POST" "PUT tokens: 405 with Allow"
http PATCH "$TK/$ID1" -H "$AUTH"
is "$STATUS $(header Allow)" "405 DELETE" "PATCH tokens/ID: 405 with Allow"

# ======================================================================
# Secrets never reach the log
# ======================================================================
leaks=0
for s in "$S1" "$S2" "$SADM" "$SSHORT" "$SSELF"; do
	grep -qF -- "${s#bas_}" "$T/basalt.log" && leaks=$((leaks + 1))
done
is "$leaks" 0 "no secret made over HTTP is in basalt's log"
like "$(grep "token $ID2 of acme/web revoked over HTTP" "$T/basalt.log")" \
    . "the log says which token was revoked, and by which"

done_testing
