#!/bin/bash
# Fan-out to more streams than basalt writes in one turn of its loop
# (FLUSH_STREAMS, 1,024), with events published faster than one pass over
# the streams takes: every subscriber gets every event once, in order, and
# a curl -N reader through lighttpd sees the same events byte for byte in
# SSE framing. Then a burst of events and SIGTERM right behind it: the
# streams get every event the tail had read before END_REQUEST.

. "$top_srcdir/tests/lib.sh"

BENCH=$top_builddir/contrib/bench/basalt-bench
[ -x "$BENCH" ] || skip_all "contrib/bench/basalt-bench is not built"
command -v lighttpd >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
command -v lighttpd >/dev/null 2>&1 || skip_all "lighttpd is not installed"

ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 6000 ] ||
    skip_all "2,500 streams need 6,000 open files, the limit is $(ulimit -n)"

basalt_config log_level=info
basalt_start || bail_out "basalt did not start"
lighttpd_start || bail_out "lighttpd did not start"
demo_setup
PREFIX=/api/realms/acme/apps/web/collections/posts
J='Content-Type: application/json'

result() {
	grep '^RESULT' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'
}

# A reader through the web server, from now on.
curl -sN --max-time 120 -H "$AUTH" "$URL$PREFIX/events" >"$T/curl.out" &
CURL_PID=$!
bg_track "$CURL_PID"
wait_until 5 grep -q . "$T/curl.out" 2>/dev/null
sleep 0.5

# 2,500 streams over FastCGI, 300 events at 300/s: a pass over the streams
# takes several turns, and events arrive while it goes on.
log=$T/bench.log
"$BENCH" fanout -n 2500 -r 300 -d 1 --drain 10 --settle 0.5 \
    --connect-conc 64 --kind events --fcgi "$T/basalt.sock" \
    --prefix "$PREFIX" --token "$TOKEN" --pid "$BASALT_PID" >"$log" 2>&1
is "$?" 0 "2,500 streams: the bench exits 0"
is "$(result "$log" published)" 300 "2,500 streams: 300 events published"
is "$(result "$log" pub_failed)" 0 "2,500 streams: no publish failed"
is "$(result "$log" failed_subs)" 0 "2,500 streams: every stream opened"
is "$(result "$log" expected)" 750000 "2,500 streams: 750,000 deliveries due"
is "$(result "$log" delivered)" 750000 "2,500 streams: 750,000 delivered"
is "$(result "$log" missing)" 0 "2,500 streams: none missing"
is "$(result "$log" duplicates)" 0 "2,500 streams: none twice"
is "$(result "$log" out_of_order)" 0 "2,500 streams: none out of order"
is "$(result "$log" mismatch)" 0 "2,500 streams: the same ids on every stream"
is "$(result "$log" ended)" 0 "2,500 streams: no stream ended early"
[ "$_tap_failed" -eq 0 ] || diag "$(cat "$log")"

# The curl reader saw the same 300 events: ids ascending by one, each
# frame "id:", "event: bench", "data:" and a blank line.
wait_until 10 test "$(grep -c '^id: ' "$T/curl.out")" -ge 300
ids=$(grep '^id: ' "$T/curl.out" | sed 's/^id: //')
is "$(wc -l <<<"$ids")" 300 "curl through lighttpd: 300 events"
is "$(awk 'NR > 1 && $1 != p + 1 { bad++ } { p = $1 } END { print bad + 0 }' \
    <<<"$ids")" 0 "curl: ids ascend one by one"
is "$(grep -c '^event: bench$' "$T/curl.out")" 300 "curl: 300 bench events"
is "$(grep -c '^data: {"t":' "$T/curl.out")" 300 \
    "curl: each data line is the published payload"
is "$(awk '/^id: / { getline e; getline d; getline b;
    if (e !~ /^event: / || d !~ /^data: / || b != "") bad++ }
    END { print bad + 0 }' "$T/curl.out")" 0 \
    "curl: every frame is id, event, data, blank line"

# A burst of 1,000 events to 2,000 streams, and SIGTERM as soon as the
# last one is committed, while the fan-out is usually still behind (the
# log line "ending N streams" says how many were open): every stream
# gets every committed event, then the end of its request.
n0=$(sqlite3 "$T/basalt.db" 'SELECT count(*) FROM events')
curl -sN --max-time 60 -H "$AUTH" "$URL$PREFIX/events" >"$T/burst.out" &
BURST_PID=$!
bg_track "$BURST_PID"
wait_until 5 grep -q . "$T/burst.out" 2>/dev/null
log=$T/burst.log
"$BENCH" fanout -n 2000 -r 10000 -d 0.1 --drain 30 --settle 0.5 \
    --pub-conc 16 --connect-conc 64 --kind events \
    --fcgi "$T/basalt.sock" --prefix "$PREFIX" --token "$TOKEN" \
    >"$log" 2>&1 &
BENCH_PID=$!
committed() {
	[ "$(sqlite3 "$T/basalt.db" 'SELECT count(*) FROM events' \
	    2>/dev/null)" -ge $((n0 + 1000)) ] 2>/dev/null
}
i=0
while ! committed && [ $i -lt 6000 ]; do sleep 0.01; i=$((i + 1)); done
ok "$(committed; echo $?)" "burst: 1,000 events committed"
kill -TERM "$BASALT_PID"
wait "$BENCH_PID"
wait "$BURST_PID"
wait_until 10 eval '! kill -0 "$BASALT_PID" 2>/dev/null'
diag "$(grep 'stopping:' "$T/basalt.log")"
last=$(sqlite3 "$T/basalt.db" 'SELECT max(id) FROM events')
like "$last" '^[0-9]+$' "burst: the event log's last id is readable"
is "$(grep '^id: ' "$T/burst.out" | tail -n 1 | sed 's/^id: //')" "$last" \
    "burst: the curl reader got the last committed event before the end"
is "$(grep -c '^id: ' "$T/burst.out")" 1000 "burst: curl got 1,000 events"
is "$(result "$log" published)" 1000 "burst: 1,000 published"
is "$(result "$log" missing)" 0 "burst: no event missing on 2,000 streams"
is "$(result "$log" duplicates)" 0 "burst: none twice"
is "$(result "$log" out_of_order)" 0 "burst: none out of order"
[ "$_tap_failed" -eq 0 ] || diag "$(cat "$log")"

done_testing
