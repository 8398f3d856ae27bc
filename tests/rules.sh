#!/bin/bash
# Record rules for end users' JWTs, end to end through lighttpd: the rule
# matrix (each verb with a JWT that passes and one that fails, a service
# token, an expired JWT, a wrong signature, alg none, a wrong audience, an
# HS256 JWT on an Ed25519 app), unset rules, lists paged under the list
# rule, batches, custom events under the publish rule, and before-hooks
# whose result is checked again.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq node

JS=$top_srcdir/tests/jwt-sign.mjs

# In a second app, a hook hands a record to another owner when asked
# ("give"), and refuses one marked "boom": a rule that fails answers
# before either. (The first app has no hooks: there the writer alone
# checks updates and deletes.)
HK=$T/hooks/acme/hk
mkdir -p "$HK"
cat >"$HK/10-todos.js" <<'EOF'
function give(e) {
	if (e.record.fields.boom)
		throw new Error("boom");
	if (e.record.fields.give)
		e.record.fields.owner = e.record.fields.give;
}
onRecordCreate("todos", give);
onRecordUpdate("todos", give);
EOF

demo_start
basalt_cli collection create acme web todos >/dev/null ||
	bail_out "cannot create the todos collection"
TP=$B/collections/todos

# The app trusts HS256 JWTs signed with this secret, for this audience.
printf '%s' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    >"$T/hs.key"
printf '%s' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    >"$T/other.key"
basalt_cli app jwt acme web --hs256-secret-file "$T/hs.key" \
    --audience todo-app >/dev/null ||
	bail_out "cannot make the app trust JWTs"

# jwt ARGS...: an HS256 JWT of the app (jwt-sign.mjs's options).
jwt() {
	node "$JS" --alg HS256 --key "$T/hs.key" --aud todo-app "$@"
}

JA=$(jwt --sub alice)
JB=$(jwt --sub bob)
JC=$(jwt --sub carol --claims '{"role":"staff"}')
NOW=$(date +%s)
BAD_EXPIRED=$(jwt --sub alice --iat $((NOW - 600)) --exp $((NOW - 300)))
BAD_SIG=$(node "$JS" --alg HS256 --key "$T/other.key" --aud todo-app \
    --sub alice)
BAD_NONE=$(node "$JS" --alg none --aud todo-app --sub alice)
BAD_AUD=$(jwt --sub alice --aud another-app)

# rules APP COLLECTION VERB=RULE...: sets the collection's rules with
# the CLI.
rules() {
	local app=$1 coll=$2 kv
	local args=()
	shift 2
	for kv in "$@"; do
		args+=("--${kv%%=*}" "${kv#*=}")
	done
	basalt_cli collection rules acme "$app" "$coll" "${args[@]}" \
	    >"$T/rules.out" 2>&1 || { diag "$(cat "$T/rules.out")"; return 1; }
}

# as TOKEN METHOD URL [JSON]: a request with TOKEN, and a JSON body if
# given.
as() {
	if [ $# -ge 4 ]; then
		http "$2" "$3" -H "Authorization: Bearer $1" -H "$J" \
		    --data-binary "$4"
	else
		http "$2" "$3" -H "Authorization: Bearer $1"
	fi
}

# error_is STATUS CODE DESC: the last answer is the error STATUS CODE.
error_is() {
	local st=$1 code=$2
	shift 2
	is "$STATUS $(jbody .error.code)" "$st $code" "$*" ||
	    diag "body: $BODY"
}

# count_todos: the todos a service token sees.
count_todos() {
	get "$TP/records?limit=500"
	jbody '.items | length'
}

# ======================================================================
# Unset rules: only service tokens may
# ======================================================================
send POST "$TP/records" '{"owner":"server","title":"seed"}'
is "$STATUS" 201 "a service token creates without any rule"
SEED=$(jbody .id)

as "$JA" GET "$TP/records"
error_is 403 forbidden "unset list rule: a JWT may not list"
like "$(jbody .error.message)" "list rule" "... and the message names the rule"
as "$JA" GET "$TP/records/$SEED"
error_is 403 forbidden "unset view rule: a JWT may not view"
as "$JA" POST "$TP/records" '{"owner":"alice"}'
error_is 403 forbidden "unset create rule: a JWT may not create"
as "$JA" PATCH "$TP/records/$SEED" '{"title":"x"}'
error_is 403 forbidden "unset update rule: a JWT may not update"
as "$JA" PUT "$TP/records/$SEED" '{"owner":"alice"}'
error_is 403 forbidden "unset update rule: a JWT may not replace"
as "$JA" DELETE "$TP/records/$SEED"
error_is 403 forbidden "unset delete rule: a JWT may not delete"
as "$JA" POST "$TP/events" '{"type":"ping","payload":{"from":"alice"}}'
error_is 403 forbidden "unset publish rule: a JWT may not publish"
as "$JA" POST "$B/batch" '{"requests":[{"method":"POST",
    "path":"collections/todos/records","body":{"owner":"alice"}}]}'
is "$STATUS $(jbody .error.code) $(jbody .index)" "403 forbidden 0" \
    "unset create rule: nor in a batch"
is "$(count_todos)" 1 "nothing was written by the refused JWTs"

# ======================================================================
# The rules of a todo app: each user sees and changes only their own
# todos; staff may view any one; pings from oneself may be published.
# ======================================================================
OWN='fields.owner = @token.sub'
rules web todos "list=$OWN" "view=$OWN || @token.role = \"staff\"" \
    "create=$OWN" "update=$OWN" "delete=$OWN" \
    'publish=@event.type = "ping" && @body.from = @token.sub'
is "$?" 0 "collection rules are set"

# ======================================================================
# The matrix
# ======================================================================

# create
as "$JA" POST "$TP/records" '{"owner":"alice","title":"milk","n":1}'
is "$STATUS" 201 "create: a JWT whose record passes (201)"
A1=$(jbody .id)
is "$(jbody .fields.owner)" alice "... stored as sent"
as "$JB" POST "$TP/records" '{"owner":"alice","title":"forged"}'
error_is 403 forbidden "create: a JWT whose record fails (403)"
as "$JB" POST "$TP/records" '{"owner":"bob","title":"bread","n":2}'
is "$STATUS" 201 "create: bob's own record (201)"
B1=$(jbody .id)
send POST "$TP/records" '{"owner":"nobody","title":"by the server"}'
is "$STATUS" 201 "create: a service token, whatever the rule"
N1=$(jbody .id)

# view
as "$JA" GET "$TP/records/$A1"
is "$STATUS $(jbody .id)" "200 $A1" "view: a JWT that passes (200)"
as "$JB" GET "$TP/records/$A1"
error_is 404 not_found "view: a JWT that fails sees no such record (404)"
is "$(jbody .error.message)" "record not found" \
    "... with the words of a missing record"
as "$JB" GET "$TP/records/01ARZ3NDEKTSV4RRFFQ69G5FAV"
is "$STATUS $(jbody .error.message)" "404 record not found" \
    "... the same as for a record that does not exist"
as "$JC" GET "$TP/records/$A1"
is "$STATUS $(jbody .fields.owner)" "200 alice" \
    "view: a claim other than sub (@token.role) lets staff view"
get "$TP/records/$A1"
is "$STATUS" 200 "view: a service token"

# list
as "$JA" GET "$TP/records"
is "$STATUS" 200 "list: a JWT lists (200)"
is "$(jbody '[.items[].id] | join(",")')" "$A1" "list: alice sees her todo only"
is "$(jbody '.event_id | type')" number "list: ... with an event_id"
as "$JB" GET "$TP/records"
is "$(jbody '[.items[].id] | join(",")')" "$B1" "list: bob sees his only"
as "$JC" GET "$TP/records"
is "$STATUS $(jbody '.items | length')" "200 0" \
    "list: carol (staff, owner of nothing) lists nothing"
as "$JA" GET "$TP/records?filter=$(jq -rn --arg v 'fields.owner = "bob"' \
    '$v | @uri')"
is "$STATUS $(jbody '.items | length')" "200 0" \
    "list: a filter for bob's todos gives alice nothing"
get "$TP/records?limit=500"
is "$(jbody '.items | length')" 4 "list: a service token sees all four"

# update
as "$JA" PATCH "$TP/records/$A1" '{"title":"oat milk"}'
is "$STATUS $(jbody .fields.title)" "200 oat milk" \
    "update: a JWT that passes (200)"
as "$JB" PATCH "$TP/records/$A1" '{"title":"mine now"}'
error_is 404 not_found "update: a JWT whose stored record fails (404)"
as "$JB" PUT "$TP/records/$A1" '{"owner":"bob"}'
error_is 404 not_found "update: ... and with PUT (404)"
as "$JA" PATCH "$TP/records/$A1" '{"owner":"bob"}'
error_is 403 forbidden "update: the merged record fails the rule (403)"
as "$JA" PUT "$TP/records/$A1" '{"title":"no owner"}'
error_is 403 forbidden "update: a PUT that drops the owner fails (403)"
as "$JA" PUT "$TP/records/$A1" '{"owner":"alice","title":"oat milk"}'
is "$STATUS $(jbody .fields.title)" "200 oat milk" \
    "update: a PUT that keeps her the owner (200)"
get "$TP/records/$A1"
is "$(jbody '"\(.fields.owner) \(.fields.title)"')" "alice oat milk" \
    "update: the refused updates left the record as it was"
send PATCH "$TP/records/$N1" '{"title":"still the server"}'
is "$STATUS" 200 "update: a service token, whatever the rule"

# delete
as "$JB" DELETE "$TP/records/$A1"
error_is 404 not_found "delete: a JWT whose record fails (404)"
get "$TP/records/$A1"
is "$STATUS" 200 "delete: ... and the record is still there"
as "$JB" DELETE "$TP/records/$B1"
is "$STATUS" 204 "delete: a JWT that passes (204)"
get "$TP/records/$B1"
is "$STATUS" 404 "delete: ... the record is gone"
send DELETE "$TP/records/$N1"
is "$STATUS" 204 "delete: a service token, whatever the rule"

# refused TOKEN COLLECTION_URL RECORD_ID DESC: TOKEN gets 401 with the
# header on every verb.
refused() {
	local verb
	for verb in list view create update delete publish; do
		case $verb in
		list)	as "$1" GET "$2/records" ;;
		view)	as "$1" GET "$2/records/$3" ;;
		create)	as "$1" POST "$2/records" '{"owner":"alice"}' ;;
		update)	as "$1" PATCH "$2/records/$3" '{"t":1}' ;;
		delete)	as "$1" DELETE "$2/records/$3" ;;
		publish) as "$1" POST "$2/events" \
		    '{"type":"ping","payload":{"from":"alice"}}' ;;
		esac
		is "$STATUS $(header WWW-Authenticate)" \
		    '401 Bearer error="invalid_token"' "$verb: $4 (401)"
	done
}

# Tokens that are no JWT of this app's: refused on every verb, and never
# a write.
before=$(count_todos)
refused "$BAD_EXPIRED" "$TP" "$A1" "an expired JWT"
refused "$BAD_SIG" "$TP" "$A1" "a JWT with a wrong signature"
refused "$BAD_NONE" "$TP" "$A1" "a JWT with alg none"
refused "$BAD_AUD" "$TP" "$A1" "a JWT for another audience"
is "$(count_todos)" "$before" "the refused JWTs wrote nothing"
get "$TP/records/$A1"
is "$(jbody .fields.title)" "oat milk" "... and changed nothing"

# An app that trusts Ed25519 keys: its own JWTs pass, an HS256 JWT does
# not, even one keyed with the app's public key.
node "$JS" --genkey EdDSA --out "$T/ed" &&
basalt_cli app create acme ed >/dev/null &&
basalt_cli collection create acme ed todos >/dev/null &&
basalt_cli app jwt acme ed --ed25519-public-key "$(cat "$T/ed.raw")" \
    >/dev/null &&
rules ed todos "list=$OWN" "view=$OWN" "create=$OWN" "update=$OWN" \
    "delete=$OWN" ||
	bail_out "cannot set up the Ed25519 app"
EP=$URL/api/realms/acme/apps/ed/collections/todos
EA=$(node "$JS" --alg EdDSA --key "$T/ed.key" --sub alice)
node -e 'process.stdout.write(Buffer.from(process.argv[1], "base64url"))' \
    "$(cat "$T/ed.raw")" >"$T/ed.rawbin"
as "$EA" POST "$EP/records" '{"owner":"alice","title":"ed"}'
is "$STATUS" 201 "the Ed25519 app: create with its own JWT"
EA1=$(jbody .id)
refused "$(node "$JS" --alg HS256 --key "$T/hs.key" --sub alice)" "$EP" \
    "$EA1" "an HS256 JWT on the Ed25519 app"
HSED=$(node "$JS" --alg HS256 --key "$T/ed.rawbin" --sub alice)
refused "$HSED" "$EP" "$EA1" \
    "an HS256 JWT keyed with the Ed25519 app's public key"
as "$EA" GET "$EP/records/$EA1"
is "$STATUS $(jbody .fields.title)" "200 ed" \
    "the Ed25519 app: ... which changed nothing"
as "$EA" GET "$EP/records"
is "$STATUS $(jbody '[.items[].id] | join(",")')" "200 $EA1" \
    "the Ed25519 app: list under the rule"
as "$HSED" GET "$EP/records"
is "$STATUS" 401 "the Ed25519 app: an HS256 JWT may not list"
as "$JA" GET "$EP/records"
is "$STATUS" 401 "the Ed25519 app: the other app's JWT may not list"

# ======================================================================
# Lists paged under the list rule: alice's todos among bob's, by id and
# sorted, page after page, and nothing of bob's on any page.
# ======================================================================
REQS=$(jq -nc '[range(1; 25) | {method: "POST",
    path: "collections/todos/records",
    body: {owner: (if . % 3 == 0 then "alice" else "bob" end), n: .,
	done: (. % 2 == 0)}}] | {requests: .}')
send POST "$B/batch" "$REQS"
is "$STATUS" 200 "24 todos of alice and bob in one batch (service token)"

# pages TOKEN QUERY: the ids of every page, one per line.
pages() {
	local after= n=0
	while [ $n -lt 50 ]; do
		as "$1" GET "$TP/records?$2${after:+&after=$after}"
		[ "$STATUS" = 200 ] || { echo "status $STATUS"; return; }
		jbody '.items[].id'
		after=$(jbody '.next // empty')
		[ -n "$after" ] || return
		n=$((n + 1))
	done
}

# want QUERY JQ: what a service token's whole list selects with JQ.
want() {
	get "$TP/records?limit=500&$1"
	jbody ".items[] | select($2) | .id"
}

is "$(pages "$JA" limit=3)" "$(want '' '.fields.owner == "alice"')" \
    "paging by id, 3 a page: alice's todos, all and only hers"
is "$(pages "$JB" limit=4)" "$(want '' '.fields.owner == "bob"')" \
    "paging by id, 4 a page: bob's"
is "$(pages "$JA" 'limit=2&sort=-fields.n')" \
    "$(want 'sort=-fields.n' '.fields.owner == "alice"')" \
    "paging sorted by -fields.n: alice's, in order"
F=$(jq -rn --arg v 'fields.done = true' '$v | @uri')
is "$(pages "$JB" "limit=2&sort=fields.n&filter=$F")" \
    "$(want "sort=fields.n&filter=$F" '.fields.owner == "bob"')" \
    "paging with filter= and sort=: the filter and the rule both hold"
send POST "$TP/indexes" '{"field":"fields.owner"}'
is "$STATUS" 201 "an index on fields.owner"
is "$(pages "$JA" limit=3)" "$(want '' '.fields.owner == "alice"')" \
    "paging with the index: the same pages"

# ======================================================================
# Batches: each write under its own verb's rule; one refusal undoes all
# ======================================================================
as "$JA" POST "$B/batch" "$(jq -nc --arg a "$A1" '{requests: [
    {method: "POST", path: "collections/todos/records",
	body: {owner: "alice", title: "eggs"}},
    {method: "PATCH", path: "collections/todos/records/\($a)",
	body: {title: "soy milk"}}]}')"
is "$STATUS $(jbody '[.responses[].status] | join(",")')" "200 201,200" \
    "batch: alice's create and update of her own todo"
A2=$(jbody '.responses[0].body.id')
get "$TP/records?limit=1&filter=$(jq -rn --arg v 'fields.owner = "bob"' \
    '$v | @uri')"
B2=$(jbody '.items[0].id')
before=$(count_todos)
R=collections/todos/records
while IFS=@ read -r what method path body expect; do
	as "$JA" POST "$B/batch" "$(jq -nc --arg m "$method" --arg p "$path" \
	    --argjson b "$body" --arg a "$A2" '{requests: [
	    {method: "PATCH", path: "collections/todos/records/\($a)",
		body: {title: "changed"}},
	    ({method: $m, path: $p} + (if $m == "DELETE" then {} else
		{body: $b} end))]}')"
	is "$STATUS $(jbody .error.code) $(jbody .index)" "$expect 1" \
	    "batch: $what refused, at index 1"
done <<EOF2
a create of bob's@POST@$R@{"owner":"bob"}@403 forbidden
an update of bob's@PATCH@$R/$B2@{"t":1}@404 not_found
an update that gives hers away@PATCH@$R/$A2@{"owner":"bob"}@403 forbidden
a delete of bob's@DELETE@$R/$B2@{}@404 not_found
EOF2
get "$TP/records/$A2"
is "$(jbody .fields.title)" eggs "batch: the refused batches changed nothing"
is "$(count_todos)" "$before" "batch: ... and created nothing"

# ======================================================================
# Custom events under the publish rule
# ======================================================================
as "$JA" POST "$TP/events" '{"type":"ping","payload":{"from":"alice"}}'
is "$STATUS $(jbody .type)" "202 ping" "publish: a ping from oneself (202)"
as "$JA" POST "$TP/events" '{"type":"ping","payload":{"from":"bob"}}'
error_is 403 forbidden "publish: a ping in another's name (403)"
as "$JA" POST "$TP/events" '{"type":"shout","payload":{"from":"alice"}}'
error_is 403 forbidden "publish: another type (403)"
as "$JA" POST "$TP/events" '{"type":"ping"}'
error_is 403 forbidden "publish: no payload, so no @body.from (403)"
send POST "$TP/events" '{"type":"shout","payload":{"from":"anyone"}}'
is "$STATUS" 202 "publish: a service token, whatever the rule"

# ======================================================================
# Before-hooks run after the rules passed, and what they hand back is
# checked again
# ======================================================================
basalt_cli app create acme hk >/dev/null &&
basalt_cli collection create acme hk todos >/dev/null &&
basalt_cli app jwt acme hk --hs256-secret-file "$T/hs.key" \
    --audience todo-app >/dev/null &&
HTOKEN=$(basalt_cli token create acme hk --scope read,write --label hk) &&
rules hk todos "list=$OWN" "view=$OWN" "create=$OWN" "update=$OWN" \
    "delete=$OWN" || bail_out "cannot set up the app with hooks"
HP=$URL/api/realms/acme/apps/hk/collections/todos

# count_hk: the todos of the app with hooks.
count_hk() {
	as "$HTOKEN" GET "$HP/records?limit=500"
	jbody '.items | length'
}

as "$JA" POST "$HP/records" '{"owner":"alice","title":"eggs"}'
is "$STATUS" 201 "hooks: alice's todo in the app with hooks"
H1=$(jbody .id)
before=$(count_hk)
as "$JB" POST "$HP/records" '{"owner":"alice","boom":true}'
error_is 403 forbidden "hooks: a create the rule refuses never reaches the hook"
as "$JA" POST "$HP/records" '{"owner":"alice","boom":true}'
error_is 422 hook_rejected "hooks: ... the same create that passes reaches it"
as "$JA" POST "$HP/records" '{"owner":"alice","give":"bob"}'
error_is 403 forbidden "hooks: a create the hook hands to bob is refused"
like "$(jbody .error.message)" "hooks" "... the message says the hooks did it"
is "$(count_hk)" "$before" "hooks: nothing was stored"
as "$JA" POST "$HP/records" '{"owner":"alice","give":"alice"}'
is "$STATUS" 201 "hooks: a create the hook leaves hers is stored"
as "$JA" PATCH "$HP/records/$H1" '{"give":"bob"}'
error_is 403 forbidden "hooks: an update the hook hands to bob is refused"
as "$JB" PATCH "$HP/records/$H1" '{"boom":true}'
error_is 404 not_found "hooks: an update of a hidden record: 404, not the 422"
as "$HTOKEN" GET "$HP/records/$H1"
is "$(jbody '"\(.fields.owner) \(.fields.title)"')" "alice eggs" \
    "hooks: the record is unchanged"
as "$JB" DELETE "$HP/records/$H1"
error_is 404 not_found "hooks: a delete of a hidden record (404)"
before=$(count_hk)
as "$JA" POST "$URL/api/realms/acme/apps/hk/batch" "$(jq -nc --arg h "$H1" \
    '{requests: [{method: "POST", path: "collections/todos/records",
	body: {owner: "alice", title: "ham"}},
    {method: "PATCH", path: "collections/todos/records/\($h)",
	body: {give: "bob"}}]}')"
is "$STATUS $(jbody .error.code) $(jbody .index)" "403 forbidden 1" \
    "hooks: a batch whose second write the hook hands away: 403 at index 1"
is "$(count_hk)" "$before" "hooks: ... and its first write is undone"
as "$JA" PATCH "$HP/records/$H1" '{"title":"fresh eggs"}'
is "$STATUS $(jbody .fields.title)" "200 fresh eggs" \
    "hooks: an update that passes throughout is stored"

# ======================================================================
# A change of rules holds from the next request on
# ======================================================================
send PATCH "$TP" '{"rules":{"list":""}}'
is "$STATUS $(jbody .rules.list)" "200 " "the list rule set to \"\" over HTTP"
as "$JB" GET "$TP/records?limit=500"
n=$(jbody '.items | length')
is "$n" "$(count_todos)" "... bob now lists every todo ($n)"
send PATCH "$TP" '{"rules":{"list":null}}'
as "$JB" GET "$TP/records"
error_is 403 forbidden "the list rule unset again: bob may not list"
as "$JB" GET "$TP/records/$B2"
is "$STATUS" 200 "... and still views his own todo"

done_testing
