#!/bin/sh
# Runs each libFuzzer target of fuzz-bin/ (see build.sh) for FUZZ_SECONDS
# (default 60), one after the other, niced, on a corpus kept in
# fuzz-bin/corpus/TARGET seeded from fuzz/corpus/TARGET (and tests/json
# for json). Prints one line per target, "ok TARGET: ..." or
# "not-ok TARGET: ...", and exits 1 if any
# target crashed, leaked, hit undefined behaviour or timed out; the input
# is kept as fuzz-bin/crash-TARGET-* and the log as fuzz-bin/TARGET.log.
#
#	sh fuzz/run.sh [TARGET...]	(from the build tree; default: all)
set -u
: "${srcdir:=$(cd "$(dirname "$0")/.." && pwd)}" "${FUZZ_SECONDS:=60}"
bin=fuzz-bin
[ $# -gt 0 ] || set -- json fcgi route config sse filter jwt
failed=0
for t in "$@"; do
	prog=$bin/fuzz-$t
	if [ ! -x "$prog" ]; then
		echo "not-ok $t: no $prog (make fuzz)"
		failed=1
		continue
	fi
	mkdir -p "$bin/corpus/$t"
	set -- -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$bin/crash-$t-"
	[ -f "$srcdir/fuzz/$t.dict" ] && set -- "$@" -dict="$srcdir/fuzz/$t.dict"
	[ $t = config ] && set -- "$@" -max_len=8192
	seeds=$srcdir/fuzz/corpus/$t
	# The JSON conformance corpus seeds the JSON target too.
	[ $t = json ] && seeds="$seeds $srcdir/tests/json"
	# shellcheck disable=SC2086
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} nice -n 10 "$prog" "$@" \
	    "$bin/corpus/$t" $seeds >"$bin/$t.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$bin/$t.log")
	if [ $rc -eq 0 ]; then
		echo "ok $t: ${runs:-?} runs in $FUZZ_SECONDS s, no crash"
	else
		echo "not-ok $t: exit $rc after ${runs:-?} runs; see $bin/$t.log:"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' \
		    "$bin/$t.log" | head -5 | sed 's/^/    /'
		failed=1
	fi
done
exit $failed
