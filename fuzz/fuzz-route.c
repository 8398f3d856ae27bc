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

/* libFuzzer target: path and query parsing (route.c, request.c). The
 * input is a path, then after a NUL byte a query string, then after
 * another NUL a key to look up. Decoded segments and values must be
 * NUL-terminated inside their buffers and hold no NUL. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basalt.h"

#define SEGS		12
#define SEG_SIZE	256

static char *
part(const uint8_t **p, const uint8_t *end)
{
	const uint8_t	*nul = memchr(*p, '\0', (size_t)(end - *p));
	const uint8_t	*e = nul != NULL ? nul : end;
	char		*s = xstrndup((const char *)*p, (size_t)(e - *p));

	*p = nul != NULL ? nul + 1 : end;
	return (s);
}

static void
query(struct request *req, const char *key)
{
	static const size_t	 sizes[] = { 1, 2, 16, 300, 4096 };
	char			*out;
	size_t			 i;
	int			 rc;

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		out = xmalloc(sizes[i]);
		rc = request_query(req, key, out, sizes[i]);
		if (rc != 0 && rc != -1 && rc != -2)
			abort();
		if (rc == 0 && strnlen(out, sizes[i]) == sizes[i])
			abort();	/* not terminated inside the buffer */
		free(out);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*keys[] = { "limit", "after", "access_token",
				    "last_event_id", "" };
	const uint8_t		*p = data, *end = data + size;
	char			 segs[SEGS][SEG_SIZE];
	char			*path, *qs, *key, *uri;
	struct request		*req;
	int			 n, i;
	size_t			 k;

	path = part(&p, end);
	qs = part(&p, end);
	key = part(&p, end);
	n = route_split(path, segs, SEGS);
	if (n < -1 || n > SEGS)
		abort();
	for (i = 0; i < n; i++)
		if (strnlen(segs[i], SEG_SIZE) == SEG_SIZE)
			abort();

	/* The query from QUERY_STRING, then from REQUEST_URI alone. */
	xasprintf(&uri, "%s?%s", path, qs);
	req = xcalloc(1, sizeof *req);
	req->params = xcalloc(2, sizeof *req->params);
	req->params[0].name = xstrdup("REQUEST_URI");
	req->params[0].value = uri;
	req->params[1].name = xstrdup("QUERY_STRING");
	req->params[1].value = xstrdup(qs);
	req->nparams = 2;
	for (k = 0; k < sizeof keys / sizeof keys[0]; k++)
		query(req, keys[k]);
	query(req, key);
	req->nparams = 1;
	query(req, key);
	query(req, "limit");
	req->nparams = 2;
	/* request_free frees the params as the one block the loop makes;
	 * these strings are separate */
	for (i = 0; i < 2; i++) {
		free(req->params[i].name);
		free(req->params[i].value);
	}
	request_free(req);
	free(path);
	free(qs);
	free(key);
	return (0);
}
