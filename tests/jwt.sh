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

# open_rules APP: any valid JWT of APP may list and create its posts
# (with the rules unset, only service tokens may).
open_rules() {
	basalt_cli collection rules acme "$1" posts --list "" --create "" \
	    >/dev/null
}
open_rules web || bail_out "cannot set the rules of acme/web/posts"

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
    open_rules ed && basalt_cli app jwt acme ed --ed25519-public-key "$(cat "$T/ed.raw")"
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
# Keys are the app's: web's JWT on an app with a key of its own, and
# a JWT of that app's key on web.
basalt_cli app create acme web2 &&
    basalt_cli collection create acme web2 posts && open_rules web2 &&
    basalt_cli app jwt acme web2 --hs256-secret-file "$T/other.key" ||
    bail_out "app web2"
P=$URL/api/realms/acme/apps/web2/collections/posts refused "$GOOD" \
    "a JWT of app web on app web2" "signature is wrong"
refused "$(jwt --alg HS256 --key "$T/other.key" --sub alice)" \
    "a JWT of app web2 on app web" "signature is wrong"
as "$(jwt --alg HS256 --key "$T/other.key" --sub alice)" GET \
    "$URL/api/realms/acme/apps/web2/collections/posts/records"
is "$STATUS" 200 "app web2 takes a JWT of its own key"
# access_token is for the two stream endpoints alone.
http GET "$P/records?access_token=$GOOD"
is "$STATUS" 401 "access_token on a list: 401"
is "$(header WWW-Authenticate)" 'Bearer' "access_token on a list: no token"
http GET "$B/token?access_token=$GOOD"
is "$STATUS" 401 "access_token on .../token: 401"
http GET "$P/records" -H "Authorization: Bearer bas_nothing"
is "$(header WWW-Authenticate)" 'Bearer error="invalid_token"' \
    "an unknown service token: invalid_token"
http GET "$P/records"
is "$(header WWW-Authenticate)" 'Bearer' "no token at all: Bearer alone"
TOKPART=$(printf '%s' "$GOOD" | cut -d. -f3)
! grep -qF -- "$TOKPART" "$T/basalt.log"
ok $? "no JWT's signature is in the log"
# A JWT refused in access_token: the log line has the path, not the query.
BADQ=$(jwt --alg HS256 --key "$T/other.key" --iss https://id.example \
    --aud web --sub mallory)
http GET "$P/events?access_token=$BADQ" --max-time 3
is "$STATUS" 401 "a bad JWT in access_token: 401"
wait_until 5 grep -q "GET $PREFIX/events: JWT refused" "$T/basalt.log"
ok $? "a bad JWT in access_token: the log names the path"
for part in 1 2 3; do
	! grep -qF -- "$(printf '%s' "$BADQ" | cut -d. -f$part)" "$T/basalt.log"
	ok $? "a bad JWT in access_token: part $part is not in the log"
done
! grep -q "access_token" "$T/basalt.log"
ok $? "no access_token in the log"

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
as "$ADMIN" POST "$B/tokens" '{"scopes":["read"],"label":"mine"}'
is "$STATUS" 403 "a JWT cannot make a service token"
as "$ADMIN" GET "$B/tokens"
is "$STATUS" 403 "a JWT cannot list the service tokens"
as "$ADMIN" GET "$B/token"
is "$(jbody '.scopes | join(",")')" read,write "scope admin in a JWT is ignored"
as "$READ" POST "$B/batch" \
    '{"requests":[{"method":"POST","path":"collections/posts/records","body":{}}]}'
is "$STATUS" 403 "scope read: no batch"

# ---------------------------------------------------------------- RS256, ES256
node "$SIGN" --genkey RS256 --out "$T/rs" --kid rk1 &&
    node "$SIGN" --genkey ES256 --out "$T/es" --kid ek1 &&
    node "$SIGN" --genkey ES256 --out "$T/es2" --kid ek2 &&
    node "$SIGN" --genkey EdDSA --out "$T/ed2" --kid dk1 ||
    bail_out "no RSA or EC keys"
for a in rs es jw; do
	basalt_cli app create acme "$a" && basalt_cli collection create acme "$a" posts &&
	    open_rules "$a" || bail_out "app $a"
done
RSP=$URL/api/realms/acme/apps/rs/collections/posts
ESP=$URL/api/realms/acme/apps/es/collections/posts
JWP=$URL/api/realms/acme/apps/jw/collections/posts
basalt_cli app jwt acme rs --public-key-file "$T/rs.pub" --kid rk1
ok $? "app jwt: RS256 from a PEM public key"
like "$(basalt_cli app jwt-key list acme rs)" $'^rk1\tRS256\t20' \
    "jwt-key list: kid, alg, created"
basalt_cli app jwt acme es --public-key-file "$T/es.pub"
ok $? "app jwt: ES256 from a PEM public key"
like "$(basalt_cli app jwt-key list acme es)" $'^\tES256\t' \
    "jwt-key list: a key without kid"
OUT=$(basalt_cli app jwt acme es --public-key-file "$T/hs.key" 2>&1)
isnt $? 0 "app jwt: a file that is no PEM key is refused"
like "$OUT" "PEM" "app jwt: says a PEM key is wanted"

RS=$(jwt --alg RS256 --key "$T/rs.key" --kid rk1 --sub carol)
as "$RS" GET "$RSP/records"
is "$STATUS" 200 "RS256: a JWT signed with the app's RSA key"
as "$(jwt --alg RS256 --key "$T/rs.key" --sub carol)" GET "$RSP/records"
is "$STATUS" 200 "RS256: a JWT without kid tries the keys of its alg"
ES=$(jwt --alg ES256 --key "$T/es.key" --sub dave)
as "$ES" GET "$ESP/records"
is "$STATUS" 200 "ES256: a JWT signed with the app's P-256 key"
as "$ES" GET "$URL/api/realms/acme/apps/es/token"
is "$(jbody .sub)" dave "ES256: GET .../token has sub"

# alg switch: the RSA public key (PEM, as published) used as an HS256
# secret, with and without the key's kid.
P=$RSP refused "$(jwt --alg HS256 --key "$T/rs.pub" --kid rk1 --sub carol)" \
    "RS256 -> HS256 with the public key as secret, kid" "alg HS256 is not"
P=$RSP refused "$(jwt --alg HS256 --key "$T/rs.pub" --sub carol)" \
    "RS256 -> HS256 with the public key as secret" "no key of the app is for alg HS256"
P=$RSP refused "$(jwt --alg ES256 --key "$T/es.key" --kid rk1 --sub carol)" \
    "ES256 JWT with the RSA key's kid" "alg ES256 is not"
P=$ESP refused "$(jwt --alg ES256 --key "$T/es2.key" --sub dave)" \
    "ES256 signed with another P-256 key" "signature is wrong"
P=$RSP refused "$(jwt --alg RS256 --key "$T/rs.key" --kid rk1 --sub carol \
    --header '{"alg":"RS512"}')" "alg RS512" "not supported"
P=$RSP refused "$(jwt --alg RS256 --key "$T/rs.key" --kid rk1 --sub carol \
    --header '{"crit":["exp"]}')" "a crit header" "crit"
# An ES256 signature in DER rather than JOSE's r||s is refused.
DER=$(node -e 'const c = require("crypto"), fs = require("fs");
    const b = (x) => Buffer.from(x).toString("base64url");
    const i = b(JSON.stringify({ alg: "ES256" })) + "." + b(JSON.stringify({
	sub: "dave", exp: Math.floor(Date.now() / 1000) + 600 }));
    console.log(i + "." + b(c.sign("sha256", Buffer.from(i),
	c.createPrivateKey(fs.readFileSync(process.argv[1])))));' "$T/es.key")
P=$ESP refused "$DER" "ES256 with a DER signature" "signature is wrong"
# r and s as JOSE gives them, then out of their range: r or s 0, s + n
# (the same value modulo n, 32 bytes still). s' = n - s is a signature
# too (ECDSA's, JOSE asks nothing more): accepted, same claims.
ESV=$(node -e 'const c = require("crypto"), fs = require("fs");
    const b = (x) => Buffer.from(x).toString("base64url");
    const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
    const hex = (v) => Buffer.from(v.toString(16).padStart(64, "0"), "hex");
    const i = b(JSON.stringify({ alg: "ES256" })) + "." + b(JSON.stringify({
	sub: "dave", exp: Math.floor(Date.now() / 1000) + 600 }));
    const sig = c.sign("sha256", Buffer.from(i), { key:
	c.createPrivateKey(fs.readFileSync(process.argv[1])),
	dsaEncoding: "ieee-p1363" });
    const r = BigInt("0x" + sig.subarray(0, 32).toString("hex"));
    let s = BigInt("0x" + sig.subarray(32).toString("hex"));
    /* s + n must fit in 32 bytes: take the low s of the pair. */
    if (s > n / 2n) s = n - s;
    const out = (r, s) => i + "." + b(Buffer.concat([hex(r), hex(s)]));
    console.log([out(r, s), out(r, n - s), out(0n, s), out(r, 0n),
	out(r, s + n), out(r + n < 2n ** 256n ? r + n : n, s)].join(" "));' \
    "$T/es.key")
read -r ES_LOW ES_HIGH ES_R0 ES_S0 ES_SN ES_RN <<<"$ESV"
as "$ES_LOW" GET "$ESP/records"
is "$STATUS" 200 "ES256: the low-s signature"
as "$ES_HIGH" GET "$ESP/records"
is "$STATUS" 200 "ES256: n - s, the other signature of the pair"
P=$ESP refused "$ES_R0" "ES256: r = 0" "signature is wrong"
P=$ESP refused "$ES_S0" "ES256: s = 0" "signature is wrong"
P=$ESP refused "$ES_SN" "ES256: s + n" "signature is wrong"
P=$ESP refused "$ES_RN" "ES256: r + n (or n)" "signature is wrong"

# Keys are read on every request (decoded keys are kept by their bytes
# alone): a key replaced or removed, even by the CLI of another process,
# is refused on the next request.
basalt_cli app jwt acme es --public-key-file "$T/es2.pub"
P=$ESP refused "$ES" "ES256: a JWT of the key just replaced" \
    "signature is wrong"
as "$(jwt --alg ES256 --key "$T/es2.key" --sub dave)" GET "$ESP/records"
is "$STATUS" 200 "ES256: a JWT of the new key"
basalt_cli app jwt acme es --public-key-file "$T/es.pub"
as "$ES" GET "$ESP/records"
is "$STATUS" 200 "ES256: the first key back, its JWT accepted again"
basalt_cli app jwt-key remove acme rs rk1
P=$RSP refused "$RS" "RS256: a JWT of the key just removed" "kid"
basalt_cli app jwt-key add acme rs --kid rk1 --public-key-file "$T/rs.pub"
as "$RS" GET "$RSP/records"
is "$STATUS" 200 "RS256: the key added again, its JWT accepted"
# More keys than a worker keeps decoded: each JWT still finds its own.
basalt_cli app create acme many && basalt_cli collection create acme many posts &&
    open_rules many || bail_out "app many"
for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
	node "$SIGN" --genkey ES256 --out "$T/m$i" --kid "m$i" ||
	    bail_out "no EC key"
done
jq -c -s '{keys: [.[].keys[]]}' "$T"/m*.jwks >"$T/many.jwks"
basalt_cli app jwt acme many --jwks-file "$T/many.jwks"
ok $? "app jwt: a key set of 12 ES256 keys"
MANY_OK=0
for round in 1 2; do
	for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
		as "$(jwt --alg ES256 --key "$T/m$i.key" --kid "m$i" --sub "u$i")" \
		    GET "$URL/api/realms/acme/apps/many/token"
		[ "$STATUS" = 200 ] && [ "$(jbody .sub)" = "u$i" ] &&
		    MANY_OK=$((MANY_OK + 1))
	done
done
is "$MANY_OK" 24 "12 keys, twice each: every JWT accepted with its own key"
as "$(jwt --alg ES256 --key "$T/m3.key" --kid m4 --sub u3)" \
    GET "$URL/api/realms/acme/apps/many/token"
is "$STATUS" 401 "a JWT of key m3 under kid m4: 401"

# ---------------------------------------------------------------- JWKS, rotation
jq -c -s '{keys: ([.[].keys[]] + [{kty: "RSA", use: "enc", kid: "x", n: "AQAB", e: "AQAB"}])}' \
    "$T/rs.jwks" "$T/es.jwks" "$T/ed2.jwks" >"$T/set.jwks"
basalt_cli app jwt acme jw --jwks-file "$T/set.jwks" --max-lifetime 1h
ok $? "app jwt: a JWKS file"
is "$(basalt_cli app jwt-key list acme jw | cut -f1,2 | tr '\t\n' ' ')" \
    "dk1 EdDSA ek1 ES256 rk1 RS256 " "JWKS: the signing keys, by kid (use enc left out)"
for k in "RS256 rs rk1" "ES256 es ek1" "EdDSA ed2 dk1"; do
	set -- $k
	as "$(jwt --alg "$1" --key "$T/$2.key" --kid "$3" --sub erin)" GET "$JWP/records"
	is "$STATUS" 200 "JWKS: $1 with kid $3 accepted"
done
P=$JWP refused "$(jwt --alg RS256 --key "$T/rs.key" --sub erin --ttl 7200)" \
    "JWKS app: a lifetime over 1h" "lifetime"
echo '{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}' >"$T/bad.jwks"
OUT=$(basalt_cli app jwt acme jw --jwks-file "$T/bad.jwks" 2>&1)
isnt $? 0 "app jwt: a bad JWKS is refused"
like "$OUT" 'keys\[0\]' "app jwt: says which key of the set is bad"
is "$(basalt_cli app jwt-key list acme jw | wc -l)" 3 "a refused JWKS changes nothing"

# Rotation: HS256 keys a and b at once, then a removed.
head -c 40 /dev/urandom >"$T/hs-a.key"
head -c 40 /dev/urandom >"$T/hs-b.key"
basalt_cli app jwt acme web --hs256-secret-file "$T/hs-a.key" --kid a
ok $? "rotation: key a"
basalt_cli app jwt-key add acme web --kid b --hs256-secret-file "$T/hs-b.key"
ok $? "rotation: jwt-key add b"
OUT=$(basalt_cli app jwt-key add acme web --kid b --hs256-secret-file "$T/hs-a.key" 2>&1)
isnt $? 0 "rotation: a kid taken is refused"
like "$OUT" "kid already" "rotation: says the kid is taken"
TA=$(jwt --alg HS256 --key "$T/hs-a.key" --kid a --sub alice)
TB=$(jwt --alg HS256 --key "$T/hs-b.key" --kid b --sub alice)
as "$TA" GET "$P/records"
is "$STATUS" 200 "rotation: a JWT of key a"
as "$TB" GET "$P/records"
is "$STATUS" 200 "rotation: a JWT of key b"
as "$(jwt --alg HS256 --key "$T/hs-b.key" --sub alice)" GET "$P/records"
is "$STATUS" 200 "rotation: without kid, b's JWT found by trying"
refused "$(jwt --alg HS256 --key "$T/hs-a.key" --kid b --sub alice)" \
    "rotation: a's JWT with b's kid" "signature is wrong"
basalt_cli app jwt-key remove acme web a
ok $? "rotation: jwt-key remove a"
is "$(basalt_cli app jwt-key list acme web | cut -f1)" b "rotation: b is left"
refused "$TA" "rotation: a's JWT after a is removed" "kid"
as "$TB" GET "$P/records"
is "$STATUS" 200 "rotation: b's JWT still works"
OUT=$(basalt_cli app jwt-key remove acme web a 2>&1)
isnt $? 0 "rotation: removing a again fails"
for i in $(seq 2 16); do
	basalt_cli app jwt-key add acme web --kid "k$i" --hs256-secret-file "$T/hs-a.key" ||
	    break
done
OUT=$(basalt_cli app jwt-key add acme web --kid k17 --hs256-secret-file "$T/hs-a.key" 2>&1)
isnt $? 0 "the 17th key is refused"
like "$OUT" "at most 16" "says an app has at most 16 keys"

# ---------------------------------------------------------------- HTTP
HS_SECRET_B64U=$(printf '%s' "$(cat "$T/hs.key")" | base64 -w0 | tr '+/' '-_' | tr -d '=')
send PUT "$B/jwt" "$(jq -nc --arg k "$HS_SECRET_B64U" '{issuer: "https://id.example",
    audience: "web", max_lifetime: "2h", keys: [{kid: "h1", alg: "HS256", key: $k}]}')"
is "$STATUS" 200 "PUT .../jwt: settings and one HS256 key"
is "$(jq -c '[.enabled, .issuer, .audience, .max_lifetime, [.keys[] | .kid, .alg]]' <<<"$BODY")" \
    '[true,"https://id.example","web",7200,["h1","HS256"]]' "PUT .../jwt: the answer"
is "$(jbody '[.keys[] | has("key")] | any')" false "PUT .../jwt: no key is shown"
! grep -qF "$HS_SECRET_B64U" <<<"$BODY"
ok $? "PUT .../jwt: the secret is not in the answer"
as "$(jwt "${HS[@]}" --kid h1 --sub alice)" GET "$P/records"
is "$STATUS" 200 "PUT .../jwt: a JWT of the key set over HTTP"
get "$B/jwt"
is "$(jbody '[.enabled, (.keys | length)] | @csv')" 'true,1' "GET .../jwt"
send PUT "$B/jwt" '{"audience":"web2"}'
is "$(jbody '[.audience, .issuer, (.keys | length)] | @csv')" '"web2",,1' \
    "PUT .../jwt without keys keeps the keys"
send POST "$B/jwt/keys" "$(jq -nc --arg k "$(cat "$T/ed.raw")" '{kid: "e1", alg: "EdDSA", key: $k}')"
is "$STATUS" 201 "POST .../jwt/keys: an EdDSA key"
is "$(jbody '[.keys[].kid] | join(",")')" e1,h1 "POST .../jwt/keys: the keys after"
as "$(jwt --alg EdDSA --key "$T/ed.key" --kid e1 --aud web2 --sub bob)" GET "$P/records"
is "$STATUS" 200 "POST .../jwt/keys: the new key works"
send POST "$B/jwt/keys" "$(jq -nc --arg k "$(cat "$T/ed.raw")" '{kid: "e1", alg: "EdDSA", key: $k}')"
expect() { is "$STATUS" "$1" "$3: $1" && is "$(jbody .error.code)" "$2" "$3: $2"; }
expect 409 conflict "POST .../jwt/keys: a kid taken"
send POST "$B/jwt/keys" "$(jq -nc --rawfile k "$T/rs.pub" '{kid: "r1", alg: "RS256", key: $k}')"
is "$STATUS" 201 "POST .../jwt/keys: an RS256 key in PEM"
send POST "$B/jwt/keys" "$(jq -nc --rawfile k "$T/rs.pub" '{kid: "r2", alg: "ES256", key: $k}')"
expect 400 invalid_parameter "POST .../jwt/keys: an RSA key as ES256"
send POST "$B/jwt/keys" '{"kid":"z","alg":"none","key":"x"}'
expect 400 invalid_parameter "POST .../jwt/keys: alg none"
send POST "$B/jwt/keys" '{"kid":"z","alg":"HS256","key":"c2hvcnQ"}'
expect 400 invalid_parameter "POST .../jwt/keys: a short HS256 secret"
send POST "$B/jwt/keys" "{\"jwks\":$(cat "$T/es2.jwks")}"
is "$STATUS" 201 "POST .../jwt/keys: a JWKS"
is "$(jbody '[.keys[].kid] | join(",")')" e1,ek2,h1,r1 "POST .../jwt/keys: the keys after the JWKS"
send PUT "$B/jwt" '{"max_lifetime":-5}'
expect 400 invalid_parameter "PUT .../jwt: a bad max_lifetime"
send PUT "$B/jwt" '[1]'
expect 400 not_an_object "PUT .../jwt: not an object"
http DELETE "$B/jwt/keys/e1" -H "$AUTH"
is "$STATUS" 204 "DELETE .../jwt/keys/e1"
http DELETE "$B/jwt/keys/e1" -H "$AUTH"
expect 404 not_found "DELETE .../jwt/keys/e1 again"
as "$(jwt --alg EdDSA --key "$T/ed.key" --kid e1 --aud web2 --sub bob)" GET "$P/records"
is "$STATUS" 401 "a removed key's JWT is refused"
http GET "$B/jwt" -H "Authorization: Bearer $RTOKEN"
expect 403 forbidden "GET .../jwt with a read token"
http DELETE "$B/jwt" -H "$AUTH"
is "$STATUS" 204 "DELETE .../jwt"
get "$B/jwt"
is "$(jbody '[.enabled, (.keys | length)] | @csv')" 'false,0' "GET .../jwt after DELETE"
as "$(jwt "${HS[@]}" --kid h1 --sub alice)" GET "$P/records"
is "$STATUS" 401 "after DELETE .../jwt the app refuses JWTs"

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

OUT=$(basalt_cli app jwt acme jw --jwks-file "$T/set.jwks" --kid x 2>&1)
isnt $? 0 "app jwt: --kid with a key set is refused"
OUT=$(basalt_cli app jwt acme jw --hs256-secret-file "$T/hs.key" \
    --ed25519-public-key "$(cat "$T/ed.raw")" 2>&1)
isnt $? 0 "app jwt: two key options are refused"
OUT=$(basalt_cli app jwt acme jw --issuer x 2>&1)
isnt $? 0 "app jwt: settings without a key are refused"
like "$OUT" "key option is required" "app jwt: says a key option is required"

health_ok
ok $? "basalt is still up"
! grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$T/basalt.log"
ok $? "no sanitizer report in the log"

done_testing
