#!/bin/bash
# The JSON conformance corpus of tests/json through lighttpd: every
# invalid document is refused with 400, alone and inside an object, and
# every valid one is stored and read back equal (tests/json-check.mjs),
# numbers with the very text they were sent with.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq node

# fields: the fields of the record in BODY, as the bytes sent (no jq:
# it rounds numbers).
fields() {
	local f=${BODY#*\"fields\":}
	printf '%s' "${f%,\"created_at\"*}"
}

# Hooks in an app of their own (acme/hk): with hooks, an app's writes
# take another path.
mkdir -p "$T/hooks/acme/hk"
cat >"$T/hooks/acme/hk/json.js" <<'EOF'
onRecordCreate("hooked", function (e) {
	if (e.record.fields.emoji)
		e.record.fields.s = "\uD83D\uDE00";
});
EOF
demo_start
basalt_cli collection create acme web json >/dev/null &&
basalt_cli app create acme hk >/dev/null &&
basalt_cli collection create acme hk hooked >/dev/null &&
HK=$URL/api/realms/acme/apps/hk &&
HKAUTH="Authorization: Bearer $(basalt_cli token create acme hk \
    --scope read,write --label hk)" || bail_out "the admin CLI failed"

# The cases of the report, one by one, as a user sends them.
for doc in '{"v":NaN}' '{"v":Infinity}' '{"v":-01}' '{"v":1.}' \
    '{"v":-.123}' '{"v":0.e1}' '{"v":2.e+3}' $'{"v":"a\tb"}' \
    $'{"v":"a\nb"}' $'{"v":"\xed\xa0\x80"}' '{"foo\u0000bar":42}'; do
	http POST "$B/collections/json/records" -H "$AUTH" -H "$J" \
	    --data-binary "$doc"
	is "$STATUS $(jbody .error.code)" "400 invalid_json" \
	    "refused: $(printf '%q' "$doc")"
done
http POST "$B/collections/json/records" -H "$AUTH" -H "$J" \
    --data-binary '{"big":123456789012345678901234567890,"z":-0,"e":1e400}'
is "$STATUS" 201 "big numbers are stored"
http GET "$B/collections/json/records/$(jbody .id)" -H "$AUTH"
is "$(fields)" '{"big":123456789012345678901234567890,"z":-0,"e":1e400}' \
    "and read back as they were written"

id=$(jbody .id)
exact='{"big":123456789012345678901234567890,"z":-0,"e":1e400}'

# Every place that parses stored JSON must keep numbers as written.
http PATCH "$B/collections/json/records/$id" -H "$AUTH" -H "$J" \
    --data-binary '{"x":1}'
is "$STATUS $(fields)" \
    '200 {"big":123456789012345678901234567890,"z":-0,"e":1e400,"x":1}' \
    "a merge patch keeps the other numbers as written"
http POST "$HK/collections/hooked/records" -H "$HKAUTH" -H "$J" \
    --data-binary "$exact"
is "$STATUS $(fields)" "201 $exact" \
    "a hook that leaves the fields keeps numbers as written"
http POST "$HK/collections/hooked/records" -H "$HKAUTH" -H "$J" \
    --data-binary '{"emoji":true}'
is "$STATUS $(fields)" $'201 {"emoji":true,"s":"\xf0\x9f\x98\x80"}' \
    "a hook may write a character beyond U+FFFF"

count=$(find "$top_srcdir/tests/json" -name '*.json' | wc -l)
ok "$([ "$count" -ge 300 ]; echo $?)" "the corpus has $count documents"
t0=$(date +%s)
checked=0
while IFS= read -r line; do
	checked=$((checked + 1))
	case $line in
	"ok "*) ok 0 "${line#ok }" ;;
	*) ok 1 "${line#not-ok }" ;;
	esac
done < <(node "$top_srcdir/tests/json-check.mjs" "$B" "$TOKEN" \
    "$top_srcdir/tests/json" 2>&1)
is "$checked" "$count" "every document was checked"
diag "corpus checked in $(($(date +%s) - t0)) s"

done_testing
