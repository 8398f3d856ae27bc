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

/* A store's notifications of new events: on PostgreSQL a commit that
 * appends to the event log sends NOTIFY basalt_events, and a store that
 * LISTENs learns of it on its connection's socket, without a query.
 * SQLite has no such thing: its readers look at PRAGMA data_version
 * instead. */

#include "basalt.h"
#include "db.h"

#define STORE_NOTIFY_CHANNEL	"basalt_events"

/* LISTENs on the store's connection (the driver does it again after a
 * reconnect). 1 when listening, 0 on SQLite, -1 if PostgreSQL refused. */
int
store_listen(struct store *st)
{
	struct db	*db = store_db(st);

	if (db_kind(db) != DB_PG)
		return (0);
	return (db_listen(db, STORE_NOTIFY_CHANNEL) == DB_OK ? 1 : -1);
}

/* The socket to poll for notifications; -1 on SQLite, and on PostgreSQL
 * while disconnected. */
int
store_notify_fd(struct store *st)
{
	struct db	*db = store_db(st);

	if (db_kind(db) != DB_PG)
		return (-1);
	return (db_socket(db));
}

/* How many notifications came since the last call; reads what the
 * socket holds, never waits. 0 on SQLite. */
int
store_notified(struct store *st)
{
	struct db	*db = store_db(st);

	if (db_kind(db) != DB_PG)
		return (0);
	return (db_notified(db));
}
