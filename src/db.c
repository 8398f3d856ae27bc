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

/* db.h's calls, each handed to the side its connection belongs to. */

#include <stdio.h>
#include <string.h>

#include "db_impl.h"

int
db_target_is_pg(const char *target)
{
	return (strncmp(target, "postgresql://", 13) == 0 ||
	    strncmp(target, "postgres://", 11) == 0);
}

struct db *
db_open(const char *target, int busy_ms, int sync_full, char *err,
    size_t errlen)
{
	if (!db_target_is_pg(target))
		return (db_sqlite_ops.open(target, busy_ms, sync_full, err,
		    errlen));
#ifdef HAVE_LIBPQ
	return (db_pg_ops.open(target, busy_ms, sync_full, err, errlen));
#else
	snprintf(err, errlen, "this basalt was built without PostgreSQL"
	    " (libpq-dev was missing when it was configured)");
	return (NULL);
#endif
}

void
db_close(struct db *db)
{
	if (db != NULL)
		db->ops->close(db);
}

enum db_kind
db_kind(const struct db *db)
{
	return (db->ops->kind);
}

int
db_exec(struct db *db, const char *sql)
{
	return (db->ops->exec(db, sql));
}

int64_t
db_changes(struct db *db)
{
	return (db->ops->changes(db));
}

int
db_in_transaction(struct db *db)
{
	return (db->ops->in_transaction(db));
}

const char *
db_errmsg(struct db *db)
{
	return (db->ops->errmsg(db));
}

struct dbq *
db_prepare(struct db *db, const char *sql)
{
	return (db->ops->prepare(db, sql));
}

void
dbq_finalize(struct dbq *q)
{
	if (q != NULL)
		q->db->ops->finalize(q);
}

void
dbq_bind_int64(struct dbq *q, int i, int64_t v)
{
	q->db->ops->bind_int64(q, i, v);
}

void
dbq_bind_double(struct dbq *q, int i, double v)
{
	q->db->ops->bind_double(q, i, v);
}

void
dbq_bind_text(struct dbq *q, int i, const char *v, int flags)
{
	if (v == NULL)
		q->db->ops->bind_null(q, i);
	else
		q->db->ops->bind_text(q, i, v, flags);
}

void
dbq_bind_blob(struct dbq *q, int i, const void *v, size_t n, int flags)
{
	q->db->ops->bind_blob(q, i, v, n, flags);
}

void
dbq_bind_null(struct dbq *q, int i)
{
	q->db->ops->bind_null(q, i);
}

int
dbq_step(struct dbq *q)
{
	return (q->db->ops->step(q));
}

int
dbq_null(struct dbq *q, int col)
{
	return (q->db->ops->null(q, col));
}

int64_t
dbq_int64(struct dbq *q, int col)
{
	return (q->db->ops->int64(q, col));
}

double
dbq_double(struct dbq *q, int col)
{
	return (q->db->ops->dbl(q, col));
}

const char *
dbq_text(struct dbq *q, int col)
{
	return (q->db->ops->text(q, col));
}

const void *
dbq_blob(struct dbq *q, int col)
{
	return (q->db->ops->blob(q, col));
}

size_t
dbq_bytes(struct dbq *q, int col)
{
	return (q->db->ops->bytes(q, col));
}

void
dbq_reset(struct dbq *q)
{
	q->db->ops->reset(q);
}

int
db_listen(struct db *db, const char *channel)
{
	return (db->ops->listen(db, channel));
}

int
db_socket(struct db *db)
{
	return (db->ops->socket(db));
}

int
db_notified(struct db *db)
{
	return (db->ops->notified(db));
}
