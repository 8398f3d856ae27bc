#!/bin/bash
# contrib/bench/basalt-floor, the minimal FastCGI streamer that basalt is
# measured against: 200 subscribers get every record created, once and in
# order, over FastCGI directly and through lighttpd; a stream through
# lighttpd carries the same bytes as basalt's for the same write (but for
# ids and times), with heartbeats; a reader that stops reading loses
# nothing and gets its backlog in shared records, and a stream that
# closes is freed.

. "$top_srcdir/tests/lib.sh"

need_bench
need lighttpd jq node

FLOOR=$top_builddir/contrib/bench/basalt-floor
[ -x "$FLOOR" ] || skip_all "contrib/bench/basalt-floor is not built"

# basalt behind lighttpd, for the bytes to compare with.
demo_start
BURL=$URL

"$FLOOR" --listen "$T/floor.sock" --heartbeat 1 2>"$T/floor.log" &
FLOOR_PID=$!
bg_track "$FLOOR_PID"
wait_until 10 unix_open "$T/floor.sock" || bail_out "basalt-floor did not start"
lighttpd_start "$T/floor.sock" || bail_out "lighttpd did not start"
FURL=$URL

# fanout NAME ARGS...: 200 subscribers, 100 records created at 100/s.
fanout() {
	local name=$1 log=$T/$1.log
	shift
	"$BENCH" fanout -n 200 -r 100 -d 1 --drain 5 --settle 0.5 \
	    --prefix "$PREFIX" --token unused --pid "$FLOOR_PID" "$@" \
	    >"$log" 2>&1
	is "$?" 0 "$name: the bench exits 0"
	is "$(bench_result "$log" failed_subs)" 0 "$name: 200 streams opened"
	is "$(bench_result "$log" published)" 100 "$name: 100 published"
	is "$(bench_result "$log" pub_failed)" 0 "$name: no publish failed"
	is "$(bench_result "$log" expected)" 20000 \
	    "$name: 20,000 deliveries due"
	is "$(bench_result "$log" delivered)" 20000 "$name: 20,000 delivered"
	is "$(bench_result "$log" missing)" 0 "$name: none missing"
	is "$(bench_result "$log" duplicates)" 0 "$name: none twice"
	is "$(bench_result "$log" out_of_order)" 0 "$name: none out of order"
	is "$(bench_result "$log" mismatch)" 0 \
	    "$name: the same ids on every stream"
	is "$(bench_result "$log" ended)" 0 "$name: no stream ended early"
	[ "$_tap_failed" -eq 0 ] || diag "$(cat "$log")"
}

fanout fastcgi --kind records --fcgi "$T/floor.sock"
fanout lighttpd --kind records --http "127.0.0.1:${FURL##*:}"
fanout "lighttpd, custom events" --kind events \
    --http "127.0.0.1:${FURL##*:}"

# The same writes to basalt and to the floor, each read by curl -N
# through lighttpd.
sub basalt "$BURL$PREFIX/events" -H "$AUTH"
sub floor "$FURL$PREFIX/events?types=record_created"
wait_sub basalt && wait_sub floor
ok $? "both streams opened"
rec='{"t":123,"seq":5,"pad":"xxxx"}'
ev='{"type":"bench","payload":{"t":1,"seq":2,"pad":"x"}}'
for s in basalt floor; do
	[ "$s" = basalt ] && u=$BURL || u=$FURL
	http POST "$u$PREFIX/records" -H "$AUTH" -H "$J" --data-binary "$rec"
	eval "${s}_rs=\$STATUS ${s}_rb=\$BODY"
	eval "${s}_rl=\$(header Location)"
	http POST "$u$PREFIX/events" -H "$AUTH" -H "$J" --data-binary "$ev"
	eval "${s}_es=\$STATUS ${s}_eb=\$(jq -c '.id |= 0' <<<\"\$BODY\")"
done
wait_events basalt 2 && wait_events floor 2
ok $? "both streams got the two events"
wait_until 5 grep -q '^:keepalive$' "$T/floor.out"
ok $? "the floor's stream gets heartbeats"

# norm: ids, record ids and times made equal; heartbeats left out.
norm() {
	sed -E 's/^id: [0-9]+$/id: N/; s/"id":"[0-9A-Z]{26}"/"id":"ULID"/g;
	    s/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z/TIME/g' |
	    awk '/^:keepalive$/ { skip = 1; next } skip && $0 == "" { skip = 0;
		next } { skip = 0; print }'
}
is "$(norm <"$T/floor.out")" "$(norm <"$T/basalt.out")" \
    "the stream's bytes are basalt's, but for ids and times"
heads() {
	tr -d '\r' <"$T/$1.h" | grep -v -i -E '^(date|x-request-id):'
}
is "$(heads floor)" "$(heads basalt)" \
    "the stream's headers are basalt's, but for the request id and date"
like "$(sheader floor X-Request-Id)" '^[0-9a-f]{16}$' \
    "the stream has a request id"
is "$floor_rs" "$basalt_rs" "a record create: $basalt_rs, as basalt"
is "${#floor_rb}" "${#basalt_rb}" \
    "its answer is as long as basalt's (${#basalt_rb} bytes)"
is "$(norm <<<"$floor_rb")" "$(norm <<<"$basalt_rb")" \
    "its answer is basalt's, but for the id and times"
like "$floor_rl" "^$PREFIX/records/[0-9A-Z]{26}\$" \
    "its Location names the record"
is "$floor_es" "$basalt_es" "a custom event: $basalt_es, as basalt"
like "$basalt_eb" '"type":"bench"' "basalt answers the custom event with its type"
is "$floor_eb" "$basalt_eb" "its answer is basalt's, but for the id"
http POST "$FURL$PREFIX/records" -H "$J" --data-binary '[1]'
is "$STATUS" 400 "a record that is no object: 400"
is "$(jbody .error.status)" 400 "with a JSON error"
http POST "$FURL$PREFIX/events" -H "$J" --data-binary '{"payload":1}'
is "$STATUS" 400 "a custom event without a type: 400"
http GET "$FURL/api/health"
is "$STATUS" 404 "anything else: 404"
is "$(jbody .error.code)" not_found "with a JSON error"
# A path long enough that the answer's headers with its Location take
# more than 1 kB: they are sent all the same.
long=$(printf '%*s' 1200 '' | tr ' ' c)
http POST "$FURL/api/realms/acme/apps/web/collections/$long/records" \
    -H "$J" --data-binary '{"a":1}'
is "$STATUS" 201 "a record create on a path of over 1,200 bytes: 201"
like "$(header Location)" "/$long/records/[0-9A-Z]{26}\$" \
    "its Location names the record"

# A reader that stops reading: the floor queues its stream (lighttpd
# stops taking it when its own buffer is full) and loses nothing.
sub slow "$FURL$PREFIX/events"
wait_sub slow
n0=$(nevents slow)
kill -STOP "$SUB_slow"
pad=$(printf '%*s' 30000 '' | tr ' ' y)
for i in $(seq 200); do
	printf '{"type":"big","payload":{"i":%d,"pad":"%s"}}\n' "$i" "$pad"
done >"$T/big.json"
while read -r line; do
	curl -s -o /dev/null -w '%{http_code}\n' -H "$J" \
	    --data-binary "$line" "$FURL$PREFIX/events"
done <"$T/big.json" | grep -v -c '^202$' >"$T/big.fails"
is "$(cat "$T/big.fails")" 0 "200 events of 30 kB each published"
kill -CONT "$SUB_slow"
wait_until 20 has_events slow $((n0 + 200))
is "$(grep -c '^event: big$' "$T/slow.out")" 200 \
    "the stopped reader gets all 200 once it reads again"
is "$(grep -A1 '^event: big$' "$T/slow.out" | grep -o '"i":[0-9]*' |
    awk -F: '$2 != NR { bad++ } END { print bad + 0 }')" 0 \
    "in order"

# A stream straight on the socket that reads nothing for 6 s while 300
# events of 4 kB come: the backlog the floor queues goes out with the
# events that reach the stream together in one STDOUT record, as basalt
# sends them, each event whole and no record over 65,535 bytes.
LATE_MS=6000 node "$FP" late "$T/floor.sock" 1 30 "$PREFIX/events" \
    >"$T/late.json" &
LATE=$!
bg_track "$LATE"
wait_until 5 grep -q ready "$T/late.json"
pad=$(printf '%*s' 4000 '' | tr ' ' z)
printf '{"type":"backlog","payload":{"pad":"%s"}}' "$pad" >"$T/small.json"
urls=()
for i in $(seq 300); do
	urls+=("$FURL$PREFIX/events")
done
curl -s -w '\n%{http_code}\n' -H "$J" \
    --data-binary @"$T/small.json" "${urls[@]}" >"$T/small.codes"
is "$(grep -c '^202$' "$T/small.codes")" 300 "300 events of 4 kB published"
sleep 7
kill -TERM "$LATE"
wait "$LATE"
late=$(tail -n 1 "$T/late.json")
per=$(jq -c '[.stdout[0][] | [scan("(?m)^event: backlog$")] | length |
    select(. > 0)]' <<<"$late")
diag "events per STDOUT record: $per"
is "$(jq 'add' <<<"$per")" 300 "the late reader gets the 300 events"
ok "$(jq -e 'max > 1' <<<"$per" >/dev/null; echo $?)" \
    "its backlog came in shared records"
is "$(jq '[.stdout[0][1:][] | select(test("^(id: [0-9]+\nevent: [a-z]+\n"
    + "data: [^\n]*\n\n|:keepalive\n\n)+$") | not)] | length' <<<"$late")" 0 \
    "every record after the opening holds whole events"
is "$(jq '[.stdout[0][] | utf8bytelength | select(. > 65535)] | length' \
    <<<"$late")" 0 "no record is over 65,535 bytes"

# A record of another type (FCGI_GET_VALUES's answer) queued on a stream
# after an event's: the next event starts a record of its own instead of
# going into the bytes at the place the event's record began, taken for
# its header.
"$FLOOR" --listen "$T/floor2.sock" --heartbeat 86400 2>"$T/floor2.log" &
F2=$!
bg_track "$F2"
wait_until 10 unix_open "$T/floor2.sock" || bail_out "a second floor did not start"
tail=$(timeout 60 node "$top_srcdir/tests/floor-tail.mjs" "$T/floor2.sock")
diag "$tail"
is "$(jq -c '[.parsed, .events, .last_whole]' <<<"$tail")" '[true,102,true]' \
    "GET_VALUES on a stream behind: every record well formed, every event whole"
stop_pid "$F2"

# Closed streams are freed: the floor holds no connection for them.
socks() {
	find "/proc/$FLOOR_PID/fd" -lname 'socket:*' 2>/dev/null | wc -l
}
only_listening() {
	[ "$(socks)" -eq 1 ]
}
kill "$SUB_slow" "$SUB_floor" 2>/dev/null
wait_until 10 only_listening
ok $? "closed streams are freed (the floor holds $(socks) socket)"
kill -0 "$FLOOR_PID"
ok $? "the floor still runs"
stop_pid "$FLOOR_PID"
is "$?" 0 "SIGTERM: the floor exits 0"
[ ! -e "$T/floor.sock" ]
ok $? "and removes its socket"

done_testing
