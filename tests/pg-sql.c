/*
 * Copyright (c) 2026 The basalt developers
 *
 * Permission to use, copy, modify, and distribute this software for any
 * purpose with or without fee is hereby granted, provided that the above
 * copyright notice and this permission notice appear in all copies.
 *
 * THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 * WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 * MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
 * ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 * WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
 * ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
 * OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
 */

/*
 * The store's SQL on a real PostgreSQL (run by tests/pg-sql.sh, which
 * writes pg-sql-gen.h from store.c and store_webhook.c and includes
 * src/store_sql_pg.h through it). Loads schema_pg into an empty
 * database, prepares every statement the store runs there (the
 * PostgreSQL text where there is one, else SQLite's) with the parameter
 * types the store binds, runs the ones whose meaning differs, and shows
 * that two transactions appending to the event log take their ids in
 * commit order.
 *
 * Usage: pg-sql CONNINFO TYPES, TYPES a list of "NAME=SPEC" words, SPEC
 * a letter per parameter: i (int64), b (blob), t (text or NULL). Prints
 * one line per check: "ok<TAB>what" or "not ok<TAB>what<TAB>why", then
 * "col<TAB>table.column" for each column of the schema. With
 * --sqlite-schema, prints SQLite's schema, every version's step.
 */

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "pg-sql-gen.h"

/* How many statements store_webhook.c has (wh may be empty). */
#define NWH	((int)(sizeof wh / sizeof wh[0]))

#define INT8OID		20
#define TEXTOID		25
#define BYTEAOID	17

static void
check(int good, const char *what, const char *why)
{
	const char	*p;

	if (good)
		printf("ok\t%s\n", what);
	else {
		/* One line: PostgreSQL's messages have several. */
		printf("not ok\t%s\t", what);
		for (p = why != NULL ? why : ""; *p != '\0'; p++)
			putchar(*p == '\n' || *p == '\t' ? ' ' : *p);
		putchar('\n');
	}
	fflush(stdout);
}

/* sql with ? and ?N as $N outside quotes, as the driver turns them. */
static char *
dollars(const char *sql)
{
	char	*out, *o;
	char	 q = 0;
	int	 high = 0, n;

	out = o = malloc(strlen(sql) * 4 + 1);
	while (*sql != '\0') {
		if (q != 0) {
			if (*sql == q)
				q = 0;
			*o++ = *sql++;
		} else if (*sql == '\'' || *sql == '"') {
			q = *sql;
			*o++ = *sql++;
		} else if (*sql == '?') {
			sql++;
			if (*sql >= '0' && *sql <= '9') {
				n = (int)strtol(sql, (char **)&sql, 10);
			} else
				n = high + 1;
			if (n > high)
				high = n;
			o += sprintf(o, "$%d", n);
		} else
			*o++ = *sql++;
	}
	*o = '\0';
	return (out);
}

/* The SPEC of name in types ("" if not listed). */
static const char *
spec_of(const char *types, const char *name)
{
	static char	 spec[64];
	const char	*p = types, *e;
	size_t		 len = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == types || p[-1] == ' ') && p[len] == '=') {
			p += len + 1;
			e = p + strcspn(p, " ");
			snprintf(spec, sizeof spec, "%.*s", (int)(e - p), p);
			return (spec);
		}
		p += len;
	}
	return ("");
}

static int	 nprep;

/* Prepares sql as the driver would with spec's types, then checks the
 * type PostgreSQL gave each parameter. */
static void
prepare_check(PGconn *c, const char *name, const char *sql, const char *spec)
{
	PGresult	*r;
	Oid		 types[32];
	char		 pname[32], why[512], what[128];
	char		*q = dollars(sql);
	int		 i, n = (int)strlen(spec), good = 1;
	Oid		 want, got;

	for (i = 0; i < n && i < 32; i++)
		types[i] = spec[i] == 'i' ? INT8OID : spec[i] == 'b' ?
		    BYTEAOID : 0;
	snprintf(pname, sizeof pname, "p%d", ++nprep);
	snprintf(what, sizeof what, "%s prepares", name);
	r = PQprepare(c, pname, q, n, types);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(why, sizeof why, "%s: %s", PQresultErrorMessage(r), q);
		check(0, what, why);
		PQclear(r);
		free(q);
		return;
	}
	PQclear(r);
	r = PQdescribePrepared(c, pname);
	why[0] = '\0';
	if (PQnparams(r) != n) {
		snprintf(why, sizeof why, "%d parameters, the store binds %d",
		    PQnparams(r), n);
		good = 0;
	}
	for (i = 0; good && i < n; i++) {
		want = spec[i] == 'i' ? INT8OID : spec[i] == 'b' ? BYTEAOID :
		    TEXTOID;
		if ((got = PQparamtype(r, i)) != want) {
			snprintf(why, sizeof why, "$%d is type %u, not %u",
			    i + 1, got, want);
			good = 0;
		}
	}
	PQclear(r);
	check(good, what, why);
	free(q);
}

/* Runs sql (SQLite's placeholders) with text values (NULL: NULL); the
 * first column of the first row in out (if not NULL), "" if none.
 * Returns 0, or -1 with the error in out. */
static int
run(PGconn *c, const char *sql, int n, const char *const *v, char *out,
    size_t outlen)
{
	PGresult	*r;
	char		*q = dollars(sql);
	int		 rc = 0;

	r = PQexecParams(c, q, n, NULL, v, NULL, NULL, 0);
	free(q);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		if (out != NULL)
			snprintf(out, outlen, "%s", PQresultErrorMessage(r));
		rc = -1;
	} else if (out != NULL)
		snprintf(out, outlen, "%s", PQntuples(r) > 0 &&
		    PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return (rc);
}

/* check that sql with values gives want in its first column. */
static void
expect(PGconn *c, const char *what, const char *sql, int n,
    const char *const *v, const char *want)
{
	char	 got[512], why[600];

	if (run(c, sql, n, v, got, sizeof got) == -1) {
		check(0, what, got);
		return;
	}
	snprintf(why, sizeof why, "got '%s', want '%s'", got, want);
	check(strcmp(got, want) == 0, what, why);
}

static const char *
text_of(int which)
{
	return (sql_pg[which] != NULL ? sql_pg[which] : sql[which]);
}

static const char *
wh_text_of(int i)
{
	return (webhook_sql_pg[wh[i].ix] != NULL ? webhook_sql_pg[wh[i].ix] :
	    wh[i].sql);
}

static int
wh_find(const char *name)
{
	int	 i;

	for (i = 0; i < NWH; i++)
		if (strcmp(wh[i].name, name) == 0)
			return (i);
	fprintf(stderr, "no %s in store_webhook.c\n", name);
	exit(2);
}

/* One statement, checked with fresh values. */
#define V(...)	(const char *const []){ __VA_ARGS__ }
#define NV(...)	(int)(sizeof V(__VA_ARGS__) / sizeof(const char *))
#define EXPECT(c, what, which, want, ...) \
	expect(c, what, text_of(which), NV(__VA_ARGS__), V(__VA_ARGS__), want)
#define RUN(c, which, ...) \
	run(c, text_of(which), NV(__VA_ARGS__), V(__VA_ARGS__), NULL, 0)
#define EXPECT0(c, what, which, want) \
	expect(c, what, text_of(which), 0, NULL, want)
#define RUN0(c, which) \
	run(c, text_of(which), 0, NULL, NULL, 0)

static void
event(PGconn *c, const char *what, const char *want)
{
	EXPECT(c, what, S_EV_INSERT, want, "1000", "r", "a", "c", "x",
	    "created", "{}", NULL);
}

/* Starts S_EV_INSERT on c without waiting for it; of another app than
 * event's, so that only log_head's row is shared (not app_log's). */
static void
event_send(PGconn *c)
{
	const char *const v[] = { "1000", "r2", "a2", "c", "y", "created",
	    "{}", NULL };
	char	*q = dollars(text_of(S_EV_INSERT));

	PQsendQueryParams(c, q, 8, NULL, v, NULL, NULL, 0);
	free(q);
}

/* 1 if c's query is still waiting after ms milliseconds. */
static int
still_waiting(PGconn *c, int ms)
{
	struct pollfd	 p = { PQsocket(c), POLLIN, 0 };

	poll(&p, 1, ms);
	PQconsumeInput(c);
	return (PQisBusy(c));
}

/* The first column of c's pending query's row, the query finished. */
static void
event_result(PGconn *c, char *out, size_t len)
{
	PGresult	*r;

	snprintf(out, len, "(none)");
	while ((r = PQgetResult(c)) != NULL) {
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
		else if (PQresultStatus(r) != PGRES_TUPLES_OK)
			snprintf(out, len, "%s", PQresultErrorMessage(r));
		PQclear(r);
	}
}

static void
order_checks(PGconn *a, PGconn *b, PGconn *reader)
{
	char	 got[256], why[300];

	/* Whatever the server's default isolation. */
	run(a, "SET default_transaction_isolation = 'repeatable read'", 0,
	    NULL, NULL, 0);
	run(b, "SET default_transaction_isolation = 'repeatable read'", 0,
	    NULL, NULL, 0);

	/* a appends and holds its transaction open; b's append waits. */
	RUN0(a, S_BEGIN);
	event(a, "an append in an open transaction takes the next id", "5");
	EXPECT0(reader, "a reader does not see an id not yet committed",
	    S_EV_MAX, "4");
	RUN0(b, S_BEGIN);
	event_send(b);
	check(still_waiting(b, 500), "a second transaction's append waits"
	    " for the first to end", "it did not wait");
	RUN0(a, S_COMMIT);
	check(!still_waiting(b, 5000), "it goes on once the first commits",
	    "still waiting 5 s after the commit");
	event_result(b, got, sizeof got);
	snprintf(why, sizeof why, "got %s", got);
	check(strcmp(got, "6") == 0, "and takes the id after the first's",
	    why);
	RUN0(b, S_COMMIT);

	/* a rolls back: b gets the id a had, no gap. */
	RUN0(a, S_BEGIN);
	event(a, "an append that will be rolled back", "7");
	RUN0(b, S_BEGIN);
	event_send(b);
	check(still_waiting(b, 500), "an append waits for a transaction that"
	    " will roll back", "it did not wait");
	RUN0(a, S_ROLLBACK);
	check(!still_waiting(b, 5000), "it goes on once the first rolls back",
	    "still waiting 5 s after the rollback");
	event_result(b, got, sizeof got);
	snprintf(why, sizeof why, "got %s", got);
	check(strcmp(got, "7") == 0, "and takes the id given back, no gap",
	    why);
	RUN0(b, S_COMMIT);
	expect(reader, "the log holds 3 to 7 (1 and 2 pruned), no gap",
	    "SELECT string_agg(id::text, ',' ORDER BY id) FROM events", 0,
	    NULL, "3,4,5,6,7");
}

/* Events inserted by one statement (as basalt copy may) are counted. */
static void
bulk_checks(PGconn *c)
{
	run(c, "BEGIN", 0, NULL, NULL, 0);
	run(c, "INSERT INTO events (id, created_ms, realm, app, collection,"
	    " type, data) SELECT 100 + g, 1, 'r', CASE WHEN g % 3 = 0 THEN"
	    " 'z' ELSE 'a' END, 'c', 'created', '{}'"
	    " FROM generate_series(1, 30) g", 0, NULL, NULL, 0);
	expect(c, "a statement's 30 events are counted by app",
	    "SELECT string_agg(app || '=' || events, ',' ORDER BY app)"
	    " FROM app_log WHERE realm = 'r'", 0, NULL, "a=25,z=10");
	run(c, "ROLLBACK", 0, NULL, NULL, 0);

	run(c, "BEGIN", 0, NULL, NULL, 0);
	run(c, "SET LOCAL " STORE_PG_COPYING " = 'on'", 0, NULL, NULL, 0);
	run(c, "INSERT INTO events (id, created_ms, realm, app, collection,"
	    " type, data) VALUES (100, 1, 'r', 'y', 'c', 'created', '{}')", 0,
	    NULL, NULL, 0);
	expect(c, "a copy's events are not counted", "SELECT count(*)"
	    " FROM app_log WHERE app = 'y'", 0, NULL, "0");
	run(c, "ROLLBACK", 0, NULL, NULL, 0);
}

/* Two retention sweeps take turns. */
static void
prune_checks(PGconn *a, PGconn *b)
{
	char	*q = dollars(text_of(S_EV_OLDEST));
	char	 got[256];

	RUN0(a, S_BEGIN);
	EXPECT0(a, "a sweep starts with the oldest event's time",
	    S_EV_OLDEST, "1000");
	RUN0(b, S_BEGIN);
	PQsendQueryParams(b, q, 0, NULL, NULL, NULL, NULL, 0);
	free(q);
	check(still_waiting(b, 500), "a second sweep waits for the first",
	    "it did not wait");
	RUN0(a, S_COMMIT);
	check(!still_waiting(b, 5000), "and starts once the first commits",
	    "still waiting 5 s after the commit");
	event_result(b, got, sizeof got);
	check(strcmp(got, "1000") == 0, "with the oldest event's time", got);
	RUN0(b, S_ROLLBACK);
}

static void
meaning_checks(PGconn *c)
{
	char	 app[32];
	int	 w;

	RUN(c, S_REALM_INSERT, "r", "t0");
	RUN(c, S_APP_INSERT, "1", "a", "t0");
	RUN(c, S_COLL_INSERT, "1", "c", "t0");
	run(c, "SELECT id FROM apps", 0, NULL, app, sizeof app);

	EXPECT0(c, "the log is empty: its head is 0", S_EV_MAX, "0");
	EXPECT0(c, "and data_version is 0", S_DATA_VERSION, "0");
	event(c, "the first event's id is 1", "1");
	event(c, "the second's 2", "2");
	event(c, "the third's 3", "3");
	EXPECT0(c, "the head is 3", S_EV_MAX, "3");
	EXPECT0(c, "data_version moved with it", S_DATA_VERSION, "3");
	expect(c, "the trigger counted the app's events", "SELECT events"
	    " FROM app_log WHERE realm = 'r' AND app = 'a'", 0, NULL, "3");

	/* A savepoint rolled back gives its id back. */
	RUN0(c, S_BEGIN);
	RUN0(c, S_SAVEPOINT);
	event(c, "an event in a savepoint", "4");
	RUN0(c, S_ROLLBACK_TO);
	RUN0(c, S_RELEASE);
	event(c, "after the savepoint's rollback the id is given again", "4");
	RUN0(c, S_COMMIT);

	EXPECT(c, "an id past the head is unknown", S_EV_UNKNOWN, "t", "5");
	EXPECT(c, "the head is known", S_EV_UNKNOWN, "f", "4");
	run(c, "INSERT INTO meta (key, value) VALUES ('restore_gap:1', 2)",
	    0, NULL, NULL, 0);
	EXPECT(c, "an id in a restore's gap is unknown", S_EV_UNKNOWN, "t",
	    "2");
	EXPECT(c, "the gap's first id is known", S_EV_UNKNOWN, "f", "1");
	EXPECT(c, "the id after the gap is known", S_EV_UNKNOWN, "f", "3");
	run(c, "DELETE FROM meta WHERE key = 'restore_gap:1'", 0, NULL, NULL,
	    0);

	EXPECT(c, "nothing pruned yet", S_EV_PRUNED, "0", "r", "a");
	RUN0(c, S_BEGIN);
	RUN(c, S_EV_MARK_ALL, "2");
	RUN(c, S_EV_DELETE, "2");
	RUN0(c, S_COMMIT);
	EXPECT(c, "pruning through 2 marks the app", S_EV_PRUNED, "2", "r",
	    "a");
	expect(c, "and takes 2 off its count", "SELECT events FROM app_log"
	    " WHERE realm = 'r' AND app = 'a'", 0, NULL, "2");
	EXPECT0(c, "the head stays after pruning", S_EV_MAX, "4");
	EXPECT0(c, "the oldest id is 3", S_EV_OLDEST_ID, "3");
	RUN(c, S_EV_APP_MARK, "r", "a", "0", "1");
	EXPECT(c, "a mark never moves back", S_EV_PRUNED, "2", "r", "a");

	RUN(c, S_CORS_INSERT, app, "https://a.example");
	check(RUN(c, S_CORS_INSERT, app, "https://a.example") == 0,
	    "an origin given twice is kept once", "the second insert failed");
	expect(c, "one row for it", "SELECT count(*) FROM app_cors", 0, NULL,
	    "1");

	RUN(c, S_JWT_SET, app, "iss", NULL, "60");
	RUN(c, S_JWT_SET, app, NULL, "aud", "90");
	expect(c, "JWT settings set twice hold the second's",
	    "SELECT coalesce(issuer, '-') || audience || max_lifetime"
	    " FROM jwt_settings", 0, NULL, "-aud90");
	RUN(c, S_JWT_DEFAULT, app, "3600");
	expect(c, "the default leaves settings that exist",
	    "SELECT max_lifetime FROM jwt_settings", 0, NULL, "90");

	RUN(c, S_IDX_INSERT, "1", "title", "t0");
	EXPECT(c, "a realm's indexes", S_IDX_UNDER, "1", "r", NULL, NULL,
	    NULL);
	EXPECT(c, "an app's indexes", S_IDX_UNDER, "1", "r", "a", NULL, NULL);
	EXPECT(c, "no index of another app", S_IDX_UNDER, "", "r", "b", NULL,
	    NULL);
	EXPECT(c, "a collection's indexes", S_IDX_UNDER, "1", NULL, NULL, app,
	    "c");

	RUN(c, S_REC_INSERT, "1", "b", "{\"n\":1}", "t0", "t0");
	RUN(c, S_REC_INSERT, "1", "B", "{\"n\":2}", "t0", "t0");
	RUN(c, S_REC_INSERT, "1", "a", "{\"n\":3}", "t0", "t0");
	expect(c, "record ids sort byte by byte, as on SQLite",
	    "SELECT string_agg(id, ',' ORDER BY id) FROM records", 0, NULL,
	    "B,a,b");
	EXPECT(c, "the page after B starts at a", S_REC_LIST_AFTER, "a", "1",
	    "B", "1");

	w = wh_find("WH_INSERT");
	expect(c, "a webhook starts at the log's head", wh_text_of(w), 7,
	    V("w1", app, "http://x", NULL, ",created,", "s", "t0"), "");
	expect(c, "its cursor", "SELECT cursor FROM webhooks", 0, NULL, "4");
	w = wh_find("WH_EVENTS");
	expect(c, "a webhook's events, every collection and type",
	    wh_text_of(w), 6, V("r", "a", "0", NULL, NULL, "10"), "3");
	expect(c, "a webhook's events of one collection and type",
	    wh_text_of(w), 6, V("r", "a", "0", ",c,", ",created,", "10"), "3");
	expect(c, "none of another collection", wh_text_of(w), 6,
	    V("r", "a", "0", ",d,", NULL, "10"), "");
	RUN(c, S_REALM_INSERT, "s", "t0");
	w = wh_find("WH_LEASE");
	expect(c, "a due webhook is leased", wh_text_of(w), 4,
	    V("w1", "h", "1", "100"), "4");
	w = wh_find("WH_DELIVERED");
	expect(c, "a delivery moves the cursor", wh_text_of(w), 3,
	    V("w1", "h", "9"), "");
	expect(c, "a delivery never moves it back", wh_text_of(w), 3,
	    V("w1", "h", "5"), "");
	expect(c, "the cursor is the highest delivered", "SELECT cursor"
	    " FROM webhooks", 0, NULL, "9");
	w = wh_find("WH_LIST");
	expect(c, "webhooks of every app, paused read as a boolean",
	    wh_text_of(w), 2, V("0", "0"), "w1");
}

/* Notifications that arrived on c within ms milliseconds, on the
 * store's channel. */
static int
notified(PGconn *c, int ms)
{
	struct pollfd	 p = { PQsocket(c), POLLIN, 0 };
	PGnotify	*n;
	int		 count = 0;

	poll(&p, 1, ms);
	PQconsumeInput(c);
	while ((n = PQnotifies(c)) != NULL) {
		if (strcmp(n->relname, STORE_PG_CHANNEL) == 0)
			count++;
		PQfreemem(n);
	}
	return (count);
}

static void
notify_checks(PGconn *a, PGconn *b)
{
	char	 why[64];
	int	 n;

	run(b, "LISTEN " STORE_PG_CHANNEL, 0, NULL, NULL, 0);
	RUN0(a, S_BEGIN);
	event(a, "an event in a transaction", "8");
	event(a, "and another", "9");
	n = notified(b, 300);
	snprintf(why, sizeof why, "%d", n);
	check(n == 0, "no notification before the commit", why);
	RUN0(a, S_COMMIT);
	n = notified(b, 2000);
	snprintf(why, sizeof why, "%d", n);
	check(n == 1, "one notification for the transaction's two events",
	    why);
	RUN0(a, S_BEGIN);
	event(a, "an event rolled back", "10");
	RUN0(a, S_ROLLBACK);
	n = notified(b, 300);
	snprintf(why, sizeof why, "%d", n);
	check(n == 0, "none for a transaction rolled back", why);
	run(b, "UNLISTEN *", 0, NULL, NULL, 0);
}

/* Prints "col<TAB>table.column" for each column of the schema's
 * tables, for pg-sql.sh to compare with SQLite's. */
static void
columns(PGconn *c)
{
	PGresult	*r;
	int		 i;

	r = PQexec(c, "SELECT table_name || '.' || column_name"
	    " FROM information_schema.columns"
	    " WHERE table_schema = current_schema() ORDER BY 1");
	for (i = 0; i < PQntuples(r); i++)
		printf("col\t%s\n", PQgetvalue(r, i, 0));
	PQclear(r);
}

/* A connection to database db of conninfo's server. */
static PGconn *
connect_to(const char *conninfo, const char *db)
{
	const char	*k[] = { "dbname", "dbname", NULL };
	const char	*v[] = { conninfo, db, NULL };

	return (PQconnectdbParams(k, v, 1));
}

/* Creates the empty databases of the checks: basalt_sql_check, sorting
 * by an ICU locale where the server has ICU (so that a column not in
 * "C" would sort otherwise), and basalt_sql_ascii, in SQL_ASCII. */
static int
databases(const char *conninfo)
{
	PGconn		*c = PQconnectdb(conninfo);
	PGresult	*r;
	int		 rc = 0;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return (-1);
	}
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	PQclear(PQexec(c, "DROP DATABASE IF EXISTS basalt_sql_check"));
	PQclear(PQexec(c, "DROP DATABASE IF EXISTS basalt_sql_ascii"));
	r = PQexec(c, "CREATE DATABASE basalt_sql_check TEMPLATE template0"
	    " ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		printf("#\tno ICU: the default locale: %s",
		    PQresultErrorMessage(r));
		PQclear(r);
		r = PQexec(c, "CREATE DATABASE basalt_sql_check"
		    " TEMPLATE template0 ENCODING 'UTF8'");
	}
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s", PQresultErrorMessage(r));
		rc = -1;
	}
	PQclear(r);
	r = PQexec(c, "CREATE DATABASE basalt_sql_ascii TEMPLATE template0"
	    " ENCODING 'SQL_ASCII' LOCALE 'C'");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s", PQresultErrorMessage(r));
		rc = -1;
	}
	PQclear(r);
	PQfinish(c);
	return (rc);
}

int
main(int argc, char **argv)
{
	PGconn		*c, *a, *b;
	PGresult	*r;
	size_t		 i;

	if (argc == 2 && strcmp(argv[1], "--sqlite-schema") == 0) {
		for (i = 0; i < sizeof sqlite_schemas /
		    sizeof sqlite_schemas[0]; i++)
			printf("%s\n", *sqlite_schemas[i]);
		return (0);
	}
	if (argc != 3) {
		fprintf(stderr, "usage: pg-sql conninfo types\n"
		    "       pg-sql --sqlite-schema\n");
		return (2);
	}
	if (databases(argv[1]) == -1)
		return (2);
	c = connect_to(argv[1], "basalt_sql_ascii");
	r = PQexec(c, schema_pg);
	check(PQresultStatus(r) == PGRES_FATAL_ERROR &&
	    strstr(PQresultErrorMessage(r), "UTF8") != NULL,
	    "schema_pg refuses a database not in UTF8",
	    PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);

	c = connect_to(argv[1], "basalt_sql_check");
	a = connect_to(argv[1], "basalt_sql_check");
	b = connect_to(argv[1], "basalt_sql_check");
	if (PQstatus(c) != CONNECTION_OK || PQstatus(a) != CONNECTION_OK ||
	    PQstatus(b) != CONNECTION_OK) {
		fprintf(stderr, "connect: %s", PQerrorMessage(c));
		return (2);
	}
	r = PQexec(c, schema_pg);
	check(PQresultStatus(r) == PGRES_COMMAND_OK,
	    "schema_pg loads into an empty database", PQresultErrorMessage(r));
	PQclear(r);
	for (i = 0; i < sizeof stmt_names / sizeof stmt_names[0]; i++)
		prepare_check(c, stmt_names[i].name,
		    text_of(stmt_names[i].ix),
		    spec_of(argv[2], stmt_names[i].name));
	for (i = 0; i < (size_t)NWH; i++)
		prepare_check(c, wh[i].name, wh_text_of((int)i),
		    spec_of(argv[2], wh[i].name));
	meaning_checks(c);
	order_checks(a, b, c);
	notify_checks(a, b);
	prune_checks(a, b);
	bulk_checks(c);
	columns(c);
	PQfinish(a);
	PQfinish(b);
	PQfinish(c);
	return (0);
}
