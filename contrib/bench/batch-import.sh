#!/bin/bash
# Imports records with curl through lighttpd in batches, as a user's script
# would: RECORDS records ({"n":N,"pad":...}, about 200 bytes, the shape
# of `basalt-bench crud`) in POST .../batch requests of BATCH, one curl
# after the other, against a new basalt on a new database. Prints the
# records per second of the import alone (the request bodies are written
# before the clock starts) and checks every answer.
#
#   contrib/bench/batch-import.sh [--basalt PATH] [--records N] [--batch N]
#                                 [--parallel P]
#
# --parallel runs P curls at once, each on its own share of the batches.
# Needs lighttpd, curl and jq. Measure a build without sanitizers.
# Uses tests/lib.sh, as contrib/bench/run does.

set -u

BASALT=${BASALT:-./basalt}
RECORDS=100000
BATCH=1000
PAR=1
while [ $# -gt 0 ]; do
	case $1 in
	--basalt) BASALT=$2; shift ;;
	--records) RECORDS=$2; shift ;;
	--batch) BATCH=$2; shift ;;
	--parallel) PAR=$2; shift ;;
	*) echo "usage: $0 [--basalt PATH] [--records N] [--batch N]" \
	    "[--parallel P]" >&2; exit 64 ;;
	esac
	shift
done
command -v lighttpd >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
for c in lighttpd curl jq; do
	command -v $c >/dev/null 2>&1 || { echo "$0: needs $c" >&2; exit 1; }
done
[ -x "$BASALT" ] || { echo "$0: no basalt at $BASALT" >&2; exit 1; }
BASALT=$(cd "$(dirname "$BASALT")" && pwd)/$(basename "$BASALT")

# tests/lib.sh gives the temporary folder $T, starts basalt and lighttpd
# and stops them at exit.
. "$(dirname "$0")/../../tests/lib.sh"
basalt_config log_level=warn
basalt_start || exit 1
lighttpd_start || exit 1
BPID=$BASALT_PID
basalt_cli realm create acme >/dev/null &&
    basalt_cli app create acme web >/dev/null &&
    basalt_cli collection create acme web posts >/dev/null &&
    TOKEN=$(basalt_cli token create acme web --scope write --label import \
    2>/dev/null) || { echo "$0: the admin CLI failed" >&2; exit 1; }

# The bodies, written before the clock starts.
NB=$(( (RECORDS + BATCH - 1) / BATCH ))
PAD=$(printf '%*s' 170 '' | tr ' ' x)
awk -v n="$RECORDS" -v b="$BATCH" -v pad="$PAD" -v dir="$T" 'BEGIN {
	for (i = 0; i < n; i++) {
		f = sprintf("%s/batch-%06d.json", dir, int(i / b))
		if (i % b == 0)
			printf "{\"requests\":[" > f
		else
			printf "," > f
		printf "{\"method\":\"POST\",\"path\":\"collections/posts/records\",\"body\":{\"n\":%d,\"pad\":\"%s\"}}", i, pad > f
		if (i % b == b - 1 || i == n - 1) {
			printf "]}" > f
			close(f)
		}
	}
}'

BATCH_URL=$URL/api/realms/acme/apps/web/batch
import() {
	local k=$1 f
	for f in "$T"/batch-*.json; do
		n=${f##*batch-}; n=$((10#${n%.json}))
		[ $((n % PAR)) = "$k" ] || continue
		curl -s -o "$f.out" -w '%{http_code}\n' -H "Authorization: Bearer $TOKEN" \
		    -H 'Content-Type: application/json' --data-binary "@$f" "$BATCH_URL"
	done >"$T/status-$k"
}
# basalt's CPU (utime + stime) in clock ticks
cpu() { awk '{ print $14 + $15 }' "/proc/$BPID/stat"; }
CPU0=$(cpu)
START=$(date +%s.%N)
IMPORTS=
for k in $(seq 0 $((PAR - 1))); do
	import "$k" &
	IMPORTS="$IMPORTS $!"
done
wait $IMPORTS
END=$(date +%s.%N)
CPU1=$(cpu)

OK=$(cat "$T"/status-* | grep -c '^200$')
STORED=$(cat "$T"/batch-*.json.out | jq -s '[.[].responses | length] | add')
awk -v s="$START" -v e="$END" -v r="$RECORDS" -v b="$BATCH" -v nb="$NB" \
    -v ok="$OK" -v st="$STORED" -v p="$PAR" -v hz="$(getconf CLK_TCK)" \
    -v c="$((CPU1 - CPU0))" 'BEGIN {
	printf "RESULT records=%d batch=%d parallel=%d batches_ok=%d/%d " \
	    "stored=%d seconds=%.2f records_per_s=%.0f basalt_cpu_s=%.2f " \
	    "basalt_us_per_record=%.1f\n", r, b, p, ok, nb, st, e - s,
	    r / (e - s), c / hz, c / hz * 1e6 / r
}'
[ "$OK" = "$NB" ] && [ "$STORED" = "$RECORDS" ]
