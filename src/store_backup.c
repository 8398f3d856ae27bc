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

/* Backups of the SQLite database while basalt serves it, and restores
 * with basalt stopped, both with SQLite's online backup API.
 *
 * A backup reads one snapshot: it holds a read transaction on the
 * database across all its steps, so a write meanwhile neither enters the
 * copy nor restarts it, and in WAL mode a reader never holds a writer up.
 *
 * Event ids never repeat across a restore: the restored database gives
 * new ids past the larger of the backup's last id and the replaced
 * database's, and keeps the ids the replaced database gave out past the
 * backup's as a gap (a row of meta) that store_event_unknown reports, so
 * that a client holding one of them gets a reset now and after new
 * writes. */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "basalt.h"

#define BACKUP_STEP_PAGES	1024	/* pages copied per step (4 MB) */
#define BACKUP_BUSY_MS		100	/* wait before a step tried again */

/* The tables every schema version has, from version 1 on. */
static const char *backup_tables =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
    " ('realms', 'apps', 'collections', 'records', 'events', 'tokens',"
    " 'meta')";

static int
backup_fail(char *err, size_t errlen, const char *what, sqlite3 *db)
{
	snprintf(err, errlen, "%s: %s", what, db != NULL ?
	    sqlite3_errmsg(db) : "out of memory");
	return (-1);
}

/* One integer from fixed SQL: -1 on an error, def when there is no row. */
static int64_t
backup_int(sqlite3 *db, const char *q, int64_t def)
{
	sqlite3_stmt	*s;
	int64_t		 v = -1;
	int		 rc;

	if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
		return (-1);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		v = def;
	sqlite3_finalize(s);
	return (v);
}

/* The schema version and the last event id of the open database db (in a
 * transaction for one snapshot of both); -1 with err set if it is no
 * basalt database. */
static int
backup_info(sqlite3 *db, const char *name, struct store_copy *c, char *err,
    size_t errlen)
{
	c->version = (int)backup_int(db, "PRAGMA user_version", 0);
	if (c->version <= 0 || backup_int(db, backup_tables, 0) != 7) {
		if (c->version == -1)
			return (backup_fail(err, errlen, name, db));
		snprintf(err, errlen, "%s is not a basalt database", name);
		return (-1);
	}
	c->event_id = backup_int(db, "SELECT seq FROM sqlite_sequence"
	    " WHERE name = 'events'", 0);
	if (c->event_id < 0)
		return (backup_fail(err, errlen, name, db));
	return (0);
}

/* Copies src's main database into dst's in steps (all at once if pages is
 * -1), waiting while either is busy. */
static int
backup_copy(sqlite3 *dst, sqlite3 *src, int pages, const char *what,
    char *err, size_t errlen)
{
	sqlite3_backup	*b;
	int		 rc;

	if ((b = sqlite3_backup_init(dst, "main", src, "main")) == NULL)
		return (backup_fail(err, errlen, what, dst));
	do {
		rc = sqlite3_backup_step(b, pages);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			sqlite3_sleep(BACKUP_BUSY_MS);
	} while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s: %s", what, sqlite3_errstr(rc));
		return (-1);
	}
	return (0);
}

static int
backup_exec(sqlite3 *db, const char *q)
{
	return (sqlite3_exec(db, q, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1);
}

/* Makes a new file in path's folder, mode 0600 (a copy holds token
 * hashes and JWT keys); its name, xmalloc'd, or NULL with err set. */
static char *
backup_temp(const char *path, const char *suffix, char *err, size_t errlen)
{
	char	*tmp;
	int	 fd;

	xasprintf(&tmp, "%s.%s-XXXXXX", path, suffix);
	if ((fd = mkstemp(tmp)) == -1) {
		snprintf(err, errlen, "cannot create %s: %s", tmp,
		    strerror(errno));
		free(tmp);
		return (NULL);
	}
	close(fd);
	return (tmp);
}

/* Removes a temporary database and what SQLite may have left beside it. */
static void
backup_unlink(const char *path)
{
	const char	*ends[] = { "", "-journal", "-wal", "-shm" };
	char		*side;
	size_t		 i;

	for (i = 0; i < sizeof ends / sizeof ends[0]; i++) {
		xasprintf(&side, "%s%s", path, ends[i]);
		unlink(side);
		free(side);
	}
}

/* 1 if file is the database at db or one of the files SQLite keeps
 * beside it. */
static int
backup_is_db(const char *file, const char *db)
{
	const char	*ends[] = { "", "-journal", "-wal", "-shm" };
	struct stat	 f, d;
	char		*side;
	size_t		 i;
	int		 same = 0;

	if (stat(file, &f) == -1)
		return (0);
	for (i = 0; i < sizeof ends / sizeof ends[0] && !same; i++) {
		xasprintf(&side, "%s%s", db, ends[i]);
		same = stat(side, &d) == 0 && d.st_dev == f.st_dev &&
		    d.st_ino == f.st_ino;
		free(side);
	}
	return (same);
}

/* Flushes the folder of path, so that a file renamed into it stays. */
static void
backup_sync_dir(const char *path)
{
	char	*copy = xstrdup(path);
	int	 fd;

	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY)) != -1) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

/* The copy of src into the new file tmp, as one self-contained file (no
 * WAL beside it). */
static int
backup_write(sqlite3 *src, const char *tmp, char *err, size_t errlen)
{
	sqlite3	*dst = NULL;
	int	 rc = -1;

	if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK)
		backup_fail(err, errlen, tmp, dst);
	else if (backup_copy(dst, src, BACKUP_STEP_PAGES, tmp, err,
	    errlen) == 0) {
		if (backup_exec(dst, "PRAGMA journal_mode = DELETE") == -1)
			backup_fail(err, errlen, tmp, dst);
		else
			rc = 0;
	}
	if (sqlite3_close(dst) != SQLITE_OK && rc == 0)
		rc = backup_fail(err, errlen, tmp, dst);
	return (rc);
}

/*
 * Copies the basalt database at db into the new file file, or over it if
 * force; fills c with the copy's last event id and schema version. The
 * copy is made beside file and renamed into place: a failed backup leaves
 * no file. 0, or -1 with err set.
 */
int
store_backup(const char *db, const char *file, int force,
    struct store_copy *c, char *err, size_t errlen)
{
	sqlite3		*src = NULL;
	char		*tmp = NULL;
	int		 fd, reserved = 0, rc = -1;

	memset(c, 0, sizeof *c);
	if (backup_is_db(file, db)) {
		snprintf(err, errlen, "%s is the database itself", file);
		return (-1);
	}
	if (!force) {
		/* the name is ours from here: no race with another writer */
		if ((fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1) {
			snprintf(err, errlen, errno == EEXIST ? "%s exists "
			    "(--force replaces it)" : "cannot create %s: %s",
			    file, strerror(errno));
			return (-1);
		}
		close(fd);
		reserved = 1;
	}
	if (sqlite3_open_v2(db, &src, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		backup_fail(err, errlen, db, src);
		goto out;
	}
	sqlite3_busy_timeout(src, BACKUP_BUSY_MS * 50);
	/* the snapshot: held until the copy is done */
	if (backup_exec(src, "BEGIN") == -1 ||
	    backup_info(src, db, c, err, errlen) == -1)
		goto out;
	if ((tmp = backup_temp(file, "tmp", err, errlen)) == NULL)
		goto out;
	if (backup_write(src, tmp, err, errlen) == -1)
		goto out;
	if (rename(tmp, file) == -1) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, file,
		    strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	reserved = 0;
	backup_sync_dir(file);
	rc = 0;
out:
	if (src != NULL)
		backup_exec(src, "COMMIT");
	sqlite3_close(src);
	if (tmp != NULL)
		backup_unlink(tmp);
	free(tmp);
	if (reserved)
		unlink(file);
	return (rc);
}

/* Holds the database at db for the restore: an exclusive lock that no
 * other connection may hold a share of (a running basalt holds one from
 * its first read on). Sets *last to the last event id it gave (0 for a
 * new file). */
static int
restore_lock(sqlite3 **dbp, const char *db, int64_t *last, char *err,
    size_t errlen)
{
	sqlite3	*d = NULL;

	*last = 0;
	if (sqlite3_open_v2(db, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    NULL) != SQLITE_OK) {
		*dbp = d;
		return (backup_fail(err, errlen, db, d));
	}
	*dbp = d;
	if (backup_exec(d, "PRAGMA locking_mode = EXCLUSIVE") == -1 ||
	    backup_exec(d, "PRAGMA journal_mode = WAL") == -1 ||
	    backup_exec(d, "BEGIN EXCLUSIVE") == -1) {
		if ((sqlite3_errcode(d) & 0xff) == SQLITE_BUSY) {
			snprintf(err, errlen, "%s is in use: stop every basalt "
			    "on it first", db);
			return (-1);
		}
		return (backup_fail(err, errlen, db, d));
	}
	if (backup_int(d, "SELECT count(*) FROM sqlite_master"
	    " WHERE name = 'sqlite_sequence'", 0) > 0)
		*last = backup_int(d, "SELECT seq FROM sqlite_sequence"
		    " WHERE name = 'events'", 0);
	if (*last < 0 || backup_exec(d, "COMMIT") == -1)
		return (backup_fail(err, errlen, db, d));
	return (0);
}

/* On the copy in tmp: new event ids past the larger last id, and the ids
 * that only the replaced database gave out kept as unknown. */
static int
restore_ids(sqlite3 *t, struct store_copy *c, int64_t last, char *err,
    size_t errlen)
{
	sqlite3_stmt	*s;
	char		 key[64];
	int		 rc;

	c->next_after = c->event_id;
	c->gap_through = 0;
	if (last <= c->event_id)
		return (0);
	c->gap_through = last;
	/* past the gap: the id a reset hands out must not be in it */
	c->next_after = last + 1;
	snprintf(key, sizeof key, "%s%lld", STORE_RESTORE_GAP,
	    (long long)c->event_id);
	if (backup_exec(t, "BEGIN IMMEDIATE") == -1)
		return (backup_fail(err, errlen, "restore", t));
	rc = sqlite3_prepare_v2(t, "INSERT OR REPLACE INTO meta (key, value)"
	    " VALUES (?, ?)", -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, c->gap_through);
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_finalize(s);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(t, "INSERT OR REPLACE INTO"
		    " sqlite_sequence (rowid, name, seq) VALUES ((SELECT rowid"
		    " FROM sqlite_sequence WHERE name = 'events'), 'events', ?)",
		    -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, c->next_after);
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_finalize(s);
	}
	if (rc != SQLITE_OK || backup_exec(t, "COMMIT") == -1) {
		backup_fail(err, errlen, "restore", t);
		backup_exec(t, "ROLLBACK");
		return (-1);
	}
	return (0);
}

/* Copies file into tmp and checks it there: a basalt database of a
 * schema version this basalt opens, whole; fills c. */
static int
restore_check(const char *file, const char *tmp, struct store_copy *c,
    char *err, size_t errlen)
{
	sqlite3	*f = NULL, *t = NULL;
	int	 rc = -1;

	if (access(file, R_OK) == -1) {
		snprintf(err, errlen, "cannot read %s: %s", file,
		    strerror(errno));
		return (-1);
	}
	if (sqlite3_open_v2(file, &f, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		backup_fail(err, errlen, file, f);
	else if (sqlite3_open_v2(tmp, &t, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK)
		backup_fail(err, errlen, tmp, t);
	else if (backup_copy(t, f, -1, file, err, errlen) == 0 &&
	    backup_info(t, file, c, err, errlen) == 0) {
		if (c->version > store_schema_version())
			snprintf(err, errlen, "%s has schema version %d; this "
			    "basalt opens versions 1 to %d", file, c->version,
			    store_schema_version());
		else if (backup_int(t, "SELECT quick_check = 'ok' FROM"
		    " pragma_quick_check(1)", 0) != 1)
			snprintf(err, errlen, "%s is damaged (PRAGMA "
			    "quick_check)", file);
		else
			rc = 0;
	}
	sqlite3_close(f);
	sqlite3_close(t);
	return (rc);
}

/*
 * Replaces the database at db (made if missing) with the backup in file,
 * with no basalt running on it: refused while any connection holds the
 * database. The copy is checked, upgraded to this basalt's schema and
 * given its event ids (restore_ids) beside db, then put in place in one
 * transaction. Fills c. 0, or -1 with err set.
 */
int
store_restore(const char *db, const char *file, int busy_ms,
    struct store_copy *c, char *err, size_t errlen)
{
	struct store	*st;
	sqlite3		*d = NULL, *t = NULL;
	struct stat	 sb;
	char		*tmp = NULL, why[256];
	int64_t		 last;
	int		 made, rc = -1;

	memset(c, 0, sizeof *c);
	if (backup_is_db(file, db)) {
		snprintf(err, errlen, "%s is the database itself", file);
		return (-1);
	}
	made = stat(db, &sb) == -1 && errno == ENOENT;
	if (restore_lock(&d, db, &last, err, errlen) == -1)
		goto out;
	if ((tmp = backup_temp(db, "restore", err, errlen)) == NULL ||
	    restore_check(file, tmp, c, err, errlen) == -1)
		goto out;
	/* the upgrade, as serve would make it */
	if ((st = store_open(tmp, busy_ms, 1, why, sizeof why)) == NULL) {
		snprintf(err, errlen, "%s: %s", file, why);
		goto out;
	}
	store_close(st);
	if (sqlite3_open_v2(tmp, &t, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		backup_fail(err, errlen, tmp, t);
		goto out;
	}
	if (restore_ids(t, c, last, err, errlen) == -1 ||
	    backup_copy(d, t, -1, db, err, errlen) == -1)
		goto out;
	made = 0;
	rc = 0;
out:
	sqlite3_close(t);
	if (sqlite3_close(d) != SQLITE_OK && rc == 0)
		rc = backup_fail(err, errlen, db, d);
	if (tmp != NULL)
		backup_unlink(tmp);
	free(tmp);
	if (made)
		backup_unlink(db);
	return (rc);
}
