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
 * db.h on a real PostgreSQL server, in TAP. Run by tests/db-pg.sh, which
 * starts the server: argv[1] is its URL (a socket), argv[2] the same on
 * TCP, argv[3] that port. Where the server must stop,
 * start, freeze or thaw, this program prints "@stop", "@start",
 * "@freeze PID" or "@thaw PID" and waits for a line on stdin saying it
 * was done.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/basalt.h"
#include "../src/db.h"

#define BUSY_MS		1000

static int	 ntests, nfailed;

static int
ok(int pass, const char *fmt, ...)
{
	va_list	 ap;

	printf("%sok %d - ", pass ? "" : "not ", ++ntests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass)
		nfailed++;
	return (pass);
}

static void
diag(const char *fmt, ...)
{
	va_list	 ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static int
is_int(int64_t got, int64_t want, const char *what)
{
	ok(got == want, "%s", what);
	if (got != want)
		diag("got %" PRId64 ", expected %" PRId64, got, want);
	return (got == want);
}

static int
is_str(const char *got, const char *want, const char *what)
{
	int	 pass = got != NULL && want != NULL ? strcmp(got, want) == 0 :
		    got == want;

	ok(pass, "%s", what);
	if (!pass)
		diag("got '%s', expected '%s'", got != NULL ? got : "(null)",
		    want != NULL ? want : "(null)");
	return (pass);
}

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Asks tests/db-pg.sh to act on the server and waits until it did. */
static void
server(const char *what, long pid)
{
	char	 line[64];

	if (pid > 0)
		printf("@%s %ld\n", what, pid);
	else
		printf("@%s\n", what);
	fflush(stdout);
	if (fgets(line, sizeof line, stdin) == NULL) {
		printf("Bail out! no answer to @%s\n", what);
		exit(99);
	}
}

/* Steps q once, then resets it: its result. */
static int
run(struct dbq *q)
{
	int	 rc = dbq_step(q);

	dbq_reset(q);
	return (rc);
}

/* One integer from fixed SQL; def when it fails. */
static int64_t
one(struct db *db, const char *sql, int64_t def)
{
	struct dbq	*q = db_prepare(db, sql);
	int64_t		 v = def;

	if (dbq_step(q) == DB_ROW)
		v = dbq_int64(q, 0);
	dbq_finalize(q);
	return (v);
}

static void
test_types(struct db *db)
{
	static const unsigned char blob[] = { 'a', 0, 0xff, '\\', 'x', 0 };
	struct dbq	*ins, *sel;
	int64_t		 id;

	is_int(db_exec(db, "DROP TABLE IF EXISTS t;"
	    "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY"
	    " KEY, i bigint, d double precision, s text, b bytea,"
	    " f boolean NOT NULL DEFAULT false, u text UNIQUE)"), DB_OK,
	    "exec runs two statements");
	ins = db_prepare(db, "INSERT INTO t (i, d, s, b, f, u) VALUES"
	    " (?, ?, ?, ?, ?5::text::boolean, ?6) RETURNING id");
	ok(ins != NULL, "an INSERT is prepared");
	dbq_bind_int64(ins, 1, INT64_C(-9007199254740993));
	dbq_bind_double(ins, 2, 0.1);
	dbq_bind_text(ins, 3, "h\xc3\xa9llo \xe2\x9c\x93 '?' \"x\"", DB_COPY);
	dbq_bind_blob(ins, 4, blob, sizeof blob, 0);
	dbq_bind_text(ins, 5, "true", 0);
	dbq_bind_text(ins, 6, "one", 0);
	is_int(dbq_step(ins), DB_ROW, "INSERT ... RETURNING gives a row");
	id = dbq_int64(ins, 0);
	is_int(id, 1, "the id returned");
	is_int(dbq_step(ins), DB_DONE, "then the end");
	is_int(db_changes(db), 1, "db_changes counts the row inserted");
	dbq_reset(ins);
	/* NULLs, and the other boolean */
	dbq_bind_null(ins, 1);
	dbq_bind_null(ins, 2);
	dbq_bind_text(ins, 3, NULL, 0);
	dbq_bind_null(ins, 4);
	dbq_bind_text(ins, 5, "false", 0);
	dbq_bind_text(ins, 6, "two", 0);
	is_int(run(ins), DB_ROW, "a row of NULLs is inserted");

	sel = db_prepare(db, "SELECT i, d, s, b, f, u, length(b) FROM t"
	    " WHERE id = ?1");
	dbq_bind_int64(sel, 1, id);
	is_int(dbq_step(sel), DB_ROW, "the row is read back");
	is_int(dbq_int64(sel, 0), INT64_C(-9007199254740993),
	    "int64 round trip, exact beyond 2^53");
	ok(dbq_double(sel, 1) == 0.1, "double round trip, exact");
	is_str(dbq_text(sel, 2), "h\xc3\xa9llo \xe2\x9c\x93 '?' \"x\"",
	    "UTF-8 text round trip, quotes and ? untouched");
	is_int(dbq_bytes(sel, 3), sizeof blob, "bytea: its length in bytes");
	ok(dbq_blob(sel, 3) != NULL &&
	    memcmp(dbq_blob(sel, 3), blob, sizeof blob) == 0,
	    "bytea round trip with NUL and 0xff bytes");
	is_int(dbq_int64(sel, 4), 1, "boolean true reads as 1");
	is_int(dbq_int64(sel, 6), sizeof blob, "the server saw the same bytes");
	ok(!dbq_null(sel, 0) && !dbq_null(sel, 3), "no column is NULL");
	is_int(dbq_step(sel), DB_DONE, "one row");
	dbq_reset(sel);
	dbq_bind_int64(sel, 1, id + 1);
	is_int(dbq_step(sel), DB_ROW, "the row of NULLs is read back");
	ok(dbq_null(sel, 0) && dbq_null(sel, 1) && dbq_null(sel, 2) &&
	    dbq_null(sel, 3), "dbq_null says NULL");
	ok(dbq_text(sel, 2) == NULL && dbq_blob(sel, 3) == NULL &&
	    dbq_bytes(sel, 3) == 0 && dbq_int64(sel, 0) == 0,
	    "NULL reads as a NULL pointer, 0 bytes, 0");
	is_int(dbq_int64(sel, 4), 0, "boolean false reads as 0");
	dbq_reset(sel);
	dbq_finalize(sel);

	/* constraints and errors */
	dbq_bind_text(ins, 6, "one", 0);
	dbq_bind_text(ins, 5, "false", 0);
	is_int(run(ins), DB_CONSTRAINT, "a duplicate unique value: "
	    "DB_CONSTRAINT");
	dbq_bind_text(ins, 5, NULL, 0);
	dbq_bind_text(ins, 6, "three", 0);
	is_int(run(ins), DB_CONSTRAINT, "NULL in a NOT NULL column: "
	    "DB_CONSTRAINT");
	dbq_finalize(ins);
	sel = db_prepare(db, "SELEC 1");
	is_int(run(sel), DB_ERROR, "a syntax error: DB_ERROR");
	ok(strstr(db_errmsg(db), "syntax error") != NULL,
	    "db_errmsg gives the server's message");
	diag("%s", db_errmsg(db));
	dbq_finalize(sel);
	is_int(db_exec(db, "SELECT no_such_column FROM t"), DB_ERROR,
	    "exec of a bad statement: DB_ERROR");
}

static void
test_placeholders(struct db *db)
{
	struct dbq	*q;

	q = db_prepare(db, "SELECT ?2::bigint - ?1::bigint, ?::text,"
	    " '?1 ''?'' ?' AS \"a?\", $x$ ? $x$ -- ?\n, ?1::bigint /* ? */");
	dbq_bind_int64(q, 1, 10);
	dbq_bind_int64(q, 2, 3);
	dbq_bind_text(q, 3, "third", 0);
	is_int(dbq_step(q), DB_ROW, "?N, a bare ?, quotes, dollar quotes and"
	    " comments");
	is_int(dbq_int64(q, 0), -7, "?2 and ?1 are the second and first "
	    "values");
	is_str(dbq_text(q, 1), "third", "a bare ? after ?2 is the third");
	is_str(dbq_text(q, 2), "?1 '?' ?", "? inside a string is kept");
	is_str(dbq_text(q, 3), " ? ", "? inside dollar quotes is kept");
	is_int(dbq_int64(q, 4), 10, "?1 used twice");
	dbq_finalize(q);

	/* the same statement with values of another type: prepared again */
	q = db_prepare(db, "SELECT pg_typeof(?)::text");
	dbq_bind_int64(q, 1, 1);
	dbq_step(q);
	is_str(dbq_text(q, 0), "bigint", "an int64 is sent as bigint");
	dbq_reset(q);
	dbq_bind_double(q, 1, 1.5);
	dbq_step(q);
	is_str(dbq_text(q, 0), "double precision",
	    "a double is sent as double precision");
	dbq_reset(q);
	dbq_bind_blob(q, 1, "x", 1, 0);
	dbq_step(q);
	is_str(dbq_text(q, 0), "bytea", "a blob is sent as bytea");
	dbq_finalize(q);

	q = db_prepare(db, "SELECT 1.75::float8, '12.9'::numeric, 't'::bool");
	dbq_step(q);
	is_int(dbq_int64(q, 0), 1, "dbq_int64 of a double truncates");
	ok(dbq_double(q, 1) == 12.9, "dbq_double of a numeric");
	ok(dbq_double(q, 2) == 1, "dbq_double of a boolean");
	dbq_finalize(q);
}

static void
test_changes_transactions(struct db *db)
{
	struct dbq	*begin, *commit, *rollback, *sp, *rel, *rbto, *ins;

	db_exec(db, "DELETE FROM t");
	begin = db_prepare(db, "BEGIN");
	commit = db_prepare(db, "COMMIT");
	rollback = db_prepare(db, "ROLLBACK");
	sp = db_prepare(db, "SAVEPOINT op");
	rel = db_prepare(db, "RELEASE op");
	rbto = db_prepare(db, "ROLLBACK TO op");
	ins = db_prepare(db, "INSERT INTO t (u) VALUES (?)");

	ok(!db_in_transaction(db), "not in a transaction");
	is_int(run(begin), DB_DONE, "BEGIN as a prepared statement");
	ok(db_in_transaction(db), "in a transaction");
	dbq_bind_text(ins, 1, "a", 0);
	run(ins);
	is_int(run(rollback), DB_DONE, "ROLLBACK");
	ok(!db_in_transaction(db), "the transaction ended");
	is_int(one(db, "SELECT count(*) FROM t", -1), 0,
	    "what was rolled back is gone");

	run(begin);
	dbq_bind_text(ins, 1, "a", 0);
	run(ins);
	is_int(run(sp), DB_DONE, "SAVEPOINT");
	dbq_bind_text(ins, 1, "b", 0);
	run(ins);
	is_int(run(rbto), DB_DONE, "ROLLBACK TO the savepoint");
	is_int(run(rel), DB_DONE, "RELEASE");
	ok(db_in_transaction(db), "the transaction goes on");
	run(sp);
	dbq_bind_text(ins, 1, "a", 0);
	is_int(run(ins), DB_CONSTRAINT, "a failure inside a savepoint");
	is_int(run(rbto), DB_DONE, "is undone by ROLLBACK TO");
	run(rel);
	dbq_bind_text(ins, 1, "c", 0);
	is_int(run(ins), DB_DONE, "and the transaction goes on");
	is_int(run(commit), DB_DONE, "COMMIT");
	is_int(one(db, "SELECT count(*) FROM t", -1), 2,
	    "two rows committed, the undone one not");

	is_int(db_exec(db, "UPDATE t SET i = 5"), DB_OK, "an UPDATE");
	is_int(db_changes(db), 2, "db_changes counts its rows");
	one(db, "SELECT count(*) FROM t", -1);
	is_int(db_changes(db), 2, "a SELECT leaves db_changes as it was");
	dbq_finalize(ins);
	ins = db_prepare(db, "DELETE FROM t WHERE u = ?");
	dbq_bind_text(ins, 1, "c", 0);
	run(ins);
	is_int(db_changes(db), 1, "a DELETE of one row");
	dbq_bind_text(ins, 1, "nothing", 0);
	run(ins);
	is_int(db_changes(db), 0, "a DELETE of none");
	dbq_finalize(ins);

	/* statements finalized are deallocated on the server */
	{
		struct dbq	*q;
		int		 i;

		for (i = 0; i < 100; i++) {
			q = db_prepare(db, "SELECT count(*) FROM t WHERE i = ?");
			dbq_bind_int64(q, 1, i);
			dbq_step(q);
			dbq_finalize(q);
		}
		ok(one(db, "SELECT count(*) FROM pg_prepared_statements",
		    1000) <= 8 + 32, "finalized statements are deallocated");
	}
	dbq_finalize(begin);
	dbq_finalize(commit);
	dbq_finalize(rollback);
	dbq_finalize(sp);
	dbq_finalize(rel);
	dbq_finalize(rbto);
}

/* Waits up to ms for db's socket to be readable. */
static int
readable(struct db *db, int ms)
{
	struct pollfd	 pfd;

	pfd.fd = db_socket(db);
	pfd.events = POLLIN;
	return (pfd.fd != -1 && poll(&pfd, 1, ms) == 1);
}

/* Notifications counted on db within ms. */
static int
notified_within(struct db *db, int want, int ms)
{
	int64_t	 end = now_ms() + ms;
	int	 n = 0;

	while (n < want && now_ms() < end) {
		readable(db, 50);
		n += db_notified(db);
	}
	return (n);
}

static void
test_notify(struct db *db, struct db *other)
{
	int64_t	 t0;
	int	 n;

	is_int(db_listen(db, "basalt_test"), DB_OK, "LISTEN");
	ok(db_socket(db) >= 0, "a socket to watch");
	t0 = now_ms();
	is_int(db_notified(db), 0, "nothing yet");
	ok(now_ms() - t0 < 50, "db_notified does not block");
	db_exec(other, "NOTIFY basalt_test, 'a'");
	db_exec(other, "NOTIFY basalt_test, 'b'");
	db_exec(other, "NOTIFY other_channel");
	ok(readable(db, 2000), "the socket becomes readable");
	n = notified_within(db, 2, 2000);
	is_int(n, 2, "two notifications on the channel listened to");
	is_int(db_notified(db), 0, "and no more");
}

/* A server on the stopped server's port that closes every connection at
 * once, counting them: how often a client tries to connect. */
struct refuser {
	int		 fd;
	volatile int	 stop;
	int		 count;
};

static void *
refuse(void *arg)
{
	struct refuser	*r = arg;
	struct pollfd	 pfd;
	int		 fd;

	pfd.fd = r->fd;
	pfd.events = POLLIN;
	while (!r->stop) {
		if (poll(&pfd, 1, 20) != 1)
			continue;
		if ((fd = accept(r->fd, NULL, NULL)) == -1)
			continue;
		r->count++;
		close(fd);
	}
	return (NULL);
}

/* Calls on db for 3 s while a refuser holds port: the attempts to
 * connect it counted, -1 if the port could not be taken. */
static int
attempts(struct db *db, int port)
{
	struct sockaddr_in	 sin;
	struct refuser		 r;
	struct dbq		*q;
	pthread_t		 t;
	int64_t			 t0;
	int			 one = 1;

	memset(&r, 0, sizeof r);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((r.fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (-1);
	setsockopt(r.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(r.fd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(r.fd, 16) == -1 ||
	    pthread_create(&t, NULL, refuse, &r) != 0) {
		close(r.fd);
		return (-1);
	}
	q = db_prepare(db, "SELECT 1");
	t0 = now_ms();
	while (now_ms() - t0 < 3000) {
		run(q);
		poll(NULL, 0, 5);
	}
	dbq_finalize(q);
	r.stop = 1;
	pthread_join(t, NULL);
	close(r.fd);
	return (r.count);
}

static void
test_outage(struct db *db, struct db *other, struct db *tcp, int port)
{
	struct dbq	*q, *ins, *tq;
	int64_t		 t0, t, rows;
	int		 rc, pid, n;

	q = db_prepare(db, "SELECT count(*) FROM t WHERE u <> ?");
	ins = db_prepare(db, "INSERT INTO t (u) VALUES (?)");
	dbq_bind_text(q, 1, "", 0);
	is_int(dbq_step(q), DB_ROW, "a statement runs before the outage");
	rows = dbq_int64(q, 0);
	dbq_reset(q);
	is_int(db_exec(db, "BEGIN"), DB_OK, "a transaction is open");
	dbq_bind_text(ins, 1, "lost", 0);
	is_int(run(ins), DB_DONE, "with a row inserted");

	tq = db_prepare(tcp, "SELECT 1");
	is_int(run(tq), DB_ROW, "TCP: a statement runs before the outage");

	server("stop", 0);
	t0 = now_ms();
	dbq_bind_text(ins, 1, "lost2", 0);
	rc = run(ins);
	t = now_ms() - t0;
	is_int(rc, DB_UNAVAILABLE, "server stopped: DB_UNAVAILABLE");
	ok(t <= BUSY_MS + 100, "within the time limit (%" PRId64 " ms)", t);
	ok(db_in_transaction(db), "the lost transaction still counts as open");
	is_int(db_socket(db), -1, "no socket while disconnected");
	t0 = now_ms();
	dbq_bind_text(q, 1, "", 0);
	is_int(run(q), DB_UNAVAILABLE, "a statement after it: DB_UNAVAILABLE");
	ok(now_ms() - t0 <= 100, "at once (%" PRId64 " ms)", now_ms() - t0);
	/* the backoff: tries at most every 100 ms to 2 s */
	t0 = now_ms();
	while (now_ms() - t0 < 1000) {
		dbq_bind_text(q, 1, "", 0);
		run(q);
	}
	ok(1, "1 s of calls during the outage returned");
	/* 100, 200, 400, 800, 1600 ms apart: 5 or 6 attempts in 3 s */
	is_int(run(tq), DB_UNAVAILABLE, "TCP: server stopped, DB_UNAVAILABLE");
	n = attempts(tcp, port);
	ok(n >= 3 && n <= 7, "3 s of calls connect 3 to 7 times, backing off"
	    " (%d)", n);

	server("start", 0);
	poll(NULL, 0, 2100);	/* past the longest backoff step */
	dbq_bind_text(q, 1, "", 0);
	is_int(run(q), DB_UNAVAILABLE, "server back, but inside the lost "
	    "transaction statements still fail");
	is_int(db_exec(db, "ROLLBACK"), DB_OK, "until ROLLBACK");
	ok(!db_in_transaction(db), "which ends it");
	t0 = now_ms();
	do {
		dbq_bind_text(q, 1, "", 0);
		rc = dbq_step(q);
		if (rc == DB_UNAVAILABLE)
			poll(NULL, 0, 20);
	} while (rc == DB_UNAVAILABLE && now_ms() - t0 < 10000);
	is_int(rc, DB_ROW, "server started again: the statement runs, "
	    "prepared again");
	diag("back after %" PRId64 " ms", now_ms() - t0);
	is_int(dbq_int64(q, 0), rows, "the lost transaction's row is not "
	    "there");
	dbq_reset(q);
	ok(db_socket(db) >= 0, "a socket again");
	ok(notified_within(db, 1, 500) >= 1, "the listener is told to look"
	    " after a reconnect");
	do {
		rc = db_exec(other, "NOTIFY basalt_test");
		if (rc == DB_UNAVAILABLE)
			poll(NULL, 0, 50);
	} while (rc == DB_UNAVAILABLE && now_ms() - t0 < 10000);
	is_int(notified_within(db, 1, 2000), 1, "LISTEN again on the new"
	    " connection");

	/* a server that stops answering */
	pid = (int)one(db, "SELECT pg_backend_pid()", 0);
	if (!ok(pid > 0, "the backend's pid")) {
		printf("Bail out! no connection after the restart\n");
		exit(99);
	}
	server("freeze", pid);
	t0 = now_ms();
	dbq_bind_text(q, 1, "", 0);
	rc = run(q);
	t = now_ms() - t0;
	is_int(rc, DB_UNAVAILABLE, "server frozen: DB_UNAVAILABLE");
	ok(t >= BUSY_MS && t <= BUSY_MS + 100, "after the time limit, within"
	    " 100 ms (%" PRId64 " ms)", t);
	server("thaw", pid);
	t0 = now_ms();
	do {
		dbq_bind_text(q, 1, "", 0);
		rc = run(q);
		if (rc == DB_UNAVAILABLE)
			poll(NULL, 0, 20);
	} while (rc == DB_UNAVAILABLE && now_ms() - t0 < 10000);
	is_int(rc, DB_ROW, "thawed: the statement runs again");

	/* the server's statement_timeout: busy, the connection kept */
	pid = (int)one(db, "SELECT pg_backend_pid()", 0);
	t0 = now_ms();
	is_int(db_exec(db, "SELECT pg_sleep(3)"), DB_BUSY,
	    "statement_timeout: DB_BUSY");
	ok(now_ms() - t0 <= BUSY_MS + 100, "within the time limit");
	is_int(one(db, "SELECT pg_backend_pid()", 0), pid,
	    "on the same connection");
	dbq_finalize(q);
	dbq_finalize(ins);
	dbq_finalize(tq);
}

static void
test_open_errors(void)
{
	struct db	*db;
	char		 err[512];
	int64_t		 t0;

	err[0] = '\0';
	t0 = now_ms();
	db = db_open("postgresql://basalt:s3cr3t-pw@127.0.0.1:1/basalt",
	    BUSY_MS, 0, err, sizeof err);
	ok(db == NULL, "connection refused: no db");
	ok(now_ms() - t0 <= BUSY_MS + 100, "at once");
	ok(err[0] != '\0' && strstr(err, "s3cr3t") == NULL,
	    "an error without the password");
	diag("%s", err);
	db = db_open("postgresql://nobody_here:pw@/basalt?host=/nonexistent",
	    BUSY_MS, 0, err, sizeof err);
	ok(db == NULL && strstr(err, "pw@") == NULL, "no such socket: no db, "
	    "no password");
}

int
main(int argc, char *argv[])
{
	struct db	*db, *other, *tcp;
	char		 err[512];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4) {
		fprintf(stderr, "usage: db-pg URL TCP-URL PORT\n");
		return (2);
	}
	if ((db = db_open(argv[1], BUSY_MS, 0, err, sizeof err)) == NULL ||
	    (other = db_open(argv[1], BUSY_MS, 0, err, sizeof err)) == NULL ||
	    (tcp = db_open(argv[2], BUSY_MS, 0, err, sizeof err)) == NULL) {
		printf("Bail out! %s\n", err);
		return (99);
	}
	ok(db_kind(db) == DB_PG, "a postgresql:// URL opens PostgreSQL");
	test_types(db);
	test_placeholders(db);
	test_changes_transactions(db);
	test_notify(db, other);
	test_outage(db, other, tcp, atoi(argv[3]));
	test_open_errors();
	db_close(db);
	db_close(other);
	db_close(tcp);
	printf("1..%d\n", ntests);
	return (nfailed > 0);
}
