#!/bin/bash
# Fan-out to more streams than basalt writes in one turn of its loop
# (FLUSH_STREAMS, 1,024), with events published faster than one pass over
# the streams takes: every subscriber gets every event once, in order, and
# a curl -N reader through lighttpd sees the same events byte for byte in
# SSE framing. Then a burst of events and SIGTERM right behind it: the
# streams get every event the tail had read before END_REQUEST.

. "$top_srcdir/tests/lib.sh"

need_bench
need lighttpd
need_files 6000 "2,500 streams need 6,000 open files"

demo_start log_level=info

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
is "$(bench_result "$log" published)" 300 "2,500 streams: 300 events published"
is "$(bench_result "$log" pub_failed)" 0 "2,500 streams: no publish failed"
is "$(bench_result "$log" failed_subs)" 0 "2,500 streams: every stream opened"
is "$(bench_result "$log" expected)" 750000 \
    "2,500 streams: 750,000 deliveries due"
is "$(bench_result "$log" delivered)" 750000 "2,500 streams: 750,000 delivered"
is "$(bench_result "$log" missing)" 0 "2,500 streams: none missing"
is "$(bench_result "$log" duplicates)" 0 "2,500 streams: none twice"
is "$(bench_result "$log" out_of_order)" 0 "2,500 streams: none out of order"
is "$(bench_result "$log" mismatch)" 0 \
    "2,500 streams: the same ids on every stream"
is "$(bench_result "$log" ended)" 0 "2,500 streams: no stream ended early"
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

# SIGTERM right behind a commit by another process (here the sqlite3
# shell or psql, as a second basalt would): 2,000 idle streams first, then
# two curl readers, which come last in the fan-out, after the first 1,024
# streams of a pass. basalt reads the log once more when it stops and
# finishes every pass before the streams end, so both readers get all 300
# events and then the end of the response.
"$BENCH" idle -n 2000 -d 60 --settle 0.5 --connect-conc 64 \
    --fcgi "$T/basalt.sock" --prefix "$PREFIX" --token "$TOKEN" \
    >"$T/idle.log" 2>&1 &
bg_track $!
streams_at_least() {
	http GET "$URL/api/health"
	[ "$(jbody .streams)" -ge "$1" ] 2>/dev/null
}
wait_until 60 streams_at_least 2000
ok $? "stop: 2,000 idle streams open (health: $(jbody .streams))"
for r in 1 2; do
	curl -sN --max-time 60 -H "$AUTH" "$URL$PREFIX/events" \
	    >"$T/last$r.out" &
	bg_track $!
	eval "LAST$r=$!"
done
wait_until 10 streams_at_least 2002
n0=$(dbsql 'SELECT max(id) FROM events')
if on_pg; then
	dbsql "WITH h AS (UPDATE log_head SET last_id = last_id + 300
	    RETURNING last_id - 300 AS base)
	    INSERT INTO events (id, created_ms, realm, app, collection,
	    record_id, type, data) SELECT h.base + k, 0, 'acme', 'web',
	    'posts', NULL, 'note', '{\"k\":' || k || '}'
	    FROM h, generate_series(1, 300) AS k" >/dev/null
else
	sqlite3 "$T/basalt.db" ".timeout 5000" "WITH RECURSIVE c(k) AS
	    (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < 300)
	    INSERT INTO events (created_ms, realm, app, collection, record_id,
	    type, data) SELECT 0, 'acme', 'web', 'posts', NULL, 'note',
	    '{\"k\":' || k || '}' FROM c"
fi && kill -TERM "$BASALT_PID"
ok $? "stop: 300 events committed by another process, then SIGTERM"
wait "$LAST1"
is $? 0 "stop: the first reader's response ended cleanly"
wait "$LAST2"
is $? 0 "stop: the second reader's response ended cleanly"
like "$(grep 'stopping:' "$T/basalt.log")" 'ending 200[0-9] streams' \
    "stop: 2,000 streams and more were open"
for r in 1 2; do
	is "$(grep -c '^event: note$' "$T/last$r.out")" 300 \
	    "stop: reader $r got the 300 events"
	is "$(grep '^id: ' "$T/last$r.out" | head -n 1)" "id: $((n0 + 1))" \
	    "stop: reader $r starts at the first of them"
	is "$(grep '^id: ' "$T/last$r.out" | tail -n 1)" "id: $((n0 + 300))" \
	    "stop: reader $r ends at the last"
done

done_testing
