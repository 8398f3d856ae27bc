#!/bin/bash
# The list-to-stream hand-off behind lighttpd, as a property test
# (tests/handoff.mjs): random writes by several clients, random filters and
# sorts, paged lists and filtered streams from their event_id; for every
# pair of points N < M, the list at N with the stream from N applied
# equals the list at M. HANDOFF_SEED repeats a run.

. "$top_srcdir/tests/lib.sh"

need lighttpd curl node
need_npm eventsource

demo_start
while IFS= read -r line; do
	case $line in
	'ok '*)		ok 0 "${line#ok }" ;;
	'not ok '*)	ok 1 "${line#not ok }" ;;
	*)		printf '%s\n' "$line" ;;
	esac
done < <(cd "$top_srcdir/tests" && URL=$URL TOKEN=$TOKEN node handoff.mjs \
    2>"$T/node.err" || echo "not ok handoff.mjs ran to its end (exit $?)")
[ -s "$T/node.err" ] && diag "$(tail -n 20 "$T/node.err")"
done_testing
