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

/* FastCGI records: decoding headers and name-value pairs, framing output.
 * Pure functions on buffers; conn.c drives them. */

#include <string.h>

#include <event2/buffer.h>
#include <fastcgi.h>

#include "basalt.h"

void
fcgi_header_decode(const uint8_t *p, struct fcgi_header *h)
{
	h->version = p[0];
	h->type = p[1];
	h->request_id = (uint16_t)(p[2] << 8 | p[3]);
	h->content_length = (uint16_t)(p[4] << 8 | p[5]);
	h->padding_length = p[6];
}

/* The one encoder of a record header (no padding); len fits 16 bits. */
void
fcgi_header_encode(uint8_t *h, uint8_t type, uint16_t id, size_t len)
{
	h[0] = FCGI_VERSION_1;
	h[1] = type;
	h[2] = (uint8_t)(id >> 8);
	h[3] = (uint8_t)id;
	h[4] = (uint8_t)(len >> 8);
	h[5] = (uint8_t)len;
	h[6] = 0;
	h[7] = 0;
}

static void
fcgi_header_add(struct evbuffer *out, uint8_t type, uint16_t id, size_t len)
{
	uint8_t	 h[FCGI_HEADER_LEN];

	fcgi_header_encode(h, type, id, len);
	evbuffer_add(out, h, sizeof h);
}

void
fcgi_stdout(struct evbuffer *out, uint16_t id, const void *data, size_t len)
{
	const uint8_t	*p = data;
	size_t		 n;

	if (len == 0) {
		fcgi_header_add(out, FCGI_STDOUT, id, 0);
		return;
	}
	while (len > 0) {
		n = len > FCGI_MAX_LENGTH ? FCGI_MAX_LENGTH : len;
		fcgi_header_add(out, FCGI_STDOUT, id, n);
		evbuffer_add(out, p, n);
		p += n;
		len -= n;
	}
}

void
fcgi_end_request(struct evbuffer *out, uint16_t id, uint32_t appstatus,
    uint8_t protostatus)
{
	uint8_t	 b[8];

	fcgi_header_add(out, FCGI_END_REQUEST, id, sizeof b);
	b[0] = (uint8_t)(appstatus >> 24);
	b[1] = (uint8_t)(appstatus >> 16);
	b[2] = (uint8_t)(appstatus >> 8);
	b[3] = (uint8_t)appstatus;
	b[4] = protostatus;
	b[5] = b[6] = b[7] = 0;
	evbuffer_add(out, b, sizeof b);
}

/* A length is one byte below 128, else four with the top bit set. */
static int
fcgi_length(const uint8_t **p, const uint8_t *end, size_t *len)
{
	if (*p >= end)
		return (-1);
	if (**p < 0x80) {
		*len = *(*p)++;
		return (0);
	}
	if (end - *p < 4)
		return (-1);
	*len = ((size_t)((*p)[0] & 0x7f) << 24) | ((size_t)(*p)[1] << 16) |
	    ((size_t)(*p)[2] << 8) | (*p)[3];
	*p += 4;
	return (0);
}

int
fcgi_params_decode(const uint8_t *buf, size_t len,
    int (*fn)(void *, const char *, size_t, const char *, size_t), void *arg)
{
	const uint8_t	*p = buf, *end = buf + len;
	size_t		 nlen, vlen;

	while (p < end) {
		if (fcgi_length(&p, end, &nlen) == -1 ||
		    fcgi_length(&p, end, &vlen) == -1)
			return (-1);
		if (nlen > (size_t)(end - p) || vlen > (size_t)(end - p) - nlen)
			return (-1);
		if (fn(arg, (const char *)p, nlen, (const char *)p + nlen,
		    vlen) == -1)
			return (-1);
		p += nlen + vlen;
	}
	return (0);
}

struct values_ctx {
	struct evbuffer	*out;
};

static void
fcgi_pair_add(struct evbuffer *out, const char *name, const char *value)
{
	uint8_t	 l[2];

	l[0] = (uint8_t)strlen(name);
	l[1] = (uint8_t)strlen(value);
	evbuffer_add(out, l, 2);
	evbuffer_add(out, name, l[0]);
	evbuffer_add(out, value, l[1]);
}

static int
fcgi_value_cb(void *arg, const char *n, size_t nlen, const char *v, size_t vlen)
{
	struct values_ctx	*ctx = arg;

	(void)v; (void)vlen;
	if (nlen == strlen(FCGI_MPXS_CONNS) &&
	    memcmp(n, FCGI_MPXS_CONNS, nlen) == 0)
		fcgi_pair_add(ctx->out, FCGI_MPXS_CONNS, "0");
	else if (nlen == strlen(FCGI_MAX_CONNS) &&
	    memcmp(n, FCGI_MAX_CONNS, nlen) == 0)
		fcgi_pair_add(ctx->out, FCGI_MAX_CONNS, "10000");
	else if (nlen == strlen(FCGI_MAX_REQS) &&
	    memcmp(n, FCGI_MAX_REQS, nlen) == 0)
		fcgi_pair_add(ctx->out, FCGI_MAX_REQS, "10000");
	return (0);
}

/* Answers a record of a type we do not know with FCGI_UNKNOWN_TYPE. */
void
fcgi_unknown_type(struct evbuffer *out, uint8_t type)
{
	uint8_t	 b[8];

	fcgi_header_add(out, FCGI_UNKNOWN_TYPE, 0, sizeof b);
	memset(b, 0, sizeof b);
	b[0] = type;
	evbuffer_add(out, b, sizeof b);
}

/* Answers FCGI_GET_VALUES with the values we know. */
void
fcgi_get_values_result(struct evbuffer *out, const uint8_t *body, size_t len)
{
	struct values_ctx	 ctx;
	struct evbuffer		*pairs = evbuffer_new();

	ctx.out = pairs;
	(void)fcgi_params_decode(body, len, fcgi_value_cb, &ctx);
	fcgi_header_add(out, FCGI_GET_VALUES_RESULT, 0,
	    evbuffer_get_length(pairs));
	evbuffer_add_buffer(out, pairs);
	evbuffer_free(pairs);
}
