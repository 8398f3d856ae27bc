#!/bin/bash
# SIGHUP under load, through lighttpd: while clients write (with a before
# hook and an after hook) and streams read, basalt reloads its config and
# hooks many times over. Every write is answered and streamed once, in
# order; the reloaded values take effect; SIGTERM still ends it cleanly.
# Under `make check-tsan` the same run must leave no ThreadSanitizer
# report (the configuration used to be rewritten under running threads).

. "$top_srcdir/tests/lib.sh"

need lighttpd jq

WRITERS=3
WRITES=${RELOAD_WRITES:-40}
STREAMS=10

HK=$T/hooks/acme/web
mkdir -p "$HK"
cat >"$HK/10-stamp.js" <<'EOF'
onRecordCreate("posts", function (e) { e.record.fields.stamped = true; });
onRecordAfterCreate("posts", function (e) { });
EOF

# Two configs that differ in every key a reload may change.
basalt_config heartbeat_interval=2 max_body_size=2m retry_ms=1500 \
    hook_timeout_ms=2000 request_timeout=40 stream_buffer_limit=2m \
    event_retention_count=200000 log_level=info "dashboard_dir=$T/www"
mv "$T/basalt.conf" "$T/conf1"
basalt_config heartbeat_interval=1 max_body_size=1m retry_ms=1000 \
    hook_timeout_ms=1000 request_timeout=30 stream_buffer_limit=1m \
    event_retention_count=100000 log_level=debug
cp "$T/basalt.conf" "$T/conf0"
# conf N: config N % 2 in place, renamed so that a reload never reads half.
conf() {
	cp "$T/conf$(($1 % 2))" "$T/conf.tmp" && mv "$T/conf.tmp" "$T/basalt.conf"
}
post_big() {
	send POST "$P/records" "@$T/big.json"
	[ "$STATUS" = "$1" ]
}

basalt_start || bail_out "basalt serve did not start"
lighttpd_start || bail_out "lighttpd did not start"
demo_setup

for i in $(seq 1 $STREAMS); do
	curl -sN -H "$AUTH" "$P/events" >"$T/s$i.out" 2>/dev/null &
	bg_track $!
	eval "S$i=$!"
done
wait_until 10 eval '[ "$(grep -l "^retry: " "$T"/s*.out 2>/dev/null | wc -l)" = $STREAMS ]'
ok $? "$STREAMS streams open"

# Every fourth write waits for the next SIGHUP, so that the reloads fall
# between the writes however fast the machine answers them.
echo 0 >"$T/hups"
next_hup() {
	local seen=$1 n=0
	while [ "$(cat "$T/hups")" -le "$seen" ] && [ $n -lt 500 ]; do
		sleep 0.01
		n=$((n + 1))
	done
}
writer() {
	local i
	for i in $(seq 1 "$WRITES"); do
		[ $((i % 4)) = 0 ] && next_hup "$(cat "$T/hups")"
		curl -s -o /dev/null -w '%{http_code}\n' -H "$AUTH" -H "$J" \
		    -d "{\"w\":$1,\"i\":$i}" "$P/records"
	done >"$T/w$1.codes"
}
pids=()
for w in $(seq 1 $WRITERS); do
	writer "$w" &
	pids+=($!)
done
hups=0
while kill -0 "${pids[@]}" 2>/dev/null; do
	hups=$((hups + 1))
	conf "$hups"
	kill -HUP "$BASALT_PID"
	echo "$hups" >"$T/hups.tmp" && mv "$T/hups.tmp" "$T/hups"
	sleep 0.05
done
wait "${pids[@]}"
diag "$hups SIGHUPs during $((WRITERS * WRITES)) writes"
ok "$([ "$hups" -ge 10 ]; echo $?)" "at least 10 SIGHUPs under load (got $hups)"
is "$(sort "$T"/w*.codes | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')" \
    "201x$((WRITERS * WRITES)) " "every write answered 201"

total=$((WRITERS * WRITES))
all_streamed() {
	local i
	for i in $(seq 1 $STREAMS); do
		[ "$(grep -c '^event: record_created' "$T/s$i.out")" -ge $total ] ||
		    return 1
	done
}
wait_until 20 all_streamed
ok $? "every stream got all $total record_created events"
bad=0
for i in $(seq 1 $STREAMS); do
	ids=$(sed -n 's/^id: //p' "$T/s$i.out")
	[ "$(sort -n <<<"$ids" | uniq | tr '\n' ' ')" = "$(tr '\n' ' ' <<<"$ids")" ] ||
	    bad=$((bad + 1))
	[ "$(grep -c '"stamped":true' "$T/s$i.out")" = $total ] || bad=$((bad + 1))
done
is "$bad" 0 "each stream: ids increase, none twice, every record went through the hook"

# The last reload's values are the ones in force.
{ printf '{"big":"'; head -c 1500000 /dev/zero | tr '\0' a; printf '"}'; } >"$T/big.json"
conf 1
kill -HUP "$BASALT_PID"
wait_until 5 post_big 201
ok $? "after reload: max_body_size=2m lets 1.5 MB in"
conf 2
kill -HUP "$BASALT_PID"
wait_until 5 post_big 413
ok $? "after reload: max_body_size=1m refuses it (413)"

basalt_stop
is $? 0 "SIGTERM: basalt exits 0 after the reloads, streams open"

done_testing
