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

/* db.h's SQLite side: a connection opened without SQLite's mutex (one
 * thread at a time uses it), statements prepared once and kept. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "db_impl.h"
#include "basalt.h"

struct sq_db {
	struct db	 base;
	sqlite3		*db;
};

struct sq_q {
	struct dbq	 base;
	sqlite3_stmt	*s;
	int		 bind_rc;	/* the first binding that failed */
};

#define SQ_DB(d)	(((struct sq_db *)(d))->db)
#define SQ_Q(q)		((struct sq_q *)(q))

/* SQLite's result as db.h's. */
static int
sq_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
		return (DB_OK);
	case SQLITE_ROW:
		return (DB_ROW);
	case SQLITE_DONE:
		return (DB_DONE);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return (DB_BUSY);
	case SQLITE_CONSTRAINT:
		return (DB_CONSTRAINT);
	default:
		return (DB_ERROR);
	}
}

static void sq_close(struct db *);
static int sq_exec(struct db *, const char *);

static struct db *
sq_open(const char *path, int busy_ms, int sync_full, char *err,
    size_t errlen)
{
	struct sq_db	*d;
	int		 rc;

	d = xcalloc(1, sizeof *d);
	d->base.ops = &db_sqlite_ops;
	rc = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, d->db != NULL ?
		    sqlite3_errmsg(d->db) : "cannot open");
		sq_close(&d->base);
		return (NULL);
	}
	sqlite3_busy_timeout(d->db, busy_ms);
	sqlite3_extended_result_codes(d->db, 0);
	if (sq_exec(&d->base, "PRAGMA journal_mode = WAL") != DB_OK ||
	    sq_exec(&d->base, sync_full ? "PRAGMA synchronous = FULL" :
	    "PRAGMA synchronous = NORMAL") != DB_OK ||
	    sq_exec(&d->base, "PRAGMA foreign_keys = ON") != DB_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(d->db));
		sq_close(&d->base);
		return (NULL);
	}
	return (&d->base);
}

/* The caller has finalized every statement. */
static void
sq_close(struct db *db)
{
	sqlite3_close(SQ_DB(db));
	free(db);
}

static int
sq_exec(struct db *db, const char *sql)
{
	return (sq_rc(sqlite3_exec(SQ_DB(db), sql, NULL, NULL, NULL)));
}

static int64_t
sq_changes(struct db *db)
{
	return (sqlite3_changes(SQ_DB(db)));
}

static int
sq_in_transaction(struct db *db)
{
	return (!sqlite3_get_autocommit(SQ_DB(db)));
}

static const char *
sq_errmsg(struct db *db)
{
	return (sqlite3_errmsg(SQ_DB(db)));
}

static struct dbq *
sq_prepare(struct db *db, const char *sql)
{
	struct sq_q	*q;
	sqlite3_stmt	*s;

	if (sqlite3_prepare_v3(SQ_DB(db), sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &s, NULL) != SQLITE_OK)
		return (NULL);
	q = xcalloc(1, sizeof *q);
	q->base.db = db;
	q->s = s;
	q->bind_rc = SQLITE_OK;
	return (&q->base);
}

static void
sq_finalize(struct dbq *q)
{
	sqlite3_finalize(SQ_Q(q)->s);
	free(q);
}

/* A binding that fails (an index out of range) fails the next step. */
static void
sq_bound(struct dbq *q, int rc)
{
	if (rc != SQLITE_OK && SQ_Q(q)->bind_rc == SQLITE_OK)
		SQ_Q(q)->bind_rc = rc;
}

static void
sq_bind_int64(struct dbq *q, int i, int64_t v)
{
	sq_bound(q, sqlite3_bind_int64(SQ_Q(q)->s, i, v));
}

static void
sq_bind_double(struct dbq *q, int i, double v)
{
	sq_bound(q, sqlite3_bind_double(SQ_Q(q)->s, i, v));
}

static void
sq_bind_text(struct dbq *q, int i, const char *v, int flags)
{
	sq_bound(q, sqlite3_bind_text(SQ_Q(q)->s, i, v, -1,
	    (flags & DB_COPY) ? SQLITE_TRANSIENT : SQLITE_STATIC));
}

static void
sq_bind_blob(struct dbq *q, int i, const void *v, size_t n, int flags)
{
	sq_bound(q, sqlite3_bind_blob64(SQ_Q(q)->s, i, v, n,
	    (flags & DB_COPY) ? SQLITE_TRANSIENT : SQLITE_STATIC));
}

static void
sq_bind_null(struct dbq *q, int i)
{
	sq_bound(q, sqlite3_bind_null(SQ_Q(q)->s, i));
}

static int
sq_step(struct dbq *q)
{
	if (SQ_Q(q)->bind_rc != SQLITE_OK)
		return (sq_rc(SQ_Q(q)->bind_rc));
	return (sq_rc(sqlite3_step(SQ_Q(q)->s)));
}

static int
sq_null(struct dbq *q, int col)
{
	return (sqlite3_column_type(SQ_Q(q)->s, col) == SQLITE_NULL);
}

static int64_t
sq_int64(struct dbq *q, int col)
{
	return (sqlite3_column_int64(SQ_Q(q)->s, col));
}

static double
sq_double(struct dbq *q, int col)
{
	return (sqlite3_column_double(SQ_Q(q)->s, col));
}

static const char *
sq_text(struct dbq *q, int col)
{
	return ((const char *)sqlite3_column_text(SQ_Q(q)->s, col));
}

static const void *
sq_blob(struct dbq *q, int col)
{
	return (sqlite3_column_blob(SQ_Q(q)->s, col));
}

static size_t
sq_bytes(struct dbq *q, int col)
{
	return ((size_t)sqlite3_column_bytes(SQ_Q(q)->s, col));
}

static void
sq_reset(struct dbq *q)
{
	sqlite3_reset(SQ_Q(q)->s);
	sqlite3_clear_bindings(SQ_Q(q)->s);
	SQ_Q(q)->bind_rc = SQLITE_OK;
}

/* SQLite has no notifications: another process's commits are seen by
 * polling PRAGMA data_version. */
static int
sq_listen(struct db *db, const char *channel)
{
	(void)db;
	(void)channel;
	return (-1);
}

static int
sq_socket(struct db *db)
{
	(void)db;
	return (-1);
}

static int
sq_notified(struct db *db)
{
	(void)db;
	return (0);
}

const struct db_ops db_sqlite_ops = {
	.kind = DB_SQLITE,
	.open = sq_open,
	.close = sq_close,
	.exec = sq_exec,
	.changes = sq_changes,
	.in_transaction = sq_in_transaction,
	.errmsg = sq_errmsg,
	.prepare = sq_prepare,
	.finalize = sq_finalize,
	.bind_int64 = sq_bind_int64,
	.bind_double = sq_bind_double,
	.bind_text = sq_bind_text,
	.bind_blob = sq_bind_blob,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.null = sq_null,
	.int64 = sq_int64,
	.dbl = sq_double,
	.text = sq_text,
	.blob = sq_blob,
	.bytes = sq_bytes,
	.reset = sq_reset,
	.listen = sq_listen,
	.socket = sq_socket,
	.notified = sq_notified,
};
