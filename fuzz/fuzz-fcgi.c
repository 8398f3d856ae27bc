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

/* libFuzzer target: FastCGI decoding (fcgi.c). The input is decoded as
 * a record header and as name-value pairs (every pair must lie inside
 * the input), answered as FCGI_GET_VALUES, and framed as STDOUT records
 * that must decode back to the input. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <fastcgi.h>

#include "basalt.h"

struct span {
	const uint8_t	*start;
	const uint8_t	*end;
	size_t		 total;
};

static int
pair_cb(void *arg, const char *n, size_t nlen, const char *v, size_t vlen)
{
	struct span	*sp = arg;
	char		*copy;

	if ((const uint8_t *)n < sp->start || (const uint8_t *)n + nlen >
	    sp->end || (const uint8_t *)v != (const uint8_t *)n + nlen ||
	    (const uint8_t *)v + vlen > sp->end)
		abort();
	sp->total += nlen + vlen;
	copy = xmalloc(nlen + vlen + 1);	/* touches every byte */
	memcpy(copy, n, nlen);
	memcpy(copy + nlen, v, vlen);
	free(copy);
	return (0);
}

static void
stdout_roundtrip(const uint8_t *data, size_t size)
{
	struct evbuffer		*out = evbuffer_new();
	struct fcgi_header	 h;
	uint8_t			*p, *got;
	size_t			 len, off = 0, glen = 0;

	fcgi_stdout(out, 7, data, size);
	len = evbuffer_get_length(out);
	p = evbuffer_pullup(out, -1);
	got = xmalloc(size + 1);
	while (off < len) {
		if (len - off < FCGI_HEADER_LEN)
			abort();
		fcgi_header_decode(p + off, &h);
		off += FCGI_HEADER_LEN;
		if (h.version != FCGI_VERSION_1 || h.type != FCGI_STDOUT ||
		    h.request_id != 7 || h.padding_length != 0 ||
		    h.content_length > len - off)
			abort();
		if (h.content_length == 0 && size != 0)
			abort();	/* an empty record would end the stream */
		if (glen + h.content_length > size)
			abort();
		memcpy(got + glen, p + off, h.content_length);
		glen += h.content_length;
		off += h.content_length;
	}
	if (glen != size || (size > 0 && memcmp(got, data, size) != 0))
		abort();
	free(got);
	evbuffer_free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fcgi_header	 h;
	struct span		 sp = { data, data + size, 0 };
	struct evbuffer		*out;
	uint8_t			 head[FCGI_HEADER_LEN];

	if (size >= FCGI_HEADER_LEN) {
		memcpy(head, data, sizeof head);
		fcgi_header_decode(head, &h);
		if (h.request_id != (head[2] << 8 | head[3]) ||
		    h.content_length != (head[4] << 8 | head[5]))
			abort();
	}
	if (fcgi_params_decode(data, size, pair_cb, &sp) == 0 &&
	    sp.total > size)
		abort();
	out = evbuffer_new();
	fcgi_get_values_result(out, data, size);
	if (evbuffer_get_length(out) < FCGI_HEADER_LEN)
		abort();
	evbuffer_free(out);
	stdout_roundtrip(data, size);
	return (0);
}
