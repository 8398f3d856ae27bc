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

/* A request as the loop reads it and the handlers see it: its FastCGI
 * parameters, its query string, and freeing it. */

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "basalt.h"

const char *
request_param(struct request *req, const char *name)
{
	size_t	 i;

	for (i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return (req->params[i].value);
	return (NULL);
}

void
request_free(struct request *req)
{
	if (req == NULL)
		return;
	free(req->params);	/* the strings too: one allocation */
	if (req->params_raw != NULL)
		evbuffer_free(req->params_raw);
	if (req->body != NULL)
		evbuffer_free(req->body);
	if (req->out != NULL)
		evbuffer_free(req->out);
	filter_free(req->spec.filter);
	free(req->spec.filter_text);
	free(req->spec.types);
	free(req->spec.claims);
	free(req->spec.user_filter);
	filter_free(req->spec.sub_filter);
	free(req->spec.sub_text);
	free(req->spec.colls);
	broker_binds_free(req->spec.binds, req->spec.nbinds);
	if (req->after_free != NULL)
		req->after_free(req->after_arg);
	free(req);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Percent-decodes n bytes of s into out (with plus, '+' is a space, as
 * in a query string); -1 if malformed, too long for outlen or it would
 * hold a NUL. */
int
request_decode(const char *s, size_t n, int plus, char *out, size_t outlen)
{
	size_t	 i, o = 0;
	int	 hi, lo;
	char	 c;

	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return (-1);
			if ((hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return (-1);
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus)
			c = ' ';
		if (c == '\0' || o + 1 >= outlen)
			return (-1);
		out[o++] = c;
	}
	out[o] = '\0';
	return (0);
}

int
request_query(struct request *req, const char *key, char *out, size_t len)
{
	const char	*q, *e, *eq;
	size_t		 klen = strlen(key);

	if ((q = request_param(req, "QUERY_STRING")) == NULL) {
		q = request_param(req, "REQUEST_URI");
		if (q == NULL || (q = strchr(q, '?')) == NULL)
			return (-1);
		q++;
	}
	for (; *q != '\0'; q = *e == '\0' ? e : e + 1) {
		e = q + strcspn(q, "&");
		eq = memchr(q, '=', e - q);
		if ((eq != NULL ? (size_t)(eq - q) : (size_t)(e - q)) != klen ||
		    strncmp(q, key, klen) != 0)
			continue;
		if (eq == NULL) {
			out[0] = '\0';
			return (0);
		}
		return (request_decode(eq + 1, e - eq - 1, 1, out, len) == -1 ?
		    -2 : 0);
	}
	return (-1);
}
