#!/bin/bash
# A tiny run of the load generator, so that it never rots: 20 subscribers
# and 50 events over FastCGI directly and through lighttpd, short CRUD
# runs (one of lists with a query), and the socketpair ceiling; records
# of ten owners to streams filtered on their owner, and to end users'
# streams that sign in with JWTs under an owner rule. Every delivery must
# be accounted for.

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

# Records of 10 owners (fields.owner "u0" to "u9"), 50 of them at 100/s.
# owners NAME ARGS...: 20 streams, stream i for owner u(i mod 10); each
# write is due to the two streams of its owner and to no other (with
# --unfiltered: to every stream).
owners() {
	local name=$1 due=$2 log=$T/$1.log
	shift 2
	"$BENCH" fanout -n 20 --owners 10 -r 100 -d 0.5 --drain 2 \
	    --settle 0.3 --kind records --fcgi "$T/basalt.sock" \
	    --prefix "$PREFIX" --token "$TOKEN" --pid "$BASALT_PID" "$@" \
	    >"$log" 2>&1
	is "$?" 0 "$name: the bench exits 0"
	is "$(bench_result "$log" published)" 50 "$name: 50 records created"
	is "$(bench_result "$log" failed_subs)" 0 "$name: every stream opened"
	is "$(bench_result "$log" expected)" "$due" \
	    "$name: $due deliveries due"
	is "$(bench_result "$log" delivered)" "$due" "$name: $due delivered"
	is "$(bench_result "$log" missing)" 0 "$name: 0 missing"
	is "$(bench_result "$log" duplicates)" 0 "$name: 0 duplicates"
	is "$(bench_result "$log" out_of_order)" 0 "$name: 0 out of order"
	is "$(bench_result "$log" unexpected)" 0 \
	    "$name: no stream got another owner's record"
	[ "$_tap_failed" -eq 0 ] || diag "$(cat "$log")"
}

owners owners-all 1000 --unfiltered
owners owners-filter 100

# The same with end users: the app trusts HS256 JWTs signed with a
# secret, the list rule shows each user its own records, and stream i
# signs in with a JWT of user u(i mod 10) that the bench makes.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/jwt.key"
basalt_cli app jwt acme web --hs256-secret-file "$T/jwt.key" >/dev/null
is "$?" 0 "the app trusts JWTs signed with the secret"
basalt_cli collection rules acme web posts \
    --list 'fields.owner = @token.sub' >/dev/null
is "$?" 0 "the list rule is set"
jwt=$("$BENCH" jwt --jwt-secret-file "$T/jwt.key" --user u3 --jwt-ttl 600)
http GET "$B/token" -H "Authorization: Bearer $jwt"
is "$STATUS" 200 "a JWT made by the bench is accepted"
is "$(jbody '.kind + " " + .sub')" "jwt u3" "it is user u3's"
owners owners-jwt 100 --jwt-secret-file "$T/jwt.key"
like "$(grep '^RESULT' "$T/owners-jwt.log")" ' streams_by=jwt ' \
    "owners-jwt: the streams signed in with JWTs"

log=$T/ceiling.log
"$BENCH" ceiling -n 50 -d 1 >"$log" 2>&1
is "$?" 0 "ceiling: the bench exits 0"
like "$(bench_result "$log" deliveries_per_s)" '^[1-9][0-9]{3,}$' \
    "ceiling: deliveries per second are reported"
diag "$(grep -h '^RESULT' "$T"/*.log | cut -c1-200)"
[ -n "$n" ] && diag "crud created $n records"

done_testing
