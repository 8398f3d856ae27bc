#!/bin/bash
# The tail under a burst: 100,000 events committed at once by another
# process (the database's shell, as a second basalt would). basalt reads
# them in batches on its tail thread, at most 8 waiting for the loop, and
# the loop publishes them, answering requests meanwhile; every reader
# gets every event once and in order; a client that does not read is cut
# off without holding anything up; and the streams go on afterwards.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq node
if on_pg; then need psql; else need sqlite3; fi

N=100000
demo_start log_level=info

# reader R: a client through lighttpd that reconnects with Last-Event-ID
# when its stream is closed (falling behind during the burst closes it,
# as it should), until it has the event after the burst. Its frames go to
# $T/rR.out, one line per connection to $T/rR.conns.
reader() {
	local r=$1 last=$n0
	while [ "$last" -le $((n0 + N)) ]; do
		echo "$last" >>"$T/r$r.conns"
		curl -sN --max-time 150 -H "$AUTH" -H "Last-Event-ID: $last" \
		    "$URL$PREFIX/events" >"$T/r$r.part"
		# complete frames only: id, event, data, blank line
		awk '/^id: / { i = $0; getline e; getline d; getline b
		    if (e ~ /^event: / && d ~ /^data: / && b == "")
			print i "\n" e "\n" d "\n" }' "$T/r$r.part" \
		    >>"$T/r$r.out"
		last=$(grep '^id: ' "$T/r$r.out" | tail -n 1 | cut -c5-)
		last=${last:-$n0}
	done
}

n0=$(dbsql 'SELECT coalesce(max(id), 0) FROM events')
: >"$T/r1.out"
: >"$T/r2.out"
for r in 1 2; do
	reader $r &
	bg_track $!
	eval "READER$r=$!"
done
# and a FastCGI peer that reads nothing for 5 s.
LATE_MS=5000 node "$FP" late "$T/basalt.sock" 1 120 "$PREFIX/events" "$TOKEN" \
    >"$T/stall.json" 2>"$T/stall.err" &
STALL=$!
bg_track $STALL
wait_until 10 streams_are 3
ok $? "3 streams open (health: $(jbody .streams))"

# seen R: the last id reader R has seen, on a stream ended or open.
seen() {
	cat "$T/r$1.out" "$T/r$1.part" 2>/dev/null | grep '^id: ' |
	    tail -n 1 | cut -c5-
}
# upto R ID: reader R has seen ID.
upto() {
	[ "$(seen "$1")" -ge "$2" ] 2>/dev/null
}

# /api/health, asked over and over while the burst goes out: how long
# each answer took, in seconds.
(
	while :; do
		curl -s -o /dev/null -w '%{http_code} %{time_total}\n' \
		    --max-time 10 "$URL/api/health"
		sleep 0.02
	done
) >"$T/health.times" &
PROBE=$!
bg_track $PROBE
sleep 0.5
if on_pg; then
	# ids from log_head, as basalt's own appends take them
	dbsql "WITH h AS (UPDATE log_head SET last_id = last_id + $N
	    RETURNING last_id)
	    INSERT INTO events (id, created_ms, realm, app, collection,
	    record_id, type, data) SELECT h.last_id - $N + k, 0, 'acme', 'web',
	    'posts', NULL, 'burst', '{\"k\":' || k || '}'
	    FROM h, generate_series(1, $N) AS k"
else
	dbsql "WITH RECURSIVE c(k) AS
	    (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < $N)
	    INSERT INTO events (created_ms, realm, app, collection, record_id,
	    type, data) SELECT 0, 'acme', 'web', 'posts', NULL, 'burst',
	    '{\"k\":' || k || '}' FROM c"
fi
ok $? "burst: $N events committed in one transaction by another process"
t0=$(date +%s)
wait_until 150 upto 1 $((n0 + N))
wait_until 150 upto 2 $((n0 + N))
ok $? "burst: both readers saw the last of it after $(($(date +%s) - t0)) s"
sleep 0.5
stop_pid $PROBE

# And the streams go on: a write after the burst reaches both readers.
send POST "$P/records" '{"after":"burst"}'
is "$STATUS" 201 "a create after the burst"
wait_until 10 upto 1 $((n0 + N + 1))
ok $? "reader 1: gets it"
wait_until 10 upto 2 $((n0 + N + 1))
ok $? "reader 2: gets it"
# The peer that did not read was cut off meanwhile, as too far behind.
gone() {
	! kill -0 "$@" 2>/dev/null
}
wait_until 20 gone $STALL
ok $? "the peer that did not read was closed"
is "$(tail -n 1 "$T/stall.json" | jq -r .closed)" 1 \
    "the peer saw basalt close it"
like "$(grep 'closing a stream' "$T/basalt.log")" 'bytes behind' \
    "basalt says why"

# Stopping basalt ends the streams: the readers take their last frames.
basalt_stop
wait_until 10 gone $READER1 $READER2
ok $? "the readers' last streams ended with basalt"
stop_pid $READER1
stop_pid $READER2
for r in 1 2; do
	diag "reader $r connected $(wc -l <"$T/r$r.conns") times"
done

for r in 1 2; do
	ids=$(grep '^id: ' "$T/r$r.out" | sed 's/^id: //')
	is "$(wc -l <<<"$ids")" $((N + 1)) "reader $r: $N events and the create's, none twice"
	is "$(head -n 1 <<<"$ids")" $((n0 + 1)) "reader $r: the first is the first committed"
	is "$(tail -n 1 <<<"$ids")" $((n0 + N + 1)) "reader $r: the last is the create's"
	is "$(awk 'NR > 1 && $1 != p + 1 { bad++ } { p = $1 }
	    END { print bad + 0 }' <<<"$ids")" 0 "reader $r: ids ascend one by one"
	is "$(grep -c '^data: {"k":' "$T/r$r.out")" $N \
	    "reader $r: each event of the burst carries its data"
done
cmp -s "$T/r1.out" "$T/r2.out"
ok $? "the two readers got the same bytes"

# The loop answered during the burst: every probe got 200. (How fast is
# shown, not judged: on a shared machine it says more about the machine.)
probes=$(wc -l <"$T/health.times")
ok $(( probes >= 10 ? 0 : 1 )) "health: asked $probes times during the burst"
is "$(awk '$1 != 200' "$T/health.times" | wc -l)" 0 "health: always 200"
diag "health: the slowest answer took" \
    "$(sort -k2 -g "$T/health.times" | tail -n 1 | cut -d' ' -f2) s"

is "$(dbsql 'SELECT max(id) FROM events')" $((n0 + N + 1)) \
    "the log's last id is that create's"
ok "$(grep -qE 'Sanitizer|runtime error:' "$T/basalt.log"; [ $? -ne 0 ]
    echo $?)" "no sanitizer report in basalt's log"

done_testing
