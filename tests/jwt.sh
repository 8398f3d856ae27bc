#!/bin/bash
# End users' JWTs, end to end through lighttpd: apps set up from the CLI
# and over HTTP, each algorithm accepted, every kind of bad JWT refused
# with 401 and WWW-Authenticate: Bearer error="invalid_token" (and a log
# line that says why, never the token), scopes (403 insufficient_scope),
# key rotation by kid, key sets, and GET .../token for both kinds of
# token.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq node

# A JWT may be long: lighttpd must pass it for basalt to refuse it.
LIGHTTPD_EXTRA='server.max-request-field-size = 65536'
demo_start

SIGN=$top_srcdir/tests/jwt-sign.mjs
# jwt ARGS...: a JWT from jwt-sign.mjs.
jwt() {
	node "$SIGN" "$@"
}

# hs_raw KEYFILE PAYLOAD: an HS256 JWT of exactly PAYLOAD (JSON text).
hs_raw() {
	node -e 'const c = require("crypto"), fs = require("fs");
	    const b = (x) => Buffer.from(x).toString("base64url");
	    const i = b(JSON.stringify({ alg: "HS256", typ: "JWT" })) + "." +
		b(process.argv[2]);
	    console.log(i + "." + c.createHmac("sha256",
		fs.readFileSync(process.argv[1])).update(i).digest("base64url"));' \
	    "$1" "$2"
}

# as JWT METHOD URL [JSON]: the request with Authorization: Bearer JWT.
as() {
	local t=$1 m=$2 u=$3
	if [ -n "${4:-}" ]; then
		http "$m" "$u" -H "Authorization: Bearer $t" -H "$J" \
		    --data-binary "$4"
	else
		http "$m" "$u" -H "Authorization: Bearer $t"
	fi
}

# refused JWT DESC [WHY]: the JWT is refused on a read of the posts with
# 401, the header and the error body, and the log says WHY.
refused() {
	local t=$1 desc=$2 why=${3:-}
	as "$t" GET "$P/records"
	is "$STATUS" 401 "$desc: 401" || diag "body: $BODY"
	is "$(header WWW-Authenticate)" 'Bearer error="invalid_token"' \
	    "$desc: WWW-Authenticate"
	is "$(jbody .error.code)" unauthorized "$desc: error code"
	if [ -n "$why" ]; then
		like "$(jbody .error.message)" "$why" "$desc: the reason"
		wait_until 5 grep -q "JWT refused: .*$why" "$T/basalt.log"
		ok $? "$desc: the log line says why"
	fi
}

# Keys: an HS256 secret, an Ed25519 pair, another secret.
head -c 48 /dev/urandom | base64 | tr -d '\n' >"$T/hs.key"
head -c 48 /dev/urandom | base64 | tr -d '\n' >"$T/other.key"
node "$SIGN" --genkey EdDSA --out "$T/ed" || bail_out "no Ed25519 key"

# ---------------------------------------------------------------- CLI
basalt_cli app jwt acme web --hs256-secret-file "$T/hs.key" \
    --issuer https://id.example --audience web --max-lifetime 2h
ok $? "app jwt: HS256 from a secret file"
OUT=$(basalt_cli app jwt acme web)
like "$OUT" $'issuer\thttps://id.example' "app jwt shows the issuer"
like "$OUT" $'audience\tweb' "app jwt shows the audience"
like "$OUT" $'max-lifetime\t7200s' "app jwt shows the longest lifetime"
like "$OUT" $'\tHS256\t' "app jwt lists the key by alg"
head -c 10 /dev/urandom >"$T/short.key"
OUT=$(basalt_cli app jwt acme web --hs256-secret-file "$T/short.key" 2>&1)
isnt $? 0 "app jwt: a 10-byte secret is refused"
like "$OUT" 'at least|32' "app jwt: says how long a secret must be"
basalt_cli app create acme ed && basalt_cli collection create acme ed posts &&
    basalt_cli app jwt acme ed --ed25519-public-key "$(cat "$T/ed.raw")"
ok $? "app jwt: Ed25519 from a base64url public key"
OUT=$(basalt_cli app jwt acme ed --ed25519-public-key abc 2>&1)
isnt $? 0 "app jwt: a bad Ed25519 key is refused"
basalt_cli app create acme plain
EDP=$URL/api/realms/acme/apps/ed/collections/posts

HS=(--alg HS256 --key "$T/hs.key" --iss https://id.example --aud web)
GOOD=$(jwt "${HS[@]}" --sub alice)

# ---------------------------------------------------------------- accepted
as "$GOOD" GET "$B/collections"
is "$STATUS" 200 "HS256: a JWT with read lists the app's collections"
is "$(jbody '[.items[].name] | join(",")')" posts "HS256: the collections"
as "$GOOD" GET "$B/collections/posts"
is "$STATUS" 200 "HS256: a JWT gets one collection"
as "$GOOD" POST "$P/records" '{"title":"from a JWT"}'
is "$STATUS" 201 "HS256: a JWT without scope may write"
as "$GOOD" GET "$P/records"
is "$STATUS" 200 "HS256: a JWT lists records"
as "$GOOD" GET "$B/token"
is "$STATUS" 200 "GET .../token with a JWT"
is "$(jbody '[.kind, .realm, .app, .sub, (.scopes | join(","))] | join(" ")')" \
    "jwt acme web alice read,write" "GET .../token: kind, realm, app, sub, scopes"
like "$(jbody .expires_at)" '^20[0-9][0-9]-' "GET .../token: expires_at"
is "$(jbody 'has("label")')" false "GET .../token: a JWT has no label"
get "$B/token"
is "$(jbody '[.kind, .realm, .app, .label, (.scopes | join(","))] | join(" ")')" \
    "service acme web test read,write,admin" "GET .../token with a service token"
is "$(jbody .expires_at)" null "GET .../token: a service token that never expires"
get "$URL/api/realms/acme/apps/ed/token"
is "$STATUS" 403 "GET .../token: a service token of another app is refused"

LEEWAY=$(jwt "${HS[@]}" --sub alice --iat $(($(date +%s) - 100)) \
    --exp $(($(date +%s) - 30)))
as "$LEEWAY" GET "$P/records"
is "$STATUS" 200 "an exp 30 s ago is within the 60 s of leeway"
ARRAUD=$(jwt "${HS[@]}" --sub alice --claims '{"aud":["x","web"]}')
as "$ARRAUD" GET "$P/records"
is "$STATUS" 200 "aud may be an array holding the app's audience"

ED=$(jwt --alg EdDSA --key "$T/ed.key" --sub bob)
as "$ED" GET "$EDP/records"
is "$STATUS" 200 "EdDSA: a JWT signed with the app's Ed25519 key"
as "$ED" GET "$URL/api/realms/acme/apps/ed/token"
is "$(jbody .sub)" bob "EdDSA: GET .../token has sub"

# The stream endpoints take a JWT in access_token.
sub s1 "$P/events?access_token=$GOOD"
wait_sub s1
ok $? "a JWT in access_token opens a stream"

# ---------------------------------------------------------------- refused
refused "$(jwt --alg HS256 --key "$T/other.key" --iss https://id.example \
    --aud web --sub alice)" "wrong signature" "signature is wrong"
refused "$(jwt --alg none --iss https://id.example --aud web --sub alice)" \
    "alg none" "alg none"
refused "$(jwt --alg EdDSA --key "$T/ed.key" --iss https://id.example \
    --aud web --sub alice)" "an EdDSA JWT to an HS256 app" "alg EdDSA"
as "$(jwt --alg HS256 --key "$T/hs.key" --sub bob)" GET "$EDP/records"
is "$STATUS" 401 "an HS256 JWT to an EdDSA app: 401"
is "$(header WWW-Authenticate)" 'Bearer error="invalid_token"' \
    "an HS256 JWT to an EdDSA app: WWW-Authenticate"
refused "$(jwt "${HS[@]}" --sub alice --iat $(($(date +%s) - 400)) \
    --exp $(($(date +%s) - 120)))" "expired" "expired"
refused "$(jwt "${HS[@]}" --sub alice --nbf $(($(date +%s) + 600)))" \
    "nbf in the future" "not valid yet"
refused "$(jwt "${HS[@]}" --sub alice --no-exp)" "no exp" "has no exp"
refused "$(jwt --alg HS256 --key "$T/hs.key" --iss https://evil.example \
    --aud web --sub alice)" "wrong iss" "iss"
refused "$(jwt --alg HS256 --key "$T/hs.key" --iss https://id.example \
    --aud other --sub alice)" "wrong aud" "aud"
refused "$(jwt --alg HS256 --key "$T/hs.key" --iss https://id.example \
    --sub alice)" "no aud" "aud"
refused "$(jwt "${HS[@]}" --sub alice --ttl 10800)" "a lifetime over 2h" \
    "lifetime"
refused "$(hs_raw "$T/hs.key" "{\"sub\":\"alice\",\"iss\":\"https://id.example\",\"aud\":\"web\",\"exp\":$(($(date +%s) + 10800))}")" \
    "exp - now over 2h without iat" "lifetime"
as "$(hs_raw "$T/hs.key" "{\"sub\":\"alice\",\"iss\":\"https://id.example\",\"aud\":\"web\",\"exp\":$(($(date +%s) + 3600))}")" \
    GET "$P/records"
is "$STATUS" 200 "no iat: exp - now within the longest lifetime"
refused "$(jwt "${HS[@]}")" "no sub" "no sub"
refused "$(jwt "${HS[@]}" --sub "$(printf 'x%.0s' $(seq 300))")" \
    "a sub over 255 bytes" "sub is longer"
refused "$(jwt "${HS[@]}" --sub alice --kid nope)" "unknown kid" "kid"
refused "$(jwt "${HS[@]}" --sub alice --claims '{"exp":"tomorrow"}')" \
    "exp not a number" "exp is not a number"
refused "eyJhbGciOiJIUzI1NiJ9.e30.AAAA" "garbage" 
refused "abc.def.ghi" "not base64url JSON" "not a base64url JSON"
refused "$(jwt "${HS[@]}" --sub alice --claims \
    "{\"pad\":\"$(printf 'y%.0s' $(seq 9000))\"}")" "oversized" "longer than"
T1=$(jwt "${HS[@]}" --sub alice)
refused "${T1%.*}.${T1##*.}x" "a signature with a character more"
as "$GOOD" GET "$URL/api/token"
is "$STATUS" 401 "a JWT on /api/token (no app): 401"
is "$(header WWW-Authenticate)" 'Bearer error="invalid_token"' \
    "a JWT on /api/token: WWW-Authenticate"
as "$GOOD" GET "$URL/api/realms/acme/apps/plain/collections"
is "$STATUS" 401 "a JWT on an app without JWTs: 401"
like "$(jbody .error.message)" "does not accept JWTs" \
    "a JWT on an app without JWTs: the reason"
as "$GOOD" GET "$URL/api/realms/acme/apps/nope/collections"
is "$STATUS" 401 "a JWT on an app that does not exist: 401"
http GET "$P/records" -H "Authorization: Bearer bas_nothing"
is "$(header WWW-Authenticate)" 'Bearer error="invalid_token"' \
    "an unknown service token: invalid_token"
http GET "$P/records"
is "$(header WWW-Authenticate)" 'Bearer' "no token at all: Bearer alone"
TOKPART=$(printf '%s' "$GOOD" | cut -d. -f3)
! grep -qF -- "$TOKPART" "$T/basalt.log"
ok $? "no JWT's signature is in the log"

# ---------------------------------------------------------------- scopes
READ=$(jwt "${HS[@]}" --sub alice --scope read)
as "$READ" GET "$P/records"
is "$STATUS" 200 "scope read: reads"
as "$READ" POST "$P/records" '{"title":"no"}'
is "$STATUS" 403 "scope read: cannot write"
is "$(jbody .error.code)" insufficient_scope "scope read: insufficient_scope"
is "$(header WWW-Authenticate)" 'Bearer error="insufficient_scope"' \
    "scope read: WWW-Authenticate"
WRITE=$(jwt "${HS[@]}" --sub alice --scope "write openid")
as "$WRITE" GET "$P/records"
is "$(jbody .error.code)" insufficient_scope "scope write: cannot read"
as "$WRITE" GET "$B/token"
is "$(jbody '.scopes | join(",")')" write "scope: unknown words are ignored"
ADMIN=$(jwt "${HS[@]}" --sub alice --scope "read write admin")
as "$ADMIN" POST "$B/collections" '{"name":"nope"}'
is "$STATUS" 403 "a JWT never has admin: collection create 403"
is "$(jbody .error.code)" insufficient_scope "admin route: insufficient_scope"
as "$ADMIN" GET "$B/jwt"
is "$STATUS" 403 "a JWT cannot read the app's JWT keys"
as "$ADMIN" GET "$B/token"
is "$(jbody '.scopes | join(",")')" read,write "scope admin in a JWT is ignored"
as "$READ" POST "$B/batch" \
    '{"requests":[{"method":"POST","path":"collections/posts/records","body":{}}]}'
is "$STATUS" 403 "scope read: no batch"

# ---------------------------------------------------------------- off
basalt_cli app jwt acme web --off
ok $? "app jwt --off"
is "$(basalt_cli app jwt acme web)" off "app jwt shows off"
as "$GOOD" GET "$P/records"
is "$STATUS" 401 "after --off the JWT is refused"
basalt_cli app jwt acme web --hs256-secret-file "$T/hs.key" \
    --issuer https://id.example --audience web
as "$GOOD" GET "$P/records"
is "$STATUS" 200 "set again, the JWT is accepted"

done_testing
