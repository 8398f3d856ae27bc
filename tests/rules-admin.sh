#!/bin/bash
# A collection's rules set, shown and unset by admins, over HTTP
# (PATCH and GET .../collections/{c}) and with `basalt collection rules`:
# what is kept, what is refused with its position, who may change them,
# and the rules_changed event each change writes into the event log
# (read from the database; streams are not looked at here).

. "$top_srcdir/tests/lib.sh"

need lighttpd jq sqlite3 node

demo_start

C=$B/collections/posts
NONE='{"create":null,"delete":null,"list":null,"publish":null,"subscribe":null,"update":null,"view":null}'

# err: "STATUS code: message" of the last answer.
err() {
	echo "$STATUS $(jbody '"\(.error.code): \(.error.message)"')"
}

# changes: the rules_changed events in the log, one line each.
changes() {
	dbsql "SELECT realm, app, collection,
	    coalesce(record_id, 'NULL'), data FROM events
	    WHERE type = 'rules_changed' ORDER BY id"
}

# rules: the rules GET shows, keys sorted, on one line.
rules() {
	get "$C"
	jq -S -c .rules <<<"$BODY"
}

# ======================================================================
# HTTP
# ======================================================================
get "$C"
is "$STATUS" 200 "GET the collection"
is "$(jq -S -c .rules <<<"$BODY")" "$NONE" "a new collection has no rules"
is "$(jbody '[.name, (.created_at | type)] | join(" ")')" "posts string" \
    "the collection keeps its name and created_at"

send PATCH "$C" '{"rules":{"list":"fields.owner = @token.sub","view":""}}'
is "$STATUS" 200 "PATCH two rules"
is "$(jq -S -c .rules <<<"$BODY")" \
    '{"create":null,"delete":null,"list":"fields.owner = @token.sub","publish":null,"subscribe":null,"update":null,"view":""}' \
    "the answer shows every verb: the two set, \"\" kept as \"\""
is "$(jbody .name)" posts "the answer is the collection"
is "$(rules)" "$(jq -S -c .rules <<<"$BODY")" "GET shows what PATCH answered"
is "$(changes)" 'acme|web|posts|NULL|{"collection":"posts"}' \
    "the change wrote one rules_changed event on the collection"

send PATCH "$C" '{"rules":{"view":null,"create":"@body.owner = @token.sub","subscribe":"@event.type in (\"chat\", \"typing\")"}}'
is "$STATUS" 200 "PATCH: set two, unset one"
is "$(rules)" \
    '{"create":"@body.owner = @token.sub","delete":null,"list":"fields.owner = @token.sub","publish":null,"subscribe":"@event.type in (\"chat\", \"typing\")","update":null,"view":null}' \
    "verbs not given stay, null unsets"
is "$(changes | wc -l)" 2 "a second event"
BEFORE=$(rules)

send PATCH "$C" '{"rules":{"list":"fields.owner = @token.sub"}}'
is "$STATUS" 200 "PATCH that changes nothing"
is "$(changes | wc -l)" 2 "writes no event"
send PATCH "$C" '{"rules":{}}'
is "$STATUS" 200 "an empty change is no change"
is "$(rules)" "$BEFORE" "and keeps the rules"

# Malformed rules: the position, and nothing stored.
while IFS='#' read -r change want; do
	send PATCH "$C" "{\"rules\":$change}"
	is "$(err)" "$want" "refused: $change"
done <<'EOF'
{"list":"fields.owner = "}#400 invalid_filter: rules.list: at 16: expected a value
{"list":"fields.owner = @body.owner"}#400 invalid_filter: rules.list: at 16: @body is only allowed in the create, update and publish rules
{"view":"@event.type = \"x\""}#400 invalid_filter: rules.view: at 1: @event.type is only allowed in the publish and subscribe rules
{"subscribe":"fields.t = @event.type"}#400 invalid_filter: rules.subscribe: at 12: @event.type goes on the left of a comparison
{"update":"@user.id = 1"}#400 invalid_filter: rules.update: at 1: expected @token, @body or @event.type
{"delete":"@token = 1"}#400 invalid_filter: rules.delete: at 7: expected . or [ after @token
{"publish":"@event.kind = 1"}#400 invalid_filter: rules.publish: at 7: expected .type after @event
{"list":" "}#400 invalid_filter: rules.list: at 2: expected a field
{"list":"fields.a = \"x\u0000\""}#400 invalid_filter: rules.list: a rule may not hold U+0000
{"read":"true"}#400 invalid_parameter: rules: no verb 'read' (list, view, create, update, delete, publish, subscribe)
{"list":5}#400 invalid_parameter: rules.list must be a string or null
{"list":["x"]}#400 invalid_parameter: rules.list must be a string or null
"fields.a = 1"#400 invalid_parameter: "rules" must be an object of rules by verb: list, view, create, update, delete, publish, subscribe
null#400 invalid_parameter: "rules" must be an object of rules by verb: list, view, create, update, delete, publish, subscribe
EOF
send PATCH "$C" '{"rules":{"view":"true","list":"fields.a ="}}'
is "$(err)" "400 invalid_filter: rules.list: at 11: expected a value" \
    "one bad verb refuses the whole change"
send PATCH "$C" '{"name":"other","rules":{}}'
is "$(err)" "400 invalid_parameter: a collection's \"rules\" are all that may change" \
    "only the rules may change"
send PATCH "$C" '{}'
is "$STATUS $(jbody .error.code)" "400 invalid_parameter" "a PATCH without rules"
send PATCH "$C" '{"rules":'
is "$STATUS $(jbody .error.code)" "400 invalid_json" "broken JSON"
http PATCH "$C" -H "$AUTH" --data-binary '{"rules":{}}' \
    -H 'Content-Type: text/plain'
is "$STATUS" 415 "a body that is not JSON"
is "$(rules)" "$BEFORE" "nothing refused was stored"
is "$(changes | wc -l)" 2 "nor wrote an event"

# Who may.
WTOKEN=$(basalt_cli token create acme web --scope read,write)
for t in "read:$RTOKEN" "read,write:$WTOKEN"; do
	http PATCH "$C" -H "Authorization: Bearer ${t#*:}" -H "$J" \
	    --data-binary '{"rules":{"list":""}}'
	is "$STATUS $(jbody .error.code)" "403 forbidden" \
	    "PATCH needs admin, not ${t%%:*}"
done
http GET "$C" -H "Authorization: Bearer $RTOKEN"
is "$STATUS $(jq -S -c .rules <<<"$BODY")" "200 $BEFORE" \
    "a read token sees the rules"
http PATCH "$C" -H "$J" --data-binary '{"rules":{"list":""}}'
is "$STATUS" 401 "PATCH without a token"
# An end user's JWT never changes rules, and may read them.
head -c 48 /dev/urandom | base64 | tr -d '\n' >"$T/hs.key"
basalt_cli app jwt acme web --hs256-secret-file "$T/hs.key" ||
    bail_out "app jwt failed"
UJWT=$(node "$top_srcdir/tests/jwt-sign.mjs" --alg HS256 --key "$T/hs.key" \
    --sub u1 --ttl 600) || bail_out "no JWT"
http PATCH "$C" -H "Authorization: Bearer $UJWT" -H "$J" \
    --data-binary '{"rules":{"list":""}}'
is "$STATUS $(jbody .error.code)" "403 insufficient_scope" \
    "PATCH with an end user's JWT"
http GET "$C" -H "Authorization: Bearer $UJWT"
is "$STATUS $(jq -S -c .rules <<<"$BODY")" "200 $BEFORE" \
    "a JWT with read sees the rules"
send PATCH "$B/collections/nope" '{"rules":{"list":""}}'
is "$STATUS $(jbody .error.code)" "404 not_found" "PATCH of a missing collection"
send PUT "$C" '{"rules":{}}'
is "$STATUS" 405 "PUT on a collection"
like "$(header Allow)" "PATCH" "its Allow names PATCH"
is "$(rules)" "$BEFORE" "the refused requests changed nothing"

# Plain filters refuse references; rules_changed is reserved.
get "$C/records?filter=$(jq -rn '"fields.owner = @token.sub" | @uri')"
is "$(err)" "400 invalid_filter: at 16: @token is only allowed in rules" \
    "a list's filter may not read @token"
send POST "$C/events" '{"type":"rules_changed","payload":1}'
is "$STATUS $(jbody .error.code)" "400 invalid_event" \
    "custom event type rules_changed is reserved"

# ======================================================================
# CLI
# ======================================================================
out=$(basalt_cli collection rules acme web posts)
is "$?" 0 "collection rules without options"
is "$out" "$(printf '%s\t%s\n' list 'fields.owner = @token.sub' view unset \
    create '@body.owner = @token.sub' update unset delete unset \
    publish unset subscribe '@event.type in ("chat", "typing")')" \
    "prints the seven verbs in order"
is "$(changes | wc -l)" 2 "printing writes no event"

out=$(basalt_cli collection rules acme web posts --unset list \
    --view 'fields.public = true || fields.owner = @token.sub' \
    --delete '' --publish '@token.role = "admin"' --unset subscribe)
is "$?" 0 "collection rules with options"
is "$out" "$(printf '%s\t%s\n' list unset \
    view 'fields.public = true || fields.owner = @token.sub' \
    create '@body.owner = @token.sub' update unset delete '""' \
    publish '@token.role = "admin"' subscribe unset)" \
    "prints the rules after the change"
is "$(rules)" '{"create":"@body.owner = @token.sub","delete":"","list":null,"publish":"@token.role = \"admin\"","subscribe":null,"update":null,"view":"fields.public = true || fields.owner = @token.sub"}' \
    "the server shows the CLI's change"
is "$(changes | wc -l)" 3 "the CLI's change wrote one event"
is "$(changes | tail -n 1)" 'acme|web|posts|NULL|{"collection":"posts"}' \
    "on the collection"

out=$(basalt_cli collection rules acme web posts --list 'x' 2>&1)
is "$?:$out" "1:basalt: rules.list: at 1: expected a field" \
    "a malformed rule: exit 1 and its position"
out=$(basalt_cli collection rules acme web posts --update 'fields.a = 1' \
    --list 'fields.o = @body.x' 2>&1)
is "$?:$out" "1:basalt: rules.list: at 12: @body is only allowed in the create, update and publish rules" \
    "one bad rule among good ones"
is "$(basalt_cli collection rules acme web posts | awk '$1 == "update"')" \
    "$(printf 'update\tunset')" "nothing of a refused change is stored"
is "$(changes | wc -l)" 3 "nor an event written"
basalt_cli collection rules acme web posts --read x >/dev/null 2>&1
is "$?" 1 "an unknown verb"
basalt_cli collection rules acme web posts --unset reading >/dev/null 2>&1
is "$?" 1 "--unset of an unknown verb"
basalt_cli collection rules acme web posts --list >/dev/null 2>&1
is "$?" 1 "an option without its rule"
out=$(basalt_cli collection rules acme web nope 2>&1)
is "$?:$out" "1:basalt: collection not found" "a missing collection"
out=$(basalt_cli collection rules acme web POSTS 2>&1)
is "$?" 1 "an invalid name"

# The rules go with their collection.
http DELETE "$C" -H "$AUTH"
is "$STATUS" 204 "delete the collection"
basalt_cli collection create acme web posts
is "$(rules)" "$NONE" "a collection made again has no rules"
is "$(dbsql 'SELECT count(*) FROM collection_rules')" 0 \
    "none left in the database"

done_testing
