#!/bin/sh
# The whole test suite on a fresh Debian machine: installs what it needs,
# builds basalt with AddressSanitizer and UndefinedBehaviorSanitizer in
# build-check/, runs "make check", and ends with "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
contrib/deps.sh test || exit 1
[ -x configure ] || autoreconf -fi || exit 1
(cd tests && npm install --no-audit --no-fund --loglevel=error) || exit 1
mkdir -p build-check && cd build-check || exit 1
if [ ! -f Makefile ]; then
	../configure --enable-sanitizers || exit 1
fi
make -j"$(nproc)" >make.log 2>&1 || { tail -50 make.log; exit 1; }
# LeakSanitizer reports go to the test logs; a leak fails the run.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export ASAN_OPTIONS UBSAN_OPTIONS
make check
rc=$?
log=test-suite.log
count() { sed -n "s/^# $1: *\([0-9]*\)$/\1/p" $log | head -1; }
if [ -f $log ]; then
	pass=$(count PASS); fail=$(count FAIL); err=$(count ERROR)
	xpass=$(count XPASS); skip=$(count SKIP)
	failed=$(( ${fail:-0} + ${err:-0} + ${xpass:-0} ))
	[ $rc -ne 0 ] && [ $failed -eq 0 ] && failed=1
	echo "${pass:-0} passed, $failed failed, ${skip:-0} skipped"
else
	echo "0 passed, 1 failed"
	rc=1
fi
exit $rc
