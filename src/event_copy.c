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

/* Event rows copied, strings and all, by a thread that read them from the
 * store, to hand them to the loop: each row's strings go into one growing
 * buffer at offsets, and event_copy_take makes the rows gathered one
 * allocation. The tail and the broker's reader both use it. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basalt.h"

#define EC_NULL	SIZE_MAX	/* the offset of a NULL string */

enum { EC_REALM, EC_APP, EC_COLL, EC_RECORD, EC_TYPE, EC_DATA, EC_PREV,
    EC__COUNT };

/* A row gathered: its strings at offsets in the buffer. */
struct event_copy_row {
	int64_t	 id;
	size_t	 off[EC__COUNT];
	size_t	 len[EC__COUNT];
};

/* Keeps a copy of s (len bytes and a NUL) in c's buffer; its offset. */
static size_t
keep(struct event_copy *c, const char *s, size_t len)
{
	size_t	 off;

	if (s == NULL)
		return (EC_NULL);
	if (c->size - c->len < len + 1) {
		c->size = c->size * 2 > c->len + len + 1 ?
		    c->size * 2 : c->len + len + 1 + 4096;
		c->buf = xrealloc(c->buf, c->size);
	}
	off = c->len;
	memcpy(c->buf + off, s, len);
	c->buf[off + len] = '\0';
	c->len += len + 1;
	return (off);
}

/* Adds a copy of ev to the rows gathered. */
void
event_copy_add(struct event_copy *c, const struct event_row *ev)
{
	const char		*s[EC__COUNT] = { ev->realm, ev->app,
				    ev->collection, ev->record_id, ev->type,
				    ev->data, ev->prev };
	struct event_copy_row	*r;
	int			 i;

	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 64 : c->cap * 2;
		c->rows = xrealloc(c->rows, (size_t)c->cap * sizeof *c->rows);
	}
	r = &c->rows[c->n++];
	r->id = ev->id;
	for (i = 0; i < EC__COUNT; i++) {
		if (i == EC_DATA)
			r->len[i] = ev->data_len;
		else if (i == EC_PREV)
			r->len[i] = ev->prev_len;
		else
			r->len[i] = s[i] != NULL ? strlen(s[i]) : 0;
		r->off[i] = keep(c, s[i], r->len[i]);
	}
}

/* The rows gathered as one allocation (free() it), NULL if none; c is
 * empty again, its buffers kept for the next. */
struct event_rows *
event_copy_take(struct event_copy *c)
{
	struct event_rows	*b;
	struct event_copy_row	*r;
	struct event_row	*ev;
	const char		**f[EC__COUNT];
	char			*strs;
	size_t			 head;
	int			 i, j;

	if (c->n == 0)
		return (NULL);
	head = sizeof *b + (size_t)c->n * sizeof b->rows[0];
	b = xmalloc(head + c->len);
	strs = (char *)b + head;
	memcpy(strs, c->buf, c->len);
	b->n = c->n;
	for (i = 0; i < c->n; i++) {
		r = &c->rows[i];
		ev = &b->rows[i];
		f[EC_REALM] = &ev->realm;
		f[EC_APP] = &ev->app;
		f[EC_COLL] = &ev->collection;
		f[EC_RECORD] = &ev->record_id;
		f[EC_TYPE] = &ev->type;
		f[EC_DATA] = &ev->data;
		f[EC_PREV] = &ev->prev;
		ev->id = r->id;
		for (j = 0; j < EC__COUNT; j++)
			*f[j] = r->off[j] == EC_NULL ? NULL : strs + r->off[j];
		ev->data_len = r->len[EC_DATA];
		ev->prev_len = r->len[EC_PREV];
	}
	c->n = 0;
	c->len = 0;
	return (b);
}

/* Frees c's buffers (not the rows taken). */
void
event_copy_clear(struct event_copy *c)
{
	free(c->rows);
	free(c->buf);
	memset(c, 0, sizeof *c);
}
