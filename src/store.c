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

/* The schema and every statement basalt runs, on a SQLite or PostgreSQL
 * connection (db.h); above the store nothing knows which. Statements are
 * written for SQLite, with PostgreSQL's text beside them where it differs
 * (store_sql_pg.h); they are prepared once, bound with parameters, never
 * built from input.
 *
 * A store is one connection (without SQLite's mutex): one thread at a
 * time uses it. The loop opens the workers' and the writer's before their
 * threads start and closes them once the threads are joined. Writes run on
 * the writer, in its batch's transaction (store_begin, then a savepoint per
 * write), or from the CLI with none; a worker's reads run inside
 * store_read_begin's transaction.
 *
 * Results are STORE_OK (0) or negative: STORE_NOTFOUND no such row,
 * STORE_EXISTS a constraint failed (a name or id taken, a parent gone),
 * STORE_BUSY the database stayed locked past busy_timeout_ms,
 * STORE_UNAVAILABLE PostgreSQL cannot be reached (or did not answer in
 * time), STORE_ERROR anything else. What a callback is given is valid only during the call. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include "basalt.h"
#include "db.h"

#define SCHEMA_VERSION	7

static const char *schema_v1 =
    "CREATE TABLE realms ("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " created_at TEXT NOT NULL);"
    "CREATE TABLE apps ("
    " id INTEGER PRIMARY KEY,"
    " realm_id INTEGER NOT NULL REFERENCES realms(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, created_at TEXT NOT NULL,"
    " UNIQUE (realm_id, name));"
    "CREATE TABLE collections ("
    " id INTEGER PRIMARY KEY,"
    " app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, created_at TEXT NOT NULL,"
    " UNIQUE (app_id, name));"
    "CREATE TABLE records ("
    " collection_id INTEGER NOT NULL"
    "  REFERENCES collections(id) ON DELETE CASCADE,"
    " id TEXT NOT NULL, fields TEXT NOT NULL,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
    " PRIMARY KEY (collection_id, id)) WITHOUT ROWID;"
    "CREATE TABLE events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, created_ms INTEGER NOT NULL,"
    " realm TEXT NOT NULL, app TEXT NOT NULL, collection TEXT NOT NULL,"
    " record_id TEXT, type TEXT NOT NULL, data TEXT NOT NULL);"
    "CREATE TABLE tokens ("
    " id TEXT PRIMARY KEY,"
    " app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
    " hash TEXT NOT NULL UNIQUE, scopes INTEGER NOT NULL,"
    " label TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL DEFAULT 0,"
    " revoked_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT INTO meta (key, value) VALUES ('pruned_through', 0);";

/*
 * Version 2: retention per app. app_log counts each app's events in the
 * log (kept by a trigger, so no writer can forget it) and holds the newest
 * id of the app that retention deleted. meta's pruned_through stays as the
 * mark of what version 1 pruned, whose apps it did not record: it holds
 * for every app. New databases run version 1, then this.
 */
static const char *schema_v2 =
    "CREATE TABLE app_log ("
    " realm TEXT NOT NULL, app TEXT NOT NULL,"
    " events INTEGER NOT NULL DEFAULT 0,"
    " pruned_through INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (realm, app)) WITHOUT ROWID;"
    "INSERT INTO app_log (realm, app, events)"
    " SELECT realm, app, count(*) FROM events WHERE true"
    " GROUP BY realm, app;"
    "CREATE INDEX events_app ON events (realm, app, id);"
    "CREATE TRIGGER events_count AFTER INSERT ON events BEGIN"
    " INSERT INTO app_log (realm, app, events)"
    "  VALUES (new.realm, new.app, 1)"
    "  ON CONFLICT (realm, app) DO UPDATE SET events = events + 1;"
    " END;"
    "PRAGMA user_version = 2;";

/* Version 3: the origins each app allows cross-origin requests from,
 * normalised (cors.c), gone with their app. */
static const char *schema_v3 =
    "CREATE TABLE app_cors ("
    " app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
    " origin TEXT NOT NULL,"
    " PRIMARY KEY (app_id, origin)) WITHOUT ROWID;"
    "PRAGMA user_version = 3;";

/* Version 4: the record as it was before an update or delete (its JSON as
 * the API showed it), which a filtered stream tests to tell a record that
 * leaves its filter from one that was never in it. NULL for creates and
 * custom events, and for the events of earlier versions. */
static const char *schema_v4 =
    "ALTER TABLE events ADD COLUMN prev TEXT;"
    "PRAGMA user_version = 4;";

/* Version 5: the indexes made on records' fields (store_index_create),
 * one row per index, named records_field_<id>. The indexes themselves
 * are dropped with their collection, app or realm (indexes_drop). */
static const char *schema_v5 =
    "CREATE TABLE collection_indexes ("
    " id INTEGER PRIMARY KEY,"
    " collection_id INTEGER NOT NULL"
    "  REFERENCES collections(id) ON DELETE CASCADE,"
    " field TEXT NOT NULL, created_at TEXT NOT NULL,"
    " UNIQUE (collection_id, field));"
    "PRAGMA user_version = 5;";

/* Version 6: end users. The JWT settings and verification keys of each
 * app (jwt.c; key is the raw HS256 secret, the raw Ed25519 public key, or
 * an RS256/ES256 public key as DER SubjectPublicKeyInfo; kid "" when the
 * key has none), and each collection's access rules (rules.c), one row
 * per verb that is set. */
static const char *schema_v6 =
    "CREATE TABLE jwt_settings ("
    " app_id INTEGER PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,"
    " issuer TEXT, audience TEXT, max_lifetime INTEGER NOT NULL);"
    "CREATE TABLE jwt_keys ("
    " app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
    " kid TEXT NOT NULL, alg TEXT NOT NULL, key BLOB NOT NULL,"
    " created_at TEXT NOT NULL,"
    " PRIMARY KEY (app_id, kid)) WITHOUT ROWID;"
    "CREATE TABLE collection_rules ("
    " collection_id INTEGER NOT NULL"
    "  REFERENCES collections(id) ON DELETE CASCADE,"
    " verb TEXT NOT NULL, rule TEXT NOT NULL,"
    " PRIMARY KEY (collection_id, verb)) WITHOUT ROWID;"
    "PRAGMA user_version = 6;";

/* Version 7: webhooks (webhook.c). collections and types are ",a,b,",
 * NULL for all; cursor is the last event id delivered; next_attempt and
 * lease_expires are unix milliseconds; lease_holder names the process
 * that delivers it ("pid:start"). */
static const char *schema_v7 =
    "CREATE TABLE webhooks ("
    " id TEXT PRIMARY KEY,"
    " app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
    " url TEXT NOT NULL, collections TEXT, types TEXT,"
    " secret TEXT NOT NULL, cursor INTEGER NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'active',"
    " failures INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
    " next_attempt INTEGER NOT NULL DEFAULT 0,"
    " lease_holder TEXT, lease_expires INTEGER NOT NULL DEFAULT 0,"
    " created_at TEXT NOT NULL);"
    "CREATE INDEX webhooks_app ON webhooks (app_id);"
    "PRAGMA user_version = 7;";

/* Each version's step from the one before, from version 2 on. */
static const struct {
	const char	**sql;
	const char	 *what;
} upgrades[] = {
	{ &schema_v2, "event retention per app" },
	{ &schema_v3, "CORS origins per app" },
	{ &schema_v4, "before-images in the event log" },
	{ &schema_v5, "indexes on records' fields" },
	{ &schema_v6, "JWT keys per app and rules per collection" },
	{ &schema_v7, "webhooks" },
};

enum stmt {
	S_REALM_INSERT,
	S_REALM_DELETE,
	S_REALM_LIST,
	S_REALM_ID,
	S_APP_INSERT,
	S_APP_DELETE,
	S_APP_LIST,
	S_APP_ID,
	S_COLL_ID,
	S_COLL_INSERT,
	S_COLL_DELETE,
	S_COLL_LIST,
	S_REC_GET,
	S_REC_INSERT,
	S_REC_UPDATE,
	S_REC_DELETE,
	S_REC_LIST,
	S_REC_LIST_AFTER,
	S_EV_INSERT,
	S_EV_RANGE,
	S_EV_RANGE_TOPIC,
	S_EV_RANGE_APP,
	S_EV_RANGE_RECORD,
	S_EV_MAX,
	S_EV_UNKNOWN,
	S_EV_PRUNED,
	S_EV_OLDEST,
	S_EV_OLDEST_ID,
	S_EV_NTH,
	S_EV_FIRST_NEW,
	S_EV_MARK_ALL,
	S_EV_DELETE,
	S_EV_OVER,
	S_EV_APP_NTH,
	S_EV_APP_DELETE,
	S_EV_APP_MARK,
	S_EV_APP_RECOUNT,
	S_TOK_INSERT,
	S_TOK_LOOKUP,
	S_TOK_REVOKE,
	S_TOK_LIST,
	S_CORS_ALLOWED,
	S_CORS_LIST,
	S_CORS_INSERT,
	S_CORS_CLEAR,
	S_IDX_INSERT,
	S_IDX_COUNT,
	S_IDX_FIND,
	S_IDX_DELETE,
	S_IDX_LIST,
	S_IDX_UNDER,
	S_JWT_GET,
	S_JWT_SET,
	S_JWT_DEFAULT,
	S_JWT_OFF,
	S_JWT_KEYS,
	S_JWT_KEY_INSERT,
	S_JWT_KEY_DELETE,
	S_JWT_KEYS_CLEAR,
	S_JWT_KEY_COUNT,
	S_RULES_GET,
	S_RULES_CLEAR,
	S_RULES_INSERT,
	S_DATA_VERSION,
	S_BEGIN,
	S_WRITE_LOCK,
	S_BEGIN_READ,
	S_COMMIT,
	S_ROLLBACK,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S__COUNT
};

static const char *sql[S__COUNT] = {
	[S_REALM_INSERT] = "INSERT INTO realms (name, created_at) VALUES (?, ?)",
	[S_REALM_DELETE] = "DELETE FROM realms WHERE name = ?",
	[S_REALM_LIST] = "SELECT name FROM realms ORDER BY name",
	[S_REALM_ID] = "SELECT id FROM realms WHERE name = ?",
	[S_APP_INSERT] = "INSERT INTO apps (realm_id, name, created_at)"
	    " VALUES (?, ?, ?)",
	[S_APP_DELETE] = "DELETE FROM apps WHERE realm_id = ? AND name = ?",
	[S_APP_LIST] = "SELECT name FROM apps WHERE realm_id = ? ORDER BY name",
	[S_APP_ID] = "SELECT id FROM apps WHERE realm_id = ? AND name = ?",
	[S_COLL_ID] = "SELECT id FROM collections WHERE app_id = ? AND name = ?",
	[S_COLL_INSERT] = "INSERT INTO collections (app_id, name, created_at)"
	    " VALUES (?, ?, ?)",
	[S_COLL_DELETE] = "DELETE FROM collections WHERE app_id = ? AND name = ?",
	[S_COLL_LIST] = "SELECT name, created_at FROM collections"
	    " WHERE app_id = ? ORDER BY name",
	[S_REC_GET] = "SELECT id, fields, created_at, updated_at FROM records"
	    " WHERE collection_id = ? AND id = ?",
	[S_REC_INSERT] = "INSERT INTO records"
	    " (collection_id, id, fields, created_at, updated_at)"
	    " VALUES (?, ?, ?, ?, ?)",
	[S_REC_UPDATE] = "UPDATE records SET fields = ?, updated_at = ?"
	    " WHERE collection_id = ? AND id = ?",
	[S_REC_DELETE] = "DELETE FROM records WHERE collection_id = ? AND id = ?",
	[S_REC_LIST] = "SELECT id, fields, created_at, updated_at FROM records"
	    " WHERE collection_id = ? ORDER BY id LIMIT ?",
	[S_REC_LIST_AFTER] = "SELECT id, fields, created_at, updated_at"
	    " FROM records WHERE collection_id = ? AND id > ?"
	    " ORDER BY id LIMIT ?",
	[S_EV_INSERT] = "INSERT INTO events (created_ms, realm, app, collection,"
	    " record_id, type, data, prev) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
	    " RETURNING id",
	[S_EV_RANGE] = "SELECT id, realm, app, collection, record_id, type, data,"
	    " prev FROM events WHERE id > ?1 AND id <= ?2 ORDER BY id LIMIT ?3",
	[S_EV_RANGE_TOPIC] = "SELECT id, realm, app, collection, record_id, type,"
	    " data, prev FROM events WHERE id > ?1 AND id <= ?2 AND realm = ?4"
	    " AND app = ?5 AND collection = ?6 ORDER BY id LIMIT ?3",
	[S_EV_RANGE_APP] = "SELECT id, realm, app, collection, record_id, type,"
	    " data, prev FROM events WHERE id > ?1 AND id <= ?2 AND realm = ?4"
	    " AND app = ?5 ORDER BY id LIMIT ?3",
	[S_EV_RANGE_RECORD] = "SELECT id, realm, app, collection, record_id,"
	    " type, data, prev FROM events WHERE id > ?1 AND id <= ?2"
	    " AND realm = ?4 AND app = ?5 AND collection = ?6"
	    " AND record_id = ?7 ORDER BY id LIMIT ?3",
	[S_EV_MAX] = "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
	[S_EV_UNKNOWN] = "SELECT ?1 > coalesce((SELECT seq FROM sqlite_sequence"
	    " WHERE name = 'events'), 0) OR EXISTS (SELECT 1 FROM meta"
	    " WHERE key GLOB '" STORE_RESTORE_GAP "*'"
	    " AND ?1 > CAST(substr(key, length('" STORE_RESTORE_GAP "') + 1)"
	    " AS INTEGER) AND ?1 <= value)",
	[S_EV_PRUNED] = "SELECT max(coalesce((SELECT pruned_through"
	    " FROM app_log WHERE realm = ?1 AND app = ?2), 0),"
	    " (SELECT value FROM meta WHERE key = 'pruned_through'))",
	[S_EV_OLDEST] = "SELECT created_ms FROM events ORDER BY id LIMIT 1",
	[S_EV_OLDEST_ID] = "SELECT id FROM events ORDER BY id LIMIT 1",
	[S_EV_NTH] = "SELECT id FROM events ORDER BY id LIMIT 1 OFFSET ?",
	[S_EV_FIRST_NEW] = "SELECT id FROM events WHERE id <= ?1"
	    " AND created_ms >= ?2 ORDER BY id LIMIT 1",
	[S_EV_MARK_ALL] = "INSERT INTO app_log (realm, app, events,"
	    " pruned_through) SELECT realm, app, -count(*), max(id)"
	    " FROM events NOT INDEXED WHERE id <= ?1 GROUP BY realm, app"
	    " ON CONFLICT (realm, app) DO UPDATE SET"
	    " events = events + excluded.events,"
	    " pruned_through = max(pruned_through, excluded.pruned_through)",
	[S_EV_DELETE] = "DELETE FROM events WHERE id <= ?",
	[S_EV_OVER] = "SELECT realm, app, events - ?1 FROM app_log"
	    " WHERE events > ?1 LIMIT ?2",
	[S_EV_APP_NTH] = "SELECT id FROM events WHERE realm = ?1 AND app = ?2"
	    " ORDER BY id LIMIT 1 OFFSET ?3",
	[S_EV_APP_DELETE] = "DELETE FROM events WHERE realm = ?1 AND app = ?2"
	    " AND id <= ?3",
	[S_EV_APP_MARK] = "UPDATE app_log SET events = events - ?3,"
	    " pruned_through = max(pruned_through, ?4)"
	    " WHERE realm = ?1 AND app = ?2",
	[S_EV_APP_RECOUNT] = "UPDATE app_log SET events = (SELECT count(*)"
	    " FROM events WHERE realm = ?1 AND app = ?2)"
	    " WHERE realm = ?1 AND app = ?2",
	[S_TOK_INSERT] = "INSERT INTO tokens (id, app_id, hash, scopes, label,"
	    " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
	[S_TOK_LOOKUP] = "SELECT t.id, r.name, a.name, t.scopes, t.label,"
	    " t.expires_at, t.revoked_at, r.id, a.id FROM tokens t"
	    " JOIN apps a ON a.id = t.app_id JOIN realms r ON r.id = a.realm_id"
	    " WHERE t.hash = ?",
	[S_TOK_REVOKE] = "UPDATE tokens SET revoked_at = ?"
	    " WHERE id = ? AND revoked_at = 0",
	[S_TOK_LIST] = "SELECT id, scopes, label, created_at, expires_at,"
	    " revoked_at FROM tokens WHERE app_id = ? ORDER BY created_at, id",
	[S_CORS_ALLOWED] = "SELECT 1 FROM app_cors c"
	    " JOIN apps a ON a.id = c.app_id JOIN realms r ON r.id = a.realm_id"
	    " WHERE r.name = ?1 AND a.name = ?2 AND c.origin = ?3",
	[S_CORS_LIST] = "SELECT origin FROM app_cors WHERE app_id = ?"
	    " ORDER BY origin",
	[S_CORS_INSERT] = "INSERT OR IGNORE INTO app_cors (app_id, origin)"
	    " VALUES (?, ?)",
	[S_CORS_CLEAR] = "DELETE FROM app_cors WHERE app_id = ?",
	[S_IDX_INSERT] = "INSERT INTO collection_indexes (collection_id,"
	    " field, created_at) VALUES (?, ?, ?) RETURNING id",
	[S_IDX_COUNT] = "SELECT count(*) FROM collection_indexes"
	    " WHERE collection_id = ?",
	[S_IDX_FIND] = "SELECT id FROM collection_indexes"
	    " WHERE collection_id = ? AND field = ?",
	[S_IDX_DELETE] = "DELETE FROM collection_indexes WHERE id = ?",
	[S_IDX_LIST] = "SELECT field FROM collection_indexes"
	    " WHERE collection_id = ? ORDER BY field",
	[S_IDX_UNDER] = "SELECT i.id FROM collection_indexes i"
	    " JOIN collections c ON c.id = i.collection_id"
	    " JOIN apps a ON a.id = c.app_id"
	    " JOIN realms r ON r.id = a.realm_id"
	    " WHERE (r.name = ?1 OR a.id = ?3) AND coalesce(a.name = ?2, 1)"
	    " AND coalesce(c.name = ?4, 1)",
	[S_JWT_GET] = "SELECT coalesce(issuer, ''), coalesce(audience, ''),"
	    " max_lifetime FROM jwt_settings WHERE app_id = ?",
	[S_JWT_SET] = "INSERT OR REPLACE INTO jwt_settings (app_id, issuer,"
	    " audience, max_lifetime) VALUES (?, ?, ?, ?)",
	[S_JWT_DEFAULT] = "INSERT OR IGNORE INTO jwt_settings (app_id,"
	    " max_lifetime) VALUES (?, ?)",
	[S_JWT_OFF] = "DELETE FROM jwt_settings WHERE app_id = ?",
	[S_JWT_KEYS] = "SELECT kid, alg, key, created_at FROM jwt_keys"
	    " WHERE app_id = ? ORDER BY kid",
	[S_JWT_KEY_INSERT] = "INSERT INTO jwt_keys (app_id, kid, alg, key,"
	    " created_at) VALUES (?, ?, ?, ?, ?)",
	[S_JWT_KEY_DELETE] = "DELETE FROM jwt_keys WHERE app_id = ? AND kid = ?",
	[S_JWT_KEYS_CLEAR] = "DELETE FROM jwt_keys WHERE app_id = ?",
	[S_JWT_KEY_COUNT] = "SELECT count(*) FROM jwt_keys WHERE app_id = ?",
	[S_RULES_GET] = "SELECT verb, rule FROM collection_rules"
	    " WHERE collection_id = ?",
	[S_RULES_CLEAR] = "DELETE FROM collection_rules WHERE collection_id = ?",
	[S_RULES_INSERT] = "INSERT INTO collection_rules (collection_id, verb,"
	    " rule) VALUES (?, ?, ?)",
	[S_DATA_VERSION] = "PRAGMA data_version",
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_BEGIN_READ] = "BEGIN",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT op",
	[S_RELEASE] = "RELEASE op",
	[S_ROLLBACK_TO] = "ROLLBACK TO op",
};

/* PostgreSQL's schema and its text of the statements above that SQLite's
 * does not serve (NULL: the same text), and of store_webhook.c's. */
#include "store_sql_pg.h"

#define STORE_EXT_STMTS	16

struct store {
	struct db	*db;
	struct dbq	*stmt[S__COUNT];
	struct dbq	*ext[STORE_EXT_STMTS];	/* store_stmt_ext's */
	int		 append_rc;	/* store_event_append's last */
};

/* Prepares q once for the store's life; a statement of ours that does not
 * prepare is a broken invariant. */
static struct dbq *
prepare(struct store *st, const char *q)
{
	struct dbq	*s;

	if ((s = db_prepare(st->db, q)) == NULL)
		fatal("prepare: %s: %s", db_errmsg(st->db), q);
	return (s);
}

/* The prepared statement, reset and ready to bind: the text of the
 * store's dialect. */
static struct dbq *
stmt(struct store *st, enum stmt which)
{
	const char	*q = sql[which];

	if (st->stmt[which] == NULL) {
		if (db_kind(st->db) == DB_PG && sql_pg[which] != NULL)
			q = sql_pg[which];
		st->stmt[which] = prepare(st, q);
	}
	return (st->stmt[which]);
}

/*
 * A statement of the store's other files (store_webhook.c), prepared on
 * its first use in slot and kept as long as st: a slot always holds the
 * same SQL, and the caller resets the statement when done with it. q is
 * SQLite's text; on PostgreSQL, webhook_sql_pg[slot] when it has one
 * (the slots are store_webhook.c's WH_ numbers), else q as well.
 */
struct dbq *
store_stmt_ext(struct store *st, int slot, const char *q)
{
	if (slot < 0 || slot >= STORE_EXT_STMTS ||
	    slot >= (int)(sizeof webhook_sql_pg / sizeof webhook_sql_pg[0]))
		fatal("store_stmt_ext: slot %d", slot);
	if (st->ext[slot] == NULL) {
		if (db_kind(st->db) == DB_PG && webhook_sql_pg[slot] != NULL)
			q = webhook_sql_pg[slot];
		st->ext[slot] = prepare(st, q);
	}
	return (st->ext[slot]);
}

static void
done(struct dbq *s)
{
	dbq_reset(s);
}

/* A result of db.h as the store's. Any other failure is logged with the
 * database's message. */
static int
rc_map(struct store *st, int rc)
{
	switch (rc) {
	case DB_OK:
	case DB_DONE:
	case DB_ROW:
		return (STORE_OK);
	case DB_BUSY:
		return (STORE_BUSY);
	case DB_CONSTRAINT:
		return (STORE_EXISTS);
	case DB_UNAVAILABLE:
		return (STORE_UNAVAILABLE);
	default:
		log_error("database: %s", db_errmsg(st->db));
		return (STORE_ERROR);
	}
}

/* rc_map for the store's other files (store_webhook.c). */
int
store_rc(struct store *st, int rc)
{
	return (rc_map(st, rc));
}

/* Runs a statement that returns no rows. */
static int
run(struct store *st, struct dbq *s)
{
	int	 rc = dbq_step(s);

	done(s);
	return (rc_map(st, rc));
}

/* Runs a statement that changes rows: STORE_NOTFOUND if it changed none. */
static int
run_changes(struct store *st, struct dbq *s)
{
	int	 rc;

	if ((rc = run(st, s)) != STORE_OK)
		return (rc);
	return (db_changes(st->db) == 0 ? STORE_NOTFOUND : STORE_OK);
}

/* The result of a step that looked for one row: STORE_NOTFOUND if none. */
static int
row_rc(struct store *st, int rc)
{
	return (rc == DB_DONE ? STORE_NOTFOUND : rc_map(st, rc));
}

static void
bind_text(struct dbq *s, int i, const char *v)
{
	dbq_bind_text(s, i, v, 0);
}

/* The statement with an id in ?1 and a name in ?2: what most statements
 * on a realm's apps, an app's collections or a collection's records take. */
static struct dbq *
stmt_id_name(struct store *st, enum stmt which, int64_t id, const char *name)
{
	struct dbq	*s = stmt(st, which);

	dbq_bind_int64(s, 1, id);
	bind_text(s, 2, name);
	return (s);
}

/* The statement with a realm's name in ?1 and an app's in ?2: the event
 * log's statements on one app. */
static struct dbq *
stmt_realm_app(struct store *st, enum stmt which, const char *realm,
    const char *app)
{
	struct dbq	*s = stmt(st, which);

	bind_text(s, 1, realm);
	bind_text(s, 2, app);
	return (s);
}

/* One integer from a one-column query; def when there is no row. */
static int64_t
one_int(struct store *st, struct dbq *s, int64_t def, int *rcp)
{
	int	 rc = dbq_step(s);
	int64_t	 v = def;

	if (rc == DB_ROW)
		v = dbq_int64(s, 0);
	done(s);
	if (rcp != NULL)
		*rcp = row_rc(st, rc);
	return (v);
}

/* Runs an INSERT ... RETURNING id: the new row's id, or -1 with *rcp (if
 * not NULL) set. */
static int64_t
insert_id(struct store *st, struct dbq *s, int *rcp)
{
	int64_t	 id = -1;
	int	 rc;

	if ((rc = dbq_step(s)) == DB_ROW) {
		id = dbq_int64(s, 0);
		rc = dbq_step(s);
	}
	done(s);
	if ((rc = rc_map(st, rc)) != STORE_OK)
		id = -1;
	if (rcp != NULL)
		*rcp = rc;
	return (id);
}

/* Runs fixed SQL, never input: one or more statements, no rows. A failure
 * other than busy or unavailable is logged with the database's message. */
static int
store_exec(struct store *st, const char *q)
{
	return (rc_map(st, db_exec(st->db, q)));
}

static int
store_migrate(struct store *st, char *err, size_t errlen)
{
	struct dbq	*s;
	size_t		 i;
	int		 version, created = 0;

	if (store_begin(st) != STORE_OK) {
		snprintf(err, errlen, "cannot lock the database: %s",
		    db_errmsg(st->db));
		return (-1);
	}
	s = db_prepare(st->db, "PRAGMA user_version");
	version = s != NULL && dbq_step(s) == DB_ROW ?
	    (int)dbq_int64(s, 0) : -1;
	dbq_finalize(s);
	if (version == 0 && store_exec(st, schema_v1) == STORE_OK &&
	    store_exec(st, "PRAGMA user_version = 1") == STORE_OK)
		version = created = 1;
	for (i = 0; i < sizeof upgrades / sizeof upgrades[0]; i++) {
		if (version != (int)i + 1 ||
		    store_exec(st, *upgrades[i].sql) != STORE_OK)
			continue;
		version = (int)i + 2;
		if (!created)
			log_info("database schema upgraded to version %d (%s)",
			    version, upgrades[i].what);
	}
	if (version != SCHEMA_VERSION) {
		snprintf(err, errlen, "database schema version %d is not %d",
		    version, SCHEMA_VERSION);
		store_rollback(st);
		return (-1);
	}
	return (store_commit(st) == STORE_OK ? 0 : -1);
}

/* One integer from fixed SQL run once; -1 if it gives none. */
static int64_t
query_int(struct store *st, const char *q)
{
	struct dbq	*s;
	int64_t		 v = -1;

	if ((s = db_prepare(st->db, q)) == NULL)
		return (-1);
	if (dbq_step(s) == DB_ROW && !dbq_null(s, 0))
		v = dbq_int64(s, 0);
	dbq_finalize(s);
	return (v);
}

/*
 * PostgreSQL: an empty database gets schema_pg, which is the schema at
 * SCHEMA_VERSION and records it in meta; any other must be at that
 * version. Nodes that start together on an empty database take turns:
 * the transaction holds an advisory lock until it ends.
 */
static int
store_migrate_pg(struct store *st, char *err, size_t errlen)
{
	int64_t	 empty, version;

	if (schema_pg == NULL) {
		snprintf(err, errlen, "PostgreSQL schema missing");
		return (-1);
	}
	if (store_exec(st, "BEGIN") != STORE_OK ||
	    query_int(st, "SELECT count(*) FROM"
	    " (SELECT pg_advisory_xact_lock(7238300715)) l") == -1 ||
	    (empty = query_int(st, "SELECT to_regclass('meta') IS NULL")) ==
	    -1) {
		snprintf(err, errlen, "cannot read the database: %s",
		    db_errmsg(st->db));
		store_rollback(st);
		return (-1);
	}
	if (empty && store_exec(st, schema_pg) != STORE_OK) {
		snprintf(err, errlen, "cannot create the schema: %s",
		    db_errmsg(st->db));
		store_rollback(st);
		return (-1);
	}
	version = query_int(st, "SELECT value FROM meta"
	    " WHERE key = 'schema_version'");
	if (version != SCHEMA_VERSION) {
		snprintf(err, errlen, "database schema version %lld is not %d",
		    (long long)version, SCHEMA_VERSION);
		store_rollback(st);
		return (-1);
	}
	if (store_exec(st, "COMMIT") != STORE_OK) {
		snprintf(err, errlen, "cannot create the schema: %s",
		    db_errmsg(st->db));
		store_rollback(st);
		return (-1);
	}
	return (0);
}

/* Opens the database at target: a SQLite file's path (created if missing,
 * WAL, foreign keys on) or a PostgreSQL URI (db_open), schema at
 * SCHEMA_VERSION. A store to free with store_close, or NULL and err set. */
struct store *
store_open(const char *target, int busy_ms, int sync_full, char *err,
    size_t errlen)
{
	struct store	*st;
	int		 rc;

	st = xcalloc(1, sizeof *st);
	if ((st->db = db_open(target, busy_ms, sync_full, err, errlen)) ==
	    NULL) {
		free(st);
		return (NULL);
	}
	if (db_kind(st->db) == DB_PG)
		rc = store_migrate_pg(st, err, errlen);
	else
		rc = store_migrate(st, err, errlen);
	if (rc == -1) {
		store_close(st);
		return (NULL);
	}
	return (st);
}

/* Finalizes the statements and closes the connection; st may be NULL. No
 * thread may be using it. */
void
store_close(struct store *st)
{
	int	 i;

	if (st == NULL)
		return;
	for (i = 0; i < S__COUNT; i++)
		dbq_finalize(st->stmt[i]);
	for (i = 0; i < STORE_EXT_STMTS; i++)
		dbq_finalize(st->ext[i]);
	db_close(st->db);
	free(st);
}

/* The database's message for the last failure on st: its string, valid
 * until the next call on st. */
const char *
store_errmsg(struct store *st)
{
	return (db_errmsg(st->db));
}

/* BEGIN IMMEDIATE: the write lock now, or STORE_BUSY after busy_timeout_ms.
 * On PostgreSQL the write lock is log_head's row (S_WRITE_LOCK), taken
 * here too: a write that waits for another node's lock then fails here,
 * busy, not in the middle of its batch. Ended by store_commit or
 * store_rollback. */
int
store_begin(struct store *st)
{
	int	 rc;

	if ((rc = run(st, stmt(st, S_BEGIN))) != STORE_OK ||
	    db_kind(st->db) != DB_PG)
		return (rc);
	if ((rc = run(st, stmt(st, S_WRITE_LOCK))) != STORE_OK)
		run(st, stmt(st, S_ROLLBACK));
	return (rc);
}

/* One read transaction around a request's reads or a replay step: one
 * snapshot, and one round of SQLite's locks instead of one per statement.
 * Ended by store_read_end. */
int
store_read_begin(struct store *st)
{
	return (run(st, stmt(st, S_BEGIN_READ)));
}

/* Ends store_read_begin's transaction if one is open; never fails the
 * caller. */
void
store_read_end(struct store *st)
{
	if (db_in_transaction(st->db))
		run(st, stmt(st, S_COMMIT));
}

/* Commits the open transaction. On failure it may still be open: the
 * caller then calls store_rollback. */
int
store_commit(struct store *st)
{
	return (run(st, stmt(st, S_COMMIT)));
}

/* Rolls back the open transaction; STORE_OK at once when there is none
 * (SQLite may have ended it already). */
int
store_rollback(struct store *st)
{
	if (!db_in_transaction(st->db))
		return (STORE_OK);
	return (run(st, stmt(st, S_ROLLBACK)));
}

/* A savepoint around one write, inside store_begin's transaction: ended by
 * store_release (keep) or store_rollback_savepoint (undo). */
int
store_savepoint(struct store *st)
{
	return (run(st, stmt(st, S_SAVEPOINT)));
}

/* Keeps what was done since store_savepoint and ends the savepoint. */
int
store_release(struct store *st)
{
	return (run(st, stmt(st, S_RELEASE)));
}

/* Undoes what was done since store_savepoint and ends the savepoint; the
 * transaction goes on. */
int
store_rollback_savepoint(struct store *st)
{
	int	 rc;

	if ((rc = run(st, stmt(st, S_ROLLBACK_TO))) != STORE_OK)
		return (rc);
	return (store_release(st));
}

static void
now_iso(char out[TIMESTAMP_LEN + 1])
{
	time_iso(time_now_ms(), out);
}

/* Drops the index records_field_<id> and its row in the registry. */
static int
index_drop_id(struct store *st, int64_t id)
{
	struct dbq	*s;
	char		 q[64];
	int		 rc;

	/* DDL binds nothing: the name is made of the registry's integer. */
	snprintf(q, sizeof q, "DROP INDEX IF EXISTS records_field_%lld",
	    (long long)id);
	if ((rc = store_exec(st, q)) != STORE_OK)
		return (rc);
	s = stmt(st, S_IDX_DELETE);
	dbq_bind_int64(s, 1, id);
	return (run(st, s));
}

/* Drops the indexes of the realm's collections, of the app's (realm and
 * app), or of one collection (app_id and coll). */
static int
indexes_drop(struct store *st, const char *realm, const char *app,
    int64_t app_id, const char *coll)
{
	struct dbq	*s = stmt(st, S_IDX_UNDER);
	int64_t		*ids = NULL;
	size_t		 n = 0, i;
	int		 rc;

	bind_text(s, 1, realm);
	bind_text(s, 2, app);
	if (app_id != 0)
		dbq_bind_int64(s, 3, app_id);
	bind_text(s, 4, coll);
	/* Read them all first: no DDL while the statement runs. */
	while ((rc = dbq_step(s)) == DB_ROW) {
		ids = xrealloc(ids, (n + 1) * sizeof *ids);
		ids[n++] = dbq_int64(s, 0);
	}
	done(s);
	rc = rc_map(st, rc);
	for (i = 0; i < n && rc == STORE_OK; i++)
		rc = index_drop_id(st, ids[i]);
	free(ids);
	return (rc);
}

/*
 * Runs del, bound to delete a realm, an app or a collection, with the
 * indexes of the collections it takes along, in one savepoint (inside
 * the caller's transaction, or as one of its own from the CLI): a
 * foreign key takes the registry's rows, not the indexes. Collection ids
 * can be used again, so an index must not outlive its collection.
 */
static int
owner_delete(struct store *st, struct dbq *del, const char *realm,
    const char *app, int64_t app_id, const char *coll)
{
	int	 rc, own;

	/* PostgreSQL has no savepoint outside a transaction. */
	own = db_kind(st->db) == DB_PG && !db_in_transaction(st->db);
	if ((rc = store_exec(st, own ? "BEGIN" :
	    "SAVEPOINT owner_delete")) != STORE_OK) {
		done(del);
		return (rc);
	}
	if ((rc = indexes_drop(st, realm, app, app_id, coll)) == STORE_OK)
		rc = run_changes(st, del);
	else
		done(del);
	if (own) {
		if (rc != STORE_OK || (rc = store_commit(st)) != STORE_OK)
			store_rollback(st);
		return (rc);
	}
	if (rc != STORE_OK)
		store_exec(st, "ROLLBACK TO owner_delete");
	store_exec(st, "RELEASE owner_delete");
	return (rc);
}

/* Realms and apps. */

/* Creates a realm, created now; STORE_EXISTS if one has the name. */
int
store_realm_create(struct store *st, const char *name)
{
	struct dbq	*s = stmt(st, S_REALM_INSERT);
	char		 now[TIMESTAMP_LEN + 1];

	now_iso(now);
	bind_text(s, 1, name);
	bind_text(s, 2, now);
	return (run(st, s));
}

/* Deletes the realm with its apps, collections, records and tokens (its
 * events stay in the log); STORE_NOTFOUND if there is none. */
int
store_realm_delete(struct store *st, const char *name)
{
	struct dbq	*s = stmt(st, S_REALM_DELETE);

	bind_text(s, 1, name);
	return (owner_delete(st, s, name, NULL, 0, NULL));
}

/* Calls fn with the first column of every row. */
static int
each_name(struct store *st, struct dbq *s, void (*fn)(void *, const char *),
    void *arg)
{
	int	 rc;

	while ((rc = dbq_step(s)) == DB_ROW)
		fn(arg, dbq_text(s, 0));
	done(s);
	return (rc_map(st, rc));
}

/* Calls fn with the first column of every row of which, id in ?1. */
static int
each_name_of(struct store *st, enum stmt which, int64_t id,
    void (*fn)(void *, const char *), void *arg)
{
	struct dbq	*s = stmt(st, which);

	dbq_bind_int64(s, 1, id);
	return (each_name(st, s, fn, arg));
}

/* Calls fn with every realm's name, in name order. */
int
store_realm_list(struct store *st, void (*fn)(void *, const char *), void *arg)
{
	return (each_name(st, stmt(st, S_REALM_LIST), fn, arg));
}

static int64_t
realm_id(struct store *st, const char *realm, int *rc)
{
	struct dbq	*s = stmt(st, S_REALM_ID);

	bind_text(s, 1, realm);
	return (one_int(st, s, 0, rc));
}

/* The statement with the realm's id in ?1 and the app's name in ?2; NULL,
 * with *rc set, if the realm cannot be found. */
static struct dbq *
app_stmt(struct store *st, enum stmt which, const char *realm,
    const char *app, int *rc)
{
	int64_t	 rid;

	rid = realm_id(st, realm, rc);
	if (*rc != STORE_OK)
		return (NULL);
	return (stmt_id_name(st, which, rid, app));
}

/* Creates the app in the realm; STORE_NOTFOUND if there is no such realm,
 * STORE_EXISTS if it has an app of that name. */
int
store_app_create(struct store *st, const char *realm, const char *app)
{
	struct dbq	*s;
	char		 now[TIMESTAMP_LEN + 1];
	int		 rc;

	if ((s = app_stmt(st, S_APP_INSERT, realm, app, &rc)) == NULL)
		return (rc);
	now_iso(now);
	bind_text(s, 3, now);
	return (run(st, s));
}

/* Deletes the app with its collections, records and tokens (its events
 * stay); STORE_NOTFOUND if the realm or the app does not exist. */
int
store_app_delete(struct store *st, const char *realm, const char *app)
{
	struct dbq	*s;
	int		 rc;

	if ((s = app_stmt(st, S_APP_DELETE, realm, app, &rc)) == NULL)
		return (rc);
	return (owner_delete(st, s, realm, app, 0, NULL));
}

/* Calls fn with the realm's app names, in name order; STORE_NOTFOUND if
 * there is no such realm. */
int
store_app_list(struct store *st, const char *realm,
    void (*fn)(void *, const char *), void *arg)
{
	struct dbq	*s;
	int64_t		 rid;
	int		 rc;

	rid = realm_id(st, realm, &rc);
	if (rc != STORE_OK)
		return (rc);
	s = stmt(st, S_APP_LIST);
	dbq_bind_int64(s, 1, rid);
	return (each_name(st, s, fn, arg));
}

/* Fills ids (zeroed first) for realm, app and, unless coll is NULL, coll;
 * on STORE_NOTFOUND *missing is the static "realm", "app" or "collection". */
int
store_resolve(struct store *st, const char *realm, const char *app,
    const char *coll, struct scope_ids *ids, const char **missing)
{
	struct dbq	*s;
	int		 rc;

	memset(ids, 0, sizeof *ids);
	*missing = "realm";
	ids->realm_id = realm_id(st, realm, &rc);
	if (rc != STORE_OK)
		return (rc);
	*missing = "app";
	s = stmt_id_name(st, S_APP_ID, ids->realm_id, app);
	ids->app_id = one_int(st, s, 0, &rc);
	if (rc != STORE_OK || coll == NULL)
		return (rc);
	*missing = "collection";
	return (store_collection_id(st, ids->app_id, coll, &ids->collection_id));
}

/* *id is the app's collection of that name, 0 and STORE_NOTFOUND if it has
 * none. */
int
store_collection_id(struct store *st, int64_t app_id, const char *name,
    int64_t *id)
{
	struct dbq	*s = stmt_id_name(st, S_COLL_ID, app_id, name);
	int		 rc;

	*id = one_int(st, s, 0, &rc);
	return (rc);
}

/* Collections. */

/* Creates the collection, its time in created even when the insert fails;
 * STORE_EXISTS if the app has a collection of that name. */
int
store_collection_create(struct store *st, int64_t app_id, const char *name,
    char created[TIMESTAMP_LEN + 1])
{
	struct dbq	*s = stmt_id_name(st, S_COLL_INSERT, app_id, name);

	now_iso(created);
	bind_text(s, 3, created);
	return (run(st, s));
}

/* Deletes the collection with its records (its events stay);
 * STORE_NOTFOUND if there is none. */
int
store_collection_delete(struct store *st, int64_t app_id, const char *name)
{
	return (owner_delete(st, stmt_id_name(st, S_COLL_DELETE, app_id, name),
	    NULL, NULL, app_id, name));
}

/* Calls fn with each of the app's collections, name and created_at, in
 * name order. */
int
store_collection_list(struct store *st, int64_t app_id,
    void (*fn)(void *, const char *, const char *), void *arg)
{
	struct dbq	*s = stmt(st, S_COLL_LIST);
	int		 rc;

	dbq_bind_int64(s, 1, app_id);
	while ((rc = dbq_step(s)) == DB_ROW)
		fn(arg, dbq_text(s, 0),
		    dbq_text(s, 1));
	done(s);
	return (rc_map(st, rc));
}

/* Records. */

/* Frees what store_record_get put in r (fields), not r itself; clearing
 * twice is harmless. */
void
store_record_clear(struct record *r)
{
	free(r->fields);
	r->fields = NULL;
}

static void
record_from_row(struct dbq *s, struct record *r)
{
	strlcpy_b(r->id, dbq_text(s, 0), sizeof r->id);
	r->fields = xstrdup(dbq_text(s, 1));
	strlcpy_b(r->created_at, dbq_text(s, 2),
	    sizeof r->created_at);
	strlcpy_b(r->updated_at, dbq_text(s, 3),
	    sizeof r->updated_at);
}

/* Fills r but its collection; r->fields is then the caller's, freed by
 * store_record_clear. STORE_NOTFOUND, r untouched, if there is no such record. */
int
store_record_get(struct store *st, int64_t coll_id, const char *id,
    struct record *r)
{
	struct dbq	*s = stmt_id_name(st, S_REC_GET, coll_id, id);
	int		 rc;

	if ((rc = dbq_step(s)) == DB_ROW)
		record_from_row(s, r);
	done(s);
	return (row_rc(st, rc));
}

/* Inserts r as it is (id, fields, created_at, updated_at); STORE_EXISTS if
 * the collection has its id. */
int
store_record_insert(struct store *st, int64_t coll_id, const struct record *r)
{
	struct dbq	*s = stmt_id_name(st, S_REC_INSERT, coll_id, r->id);

	bind_text(s, 3, r->fields);
	bind_text(s, 4, r->created_at);
	bind_text(s, 5, r->updated_at);
	return (run(st, s));
}

/* Writes r's fields and updated_at over the record's; STORE_NOTFOUND if
 * there is none. */
int
store_record_update(struct store *st, int64_t coll_id, const struct record *r)
{
	struct dbq	*s = stmt(st, S_REC_UPDATE);

	bind_text(s, 1, r->fields);
	bind_text(s, 2, r->updated_at);
	dbq_bind_int64(s, 3, coll_id);
	bind_text(s, 4, r->id);
	return (run_changes(st, s));
}

/* Deletes the record; STORE_NOTFOUND if there is none. */
int
store_record_delete(struct store *st, int64_t coll_id, const char *id)
{
	return (run_changes(st, stmt_id_name(st, S_REC_DELETE, coll_id, id)));
}

/* Calls fn with at most limit records in id order, from after the id after
 * (NULL: the first); each is freed once fn returns. */
int
store_record_list(struct store *st, int64_t coll_id, const char *after,
    int limit, void (*fn)(void *, const struct record *), void *arg)
{
	struct dbq	*s;
	struct record	 r;
	int		 rc;

	if (after != NULL) {
		s = stmt_id_name(st, S_REC_LIST_AFTER, coll_id, after);
		dbq_bind_int64(s, 3, limit);
	} else {
		s = stmt(st, S_REC_LIST);
		dbq_bind_int64(s, 1, coll_id);
		dbq_bind_int64(s, 2, limit);
	}
	while ((rc = dbq_step(s)) == DB_ROW) {
		memset(&r, 0, sizeof r);
		record_from_row(s, &r);
		fn(arg, &r);
		store_record_clear(&r);
	}
	done(s);
	return (rc_map(st, rc));
}

/* The event log. */

/* A row of (id, realm, app, collection, record_id, type, data, prev); the
 * strings are the statement's, valid until its next step or reset. */
static void
event_from_row(struct dbq *s, struct event_row *ev)
{
	ev->id = dbq_int64(s, 0);
	ev->realm = dbq_text(s, 1);
	ev->app = dbq_text(s, 2);
	ev->collection = dbq_text(s, 3);
	ev->record_id = dbq_text(s, 4);
	ev->type = dbq_text(s, 5);
	ev->data = dbq_text(s, 6);
	ev->data_len = (size_t)dbq_bytes(s, 6);
	ev->prev = dbq_text(s, 7);
	ev->prev_len = (size_t)dbq_bytes(s, 7);
}

/* Appends an event stamped now (the app_log trigger counts it); the
 * writer's, in a write's savepoint. prev is the record before an update
 * or delete, NULL otherwise. Returns its id, or -1 (why:
 * store_event_append_rc). */
int64_t
store_event_append(struct store *st, const char *realm, const char *app,
    const char *coll, const char *record_id, const char *type,
    const char *data, const char *prev)
{
	struct dbq	*s = stmt(st, S_EV_INSERT);

	dbq_bind_int64(s, 1, time_now_ms());
	bind_text(s, 2, realm);
	bind_text(s, 3, app);
	bind_text(s, 4, coll);
	bind_text(s, 5, record_id);
	bind_text(s, 6, type);
	bind_text(s, 7, data);
	bind_text(s, 8, prev);
	return (insert_id(st, s, &st->append_rc));
}

/* Why the last store_event_append on st failed: STORE_BUSY,
 * STORE_UNAVAILABLE, ... (STORE_OK if it did not). */
int
store_event_append_rc(struct store *st)
{
	return (st->append_rc);
}

/* Calls fn with the events after < id <= upto (upto <= 0: no bound) of one
 * topic (realm NULL: all), in id order, at most limit. The count, or -1. */
int
store_event_range(struct store *st, int64_t after, int64_t upto,
    const char *realm, const char *app, const char *coll,
    const char *record_id, int limit,
    void (*fn)(void *, const struct event_row *), void *arg)
{
	struct dbq		*s;
	struct event_row	 ev;
	int			 rc, n = 0;

	if (realm == NULL)
		s = stmt(st, S_EV_RANGE);
	else if (coll == NULL)
		s = stmt(st, S_EV_RANGE_APP);
	else if (record_id == NULL)
		s = stmt(st, S_EV_RANGE_TOPIC);
	else
		s = stmt(st, S_EV_RANGE_RECORD);
	dbq_bind_int64(s, 1, after);
	dbq_bind_int64(s, 2, upto > 0 ? upto : INT64_MAX);
	dbq_bind_int64(s, 3, limit);
	if (realm != NULL) {
		bind_text(s, 4, realm);
		bind_text(s, 5, app);
		if (coll != NULL)
			bind_text(s, 6, coll);
		if (record_id != NULL)
			bind_text(s, 7, record_id);
	}
	while ((rc = dbq_step(s)) == DB_ROW) {
		event_from_row(s, &ev);
		fn(arg, &ev);
		n++;
	}
	done(s);
	if (rc_map(st, rc) != STORE_OK)
		return (-1);
	return (n);
}

/* The highest event id ever given, pruned or not; 0 if none yet, and on
 * an error (not logged). */
int64_t
store_event_max(struct store *st)
{
	return (one_int(st, stmt(st, S_EV_MAX), 0, NULL));
}

/* The oldest event id the log holds; 0 if it holds none, and on an
 * error (not logged). */
int64_t
store_event_oldest(struct store *st)
{
	return (one_int(st, stmt(st, S_EV_OLDEST_ID), 0, NULL));
}

/* 1 if id is no id of this log: past the highest id given, or one that
 * a restore left out (store_restore: ids the replaced database gave out
 * past the backup's last); 0 if it is, and on an error (not logged). */
int
store_event_unknown(struct store *st, int64_t id)
{
	struct dbq	*s = stmt(st, S_EV_UNKNOWN);

	dbq_bind_int64(s, 1, id);
	return (one_int(st, s, 0, NULL) != 0);
}

/* The connection under a store, for the statements of store_webhook.c;
 * used by the store's thread only. */
struct db *
store_db(struct store *st)
{
	return (st->db);
}

/* The writes the writer commits together, each in a savepoint: on
 * PostgreSQL a savepoint is a subtransaction, and past 64 open in one
 * transaction every other session's snapshots get slower (the cache of
 * subtransaction ids per backend overflows). */
int
store_batch_max(struct store *st)
{
	return (db_kind(st->db) == DB_PG ? WRITER_BATCH_MAX_PG :
	    WRITER_BATCH_MAX);
}

/* The schema version this basalt makes: store_open upgrades any from 1
 * up to it. */
int
store_schema_version(void)
{
	return (SCHEMA_VERSION);
}

/* The newest id of the app's events that retention deleted, 0 if none
 * (and on an error): events of the app after it are all in the log. */
int64_t
store_event_pruned(struct store *st, const char *realm, const char *app)
{
	return (one_int(st, stmt_realm_app(st, S_EV_PRUNED, realm, app), 0,
	    NULL));
}

/* Deletes every event with id <= cut, marking each app's newest deleted
 * id. Returns the count, or -1. (NOT INDEXED: the rowid range, never a
 * walk of the whole events_app index for its order.) */
static int
prune_through(struct store *st, int64_t cut)
{
	struct dbq	*s;

	s = stmt(st, S_EV_MARK_ALL);
	dbq_bind_int64(s, 1, cut);
	if (run(st, s) != STORE_OK)
		return (-1);
	s = stmt(st, S_EV_DELETE);
	dbq_bind_int64(s, 1, cut);
	if (run(st, s) != STORE_OK)
		return (-1);
	return (db_changes(st->db));
}

/* Events older than before_ms, at most budget of the oldest. Ids are
 * commit order and created_ms nearly so: the cut is the first event of the
 * window that is new enough, so everything deleted is older. */
static int
prune_old(struct store *st, int64_t before_ms, int budget)
{
	struct dbq	*s;
	int64_t		 oldest, lim, cut;
	int		 rc;

	oldest = one_int(st, stmt(st, S_EV_OLDEST), INT64_MAX, &rc);
	if (rc == STORE_NOTFOUND || oldest >= before_ms)
		return (rc == STORE_NOTFOUND || rc == STORE_OK ? 0 : -1);
	s = stmt(st, S_EV_NTH);
	dbq_bind_int64(s, 1, budget - 1);
	lim = one_int(st, s, INT64_MAX, NULL);
	s = stmt(st, S_EV_FIRST_NEW);
	dbq_bind_int64(s, 1, lim);
	dbq_bind_int64(s, 2, before_ms);
	cut = one_int(st, s, 0, &rc);
	cut = rc == STORE_OK ? cut - 1 : lim;
	return (prune_through(st, cut));
}

struct app_over {
	char	*realm;
	char	*app;
	int64_t	 excess;
};

/* One app's oldest n events. Returns the count deleted, or -1. */
static int
prune_app(struct store *st, const char *realm, const char *app, int n)
{
	struct dbq	*s;
	int64_t		 cut;
	int		 rc, deleted;

	s = stmt_realm_app(st, S_EV_APP_NTH, realm, app);
	dbq_bind_int64(s, 3, n - 1);
	cut = one_int(st, s, 0, &rc);
	if (rc == STORE_NOTFOUND) {
		/* The count was wrong (events deleted by hand): fix it. */
		s = stmt_realm_app(st, S_EV_APP_RECOUNT, realm, app);
		return (run(st, s) == STORE_OK ? 0 : -1);
	}
	if (rc != STORE_OK)
		return (-1);
	s = stmt_realm_app(st, S_EV_APP_DELETE, realm, app);
	dbq_bind_int64(s, 3, cut);
	if (run(st, s) != STORE_OK)
		return (-1);
	deleted = db_changes(st->db);
	s = stmt_realm_app(st, S_EV_APP_MARK, realm, app);
	dbq_bind_int64(s, 3, deleted);
	dbq_bind_int64(s, 4, cut);
	return (run(st, s) == STORE_OK ? deleted : -1);
}

/* Apps over keep events each lose their oldest, budget in all; *more is
 * set when apps may be left over. */
static int
prune_count(struct store *st, long keep, int budget, int *more)
{
	struct dbq	*s = stmt(st, S_EV_OVER);
	struct app_over	 over[PRUNE_APPS];
	int		 rc, i, n = 0, k, total = 0;

	dbq_bind_int64(s, 1, keep);
	dbq_bind_int64(s, 2, PRUNE_APPS);
	while (n < PRUNE_APPS && (rc = dbq_step(s)) == DB_ROW) {
		over[n].realm = xstrdup(dbq_text(s, 0));
		over[n].app = xstrdup(dbq_text(s, 1));
		over[n].excess = dbq_int64(s, 2);
		n++;
	}
	done(s);
	*more = n == PRUNE_APPS;
	for (i = 0; i < n; i++) {
		if (total >= 0 && total < budget) {
			k = over[i].excess < budget - total ?
			    (int)over[i].excess : budget - total;
			if ((k = prune_app(st, over[i].realm, over[i].app,
			    k)) == -1)
				total = -1;
			else
				total += k;
		}
		free(over[i].realm);
		free(over[i].app);
	}
	return (total);
}

/* Retention: deletes events older than before_ms, then each app's events
 * past its newest keep, at most budget events in all, so that the caller's
 * transaction stays short. Returns the count deleted, or -1; sets *more
 * when there may be more to delete. The writer's, inside store_begin's
 * transaction, which it rolls back on -1. */
int
store_event_prune(struct store *st, int64_t before_ms, long keep, int budget,
    int *more)
{
	int	 n, m;

	*more = 0;
	if ((n = prune_old(st, before_ms, budget)) == -1)
		return (-1);
	if (n >= budget) {
		*more = 1;
		return (n);
	}
	if ((m = prune_count(st, keep, budget - n, more)) == -1)
		return (-1);
	if (n + m >= budget)
		*more = 1;
	return (n + m);
}

/* A number that changes when another connection, of any process,
 * commits (SQLite's data_version; on PostgreSQL the log's head): what the
 * tail polls. 0 on an error. */
int64_t
store_data_version(struct store *st)
{
	return (one_int(st, stmt(st, S_DATA_VERSION), 0, NULL));
}

/* Tokens. */

/* Stores a token by the hash of its secret, created now (unix seconds);
 * STORE_EXISTS if the id or the hash is taken. */
int
store_token_insert(struct store *st, const char *id, int64_t app_id,
    const char *hash, int scopes, const char *label, int64_t expires_at)
{
	struct dbq	*s = stmt(st, S_TOK_INSERT);

	bind_text(s, 1, id);
	dbq_bind_int64(s, 2, app_id);
	bind_text(s, 3, hash);
	dbq_bind_int64(s, 4, scopes);
	bind_text(s, 5, label);
	dbq_bind_int64(s, 6, time_now_ms() / 1000);
	dbq_bind_int64(s, 7, expires_at);
	return (run(st, s));
}

/* Fills g and *revoked_at (0: not revoked) from the token with that hash;
 * STORE_NOTFOUND if none. Revocation and expiry are the caller's to check. */
int
store_token_lookup(struct store *st, const char *hash, struct grant *g,
    int64_t *revoked_at)
{
	struct dbq	*s = stmt(st, S_TOK_LOOKUP);
	int		 rc;

	bind_text(s, 1, hash);
	if ((rc = dbq_step(s)) == DB_ROW) {
		strlcpy_b(g->token_id, dbq_text(s, 0),
		    sizeof g->token_id);
		strlcpy_b(g->realm, dbq_text(s, 1),
		    sizeof g->realm);
		strlcpy_b(g->app, dbq_text(s, 2),
		    sizeof g->app);
		g->scopes = (int)dbq_int64(s, 3);
		strlcpy_b(g->label, dbq_text(s, 4),
		    sizeof g->label);
		g->expires_at = dbq_int64(s, 5);
		*revoked_at = dbq_int64(s, 6);
		g->realm_id = dbq_int64(s, 7);
		g->app_id = dbq_int64(s, 8);
	}
	done(s);
	return (row_rc(st, rc));
}

/* Marks the token revoked now; STORE_NOTFOUND if there is none or it is
 * revoked already. */
int
store_token_revoke(struct store *st, const char *id)
{
	struct dbq	*s = stmt(st, S_TOK_REVOKE);

	dbq_bind_int64(s, 1, time_now_ms() / 1000);
	bind_text(s, 2, id);
	return (run_changes(st, s));
}

/* Calls fn with each of the app's tokens, oldest first: g holds its id,
 * scopes, label and expires_at (the rest zero), then created and revoked. */
int
store_token_list(struct store *st, int64_t app_id,
    void (*fn)(void *, const struct grant *, int64_t, int64_t), void *arg)
{
	struct dbq	*s = stmt(st, S_TOK_LIST);
	struct grant	 g;
	int		 rc;

	dbq_bind_int64(s, 1, app_id);
	while ((rc = dbq_step(s)) == DB_ROW) {
		memset(&g, 0, sizeof g);
		strlcpy_b(g.token_id, dbq_text(s, 0),
		    sizeof g.token_id);
		g.scopes = (int)dbq_int64(s, 1);
		strlcpy_b(g.label, dbq_text(s, 2),
		    sizeof g.label);
		g.expires_at = dbq_int64(s, 4);
		fn(arg, &g, dbq_int64(s, 3),
		    dbq_int64(s, 5));
	}
	done(s);
	return (rc_map(st, rc));
}

/* JWT settings and keys. */

int
store_jwt_get(struct store *st, int64_t app_id, struct jwt_settings *set)
{
	struct dbq	*s = stmt(st, S_JWT_GET);
	int		 rc;

	memset(set, 0, sizeof *set);
	dbq_bind_int64(s, 1, app_id);
	if ((rc = dbq_step(s)) == DB_ROW) {
		strlcpy_b(set->issuer, dbq_text(s, 0),
		    sizeof set->issuer);
		strlcpy_b(set->audience, dbq_text(s, 1),
		    sizeof set->audience);
		set->max_lifetime = dbq_int64(s, 2);
	}
	done(s);
	return (row_rc(st, rc));
}

/* Calls fn with each of the app's keys, by kid. */
int
store_jwt_keys(struct store *st, int64_t app_id,
    void (*fn)(void *, const struct jwt_key *), void *arg)
{
	struct dbq	*s = stmt(st, S_JWT_KEYS);
	struct jwt_key	*k;
	const char	*t;
	int		 rc, n;

	k = xmalloc(sizeof *k);
	dbq_bind_int64(s, 1, app_id);
	while ((rc = dbq_step(s)) == DB_ROW) {
		memset(k, 0, sizeof *k);
		strlcpy_b(k->kid, dbq_text(s, 0),
		    sizeof k->kid);
		strlcpy_b(k->alg, dbq_text(s, 1),
		    sizeof k->alg);
		n = dbq_bytes(s, 2);
		if (n < 0 || (size_t)n > sizeof k->key)
			continue;
		if (n > 0)
			memcpy(k->key, dbq_blob(s, 2), n);
		k->len = n;
		if ((t = dbq_text(s, 3)) != NULL)
			strlcpy_b(k->created_at, t, sizeof k->created_at);
		fn(arg, k);
	}
	done(s);
	sodium_memzero(k, sizeof *k);
	free(k);
	return (rc_map(st, rc));
}

static int
jwt_key_insert(struct store *st, int64_t app_id, const struct jwt_key *k)
{
	struct dbq	*s = stmt_id_name(st, S_JWT_KEY_INSERT, app_id, k->kid);
	char		 now[TIMESTAMP_LEN + 1];

	time_iso(time_now_ms(), now);
	bind_text(s, 3, k->alg);
	dbq_bind_blob(s, 4, k->key, k->len, 0);
	bind_text(s, 5, now);
	return (run(st, s));
}

int
store_jwt_set(struct store *st, int64_t app_id, const struct jwt_settings *set,
    const struct jwt_key *keys, size_t n)
{
	struct dbq	*s = stmt(st, S_JWT_SET);
	size_t		 i;
	int		 rc;

	dbq_bind_int64(s, 1, app_id);
	bind_text(s, 2, set->issuer[0] != '\0' ? set->issuer : NULL);
	bind_text(s, 3, set->audience[0] != '\0' ? set->audience : NULL);
	dbq_bind_int64(s, 4, set->max_lifetime);
	if ((rc = run(st, s)) != STORE_OK || keys == NULL)
		return (rc);
	s = stmt(st, S_JWT_KEYS_CLEAR);
	dbq_bind_int64(s, 1, app_id);
	if ((rc = run(st, s)) != STORE_OK)
		return (rc);
	for (i = 0; i < n; i++)
		if ((rc = jwt_key_insert(st, app_id, &keys[i])) != STORE_OK)
			return (rc);
	return (STORE_OK);
}

int
store_jwt_off(struct store *st, int64_t app_id)
{
	struct dbq	*s = stmt(st, S_JWT_KEYS_CLEAR);
	int		 rc;

	dbq_bind_int64(s, 1, app_id);
	if ((rc = run(st, s)) != STORE_OK)
		return (rc);
	s = stmt(st, S_JWT_OFF);
	dbq_bind_int64(s, 1, app_id);
	return (run(st, s));
}

int
store_jwt_key_add(struct store *st, int64_t app_id, const struct jwt_key *k)
{
	struct dbq	*s = stmt(st, S_JWT_KEY_COUNT);
	int64_t		 n;
	int		 rc;

	dbq_bind_int64(s, 1, app_id);
	n = one_int(st, s, 0, &rc);
	if (rc != STORE_OK)
		return (rc);
	if (n >= MAX_JWT_KEYS)
		return (STORE_FULL);
	s = stmt(st, S_JWT_DEFAULT);
	dbq_bind_int64(s, 1, app_id);
	dbq_bind_int64(s, 2, JWT_MAX_LIFETIME);
	if ((rc = run(st, s)) != STORE_OK)
		return (rc);
	return (jwt_key_insert(st, app_id, k));
}

int
store_jwt_key_remove(struct store *st, int64_t app_id, const char *kid)
{
	return (run_changes(st, stmt_id_name(st, S_JWT_KEY_DELETE, app_id,
	    kid)));
}

/* CORS origins. */

/* Calls fn with each origin the app allows, in order. */
int
store_cors_list(struct store *st, int64_t app_id,
    void (*fn)(void *, const char *), void *arg)
{
	return (each_name_of(st, S_CORS_LIST, app_id, fn, arg));
}

/* Replaces the app's origins with the n given (normalised; a repeated one
 * is kept once). Inside the caller's transaction or savepoint: a failure
 * half-way leaves it for the caller to undo. */
int
store_cors_set(struct store *st, int64_t app_id, const char *const *origins,
    size_t n)
{
	struct dbq	*s = stmt(st, S_CORS_CLEAR);
	size_t		 i;
	int		 rc;

	dbq_bind_int64(s, 1, app_id);
	if ((rc = run(st, s)) != STORE_OK)
		return (rc);
	for (i = 0; i < n; i++)
		if ((rc = run(st, stmt_id_name(st, S_CORS_INSERT, app_id,
		    origins[i]))) != STORE_OK)
			return (rc);
	return (STORE_OK);
}

/* STORE_OK if the app of realm lists origin (normalised), STORE_NOTFOUND
 * if not (or there is no such app). */
int
store_cors_allowed(struct store *st, const char *realm, const char *app,
    const char *origin)
{
	struct dbq	*s = stmt_realm_app(st, S_CORS_ALLOWED, realm, app);
	int		 rc;

	bind_text(s, 3, origin);
	one_int(st, s, 0, &rc);
	return (rc);
}

/* Streams. */

/* The index behind store_token_revoked_since; made by broker_init on the
 * loop's store at start (a write outside the writer), kept. */
int
store_token_watch_init(struct store *st)
{
	return (store_exec(st, "CREATE INDEX IF NOT EXISTS tokens_revoked_at"
	    " ON tokens (revoked_at)"));
}

/* Calls fn with the id of every token revoked at or after since (unix
 * seconds); STORE_OK or a negative STORE_*. One indexed query, prepared
 * per call: the loop runs it at most once per heartbeat. */
int
store_token_revoked_since(struct store *st, int64_t since,
    void (*fn)(void *, const char *), void *arg)
{
	struct dbq	*s;
	int		 rc;

	if ((s = db_prepare(st->db, "SELECT id FROM tokens"
	    " WHERE revoked_at >= ?")) == NULL)
		return (STORE_ERROR);
	dbq_bind_int64(s, 1, since > 1 ? since : 1);
	while ((rc = dbq_step(s)) == DB_ROW)
		fn(arg, dbq_text(s, 0));
	dbq_finalize(s);
	return (rc == DB_DONE ? STORE_OK : rc_map(st, rc));
}

/* The first collection_deleted event of the collection (or, with rules,
 * rules_changed) with after < id <= upto: calls fn with it and returns
 * its id; 0 if none, -1 on error.
 * The names are copied (DB_COPY): fn may not free them, but
 * nothing here depends on it. */
int64_t
store_event_collection_end(struct store *st, int64_t after, int64_t upto,
    const char *realm, const char *app, const char *coll, int rules,
    void (*fn)(void *, const struct event_row *), void *arg)
{
	struct dbq		*s;
	struct event_row	 ev;
	int64_t			 id = 0;
	int			 rc;

	/* Both dialects: ?6 is compared, not taken as a boolean. */
	if ((s = db_prepare(st->db, "SELECT id, realm, app, collection,"
	    " record_id, type, data, prev FROM events WHERE id > ?1 AND id <= ?2"
	    " AND realm = ?3 AND app = ?4 AND collection = ?5"
	    " AND (type = 'collection_deleted' OR"
	    " (?6 <> 0 AND type = 'rules_changed')) AND record_id IS NULL"
	    " ORDER BY id LIMIT 1")) == NULL)
		return (-1);
	dbq_bind_int64(s, 1, after);
	dbq_bind_int64(s, 2, upto);
	dbq_bind_text(s, 3, realm, DB_COPY);
	dbq_bind_text(s, 4, app, DB_COPY);
	dbq_bind_text(s, 5, coll, DB_COPY);
	dbq_bind_int64(s, 6, rules != 0);
	if ((rc = dbq_step(s)) == DB_ROW) {
		/* The row's record_id IS NULL, so ev.record_id is NULL. */
		event_from_row(s, &ev);
		id = ev.id;
		fn(arg, &ev);
	}
	dbq_finalize(s);
	if (rc != DB_ROW && rc != DB_DONE) {
		rc_map(st, rc);
		return (-1);
	}
	return (id);
}

/* Indexes on records' fields, and the queries they serve. */

/*
 * Creates an index on a field of the collection's records, field its
 * name in the registry and exprs what filter_index_exprs wrote for it
 * (text of ours, never input). STORE_EXISTS if the field has one,
 * STORE_FULL if the collection has max. In the caller's transaction; the
 * index is built at once, reading every record of the collection, with
 * the write lock held throughout.
 */
int
store_index_create(struct store *st, int64_t coll_id, const char *field,
    const char *exprs, int max)
{
	struct dbq	*s;
	struct error	 e;
	char		*q, *pgx = NULL, now[TIMESTAMP_LEN + 1];
	int64_t		 n, id;
	int		 rc;

	s = stmt(st, S_IDX_COUNT);
	dbq_bind_int64(s, 1, coll_id);
	n = one_int(st, s, 0, &rc);
	if (rc != STORE_OK)
		return (rc);
	if (n >= max)
		return (STORE_FULL);
	s = stmt_id_name(st, S_IDX_INSERT, coll_id, field);
	now_iso(now);
	bind_text(s, 3, now);
	if ((id = insert_id(st, s, &rc)) == -1)
		return (rc);
	/*
	 * DDL cannot bind. The name and the collection's id are integers
	 * from the database, never from the client, and the expressions
	 * are filter.c's own text for a plain path. Partial: it holds this
	 * collection's records only, and writes to others never touch it;
	 * store_record_query writes the same collection_id = <id> so that
	 * SQLite sees the index applies.
	 */
	/* PostgreSQL's expressions for the same field: a column has one
	 * type there (rank, number, text, then id). */
	if (db_kind(st->db) == DB_PG) {
		if (filter_index_exprs_pg(field, &pgx, &e) == -1)
			return (STORE_ERROR);
		exprs = pgx;
	}
	xasprintf(&q, "CREATE INDEX records_field_%lld ON records"
	    " (collection_id, %s) WHERE collection_id = %lld", (long long)id,
	    exprs, (long long)coll_id);
	rc = store_exec(st, q);
	free(q);
	free(pgx);
	return (rc);
}

/* Drops the collection's index on field; STORE_NOTFOUND if none. */
int
store_index_drop(struct store *st, int64_t coll_id, const char *field)
{
	struct dbq	*s = stmt_id_name(st, S_IDX_FIND, coll_id, field);
	int64_t		 id;
	int		 rc;

	id = one_int(st, s, 0, &rc);
	if (rc != STORE_OK)
		return (rc);
	return (index_drop_id(st, id));
}

/* Calls fn with the field of each of the collection's indexes, in order. */
int
store_index_list(struct store *st, int64_t coll_id,
    void (*fn)(void *, const char *), void *arg)
{
	return (each_name_of(st, S_IDX_LIST, coll_id, fn, arg));
}

/* " INDEXED BY <the index on field>" in by, "" if field is NULL or has
 * none. Without statistics SQLite prefers the primary key's order to an
 * expression index: the caller names the index that serves the query
 * (filter_narrows, filter_sort_leads). PostgreSQL has no such clause:
 * its planner weighs the index itself. */
static int
record_index(struct store *st, int64_t coll_id, const char *field,
    char by[64])
{
	int64_t	 id;
	int	 rc;

	by[0] = '\0';
	if (field == NULL || db_kind(st->db) == DB_PG)
		return (STORE_OK);
	id = one_int(st, stmt_id_name(st, S_IDX_FIND, coll_id, field), 0, &rc);
	if (rc == STORE_OK)
		snprintf(by, 64, " INDEXED BY records_field_%lld",
		    (long long)id);
	return (rc == STORE_NOTFOUND ? STORE_OK : rc);
}

/* A statement of store_record_query, prepared (with prefix before it)
 * and bound: the records that match every one of parts (where, after
 * and a band; NULL: none), in order. NULL with *rc set if it cannot be. */
static struct dbq *
record_query(struct store *st, const char *prefix, int64_t coll_id,
    const char *by, const struct filter_sql *parts[3],
    const struct filter_sql *order, int limit, int *rc)
{
	struct dbq	*s = NULL;
	int		 pg = db_kind(st->db) == DB_PG;
	const char	*all = pg ? "true" : "1";
	const char	*text[4];
	char		*q;
	int		 i, next = 1;

	/* filter.c's text in this database's dialect. */
	for (i = 0; i < 3; i++)
		text[i] = parts[i] == NULL ? all : pg ? parts[i]->sql_pg :
		    parts[i]->sql;
	text[3] = order == NULL ? (pg ? "id COLLATE \"C\"" : "id") : pg ?
	    order->sql_pg : order->sql;

	/* The collection's id is written in, not bound: it is the
	 * database's integer, and SQLite uses a collection's partial index
	 * (store_index_create) only for a WHERE that names the same. */
	xasprintf(&q, "%sSELECT id, fields, created_at, updated_at"
	    " FROM records%s WHERE collection_id = %lld AND (%s) AND (%s)"
	    " AND (%s) ORDER BY %s LIMIT ?", prefix, by, (long long)coll_id,
	    text[0], text[1], text[2], text[3]);
	s = db_prepare(st->db, q);
	free(q);
	if (s == NULL) {
		*rc = rc_map(st, DB_ERROR);
		return (NULL);
	}
	/* A binding that fails fails the first step. */
	for (i = 0; i < 3; i++)
		if (parts[i] != NULL)
			next = filter_sql_bind(parts[i], s, next);
	if (order != NULL)
		next = filter_sql_bind(order, s, next);
	dbq_bind_int64(s, next, limit);
	*rc = STORE_OK;
	return (s);
}

/* The parts of a list's query, and what each row is given to. */
struct record_run {
	const char		*index;
	const struct filter_sql	*where;
	const struct filter_sql	*after;
	const struct filter_band *bands;
	const struct filter_sql	*order;
	const char		*prefix;	/* "" or the dialect's EXPLAIN */
	void			(*row)(struct record_run *, struct dbq *);
	void			(*fn)(void *, const struct record *);
	void			*arg;
	char			*plan;
	int			 plan_col;	/* the column of a plan's text */
};

/* Runs the statement of each band (or the one statement) while fewer
 * than limit rows came, each row to q->row. */
static int
record_run(struct store *st, int64_t coll_id, struct record_run *q,
    int limit)
{
	const struct filter_sql	*parts[3] = { q->where, q->after, NULL };
	struct dbq		*s;
	char			 by[64];
	int			 rc, b, n = 0;

	if ((rc = record_index(st, coll_id, q->index, by)) != STORE_OK)
		return (rc);
	for (b = 0; b < (q->bands != NULL ? 2 : 1) && n < limit; b++) {
		parts[2] = q->bands != NULL ? &q->bands[b].where : NULL;
		s = record_query(st, q->prefix, coll_id, by, parts,
		    q->bands != NULL ? &q->bands[b].order : q->order,
		    limit - n, &rc);
		if (s == NULL)
			return (rc);
		while ((rc = dbq_step(s)) == DB_ROW) {
			q->row(q, s);
			n++;
		}
		rc = rc_map(st, rc);
		dbq_finalize(s);
		if (rc != STORE_OK)
			return (rc);
	}
	return (STORE_OK);
}

static void
record_run_record(struct record_run *q, struct dbq *s)
{
	struct record	 r;

	memset(&r, 0, sizeof r);
	record_from_row(s, &r);
	q->fn(q->arg, &r);
	store_record_clear(&r);
}

static void
record_run_plan(struct record_run *q, struct dbq *s)
{
	char	*n;

	xasprintf(&n, "%s%s\n", q->plan, dbq_text(s, q->plan_col));
	free(q->plan);
	q->plan = n;
}

/*
 * Calls fn with at most limit of the collection's records that match
 * where and come after after, in order (where, after and order from
 * filter.c; each may be NULL: every record, from the first, in id
 * order), through the index on field index (NULL: none named). With
 * bands (filter_sort_after_bands), the first band's records come first,
 * then the second's while fewer than limit were found. Each record is
 * freed once fn returns. Each statement is prepared for the call and
 * finalised after it.
 */
int
store_record_query(struct store *st, int64_t coll_id, const char *index,
    const struct filter_sql *where, const struct filter_sql *after,
    const struct filter_band *bands, const struct filter_sql *order,
    int limit, void (*fn)(void *, const struct record *), void *arg)
{
	struct record_run q = { index, where, after, bands, order, "",
	    record_run_record, fn, arg, NULL, 0 };

	return (record_run(st, coll_id, &q, limit));
}

/* The database's plan for the same query (SQLite's EXPLAIN QUERY PLAN
 * details, PostgreSQL's EXPLAIN lines), the lines of each statement
 * joined by newlines, in *plan (the caller frees it). */
int
store_record_plan(struct store *st, int64_t coll_id, const char *index,
    const struct filter_sql *where, const struct filter_sql *after,
    const struct filter_band *bands, const struct filter_sql *order,
    char **plan)
{
	struct record_run q = { index, where, after, bands, order,
	    "EXPLAIN QUERY PLAN ", record_run_plan, NULL, NULL, xstrdup(""),
	    3 };
	int		 rc;

	if (db_kind(st->db) == DB_PG) {
		q.prefix = "EXPLAIN ";
		q.plan_col = 0;
	}
	/* A plan has a row per step: the limit of 1 must not stop it. */
	rc = record_run(st, coll_id, &q, INT32_MAX);
	*plan = q.plan;
	return (rc);
}

/* Access rules. */

/* The collection's rules: each verb's text, NULL for a verb with none.
 * r is cleared first; on error it holds nothing. */
int
store_rules_get(struct store *st, int64_t collection_id, struct rules *r)
{
	struct dbq	*s = stmt(st, S_RULES_GET);
	enum rule_verb	 v;
	const char	*verb, *text;
	int		 rc;

	memset(r, 0, sizeof *r);
	dbq_bind_int64(s, 1, collection_id);
	while ((rc = dbq_step(s)) == DB_ROW) {
		verb = dbq_text(s, 0);
		text = dbq_text(s, 1);
		if (verb == NULL || text == NULL ||
		    rule_verb_parse(verb, &v) == -1 || r->text[v] != NULL)
			continue;
		r->text[v] = xstrdup(text);
	}
	done(s);
	if ((rc = rc_map(st, rc)) != STORE_OK)
		rules_clear(r);
	return (rc);
}

/* Replaces the collection's rules with r (a NULL text: none for that
 * verb). Inside the caller's transaction. */
int
store_rules_set(struct store *st, int64_t collection_id, const struct rules *r)
{
	struct dbq	*s;
	int		 i, rc;

	s = stmt(st, S_RULES_CLEAR);
	dbq_bind_int64(s, 1, collection_id);
	if ((rc = run(st, s)) != STORE_OK)
		return (rc);
	for (i = 0; i < RULE__COUNT; i++) {
		if (r->text[i] == NULL)
			continue;
		s = stmt(st, S_RULES_INSERT);
		dbq_bind_int64(s, 1, collection_id);
		bind_text(s, 2, rule_name((enum rule_verb)i));
		bind_text(s, 3, r->text[i]);
		if ((rc = run(st, s)) != STORE_OK)
			return (rc);
	}
	return (STORE_OK);
}
