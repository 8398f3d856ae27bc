#!/bin/bash
# A stream holds one of basalt's descriptors, and service managers and
# shells start processes with a soft open-file limit of 1,024 or less:
# basalt raises its soft limit to the hard one at start, says so in its
# log, and then holds more streams than the soft limit it was started
# with.

. "$top_srcdir/tests/lib.sh"

need_bench
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge 2000 ] ||
    skip_all "the hard open-file limit ($hard) is below 2,000"

basalt_config log_level=info
basalt_cli realm create acme >/dev/null &&
    basalt_cli app create acme web >/dev/null &&
    basalt_cli collection create acme web posts >/dev/null
TOKEN=$(basalt_cli token create acme web --scope read,write 2>/dev/null)
PREFIX=/api/realms/acme/apps/web/collections/posts

# Started with a soft limit of 256: 600 streams need more. (The shell
# may raise its own soft limit again, up to the hard one.)
ulimit -Sn 256
basalt_start || bail_out "basalt did not start"
ulimit -Sn "$hard"
soft=$(awk '/^Max open files/ { print $4 }' "/proc/$BASALT_PID/limits")
is "$soft" "$(ulimit -Hn)" "the soft open-file limit is raised to the hard one"
like "$(cat "$T/basalt.log")" "open-file limit $(ulimit -Hn)" \
    "the log says the limit in force"

log=$T/bench.log
"$BENCH" fanout -n 600 -r 20 -d 1 --drain 5 --settle 0.5 \
    --connect-conc 32 --kind events --fcgi "$T/basalt.sock" \
    --prefix "$PREFIX" --token "$TOKEN" --pid "$BASALT_PID" >"$log" 2>&1
is "$?" 0 "600 streams: the bench exits 0"
is "$(bench_result "$log" failed_subs)" 0 "600 streams: every stream opened"
is "$(bench_result "$log" expected)" 12000 "600 streams: 12,000 deliveries due"
is "$(bench_result "$log" delivered)" 12000 "600 streams: 12,000 delivered"
is "$(bench_result "$log" missing)" 0 "600 streams: none missing"
[ "$_tap_failed" -eq 0 ] || diag "$(cat "$log")"

done_testing
