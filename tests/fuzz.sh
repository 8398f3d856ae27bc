#!/bin/bash
# The libFuzzer targets of fuzz/ (make fuzz), each run for FUZZ_SECONDS
# (default 60; 0 skips the test); fails on any crash, leak, undefined
# behaviour or time-out. Skipped when clang cannot build them.

. "$top_srcdir/tests/lib.sh"

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
export FUZZ_SECONDS
[ "$FUZZ_SECONDS" = 0 ] && skip_all "FUZZ_SECONDS=0"
command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1 ||
    skip_all "no clang (Debian: apt-get install clang libclang-rt-14-dev)"

cd "$top_builddir" || bail_out "no build tree"
unset MAKEFLAGS MFLAGS
make fuzz FUZZ_CC="${FUZZ_CC:-clang}" >"$T/build.log" 2>&1
rc=$?
why=$(grep -m 1 'cannot build libFuzzer' "$T/build.log")
[ -n "$why" ] && skip_all "$why (Debian: libclang-rt-14-dev)"
ok $rc "make fuzz builds the targets" || diag "$(tail -n 20 "$T/build.log")"

while IFS= read -r line; do
	case $line in
	"ok "*) ok 0 "${line#ok }" ;;
	"not-ok "*) ok 1 "${line#not-ok }" ;;
	*) diag "$line" ;;
	esac
done < <(srcdir=$top_srcdir sh "$top_srcdir/fuzz/run.sh")

done_testing
