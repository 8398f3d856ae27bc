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

/* Server-Sent Events framing of event-log rows. The log may have been
 * written by another process, so a row is not trusted to be well formed:
 * nothing in it may break the framing or forge a second event. */

#include <stdio.h>
#include <string.h>

#include "basalt.h"

/* The byte of an event type as sent: [A-Za-z0-9_.:-] as is, anything
 * else (CR, LF, space, NUL, non-ASCII) as '_'. */
static char
sse_type_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
	    c == '-')
		return ((char)c);
	return ('_');
}

/*
 * "id: N\nevent: T\ndata: ...\n\n" for the row, xmalloc'd; *len is its
 * length (the text is also NUL-terminated). Never NULL. A negative id
 * leaves the id line out (an event that is not in the log, such as the
 * end of a stream whose token was revoked).
 *
 * The type is sanitised rather than refused, so that every row stays
 * deliverable in its place: each byte outside [A-Za-z0-9_.:-] becomes
 * '_', it is cut at MAX_EVENT_TYPE_LEN, and a NULL or empty type is sent
 * as "message" (what a client reads for an event with no type). Types
 * basalt writes itself are never changed.
 *
 * The data (data_len bytes, NULL for none) is split at every CR, LF and
 * CRLF into one "data:" line each, so a client joins the lines back into
 * the row's data with its line breaks as LF (the only line break SSE can
 * carry; basalt's own data is JSON, where a raw line break is only white
 * space). Other bytes go out as they are.
 */
char *
sse_frame(const struct event_row *ev, size_t *len)
{
	const char	*d = ev->data != NULL ? ev->data : "";
	const char	*t = ev->type != NULL && ev->type[0] != '\0' ?
			    ev->type : "message";
	size_t		 dlen = ev->data != NULL ? ev->data_len : 0;
	size_t		 breaks = 0, size, i, n;
	char		*f, *p;

	for (i = 0; i < dlen; i++)
		if (d[i] == '\n' || d[i] == '\r')
			breaks++;
	/* Each line break (one or two bytes) becomes "\ndata: ". */
	size = 32 + MAX_EVENT_TYPE_LEN + 8 + dlen + breaks * 7 + 3;
	p = f = xmalloc(size);
	if (ev->id >= 0)
		p += snprintf(p, size, "id: %lld\n", (long long)ev->id);
	memcpy(p, "event: ", 7);
	p += 7;
	for (n = 0; t[n] != '\0' && n < MAX_EVENT_TYPE_LEN; n++)
		*p++ = sse_type_char((unsigned char)t[n]);
	memcpy(p, "\ndata: ", 7);
	p += 7;
	for (i = 0; i < dlen; i++) {
		if (d[i] != '\r' && d[i] != '\n') {
			*p++ = d[i];
			continue;
		}
		if (d[i] == '\r' && i + 1 < dlen && d[i + 1] == '\n')
			i++;
		memcpy(p, "\ndata: ", 7);
		p += 7;
	}
	memcpy(p, "\n\n", 3);
	p += 2;
	*len = (size_t)(p - f);
	return (f);
}
