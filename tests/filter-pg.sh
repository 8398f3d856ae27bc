#!/bin/bash
# The filter language on PostgreSQL: the unit tests of filter.c (what
# each operator means, the agreement of filter_match with the SQL on
# random records, filters, sorts and cursors, and the query plans) run
# with every query also on a real PostgreSQL server, which must select
# the same records in the same order and use the field's index.

. "$top_srcdir/tests/lib.sh"

UNIT=$top_builddir/tests/unit
[ -x "$UNIT" ] || skip_all "no tests/unit (configure found no Check)"
grep -q '^#define HAVE_LIBPQ 1' "$top_builddir/config.h" 2>/dev/null ||
    skip_all "basalt is built without PostgreSQL (libpq)"

# A throw-away server in $T: initdb refuses to run as root, so it runs
# as nobody then; on a unix socket only.
own_pg_start() {
	local bin d run=()
	for d in "" /usr/lib/postgresql/*/bin/; do
		[ -x "${d}initdb" ] || command -v "${d}initdb" >/dev/null 2>&1 ||
		    continue
		bin=$d
		break
	done
	[ -n "${bin+x}" ] || skip_all "PostgreSQL is not installed" \
	    "(Debian: apt-get install postgresql)"
	mkdir -p "$T/pg"
	if [ "$(id -u)" = 0 ]; then
		chmod 755 "$T"
		chown nobody "$T/pg"
		run=(su nobody -s /bin/sh -c)
	else
		run=(sh -c)
	fi
	"${run[@]}" "${bin}initdb -D $T/pg/data -A trust -U basalt" \
	    >"$T/pg/initdb.log" 2>&1 || bail_out "initdb failed"
	"${run[@]}" "${bin}pg_ctl -D $T/pg/data -w -l $T/pg/log -o \
	    '-k $T/pg -c listen_addresses= -c fsync=off' start" \
	    >/dev/null 2>&1 || bail_out "PostgreSQL did not start"
	at_exit "${run[*]@Q} ${bin@Q}'pg_ctl -D $T/pg/data -m fast stop' \
	    >/dev/null 2>&1"
	"${bin}psql" -X -q -h "$T/pg" -U basalt -d postgres \
	    -c 'CREATE DATABASE basalt' || bail_out "no database"
	PG_URL="postgresql://basalt@/basalt?host=$T/pg"
}

if declare -F pg_start >/dev/null; then
	pg_available || skip_all "PostgreSQL is not installed" \
	    "(Debian: apt-get install postgresql)"
	pg_start || bail_out "PostgreSQL did not start"
else
	own_pg_start
fi

# Check's TAP, one line per unit test, as this script's own tests.
BASALT_TEST_PG=$PG_URL CK_RUN_CASE=filter CK_TAP_LOG_FILE_NAME=- \
    CK_TIMEOUT_MULTIPLIER=4 "$UNIT" >"$T/unit.tap" 2>"$T/unit.err"
rc=$?
n=0
while IFS= read -r line; do
	case $line in
	"ok "*)		ok 0 "${line#ok * - }"; n=$((n + 1)) ;;
	"not ok "*)	ok 1 "${line#not ok * - }"; n=$((n + 1)) ;;
	esac
done <"$T/unit.tap"
[ "$rc" = 0 ] || diag "$(tail -n 40 "$T/unit.tap" "$T/unit.err")"
ok "$rc" "the unit tests of filters pass on PostgreSQL too"
# Every filter test ran, the plan test on PostgreSQL among them.
grep -q 'test_filter_plan_pg' "$T/unit.tap"
ok $? "the query-plan test ran on PostgreSQL"
[ "$n" -ge 19 ]
ok $? "$n unit tests reported"
done_testing
