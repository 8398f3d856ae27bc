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

/* libFuzzer target: SSE frames of a hostile event log. The input is a
 * row (8 bytes of id, a type up to a NUL byte, then the data, any bytes);
 * the frame sse_frame writes is read back as a client does (the WHATWG
 * event-stream parser) and must give exactly one event with the row's
 * id (none when it is negative), its type as sanitised and its data
 * with line breaks as LF. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basalt.h"

#define ALLOWED	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
		"0123456789_.:-"

struct client {
	char	*data;		/* the data buffer */
	size_t	 dlen;
	char	 type[512];
	char	 id[512];
	int	 events;
	char	*ev_data;	/* the event dispatched */
	size_t	 ev_dlen;
	char	 ev_type[512];
};

static void
append(char **buf, size_t *len, const char *s, size_t n)
{
	*buf = xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, s, n);
	*len += n;
}

/* One line of the stream (without its line break). */
static void
client_line(struct client *c, const char *line, size_t n)
{
	const char	*colon, *value;
	size_t		 flen, vlen;

	if (n == 0) {	/* dispatch */
		if (c->dlen == 0) {
			c->type[0] = '\0';
			return;
		}
		c->events++;
		free(c->ev_data);
		c->ev_data = c->data;
		c->ev_dlen = c->dlen - 1;	/* the last LF */
		snprintf(c->ev_type, sizeof c->ev_type, "%s",
		    c->type[0] != '\0' ? c->type : "message");
		c->data = NULL;
		c->dlen = 0;
		c->type[0] = '\0';
		return;
	}
	if (line[0] == ':')
		return;
	colon = memchr(line, ':', n);
	flen = colon != NULL ? (size_t)(colon - line) : n;
	value = colon != NULL ? colon + 1 : line + n;
	vlen = (size_t)(line + n - value);
	if (vlen > 0 && value[0] == ' ') {
		value++;
		vlen--;
	}
	if (flen == 5 && memcmp(line, "event", 5) == 0) {
		if (vlen >= sizeof c->type)
			abort();
		memcpy(c->type, value, vlen);
		c->type[vlen] = '\0';
	} else if (flen == 4 && memcmp(line, "data", 4) == 0) {
		append(&c->data, &c->dlen, value, vlen);
		append(&c->data, &c->dlen, "\n", 1);
	} else if (flen == 2 && memcmp(line, "id", 2) == 0) {
		if (vlen >= sizeof c->id || memchr(value, '\0', vlen) != NULL)
			abort();
		memcpy(c->id, value, vlen);
		c->id[vlen] = '\0';
	} else
		abort();	/* we never write another field */
}

/* Splits at CRLF, LF or CR as the client does. */
static void
client_read(struct client *c, const char *s, size_t n)
{
	size_t	 i, start = 0;

	for (i = 0; i < n; i++) {
		if (s[i] != '\n' && s[i] != '\r')
			continue;
		client_line(c, s + start, i - start);
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			i++;
		start = i + 1;
	}
	if (start != n)
		abort();	/* the frame ends inside a line */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_row	 ev;
	struct client		 c;
	const char		*p, *nul;
	char			*type, *frame, *want, id[32];
	size_t			 flen, tlen, i, w = 0;

	if (size < 8)
		return (0);
	memset(&ev, 0, sizeof ev);
	memcpy(&ev.id, data, 8);
	p = (const char *)data + 8;
	size -= 8;
	nul = memchr(p, '\0', size);
	tlen = nul != NULL ? (size_t)(nul - p) : size;
	type = xstrndup(p, tlen);
	ev.type = type;
	ev.data = nul != NULL ? nul + 1 : NULL;
	ev.data_len = nul != NULL ? size - tlen - 1 : 0;

	frame = sse_frame(&ev, &flen);
	if (flen != strlen(frame) && (ev.data == NULL ||
	    memchr(ev.data, '\0', ev.data_len) == NULL))
		abort();
	memset(&c, 0, sizeof c);
	client_read(&c, frame, flen);
	if (c.events != 1 || c.dlen != 0)
		abort();
	/* A negative id is no log row's: the frame has no id line. */
	id[0] = '\0';
	if (ev.id >= 0)
		snprintf(id, sizeof id, "%lld", (long long)ev.id);
	if (strcmp(c.id, id) != 0)
		abort();
	/* The type: each byte outside [A-Za-z0-9_.:-] as '_', cut. */
	if (tlen == 0) {
		if (strcmp(c.ev_type, "message") != 0)
			abort();
	} else {
		if (strlen(c.ev_type) != (tlen < MAX_EVENT_TYPE_LEN ? tlen :
		    MAX_EVENT_TYPE_LEN))
			abort();
		for (i = 0; c.ev_type[i] != '\0'; i++)
			if ((c.ev_type[i] != type[i] && c.ev_type[i] != '_') ||
			    strchr(ALLOWED, c.ev_type[i]) == NULL)
				abort();
	}
	/* The data, with CRLF and CR as LF. */
	want = xmalloc(ev.data_len + 1);
	for (i = 0; i < ev.data_len; i++) {
		if (ev.data[i] == '\r') {
			want[w++] = '\n';
			if (i + 1 < ev.data_len && ev.data[i + 1] == '\n')
				i++;
		} else
			want[w++] = ev.data[i];
	}
	if (c.ev_dlen != w || (w > 0 && memcmp(c.ev_data, want, w) != 0))
		abort();
	free(want);
	free(c.ev_data);
	free(frame);
	free(type);
	return (0);
}
