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

/* The webhooks table (schema version 7): what the CLI, the admin routes
 * and the delivery thread (webhook.c) read and write. Every write is one
 * statement, so one short transaction of its own; the delivery thread's
 * writes hold only while its lease does. */

#include <stdlib.h>
#include <string.h>

#include "basalt.h"
#include "db.h"

#define WEBHOOK_COLUMNS	"w.id, r.name, a.name, w.url, w.collections," \
	" w.types, w.secret, w.app_id, w.cursor, w.state = 'paused'," \
	" w.failures, w.last_error, w.next_attempt"
#define WEBHOOK_FROM	" FROM webhooks w JOIN apps a ON a.id = w.app_id" \
	" JOIN realms r ON r.id = a.realm_id"

/* The statements, each prepared once per store (store_stmt_ext): the
 * delivery thread runs them after every commit. On PostgreSQL the store
 * takes webhook_sql_pg[WH_x] (store_sql_pg.h) where SQLite's text does
 * not serve. */
enum {
	WH_INSERT,
	WH_LIST,
	WH_DELETE,
	WH_RESUME,
	WH_LEASE,
	WH_RELEASE,
	WH_DELIVERED,
	WH_FAILED,
	WH_EVENTS
};

static void
wh_text(struct dbq *s, int i, const char *v)
{
	dbq_bind_text(s, i, v, 0);
}

/* Runs a statement that changes rows and resets it: STORE_NOTFOUND if it
 * changed none. */
static int
wh_run(struct store *st, struct dbq *s)
{
	int	 rc = store_rc(st, dbq_step(s));

	dbq_reset(s);
	if (rc == STORE_OK && db_changes(store_db(st)) == 0)
		rc = STORE_NOTFOUND;
	return (rc);
}

/* Adds w (id, app_id, url, collections, types, secret); its cursor is
 * the log's head, so it sends the events written from now on. */
int
store_webhook_insert(struct store *st, const struct webhook *w)
{
	struct dbq	*s;
	char		 ts[TIMESTAMP_LEN + 1];

	time_iso(time_now_ms(), ts);
	s = store_stmt_ext(st, WH_INSERT,
	    "INSERT INTO webhooks (id, app_id, url,"
	    " collections, types, secret, cursor, created_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, coalesce((SELECT seq"
	    " FROM sqlite_sequence WHERE name = 'events'), 0), ?7)");
	wh_text(s, 1, w->id);
	dbq_bind_int64(s, 2, w->app_id);
	wh_text(s, 3, w->url);
	wh_text(s, 4, w->collections);
	wh_text(s, 5, w->types);
	wh_text(s, 6, w->secret);
	wh_text(s, 7, ts);
	return (wh_run(st, s));
}

static void
wh_row(struct dbq *s, struct webhook *w)
{
	memset(w, 0, sizeof *w);
	w->id = dbq_text(s, 0);
	w->realm = dbq_text(s, 1);
	w->app = dbq_text(s, 2);
	w->url = dbq_text(s, 3);
	w->collections = dbq_text(s, 4);
	w->types = dbq_text(s, 5);
	w->secret = dbq_text(s, 6);
	w->app_id = dbq_int64(s, 7);
	w->cursor = dbq_int64(s, 8);
	w->paused = (int)dbq_int64(s, 9);
	w->failures = (int)dbq_int64(s, 10);
	w->last_error = dbq_text(s, 11);
	w->next_attempt_ms = dbq_int64(s, 12);
}

/* Calls fn for each webhook of the app (app_id 0: of every app), by id;
 * the strings hold during the call only. Due only (due_ms != 0): the
 * active ones whose next attempt is due at due_ms. */
int
store_webhook_list(struct store *st, int64_t app_id, int64_t due_ms,
    void (*fn)(void *, const struct webhook *), void *arg)
{
	struct dbq	*s;
	struct webhook	 w;
	int		 rc;

	s = store_stmt_ext(st, WH_LIST,
	    "SELECT " WEBHOOK_COLUMNS WEBHOOK_FROM
	    " WHERE (?1 = 0 OR w.app_id = ?1) AND (?2 = 0 OR"
	    " (w.state = 'active' AND w.next_attempt <= ?2)) ORDER BY w.id");
	dbq_bind_int64(s, 1, app_id);
	dbq_bind_int64(s, 2, due_ms);
	while ((rc = dbq_step(s)) == DB_ROW) {
		wh_row(s, &w);
		fn(arg, &w);
	}
	rc = store_rc(st, rc);
	dbq_reset(s);
	return (rc);
}

/* Removes the app's webhook id. */
int
store_webhook_delete(struct store *st, int64_t app_id, const char *id)
{
	struct dbq	*s;

	s = store_stmt_ext(st, WH_DELETE,
	    "DELETE FROM webhooks WHERE app_id = ? AND id = ?");
	dbq_bind_int64(s, 1, app_id);
	wh_text(s, 2, id);
	return (wh_run(st, s));
}

/* Makes the app's webhook id active again, its failures forgotten and its
 * next attempt now; it goes on from its cursor. */
int
store_webhook_resume(struct store *st, int64_t app_id, const char *id)
{
	struct dbq	*s;

	s = store_stmt_ext(st, WH_RESUME,
	    "UPDATE webhooks SET state = 'active',"
	    " failures = 0, next_attempt = 0 WHERE app_id = ? AND id = ?");
	dbq_bind_int64(s, 1, app_id);
	wh_text(s, 2, id);
	return (wh_run(st, s));
}

/* Takes or renews the lease on webhook w for holder until until_ms if it
 * is due at now_ms: STORE_OK, with w's cursor and failures as they are
 * under the lease, or STORE_NOTFOUND if another holder's lease runs still
 * or the webhook is gone, paused or not due. (What was read before the
 * lease may be what the previous holder has changed since.) */
int
store_webhook_lease(struct store *st, struct webhook *w, const char *holder,
    int64_t now_ms, int64_t until_ms)
{
	struct dbq	*s;
	int		 rc;

	s = store_stmt_ext(st, WH_LEASE,
	    "UPDATE webhooks SET lease_holder = ?2,"
	    " lease_expires = ?4 WHERE id = ?1 AND state = 'active'"
	    " AND next_attempt <= ?3 AND (lease_holder = ?2 OR"
	    " lease_expires < ?3) RETURNING cursor, failures");
	wh_text(s, 1, w->id);
	wh_text(s, 2, holder);
	dbq_bind_int64(s, 3, now_ms);
	dbq_bind_int64(s, 4, until_ms);
	if ((rc = dbq_step(s)) == DB_ROW) {
		w->cursor = dbq_int64(s, 0);
		w->failures = (int)dbq_int64(s, 1);
		rc = dbq_step(s);
		rc = store_rc(st, rc);
	} else if (rc == DB_DONE)
		rc = STORE_NOTFOUND;
	else
		rc = store_rc(st, rc);
	dbq_reset(s);
	return (rc);
}

/* Lets go of every lease of holder (at a clean stop). */
int
store_webhook_release(struct store *st, const char *holder)
{
	struct dbq	*s;
	int		 rc;

	s = store_stmt_ext(st, WH_RELEASE,
	    "UPDATE webhooks SET lease_expires = 0"
	    " WHERE lease_holder = ?");
	wh_text(s, 1, holder);
	rc = wh_run(st, s);
	return (rc == STORE_NOTFOUND ? STORE_OK : rc);
}

/* A delivery of the events up to cursor was answered with a 2xx: the
 * cursor moves there, if holder still holds the lease. */
int
store_webhook_delivered(struct store *st, const char *id, const char *holder,
    int64_t cursor)
{
	struct dbq	*s;

	s = store_stmt_ext(st, WH_DELIVERED,
	    "UPDATE webhooks SET cursor = max(cursor, ?3),"
	    " failures = 0, next_attempt = 0 WHERE id = ?1"
	    " AND lease_holder = ?2");
	wh_text(s, 1, id);
	wh_text(s, 2, holder);
	dbq_bind_int64(s, 3, cursor);
	return (wh_run(st, s));
}

/* A delivery failed with error: one more failure in a row, the next
 * attempt at next_ms, paused once max failures are reached. */
int
store_webhook_failed(struct store *st, const char *id, const char *holder,
    const char *error, int64_t next_ms, int max)
{
	struct dbq	*s;

	s = store_stmt_ext(st, WH_FAILED,
	    "UPDATE webhooks SET failures = failures + 1,"
	    " last_error = ?3, next_attempt = ?4, state = CASE"
	    " WHEN failures + 1 >= ?5 THEN 'paused' ELSE state END"
	    " WHERE id = ?1 AND lease_holder = ?2");
	wh_text(s, 1, id);
	wh_text(s, 2, holder);
	wh_text(s, 3, error);
	dbq_bind_int64(s, 4, next_ms);
	dbq_bind_int64(s, 5, max);
	return (wh_run(st, s));
}

/* Calls fn for at most limit events of w's app after w's cursor, in log
 * order, of w's collections and types; the number of events. */
int
store_webhook_events(struct store *st, const struct webhook *w, int limit,
    void (*fn)(void *, const struct event_row *, int64_t created_ms),
    void *arg)
{
	struct dbq	*s;
	struct event_row ev;
	int		 rc, n = 0;

	s = store_stmt_ext(st, WH_EVENTS,
	    "SELECT id, collection, record_id, type, data,"
	    " created_ms FROM events WHERE realm = ?1 AND app = ?2"
	    " AND id > ?3 AND (?4 IS NULL OR"
	    " instr(?4, ',' || collection || ',') > 0) AND (?5 IS NULL OR"
	    " instr(?5, ',' || type || ',') > 0) ORDER BY id LIMIT ?6");
	wh_text(s, 1, w->realm);
	wh_text(s, 2, w->app);
	dbq_bind_int64(s, 3, w->cursor);
	wh_text(s, 4, w->collections);
	wh_text(s, 5, w->types);
	dbq_bind_int64(s, 6, limit);
	while ((rc = dbq_step(s)) == DB_ROW) {
		memset(&ev, 0, sizeof ev);
		ev.id = dbq_int64(s, 0);
		ev.realm = w->realm;
		ev.app = w->app;
		ev.collection = dbq_text(s, 1);
		ev.record_id = dbq_text(s, 2);
		ev.type = dbq_text(s, 3);
		ev.data = dbq_text(s, 4);
		ev.data_len = dbq_bytes(s, 4);
		fn(arg, &ev, dbq_int64(s, 5));
		n++;
	}
	rc = store_rc(st, rc);
	dbq_reset(s);
	return (rc == STORE_OK ? n : -1);
}
