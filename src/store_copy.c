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
 * basalt copy: a whole database from one store to the other (SQLite to
 * PostgreSQL and back, or to another of the same kind), row for row with
 * the ids it has, so that every client's resume position stays valid:
 * the event log's ids, its head (the last id given out, which may be past
 * the last event kept), the marks of what retention pruned and the gaps a
 * restore left.
 *
 * The source is read in one snapshot and the destination written in one
 * transaction: a failure leaves it as empty as it was. The destination's
 * schema is made by store_open, so both are at the same version. The
 * indexes on records' fields are made again in the destination's dialect
 * from their fields; webhooks keep their cursors, with no lease held.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basalt.h"
#include "db.h"

/* The tables in an order that satisfies their foreign keys, each with
 * its columns and their kinds: i an integer, t text, b a blob. The
 * indexes on records' fields are made again (copy_indexes); a webhook's
 * lease is left behind. */
static const struct copy_table {
	const char	*name;
	const char	*columns;
	const char	*kinds;
	const char	*order;
	const char	*where;
} copy_tables[] = {
	{ "realms", "id, name, created_at", "itt", "id", NULL },
	{ "apps", "id, realm_id, name, created_at", "iitt", "id", NULL },
	{ "collections", "id, app_id, name, created_at", "iitt", "id", NULL },
	{ "records", "collection_id, id, fields, created_at, updated_at",
	    "itttt", "collection_id, id", NULL },
	{ "events", "id, created_ms, realm, app, collection, record_id, type,"
	    " data, prev", "iittttttt", "id", NULL },
	{ "app_log", "realm, app, events, pruned_through", "ttii",
	    "realm, app", NULL },
	{ "tokens", "id, app_id, hash, scopes, label, created_at, expires_at,"
	    " revoked_at", "tititiii", "id", NULL },
	{ "app_cors", "app_id, origin", "it", "app_id, origin", NULL },
	{ "jwt_settings", "app_id, issuer, audience, max_lifetime", "itti",
	    "app_id", NULL },
	{ "jwt_keys", "app_id, kid, alg, key, created_at", "ittbt",
	    "app_id, kid", NULL },
	{ "collection_rules", "collection_id, verb, rule", "itt",
	    "collection_id, verb", NULL },
	{ "webhooks", "id, app_id, url, collections, types, secret, cursor,"
	    " state, failures, last_error, next_attempt, created_at",
	    "tittttititit", "id", NULL },
	/* the schema's version is each store's own */
	{ "meta", "key, value", "ti", "key", " WHERE key <> 'schema_version'" },
};

static int
copy_fail(char *err, size_t errlen, const char *what, struct db *db)
{
	snprintf(err, errlen, "%s: %s", what, db_errmsg(db));
	return (-1);
}

/* One integer from fixed SQL; def when there is no row. */
static int64_t
copy_int(struct db *db, const char *q, int64_t def, int *ok)
{
	struct dbq	*s;
	int64_t		 v = def;
	int		 rc;

	if ((s = db_prepare(db, q)) == NULL) {
		*ok = 0;
		return (def);
	}
	if ((rc = dbq_step(s)) == DB_ROW && !dbq_null(s, 0))
		v = dbq_int64(s, 0);
	if (rc != DB_ROW && rc != DB_DONE)
		*ok = 0;
	dbq_finalize(s);
	return (v);
}

/* Copies one table's rows, in its order, from src to dst. */
static int
copy_rows(struct db *src, struct db *dst, const struct copy_table *t,
    int64_t *rows, char *err, size_t errlen)
{
	struct dbq	*r = NULL, *w = NULL;
	char		*q, marks[64];
	size_t		 i, n = strlen(t->kinds);
	int		 rc, ret = -1;

	/* The names are this file's own, never input. */
	xasprintf(&q, "SELECT %s FROM %s%s ORDER BY %s", t->columns, t->name,
	    t->where != NULL ? t->where : "", t->order);
	r = db_prepare(src, q);
	free(q);
	if (r == NULL)
		return (copy_fail(err, errlen, t->name, src));
	marks[0] = '\0';
	for (i = 0; i < n; i++)
		strlcat_b(marks, i == 0 ? "?" : ", ?", sizeof marks);
	xasprintf(&q, "INSERT INTO %s (%s) VALUES (%s)", t->name, t->columns,
	    marks);
	w = db_prepare(dst, q);
	free(q);
	if (w == NULL) {
		copy_fail(err, errlen, t->name, dst);
		goto out;
	}
	while ((rc = dbq_step(r)) == DB_ROW) {
		for (i = 0; i < n; i++) {
			int	 c = (int)i, b = (int)i + 1;

			if (dbq_null(r, c))
				dbq_bind_null(w, b);
			else if (t->kinds[i] == 'i')
				dbq_bind_int64(w, b, dbq_int64(r, c));
			else if (t->kinds[i] == 'b')
				dbq_bind_blob(w, b, dbq_blob(r, c),
				    dbq_bytes(r, c), DB_COPY);
			else
				dbq_bind_text(w, b, dbq_text(r, c), DB_COPY);
		}
		rc = dbq_step(w);
		dbq_reset(w);
		if (rc != DB_DONE) {
			copy_fail(err, errlen, t->name, dst);
			goto out;
		}
		(*rows)++;
	}
	if (rc != DB_DONE) {
		copy_fail(err, errlen, t->name, src);
		goto out;
	}
	ret = 0;
out:
	dbq_finalize(r);
	dbq_finalize(w);
	return (ret);
}

/* The indexes of src's registry made again in dst, in dst's dialect. */
static int
copy_indexes(struct store *src, struct store *dst, char *err, size_t errlen)
{
	struct dbq	*s;
	struct error	 e;
	char		*exprs;
	int		 rc, ret = 0;

	s = db_prepare(store_db(src), "SELECT collection_id, field"
	    " FROM collection_indexes ORDER BY id");
	if (s == NULL)
		return (copy_fail(err, errlen, "collection_indexes",
		    store_db(src)));
	while (ret == 0 && (rc = dbq_step(s)) == DB_ROW) {
		memset(&e, 0, sizeof e);
		if (filter_index_exprs(dbq_text(s, 1), &exprs, &e) == -1) {
			snprintf(err, errlen, "index on %s: %s",
			    dbq_text(s, 1), e.message);
			ret = -1;
			break;
		}
		if (store_index_create(dst, dbq_int64(s, 0), dbq_text(s, 1),
		    exprs, INT_MAX) != STORE_OK)
			ret = copy_fail(err, errlen, "index", store_db(dst));
		free(exprs);
	}
	if (ret == 0 && rc != DB_DONE)
		ret = copy_fail(err, errlen, "collection_indexes",
		    store_db(src));
	dbq_finalize(s);
	return (ret);
}

/* The destination's head of the event log and its other counters as the
 * source's: ids go on past the source's, and names made after the copy
 * get ids past the copied ones. */
static int
copy_heads(struct db *dst, int64_t head, char *err, size_t errlen)
{
	static const char *pg_serials[] = { "realms", "apps", "collections" };
	struct dbq	*s;
	char		 q[256];
	size_t		 i;
	int		 rc;

	if (db_kind(dst) == DB_SQLITE) {
		/* AUTOINCREMENT's counter: the copied rows moved it to the
		 * last event kept; the head may be past it. */
		if (db_exec(dst, "DELETE FROM sqlite_sequence"
		    " WHERE name = 'events'") != DB_OK)
			return (copy_fail(err, errlen, "event log", dst));
		s = db_prepare(dst, "INSERT INTO sqlite_sequence (name, seq)"
		    " VALUES ('events', ?)");
	} else {
		for (i = 0; i < sizeof pg_serials / sizeof pg_serials[0];
		    i++) {
			snprintf(q, sizeof q, "SELECT setval("
			    "pg_get_serial_sequence('%s', 'id'),"
			    " coalesce(max(id), 0) + 1, false) FROM %s",
			    pg_serials[i], pg_serials[i]);
			if (db_exec(dst, q) != DB_OK)
				return (copy_fail(err, errlen, pg_serials[i],
				    dst));
		}
		s = db_prepare(dst, "UPDATE log_head SET last_id = ?");
	}
	if (s == NULL)
		return (copy_fail(err, errlen, "event log", dst));
	dbq_bind_int64(s, 1, head);
	rc = dbq_step(s);
	dbq_finalize(s);
	if (rc != DB_DONE)
		return (copy_fail(err, errlen, "event log", dst));
	return (0);
}

/* Copies the database at from into the one at to (a path or a
 * postgresql:// URI each), which must hold nothing yet; what it copied
 * in *c. 0, or -1 with err set and to left as it was. */
int
store_copy_db(const char *from, const char *to, int busy_ms,
    struct copy_counts *c, char *err, size_t errlen)
{
	struct store	*src = NULL, *dst = NULL;
	char		 e[512];
	size_t		 i;
	int		 ok = 1, ret = -1;

	memset(c, 0, sizeof *c);
	if (strcmp(from, to) == 0) {
		snprintf(err, errlen, "the source and the destination are one");
		return (-1);
	}
	if ((src = store_open(from, busy_ms, 0, e, sizeof e)) == NULL) {
		snprintf(err, errlen, "source: %s", e);
		return (-1);
	}
	if ((dst = store_open(to, busy_ms, 1, e, sizeof e)) == NULL) {
		snprintf(err, errlen, "destination: %s", e);
		goto out;
	}
	if (copy_int(store_db(dst), "SELECT count(*) FROM realms", 0, &ok) +
	    copy_int(store_db(dst), "SELECT count(*) FROM events", 0, &ok) +
	    store_event_max(dst) != 0 || !ok) {
		snprintf(err, errlen, "the destination is not empty: basalt"
		    " copies only into a new database");
		goto out;
	}
	if (store_read_begin(src) != STORE_OK) {
		copy_fail(err, errlen, "source", store_db(src));
		goto out;
	}
	c->event_id = store_event_max(src);
	if (store_begin(dst) != STORE_OK) {
		copy_fail(err, errlen, "destination", store_db(dst));
		goto out;
	}
	/* PostgreSQL's events trigger counts each app's events as they are
	 * inserted, a row update per event: the copy brings the counts. */
	if (db_kind(store_db(dst)) == DB_PG && db_exec(store_db(dst),
	    "SET LOCAL basalt.copying = 'on'") != DB_OK) {
		copy_fail(err, errlen, "destination", store_db(dst));
		goto rollback;
	}
	for (i = 0; i < sizeof copy_tables / sizeof copy_tables[0]; i++) {
		/* The event log's trigger counted the copied events; the
		 * source's counts and marks replace them, as its meta rows
		 * replace the new database's. */
		if (strcmp(copy_tables[i].name, "app_log") == 0 &&
		    db_exec(store_db(dst), "DELETE FROM app_log") != DB_OK)
			break;
		if (strcmp(copy_tables[i].name, "meta") == 0 &&
		    db_exec(store_db(dst), "DELETE FROM meta"
		    " WHERE key <> 'schema_version'") != DB_OK)
			break;
		if (copy_rows(store_db(src), store_db(dst), &copy_tables[i],
		    strcmp(copy_tables[i].name, "records") == 0 ? &c->records :
		    strcmp(copy_tables[i].name, "events") == 0 ? &c->events :
		    &c->rows, err, errlen) == -1)
			goto rollback;
	}
	if (i < sizeof copy_tables / sizeof copy_tables[0]) {
		copy_fail(err, errlen, copy_tables[i].name, store_db(dst));
		goto rollback;
	}
	if (copy_indexes(src, dst, err, errlen) == -1 ||
	    copy_heads(store_db(dst), c->event_id, err, errlen) == -1)
		goto rollback;
	if (store_commit(dst) != STORE_OK) {
		copy_fail(err, errlen, "destination", store_db(dst));
		goto rollback;
	}
	ret = 0;
	goto out;
rollback:
	store_rollback(dst);
out:
	store_read_end(src);
	store_close(src);
	store_close(dst);
	return (ret);
}

/* True when target names a PostgreSQL database rather than a file. */
int
store_target_is_pg(const char *target)
{
	return (db_target_is_pg(target));
}
