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

/* An incremental Server-Sent Events parser (the WHATWG event stream rules). */

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "bench.h"

void
sse_init(struct sse *s, sse_event_cb cb, void *arg)
{
	memset(s, 0, sizeof *s);
	s->cb = cb;
	s->arg = arg;
}

void
sse_free(struct sse *s)
{
	free(s->line);
	free(s->data);
	s->line = s->data = NULL;
	s->linelen = s->linecap = s->datalen = s->datacap = 0;
}

static void
grow(char **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	*cap = need * 2 < 256 ? 256 : need * 2;
	*p = xrealloc(*p, *cap);
}

static void
line_append(struct sse *s, const char *buf, size_t len)
{
	if (s->linelen + len > BENCH_LINE_MAX) {
		s->overflow++;
		len = BENCH_LINE_MAX - s->linelen;
	}
	grow(&s->line, &s->linecap, s->linelen + len);
	memcpy(s->line + s->linelen, buf, len);
	s->linelen += len;
}

static void
sse_dispatch(struct sse *s)
{
	if (s->datalen == 0) {
		s->type[0] = '\0';
		return;
	}
	s->datalen--;			/* the last line's newline */
	s->data[s->datalen] = '\0';
	s->cb(s->arg, s->id, s->type[0] != '\0' ? s->type : "message",
	    s->data, s->datalen);
	s->datalen = 0;
	s->type[0] = '\0';
}

static void
copy_field(char *dst, size_t size, const char *v, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static void
sse_line(struct sse *s, const char *l, size_t n)
{
	const char	*colon, *v;
	size_t		 flen, vlen;

	if (n > 0 && l[n - 1] == '\r')
		n--;
	if (n == 0) {
		sse_dispatch(s);
		return;
	}
	if (l[0] == ':') {
		s->comments++;
		return;
	}
	if ((colon = memchr(l, ':', n)) == NULL) {
		flen = n;
		v = l + n;
		vlen = 0;
	} else {
		flen = colon - l;
		v = colon + 1;
		vlen = n - flen - 1;
		if (vlen > 0 && *v == ' ') {
			v++;
			vlen--;
		}
	}
	if (flen == 4 && memcmp(l, "data", 4) == 0) {
		grow(&s->data, &s->datacap, s->datalen + vlen + 2);
		memcpy(s->data + s->datalen, v, vlen);
		s->datalen += vlen;
		s->data[s->datalen++] = '\n';
	} else if (flen == 2 && memcmp(l, "id", 2) == 0)
		copy_field(s->id, sizeof s->id, v, vlen);
	else if (flen == 5 && memcmp(l, "event", 5) == 0)
		copy_field(s->type, sizeof s->type, v, vlen);
}

void
sse_feed(struct sse *s, const char *buf, size_t len)
{
	const char	*nl;
	size_t		 n;

	while (len > 0) {
		if ((nl = memchr(buf, '\n', len)) == NULL) {
			line_append(s, buf, len);
			return;
		}
		n = nl - buf;
		if (s->linelen > 0) {
			line_append(s, buf, n);
			sse_line(s, s->line, s->linelen);
			s->linelen = 0;
		} else
			sse_line(s, buf, n);
		buf = nl + 1;
		len -= n + 1;
	}
}
