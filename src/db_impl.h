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

/* What each side of db.h provides: its operations, called by db.c. Each
 * side's connection starts with a struct db and its statement with a
 * struct dbq. */

#ifndef BASALT_DB_IMPL_H
#define BASALT_DB_IMPL_H

#include "db.h"

struct db_ops {
	enum db_kind	  kind;
	struct db	*(*open)(const char *, int, int, char *, size_t);
	void		 (*close)(struct db *);
	int		 (*exec)(struct db *, const char *);
	int64_t		 (*changes)(struct db *);
	int		 (*in_transaction)(struct db *);
	const char	*(*errmsg)(struct db *);
	struct dbq	*(*prepare)(struct db *, const char *);
	void		 (*finalize)(struct dbq *);
	void		 (*bind_int64)(struct dbq *, int, int64_t);
	void		 (*bind_double)(struct dbq *, int, double);
	void		 (*bind_text)(struct dbq *, int, const char *, int);
	void		 (*bind_blob)(struct dbq *, int, const void *, size_t,
			    int);
	void		 (*bind_null)(struct dbq *, int);
	int		 (*step)(struct dbq *);
	int		 (*null)(struct dbq *, int);
	int64_t		 (*int64)(struct dbq *, int);
	double		 (*dbl)(struct dbq *, int);
	const char	*(*text)(struct dbq *, int);
	const void	*(*blob)(struct dbq *, int);
	size_t		 (*bytes)(struct dbq *, int);
	void		 (*reset)(struct dbq *);
	int		 (*listen)(struct db *, const char *);
	int		 (*socket)(struct db *);
	int		 (*notified)(struct db *);
};

struct db {
	const struct db_ops	*ops;
};

struct dbq {
	struct db		*db;
};

extern const struct db_ops	db_sqlite_ops;
#ifdef HAVE_LIBPQ
extern const struct db_ops	db_pg_ops;
#endif

#endif
