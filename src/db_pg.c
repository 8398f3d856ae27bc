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
 * The PostgreSQL side of db.h, on libpq. Every call that goes to the
 * server is sent with libpq's asynchronous calls and waited for with
 * poll() up to a time limit; past it the connection is dropped and the
 * call returns DB_UNAVAILABLE. A later call connects again, no sooner
 * than a backoff step (100 ms, doubling to 2 s) after the last failure,
 * and statements are prepared again on the new connection as they run.
 *
 * The process's connections share what they saw of the server: once one
 * of them timed out or could not connect (not when a connection of
 * before a restart turns out closed), the others fail at once rather
 * than each waiting out its own limit, and one call per backoff step
 * goes to the server to see whether it is back (pg_down, pg_probe). So
 * during an outage the first call waits at most its limit, and the rest
 * answer at once.
 *
 * A timed-out query is not cancelled with PQcancel: in libpq 15 it
 * waits without a limit for the server's answer, which a server that
 * stopped answering never gives. statement_timeout, set at connect to
 * the same limit, ends the query on the server instead.
 */

#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libpq-fe.h>

#include "basalt.h"
#include "db_impl.h"

#define PG_BACKOFF_MIN_MS	100
#define PG_BACKOFF_MAX_MS	2000
#define PG_MARGIN_MS		50	/* statement_timeout is this short of
					   the limit */
#define PG_DEFAULT_LIMIT_MS	5000	/* when busy_ms is 0 */
#define PG_MAX_PARAMS		999
#define PG_MAX_CHANNELS		4
#define PG_DEALLOC_MAX		32

/* Whether a statement begins, ends or undoes a transaction: after a
 * connection lost inside a transaction only these may run. */
enum pg_verb {
	V_OTHER,
	V_BEGIN,
	V_COMMIT,
	V_ROLLBACK
};

/* Parameter types sent at prepare (pg_type.h's OIDs). */
#define OID_NONE	0
#define OID_BYTEA	17
#define OID_INT8	20
#define OID_FLOAT8	701

struct pgdb {
	struct db	 base;
	PGconn		*conn;
	char		*target;
	int		 busy_ms;
	int		 limit_ms;	/* each call's time limit */
	uint64_t	 gen;		/* connections made so far */
	unsigned	 names;		/* statements prepared on this one */
	int64_t		 next_try;	/* no connect before (ms) */
	int		 backoff;
	int		 txn_open;	/* in a transaction before the send */
	int		 lost_txn;	/* dropped inside one: see pg_gate */
	int64_t		 changes;
	int		 notified;
	char		*channels[PG_MAX_CHANNELS];
	int		 nchannels;
	unsigned	 dealloc[PG_DEALLOC_MAX];
	int		 ndealloc;
	char		 err[512];
};

struct pgparam {
	char		*val;		/* NULL: SQL NULL */
	int		 len;
	int		 binary;
	unsigned	 oid;
	int		 owned;
	char		 num[40];	/* a number's text, val points here */
};

struct pgq {
	struct dbq	 base;
	char		*sql;		/* with $N */
	enum pg_verb	 verb;
	int		 nparams;
	struct pgparam	*params;
	unsigned	*types;		/* as prepared */
	uint64_t	 gen;		/* connection prepared on, 0: none */
	unsigned	 name;
	PGresult	*res;
	int		 row;
	int		 done;
	unsigned char	**bytea;	/* unescaped columns of the row */
	size_t		*bytea_len;
	int		 ncols;
	char		 num[32];
};

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
set_err(struct pgdb *c, const char *msg)
{
	size_t	 n;

	snprintf(c->err, sizeof c->err, "%s", msg != NULL ? msg : "?");
	/* libpq's messages may take several lines: one for the log */
	for (n = 0; c->err[n] != '\0'; n++)
		if (c->err[n] == '\n' || c->err[n] == '\t')
			c->err[n] = ' ';
	n = strlen(c->err);
	while (n > 0 && (c->err[n - 1] == '\n' || c->err[n - 1] == ' '))
		c->err[--n] = '\0';
}

static void
notice(void *arg, const char *msg)
{
	(void)arg;
	log_debug("postgresql: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* The server as the process's connections last saw it: 0 when it
 * answered, else the time before which no call goes to it. */
static pthread_mutex_t	 pg_state_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t		 pg_down_until;
static int		 pg_down_backoff = PG_BACKOFF_MIN_MS;
static int		 pg_is_down;	/* read without the lock: a hint */

/* A connection failed (timed out, refused, lost): every connection of
 * the process fails at once until the next backoff step. */
static void
pg_down(void)
{
	int64_t	 now = now_ms();

	pthread_mutex_lock(&pg_state_lock);
	if (!pg_is_down || pg_down_until <= now) {
		pg_down_until = now + pg_down_backoff;
		pg_down_backoff = pg_down_backoff * 2 > PG_BACKOFF_MAX_MS ?
		    PG_BACKOFF_MAX_MS : pg_down_backoff * 2;
	}
	__atomic_store_n(&pg_is_down, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&pg_state_lock);
}

/* The server answered. */
static void
pg_up(void)
{
	if (!__atomic_load_n(&pg_is_down, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&pg_state_lock);
	__atomic_store_n(&pg_is_down, 0, __ATOMIC_RELAXED);
	pg_down_until = 0;
	pg_down_backoff = PG_BACKOFF_MIN_MS;
	pthread_mutex_unlock(&pg_state_lock);
}

/* Whether a call may go to the server now: always while it is up; while
 * it is down, one call per backoff step (the probe), which holds the
 * others off until it is answered or fails. */
static int
pg_probe(int limit_ms)
{
	int64_t	 now;
	int	 go = 0;

	if (!__atomic_load_n(&pg_is_down, __ATOMIC_RELAXED))
		return (1);
	now = now_ms();
	pthread_mutex_lock(&pg_state_lock);
	if (!pg_is_down)
		go = 1;
	else if (now >= pg_down_until) {
		/* the others wait for this call's answer, up to its limit
		 * and a step more */
		pg_down_until = now + limit_ms + pg_down_backoff;
		go = 1;
	}
	pthread_mutex_unlock(&pg_state_lock);
	return (go);
}

/* Drops the connection after a failure or a timeout. A transaction open
 * on it is lost: pg_gate refuses the statements that would run as if it
 * were not. */
static void
pg_drop(struct pgdb *c, const char *why)
{
	PGTransactionStatusType	 ts;

	if (c->conn == NULL)
		return;
	ts = PQtransactionStatus(c->conn);
	if (ts == PQTRANS_ACTIVE || ts == PQTRANS_UNKNOWN)
		c->lost_txn |= c->txn_open;
	else if (ts != PQTRANS_IDLE)
		c->lost_txn = 1;
	log_warn("postgresql: connection dropped: %s", why);
	PQfinish(c->conn);
	c->conn = NULL;
	c->ndealloc = 0;
	c->next_try = now_ms() + c->backoff;
}

/* Waits until conn is readable or writable (want), or the deadline. 1
 * when ready, 0 at the deadline, -1 on a poll failure. */
static int
pg_poll(PGconn *conn, int out, int64_t deadline)
{
	struct pollfd	 pfd;
	int64_t		 left;
	int		 n;

	for (;;) {
		if ((left = deadline - now_ms()) <= 0)
			return (0);
		pfd.fd = PQsocket(conn);
		pfd.events = out ? POLLOUT : POLLIN;
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return (1);
		if (n == 0)
			return (0);
		if (errno != EINTR)
			return (-1);
	}
}

/* Sends what libpq holds and waits until a whole result is in; 0, or -1
 * with the connection dropped and err set. */
static int
pg_wait(struct pgdb *c, int64_t deadline)
{
	int	 f, r;

	for (;;) {
		if ((f = PQflush(c->conn)) == -1)
			break;
		if (f == 0 && !PQisBusy(c->conn))
			return (0);
		if ((r = pg_poll(c->conn, f == 1, deadline)) == 0) {
			set_err(c, "no answer from PostgreSQL within the time"
			    " limit");
			pg_drop(c, c->err);
			pg_down();
			return (-1);
		}
		if (r == -1 || !PQconsumeInput(c->conn))
			break;
	}
	set_err(c, PQerrorMessage(c->conn));
	pg_drop(c, c->err);
	return (-1);
}

/* Maps a failed result: SQLSTATE classes to db.h's results, err set to
 * the primary message. A connection that broke is dropped. */
static int
pg_fail(struct pgdb *c, const PGresult *res)
{
	const char	*state = NULL, *msg = NULL;

	if (res != NULL) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	}
	if (msg == NULL)
		msg = res != NULL ? PQresultErrorMessage(res) : NULL;
	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(c->conn);
	set_err(c, msg);
	if (PQstatus(c->conn) == CONNECTION_BAD || (state != NULL &&
	    ((strncmp(state, "08", 2) == 0 && strcmp(state, "08P01") != 0) ||
	    strncmp(state, "57P", 3) == 0))) {
		pg_drop(c, c->err);
		return (DB_UNAVAILABLE);
	}
	if (state == NULL)	/* found by libpq, not the server */
		return (DB_ERROR);
	if (strncmp(state, "23", 2) == 0)
		return (DB_CONSTRAINT);
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0)
		return (DB_BUSY);
	return (DB_ERROR);
}

/* Rows changed, as SQLite counts them: INSERT, UPDATE, DELETE, MERGE. */
static void
pg_count(struct pgdb *c, PGresult *res)
{
	const char	*cmd = PQcmdStatus(res), *n = PQcmdTuples(res);

	if (*n == '\0')
		return;
	if (strncmp(cmd, "INSERT", 6) == 0 || strncmp(cmd, "UPDATE", 6) == 0 ||
	    strncmp(cmd, "DELETE", 6) == 0 || strncmp(cmd, "MERGE", 5) == 0)
		c->changes = strtoll(n, NULL, 10);
}

/* Reads every result of the command sent; keeps the last one with rows
 * in *keep (if keep is not NULL). DB_OK or the first failure. */
static int
pg_results(struct pgdb *c, int64_t deadline, PGresult **keep)
{
	PGresult	*res;
	int		 rc = DB_OK, r;

	for (;;) {
		/* a failure may have dropped the connection */
		if (c->conn == NULL) {
			rc = DB_UNAVAILABLE;
			break;
		}
		if (pg_wait(c, deadline) == -1) {
			rc = DB_UNAVAILABLE;
			break;
		}
		if ((res = PQgetResult(c->conn)) == NULL)
			break;
		pg_up();
		switch (PQresultStatus(res)) {
		case PGRES_COMMAND_OK:
			pg_count(c, res);
			break;
		case PGRES_TUPLES_OK:
			pg_count(c, res);
			if (keep != NULL && rc == DB_OK) {
				PQclear(*keep);
				*keep = res;
				res = NULL;
			}
			break;
		default:
			r = pg_fail(c, res);
			if (rc == DB_OK)
				rc = r;
			break;
		}
		PQclear(res);
	}
	if (rc != DB_OK && keep != NULL) {
		PQclear(*keep);
		*keep = NULL;
	}
	return (rc);
}

/* Sends sql (no parameters) and reads its results. */
static int
pg_simple(struct pgdb *c, const char *sql, int64_t deadline)
{
	if (!PQsendQuery(c->conn, sql)) {
		set_err(c, PQerrorMessage(c->conn));
		pg_drop(c, c->err);
		return (DB_UNAVAILABLE);
	}
	return (pg_results(c, deadline, NULL));
}

/* Connects (or fails) before the deadline, then sets the session up:
 * statement_timeout, and LISTEN again on the channels. */
static int
pg_connect(struct pgdb *c, int64_t deadline)
{
	const char	*keys[] = { "client_encoding", "keepalives_idle",
			    "keepalives_interval", "keepalives_count",
			    "dbname", "fallback_application_name", NULL };
	const char	*vals[] = { "UTF8", "10", "5", "3", c->target,
			    "basalt", NULL };
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	char		 q[128], *id;
	int		 i, r;

	if ((c->conn = PQconnectStartParams(keys, vals, 1)) == NULL) {
		set_err(c, "out of memory");
		return (DB_UNAVAILABLE);
	}
	while (PQstatus(c->conn) != CONNECTION_BAD &&
	    st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		r = pg_poll(c->conn, st == PGRES_POLLING_WRITING, deadline);
		if (r == 0) {
			set_err(c, "could not connect to PostgreSQL within"
			    " the time limit");
			goto fail;
		}
		st = PQconnectPoll(c->conn);
	}
	if (PQstatus(c->conn) != CONNECTION_OK) {
		set_err(c, PQerrorMessage(c->conn));
		goto fail;
	}
	PQsetnonblocking(c->conn, 1);
	PQsetNoticeProcessor(c->conn, notice, NULL);
	c->gen++;
	c->names = 0;
	c->ndealloc = 0;
	/* the server ends a query a little before the call gives up */
	snprintf(q, sizeof q, "SET statement_timeout = %d",
	    c->limit_ms > 2 * PG_MARGIN_MS ? c->limit_ms - PG_MARGIN_MS :
	    c->limit_ms);
	if (pg_simple(c, q, deadline) != DB_OK)
		goto fail;
	for (i = 0; i < c->nchannels; i++) {
		id = PQescapeIdentifier(c->conn, c->channels[i],
		    strlen(c->channels[i]));
		snprintf(q, sizeof q, "LISTEN %s", id != NULL ? id : "\"\"");
		PQfreemem(id);
		if (pg_simple(c, q, deadline) != DB_OK)
			goto fail;
	}
	/* Notifications sent while no one listened are lost: the caller
	 * learns it should look for itself. */
	if (c->nchannels > 0 && c->gen > 1)
		c->notified++;
	c->backoff = PG_BACKOFF_MIN_MS;
	return (DB_OK);
fail:
	if (c->conn != NULL) {
		PQfinish(c->conn);
		c->conn = NULL;
	}
	pg_down();
	c->next_try = now_ms() + c->backoff;
	c->backoff = c->backoff * 2 > PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS :
	    c->backoff * 2;
	return (DB_UNAVAILABLE);
}

/*
 * Before a call goes to the server: after a connection was lost inside a
 * transaction, only ROLLBACK (done: nothing is open on a new connection),
 * BEGIN (starts afresh) and COMMIT (fails: what it would commit is lost)
 * end that state; anything else fails, so that the rest of a lost
 * transaction never runs on its own. Then connects if needed, and
 * deallocates finalized statements. DB_OK to go on, DB_DONE when there is
 * nothing to send, or a failure.
 */
static int
pg_gate(struct pgdb *c, enum pg_verb verb, int64_t deadline)
{
	char	 q[PG_DEALLOC_MAX * 24], *p;
	int	 i, rc;

	if (c->lost_txn) {
		switch (verb) {
		case V_ROLLBACK:
			c->lost_txn = 0;
			return (DB_DONE);
		case V_COMMIT:
			c->lost_txn = 0;
			/* FALLTHROUGH */
		case V_OTHER:
			set_err(c, "the connection to PostgreSQL was lost"
			    " during the transaction");
			return (DB_UNAVAILABLE);
		case V_BEGIN:
			c->lost_txn = 0;
			break;
		}
	}
	if (!pg_probe(c->limit_ms)) {
		set_err(c, "PostgreSQL is unavailable");
		return (DB_UNAVAILABLE);
	}
	if (c->conn == NULL) {
		if (now_ms() < c->next_try && pg_is_down) {
			set_err(c, "PostgreSQL is unavailable");
			return (DB_UNAVAILABLE);
		}
		if ((rc = pg_connect(c, deadline)) != DB_OK)
			return (rc);
		log_info("postgresql: connected again");
	}
	if (c->ndealloc > 0 &&
	    PQtransactionStatus(c->conn) != PQTRANS_INERROR) {
		p = q;
		for (i = 0; i < c->ndealloc; i++)
			p += sprintf(p, "DEALLOCATE q%u;", c->dealloc[i]);
		c->ndealloc = 0;
		if ((rc = pg_simple(c, q, deadline)) == DB_UNAVAILABLE)
			return (rc);
	}
	c->txn_open = PQtransactionStatus(c->conn) != PQTRANS_IDLE;
	return (DB_OK);
}

/* The first word of sql, for pg_gate. */
static enum pg_verb
pg_verb_of(const char *sql)
{
	size_t	 n;

	sql += strspn(sql, " \t\r\n");
	n = strcspn(sql, " \t\r\n;");
	if ((n == 5 && strncasecmp(sql, "BEGIN", 5) == 0) ||
	    (n == 5 && strncasecmp(sql, "START", 5) == 0))
		return (V_BEGIN);
	if ((n == 6 && strncasecmp(sql, "COMMIT", 6) == 0) ||
	    (n == 3 && strncasecmp(sql, "END", 3) == 0))
		return (V_COMMIT);
	if ((n == 8 && strncasecmp(sql, "ROLLBACK", 8) == 0) ||
	    (n == 5 && strncasecmp(sql, "ABORT", 5) == 0)) {
		sql += n;
		sql += strspn(sql, " \t\r\n");
		if (strncasecmp(sql, "TO", 2) == 0 && !isalnum((unsigned char)
		    sql[2]) && sql[2] != '_')
			return (V_OTHER);
		return (V_ROLLBACK);
	}
	return (V_OTHER);
}

static int64_t
pg_deadline(struct pgdb *c)
{
	return (now_ms() + c->limit_ms);
}

static struct db *
pg_open(const char *target, int busy_ms, int sync_full, char *err,
    size_t errlen)
{
	struct pgdb	*c;

	(void)sync_full;	/* synchronous_commit is the server's */
	c = xcalloc(1, sizeof *c);
	c->base.ops = &db_pg_ops;
	c->target = xstrdup(target);
	c->busy_ms = busy_ms > 0 ? busy_ms : 0;
	c->limit_ms = busy_ms > 0 ? busy_ms : PG_DEFAULT_LIMIT_MS;
	c->backoff = PG_BACKOFF_MIN_MS;
	if (pg_connect(c, pg_deadline(c)) != DB_OK) {
		snprintf(err, errlen, "postgresql: %s", c->err);
		free(c->target);
		free(c);
		return (NULL);
	}
	return (&c->base);
}

static void
pg_close(struct db *db)
{
	struct pgdb	*c = (struct pgdb *)db;
	int		 i;

	if (c->conn != NULL)
		PQfinish(c->conn);
	for (i = 0; i < c->nchannels; i++)
		free(c->channels[i]);
	free(c->target);
	free(c);
}

static int
pg_exec(struct db *db, const char *sql)
{
	struct pgdb	*c = (struct pgdb *)db;
	int64_t		 deadline = pg_deadline(c);
	int		 rc;

	if ((rc = pg_gate(c, pg_verb_of(sql), deadline)) != DB_OK)
		return (rc == DB_DONE ? DB_OK : rc);
	return (pg_simple(c, sql, deadline));
}

static int64_t
pg_changes(struct db *db)
{
	return (((struct pgdb *)db)->changes);
}

static int
pg_in_transaction(struct db *db)
{
	struct pgdb	*c = (struct pgdb *)db;

	if (c->conn == NULL)
		return (c->lost_txn);
	return (c->lost_txn ||
	    PQtransactionStatus(c->conn) != PQTRANS_IDLE);
}

static const char *
pg_errmsg(struct db *db)
{
	return (((struct pgdb *)db)->err);
}

/*
 * SQLite's placeholders to PostgreSQL's: ?N becomes $N and a bare ? the
 * number after the highest so far. Quoted strings and names, comments
 * and dollar-quoted text are copied as they are. Sets *nparams to the
 * highest number (counting $N written as such).
 */
static char *
pg_convert(const char *sql, int *nparams)
{
	char		*out, *o;
	const char	*s = sql, *e;
	size_t		 tag;
	long		 n;
	int		 max = 0;

	o = out = xmalloc(strlen(sql) * 2 + 1);
	while (*s != '\0') {
		if (*s == '\'' || *s == '"') {
			/* '...' and "..." end at a lone closing quote; E'..'
			 * also skips backslashed characters */
			char	 qc = *s;
			int	 bs = qc == '\'' && s > sql &&
			    (s[-1] == 'E' || s[-1] == 'e');

			*o++ = *s++;
			while (*s != '\0') {
				if (bs && *s == '\\' && s[1] != '\0') {
					*o++ = *s++;
					*o++ = *s++;
					continue;
				}
				if (*s == qc && s[1] == qc) {
					*o++ = *s++;
					*o++ = *s++;
					continue;
				}
				if (*s == qc)
					break;
				*o++ = *s++;
			}
			if (*s != '\0')
				*o++ = *s++;
		} else if (s[0] == '-' && s[1] == '-') {
			e = s + strcspn(s, "\n");
			memcpy(o, s, e - s);
			o += e - s;
			s = e;
		} else if (s[0] == '/' && s[1] == '*') {
			e = strstr(s + 2, "*/");
			e = e != NULL ? e + 2 : s + strlen(s);
			memcpy(o, s, e - s);
			o += e - s;
			s = e;
		} else if (*s == '$' && isdigit((unsigned char)s[1])) {
			n = strtol(s + 1, (char **)&e, 10);
			if (n > max && n <= PG_MAX_PARAMS)
				max = (int)n;
			memcpy(o, s, e - s);
			o += e - s;
			s = e;
		} else if (*s == '$' && (s == sql || !(isalnum((unsigned char)
		    s[-1]) || s[-1] == '_')) && (tag = strspn(s + 1,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
		    "0123456789")) + 1 > 0 && s[tag + 1] == '$') {
			/* $tag$ ... $tag$ */
			char	 t[64];

			snprintf(t, sizeof t, "%.*s", (int)tag + 2, s);
			e = strstr(s + tag + 2, t);
			e = e != NULL ? e + tag + 2 : s + strlen(s);
			memcpy(o, s, e - s);
			o += e - s;
			s = e;
		} else if (*s == '?') {
			s++;
			if (isdigit((unsigned char)*s)) {
				n = strtol(s, (char **)&e, 10);
				s = e;
			} else
				n = max + 1;
			if (n < 1 || n > PG_MAX_PARAMS)
				n = PG_MAX_PARAMS;
			if (n > max)
				max = (int)n;
			o += sprintf(o, "$%ld", n);
		} else
			*o++ = *s++;
	}
	*o = '\0';
	*nparams = max;
	return (out);
}

static struct dbq *
pg_prepare(struct db *db, const char *sql)
{
	struct pgq	*q;

	q = xcalloc(1, sizeof *q);
	q->base.db = db;
	q->sql = pg_convert(sql, &q->nparams);
	q->verb = pg_verb_of(sql);
	if (q->nparams > 0) {
		q->params = xcalloc(q->nparams, sizeof *q->params);
		q->types = xcalloc(q->nparams, sizeof *q->types);
	}
	return (&q->base);
}

static void
pg_row_free(struct pgq *q)
{
	int	 i;

	for (i = 0; i < q->ncols; i++) {
		free(q->bytea[i]);
		q->bytea[i] = NULL;
	}
}

static void
pg_clear(struct pgq *q)
{
	pg_row_free(q);
	PQclear(q->res);
	q->res = NULL;
	q->row = 0;
}

static void
pg_param_free(struct pgparam *p)
{
	if (p->owned)
		free(p->val);
	memset(p, 0, sizeof *p);
}

static void
pg_finalize(struct dbq *bq)
{
	struct pgq	*q = (struct pgq *)bq;
	struct pgdb	*c = (struct pgdb *)bq->db;
	int		 i;

	pg_clear(q);
	if (q->gen == c->gen && c->conn != NULL &&
	    c->ndealloc < PG_DEALLOC_MAX)
		c->dealloc[c->ndealloc++] = q->name;
	for (i = 0; i < q->nparams; i++)
		pg_param_free(&q->params[i]);
	free(q->params);
	free(q->types);
	free(q->bytea);
	free(q->bytea_len);
	free(q->sql);
	free(q);
}

static struct pgparam *
pg_param(struct pgq *q, int i)
{
	if (i < 1 || i > q->nparams)
		return (NULL);
	pg_param_free(&q->params[i - 1]);
	return (&q->params[i - 1]);
}

static void
pg_bind_int64(struct dbq *bq, int i, int64_t v)
{
	struct pgparam	*p;

	if ((p = pg_param((struct pgq *)bq, i)) == NULL)
		return;
	p->len = snprintf(p->num, sizeof p->num, "%" PRId64, v);
	p->val = p->num;
	p->oid = OID_INT8;
}

static void
pg_bind_double(struct dbq *bq, int i, double v)
{
	struct pgparam	*p;

	if ((p = pg_param((struct pgq *)bq, i)) == NULL)
		return;
	p->len = snprintf(p->num, sizeof p->num, "%.17g", v);
	p->val = p->num;
	p->oid = OID_FLOAT8;
}

static void
pg_bind_text(struct dbq *bq, int i, const char *v, int flags)
{
	struct pgparam	*p;

	if ((p = pg_param((struct pgq *)bq, i)) == NULL)
		return;
	p->len = (int)strlen(v);
	p->owned = (flags & DB_COPY) != 0;
	p->val = p->owned ? xstrdup(v) : (char *)v;
	p->oid = OID_NONE;
}

static void
pg_bind_blob(struct dbq *bq, int i, const void *v, size_t n, int flags)
{
	struct pgparam	*p;

	if ((p = pg_param((struct pgq *)bq, i)) == NULL)
		return;
	p->len = (int)n;
	p->owned = (flags & DB_COPY) != 0;
	if (p->owned) {
		p->val = xmalloc(n > 0 ? n : 1);
		memcpy(p->val, v, n);
	} else
		p->val = (char *)(v != NULL ? v : "");
	p->binary = 1;
	p->oid = OID_BYTEA;
}

static void
pg_bind_null(struct dbq *bq, int i)
{
	pg_param((struct pgq *)bq, i);
}

/* Prepares q on the connection if it is not, or was for other types of
 * values (a NULL goes with any type). */
static int
pg_ready(struct pgdb *c, struct pgq *q, int64_t deadline)
{
	char		 name[16];
	int		 i, again = 0, rc;

	for (i = 0; i < q->nparams && q->gen == c->gen; i++)
		if (q->params[i].val != NULL &&
		    q->params[i].oid != q->types[i])
			again = 1;
	if (q->gen == c->gen && !again)
		return (DB_OK);
	if (q->gen == c->gen && c->ndealloc < PG_DEALLOC_MAX)
		c->dealloc[c->ndealloc++] = q->name;
	for (i = 0; i < q->nparams; i++)
		q->types[i] = q->params[i].oid;
	q->gen = 0;
	q->name = ++c->names;
	snprintf(name, sizeof name, "q%u", q->name);
	if (!PQsendPrepare(c->conn, name, q->sql, q->nparams, q->types)) {
		set_err(c, PQerrorMessage(c->conn));
		pg_drop(c, c->err);
		return (DB_UNAVAILABLE);
	}
	if ((rc = pg_results(c, deadline, NULL)) == DB_OK)
		q->gen = c->gen;
	return (rc);
}

/* Runs q and keeps its rows. */
static int
pg_run(struct pgq *q)
{
	struct pgdb	*c = (struct pgdb *)q->base.db;
	int64_t		 deadline = pg_deadline(c);
	const char	**vals = NULL;
	int		*lens = NULL, *fmts = NULL, i, rc;
	char		 name[16];

	if ((rc = pg_gate(c, q->verb, deadline)) != DB_OK)
		return (rc);
	if ((rc = pg_ready(c, q, deadline)) != DB_OK)
		return (rc);
	if (q->nparams > 0) {
		vals = xcalloc(q->nparams, sizeof *vals);
		lens = xcalloc(q->nparams, sizeof *lens);
		fmts = xcalloc(q->nparams, sizeof *fmts);
		for (i = 0; i < q->nparams; i++) {
			vals[i] = q->params[i].val;
			lens[i] = q->params[i].len;
			fmts[i] = q->params[i].binary;
		}
	}
	snprintf(name, sizeof name, "q%u", q->name);
	if (!PQsendQueryPrepared(c->conn, name, q->nparams, vals, lens, fmts,
	    0)) {
		set_err(c, PQerrorMessage(c->conn));
		pg_drop(c, c->err);
		rc = DB_UNAVAILABLE;
	} else
		rc = pg_results(c, deadline, &q->res);
	free(vals);
	free(lens);
	free(fmts);
	if (rc == DB_OK && q->res != NULL && PQnfields(q->res) > q->ncols) {
		q->ncols = PQnfields(q->res);
		q->bytea = xrealloc(q->bytea, q->ncols * sizeof *q->bytea);
		q->bytea_len = xrealloc(q->bytea_len, q->ncols *
		    sizeof *q->bytea_len);
		memset(q->bytea, 0, q->ncols * sizeof *q->bytea);
	}
	return (rc);
}

static int
pg_step(struct dbq *bq)
{
	struct pgq	*q = (struct pgq *)bq;
	int		 rc;

	if (q->res != NULL) {
		pg_row_free(q);
		if (++q->row < PQntuples(q->res))
			return (DB_ROW);
		pg_clear(q);
		q->done = 1;
		return (DB_DONE);
	}
	/* After the end, a step runs the statement again, as SQLite's. */
	q->done = 0;
	if ((rc = pg_run(q)) != DB_OK) {
		q->done = 1;
		return (rc);
	}
	if (q->res != NULL && PQntuples(q->res) > 0)
		return (DB_ROW);
	pg_clear(q);
	q->done = 1;
	return (DB_DONE);
}

static const char *
pg_value(struct pgq *q, int col)
{
	if (q->res == NULL || col < 0 || col >= PQnfields(q->res) ||
	    PQgetisnull(q->res, q->row, col))
		return (NULL);
	return (PQgetvalue(q->res, q->row, col));
}

static int
pg_null(struct dbq *bq, int col)
{
	return (pg_value((struct pgq *)bq, col) == NULL);
}

static int64_t
pg_get_int64(struct dbq *bq, int col)
{
	const char	*v = pg_value((struct pgq *)bq, col);
	char		*end;
	long long	 n;

	if (v == NULL)
		return (0);
	if (strcmp(v, "t") == 0)
		return (1);
	if (strcmp(v, "f") == 0)
		return (0);
	n = strtoll(v, &end, 10);
	if (*end == '.' || *end == 'e' || *end == 'E')
		return ((int64_t)strtod(v, NULL));
	return (n);
}

static double
pg_get_double(struct dbq *bq, int col)
{
	const char	*v = pg_value((struct pgq *)bq, col);

	if (v == NULL)
		return (0);
	if (strcmp(v, "t") == 0)
		return (1);
	if (strcmp(v, "f") == 0)
		return (0);
	return (strtod(v, NULL));
}

/* A bytea column, unescaped once per row (with a NUL after it, for
 * dbq_text); NULL if col is not one. */
static const unsigned char *
pg_bytea(struct pgq *q, int col, size_t *len)
{
	const char	*v = pg_value(q, col);
	unsigned char	*raw;
	size_t		 n;

	if (v == NULL || PQftype(q->res, col) != OID_BYTEA)
		return (NULL);
	if (q->bytea[col] == NULL) {
		if ((raw = PQunescapeBytea((const unsigned char *)v, &n)) ==
		    NULL)
			return (NULL);
		q->bytea[col] = xmalloc(n + 1);
		memcpy(q->bytea[col], raw, n);
		q->bytea[col][n] = '\0';
		q->bytea_len[col] = n;
		PQfreemem(raw);
	}
	*len = q->bytea_len[col];
	return (q->bytea[col]);
}

static const char *
pg_text(struct dbq *bq, int col)
{
	struct pgq		*q = (struct pgq *)bq;
	const unsigned char	*b;
	size_t			 n;

	if ((b = pg_bytea(q, col, &n)) != NULL)
		return ((const char *)b);
	return (pg_value(q, col));
}

static const void *
pg_blob(struct dbq *bq, int col)
{
	return (pg_text(bq, col));
}

static size_t
pg_bytes(struct dbq *bq, int col)
{
	struct pgq	*q = (struct pgq *)bq;
	size_t		 n;

	if (pg_value(q, col) == NULL)
		return (0);
	if (pg_bytea(q, col, &n) != NULL)
		return (n);
	return (PQgetlength(q->res, q->row, col));
}

static void
pg_reset(struct dbq *bq)
{
	struct pgq	*q = (struct pgq *)bq;
	int		 i;

	pg_clear(q);
	q->done = 0;
	for (i = 0; i < q->nparams; i++)
		pg_param_free(&q->params[i]);
}

static int
pg_listen(struct db *db, const char *channel)
{
	struct pgdb	*c = (struct pgdb *)db;
	int64_t		 deadline = pg_deadline(c);
	char		 q[128], *id;
	int		 i, rc;

	for (i = 0; i < c->nchannels; i++)
		if (strcmp(c->channels[i], channel) == 0)
			break;
	if (i == PG_MAX_CHANNELS) {
		set_err(c, "too many channels");
		return (DB_ERROR);
	}
	/* kept, to LISTEN again on every new connection */
	if (i == c->nchannels)
		c->channels[c->nchannels++] = xstrdup(channel);
	if ((rc = pg_gate(c, V_OTHER, deadline)) != DB_OK)
		return (rc == DB_DONE ? DB_OK : rc);
	id = PQescapeIdentifier(c->conn, channel, strlen(channel));
	snprintf(q, sizeof q, "LISTEN %s", id != NULL ? id : "\"\"");
	PQfreemem(id);
	return (pg_simple(c, q, deadline));
}

static int
pg_socket(struct db *db)
{
	struct pgdb	*c = (struct pgdb *)db;

	return (c->conn != NULL ? PQsocket(c->conn) : -1);
}

static int
pg_notified(struct db *db)
{
	struct pgdb	*c = (struct pgdb *)db;
	PGnotify	*n;
	int		 count;

	if (c->conn != NULL) {
		if (!PQconsumeInput(c->conn)) {
			set_err(c, PQerrorMessage(c->conn));
			pg_drop(c, c->err);
			c->notified++;	/* look, and connect again */
		} else {
			while ((n = PQnotifies(c->conn)) != NULL) {
				c->notified++;
				PQfreemem(n);
			}
		}
	}
	count = c->notified;
	c->notified = 0;
	return (count);
}

const struct db_ops db_pg_ops = {
	.kind = DB_PG,
	.open = pg_open,
	.close = pg_close,
	.exec = pg_exec,
	.changes = pg_changes,
	.in_transaction = pg_in_transaction,
	.errmsg = pg_errmsg,
	.prepare = pg_prepare,
	.finalize = pg_finalize,
	.bind_int64 = pg_bind_int64,
	.bind_double = pg_bind_double,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.bind_null = pg_bind_null,
	.step = pg_step,
	.null = pg_null,
	.int64 = pg_get_int64,
	.dbl = pg_get_double,
	.text = pg_text,
	.blob = pg_blob,
	.bytes = pg_bytes,
	.reset = pg_reset,
	.listen = pg_listen,
	.socket = pg_socket,
	.notified = pg_notified,
};
