#!/bin/bash
# The store's SQL on PostgreSQL, on a real server: src/store_sql_pg.h's
# schema loads into an empty database, every statement of store.c and
# store_webhook.c prepares there (its PostgreSQL text, or SQLite's where
# there is none) with the parameter types the store binds, the ones
# rewritten for PostgreSQL mean what SQLite's do, and two transactions
# appending to the event log get their ids in commit order, with no gap.

. "$top_srcdir/tests/lib.sh"

need perl pkg-config sqlite3
CC=${CC:-cc}
pkg-config --exists libpq ||
    skip_all "no libpq (Debian: apt-get install libpq-dev)"

# The server: lib.sh's when it has one, else one of our own.
if declare -F pg_start >/dev/null; then
	pg_available || skip_all "PostgreSQL is not installed"
	pg_start || bail_out "PostgreSQL does not start"
	CONNINFO=$PG_URL
else
	PGBIN=
	for d in "$(dirname "$(command -v initdb 2>/dev/null)")" \
	    /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { PGBIN=$d; break; }
	done
	[ -n "$PGBIN" ] || skip_all "PostgreSQL is not installed" \
	    "(Debian: apt-get install postgresql)"
	PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/basalt-pg.XXXXXX") || exit 99
	chmod 755 "$PGDIR"
	PGUSER_OS=$(id -un)
	if [ "$(id -u)" = 0 ]; then
		PGUSER_OS=${SUDO_USER:-nobody}
		chown "$PGUSER_OS" "$PGDIR"
	fi
	asuser() {
		if [ "$(id -u)" = 0 ]; then
			su "$PGUSER_OS" -s /bin/sh -c "$1"
		else
			sh -c "$1"
		fi
	}
	PGPORT_T=$(free_port)
	at_exit "asuser '$PGBIN/pg_ctl -D $PGDIR/data -m fast stop' \
	    >/dev/null 2>&1; rm -rf '$PGDIR'"
	asuser "$PGBIN/initdb -D $PGDIR/data -A trust -U basalt -E UTF8 \
	    >$PGDIR/initdb.log 2>&1 && $PGBIN/pg_ctl -D $PGDIR/data -w \
	    -o '-k $PGDIR -p $PGPORT_T -c listen_addresses=' \
	    -l $PGDIR/log start >/dev/null" ||
	    bail_out "PostgreSQL does not start: $(cat "$PGDIR"/*.log)"
	psql -q -h "$PGDIR" -p "$PGPORT_T" -U basalt -d postgres \
	    -c 'CREATE DATABASE basalt' >/dev/null ||
	    bail_out "cannot create the database"
	CONNINFO="host=$PGDIR port=$PGPORT_T user=basalt dbname=basalt"
fi

# pg-sql-gen.h: store.c's statements and store_webhook.c's, as they are,
# with the names of each, for tests/pg-sql.c.
src=$top_srcdir/src
{
	grep '^#define SCHEMA_VERSION' "$src/store.c"
	grep '^#define STORE_RESTORE_GAP' "$src/basalt.h"
	sed -n '/^static const char \*schema_v1 =/,/^\/\* Each version/p' \
	    "$src/store.c" | sed '$d'
	echo 'static const char **sqlite_schemas[] = {'
	sed -n 's/^static const char \*\(schema_v[0-9]*\) =.*/	\&\1,/p' \
	    "$src/store.c"
	echo '};'
	sed -n '/^enum stmt {/,/^};/p' "$src/store.c"
	sed -n '/^static const char \*sql\[S__COUNT\] = {/,/^};/p' \
	    "$src/store.c"
	echo 'static const struct { const char *name; int ix; }'
	echo '    stmt_names[] = {'
	sed -n '/^enum stmt {/,/^};/p' "$src/store.c" |
	    sed -n 's/^[[:space:]]*\(S_[A-Z0-9_]*\),$/	{ "\1", \1 },/p' |
	    grep -v S__COUNT
	echo '};'
	echo '#include "store_sql_pg.h"'
	perl -0777 -ne 'print "$&\n" while
	    /^#define WEBHOOK_\w+(?:[^\n]*\\\n)*[^\n]*\n/mg' \
	    "$src/store_webhook.c"
	perl -0777 -ne 'print "$1\n" if /^(enum \{\s*WH_.*?^\};)/ms' \
	    "$src/store_webhook.c"
	# store_sql_pg.h's copy of the WH_ numbers must be store_webhook.c's.
	perl -0777 -ne 'if (/^(enum \{\s*WH_.*?^\};)/ms) {
	    my @m = $1 =~ /^\s*(WH_\w+),?\s*$/mg;
	    printf "_Static_assert((int)PG_%s == (int)%s, \"%s\");\n",
		$_, $_, $_ for @m;
	    print "_Static_assert(PG_WH__COUNT == ", scalar @m,
		", \"store_sql_pg.h has not every WH_\");\n" }' \
	    "$src/store_webhook.c"
	echo 'static const struct { const char *name; int ix;'
	echo '    const char *sql; } wh[] = {'
	perl -0777 -ne 'print "\t{ \"$1\", $1, $2 },\n" while
	    /store_stmt_ext\(\s*st,\s*(WH_\w+),\s*
	    ((?:"(?:[^"\\]|\\.)*"\s*|WEBHOOK_\w+\s*)+)/gx' \
	    "$src/store_webhook.c"
	echo '};'
} >"$T/pg-sql-gen.h"

# The parameters the store binds to each statement, a letter each:
# i an int64, b a blob, t text (or NULL).
TYPES="S_REALM_INSERT=tt S_REALM_DELETE=t S_REALM_ID=t
S_APP_INSERT=itt S_APP_DELETE=it S_APP_LIST=i S_APP_ID=it
S_COLL_ID=it S_COLL_INSERT=itt S_COLL_DELETE=it S_COLL_LIST=i
S_REC_GET=it S_REC_INSERT=itttt S_REC_UPDATE=ttit S_REC_DELETE=it
S_REC_LIST=ii S_REC_LIST_AFTER=iti
S_EV_INSERT=ittttttt S_EV_RANGE=iii S_EV_RANGE_TOPIC=iiittt
S_EV_RANGE_APP=iiitt S_EV_RANGE_RECORD=iiitttt S_EV_UNKNOWN=i
S_EV_PRUNED=tt S_EV_NTH=i S_EV_FIRST_NEW=ii S_EV_MARK_ALL=i
S_EV_DELETE=i S_EV_OVER=ii S_EV_APP_NTH=tti S_EV_APP_DELETE=tti
S_EV_APP_MARK=ttii S_EV_APP_RECOUNT=tt
S_TOK_INSERT=tititii S_TOK_LOOKUP=t S_TOK_REVOKE=it S_TOK_LIST=i
S_CORS_ALLOWED=ttt S_CORS_LIST=i S_CORS_INSERT=it S_CORS_CLEAR=i
S_IDX_INSERT=itt S_IDX_COUNT=i S_IDX_FIND=it S_IDX_DELETE=i S_IDX_LIST=i
S_IDX_UNDER=ttit
S_JWT_GET=i S_JWT_SET=itti S_JWT_DEFAULT=ii S_JWT_OFF=i S_JWT_KEYS=i
S_JWT_KEY_INSERT=ittbt S_JWT_KEY_DELETE=it S_JWT_KEYS_CLEAR=i
S_JWT_KEY_COUNT=i S_RULES_GET=i S_RULES_CLEAR=i S_RULES_INSERT=itt
WH_INSERT=tittttt WH_LIST=ii WH_DELETE=it WH_RESUME=it WH_LEASE=ttii
WH_RELEASE=t WH_DELIVERED=tti WH_FAILED=tttii WH_EVENTS=ttitti"
TYPES=$(echo $TYPES)

if ! $CC -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -o "$T/pg-sql" \
    -I"$T" -I"$src" $(pkg-config --cflags libpq) \
    "$top_srcdir/tests/pg-sql.c" $(pkg-config --libs libpq) \
    >"$T/cc.log" 2>&1; then
	diag "$(cat "$T/cc.log")"
	bail_out "tests/pg-sql.c does not build"
fi
is "$(cat "$T/cc.log")" "" "tests/pg-sql.c builds without warnings"

"$T/pg-sql" "$CONNINFO" "$TYPES" >"$T/out" 2>"$T/err"
rc=$?
while IFS=$'\t' read -r res what why; do
	if [ "$res" = col ]; then
		echo "$what" >>"$T/pg-columns"
	elif [ "$res" = "#" ]; then
		diag "$what"
	elif [ "$res" = ok ]; then
		ok 0 "$what"
	else
		ok 1 "$what"
		diag "$why"
	fi
done <"$T/out"
is "$rc $(cat "$T/err")" "0 " "the checks ran to the end"
# Every statement of both files was prepared, and every type listed.
nstmt=$(grep -c '^	{ "S_' "$T/pg-sql-gen.h")
nwh=$(grep -c '^	{ "WH_' "$T/pg-sql-gen.h")
is "$(awk -F'\t' '$2 ~ / prepares$/' "$T/out" | wc -l)" "$((nstmt + nwh))" \
    "every statement was prepared"
is "$nwh" \
    "$(perl -0777 -ne 'if (/^(enum \{\s*WH_.*?^\};)/ms) {
	my @m = $1 =~ /^\s*WH_\w+,?\s*$/mg; print scalar @m }' \
	"$src/store_webhook.c")" \
    "every webhook statement's text was found"

# The same tables and columns as SQLite's schema after every step, but
# log_head (where SQLite has sqlite_sequence).
if "$T/pg-sql" --sqlite-schema | sqlite3 "$T/sqlite.db" 2>"$T/sqlite.err"
then
	sqlite3 "$T/sqlite.db" "SELECT m.name || '.' || p.name
	    FROM sqlite_master m, pragma_table_info(m.name) p
	    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
	    ORDER BY 1" >"$T/sqlite-columns"
	grep -v '^log_head\.' "$T/pg-columns" >"$T/pg-columns-shared"
	is "$(diff "$T/sqlite-columns" "$T/pg-columns-shared")" "" \
	    "schema_pg has SQLite's tables and columns, no more, no fewer"
	# Version 4's column and version 7's: every step ran.
	is "$(grep -x 'events\.prev\|webhooks\.lease_expires' \
	    "$T/sqlite-columns" | tr '\n' ' ')" \
	    "events.prev webhooks.lease_expires " \
	    "SQLite's schema is the last version's"
else
	ok 1 "SQLite's schema loads: $(cat "$T/sqlite.err")"
fi

done_testing
