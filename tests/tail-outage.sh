#!/bin/bash
# The tail while PostgreSQL is away: a stream stays open with its
# heartbeats, basalt says once that it cannot read the event log and once
# that it reads it again, and the events committed after the server is
# back reach the same stream, next in line; the same when the server
# stops answering instead, while the heartbeats keep their interval and
# a client that resumes meanwhile gets its events once it answers.

BASALT_TEST_DB=pg
. "$top_srcdir/tests/lib.sh"

need lighttpd jq
pg_available || skip_all "PostgreSQL is not installed"

# Each database call waits up to 3 s: long enough that a read on the
# loop, while the server does not answer, would show as heartbeats
# missing.
demo_start log_level=info database_timeout_ms=3000

# keepalives NAME: the heartbeats NAME got so far.
keepalives() {
	grep -c '^:keepalive' "$T/$1.out"
}

sub s1 "$P/events" -H "$AUTH"
wait_sub s1
ok $? "a stream opens"
send POST "$P/records" '{"n":1}'
is "$STATUS" 201 "a create"
wait_events s1 1
ok $? "the stream gets it"
first=$(grep '^id: ' "$T/s1.out" | tail -n 1 | cut -c5-)

pg_stop
ok $? "PostgreSQL stopped"
k0=$(keepalives s1)
sleep 4			# heartbeat_interval=1; the tail retries meanwhile
ok "$([ "$(keepalives s1)" -ge $((k0 + 2)) ]; echo $?)" \
    "the stream's heartbeats go on ($k0, then $(keepalives s1))"
ok "$(ended s1; [ $? -ne 0 ]; echo $?)" "the stream stays open"
is "$(grep -c 'reading the event log failed; will retry' "$T/basalt.log")" 1 \
    "basalt says once that it cannot read the log"

pg_start
ok $? "PostgreSQL started again"
wait_until 10 grep -q 'reading the event log again' "$T/basalt.log"
ok $? "basalt says that it reads the log again"
# Writes work again once the writer has connected again.
created() {
	send POST "$P/records" '{"n":2}'
	[ "$STATUS" = 201 ]
}
wait_until 10 created
ok $? "a create after the outage"
wait_events s1 2 10
ok $? "the same stream gets it"
is "$(grep '^id: ' "$T/s1.out" | tail -n 1 | cut -c5-)" $((first + 1)) \
    "its id is the next after the last before the outage"
is "$(grep -c 'reading the event log failed' "$T/basalt.log")" 1 \
    "and no more complaints"

# A server that stops answering (its processes stopped): every call has
# a time limit, so the tail gives up and tries again while the stream
# keeps its heartbeats.
# Meanwhile a client resumes with the id of the first event, trying
# again as EventSource does until it has its stream: it gets the second
# event from the log, then the third as it comes, once the server
# answers again.
pids="$PG_PID $(pgrep -P "$PG_PID" | tr '\n' ' ')"
kill -STOP $pids
ok $? "PostgreSQL stops answering"
k0=$(keepalives s1)
: >"$T/s2.tries"
(
	until grep -q '^HTTP/[0-9.]* 200' "$T/s2.h" 2>/dev/null; do
		curl -sN -D "$T/s2.h" -H "$AUTH" -H "Last-Event-ID: $first" \
		    "$P/events" >"$T/s2.out" 2>/dev/null
		head -n 1 "$T/s2.h" >>"$T/s2.tries"
		sleep 0.3
	done
) &
SUB_s2=$!
bg_track $SUB_s2
sleep 6			# heartbeat_interval=1
k1=$(keepalives s1)
ok "$([ "$k1" -ge $((k0 + 5)) ]; echo $?)" \
    "the heartbeats keep their interval: $((k1 - k0)) in 6 s"
ok "$(ended s1; [ $? -ne 0 ]; echo $?)" "the stream stays open"
diag "the resuming client's tries: $(tr -d '\r' <"$T/s2.tries" | sort |
    uniq -c | tr '\n' ';')"
kill -CONT $pids
ok $? "PostgreSQL answers again"
wait_until 15 created
ok $? "a create after it"
wait_events s1 3 15
ok $? "the same stream gets it"
is "$(grep '^id: ' "$T/s1.out" | tail -n 1 | cut -c5-)" $((first + 2)) \
    "next in line"
wait_events s2 2 15
ok $? "the resumed stream opens and gets its events"
is "$(grep '^id: ' "$T/s2.out" | cut -c5- | tr '\n' ' ')" \
    "$((first + 1)) $((first + 2)) " \
    "the one after its id from the log, then the new one, once each"

basalt_stop
ok "$(grep -qE 'Sanitizer|runtime error:' "$T/basalt.log"; [ $? -ne 0 ]
    echo $?)" "no sanitizer report in basalt's log"

done_testing
