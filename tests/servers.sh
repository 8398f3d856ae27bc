#!/bin/bash
# basalt behind each web server with the configuration shipped in contrib/
# (lighttpd, nginx, Apache httpd, Caddy), in each run mode (unix socket,
# TCP, two processes behind an nginx upstream, spawned by lighttpd with two
# processes, spawned by spawn-fcgi), the systemd units, and the man pages
# against the README.
#
# Every server gets the same scenario: Authorization reaches basalt, CRUD,
# a subscriber gets a write within a second, heartbeats pass, a client that
# leaves frees its stream, Last-Event-ID and access_token work, a CORS
# preflight (OPTIONS) is passed on. A server
# that is not installed is reported as skipped, test by test.

. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/servers-lib.sh"

need curl jq node

SCENARIO_N=18		# tests in scenario
MINI_N=3		# tests in mini_scenario

# ---------------------------------------------------------------- helpers

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# wait_ms MS CMD...: runs CMD every 20 ms until it succeeds; sets WAITED
# to the milliseconds it took; returns 1 if it never did within MS. The
# time counts from WAIT_FROM (milliseconds, see now_ms) when it is set.
wait_ms() {
	local limit=$1 t0=${WAIT_FROM:-$(now_ms)}
	shift
	WAIT_FROM=
	while ! "$@"; do
		WAITED=$(($(now_ms) - t0))
		[ "$WAITED" -ge "$limit" ] && return 1
		sleep 0.02
	done
	WAITED=$(($(now_ms) - t0))
	return 0
}

# has FILE TEXT: FILE holds TEXT.
has() {
	grep -qF -- "$2" "$1" 2>/dev/null
}

# subscribe OUT URL [CURL ARGS...]: curl -N in the background, the body in
# OUT and the headers in OUT.h. Sets SUB_PID.
subscribe() {
	local out=$1 url=$2
	shift 2
	curl -sN -D "$out.h" "$@" "$url" >"$out" 2>/dev/null &
	SUB_PID=$!
	bg_track "$SUB_PID"
}

unsubscribe() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# event_ids FILE: the id: lines of an event stream, on one line.
event_ids() {
	sed -n 's/^id: *//p' "$1" | tr -d '\r' | tr '\n' ' ' | sed 's/ $//'
}

# create_record TITLE: POST a record; sets STATUS, BODY, RID.
create_record() {
	send POST "$B/collections/posts/records" "{\"title\":\"$1\"}"
	RID=$(jbody .id)
}

# create_records N TITLE: N records, TITLE1 to TITLEN, one after the
# other; sets CREATED to how many got 201, and RID.
create_records() {
	local i
	CREATED=0
	for i in $(seq 1 "$1"); do
		create_record "$2$i"
		[ "$STATUS" = 201 ] && CREATED=$((CREATED + 1))
	done
}

# publish TYPE: a custom event; sets STATUS, EID.
publish() {
	send POST "$B/collections/posts/events" \
	    "{\"type\":\"$1\",\"payload\":{\"n\":1}}"
	EID=$(jbody .id)
}

# ---------------------------------------------------------------- scenario

# scenario NAME: the SCENARIO_N tests through the server at URL.
scenario() {
	local n=$1 sub=$T/sub-$1 k0 k1 last e1 e2 st

	http GET "$URL/api/health"
	if ! is "$STATUS $(jbody '"\(.status) \(.streams)"')" "200 ok 0" \
	    "$n: /api/health answered by basalt"; then
		if [ "$STATUS" = 000 ]; then
			fail_tests $((SCENARIO_N - 1)) "$n: no answer"
			return
		fi
	fi
	http GET "$URL/api/token"
	is "$STATUS" 401 "$n: no Authorization, 401"
	http GET "$URL/api/token" -H "$AUTH"
	is "$STATUS" 200 "$n: the Authorization header reaches basalt" ||
	    diag "body: $BODY"

	create_record crud
	like "$STATUS $RID" '^201 [0-9A-HJKMNP-TV-Z]{26}$' "$n: POST a record"
	http GET "$B/collections/posts/records/$RID" -H "$AUTH"
	is "$STATUS $(jbody .fields.title)" "200 crud" "$n: GET the record"
	send PATCH "$B/collections/posts/records/$RID" '{"n":2}'
	is "$STATUS $(jbody '"\(.fields.title) \(.fields.n)"')" "200 crud 2" \
	    "$n: PATCH the record"
	http GET "$B/collections/posts/records?limit=500" -H "$AUTH"
	is "$STATUS $(jbody "[.items[].id] | index(\"$RID\") != null")" \
	    "200 true" "$n: the list holds the record"
	http DELETE "$B/collections/posts/records/$RID" -H "$AUTH"
	is "$STATUS" 204 "$n: DELETE the record"
	http GET "$B/collections/posts/records/$RID" -H "$AUTH"
	is "$STATUS" 404 "$n: the record is gone"

	# The stream's first bytes must arrive at once, not when a buffer
	# fills or the response ends.
	subscribe "$sub" "$B/collections/posts/events" -H "$AUTH"
	wait_ms 3000 has "$sub" ": basalt stream"
	st=$?
	is "$st $(head -n 1 "$sub.h" | tr -d '\r' | cut -d' ' -f2) $(grep -i '^content-type:' "$sub.h" | tr -d '\r' | cut -d' ' -f2)" \
	    "0 200 text/event-stream" \
	    "$n: the stream opens at once (${WAITED} ms)"
	is "$(health_streams)" 1 "$n: /api/health counts the stream"

	WAIT_FROM=$(now_ms)
	create_record live
	wait_ms 1000 has "$sub" "\"id\":\"$RID\""
	ok $? "$n: the write reaches the subscriber within 1 s of the POST (${WAITED} ms)"
	last=$(grep -B2 -F "\"id\":\"$RID\"" "$sub" | sed -n 's/^id: *//p' |
	    tail -n 1)

	k0=$(grep -c '^:keepalive' "$sub")
	sleep 3.2
	k1=$(grep -c '^:keepalive' "$sub")
	# and no timeout of the server has cut the stream meanwhile
	kill -0 "$SUB_PID" 2>/dev/null
	ok $(($? != 0 || k1 - k0 < 2)) \
	    "$n: heartbeats pass through, the stream stays open ($((k1 - k0)) in 3.2 s)"

	# The server must close basalt's side when the client goes away.
	unsubscribe "$SUB_PID"
	wait_ms 8000 streams_are 0
	ok $? "$n: a client that leaves frees its stream (${WAITED} ms)"

	publish chat
	e1=$EID
	publish chat
	e2=$EID
	curl -sN -m 2 -H "$AUTH" -H "Last-Event-ID: $last" \
	    "$B/collections/posts/events" >"$sub.resume" 2>/dev/null
	is "$(event_ids "$sub.resume")" "$e1 $e2" \
	    "$n: Last-Event-ID $last resumes with the events after it"
	curl -sN -m 2 \
	    "$B/collections/posts/events?access_token=$RTOKEN&last_event_id=$last" \
	    >"$sub.query" 2>/dev/null
	is "$(event_ids "$sub.query")" "$e1 $e2" \
	    "$n: ?access_token= and ?last_event_id= pass through"

	http GET "$URL/_/"
	is "$STATUS $(header Content-Type | cut -d';' -f1)" "200 text/html" \
	    "$n: the dashboard at /_/ is served by basalt"

	http OPTIONS "$B/collections/posts/records" -H "Origin: $PAGE_ORIGIN" \
	    -H 'Access-Control-Request-Method: POST' \
	    -H 'Access-Control-Request-Headers: authorization,content-type'
	is "$STATUS|$(header Access-Control-Allow-Origin)|$(header Access-Control-Allow-Methods)" \
	    "204|$PAGE_ORIGIN|GET, HEAD, POST" \
	    "$n: a CORS preflight (OPTIONS, no token) reaches basalt"
}

# mini_scenario NAME: the MINI_N tests of a run mode through URL.
mini_scenario() {
	local n=$1 sub=$T/mini-$1 st rc

	http GET "$URL/api/health"
	is "$STATUS $(jbody .status)" "200 ok" "$n: /api/health answers"
	subscribe "$sub" "$B/collections/posts/events" -H "$AUTH"
	wait_ms 3000 has "$sub" ": basalt stream"
	WAIT_FROM=$(now_ms)
	create_record "$n"
	st=$STATUS
	wait_ms 1000 has "$sub" "\"id\":\"$RID\""
	rc=$?
	is "$st" 201 "$n: POST a record"
	ok $rc "$n: the write reaches the subscriber within 1 s of the POST (${WAITED} ms)"
	unsubscribe "$SUB_PID"
}

# server NAME STARTER: basalt on $T/basalt.sock, the server started by
# STARTER with its contrib config, then the scenario.
server() {
	local name=$1 start=$2
	if ! have_server "$name"; then
		skip_tests $((SCENARIO_N + 1)) "$name: $WHY_MISSING"
		return
	fi
	if ! basalt_start; then
		fail_tests $((SCENARIO_N + 1)) "$name: basalt did not start"
		return
	fi
	if ! $start; then
		fail_tests $((SCENARIO_N + 1)) "$name did not start"
		basalt_stop
		return
	fi
	ok 0 "$name runs with contrib's config on port $PORT"
	B=$URL/api/realms/acme/apps/web
	scenario "$name"
	stop_pid "$SERVER_PID"
	basalt_stop
}

# ---------------------------------------------------------------- setup

basalt_config
demo_setup
PAGE_ORIGIN=https://page.example
basalt_cli app cors acme web "$PAGE_ORIGIN" || bail_out "app cors failed"
# the same database, the listen socket on fd 0
sed '/^listen /d' "$T/basalt.conf" >"$T/basalt-fd0.conf"

# ---------------------------------------------------------------- servers

server lighttpd lighttpd_contrib_start
server nginx nginx_start
server apache apache_start
server caddy caddy_start

# ---------------------------------------------------------------- TCP

if have_server lighttpd; then
	P=$(free_port)
	if basalt_start --listen "127.0.0.1:$P" && lighttpd_contrib_start \
	    "127.0.0.1:$P"; then
		B=$URL/api/realms/acme/apps/web
		mini_scenario "basalt on TCP"
		stop_pid "$SERVER_PID"
	else
		fail_tests "$MINI_N" "basalt on TCP: did not start"
	fi
	basalt_stop
else
	skip_tests "$MINI_N" "TCP mode: $WHY_MISSING"
fi

# ---------------------------------------------------------------- upstream

# Two basalt processes on one database behind nginx's upstream, as the
# README shows: nginx alternates, so each process holds two of the four
# streams, and every write reaches all four.
all_four() {
	local i
	for i in 1 2 3 4; do
		has "$T/up-$i" "\"id\":\"$RID\"" || return 1
	done
}

if have_server nginx; then
	pa= pb=
	basalt_start --listen "$T/a.sock" && pa=$BASALT_PID &&
	    basalt_start --listen "$T/b.sock" && pb=$BASALT_PID
	NGINX_HTTP="upstream basalt { server unix:$T/a.sock; server unix:$T/b.sock; }"
	if [ -n "$pb" ] && nginx_start basalt; then
		B=$URL/api/realms/acme/apps/web
		subs=
		for i in 1 2 3 4; do
			subscribe "$T/up-$i" "$B/collections/posts/events" \
			    -H "$AUTH"
			subs="$subs $SUB_PID"
			wait_ms 3000 has "$T/up-$i" ": basalt stream"
		done
		is "$(health_streams) $(health_streams)" "2 2" \
		    "upstream: nginx spreads four streams over two processes"
		WAIT_FROM=$(now_ms)
		create_record upstream1
		wait_ms 1000 all_four
		ok $? "upstream: a write reaches all four within 1 s (${WAITED} ms)"
		WAIT_FROM=$(now_ms)
		create_record upstream2
		wait_ms 1000 all_four
		ok $? "upstream: and the next one (${WAITED} ms)"
		for i in $subs; do
			unsubscribe "$i"
		done
		stop_pid "$SERVER_PID"
	else
		fail_tests 3 "upstream: nginx or basalt did not start"
	fi
	NGINX_HTTP=
	[ -n "$pa" ] && basalt_stop "$pa"
	[ -n "$pb" ] && basalt_stop "$pb"
else
	skip_tests 3 "upstream: $WHY_MISSING"
fi

# ---------------------------------------------------------------- kept connections

# nginx keeping its FastCGI connections to basalt open (fastcgi_keep_conn
# and an upstream keepalive pool, as the README shows): requests reuse a
# connection, a stream still gets its events, and its end (the client
# leaving) does not disturb the requests after it.
basalt_conns() {
	ss -xH 2>/dev/null | grep -cF "$T/basalt.sock"
}

if have_server nginx && command -v ss >/dev/null 2>&1; then
	NGINX_HTTP="upstream basalt { server unix:$T/basalt.sock; keepalive 8; }
	fastcgi_keep_conn on;"
	if basalt_start && nginx_start basalt; then
		B=$URL/api/realms/acme/apps/web
		create_records 20 keep
		is "$CREATED" 20 "kept connections: 20 creates in a row, all 201"
		n=$(basalt_conns)
		ok "$([ "$n" -ge 1 ] && [ "$n" -le 8 ]; echo $?)" \
		    "kept connections: nginx keeps $n connection(s) to basalt between requests"
		http GET "$B/collections/posts/records/$RID" -H "$AUTH"
		is "$STATUS $(jbody .id)" "200 $RID" \
		    "kept connections: the last record reads back"
		subscribe "$T/keep-sub" "$B/collections/posts/events" -H "$AUTH"
		wait_ms 3000 has "$T/keep-sub" ": basalt stream"
		WAIT_FROM=$(now_ms)
		create_record keep-live
		wait_ms 1000 has "$T/keep-sub" "\"id\":\"$RID\""
		ok $? "kept connections: a write reaches the stream (${WAITED} ms)"
		unsubscribe "$SUB_PID"
		wait_ms 5000 streams_are 0
		ok $? "kept connections: the stream is gone once its client left (${WAITED} ms)"
		create_records 10 after
		is "$CREATED" 10 "kept connections: 10 more creates after it, all 201"
		stop_pid "$SERVER_PID"
	else
		fail_tests 6 "kept connections: nginx or basalt did not start"
	fi
	NGINX_HTTP=
	basalt_stop
else
	skip_tests 6 "kept connections: ${WHY_MISSING:-ss (iproute2) is not installed}"
fi

# ---------------------------------------------------------------- bin-path

# fd0_socket PID: fd 0 of PID is a socket.
fd0_socket() {
	[[ $(readlink "/proc/$1/fd/0" 2>/dev/null) == socket:* ]]
}

both_have() {
	has "$T/spawn-a" "\"id\":\"$RID\"" && has "$T/spawn-b" "\"id\":\"$RID\""
}

gone() {
	local p
	for p in "$@"; do
		kill -0 "$p" 2>/dev/null && return 1
	done
	return 0
}

if have_server lighttpd; then
	if lighttpd_spawn_start "$T/basalt-fd0.conf"; then
		read -r p1 p2 rest <<<"$SPAWNED"
		is "$(echo $SPAWNED | wc -w) $(readlink /proc/$p1/exe) $(readlink /proc/$p2/exe)" \
		    "2 $(readlink -f "$BASALT") $(readlink -f "$BASALT")" \
		    "bin-path: lighttpd spawned two basalt processes"
		fd0_socket "$p1" && fd0_socket "$p2"
		ok $? "bin-path: each has its listen socket on fd 0"
		B=$URL/api/realms/acme/apps/web
		http GET "$URL/api/health"
		is "$STATUS $(jbody .status)" "200 ok" "bin-path: /api/health answers"
		# lighttpd gives a new request to the least busy process, so
		# the two subscribers land on different processes: each then
		# reports one stream.
		subscribe "$T/spawn-a" "$B/collections/posts/events" -H "$AUTH"
		sa=$SUB_PID
		wait_ms 3000 has "$T/spawn-a" ": basalt stream"
		subscribe "$T/spawn-b" "$B/collections/posts/events" -H "$AUTH"
		sb=$SUB_PID
		wait_ms 3000 has "$T/spawn-b" ": basalt stream"
		is "$(health_streams) $(health_streams)" "1 1" \
		    "bin-path: one subscriber on each process"
		WAIT_FROM=$(now_ms)
		create_record spawn1
		wait_ms 1000 both_have
		ok $? "bin-path: a write reaches the subscribers of both processes within 1 s (${WAITED} ms)"
		WAIT_FROM=$(now_ms)
		create_record spawn2
		wait_ms 1000 both_have
		ok $? "bin-path: and the next one (${WAITED} ms)"
		unsubscribe "$sa"
		unsubscribe "$sb"
		stop_pid "$SERVER_PID"
		wait_ms 5000 gone $SPAWNED
		ok $? "bin-path: the processes end with lighttpd"
	else
		fail_tests 7 "bin-path: lighttpd did not start"
	fi
else
	skip_tests 7 "bin-path: $WHY_MISSING"
fi

# ---------------------------------------------------------------- spawn-fcgi

if ! have_server spawn-fcgi; then
	skip_tests $((MINI_N + 4)) "spawn-fcgi: $WHY_MISSING"
elif ! have_server lighttpd; then
	skip_tests $((MINI_N + 4)) "spawn-fcgi: $WHY_MISSING"
elif spawnfcgi_start "$T/basalt-fd0.conf" "$T/fcgi.sock"; then
	is "$(readlink "/proc/$SPAWNFCGI_PID/exe")" "$(readlink -f "$BASALT")" \
	    "spawn-fcgi -n: basalt runs in its place, in the foreground"
	fd0_socket "$SPAWNFCGI_PID"
	ok $? "spawn-fcgi: the listen socket is on fd 0"
	if lighttpd_contrib_start "$T/fcgi.sock"; then
		B=$URL/api/realms/acme/apps/web
		mini_scenario "spawn-fcgi"
		stop_pid "$SERVER_PID"
	else
		fail_tests "$MINI_N" "spawn-fcgi: lighttpd did not start"
	fi
	test -s "$T/basalt-spawnfcgi.log"
	ok $? "spawn-fcgi: basalt logs to stderr"
	stop_pid "$SPAWNFCGI_PID"
	is "$?" 0 "spawn-fcgi: SIGTERM stops basalt with status 0"
else
	fail_tests $((MINI_N + 4)) "spawn-fcgi: basalt did not start"
fi

# ---------------------------------------------------------------- systemd

if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$T/units"
	cp "$CONTRIB/systemd/basalt.socket" "$T/units/"
	sed -e "s|@bindir@/basalt|$BASALT|" \
	    -e "s|@sysconfdir@/basalt.conf|$T/basalt-fd0.conf|" \
	    "$CONTRIB/systemd/basalt.service.in" >"$T/units/basalt.service"
	out=$(cd "$T/units" && systemd-analyze verify --man=no \
	    basalt.socket basalt.service 2>&1)
	is "$?:$out" "0:" "systemd-analyze verify accepts the units"
else
	skip_tests 1 "systemd-analyze is not installed"
fi

# ---------------------------------------------------------------- man pages

if command -v mandoc >/dev/null 2>&1; then
	out=$(mandoc -T lint -W warning "$top_srcdir/man/basalt.8" \
	    "$top_srcdir/man/basalt.conf.5" 2>&1)
	is "$?:$out" "0:" "mandoc -T lint finds no warning in the man pages"
else
	skip_tests 1 "mandoc is not installed"
fi

# described FILE PATTERN NAME: counts NAME into n, and adds it to missing
# when no line of FILE matches PATTERN.
described() {
	n=$((n + 1))
	grep -q "$2" "$1" || missing="$missing $3"
}

# all_described DESC: ok when n counted something and nothing is missing;
# starts the count again.
all_described() {
	[ "$n" -gt 0 ] && [ -z "$missing" ]
	ok $? "$1 ($n)" || diag "missing:$missing"
	missing= n=0
}

# Every key of the README's configuration table has its entry.
missing= n=0
for k in $(awk '/^Configuration$/ { in_conf = 1; next }
    in_conf && /^[|]/ { print; seen = 1; next }
    in_conf && seen { exit }' "$top_srcdir/README" |
    sed -n 's/^| \([a-z_]*\) .*/\1/p' | grep -v '^key$'); do
	described "$top_srcdir/man/basalt.conf.5" "^\.It Ic $k " "$k"
done
all_described "basalt.conf(5) describes every key of the README"

# Every command and option of the README's CLI synopsis has its entry.
raw=$(awk '/^The admin CLI$/ { in_cli = 1; next }
    in_cli && /^    / { print; seen = 1; next }
    in_cli && seen { exit }' "$top_srcdir/README")
cli=$(sed 's/^ *basalt \[[^]]*\]\( \[[^]]*\]\)*//' <<<"$raw")
for c in $(tr '|' '\n' <<<"$cli" |
    sed -n 's/^ *\([a-z][a-z-]*\)\( \([a-z][a-z-]*\)\)\{0,1\}.*/\1_\3/p' |
    sort -u); do
	c=${c%_}
	[ -n "$c" ] || continue
	described "$top_srcdir/man/basalt.8" "^\.It Cm ${c/_/ }\( \|$\)" \
	    "${c/_/ }"
done
for o in $(grep -oE -- '[ []-{1,2}[a-z][a-z0-9-]*' <<<"$raw" | cut -c2- | sort -u); do
	described "$top_srcdir/man/basalt.8" "Fl ${o#-}\( \|$\)" "$o"
done
all_described "basalt(8) describes every command and option of the README"

if [ "$_tap_failed" -ne 0 ]; then
	for f in "$T"/lighttpd/error-*.log "$T"/nginx/logs/error.log \
	    "$T"/apache/error.log "$T"/caddy/caddy.log; do
		[ -s "$f" ] || continue
		diag "--- last lines of $f"
		diag "$(tail -n 20 "$f")"
	done
fi
done_testing
