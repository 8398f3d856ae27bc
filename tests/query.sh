#!/bin/bash
# Lists with filter=, sort=, limit=, after=, fields= and event_id, and
# indexes, end to end through lighttpd: each operator against the same
# selection made by jq on the whole list, sorts with ties in both
# directions, keyset paging while writes go on, projections, event_id
# against the stream's ids, every error, and the indexes' HTTP and CLI.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq
if on_pg; then need psql; else need sqlite3; fi

demo_start

# list QUERY: GET the posts with QUERY (already URL-encoded) as $TOKEN.
list() {
	get "$P/records?$1"
}

# enc TEXT: TEXT percent-encoded for a query string.
enc() {
	jq -rn --arg v "$1" '$v | @uri'
}

# ids_of QUERY: the ids of every page of QUERY, one per line, following
# next (as after=) to the end.
ids_of() {
	local after=
	while :; do
		list "$1${after:+&after=$after}"
		[ "$STATUS" = 200 ] || { echo "status $STATUS: $BODY"; return; }
		jbody '.items[].id'
		after=$(jbody '.next // empty')
		[ -n "$after" ] || return
	done
}

# Twenty records of every kind of value, in one batch.
REQS=$(jq -nc '[range(1; 21) | {method: "POST",
    path: "collections/posts/records",
    body: ({n: ., kind: (if . % 3 == 0 then "a" else "b" end),
	title: "Post \(.)", score: (. % 4), flag: (. % 2 == 0),
	tags: (if . % 5 == 0 then ["x", "y"] else ["y"] end),
	meta: {lang: (if . < 8 then "en" else "fr" end)}}
	+ (if . % 7 == 0 then {gone: null} else {opt: .} end))}]
    | {requests: .}')
send POST "$B/batch" "$REQS"
is "$STATUS" 200 "twenty records in one batch" || diag "$BODY"

list "limit=500"
ALL=$BODY
is "$(jq '.items | length' <<<"$ALL")" 20 "the plain list has them all"
is "$(jq -r '.event_id | type' <<<"$ALL")" number "the plain list has an event_id"
is "$(jq -c 'keys' <<<"$ALL")" '["event_id","items","next"]' \
    "the plain list: items, next and event_id"

# ======================================================================
# Filters: each operator selects what jq selects from the whole list
# ======================================================================
while IFS='@' read -r expr sel; do
	want=$(jq -r ".items[] | select($sel) | .id" <<<"$ALL" | sort)
	got=$(ids_of "limit=500&filter=$(enc "$expr")" | sort)
	is "$got" "$want" "filter $expr ($(grep -c . <<<"$want") records)"
done <<'EOF2'
fields.kind = "a"@.fields.kind == "a"
fields.kind != "a"@.fields.kind != "a"
fields.n < 5@.fields.n < 5
fields.n <= 5@.fields.n <= 5
fields.n > 15@.fields.n > 15
fields.n >= 15@.fields.n >= 15
fields.title ~ "POST 1"@(.fields.title | ascii_downcase | contains("post 1"))
fields.title !~ "post 1"@(.fields.title | ascii_downcase | contains("post 1") | not)
fields.n in (1, 2, 3, 40)@([.fields.n] | inside([1, 2, 3, 40]))
fields.tags ?= "x"@(.fields.tags | index("x") != null)
fields.flag = true && fields.score >= 2@(.fields.flag and .fields.score >= 2)
fields.n = 1 || fields.meta.lang = "fr"@(.fields.n == 1 or .fields.meta.lang == "fr")
!(fields.kind = "b")@(.fields.kind == "b" | not)
fields.gone = null@(.fields.gone == null)
fields.opt = null@(.fields.opt == null)
fields.gone != null@(.fields | has("gone") and .gone != null)
fields.n = "1"@false
id >= ""@true
EOF2

list "filter=$(enc 'fields.kind = "a"')&limit=2"
is "$(jbody '.items | length')" 2 "a filtered page holds limit items"
is "$(jbody '.next')" "$(jbody '.items[1].id')" \
    "without sort, next is the last item's id"

# ======================================================================
# Sorts: ties broken by id, in both directions, paged by the cursor
# ======================================================================
for s in fields.score -fields.score "fields.score,-fields.n" \
    "-fields.meta.lang,fields.title" created_at -id fields.tags \
    "-fields.opt"; do
	rev=
	case $s in
	fields.score) key='[.fields.score, .id]' ;;
	-fields.score) key='[.fields.score, .id]' rev=1 ;;
	"fields.score,-fields.n") key='[.fields.score, -.fields.n, .id]' ;;
	*) key= ;;
	esac
	all=$(ids_of "limit=500&sort=$(enc "$s")")
	paged=$(ids_of "limit=3&sort=$(enc "$s")")
	is "$paged" "$all" "sort=$s: pages of 3 are the whole list"
	is "$(sort -u <<<"$paged" | grep -c .)" 20 "sort=$s: every record once"
	if [ -n "$key" ]; then
		want=$(jq -r ".items | sort_by($key) | .[].id" <<<"$ALL")
		[ -z "$rev" ] || want=$(tac <<<"$want")
		is "$all" "$want" "sort=$s: in order, ties by id"
	fi
done
want=$(jq -r '.items | sort_by(.id) | reverse | .[].id' <<<"$ALL")
is "$(ids_of "limit=7&sort=-id")" "$want" "sort=-id: ids descending"
# null and missing first, then numbers (fields.opt is missing on three)
want=$(jq -r '.items[] | select(.fields.opt == null) | .id' <<<"$ALL" | sort)
got=$(ids_of "limit=4&sort=fields.opt" | head -n "$(grep -c . <<<"$want")")
is "$got" "$want" "sort=fields.opt: the records without it first, by id"

list "sort=-fields.score&limit=5"
NEXT=$(jbody .next)
like "$NEXT" '^[A-Za-z0-9_-]+$' "a sorted list's next is a URL-safe cursor"
list "sort=-fields.score&filter=$(enc 'fields.kind = "b"')&limit=500"
want=$(jq -r '.items | map(select(.fields.kind == "b")) |
    sort_by([.fields.score, .id]) | reverse | .[].id' <<<"$ALL")
is "$(jbody '.items[].id')" "$want" "filter and sort together"

# ======================================================================
# Paging while writes go on: no record twice, none missed of those
# the writes left alone
# ======================================================================
seen=
after=
round=0
touched=
while :; do
	list "sort=$(enc 'fields.score,-fields.n')&limit=3${after:+&after=$after}"
	[ "$STATUS" = 200 ] || break
	seen="$seen $(jbody '.items[].id' | tr '\n' ' ')"
	after=$(jbody '.next // empty')
	[ -n "$after" ] || break
	round=$((round + 1))
	# a new record before and after the cursor, one moved, one deleted
	send POST "$P/records" "{\"n\":$((100 + round)),\"score\":0}"
	send POST "$P/records" "{\"n\":$((200 + round)),\"score\":3}"
	victim=$(jq -r ".items[$((round % 20))].id" <<<"$ALL")
	send PATCH "$P/records/$victim" "{\"score\":$((round % 4))}"
	touched="$touched $victim"
	victim=$(jq -r ".items[$(((round * 7) % 20))].id" <<<"$ALL")
	http DELETE "$P/records/$victim" -H "$AUTH"
	touched="$touched $victim"
done
dups=$(tr ' ' '\n' <<<"$seen" | grep . | sort | uniq -d |
    grep -vxF -f <(tr ' ' '\n' <<<"$touched" | grep .))
is "$dups" "" "paging during writes: no untouched record twice"
missed=
for id in $(jq -r '.items[].id' <<<"$ALL"); do
	case " $touched " in *" $id "*) continue ;; esac
	case " $seen " in *" $id "*) ;; *) missed="$missed $id" ;; esac
done
is "$missed" "" "paging during writes: none missed of the untouched"
[ "$round" -ge 5 ]
ok $? "paging during writes: $round pages with writes between"

# ======================================================================
# Projection
# ======================================================================
list "fields=$(enc 'fields.title,fields.meta.lang')&limit=1"
is "$(jbody '.items[0] | keys | join(",")')" "fields,id" \
    "fields=: the id and the fields listed"
is "$(jbody '.items[0].fields | keys | join(",")')" "meta,title" \
    "fields=: only the listed fields"
is "$(jbody '.items[0].fields.meta | keys | join(",")')" "lang" \
    "fields=: a nested path keeps its shape"
list "fields=updated_at,id&sort=fields.n&limit=2"
is "$(jbody '[.items[] | keys | join(",")] | unique | join(" ")')" \
    "id,updated_at" "fields=updated_at,id: those two"
like "$(jbody .next)" '^[A-Za-z0-9_-]+$' "fields= and sort= still page"
list "fields=fields.nothing&limit=1"
is "$(jq -c '.items[0] | del(.id)' <<<"$BODY")" '{"fields":{}}' \
    "fields=: a missing field is left out"

# ======================================================================
# event_id: the log's position of the list, the stream's ids
# ======================================================================
list "limit=1"
E0=$(jbody .event_id)
send POST "$P/records" '{"n":999}'
list "limit=1&filter=$(enc 'fields.n = 999')"
E1=$(jbody .event_id)
[ "$E1" -gt "$E0" ]
ok $? "event_id moves with a write ($E0 -> $E1)"
sub ev "$P/events?last_event_id=$E0" -H "$AUTH"
wait_events ev 1
unsub ev
is "$(q ev '.events | last | .id')" "$E1" \
    "event_id is the SSE id of the last event"
is "$(q ev '.events | length')" 1 \
    "a stream from the first event_id carries only the one write"
list "limit=1"
is "$(jbody .event_id)" "$E1" "event_id stays without writes"

# ======================================================================
# Errors
# ======================================================================
# expect_error STATUS CODE MESSAGE DESC
expect_error() {
	is "$STATUS $(jbody '"\(.error.code): \(.error.message)"')" \
	    "$1 $2: $3" "$4"
}
list "filter=$(enc 'fields.age > ')"
expect_error 400 invalid_filter "at 14: expected a value" "a bad filter"
list "filter=$(enc 'fields.a = 1 )')"
expect_error 400 invalid_filter "at 14: unmatched )" "an unmatched )"
list "filter=$(head -c 2049 /dev/zero | tr '\0' x)"
expect_error 400 invalid_filter "at 2049: a filter is at most 2048 bytes" \
    "a filter too long"
list "sort=$(enc '-fields.score,,created_at')"
expect_error 400 invalid_filter "sort: at 15: expected a field" "a bad sort"
list "sort=fields.score&after=abc"
expect_error 400 invalid_parameter "after is not a cursor of this sort: pass the next of the page before, with the same sort" \
    "a cursor that is not base64url"
list "sort=fields.score,fields.n&after=$NEXT"
expect_error 400 invalid_parameter "after is not a cursor of this sort: pass the next of the page before, with the same sort" \
    "a cursor of another sort"
list "sort=created_at&after=$(printf '[1,2]' | base64 | tr '+/' '-_' | tr -d '=')"
expect_error 400 invalid_parameter "after is not a cursor of this sort: pass the next of the page before, with the same sort" \
    "a cursor of the wrong length"
list "sort=created_at&after=$(printf '[1,"01J"]' | base64 | tr '+/' '-_' | tr -d '=')"
expect_error 400 invalid_parameter "after is not a cursor of this sort: pass the next of the page before, with the same sort" \
    "a cursor whose created_at is no string"
list "after=$NEXT"
expect_error 400 invalid_parameter "after must be a record id" \
    "without sort, after is a record id"
list "fields=$(enc 'id,title')"
expect_error 400 invalid_parameter "fields: at 4: expected a field" \
    "a bad projection"
list "fields="
expect_error 400 invalid_parameter "fields: at 1: expected a field" \
    "an empty projection"
list "limit=0&filter=$(enc 'fields.n = 1')"
expect_error 400 invalid_parameter "limit must be a number from 1 to 500" \
    "a bad limit with a filter"

# ======================================================================
# Indexes over HTTP (admin) and from the CLI
# ======================================================================
IX=$P/indexes

# nindexes: the records_field_ indexes in the database.
nindexes() {
	if on_pg; then
		dbsql "SELECT count(*) FROM pg_indexes
		    WHERE indexname LIKE 'records_field_%'"
	else
		dbsql "SELECT count(*) FROM sqlite_master WHERE type = 'index'
		    AND name LIKE 'records_field_%'"
	fi
}

FA=$(enc 'fields.kind = "a" || fields.meta.lang in ("en", "de")')
BEFORE=$(ids_of "limit=500&filter=$FA")
send POST "$IX" '{"field":"fields.kind"}'
is "$STATUS $(jq -c . <<<"$BODY")" '201 {"field":"fields.kind"}' "POST indexes: 201"
send POST "$IX" '{"field":"fields.kind"}'
expect_error 409 conflict "the index on fields.kind exists already" \
    "an index twice"
for f in 'fields["a b"]' 'id' 'fields.a b' 'fields' 'fields.' 'fields.a..b'; do
	send POST "$IX" "$(jq -nc --arg f "$f" '{field: $f}')"
	expect_error 400 invalid_parameter "an index is on fields.NAME[.NAME...], at most 200 bytes, each name of letters, digits, _ and -" \
	    "no index on $f"
done
send POST "$IX" '{"field":5}'
expect_error 400 invalid_parameter '"field" must be a string: fields.NAME[.NAME...]' \
    "a field that is no string"
http POST "$IX" -H "Authorization: Bearer $RTOKEN" -H "$J" \
    --data-binary '{"field":"fields.n"}'
is "$STATUS" 403 "a read token may not create an index"
http GET "$IX" -H "Authorization: Bearer $RTOKEN"
is "$STATUS" 403 "nor list them"
basalt_cli index create acme web posts fields.meta.lang >/dev/null
is "$?" 0 "basalt index create"
get "$IX"
is "$STATUS $(jq -c . <<<"$BODY")" \
    '200 {"items":[{"field":"fields.kind"},{"field":"fields.meta.lang"}]}' \
    "GET indexes: both, by field"
is "$(basalt_cli index list acme web posts | tr '\n' ' ')" \
    "fields.kind fields.meta.lang " "basalt index list"
is "$(basalt_cli index create acme web posts fields.kind 2>&1)" \
    "basalt: index on 'fields.kind' exists already" "the CLI: an index twice"
is "$(basalt_cli index create acme web posts 'fields[x]' 2>&1 | head -c 30)" \
    "basalt: bad field 'fields[x]':" "the CLI: a bad field"

# Lists read the same through an index.
for s in fields.kind -fields.kind "fields.meta.lang,-fields.n"; do
	is "$(ids_of "limit=4&sort=$(enc "$s")")" \
	    "$(ids_of "limit=500&sort=$(enc "$s")")" "sort=$s with an index"
done
is "$(ids_of "limit=2&filter=$FA")" "$BEFORE" "a filter through the indexes"

for i in 1 2 3 4 5 6; do
	send POST "$IX" "{\"field\":\"fields.f$i\"}"
done
is "$STATUS" 201 "eight indexes on a collection"
send POST "$IX" '{"field":"fields.f7"}'
expect_error 409 conflict "a collection has at most 8 indexes" "not nine"
is "$(basalt_cli index create acme web posts fields.f7 2>&1)" \
    "basalt: a collection has at most 8 indexes" "the CLI: not nine"

http DELETE "$IX/fields.f6" -H "$AUTH"
is "$STATUS" 204 "DELETE indexes/fields.f6: 204"
http DELETE "$IX/fields.f6" -H "$AUTH"
expect_error 404 not_found "the index on fields.f6 not found" "dropped twice"
http DELETE "$IX/fields%5B1%5D" -H "$AUTH"
is "$STATUS" 400 "DELETE of no index name: 400"
basalt_cli index drop acme web posts fields.f5
is "$?" 0 "basalt index drop"
is "$(basalt_cli index drop acme web posts fields.f5 2>&1)" \
    "basalt: index on 'fields.f5' not found" "the CLI: dropped twice"
is "$(nindexes)" 6 "six indexes in the database"

# An index goes with its collection, its app and its realm.
http DELETE "$P" -H "$AUTH"
is "$STATUS" 204 "the collection is deleted"
is "$(nindexes)" 0 "its indexes with it"
send POST "$B/collections" '{"name":"posts"}'
get "$IX"
is "$(jq -c .items <<<"$BODY")" '[]' "a new collection of the name has none"
basalt_cli index create acme web posts fields.a >/dev/null
basalt_cli app create acme other >/dev/null
basalt_cli collection create acme other c >/dev/null
basalt_cli index create acme other c fields.b >/dev/null
basalt_cli app delete acme web
is "$(dbsql "SELECT field FROM collection_indexes" | paste -sd,)" \
    "fields.b" "an app's indexes go with it"
basalt_cli realm delete acme
is "$(nindexes) $(dbsql "SELECT count(*) FROM collection_indexes")" "0 0" \
    "a realm's indexes go with it"

done_testing
