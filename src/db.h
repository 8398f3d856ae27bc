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
 * db: one small interface over a SQLite connection (db_sqlite.c) and a
 * PostgreSQL one (db_pg.c), in SQLite's model: prepare once, bind, step
 * through the rows, reset. The store (store*.c) is its only user and
 * keeps the SQL of each dialect; nothing above the store sees a db.
 *
 * SQL is written with SQLite's placeholders, ? and ?N; the PostgreSQL
 * side turns them into $N (a bare ? is numbered after the highest so
 * far, as SQLite does). Values are bound by index from 1, read by column
 * from 0. A bound string or blob must stay valid until the first
 * dbq_step after the binding, unless bound with DB_COPY.
 *
 * A connection is used by one thread at a time. On PostgreSQL every call
 * that goes to the server has a time limit (the timeout given to
 * db_open); a connection that fails or times out is dropped, the call
 * returns DB_UNAVAILABLE, and the next call connects again (no more than
 * once per backoff step), preparing its statements again as they run.
 */

#ifndef BASALT_DB_H
#define BASALT_DB_H

#include <stddef.h>
#include <stdint.h>

struct db;
struct dbq;

enum db_kind {
	DB_SQLITE,
	DB_PG
};

/* Results: DB_OK, or from dbq_step a row (DB_ROW) or the end (DB_DONE);
 * failures are negative. */
#define DB_OK		 0
#define DB_ROW		 1
#define DB_DONE		 2
#define DB_BUSY		-1	/* locked past the time limit, or a
				   serialization failure or deadlock */
#define DB_CONSTRAINT	-2	/* a unique, foreign key or check failed */
#define DB_ERROR	-3	/* anything else (logged with its message) */
#define DB_UNAVAILABLE	-4	/* PostgreSQL cannot be reached now */

#define DB_COPY		1	/* dbq_bind_text/blob: copy the value */

/* True when target names a PostgreSQL database (a postgresql:// or
 * postgres:// URI); anything else is a SQLite file's path. */
int		 db_target_is_pg(const char *target);

/*
 * Opens target. SQLite: the file, created if missing, in WAL mode with
 * foreign keys on, synchronous FULL when sync_full; busy_ms is its busy
 * timeout. PostgreSQL: connects with libpq (the password from ~/.pgpass
 * or PGPASSFILE), and busy_ms is every call's time limit. NULL and err
 * set when it cannot; err never holds a password.
 */
struct db	*db_open(const char *target, int busy_ms, int sync_full,
		    char *err, size_t errlen);
void		 db_close(struct db *);		/* db may be NULL */
enum db_kind	 db_kind(const struct db *);
/* Runs fixed SQL (never input): one or more statements, no rows. */
int		 db_exec(struct db *, const char *sql);
/* Rows changed by the last INSERT, UPDATE or DELETE that ran. */
int64_t		 db_changes(struct db *);
int		 db_in_transaction(struct db *);
/* The message of the last failure, valid until the next call. */
const char	*db_errmsg(struct db *);

/* A statement, prepared (on the server too) when first stepped; NULL and
 * db_errmsg set if SQLite cannot parse it. */
struct dbq	*db_prepare(struct db *, const char *sql);
void		 dbq_finalize(struct dbq *);	/* q may be NULL */
void		 dbq_bind_int64(struct dbq *, int i, int64_t);
void		 dbq_bind_double(struct dbq *, int i, double);
void		 dbq_bind_text(struct dbq *, int i, const char *, int flags);
		/* NULL binds NULL */
void		 dbq_bind_blob(struct dbq *, int i, const void *, size_t,
		    int flags);
void		 dbq_bind_null(struct dbq *, int i);
/* DB_ROW, DB_DONE, or a failure (then the statement is done: reset it). */
int		 dbq_step(struct dbq *);
int		 dbq_null(struct dbq *, int col);
/* A column of the current row. Integers read PostgreSQL's booleans as
 * 1 and 0; text is NULL for NULL, valid until the next step or reset. */
int64_t		 dbq_int64(struct dbq *, int col);
double		 dbq_double(struct dbq *, int col);
const char	*dbq_text(struct dbq *, int col);
const void	*dbq_blob(struct dbq *, int col);
size_t		 dbq_bytes(struct dbq *, int col);
/* Ends the statement's run and clears its bindings: ready to bind. */
void		 dbq_reset(struct dbq *);

/* PostgreSQL only: LISTEN on channel (a fixed name), the socket to watch
 * for notifications (-1 while disconnected), and how many arrived since
 * the last call (reads them off the socket; never blocks). */
int		 db_listen(struct db *, const char *channel);
int		 db_socket(struct db *);
int		 db_notified(struct db *);

#endif
