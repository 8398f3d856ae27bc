#!/bin/bash
# The PostgreSQL side of db.h against a real server: types, placeholders,
# errors, transactions, LISTEN/NOTIFY, and the outages (server stopped,
# server frozen) with the reconnection after them. tests/db-pg.c holds
# the checks; this script starts the server and acts on it when asked.
. "$top_srcdir/tests/lib.sh"
prog=$top_builddir/tests/db-pg
[ -x "$prog" ] || skip_all "basalt was built without PostgreSQL (libpq-dev)"
pg_available ||
    skip_all "PostgreSQL is not installed (Debian: apt-get install postgresql)"
# a frozen server is thawed before it is stopped at exit
at_exit '[ -n "${PG_PID:-}" ] && kill -CONT "$PG_PID" 2>/dev/null'
pg_start || bail_out "PostgreSQL did not start"

# Two pipes rather than a coproc: bash closes a coproc's descriptors when
# it exits, and its last lines (the plan) could be lost unread.
mkfifo "$T/db-pg.in" "$T/db-pg.out" || bail_out "mkfifo failed"
"$prog" "$PG_URL" "$PG_TCP_URL" "$PGPORT" <"$T/db-pg.in" >"$T/db-pg.out" \
    2>"$T/db-pg.err" &
pid=$!
exec 4>"$T/db-pg.in" 3<"$T/db-pg.out"
while IFS= read -r line <&3; do
	case $line in
	@stop)		pg_stop ;;
	@start)		pg_start ;;
	"@freeze "*)	at_exit "kill -CONT ${line#@freeze } 2>/dev/null"
			kill -STOP "$PG_PID" "${line#@freeze }" ;;
	"@thaw "*)	kill -CONT "$PG_PID" "${line#@thaw }" ;;
	*)		printf '%s\n' "$line"; continue ;;
	esac
	echo done >&4
done
exec 3<&- 4>&-
wait "$pid"
rc=$?
[ "$rc" = 0 ] || diag "$(cat "$T/db-pg.err")"
exit $rc
