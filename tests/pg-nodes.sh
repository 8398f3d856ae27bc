#!/bin/bash
# Two basalt nodes on one PostgreSQL, each behind its own lighttpd. For
# 30 s, four writers on each node create, update and delete records and
# send custom events; subscribers on both nodes read throughout, and
# others disconnect and resume on the other node with the last id they
# got. At the end every subscriber holds the same ids as the events
# table, strictly increasing, each committed event exactly once. A token
# revoked through one node is refused by both, and its streams on both
# nodes end.

BASALT_TEST_DB=pg
. "$top_srcdir/tests/lib.sh"

need lighttpd jq curl node
pg_available || skip_all "PostgreSQL's server programs are not installed"
pg_start || bail_out "PostgreSQL did not start"

RUN=${PG_NODES_SECONDS:-30}

basalt_config
basalt_start || bail_out "node 1 did not start"
sed "s|^listen = .*|listen = $T/basalt2.sock|" "$T/basalt.conf" \
    >"$T/basalt2.conf"
"$BASALT" -c "$T/basalt2.conf" serve 2>>"$T/basalt2.log" &
N2_PID=$!
bg_track "$N2_PID"
wait_until 10 unix_open "$T/basalt2.sock" || bail_out "node 2 did not start"
lighttpd_start || bail_out "lighttpd 1 did not start"
URL1=$URL
lighttpd_start "$T/basalt2.sock" || bail_out "lighttpd 2 did not start"
URL2=$URL
URL=$URL1
demo_setup
PRE=/api/realms/acme/apps/web
P1=$URL1$PREFIX P2=$URL2$PREFIX

# node N: the collection's URL on node N.
node_p() {
	if [ "$1" = 1 ]; then echo "$P1"; else echo "$P2"; fi
}

# writer NODE N: creates a record, updates it, deletes one in three, and
# sends a custom event, until $T/stop exists; each answer's status goes
# to $T/wNODE-N.log as "KIND STATUS".
writer() {
	local p k=0 id st
	p=$(node_p "$1")
	while [ ! -e "$T/stop" ]; do
		k=$((k + 1))
		st=$(curl -s --max-time 10 -o "$T/w$1-$2.body" -w '%{http_code}' \
		    -X POST -H "$AUTH" -H "$J" \
		    --data-binary "{\"title\":\"n$1-$2-$k\"}" "$p/records")
		echo "create $st"
		id=$(jq -r '.id // empty' "$T/w$1-$2.body" 2>/dev/null)
		if [ -n "$id" ]; then
			st=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
			    -X PATCH -H "$AUTH" -H "$J" \
			    --data-binary '{"done":true}' "$p/records/$id")
			echo "update $st"
			if [ $((k % 3)) = 0 ]; then
				st=$(curl -s --max-time 10 -o /dev/null \
				    -w '%{http_code}' -X DELETE -H "$AUTH" \
				    "$p/records/$id")
				echo "delete $st"
			fi
		fi
		st=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
		    -X POST -H "$AUTH" -H "$J" --data-binary \
		    "{\"type\":\"mark\",\"payload\":{\"w\":\"n$1-$2-$k\"}}" \
		    "$p/events")
		echo "event $st"
	done >"$T/w$1-$2.log"
}

# hopper NAME NODE: reads the stream for 1 to 3 s at a time, then
# resumes on the other node with the last id it got (Last-Event-ID; 0 the
# first time, so that it starts with the first event),
# until $T/final holds the last id and it has it (or 30 s later). Its
# ids, from the complete events of every connection, go to $T/NAME.ids;
# the nodes it read from to $T/NAME.nodes.
hopper() {
	local name=$1 node=$2 last=0 seg=0 p end=
	: >"$T/$name.ids"
	while :; do
		if [ -s "$T/final" ]; then
			[ "$last" -ge "$(cat "$T/final")" ] &&
			    break
			# 30 s to catch up, then the checks below tell
			[ -n "$end" ] || end=$((SECONDS + 30))
			[ "$SECONDS" -lt "$end" ] || break
		fi
		seg=$((seg + 1))
		p=$(node_p "$node")
		curl -sN --max-time "$((1 + RANDOM % 3))" -H "$AUTH" \
		    -H "Last-Event-ID: $last" "$p/events" >"$T/$name.seg" \
		    2>/dev/null
		node "$SC" parse <"$T/$name.seg" |
		    jq -r '.events[].id' >>"$T/$name.ids"
		[ -s "$T/$name.ids" ] && last=$(tail -n 1 "$T/$name.ids")
		echo "$node" >>"$T/$name.nodes"
		node=$((3 - node))
	done
}

# Subscribers that stay: two on each node.
subs a1 "$P1/events" a2 "$P1/events" b1 "$P2/events" b2 "$P2/events" ||
    bail_out "the subscribers did not start"
for h in h1:1 h2:2 h3:1 h4:2; do
	hopper "${h%%:*}" "${h##*:}" &
	bg_track $!
	HOPPERS="${HOPPERS:-} $!"
done
for n in 1 2; do
	for i in 1 2 3 4; do
		writer "$n" "$i" &
		bg_track $!
		WRITERS="${WRITERS:-} $!"
	done
done
diag "writing on both nodes for $RUN s"
sleep "$RUN"
touch "$T/stop"
for pid in $WRITERS; do
	wait "$pid"
done
cat "$T"/w?-?.log >"$T/writes.log"
diag "writes: $(sort "$T/writes.log" | uniq -c | tr '\n' ' ')"
for k in create update delete event; do
	n=$(awk -v k="$k" '$1 == k' "$T/writes.log" | wc -l)
	good=$(awk -v k="$k" '$1 == k && ($2 == 200 || $2 == 201 ||
	    $2 == 202 || $2 == 204)' "$T/writes.log" | wc -l)
	ok "$([ "$n" -gt 0 ] && [ "$good" = "$n" ]; echo $?)" \
	    "writers: every $k answered with success ($good of $n)"
done
for n in 1 2; do
	c=$(cat "$T"/w"$n"-?.log | grep -c '^create 201')
	ok "$([ "$c" -ge 20 ]; echo $?)" "writers: node $n created $c records"
done

# the events table: every committed event of the collection
dbsql "SELECT id FROM events WHERE realm = 'acme' AND app = 'web'
    AND collection = 'posts' ORDER BY id" >"$T/db-ids"
final=$(tail -n 1 "$T/db-ids")
echo "$final" >"$T/final"
diag "$(wc -l <"$T/db-ids") events committed, the last $final"
is "$(awk '$1 == "create" && $2 == 201' "$T/writes.log" | wc -l)" \
    "$(dbsql "SELECT count(*) FROM events WHERE type = 'record_created'")" \
    "events: one record_created per acknowledged create"
is "$(awk '$1 == "event" && $2 == 202' "$T/writes.log" | wc -l)" \
    "$(dbsql "SELECT count(*) FROM events WHERE type = 'mark'")" \
    "events: one custom event per acknowledged one"

for s in a1 a2 b1 b2; do
	wait_until 20 grep -q "^id: $final\$" "$T/$s.out"
	ok $? "$s: got the last event ($final)"
	unsub "$s"
	q "$s" '.events[].id' >"$T/$s.ids"
	is "$(diff "$T/db-ids" "$T/$s.ids" | head -5)" "" \
	    "$s: every committed event once, in order ($(wc -l <"$T/$s.ids") events)"
done
for pid in $HOPPERS; do
	wait "$pid"
done
for s in h1 h2 h3 h4; do
	n1=$(grep -c '^1$' "$T/$s.nodes") n2=$(grep -c '^2$' "$T/$s.nodes")
	ok "$([ "$n1" -ge 3 ] && [ "$n2" -ge 3 ]; echo $?)" \
	    "$s: resumed on both nodes ($n1 and $n2 connections)"
	is "$(diff "$T/db-ids" "$T/$s.ids" | head -5)" "" \
	    "$s: every committed event once, in order across nodes ($(wc -l <"$T/$s.ids") events)"
done
for s in a1 a2 b1 b2 h1 h2 h3 h4; do
	awk 'NR > 1 && $1 + 0 <= prev { bad = 1 } { prev = $1 + 0 }
	    END { exit bad }' "$T/$s.ids" || echo "$s"
done >"$T/unordered"
is "$(cat "$T/unordered")" "" \
    "every subscriber's ids are strictly increasing"

# ======================================================================
# A token revoked through node 2 ends its streams on both nodes and is
# refused by both.
# ======================================================================
RT=$(basalt_cli token create acme web --scope read --label twonodes)
RID=$(basalt_cli token list acme web | awk -F'\t' '$3 == "twonodes" { print $1 }')
sub r1 "$P1/events" -H "Authorization: Bearer $RT"
sub r2 "$P2/events" -H "Authorization: Bearer $RT"
wait_sub r1 && wait_sub r2
ok $? "revoke: a stream on each node with the token"
http DELETE "$URL2$PRE/tokens/$RID" -H "$AUTH"
is "$STATUS" 204 "revoke: DELETE tokens/ID through node 2: 204"
t0=$(date +%s%3N)
wait_until 6 ended r1 && wait_until 6 ended r2
ok $? "revoke: its streams on both nodes end"
diag "revoke: the streams ended in $(( $(date +%s%3N) - t0 )) ms"
grep -q '^event: token_revoked' "$T/r1.out" &&
    grep -q '^event: token_revoked' "$T/r2.out"
ok $? "revoke: both streams got token_revoked"
for u in "$P1" "$P2"; do
	http GET "$u/records" -H "Authorization: Bearer $RT"
	is "$STATUS" 401 "revoke: refused by ${u%%/api*}"
done

is "$(cat "$T"/basalt*.log | grep -c 'Sanitizer\|runtime error')" 0 \
    "no sanitizer report"
ok "$(kill -0 "$BASALT_PID" && kill -0 "$N2_PID"; echo $?)" \
    "both nodes still run"
basalt_stop
is $? 0 "node 1 stops cleanly"
basalt_stop "$N2_PID"
is $? 0 "node 2 stops cleanly"
done_testing
