#!/bin/bash
# A tiny run of the load generator, so that it never rots: 20 subscribers
# and 50 events over FastCGI directly and through lighttpd, short CRUD
# runs (one of lists with a query), and the socketpair ceiling. Every delivery must be accounted for.

. "$top_srcdir/tests/lib.sh"

need_bench
need lighttpd

demo_start log_level=info

# fanout NAME ARGS...: 20 subscribers, 50 events at 100/s.
fanout() {
	local name=$1 log=$T/$1.log
	shift
	"$BENCH" fanout -n 20 -r 100 -d 0.5 --drain 2 --settle 0.3 \
	    --prefix "$PREFIX" --token "$TOKEN" --pid "$BASALT_PID" "$@" \
	    >"$log" 2>&1
	is "$?" 0 "$name: the bench exits 0"
	is "$(bench_result "$log" published)" 50 "$name: 50 events published"
	is "$(bench_result "$log" pub_failed)" 0 "$name: no publish failed"
	is "$(bench_result "$log" expected)" 1000 "$name: 1000 deliveries expected"
	is "$(bench_result "$log" delivered)" 1000 "$name: 1000 delivered"
	is "$(bench_result "$log" missing)" 0 "$name: 0 missing"
	is "$(bench_result "$log" duplicates)" 0 "$name: 0 duplicates"
	is "$(bench_result "$log" out_of_order)" 0 "$name: 0 out of order"
	is "$(bench_result "$log" mismatch)" 0 \
	    "$name: every subscriber saw the same ids"
	like "$(bench_result "$log" lat_p50_us)" '^[0-9]+\.[0-9]$' \
	    "$name: latency is reported"
	like "$(bench_result "$log" rss_idle_kb)" '^[1-9][0-9]*$' \
	    "$name: basalt's RSS is read from /proc"
	[ "$_tap_failed" -eq 0 ] || diag "$(cat "$log")"
}

fanout direct --fcgi "$T/basalt.sock"
fanout lighttpd --http "127.0.0.1:$PORT"
fanout direct-records --fcgi "$T/basalt.sock" --kind records

log=$T/crud.log
"$BENCH" crud --op create -c 4 -d 1 --fcgi "$T/basalt.sock" \
    --prefix "$PREFIX" --token "$TOKEN" >"$log" 2>&1
is "$?" 0 "crud: the bench exits 0"
like "$(bench_result "$log" ok)" '^[1-9][0-9]*$' "crud: records were created"
is "$(bench_result "$log" failed)" 0 "crud: no request failed"
n=$(bench_result "$log" ok)
http GET "$URL$PREFIX/records?limit=500" -H "$AUTH"
is "$STATUS" 200 "crud: the records can be listed"
like "$BODY" '"n":0,' "crud: the first created record is there"

log=$T/crud-get.log
"$BENCH" crud --op mix -c 4 -d 1 --preload 20 --http "127.0.0.1:$PORT" \
    --prefix "$PREFIX" --token "$TOKEN" >"$log" 2>&1
is "$?" 0 "crud mix through lighttpd: the bench exits 0"
like "$(bench_result "$log" get_per_s)" '^[1-9][0-9]*$' \
    "crud mix: gets were made"
is "$(bench_result "$log" failed)" 0 "crud mix: no request failed"

log=$T/crud-query.log
"$BENCH" crud --op list -c 2 -d 0.5 --preload 0 --fcgi "$T/basalt.sock" \
    --prefix "$PREFIX" --token "$TOKEN" \
    --query 'filter=fields.n%20%3C%205&sort=-fields.n&limit=3' >"$log" 2>&1
is "$?" 0 "crud list --query: the bench exits 0"
like "$(bench_result "$log" list_per_s)" '^[1-9][0-9]*$' \
    "crud list --query: lists were made"

log=$T/ceiling.log
"$BENCH" ceiling -n 50 -d 1 >"$log" 2>&1
is "$?" 0 "ceiling: the bench exits 0"
like "$(bench_result "$log" deliveries_per_s)" '^[1-9][0-9]{3,}$' \
    "ceiling: deliveries per second are reported"
diag "$(grep -h '^RESULT' "$T"/*.log | cut -c1-200)"
[ -n "$n" ] && diag "crud created $n records"

done_testing
