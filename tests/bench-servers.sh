#!/bin/bash
# A short run of `contrib/bench/run --servers`, so that it never rots:
# 200 HTTP subscribers and 40 record creates through every installed web
# server with its contrib/ config, nchan, and the floor behind each
# server when it is built. Every run delivers every event; the table has
# a row per target, and a size above the open-file limit is skipped by
# every target with the reason. Then --at-limit under a low limit.

. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/servers-lib.sh"

need_bench
need curl
FLOOR_BIN=$top_builddir/contrib/bench/basalt-floor
NCHAN_SO=${NCHAN_SO:-/usr/lib/nginx/modules/ngx_nchan_module.so}

# The targets the run must make, from what is installed.
targets=
if have_server nginx && [ -f "$NCHAN_SO" ]; then
	targets=nchan
else
	diag "no nchan: its run is left out"
fi
for s in lighttpd nginx apache caddy; do
	if ! have_server "$s"; then
		diag "$s: $WHY_MISSING"
		continue
	fi
	targets="$targets basalt-$s"
	[ -x "$FLOOR_BIN" ] && targets="$targets floor-$s"
done
[ -n "$targets" ] || skip_all "no web server is installed"
[ -x "$FLOOR_BIN" ] || diag "no $FLOOR_BIN: the floor's runs are left out"

files=$(ulimit -Hn)
[ "$files" = unlimited ] && files=1048576
log=$T/run.log
out=$T/results
bash "$top_srcdir/contrib/bench/run" --servers --basalt "$BASALT" \
    --bench "$BENCH" --floor-bin "$FLOOR_BIN" -d 2 --drain 1 --reps 1 \
    --sizes "200x20 ${files}x1" --out "$out" >"$log" 2>&1
is "$?" 0 "run --servers exits 0"

# res LABEL KEY: KEY of LABEL's RESULT line.
res() {
	awk -v l="$1" -v k="$2" '$1 == l { for (i = 3; i <= NF; i++) {
		split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$out"
}

for t in $targets; do
	l=$t@200x20
	is "$(grep -c "^$l RESULT" "$out")" 1 "$t: one run"
	is "$(res "$l" published)" 40 "$t: 40 events published"
	is "$(res "$l" expected)" 8000 "$t: 8000 deliveries due"
	is "$(res "$l" delivered)" 8000 "$t: 8000 delivered"
	is "$(res "$l" missing)/$(res "$l" duplicates)/$(res "$l" out_of_order)" \
	    0/0/0 "$t: none missing, twice or out of order"
	like "$(res "$l" cpu_server_s)" '^[0-9]+\.[0-9]+$' \
	    "$t: the web server's CPU is read"
	if [ "$t" = nchan ]; then
		is "$(res "$l" cpu_backend_s)" "" "$t: no backend"
	else
		like "$(res "$l" cpu_backend_s)" '^[0-9]+\.[0-9]+$' \
		    "$t: the backend's CPU is read apart"
	fi
	like "$(awk -v t="$t" '$1 == t' "$log")" \
	    "^$t +[0-9]+ +[0-9.]+ +[0-9.]+ +0 " \
	    "$t: its row in the table, 0 missing"
	like "$(grep -F "skipped: $t at $files x 1: " "$log")" \
	    "need [0-9]+ descriptors .*the limit is $files" \
	    "$t: skips $files streams, and says why"
	like "$(sed -n "/^$files subscribers x 1 /,\$p" "$log" | awk -v t="$t" '$1 == t')" \
	    "^$t +skipped: $files streams need " "$t: the skip is in that size's table"
done

# The settings the bench adds are listed, each server's own.
added=$(sed -n '/^== 200 subscribers/,/^== /p' "$log")
if have_server lighttpd; then
	like "$added" "lighttpd: .*server\.max-fds = $files" \
	    "lighttpd: the raised server.max-fds is listed"
fi
if have_server nginx; then
	like "$added" "nginx: worker_processes 1; worker_rlimit_nofile $files" \
	    "nginx: its workers and their open-file limit are listed"
fi
if have_server apache; then
	like "$added" "apache: ServerLimit 2; .*MaxRequestWorkers 500" \
	    "apache: the event MPM's sizes are listed"
fi
if have_server caddy; then
	like "$added" "caddy: none" "caddy: nothing is added"
fi

[ "$_tap_failed" -eq 0 ] || diag "$(cat "$log")"

# --at-limit under a limit of 700 open files a process: lighttpd holds
# (630 - 200) / 2 streams (it stops accepting at 90 % of max-fds), nchan
# 700 - 200; each runs at that count.
if have_server lighttpd; then
	failed=$_tap_failed
	log=$T/limit.log
	out=$T/limit-results
	(ulimit -n 700 && bash "$top_srcdir/contrib/bench/run" --servers lighttpd \
	    --basalt "$BASALT" --bench "$BENCH" --floor-bin "$FLOOR_BIN" -d 2 \
	    --drain 1 --reps 1 --sizes "" --at-limit 10 --out "$out") \
	    >"$log" 2>&1
	is "$?" 0 "run --at-limit exits 0"
	limit_targets="basalt-lighttpd:215"
	[ -x "$FLOOR_BIN" ] && limit_targets="$limit_targets floor-lighttpd:215"
	[[ " $targets " = *" nchan "* ]] && limit_targets="nchan:500 $limit_targets"
	for tn in $limit_targets; do
		t=${tn%:*} n=${tn#*:}
		l=$t@limit
		is "$(res "$l" subs)" "$n" "$t at the limit: $n streams"
		is "$(res "$l" delivered)" $((n * 20)) \
		    "$t at the limit: $((n * 20)) delivered"
		is "$(res "$l" missing)/$(res "$l" failed_subs)" 0/0 \
		    "$t at the limit: none missing, every stream opened"
		like "$(awk -v t="$t" '$1 == t' "$log")" \
		    "^$t +$n +[0-9]+ +[0-9.]+ +[0-9.]+ +0 " \
		    "$t at the limit: its row in the table"
	done
	[ "$_tap_failed" -eq "$failed" ] || diag "$(cat "$log")"
fi
done_testing
